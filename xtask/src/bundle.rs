//! `cargo xtask gpu-bundle`: one folder holding everything a GPU machine with
//! no Rust toolchain needs to run RingKernel's GPU tests and benchmarks.
//!
//! ```text
//! <out>/ptx/        PTX and cubins of the default kernel crates
//! <out>/tests/      every workspace test executable (release) but the xtask's and the loom models'
//! <out>/examples/   the examples of package `ringkernel`
//! <out>/bin/        the binaries of packages `ringkernel`, `ringkernel-benches` and `ringkernel-wavesim`
//! <out>/run-tests.sh, run-bench.sh, manifest.txt
//! ```
//!
//! Test executables that run a binary of their package find it through
//! `CARGO_BIN_EXE_<name>`, a path compiled in on the build machine. For the
//! bundle, `run-tests.sh` exports an override per bundled binary the tests
//! read first: `WAVESIM_BIN` (the `wavesim` CLI tests). The runtime finds the
//! worker process of recoverable CUDA actors through
//! `RINGKERNEL_CUDA_WORKER` (`bin/ringkernel-cuda-worker`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::json;
use crate::ptx::{self, BuildOptions, PtxasMode};
use crate::tools::{self, Workspace};

/// A bundle over this many bytes cannot be carried to the GPU machine.
pub const MAX_BUNDLE_BYTES: u64 = 64 * 1024 * 1024;

/// Packages whose binaries go to `<out>/bin/`: the CUDA worker process of
/// recoverable actors, the GPU benchmarks, and the `wavesim` binary that its
/// CLI tests run (through `WAVESIM_BIN`, set by [`RUN_TESTS_SH`]).
pub const BIN_PACKAGES: [&str; 3] = ["ringkernel", "ringkernel-benches", "ringkernel-wavesim"];

/// Options of [`gpu_bundle`].
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Output folder; `target/gpu-bundle` when `None`.
    pub out: Option<PathBuf>,
    /// GPU architecture of the PTX and cubins.
    pub arch: String,
}

/// Which compiler artifacts of a cargo JSON message stream to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// Test harness executables (`profile.test == true`).
    Test,
    /// Targets of this kind (`example`, `bin`).
    Target(&'static str),
}

/// Executables in cargo's `--message-format=json` output that match `kind`.
pub fn executables(messages: &str, kind: ArtifactKind) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for line in messages.lines().filter(|l| l.starts_with('{')) {
        let msg = json::parse(line).map_err(|source| Error::Json { what: "cargo's JSON messages".into(), source })?;
        if msg.get("reason").and_then(json::Value::as_str) != Some("compiler-artifact") {
            continue;
        }
        let Some(exe) = msg.get("executable").and_then(json::Value::as_str) else { continue };
        let is_test = msg.get("profile").and_then(|p| p.get("test")).and_then(json::Value::as_bool) == Some(true);
        let keep = match kind {
            ArtifactKind::Test => is_test,
            ArtifactKind::Target(want) => {
                !is_test
                    && msg
                        .get("target")
                        .and_then(|t| t.get("kind"))
                        .is_some_and(|k| k.elements().iter().any(|v| v.as_str() == Some(want)))
            }
        };
        if keep && !found.iter().any(|p: &PathBuf| p == Path::new(exe)) {
            found.push(PathBuf::from(exe));
        }
    }
    Ok(found)
}

/// Run a release cargo build that prints JSON messages; return the executables.
fn cargo_json(args: &[&str], kind: ArtifactKind) -> Result<Vec<PathBuf>> {
    let mut cmd = tools::cargo();
    cmd.args(args)
        .arg("--message-format=json-render-diagnostics")
        // Keep binaries small enough to carry: no debug info in them.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .stderr(Stdio::inherit());
    let name = format!("cargo {}", args.join(" "));
    let out = tools::run_captured(&name, &mut cmd)?;
    executables(&String::from_utf8_lossy(&out.stdout), kind)
}

fn copy_into(files: &[PathBuf], dir: &Path) -> Result<usize> {
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    for file in files {
        let name = file.file_name().ok_or_else(|| Error::Invalid(format!("{} has no file name", file.display())))?;
        let dest = dir.join(name);
        fs::copy(file, &dest).map_err(Error::io(format!("copying {} to {}", file.display(), dest.display())))?;
    }
    Ok(files.len())
}

