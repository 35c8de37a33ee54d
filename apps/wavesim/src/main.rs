//! `wavesim`: runs WaveSim3D on the CPU or on the batch GPU engine, driven
//! through its command protocol (the same commands, through the same
//! `actor::handle`, on both), with a progress bar, the energy at every
//! report, and a PNG of the mid-plane at the end. `wavesim --help` lists the
//! options.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ringkernel_wavesim::cli::{self, Backend, Options, Parsed};
use ringkernel_wavesim::image::{EncodeError, encode_png, render_plane};
use ringkernel_wavesim::{Command, CommandKind, GridDims, ParamError, Params, Reply, ReplyKind, Simulation};

/// What can stop a run after the options were accepted.
#[derive(Debug)]
enum RunError {
    /// The rayon pool of `--threads` could not be built.
    Threads(rayon::ThreadPoolBuildError),
    /// The parameters from the options were refused.
    Params(ParamError),
    /// A command got another reply than this driver expects.
    Protocol {
        /// The command's raw kind.
        command: u32,
        /// The reply kind expected.
        expected: ReplyKind,
        /// The reply received.
        reply: Reply,
    },
    /// The picture could not be encoded.
    Png(EncodeError),
    /// The GPU engine could not start or go on.
    #[cfg(feature = "gpu")]
    Gpu {
        /// What needed it (`--bench`, `--backend gpu`, the run).
        what: &'static str,
        /// Why it failed.
        source: ringkernel_wavesim::GpuError,
    },
    /// `--bench` or `--backend gpu` in a binary built without the `gpu`
    /// feature.
    #[cfg(not(feature = "gpu"))]
    NoGpuFeature(&'static str),
    /// The persistent-vs-batch comparison of `--bench` failed.
    #[cfg(feature = "gpu")]
    Bench(String),
    /// The persistent engine could not start or go on.
    #[cfg(feature = "gpu")]
    Persistent(ringkernel_wavesim::session::SessionError),
    /// A file or folder could not be written.
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Threads(e) => write!(f, "cannot start the rayon threads: {e}"),
            Self::Params(e) => write!(f, "parameters refused: {e}"),
            Self::Protocol { command, expected, reply } => {
                let name = CommandKind::try_from(*command).map_or("unknown command", CommandKind::name);
                write!(f, "{name} was answered {reply:?}, expected {expected}")
            }
            Self::Png(e) => write!(f, "cannot encode the PNG: {e}"),
            #[cfg(feature = "gpu")]
            Self::Gpu { what, source } => write!(f, "{what}: {source}"),
            #[cfg(not(feature = "gpu"))]
            Self::NoGpuFeature(what) => write!(f, "{what}: {NO_GPU_FEATURE}"),
            #[cfg(feature = "gpu")]
            Self::Bench(why) => write!(f, "--bench: {why}"),
            #[cfg(feature = "gpu")]
            Self::Persistent(e) => write!(f, "persistent engine: {e}"),
            Self::Io { what, path, source } => write!(f, "cannot {what} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Threads(e) => Some(e),
            Self::Params(e) => Some(e),
            Self::Png(e) => Some(e),
            #[cfg(feature = "gpu")]
            Self::Gpu { source, .. } => Some(source),
            #[cfg(not(feature = "gpu"))]
            Self::NoGpuFeature(_) => None,
            #[cfg(feature = "gpu")]
            Self::Bench(_) => None,
            #[cfg(feature = "gpu")]
            Self::Persistent(e) => Some(e),
            Self::Io { source, .. } => Some(source),
            Self::Protocol { .. } => None,
        }
    }
}

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("wavesim: error: {e}\nrun `wavesim --help` for the options");
            return ExitCode::from(2);
        }
    };
    let go = |opts: &Options| if opts.bench { bench(opts) } else { run(opts) };
    let result = match opts.threads {
        Some(n) => match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
            Ok(pool) => pool.install(|| go(&opts)),
            Err(e) => Err(RunError::Threads(e)),
        },
        None => go(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wavesim: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why the binary was built without the GPU engine, for its messages.
#[cfg(not(feature = "gpu"))]
const NO_GPU_FEATURE: &str = "this wavesim was built without the `gpu` feature";

/// The simulation the binary drives: the CPU [`Simulation`], or a
/// [`WaveState`](ringkernel_wavesim::WaveState) and the batch GPU field
/// behind the same `actor::handle`, so both runs get the same commands and
/// give the same replies.
enum Session {
    Cpu(Simulation),
    #[cfg(feature = "gpu")]
    Gpu {
        state: ringkernel_wavesim::WaveState,
        field: Box<ringkernel_wavesim::GpuBatch>,
    },
    #[cfg(feature = "gpu")]
    Persistent(ringkernel_wavesim::session::PersistentSim),
}

impl Session {
    /// Picks the backend `opts` asks for and prints the `backend:` line;
    /// `--backend gpu` fails when the GPU engine does not start, `auto`
    /// falls back to the CPU and says why.
    fn open(opts: &Options) -> Result<Self, RunError> {
        let cpu = || Self::Cpu(Simulation::new(opts.dims, opts.engine));
        match opts.backend {
            Backend::Cpu => {
                println!("backend: cpu");
                Ok(cpu())
            }
            #[cfg(feature = "gpu")]
            Backend::Gpu => match ringkernel_wavesim::GpuBatch::new(opts.dims) {
                Ok(field) => {
                    println!(
                        "backend: gpu (batch engine on {}, kernels from {})",
                        field.device_name(),
                        field.kernel_file().display()
                    );
                    let state = ringkernel_wavesim::WaveState::new(Params::DEFAULT);
                    Ok(Self::Gpu { state, field: Box::new(field) })
                }
                Err(source) => Err(RunError::Gpu { what: "--backend gpu", source }),
            },
            #[cfg(feature = "gpu")]
            Backend::Persistent | Backend::Auto => {
                use ringkernel_wavesim::session::PersistentSim;
                let backend = PersistentSim::launch_with(
                    opts.dims,
                    ringkernel::Backend::Cuda,
                    ringkernel::GangWorkers::Fill,
                    opts.worker_threads,
                );
                match backend {
                    Ok(sim) => {
                        let arrow = if opts.backend == Backend::Auto { "auto -> " } else { "" };
                        println!(
                            "backend: {arrow}persistent (one actor launch, {} gang workers of {} threads)",
                            sim.workers(),
                            opts.worker_threads
                        );
                        Ok(Self::Persistent(sim))
                    }
                    Err(e) if opts.backend == Backend::Persistent => Err(RunError::Persistent(e)),
                    Err(e) => {
                        let reason = e.to_string().replace('\n', " ");
                        println!("backend: auto -> cpu ({reason})");
                        Ok(cpu())
                    }
                }
            }
            #[cfg(not(feature = "gpu"))]
            Backend::Gpu => Err(RunError::NoGpuFeature("--backend gpu")),
            #[cfg(not(feature = "gpu"))]
            Backend::Persistent => Err(RunError::NoGpuFeature("--backend persistent")),
            #[cfg(not(feature = "gpu"))]
            Backend::Auto => {
                println!("backend: auto -> cpu ({NO_GPU_FEATURE})");
                Ok(cpu())
            }
        }
    }

    /// The `engine ...` part of the grid line.
    fn engine(&self, opts: &Options) -> String {
        match self {
            Self::Cpu(_) => {
                let threads = match opts.engine {
                    ringkernel_wavesim::Engine::Naive => 1,
                    ringkernel_wavesim::Engine::Rayon => rayon::current_num_threads(),
                };
                format!("engine {} on {threads} thread(s)", opts.engine.name())
            }
            #[cfg(feature = "gpu")]
            Self::Gpu { .. } => "engine batch GPU (one wavesim_step launch per step)".into(),
            #[cfg(feature = "gpu")]
            Self::Persistent(_) => "engine persistent GPU actor (RunSteps stepped by its gang, no launch)".into(),
        }
    }

    /// Carries out one command ([`ringkernel_wavesim::actor::handle`]); a
    /// GPU failure on the way is an error (the GPU field's errors are sticky,
    /// so it is checked after each command).
    fn apply(&mut self, cmd: &Command) -> Result<Reply, RunError> {
        match self {
            Self::Cpu(sim) => Ok(sim.apply(cmd)),
            #[cfg(feature = "gpu")]
            Self::Gpu { state, field } => {
                let reply = ringkernel_wavesim::actor::handle(state, field.as_mut(), cmd);
                match field.take_error() {
                    Some(source) => Err(RunError::Gpu { what: "the GPU run", source }),
                    None => Ok(reply),
                }
            }
            #[cfg(feature = "gpu")]
            Self::Persistent(sim) => sim.command(*cmd).map_err(RunError::Persistent),
        }
    }

    /// Waits for the queued steps (the GPU queues them; the CPU is done), so
    /// the time of a `RunSteps` is the time of its work.
    fn finish(&self) -> Result<(), RunError> {
        match self {
            Self::Cpu(_) => Ok(()),
            #[cfg(feature = "gpu")]
            Self::Gpu { field, .. } => {
                field.synchronize().map_err(|source| RunError::Gpu { what: "the GPU run", source })
            }
            #[cfg(feature = "gpu")]
            Self::Persistent(_) => Ok(()),
        }
    }

    /// The mid-plane `z = nz/2` of the current pressure (x fastest); on the
    /// GPU, copied back from the device field.
    fn midplane(&self) -> Result<Vec<f32>, RunError> {
        match self {
            Self::Cpu(sim) => Ok(sim.midplane().to_vec()),
            #[cfg(feature = "gpu")]
            Self::Gpu { field, .. } => {
                let d = field.dims();
                let plane = d.nx() as usize * d.ny() as usize;
                let p = field.pressure().map_err(|source| RunError::Gpu { what: "the GPU run", source })?;
                let z = d.nz() as usize / 2;
                Ok(p[z * plane..(z + 1) * plane].to_vec())
            }
            #[cfg(feature = "gpu")]
            Self::Persistent(sim) => {
                let d = sim.dims();
                let plane = d.nx() as usize * d.ny() as usize;
                let p = sim.pressure().map_err(RunError::Persistent)?;
                let z = d.nz() as usize / 2;
                Ok(p[z * plane..(z + 1) * plane].to_vec())
            }
        }
    }
}

/// Sends one command; a reply of another kind than `want` is an error
/// (this driver only sends commands it expects to succeed).
fn send(sim: &mut Session, cmd: Command, want: ReplyKind) -> Result<Reply, RunError> {
    let reply = sim.apply(&cmd)?;
    match reply.kind() {
        Ok(kind) if kind == want => Ok(reply),
        _ => Err(RunError::Protocol { command: cmd.kind, expected: want, reply }),
    }
}

/// Where and when the impulses go: fractions of the grid in the mid-plane
/// (so the picture shows them), value, and fraction of the run.
const IMPULSES: [([f32; 2], f32, f32); 4] =
    [([0.5, 0.5], 1.0, 0.0), ([0.3, 0.66], -0.8, 0.5), ([0.68, 0.34], 0.8, 0.78), ([0.3, 0.3], -0.6, 0.9)];

fn impulse_schedule(opts: &Options) -> Vec<(u64, Command)> {
    let d = opts.dims;
    let z = d.nz() / 2;
    let place = |f: f32, n: u32| ((f * n as f32) as u32).clamp(1, n - 2);
    IMPULSES
        .iter()
        .take(opts.impulses as usize)
        .map(|&([fx, fy], value, at)| {
            let step = (f64::from(at) * f64::from(opts.steps)).round() as u64;
            (step, Command::inject_impulse([place(fx, d.nx()), place(fy, d.ny()), z], value))
        })
        .collect()
}

fn bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 24;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH) as usize;
    format!("[{}{}]", "#".repeat(filled), "-".repeat(WIDTH as usize - filled))
}

