//! Command-line parsing for `cargo xtask`.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::ptx::DEFAULT_ARCH;

/// What `cargo xtask help` prints.
pub const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  build-ptx [--arch sm_90] [-p CRATE]... [--no-ptxas] [--deny-spills]
        build kernel crates to PTX (target/ptx/<crate>.ptx) and, with ptxas,
        to cubins, printing entries and registers/stack/spills per function;
        default crates: ringkernel-device (feature kernels), ringkernel-example-actors
  ptx [--arch sm_90] [-p CRATE]... [--no-ptxas] [--deny-spills]
        build-ptx, plus PTX size and lines per function
  doctor
        check the toolchain, ptxas and the CUDA driver/GPUs
  test
        fmt, clippy, workspace tests, then build-ptx with ptxas and --deny-spills
  gpu-bundle [--out DIR] [--arch sm_90]
        pack PTX, cubins, release test executables, examples and benchmark
        binaries into one folder (default target/gpu-bundle) for a GPU machine
  bench-h100 [--arch sm_90] [--collect DIR] [-- ARGS...]
        build the GPU bundle and, on a machine with a GPU, run the GPU
        benchmark (bin/rk-bench-gpu ARGS) and copy its JSON and markdown to
        benchmarks/results/; with --collect, only check and copy the files
        a run on another machine wrote to DIR
  help
        this text";

/// Options shared by `build-ptx` and `ptx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtxArgs {
    /// `--arch`.
    pub arch: String,
    /// `-p`/`--package`, in order; empty means the default crates.
    pub packages: Vec<String>,
    /// `--no-ptxas`.
    pub no_ptxas: bool,
    /// `--deny-spills`.
    pub deny_spills: bool,
}

/// A parsed `cargo xtask` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    /// `build-ptx`.
    BuildPtx(PtxArgs),
    /// `ptx`.
    Ptx(PtxArgs),
    /// `doctor`.
    Doctor,
    /// `test`.
    Test,
    /// `gpu-bundle`.
    GpuBundle {
        /// `--out`.
        out: Option<PathBuf>,
        /// `--arch`.
        arch: String,
    },
    /// `bench-h100`.
    BenchH100(crate::bench::BenchOptions),
    /// `help`, `-h`, `--help`.
    Help,
}

/// Take the value of `flag` from `--flag VALUE` or `--flag=VALUE`.
fn take_value<'a>(arg: &'a str, flag: &str, rest: &mut impl Iterator<Item = &'a String>) -> Result<Option<String>> {
    if arg == flag {
        return match rest.next() {
            Some(v) if !v.starts_with('-') => Ok(Some(v.clone())),
            _ => Err(Error::Usage(format!("{flag} needs a value"))),
        };
    }
    match arg.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
        Some("") => Err(Error::Usage(format!("{flag} needs a value"))),
        Some(v) => Ok(Some(v.to_string())),
        None => Ok(None),
    }
}