fn write_script(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(Error::io(format!("writing {}", path.display())))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(Error::io(format!("making {} executable", path.display())))
}

fn dir_size(dir: &Path) -> Result<(u64, usize)> {
    let mut total = (0, 0);
    for entry in fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))? {
        let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
        let meta = entry.metadata().map_err(Error::io(format!("reading {}", entry.path().display())))?;
        if meta.is_dir() {
            let (bytes, files) = dir_size(&entry.path())?;
            total = (total.0 + bytes, total.1 + files);
        } else {
            total = (total.0 + meta.len(), total.1 + 1);
        }
    }
    Ok(total)
}

/// The script that runs every test executable on the GPU machine.
pub const RUN_TESTS_SH: &str = r#"#!/usr/bin/env bash
# Runs every RingKernel test executable in this bundle, the GPU tests included
# (they are #[ignore]d where there is no GPU, hence --include-ignored).
# Output goes to the terminal and to ${OUT:-.}/gpu-tests.log.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export RINGKERNEL_PTX_DIR="$here/ptx"
# Test executables that run a binary of their package look here first
# (the path cargo compiled into them is the build machine's).
export WAVESIM_BIN="$here/bin/wavesim"
export RINGKERNEL_CUDA_WORKER="$here/bin/ringkernel-cuda-worker"
out="${OUT:-.}"
mkdir -p "$out"
log="$out/gpu-tests.log"

