//! `rk-trap-probe`: how long the CUDA driver takes to report a kernel trap.
//!
//! It launches `ringkernel_trap` (one block of 32 threads that execute
//! `trap` at once) and times `cuLaunchKernel` + `cuStreamSynchronize` until
//! the synchronisation returns the error. That is the earliest a host can
//! learn of a trap it was not told about by the kernel itself, so it is the
//! baseline under RingKernel's own detection (`host/tests/recovery.rs`
//! prints that). The trap poisons this process's CUDA context: one
//! measurement per process (the GPU bundle's scripts run it several times).
//!
//! ```text
//! rk-trap-probe [--ptx-dir DIR]    # default: RINGKERNEL_PTX_DIR, then target/ptx
//! ```
//! Prints one line: `trap reported after <ms> ms: <CUDA error>` (exit 0), or
//! why it could not measure (exit 1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use ringkernel::cuda::driver::{Context, Module, Stream};

fn main() -> ExitCode {
    match probe() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rk-trap-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn probe() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut dir = std::env::var_os("RINGKERNEL_PTX_DIR").map_or_else(|| PathBuf::from("target/ptx"), PathBuf::from);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ptx-dir" => dir = args.next().ok_or("--ptx-dir needs a directory")?.into(),
            other => return Err(format!("unknown argument `{other}`; usage: rk-trap-probe [--ptx-dir DIR]")),
        }
    }
    let ctx = Context::new(0).map_err(|e| format!("no CUDA context: {e}"))?;
    let cubin = dir.join("ringkernel_device.cubin");
    let ptx = dir.join("ringkernel_device.ptx");
    let image = std::fs::read(&cubin)
        .or_else(|_| std::fs::read(&ptx))
        .map_err(|e| format!("cannot read {} or {}: {e}", cubin.display(), ptx.display()))?;
    let module = Module::load(&ctx, &image).map_err(|e| format!("cannot load the device module: {e}"))?;
    let f = module.function("ringkernel_trap").map_err(|e| format!("no ringkernel_trap entry: {e}"))?;
    let stream = Stream::new(&ctx).map_err(|e| format!("no stream: {e}"))?;
    let start = Instant::now();
    // SAFETY: the entry takes no parameters.
    unsafe { f.launch(&stream, 1, 32, &[], false) }.map_err(|e| format!("launch failed: {e}"))?;
    let result = stream.synchronize();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    match result {
        Err(e) => Ok(format!("trap reported after {ms:.2} ms: {} ({})", e.name, e.code)),
        Ok(()) => Err(format!("the trap kernel finished without an error after {ms:.2} ms")),
    }
}