/// Parse the arguments after `cargo xtask`. Errors are [`Error::Usage`].
pub fn parse(args: &[String]) -> Result<Cmd> {
    let Some((command, rest)) = args.split_first() else {
        return Err(Error::Usage("no command given".into()));
    };
    let mut rest = rest.iter();
    match command.as_str() {
        "build-ptx" | "ptx" => {
            let mut p =
                PtxArgs { arch: DEFAULT_ARCH.into(), packages: Vec::new(), no_ptxas: false, deny_spills: false };
            while let Some(arg) = rest.next() {
                if let Some(v) = take_value(arg, "--arch", &mut rest)? {
                    p.arch = v;
                } else if let Some(v) = take_value(arg, "--package", &mut rest)? {
                    p.packages.push(v);
                } else if arg == "-p" {
                    match rest.next() {
                        Some(v) if !v.starts_with('-') => p.packages.push(v.clone()),
                        _ => return Err(Error::Usage("-p needs a package name".into())),
                    }
                } else if let Some(v) = arg.strip_prefix("-p").filter(|v| !v.is_empty()) {
                    p.packages.push(v.to_string());
                } else if arg == "--no-ptxas" {
                    p.no_ptxas = true;
                } else if arg == "--deny-spills" {
                    p.deny_spills = true;
                } else {
                    return Err(Error::Usage(format!("unknown option `{arg}` for {command}")));
                }
            }
            if p.no_ptxas && p.deny_spills {
                return Err(Error::Usage("--deny-spills needs ptxas; it cannot go with --no-ptxas".into()));
            }
            crate::ptx::validate_arch(&p.arch)?;
            Ok(if command == "ptx" { Cmd::Ptx(p) } else { Cmd::BuildPtx(p) })
        }
        "gpu-bundle" => {
            let (mut out, mut arch) = (None, DEFAULT_ARCH.to_string());
            while let Some(arg) = rest.next() {
                if let Some(v) = take_value(arg, "--out", &mut rest)? {
                    out = Some(PathBuf::from(v));
                } else if let Some(v) = take_value(arg, "--arch", &mut rest)? {
                    arch = v;
                } else {
                    return Err(Error::Usage(format!("unknown option `{arg}` for gpu-bundle")));
                }
            }
            crate::ptx::validate_arch(&arch)?;
            Ok(Cmd::GpuBundle { out, arch })
        }
        "bench-h100" => {
            let mut o = crate::bench::BenchOptions { collect: None, arch: DEFAULT_ARCH.into(), args: Vec::new() };
            while let Some(arg) = rest.next() {
                if arg == "--" {
                    o.args = rest.by_ref().cloned().collect();
                } else if let Some(v) = take_value(arg, "--collect", &mut rest)? {
                    o.collect = Some(PathBuf::from(v));
                } else if let Some(v) = take_value(arg, "--arch", &mut rest)? {
                    o.arch = v;
                } else {
                    return Err(Error::Usage(format!(
                        "unknown option `{arg}` for bench-h100 (pass benchmark arguments after --)"
                    )));
                }
            }
            crate::ptx::validate_arch(&o.arch)?;
            Ok(Cmd::BenchH100(o))
        }
        "doctor" | "test" | "help" | "-h" | "--help" => {
            if let Some(arg) = rest.next() {
                return Err(Error::Usage(format!("{command} takes no arguments (got `{arg}`)")));
            }
            Ok(match command.as_str() {
                "doctor" => Cmd::Doctor,
                "test" => Cmd::Test,
                _ => Cmd::Help,
            })
        }
        other => Err(Error::Usage(format!("unknown command `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Cmd> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_build_ptx_options() {
        assert_eq!(
            p(&["build-ptx"]).unwrap(),
            Cmd::BuildPtx(PtxArgs { arch: "sm_90".into(), packages: vec![], no_ptxas: false, deny_spills: false })
        );
        assert_eq!(
            p(&["build-ptx", "--arch", "sm_80", "-p", "a", "-pb", "--package=c", "--deny-spills"]).unwrap(),
            Cmd::BuildPtx(PtxArgs {
                arch: "sm_80".into(),
                packages: vec!["a".into(), "b".into(), "c".into()],
                no_ptxas: false,
                deny_spills: true
            })
        );
        assert!(
            matches!(p(&["ptx", "--arch=sm_90a", "--no-ptxas"]).unwrap(), Cmd::Ptx(a) if a.no_ptxas && a.arch == "sm_90a")
        );
        assert_eq!(
            p(&["gpu-bundle", "--out", "/tmp/b"]).unwrap(),
            Cmd::GpuBundle { out: Some("/tmp/b".into()), arch: "sm_90".into() }
        );
        assert_eq!(p(&["doctor"]).unwrap(), Cmd::Doctor);
        assert_eq!(
            p(&["bench-h100", "--collect", "out", "--", "--quick", "--out", "x"]).unwrap(),
            Cmd::BenchH100(crate::bench::BenchOptions {
                collect: Some("out".into()),
                arch: "sm_90".into(),
                args: vec!["--quick".into(), "--out".into(), "x".into()]
            })
        );
        assert!(p(&["bench-h100", "--quick"]).is_err(), "benchmark flags go after --");
        assert_eq!(p(&["--help"]).unwrap(), Cmd::Help);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        for bad in [
            &[][..],
            &["frobnicate"],
            &["build-ptx", "--arch"],
            &["build-ptx", "--arch", "-p"],
            &["build-ptx", "--arch", "compute_90"],
            &["build-ptx", "-p"],
            &["build-ptx", "--bogus"],
            &["build-ptx", "--no-ptxas", "--deny-spills"],
            &["gpu-bundle", "--out="],
            &["doctor", "extra"],
        ] {
            assert!(matches!(p(bad), Err(Error::Usage(_))), "{bad:?} -> {:?}", p(bad));
        }
    }
}
