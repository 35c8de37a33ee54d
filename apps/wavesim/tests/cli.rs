//! The `wavesim` binary end to end: a small run writes a PNG that decodes,
//! and bad flags fail with exit code 2 and a message naming the flag.

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
    assert!(stdout.contains("backend: auto -> cpu (WaveSim has no GPU backend yet"), "{stdout}");
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
        (&["--backend", "gpu"], "no GPU backend yet"),
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
    for flag in ["--size", "--steps", "--backend cpu|auto", "--output", "--engine", "--threads"] {
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
    let out = wavesim(&["--bench", "--steps", "5"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        // A GPU machine: one line per size.
        for size in ["64^3", "128^3", "256^3"] {
            assert!(stdout.lines().any(|l| l.trim_start().starts_with(size) && l.contains(" 5 ")), "{stdout}");
        }
        assert!(stdout.contains("Mcells/s") && stdout.contains("GB/s"), "{stdout}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with("wavesim: error: --bench: no CUDA GPU is usable here")
                || stderr.contains("kernels (ringkernel_wavesim.ptx) were not found"),
            "{stderr}"
        );
    }
}