fn run(opts: &Options) -> Result<(), RunError> {
    let start = Instant::now();
    let d = opts.dims;
    let cells = d.cells() as u64;
    let mut sim = Session::open(opts)?;
    println!("grid {}x{}x{} = {} cells, {} steps, {}", d.nx(), d.ny(), d.nz(), cells, opts.steps, sim.engine(opts));

    let defaults = Params::DEFAULT;
    let params = Params::new(defaults.speed(), defaults.dt(), defaults.dx(), opts.damping).map_err(RunError::Params)?;
    send(&mut sim, Command::configure_with(&params), ReplyKind::ACK)?;
    println!(
        "configure: c = {} m/s, dx = {} mm, dt = {} us, Courant number {:.3} (CFL limit 0.577), damping {} -> Ack",
        params.speed(),
        params.dx() * 1e3,
        params.dt() * 1e6,
        params.courant2().sqrt(),
        params.damping()
    );

    // The protocol refuses bad commands and the simulation goes on.
    let wall = Command::inject_impulse([0, d.ny() / 2, d.nz() / 2], 1.0);
    for (what, cmd) in [("InjectImpulse on the wall", wall), ("RunSteps(0)", Command::run_steps(0))] {
        let reply = sim.apply(&cmd)?;
        match reply.error_code() {
            Some(Ok(code)) => println!("bad command check: {what} -> Error({code})"),
            _ => return Err(RunError::Protocol { command: cmd.kind, expected: ReplyKind::ERROR, reply }),
        }
    }

    let schedule = impulse_schedule(opts);
    let report = u64::from(opts.report_interval());
    let total = u64::from(opts.steps);
    let mid = total / 2;
    let mut next_impulse = schedule.iter().peekable();
    let mut step = 0u64;
    let mut stepping = Duration::ZERO;
    let mut checkpointed = false;
    let stdout = std::io::stdout();
    loop {
        while let Some((_, cmd)) = next_impulse.next_if(|(at, _)| *at <= step) {
            send(&mut sim, *cmd, ReplyKind::ACK)?;
            println!("inject impulse {:+} at {:?} (step {step}) -> Ack", cmd.value, cmd.pos);
        }
        if !checkpointed && step >= mid {
            let r = send(&mut sim, Command::checkpoint(), ReplyKind::CHECKPOINT_OK)?;
            println!("checkpoint -> CheckpointOk at step {}", r.step);
            checkpointed = true;
        }
        if step == total {
            break;
        }
        // Run to the next report, impulse or checkpoint, whichever is first.
        let mut until = (step / report + 1) * report;
        if let Some((at, _)) = next_impulse.peek() {
            until = until.min(*at);
        }
        if !checkpointed {
            until = until.min(mid);
        }
        let n = until.min(total) - step;
        let t = Instant::now();
        let r = send(&mut sim, Command::run_steps(n as u32), ReplyKind::ACK)?;
        sim.finish()?;
        stepping += t.elapsed();
        step = r.step;
        if step.is_multiple_of(report) || step == total {
            let p = send(&mut sim, Command::get_progress(), ReplyKind::PROGRESS)?;
            let mut out = stdout.lock();
            let _ = writeln!(
                out,
                "{} {:3}%  step {:>w$}/{total}  energy {:.6e}",
                bar(p.step, total),
                p.step * 100 / total,
                p.step,
                p.energy,
                w = total.to_string().len()
            );
            let _ = out.flush();
        }
    }
    let r = send(&mut sim, Command::terminate(), ReplyKind::TERMINATED)?;
    println!("terminate -> Terminated at step {}", r.step);

    write_png(&sim.midplane()?, d, opts, &opts.output)?;

    let secs = stepping.as_secs_f64();
    let mcells = if secs > 0.0 { (cells * total) as f64 / secs / 1e6 } else { f64::INFINITY };
    println!(
        "time: {:.2} s in all; stepping {:.2} s = {:.1} Mcells/s ({} cells x {} steps, walls included)",
        start.elapsed().as_secs_f64(),
        secs,
        mcells,
        cells,
        total
    );
    Ok(())
}

