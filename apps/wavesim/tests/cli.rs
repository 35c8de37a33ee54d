//! The `wavesim` binary end to end: a small run writes a PNG that decodes,
//! bad flags fail with exit code 2 and a message naming the flag, and the
//! backends: `--backend gpu` fails with exit code 1 and the reason where
//! there is no GPU, `auto` falls back to the CPU and says why. The test that
//! needs a GPU (`backend_gpu_runs_the_session_on_the_gpu`) is `#[ignore]`d;
//! the GPU bundle's run-tests.sh runs it (`--include-ignored`).

use std::path::PathBuf;
use std::process::{Command, Output};

/// The binary under test: `$WAVESIM_BIN` when set, else the one cargo built
/// with this test. The GPU bundle runs this test executable on another
/// machine, where the path cargo compiled in does not exist; its
/// `run-tests.sh` points `WAVESIM_BIN` at the bundle's copy.
fn wavesim_bin() -> PathBuf {
    std::env::var_os("WAVESIM_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wavesim")), PathBuf::from)
}

fn wavesim(args: &[&str]) -> Output {
    let bin = wavesim_bin();
    Command::new(&bin).args(args).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wavesim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn small_run_reports_and_writes_a_png() {
    let dir = scratch_dir("run");
    let png_path = dir.join("nested/mid.png");
    let out = wavesim(&["--size", "16", "--steps", "30", "--report", "10", "--output", png_path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("backend: auto -> "), "{stdout}");
    assert!(stdout.contains("bad command check: InjectImpulse on the wall -> Error(position out of range)"));
    assert!(stdout.contains("bad command check: RunSteps(0) -> Error(zero steps)"));
    assert_eq!(stdout.lines().filter(|l| l.starts_with('[') && l.contains("energy")).count(), 3, "{stdout}");
    assert!(stdout.contains("step 30/30"));
    assert!(stdout.contains("terminate -> Terminated at step 30"));
    assert!(stdout.contains("Mcells/s"));

    let bytes = std::fs::read(&png_path).expect("the PNG was written");
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes[..]));
    let reader = decoder.read_info().expect("a PNG");
    // 16 cells a side at the default scale (at least 512 pixels).
    assert_eq!((reader.info().width, reader.info().height), (512, 512));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn default_run_writes_target_wavesim_midplane_png_under_the_working_directory() {
    // The default run: 64³, 240 steps, 3 impulses (about 2 s in a debug build
    // on a 2-core machine; the issue asks for well under a minute).
    let dir = scratch_dir("default");
    std::fs::create_dir_all(&dir).unwrap();
    let start = std::time::Instant::now();
    let out = Command::new(wavesim_bin()).current_dir(&dir).output().expect("wavesim runs");
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("grid 64x64x64 = 262144 cells, 240 steps"), "{stdout}");
    assert_eq!(stdout.matches("inject impulse").count(), 3, "{stdout}");
    assert!(took.as_secs() < 60, "took {took:?}");
    let png = std::fs::read(dir.join("target/wavesim/midplane.png")).expect("PNG at the default path");
    assert_eq!(&png[1..4], b"PNG");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn backend_cpu_says_cpu() {
    let dir = scratch_dir("cpu");
    let png_path = dir.join("m.png");
    let out = wavesim(
        &["--backend=cpu", "--engine", "naive", "--size=8x9x10", "--steps=3", "--impulses=0"]
            .into_iter()
            .chain(["--output", png_path.to_str().unwrap()])
            .collect::<Vec<_>>(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.lines().next() == Some("backend: cpu"), "{stdout}");
    assert!(stdout.contains("engine naive on 1 thread(s)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_fail_with_exit_code_2() {
    for (args, needle) in [
        (&["--sizes", "64"][..], "unknown option `--sizes`"),
        (&["--steps"], "option `--steps` needs a value"),
        (&["--steps", "0"], "invalid value `0` for `--steps`"),
        (&["--size", "2"], "invalid `--size`: grid axis x has 2 cells"),
        (&["--backend", "tpu"], "invalid value `tpu` for `--backend`: expected `cpu`, `gpu`, `persistent` or `auto`"),
        (&["--damping", "1.5"], "invalid value `1.5` for `--damping`"),
        (&["run"], "unexpected argument `run`"),
    ] {
        let out = wavesim(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.contains("wavesim --help"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_lists_the_options() {
    let out = wavesim(&["--help"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    for flag in ["--size", "--steps", "--backend B", "--output", "--engine", "--threads", "--bench"] {
        assert!(stdout.contains(flag), "{flag}");
    }
}

#[test]
fn unwritable_output_is_a_clear_error() {
    // A path below a regular file cannot be created.
    let dir = scratch_dir("unwritable");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();
    let target = file.join("mid.png");
    let out = wavesim(&["--size", "8", "--steps", "2", "--output", target.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("wavesim: error: cannot create"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bench_runs_on_a_gpu_or_says_why_not() {
    let dir = scratch_dir("bench");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("unused.png");
    let out = wavesim(&["--bench", "--steps", "5", "--output", png.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        // A GPU machine: one row per size, both engines.
        for size in ["64³", "128³", "256³"] {
            assert!(stdout.lines().any(|l| l.starts_with(&format!("| {size} | 5 |"))), "{stdout}");
        }
        assert!(stdout.contains("G cells/s") && stdout.contains("% of bw"), "{stdout}");
        assert!(stdout.contains("memory bandwidth: ") && stdout.contains("### Mixed frame"), "{stdout}");
        assert!(stdout.contains("CPU baseline: 64^3, 5 steps"), "{stdout}");
        let json = std::fs::read_to_string(dir.join("wavesim-bench.json")).expect("the JSON results");
        assert!(json.contains("\"mixed_frame_64\"") && json.contains("\"inject_latency_64\""), "{json}");
        assert!(dir.join("wavesim-bench.md").is_file());
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("wavesim: error: --bench: no CUDA GPU is usable here")
                || stderr.contains("kernels (ringkernel_wavesim.ptx) were not found"),
            "{stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Why the GPU engine cannot start here, as `GpuError` words it: no driver
/// or device, or no PTX.
fn is_gpu_reason(text: &str) -> bool {
    text.contains("no CUDA GPU is usable here")
        || text.contains("kernels (ringkernel_wavesim.ptx) were not found")
        || text.contains("the CUDA backend is unavailable")
}

#[test]
fn backend_gpu_runs_on_a_gpu_or_fails_clearly() {
    let dir = scratch_dir("gpu-or-not");
    let png_path = dir.join("g.png");
    let out = wavesim(&["--backend", "gpu", "--size", "8", "--steps", "4", "--output", png_path.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stderr.contains("panicked"), "{stderr}");
    if out.status.success() {
        assert!(stdout.starts_with("backend: gpu (batch engine on "), "{stdout}");
        assert!(png_path.is_file());
    } else {
        // No GPU here: exit code 1, one line naming the flag and the reason,
        // and no run started (nothing on stdout, no picture).
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.starts_with("wavesim: error: --backend gpu: "), "{stderr}");
        assert!(is_gpu_reason(&stderr), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(!png_path.exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn backend_auto_uses_the_gpu_or_says_why_it_falls_back() {
    let dir = scratch_dir("auto");
    let png_path = dir.join("a.png");
    let out = wavesim(&["--backend=auto", "--size", "8", "--steps", "4", "--output", png_path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let first = stdout.lines().next().unwrap_or_default();
    if first.starts_with("backend: auto -> persistent (") {
        assert!(stdout.contains("engine persistent GPU actor"), "{stdout}");
    } else {
        // The CPU fallback: the reason on the same line, then a CPU run.
        assert!(first.starts_with("backend: auto -> cpu (") && first.ends_with(')'), "{first}");
        assert!(is_gpu_reason(first), "{first}");
        assert!(stdout.contains("engine rayon on "), "{stdout}");
    }
    assert!(stdout.contains("terminate -> Terminated at step 4"), "{stdout}");
    assert!(png_path.is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The energies of a run's progress lines, in order.
fn energies(stdout: &str) -> Vec<f64> {
    stdout
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| l.rsplit("energy ").next().unwrap().trim().parse().unwrap())
        .collect()
}

/// The GPU tests' session: 16³, 40 steps, four impulses, on `backend`,
/// picture at `png`; the run's stdout (a failed run fails the test).
fn gpu_session(backend: &str, png: &std::path::Path) -> String {
    let args = ["--size", "16", "--steps", "40", "--report", "10", "--impulses", "4"];
    let out = wavesim(&[&args[..], &["--backend", backend, "--output", png.to_str().unwrap()]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{backend}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
#[ignore = "needs a CUDA GPU: run on a GPU machine via `cargo xtask gpu-bundle` + run-tests.sh (--include-ignored)"]
fn backend_gpu_runs_the_session_on_the_gpu() {
    let dir = scratch_dir("gpu");
    let (gpu_png, cpu_png) = (dir.join("gpu.png"), dir.join("cpu.png"));
    let gpu = gpu_session("gpu", &gpu_png);
    assert!(gpu.starts_with("backend: gpu (batch engine on "), "{gpu}");
    assert!(gpu.contains("engine batch GPU (one wavesim_step launch per step)"), "{gpu}");
    assert!(gpu.contains("bad command check: RunSteps(0) -> Error(zero steps)"), "{gpu}");
    assert_eq!(gpu.matches("inject impulse").count(), 4, "{gpu}");
    assert!(gpu.contains("checkpoint -> CheckpointOk at step 20"), "{gpu}");
    assert!(gpu.contains("terminate -> Terminated at step 40"), "{gpu}");

    // The same commands on the CPU: the same reports, energies within the
    // crate's GPU tolerance (the fields are expected bit-equal).
    let cpu = gpu_session("cpu", &cpu_png);
    let (eg, ec) = (energies(&gpu), energies(&cpu));
    assert_eq!(eg.len(), 4, "{gpu}");
    assert_eq!(eg.len(), ec.len());
    for (g, c) in eg.iter().zip(&ec) {
        assert!((g - c).abs() <= 1e-4 * c.abs(), "gpu {g} vs cpu {c}");
    }

    let bytes = std::fs::read(&gpu_png).expect("the GPU run wrote its PNG");
    let reader = png::Decoder::new(std::io::Cursor::new(&bytes[..])).read_info().expect("a PNG");
    assert_eq!((reader.info().width, reader.info().height), (512, 512));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs a CUDA GPU: run on a GPU machine via `cargo xtask gpu-bundle` + run-tests.sh (--include-ignored)"]
fn backend_persistent_runs_the_session_in_one_launch() {
    let dir = scratch_dir("persistent");
    let (gpu_png, cpu_png) = (dir.join("p.png"), dir.join("c.png"));
    let p = gpu_session("persistent", &gpu_png);
    assert!(p.starts_with("backend: persistent (one actor launch, "), "{p}");
    assert!(p.contains("bad command check: RunSteps(0) -> Error(zero steps)"), "{p}");
    assert!(p.contains("terminate -> Terminated at step 40"), "{p}");
    // Bit-equal fields: the printed energies (7 significant digits) match
    // the CPU run's.
    let cpu = gpu_session("cpu", &cpu_png);
    let (ep, ec) = (energies(&p), energies(&cpu));
    assert_eq!(ep.len(), 4, "{p}");
    assert_eq!(ep.len(), ec.len());
    for (g, c) in ep.iter().zip(&ec) {
        assert!((g - c).abs() <= 1e-6 * c.abs(), "persistent {g} vs cpu {c}");
    }
    assert!(gpu_png.is_file());
    let _ = std::fs::remove_dir_all(&dir);
}
