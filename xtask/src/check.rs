//! `cargo xtask test`: every check CI runs, in order, stopping at the first
//! failure: formatting, clippy, the workspace tests, then the PTX build with
//! ptxas validation and `--deny-spills`.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ptx::{self, BuildOptions, PtxasMode};
use crate::tools::{self, Workspace};

/// One step of the run.
struct Step {
    name: &'static str,
    run: fn() -> Result<()>,
}

fn cargo_step(args: &[&str], name: &str) -> Result<()> {
    tools::run_streamed(name, tools::cargo().args(args))
}

const STEPS: [Step; 4] = [
    Step {
        name: "cargo fmt --all --check",
        run: || cargo_step(&["fmt", "--all", "--check"], "cargo fmt --all --check"),
    },
    Step {
        name: "cargo clippy --workspace --all-targets -- -D warnings",
        run: || {
            cargo_step(
                &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
                "cargo clippy --workspace --all-targets -- -D warnings",
            )
        },
    },
    Step { name: "cargo test --workspace", run: || cargo_step(&["test", "--workspace"], "cargo test --workspace") },
    Step {
        name: "build-ptx (default crates, ptxas, --deny-spills)",
        run: || {
            let ws = Workspace::load()?;
            let opts = BuildOptions { ptxas: PtxasMode::Require, deny_spills: true, ..BuildOptions::default() };
            ptx::build_ptx(&ws, &opts).map(drop)
        },
    },
];

/// Run all steps; print which one failed, or a summary of them all.
pub fn run_checks() -> Result<()> {
    let total = STEPS.len();
    let mut done: Vec<(&str, Duration)> = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        println!("\n==> [{}/{total}] {}", i + 1, step.name);
        let start = Instant::now();
        if let Err(e) = (step.run)() {
            eprintln!("\nxtask test: step {}/{total} `{}` FAILED after {:.1?}", i + 1, step.name, start.elapsed());
            return Err(e);
        }
        done.push((step.name, start.elapsed()));
    }
    println!("\nxtask test: all {total} steps passed");
    for (name, took) in &done {
        println!("  ok  {:>7.1?}  {name}", took);
    }
    Ok(())
}