/// Timed steps per size of `--bench` when `--steps` is not given.
const BENCH_STEPS: [(u32, u32); 3] = [(64, 2000), (128, 1000), (256, 500)];

/// Mixed frames `--bench` times per engine.
const BENCH_FRAMES: usize = 20;

/// Timed steps of `--bench`'s CPU baseline at 64³ when `--steps` is not given.
const BENCH_CPU_STEPS: u32 = 200;

/// Bytes per buffer of `--bench`'s bandwidth copy: 512 MiB, ten times an
/// H100's 50 MiB L2, so the copy streams from and to DRAM.
#[cfg(feature = "gpu")]
const BENCH_COPY_BYTES: usize = 512 << 20;

/// Timed copies of the bandwidth measurement.
#[cfg(feature = "gpu")]
const BENCH_COPY_REPS: u32 = 20;

/// `--bench`: the device's memory bandwidth (a device-to-device copy), the
/// batch GPU engine at 64³, 128³, 256³ (see `gpu::bench`) against it, then
/// the CPU engine at 64³ as the baseline, all in one run.
#[cfg(feature = "gpu")]
fn bench(opts: &Options) -> Result<(), RunError> {
    use ringkernel_wavesim::GpuBatch;
    let err = |source| RunError::Gpu { what: "--bench", source };
    let probe = GpuBatch::new(GridDims::cube(8).expect("8³ is a valid grid")).map_err(err)?;
    println!(
        "batch GPU engine (one wavesim_step launch per step, 32x4x2 threads per block) on {}, kernels from {}",
        probe.device_name(),
        probe.kernel_file().display()
    );
    let bw = probe.copy_bandwidth(BENCH_COPY_BYTES, BENCH_COPY_REPS).map_err(err)?;
    drop(probe);
    println!(
        "memory bandwidth: {:.1} GB/s measured (wavesim_copy, device to device, {} MiB x {} copies in {:.2} ms; \
         bytes read + bytes written)",
        bw.gb_per_s(),
        bw.bytes >> 20,
        bw.reps,
        bw.seconds * 1e3
    );
    let sizes: Vec<(u32, u32)> =
        BENCH_STEPS.iter().map(|&(side, steps)| (side, if opts.steps_given { opts.steps } else { steps })).collect();
    let cmp = ringkernel_wavesim::bench::compare(&sizes, BENCH_FRAMES, opts.worker_threads, bw.gb_per_s())
        .map_err(|e| RunError::Bench(e.to_string()))?;
    let md = cmp.to_markdown();
    println!("{md}");
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let json = cmp.to_json(&[("command", command.clone()), ("date", date.clone())]);
    let head = format!("# WaveSim3D: persistent vs batch\n\nCommand: `{command}`. Date: {date}.\n\n");
    // Next to the picture `--output` names (it is not written by --bench).
    let dir = opts.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| RunError::Bench(format!("creating {}: {e}", dir.display())))?;
    for (name, text) in [("wavesim-bench.json", json), ("wavesim-bench.md", format!("{head}{md}"))] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| RunError::Bench(format!("writing {}: {e}", path.display())))?;
        println!("wrote {}", path.display());
    }
    cpu_baseline(opts)
}

