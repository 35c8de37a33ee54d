//! `cargo xtask bench-h100`: the GPU benchmark, from build to committed
//! results.
//!
//! The GPU machines have no Rust toolchain, so the benchmark travels in the
//! GPU bundle (`bin/rk-bench-gpu`, `run-bench.sh`):
//!
//! * `cargo xtask bench-h100 [-- ARGS]` builds the bundle; when this machine
//!   has a GPU it runs the benchmark (`rk-bench-gpu`, then WaveSim3D's
//!   `wavesim --bench`) at once and collects the results,
//!   otherwise it says how to run the bundle on a GPU machine;
//! * `cargo xtask bench-h100 --collect DIR` takes what a run wrote to DIR
//!   (`gpu-bench.json`, `gpu-bench.md`, and if present `gpu-tests.log` from
//!   `run-tests.sh`, `hello-gpu.log` from the hello example and
//!   `wavesim-bench.log` from `bin/wavesim --bench`), checks that the JSON
//!   holds every section,
//!   and copies the files to `benchmarks/results/`, which the README quotes.

use crate::bundle::{BundleOptions, gpu_bundle};
use crate::error::{Error, Result};
use crate::json;
use crate::tools::{Workspace, repo_root, run_streamed};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The sections every benchmark result must hold (see benches/gpu/main.rs).
pub const SECTIONS: [&str; 9] = [
    "launch_overhead",
    "host_enqueue",
    "round_trip",
    "pipelined",
    "public_api",
    "sustained",
    "k2k_pingpong",
    "system_lifecycle",
    "k2k_aggregate",
];

/// Options of `bench-h100`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchOptions {
    /// `--collect DIR`: only collect the results of a finished run.
    pub collect: Option<PathBuf>,
    /// `--arch`.
    pub arch: String,
    /// Arguments after `--`, passed to `rk-bench-gpu`.
    pub args: Vec<String>,
}

/// Check a `gpu-bench.json` text: it parses and names a device and every
/// section. Returns the device name.
pub fn check_results(text: &str) -> Result<String> {
    let v = json::parse(text).map_err(|e| Error::Usage(format!("gpu-bench.json is not valid JSON: {e}")))?;
    let device = v
        .get("device")
        .and_then(|d| d.as_str())
        .ok_or_else(|| Error::Usage("gpu-bench.json names no device".into()))?
        .to_owned();
    let sections = v.get("sections").ok_or_else(|| Error::Usage("gpu-bench.json has no sections".into()))?;
    let missing: Vec<&str> = SECTIONS.iter().copied().filter(|s| sections.get(s).is_none()).collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!("gpu-bench.json lacks section(s): {}", missing.join(", "))));
    }
    Ok(device)
}

/// Copy a finished run's files from `dir` into `results`.
pub fn collect(dir: &Path, results: &Path) -> Result<Vec<PathBuf>> {
    let json_path = dir.join("gpu-bench.json");
    let text = fs::read_to_string(&json_path).map_err(Error::io(format!("reading {}", json_path.display())))?;
    let device = check_results(&text)?;
    fs::create_dir_all(results).map_err(Error::io(format!("creating {}", results.display())))?;
    let mut copied = Vec::new();
    for name in [
        "gpu-bench.json",
        "gpu-bench.md",
        "gpu-tests.log",
        "hello-gpu.log",
        "wavesim-bench.log",
        "wavesim-bench.json",
        "wavesim-bench.md",
    ] {
        let from = dir.join(name);
        if !from.exists() {
            if name == "gpu-bench.md" {
                return Err(Error::Usage(format!("{} is missing", from.display())));
            }
            continue;
        }
        let to = results.join(name);
        fs::copy(&from, &to).map_err(Error::io(format!("copying {} to {}", from.display(), to.display())))?;
        // Copies keep the source's mode; results fetched from a GPU machine
        // may be read-only.
        let mut perms = fs::metadata(&to).map_err(Error::io(format!("reading {}", to.display())))?.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&to, perms).map_err(Error::io(format!("making {} writable", to.display())))?;
        copied.push(to);
    }
    println!("collected results of {device}:");
    for c in &copied {
        println!("  {}", c.display());
    }
    Ok(copied)
}

/// Run `bench-h100`.
pub fn bench_h100(ws: &Workspace, opts: &BenchOptions) -> Result<()> {
    let results = repo_root().join("benchmarks").join("results");
    if let Some(dir) = &opts.collect {
        collect(dir, &results)?;
        return Ok(());
    }
    let bundle = gpu_bundle(ws, &BundleOptions { out: None, arch: opts.arch.clone() })?;
    let gpus = crate::cuda::probe().map(|d| d.gpus.len()).unwrap_or(0);
    if gpus == 0 {
        println!(
            "\nno GPU on this machine: the benchmark is in {b}.\n\
             On a GPU machine (no Rust needed), run:\n  \
             {b}/run-tests.sh            # GPU tests, log in $OUT/gpu-tests.log\n  \
             OUT=<dir> {b}/run-bench.sh --out <dir>\n\
             then bring <dir> back and run `cargo xtask bench-h100 --collect <dir>`.",
            b = bundle.display()
        );
        return Ok(());
    }
    let out = ws.target_dir.join("bench-h100");
    fs::create_dir_all(&out).map_err(Error::io(format!("creating {}", out.display())))?;
    let mut cmd = Command::new(bundle.join("run-bench.sh"));
    cmd.arg("--out").arg(&out).args(&opts.args);
    run_streamed("run-bench.sh", &mut cmd)?;
    collect(&out, &results)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_json(sections: &[&str]) -> String {
        let body: Vec<String> = sections.iter().map(|s| format!("\"{s}\":{{}}")).collect();
        format!("{{\"device\":\"NVIDIA H100\",\"sections\":{{{}}}}}", body.join(","))
    }

    #[test]
    fn results_must_hold_every_section() {
        assert_eq!(check_results(&result_json(&SECTIONS)).unwrap(), "NVIDIA H100");
        let err = check_results(&result_json(&SECTIONS[..4])).unwrap_err().to_string();
        assert!(err.contains("public_api") && err.contains("k2k_aggregate"), "{err}");
        assert!(check_results("{").is_err());
        assert!(check_results("{\"sections\":{}}").unwrap_err().to_string().contains("no device"));
    }

    #[test]
    fn collect_copies_and_refuses_incomplete_runs() {
        let dir = std::env::temp_dir().join(format!("rk-collect-{}", std::process::id()));
        let (run, res) = (dir.join("run"), dir.join("results"));
        fs::create_dir_all(&run).unwrap();
        fs::write(run.join("gpu-bench.json"), result_json(&SECTIONS[..5])).unwrap();
        fs::write(run.join("gpu-bench.md"), "# table").unwrap();
        assert!(collect(&run, &res).is_err(), "a run without the sustained section is refused");
        assert!(!res.join("gpu-bench.md").exists());
        fs::write(run.join("gpu-bench.json"), result_json(&SECTIONS)).unwrap();
        let copied = collect(&run, &res).unwrap();
        assert_eq!(copied.len(), 2);
        assert_eq!(fs::read_to_string(res.join("gpu-bench.md")).unwrap(), "# table");
        fs::remove_dir_all(&dir).unwrap();
    }
}