run_all() {
  echo "== RingKernel GPU tests, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "== bundle $here"
  [ -f "$here/manifest.txt" ] && sed -n '1,3p' "$here/manifest.txt"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L 2>&1 || echo "(nvidia-smi -L failed)"
  else
    echo "(nvidia-smi not available)"
  fi
  passed=0
  failed=0
  failed_names=""
  for exe in "$here"/tests/*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    name="$(basename "$exe")"
    echo
    echo "== $name"
    # A stuck kernel must not stall the whole run: each executable gets
    # ${RK_TEST_TIMEOUT:-600} s (timeout exits 124 when it fires).
    if timeout "${RK_TEST_TIMEOUT:-600}" "$exe" --include-ignored --test-threads=1; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      failed_names="$failed_names $name"
    fi
  done
  echo
  echo "== finished $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  [ -z "$failed_names" ] || echo "failed:$failed_names"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

run_all 2>&1 | tee "$log"
"#;

/// The script that runs the GPU benchmark binary, if the bundle has one.
pub const RUN_BENCH_SH: &str = r#"#!/usr/bin/env bash
# Runs bin/rk-bench-gpu of this bundle with the given arguments, then
# WaveSim3D's persistent-vs-batch bench (bin/wavesim --bench), whose JSON,
# markdown and log go to the same folder (--out DIR, else $OUT, else .).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export RINGKERNEL_PTX_DIR="$here/ptx"
out="${OUT:-.}"
prev=""
for a in "$@"; do
  [ "$prev" = "--out" ] && out="$a"
  prev="$a"
done
if [ ! -x "$here/bin/rk-bench-gpu" ]; then
  echo "this bundle has no bin/rk-bench-gpu (package ringkernel-benches built no such binary)" >&2
  exit 1
fi
"$here/bin/rk-bench-gpu" "$@"
if [ -x "$here/bin/wavesim" ]; then
  mkdir -p "$out"
  "$here/bin/wavesim" --bench --output "$out/wavesim-unused.png" 2>&1 | tee "$out/wavesim-bench.log"
fi
"#;

/// Make the output folder empty, refusing to delete anything that is not a
/// previous bundle.
fn prepare_out(out: &Path) -> Result<()> {
    if out.exists() {
        let empty = fs::read_dir(out).map_err(Error::io(format!("listing {}", out.display())))?.next().is_none();
        if !empty && !out.join("run-tests.sh").is_file() {
            return Err(Error::Invalid(format!(
                "refusing to replace {}: it is not empty and not a GPU bundle (no run-tests.sh)",
                out.display()
            )));
        }
        fs::remove_dir_all(out).map_err(Error::io(format!("removing the old bundle {}", out.display())))?;
    }
    fs::create_dir_all(out).map_err(Error::io(format!("creating {}", out.display())))
}

fn git_describe() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(tools::repo_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev} (with uncommitted changes)") } else { rev }
        }
        None => "unknown (not a git checkout)".into(),
    }
}

/// Build the bundle; returns its folder.
pub fn gpu_bundle(ws: &Workspace, opts: &BundleOptions) -> Result<PathBuf> {
    let out = opts.out.clone().unwrap_or_else(|| ws.target_dir.join("gpu-bundle"));
    prepare_out(&out)?;
    let out = fs::canonicalize(&out).map_err(Error::io(format!("resolving {}", out.display())))?;

    println!("==> gpu-bundle: PTX");
    let ptx_opts = BuildOptions { arch: opts.arch.clone(), ptxas: PtxasMode::IfFound, ..BuildOptions::default() };
    let artifacts = ptx::build_ptx(ws, &ptx_opts)?;
    let mut ptx_files = Vec::new();
    for a in &artifacts {
        ptx_files.push(a.ptx.clone());
        ptx_files.extend(a.cubin.iter().cloned());
    }
    let n_ptx = copy_into(&ptx_files, &out.join("ptx"))?;

    println!("==> gpu-bundle: test executables (release)");
    // Not the xtask's own tests nor the loom models: they test nothing a
    // GPU changes (./x test runs them), and the bundle must stay under
    // 64 MiB.
    let tests =
        cargo_json(&["test", "--workspace", "--exclude", "xtask", "--release", "--no-run"], ArtifactKind::Test)?;
    let tests: Vec<PathBuf> = tests
        .into_iter()
        .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("loom_")))
        .collect();
    let n_tests = copy_into(&tests, &out.join("tests"))?;

    let mut n_examples = 0;
    match ws.package("ringkernel") {
        Ok(pkg) if !pkg.examples.is_empty() => {
            println!("==> gpu-bundle: examples of ringkernel");
            let examples =
                cargo_json(&["build", "--release", "-p", "ringkernel", "--examples"], ArtifactKind::Target("example"))?;
            n_examples = copy_into(&examples, &out.join("examples"))?;
        }
        _ => println!("==> gpu-bundle: package ringkernel has no examples yet"),
    }

    let mut n_bins = 0;
    for package in BIN_PACKAGES {
        match ws.package(package) {
            Ok(pkg) if !pkg.bins.is_empty() => {
                println!("==> gpu-bundle: binaries of {package}");
                let bins = cargo_json(&["build", "--release", "-p", package, "--bins"], ArtifactKind::Target("bin"))?;
                n_bins += copy_into(&bins, &out.join("bin"))?;
            }
            _ => println!("==> gpu-bundle: package {package} has no binaries yet"),
        }
    }

    write_script(&out.join("run-tests.sh"), RUN_TESTS_SH)?;
    write_script(&out.join("run-bench.sh"), RUN_BENCH_SH)?;
    let manifest = format!(
        "RingKernel GPU bundle\ncommit: {}\narch: {}\nptx: {n_ptx} files, tests: {n_tests}, examples: {n_examples}, bin: {n_bins}\n",
        git_describe(),
        opts.arch
    );
    let manifest_path = out.join("manifest.txt");
    fs::write(&manifest_path, manifest).map_err(Error::io(format!("writing {}", manifest_path.display())))?;

    let (bytes, files) = dir_size(&out)?;
    let mib = bytes as f64 / (1024.0 * 1024.0);
    println!(
        "bundle: {} ({mib:.1} MiB, {files} files: {n_ptx} ptx/cubin, {n_tests} tests, {n_examples} examples, {n_bins} bin)",
        out.display()
    );
    if bytes > MAX_BUNDLE_BYTES {
        return Err(Error::Invalid(format!(
            "the bundle is {mib:.1} MiB, over the {} MiB a GPU machine accepts",
            MAX_BUNDLE_BYTES / (1024 * 1024)
        )));
    }
    println!("on the GPU machine: ./run-tests.sh   (log in ${{OUT:-.}}/gpu-tests.log)");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from `cargo test --release --no-run --message-format=json`.
    const MESSAGES: &str = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/shared#ringkernel-shared@0.1.0","target":{"kind":["lib"],"name":"ringkernel_shared"},"profile":{"test":false},"executable":null,"fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///w/shared#ringkernel-shared@0.1.0","target":{"kind":["lib"],"name":"ringkernel_shared"},"profile":{"test":true},"executable":"/w/target/release/deps/ringkernel_shared-0a1b","fresh":false}
{"reason":"compiler-artifact","package_id":"path+file:///w/device#ringkernel-device@0.1.0","target":{"kind":["test"],"name":"loom_ring"},"profile":{"test":true},"executable":"/w/target/release/deps/loom_ring-2c3d","fresh":false}
{"reason":"compiler-artifact","package_id":"path+file:///w/host#ringkernel@0.1.0","target":{"kind":["example"],"name":"basic_hello_kernel"},"profile":{"test":false},"executable":"/w/target/release/examples/basic_hello_kernel","fresh":false}
{"reason":"compiler-artifact","package_id":"path+file:///w/benches#ringkernel-benches@0.1.0","target":{"kind":["bin"],"name":"rk-bench-gpu"},"profile":{"test":false},"executable":"/w/target/release/rk-bench-gpu","fresh":false}
{"reason":"build-finished","success":true}
"#;

    #[test]
    fn picks_test_executables_examples_and_bins() {
        let tests = executables(MESSAGES, ArtifactKind::Test).unwrap();
        assert_eq!(
            tests,
            [
                PathBuf::from("/w/target/release/deps/ringkernel_shared-0a1b"),
                "/w/target/release/deps/loom_ring-2c3d".into()
            ]
        );
        let examples = executables(MESSAGES, ArtifactKind::Target("example")).unwrap();
        assert_eq!(examples, [PathBuf::from("/w/target/release/examples/basic_hello_kernel")]);
        let bins = executables(MESSAGES, ArtifactKind::Target("bin")).unwrap();
        assert_eq!(bins, [PathBuf::from("/w/target/release/rk-bench-gpu")]);
        assert!(executables("{\"reason\":", ArtifactKind::Test).is_err());
    }

    #[test]
    fn refuses_to_replace_a_folder_that_is_not_a_bundle() {
        let dir = std::env::temp_dir().join(format!("xtask-bundle-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("precious.txt"), "keep me").unwrap();
        let err = prepare_out(&dir).unwrap_err().to_string();
        assert!(err.contains("refusing to replace"), "{err}");
        assert!(dir.join("precious.txt").is_file());
        fs::write(dir.join("run-tests.sh"), "").unwrap();
        prepare_out(&dir).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Run the real run-tests.sh over a fake bundle: one passing and one
    /// failing "test executable".
    #[test]
    fn run_tests_script_logs_counts_and_fails_on_failure() {
        let dir = std::env::temp_dir().join(format!("xtask-run-tests-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("tests")).unwrap();
        write_script(
            &dir.join("tests/good-1a"),
            "#!/bin/sh\necho \"good args: $* ptx=$RINGKERNEL_PTX_DIR wavesim=$WAVESIM_BIN\"\n",
        )
        .unwrap();
        write_script(&dir.join("tests/bad-2b"), "#!/bin/sh\necho bad\nexit 101\n").unwrap();
        write_script(&dir.join("run-tests.sh"), RUN_TESTS_SH).unwrap();
        let logs = dir.join("logs");
        let out = Command::new("bash").arg(dir.join("run-tests.sh")).env("OUT", &logs).output().unwrap();
        assert!(!out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.trim_end().ends_with("1 passed, 1 failed"), "{stdout}");
        assert!(stdout.contains("failed: bad-2b"), "{stdout}");
        assert!(stdout.contains("good args: --include-ignored --test-threads=1 ptx="), "{stdout}");
        let here = fs::canonicalize(&dir).unwrap();
        assert!(stdout.contains(&format!("ptx={}/ptx ", here.display())), "{stdout}");
        assert!(stdout.contains(&format!("wavesim={}/bin/wavesim\n", here.display())), "{stdout}");
        let log = fs::read_to_string(logs.join("gpu-tests.log")).unwrap();
        assert_eq!(log, stdout);

        fs::remove_file(dir.join("tests/bad-2b")).unwrap();
        let out = Command::new("bash").arg(dir.join("run-tests.sh")).env("OUT", &logs).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).trim_end().ends_with("1 passed, 0 failed"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