#[cfg(not(feature = "gpu"))]
fn bench(_opts: &Options) -> Result<(), RunError> {
    let _ = (BENCH_STEPS, BENCH_CPU_STEPS, cpu_baseline);
    Err(RunError::NoGpuFeature("--bench"))
}

/// `--bench`'s CPU baseline: the CPU engine of `--engine` at 64³ through the
/// same commands (an impulse, untimed warm-up steps, one timed `RunSteps`).
fn cpu_baseline(opts: &Options) -> Result<(), RunError> {
    let dims = GridDims::cube(64).expect("64³ is a valid grid");
    let steps = if opts.steps_given { opts.steps } else { BENCH_CPU_STEPS };
    let mut sim = Session::Cpu(Simulation::new(dims, opts.engine));
    send(&mut sim, Command::inject_impulse(dims.centre(), 1.0), ReplyKind::ACK)?;
    send(&mut sim, Command::run_steps(steps / 10 + 1), ReplyKind::ACK)?;
    let start = Instant::now();
    send(&mut sim, Command::run_steps(steps), ReplyKind::ACK)?;
    let secs = start.elapsed().as_secs_f64();
    let cell_steps = dims.cells() as f64 * f64::from(steps);
    println!(
        "CPU baseline: 64^3, {steps} steps, {}: {:.2} ms = {:.1} Mcells/s ({:.1} GB/s at 12 B/cell)",
        sim.engine(opts),
        secs * 1e3,
        cell_steps / secs / 1e6,
        12.0 * cell_steps / secs / 1e9
    );
    Ok(())
}

fn write_png(midplane: &[f32], d: GridDims, opts: &Options, path: &Path) -> Result<(), RunError> {
    let (image, peak) = render_plane(midplane, d.nx(), d.ny(), opts.pixel_scale());
    let bytes = encode_png(&image).map_err(RunError::Png)?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| RunError::Io { what: "create", path: dir.into(), source })?;
    }
    std::fs::write(path, &bytes).map_err(|source| RunError::Io { what: "write", path: path.into(), source })?;
    println!(
        "wrote {} ({}x{} px, mid-plane z = {}, peak |p| = {:.4e}, linear colour scale: -peak blue, 0 white, +peak red)",
        path.display(),
        image.width,
        image.height,
        d.nz() / 2,
        peak
    );
    Ok(())
}
