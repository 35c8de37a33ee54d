//! Options of the `wavesim` binary and their parser.
//!
//! Hand-written (no argument-parsing dependency): `--flag value` and
//! `--flag=value`, every value checked, and an error that names the flag and
//! says what was expected.

use std::fmt;
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::cpu::Engine;
use crate::grid::{GridDims, GridError};

/// Where the simulation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The CPU engines.
    Cpu,
    /// The batch GPU engine (`GpuBatch`, one kernel launch per step); the
    /// run fails, saying why, when there is no GPU, driver or PTX.
    Gpu,
    /// The persistent engine (`session::PersistentSim`: one RingKernel
    /// actor launch with a gang of tile workers, fed the commands); the run
    /// fails, saying why, when there is no GPU, driver or PTX.
    Persistent,
    /// The persistent GPU engine when it starts, else the CPU (the binary
    /// says which, and why not the GPU).
    Auto,
}

impl Backend {
    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
            Self::Persistent => "persistent",
            Self::Auto => "auto",
        }
    }
}

/// Default picture path, relative to the working directory: from the
/// workspace root this is the workspace's `target/` folder.
pub const DEFAULT_OUTPUT: &str = "target/wavesim/midplane.png";

/// Largest number of impulses the binary schedules.
pub const MAX_IMPULSES: u32 = 4;

/// The options of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Grid size.
    pub dims: GridDims,
    /// Time steps to run.
    pub steps: u32,
    /// Steps between progress reports.
    pub report_every: u32,
    /// Impulses injected during the run (0 to [`MAX_IMPULSES`]).
    pub impulses: u32,
    /// Damping per step.
    pub damping: f32,
    /// CPU engine.
    pub engine: Engine,
    /// Rayon threads; `None` for rayon's default (one per core).
    pub threads: Option<usize>,
    /// Threads per gang worker of the persistent engine.
    pub worker_threads: u32,
    /// Requested backend.
    pub backend: Backend,
    /// Where the PNG goes.
    pub output: PathBuf,
    /// Pixels per cell in the PNG; `None` for the smallest scale that makes
    /// the picture at least 512 pixels wide.
    pub scale: Option<u32>,
    /// `--bench`: measure the memory bandwidth, time the batch GPU engine at
    /// 64³, 128³ and 256³ and the CPU engine at 64³ instead of running the
    /// simulation (`--steps`, when given, sets the timed steps).
    pub bench: bool,
    /// Whether `--steps` was given.
    pub steps_given: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            dims: GridDims::cube(64).expect("64³ is a valid grid"),
            steps: 240,
            report_every: 0,
            impulses: 3,
            damping: crate::fdtd::Params::DEFAULT.damping(),
            engine: Engine::Rayon,
            threads: None,
            worker_threads: 256,
            backend: Backend::Auto,
            output: PathBuf::from(DEFAULT_OUTPUT),
            scale: None,
            bench: false,
            steps_given: false,
        }
    }
}

impl Options {
    /// Steps between reports: the `--report` value, or a tenth of the run.
    pub fn report_interval(&self) -> u32 {
        if self.report_every > 0 { self.report_every } else { self.steps.div_ceil(10).max(1) }
    }

