//! `cargo xtask test`: every check CI runs, in order, stopping at the first
//! failure: formatting, clippy, the workspace tests, the loom model of the
//! ring protocol, the shared crate under Miri, the checkpoint decoder under
//! Miri (Tree Borrows), then the PTX build with ptxas validation and
//! `--deny-spills`. The loom and Miri steps build into their
//! own target folders (`target/loom`, `target/miri`) so that their flags do
//! not invalidate the main build.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ptx::{self, BuildOptions, PtxasMode};
use crate::tools::{self, Workspace};

/// One step of the run.
enum Step {
    /// `cargo ARGS...`, output to the terminal.
    Cargo(&'static [&'static str]),
    /// `cargo ARGS...` with extra environment and its own target folder.
    CargoEnv {
        /// What the step is, for the summary.
        label: &'static str,
        /// Arguments after `cargo`.
        args: &'static [&'static str],
        /// Folder under `target/`.
        target: &'static str,
        /// Extra environment.
        env: &'static [(&'static str, &'static str)],
    },
    /// `build-ptx` of the default crates, ptxas required, spills denied.
    BuildPtx,
}

const STEPS: [Step; 7] = [
    Step::Cargo(&["fmt", "--all", "--check"]),
    Step::Cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    Step::Cargo(&["test", "--workspace"]),
    Step::CargoEnv {
        label: "loom models of the ring protocols (SPSC ring, K2K MPSC inbox)",
        args: &["test", "-p", "ringkernel-device", "--test", "loom_ring", "--test", "loom_mpsc", "--release"],
        target: "loom",
        env: &[("RUSTFLAGS", "--cfg loom")],
    },
    Step::CargoEnv {
        label: "ringkernel-shared under Miri (8 proptest cases)",
        args: &["miri", "test", "-p", "ringkernel-shared"],
        target: "miri",
        env: &[
            ("PROPTEST_CASES", "8"),
            ("PROPTEST_DISABLE_FAILURE_PERSISTENCE", "1"),
            ("MIRIFLAGS", "-Zmiri-env-forward=PROPTEST_CASES -Zmiri-env-forward=PROPTEST_DISABLE_FAILURE_PERSISTENCE"),
        ],
    },
    // rkyv's relative pointers are checked under Tree Borrows, which rkyv
    // supports; Stacked Borrows rejects them by design (docs/RELIABILITY.md).
    Step::CargoEnv {
        label: "checkpoint decoding under Miri (Tree Borrows)",
        args: &["miri", "test", "-p", "ringkernel", "--lib", "checkpoint::tests"],
        target: "miri",
        env: &[("MIRIFLAGS", "-Zmiri-tree-borrows")],
    },
    Step::BuildPtx,
];

impl Step {
    fn name(&self) -> String {
        match self {
            Step::Cargo(args) => format!("cargo {}", args.join(" ")),
            Step::CargoEnv { label, args, .. } => format!("{label}: cargo {}", args.join(" ")),
            Step::BuildPtx => "build-ptx (default crates, ptxas, --deny-spills)".into(),
        }
    }

    fn run(&self) -> Result<()> {
        match self {
            Step::Cargo(args) => tools::run_streamed(&self.name(), tools::cargo().args(*args)),
            Step::CargoEnv { args, target, env, .. } => {
                let dir = Workspace::load()?.target_dir.join(target);
                let mut cmd = tools::cargo();
                cmd.args(*args).env("CARGO_TARGET_DIR", dir).envs(env.iter().copied());
                tools::run_streamed(&self.name(), &mut cmd)
            }
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
