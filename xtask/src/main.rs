//! `cargo xtask`: see `cargo xtask help`. When `RINGKERNEL_XTASK_AS_LINKER=1`
//! is set, this binary is instead the nvptx64 linker (see `xtask::linker`).

use std::env;
use std::process::ExitCode;

use xtask::cli::{self, Cmd, PtxArgs, USAGE};
use xtask::ptx::{self, BuildOptions, PtxCrate, PtxasMode};
use xtask::tools::Workspace;
use xtask::{Error, Result, bundle, check, doctor, linker};

fn main() -> ExitCode {
    if env::var_os(linker::AS_LINKER_ENV).is_some_and(|v| v == "1") {
        return match linker::main_as_linker() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask linker: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args: Vec<String> = match env::args_os().skip(1).map(|a| a.into_string()).collect() {
        Ok(args) => args,
        Err(bad) => return usage_error(&format!("argument {bad:?} is not UTF-8")),
    };
    let cmd = match cli::parse(&args) {
        Ok(cmd) => cmd,
        Err(e) => return usage_error(&e.to_string()),
    };
    match run(cmd) {
        Ok(code) => code,
        Err(Error::Usage(msg)) => usage_error(&msg),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}\n\n{USAGE}");
    ExitCode::from(2)
}

fn build_options(args: &PtxArgs) -> BuildOptions {
    let crates = if args.packages.is_empty() {
        ptx::default_crates()
    } else {
        args.packages.iter().map(|p| PtxCrate::new(p)).collect()
    };
    BuildOptions {
        arch: args.arch.clone(),
        crates,
        // Spills can only be denied if ptxas can count them.
        ptxas: match (args.no_ptxas, args.deny_spills) {
            (true, _) => PtxasMode::Skip,
            (false, true) => PtxasMode::Require,
            (false, false) => PtxasMode::IfFound,
        },
        deny_spills: args.deny_spills,
    }
}

fn run(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Help => println!("{USAGE}"),
        Cmd::BuildPtx(args) => {
            ptx::build_ptx(&Workspace::load()?, &build_options(&args))?;
        }
        Cmd::Ptx(args) => {
            let artifacts = ptx::build_ptx(&Workspace::load()?, &build_options(&args))?;
            for a in &artifacts {
                let summary = ptx::summarize_ptx(&a.text);
                println!("\n{}: {} bytes, {} lines", a.ptx.display(), summary.bytes, summary.lines);
                for (name, lines) in &summary.functions {
                    let kind = if a.entries.contains(name) { "entry" } else { "func" };
                    println!("  {kind:<5} {name}: {lines} lines");
                }
                if let Some(cubin) = &a.cubin {
                    let bytes =
                        std::fs::metadata(cubin).map_err(Error::io(format!("reading {}", cubin.display())))?.len();
                    println!("  {}: {bytes} bytes", cubin.display());
                }
            }
        }
        Cmd::Doctor => {
            if !doctor::doctor()? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Cmd::Test => check::run_checks()?,
        Cmd::BenchH100(opts) => xtask::bench::bench_h100(&Workspace::load()?, &opts)?,
        Cmd::GpuBundle { out, arch } => {
            bundle::gpu_bundle(&Workspace::load()?, &bundle::BundleOptions { out, arch })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