    /// Pixels per cell: the `--scale` value, or enough for 512 pixels.
    pub fn pixel_scale(&self) -> u32 {
        self.scale.unwrap_or_else(|| 512u32.div_ceil(self.dims.nx().max(self.dims.ny())).max(1))
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// Run with these options.
    Run(Options),
    /// Print the usage and stop.
    Help,
}

/// Why a command line was refused.
#[derive(Clone, Debug, PartialEq)]
pub enum CliError {
    /// A flag this program does not have.
    UnknownFlag(String),
    /// An argument that is not a flag.
    Unexpected(String),
    /// A flag given without its value.
    MissingValue(&'static str),
    /// A flag's value could not be used.
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// The grid size is outside the limits.
    Grid(GridError),
    /// A flag given twice.
    Repeated(&'static str),
    /// An argument that is not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFlag(flag) => write!(f, "unknown option `{flag}`"),
            Self::Unexpected(arg) => write!(f, "unexpected argument `{arg}` (options start with --)"),
            Self::MissingValue(flag) => write!(f, "option `{flag}` needs a value"),
            Self::BadValue { flag, value, expected } => {
                write!(f, "invalid value `{value}` for `{flag}`: expected {expected}")
            }
            Self::Grid(e) => write!(f, "invalid `--size`: {e}"),
            Self::Repeated(flag) => write!(f, "option `{flag}` given more than once"),
            Self::NotUtf8 => f.write_str("an argument is not valid UTF-8"),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Grid(e) => Some(e),
            _ => None,
        }
    }
}

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
wavesim: a 3D acoustic wave simulation (WaveSim3D) driven by commands

Usage: wavesim [OPTIONS]

Options:
  --size N | NXxNYxNZ    grid cells per axis, 3 to 1024 (default 64)
  --steps N              time steps to run, at least 1 (default 240)
  --report N             steps between progress reports (default: a tenth of the run)
  --impulses N           impulses injected during the run, 0 to 4 (default 3)
  --damping G            damping per step, 0 <= G < 1 (default 0.005)
  --engine rayon|naive   CPU engine: parallel over z planes, or one thread (default rayon)
  --threads N            rayon threads (default: one per core)
  --worker-threads N     threads per gang worker of the persistent engine, a multiple of
                         32 from 32 to 1024 (default 256)
  --backend B            where to run: cpu, gpu, persistent or auto (default auto).
                         persistent runs the same commands on the persistent GPU
                         engine (one actor launch whose gang holds and steps the field);
                         gpu on the batch GPU engine (one kernel launch per step); both
                         fail, saying why, without a GPU, driver or PTX; auto uses the
                         persistent engine when it starts, else the CPU, and says why
  --output PATH          PNG of the mid-plane z = nz/2 (default target/wavesim/midplane.png,
                         relative to the working directory)
  --scale N              pixels per cell in the PNG, 1 to 64 (default: at least 512 pixels wide)
  --bench                measure the GPU's memory bandwidth (a device-to-device copy),
                         time the batch GPU engine at 64^3, 128^3 and 256^3 (Mcells/s,
                         effective GB/s at 12 B/cell, % of the measured bandwidth), then
                         the CPU engine at 64^3 as the baseline; --steps sets the timed
                         steps (default 2000, 1000, 500; 200 on the CPU); also the
                         persistent engine beside it (same sizes, the mixed frame of
                         1000 steps + 10 injects + 5 queries, inject latency), written
                         to wavesim-bench.json and .md in the folder of --output; needs
                         a GPU and the PTX of `cargo xtask build-ptx`
  -h, --help             print this help
";

fn bad(flag: &'static str, value: &str, expected: impl ToString) -> CliError {
    CliError::BadValue { flag, value: value.to_string(), expected: expected.to_string() }
}

fn parse_int<T: core::str::FromStr + PartialOrd + fmt::Display>(
    flag: &'static str,
    value: &str,
    min: T,
    max: T,
) -> Result<T, CliError> {
    match value.parse::<T>() {
        Ok(v) if v >= min && v <= max => Ok(v),
        _ => Err(bad(flag, value, format_args!("a whole number from {min} to {max}"))),
    }
}

fn parse_size(value: &str) -> Result<GridDims, CliError> {
    let expected = "N or NXxNYxNZ, e.g. 64 or 96x64x32";
    let parts: Vec<&str> = value.split(['x', 'X']).collect();
    let nums: Result<Vec<u32>, _> = parts.iter().map(|p| p.parse::<u32>()).collect();
    match nums.as_deref() {
        Ok([n]) => GridDims::cube(*n).map_err(CliError::Grid),
        Ok([nx, ny, nz]) => GridDims::new(*nx, *ny, *nz).map_err(CliError::Grid),
        _ => Err(bad("--size", value, expected)),
    }
}

/// Parses the arguments (without the program name).
pub fn parse<I, S>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    const FLAGS: [&str; 11] = [
        "--size",
        "--steps",
        "--report",
        "--impulses",
        "--damping",
        "--engine",
        "--threads",
        "--worker-threads",
        "--backend",
        "--output",
        "--scale",
    ];
    let mut opts = Options::default();
    let mut seen: Vec<&'static str> = Vec::new();
    let mut args = args.into_iter().map(Into::into);
    while let Some(arg) = args.next() {
        let arg = arg.into_string().map_err(|_| CliError::NotUtf8)?;
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        if arg == "--bench" {
            if opts.bench {
                return Err(CliError::Repeated("--bench"));
            }
            opts.bench = true;
            continue;
        }
        if !arg.starts_with("--") {
            return Err(CliError::Unexpected(arg));
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let flag = *FLAGS.iter().find(|f| **f == name).ok_or_else(|| CliError::UnknownFlag(name.to_string()))?;
        if seen.contains(&flag) {
            return Err(CliError::Repeated(flag));
        }
        seen.push(flag);
        let value = match inline {
            Some(v) => v,
            None => match args.next() {
                Some(v) => v.into_string().map_err(|_| CliError::NotUtf8)?,
                None => return Err(CliError::MissingValue(flag)),
            },
        };
        let v = value.as_str();
        match flag {
            "--size" => opts.dims = parse_size(v)?,
            "--steps" => {
                opts.steps = parse_int(flag, v, 1, u32::MAX)?;
                opts.steps_given = true;
            }
            "--report" => opts.report_every = parse_int(flag, v, 1, u32::MAX)?,
            "--impulses" => opts.impulses = parse_int(flag, v, 0, MAX_IMPULSES)?,
            "--damping" => {
                opts.damping = match v.parse::<f32>() {
                    Ok(g) if (0.0..1.0).contains(&g) => g,
                    _ => return Err(bad(flag, v, "a number with 0 <= G < 1")),
                }
            }
            "--engine" => {
                opts.engine = match v {
                    "rayon" => Engine::Rayon,
                    "naive" => Engine::Naive,
                    _ => return Err(bad(flag, v, "`rayon` or `naive`")),
                }
            }
            "--threads" => opts.threads = Some(parse_int(flag, v, 1, 1024)?),
            "--worker-threads" => {
                let n = parse_int(flag, v, 32, 1024)?;
                if n % 32 != 0 {
                    return Err(bad(flag, v, "a multiple of 32 from 32 to 1024"));
                }
                opts.worker_threads = n;
            }
            "--backend" => {
                opts.backend = match v {
                    "cpu" => Backend::Cpu,
                    "gpu" => Backend::Gpu,
                    "persistent" => Backend::Persistent,
                    "auto" => Backend::Auto,
                    _ => return Err(bad(flag, v, "`cpu`, `gpu`, `persistent` or `auto`")),
                }
            }
            "--output" => {
                if v.is_empty() {
                    return Err(bad(flag, v, "a file path"));
                }
                opts.output = PathBuf::from(v);
            }
            "--scale" => opts.scale = Some(parse_int(flag, v, 1, 64)?),
            _ => unreachable!("every name in FLAGS is matched"),
        }
    }
    Ok(Parsed::Run(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().copied()) {
            Ok(Parsed::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> CliError {
        parse(args.iter().copied()).unwrap_err()
    }

    #[test]
    fn defaults() {
        let o = run(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.dims, GridDims::cube(64).unwrap());
        assert_eq!(o.report_interval(), 24);
        assert_eq!(o.pixel_scale(), 8);
        assert_eq!(o.backend, Backend::Auto);
        assert_eq!(o.output, PathBuf::from("target/wavesim/midplane.png"));
    }

    #[test]
    fn every_flag_parses() {
        let o = run(&[
            "--size=96x64x32",
            "--steps",
            "50",
            "--report",
            "7",
            "--impulses=0",
            "--damping",
            "0.01",
            "--engine",
            "naive",
            "--threads",
            "2",
            "--backend",
            "cpu",
            "--output",
            "/tmp/x.png",
            "--scale",
            "3",
        ]);
        assert_eq!(o.dims, GridDims::new(96, 64, 32).unwrap());
        assert_eq!((o.steps, o.report_interval(), o.impulses), (50, 7, 0));
        assert_eq!((o.damping, o.engine, o.threads, o.backend), (0.01, Engine::Naive, Some(2), Backend::Cpu));
        assert_eq!((o.output.to_str(), o.pixel_scale()), (Some("/tmp/x.png"), 3));
        assert_eq!(run(&["--size", "128"]).pixel_scale(), 4);
        assert_eq!(run(&["--size", "1000"]).pixel_scale(), 1);
        assert_eq!(parse(["--steps", "1", "-h"]), Ok(Parsed::Help));
        assert!(!o.bench && o.steps_given);
        let b = run(&["--bench"]);
        assert!(b.bench && !b.steps_given);
        assert_eq!(err(&["--bench", "--bench"]), CliError::Repeated("--bench"));
        assert_eq!(err(&["--bench=1"]), CliError::UnknownFlag("--bench".into()));
    }

    #[test]
    fn bad_flags_get_clear_errors() {
        assert_eq!(err(&["--sise", "64"]), CliError::UnknownFlag("--sise".into()));
        assert_eq!(err(&["64"]), CliError::Unexpected("64".into()));
        assert_eq!(err(&["--steps"]), CliError::MissingValue("--steps"));
        assert_eq!(err(&["--steps", "1", "--steps", "2"]), CliError::Repeated("--steps"));
        assert_eq!(err(&["--size", "2"]), CliError::Grid(GridError::TooSmall { axis: 'x', n: 2 }));
        assert_eq!(err(&["--size", "8x8x2000"]), CliError::Grid(GridError::TooLarge { axis: 'z', n: 2000 }));
        for args in [
            &["--size", "8x8"][..],
            &["--size", "big"],
            &["--steps", "0"],
            &["--steps", "-5"],
            &["--steps", "1.5"],
            &["--impulses", "5"],
            &["--damping", "1"],
            &["--damping", "nan"],
            &["--engine", "gpu"],
            &["--threads", "0"],
            &["--worker-threads", "40"],
            &["--worker-threads", "2048"],
            &["--backend", "tpu"],
            &["--backend", "cuda"],
            &["--output="],
            &["--scale", "0"],
        ] {
            assert!(matches!(err(args), CliError::BadValue { .. }), "{args:?}");
        }
        let msg = err(&["--steps", "0"]).to_string();
        assert_eq!(msg, "invalid value `0` for `--steps`: expected a whole number from 1 to 4294967295");
        assert_eq!(
            err(&["--backend", "tpu"]).to_string(),
            "invalid value `tpu` for `--backend`: expected `cpu`, `gpu`, `persistent` or `auto`"
        );
        assert_eq!(run(&["--backend=gpu"]).backend, Backend::Gpu);
        assert_eq!(run(&["--backend", "auto"]).backend, Backend::Auto);
        assert_eq!(run(&["--backend", "persistent"]).backend, Backend::Persistent);
    }
}
