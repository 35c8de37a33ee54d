//! `cargo xtask test`: every check CI runs, in order, stopping at the first
//! failure: formatting, clippy, the workspace tests, then the PTX build with
//! ptxas validation and `--deny-spills`.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ptx::{self, BuildOptions, PtxasMode};
use crate::tools::{self, Workspace};

/// One step of the run.
enum Step {
    /// `cargo ARGS...`, output to the terminal.
    Cargo(&'static [&'static str]),
    /// `build-ptx` of the default crates, ptxas required, spills denied.
    BuildPtx,
}

const STEPS: [Step; 4] = [
    Step::Cargo(&["fmt", "--all", "--check"]),
    Step::Cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    Step::Cargo(&["test", "--workspace"]),
    Step::BuildPtx,
];

impl Step {
    fn name(&self) -> String {
        match self {
            Step::Cargo(args) => format!("cargo {}", args.join(" ")),
            Step::BuildPtx => "build-ptx (default crates, ptxas, --deny-spills)".into(),
        }
    }

    fn run(&self) -> Result<()> {
        match self {
            Step::Cargo(args) => tools::run_streamed(&self.name(), tools::cargo().args(*args)),
            Step::BuildPtx => {
                let opts = BuildOptions { ptxas: PtxasMode::Require, deny_spills: true, ..BuildOptions::default() };
                ptx::build_ptx(&Workspace::load()?, &opts).map(drop)
            }
        }
    }
}

/// Run all steps; print which one failed, or a summary of them all.
pub fn run_checks() -> Result<()> {
    let total = STEPS.len();
    let mut done: Vec<(String, Duration)> = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let name = step.name();
        println!("\n==> [{}/{total}] {name}", i + 1);
        let start = Instant::now();
        if let Err(e) = step.run() {
            eprintln!("\nxtask test: step {}/{total} `{name}` FAILED after {:.1?}", i + 1, start.elapsed());
            return Err(e);
        }
        done.push((name, start.elapsed()));
    }
    println!("\nxtask test: all {total} steps passed");
    for (name, took) in &done {
        println!("  ok  {:>7.1?}  {name}", took);
    }
    Ok(())
}
