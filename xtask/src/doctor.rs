//! `cargo xtask doctor`: what this machine has for building, checking and
//! running RingKernel, and what to do about anything missing.
//!
//! Only a missing or wrong Rust toolchain piece makes it fail: without ptxas
//! the PTX is not checked, and without libcuda only GPU runs are impossible.

use std::process::Command;

use crate::cuda;
use crate::error::Result;
use crate::linker::LlvmTools;
use crate::tools::{self, LLVM_TOOLS, PTXAS_HINT, Ptxas, Toolchain};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Present and right.
    Ok,
    /// Missing, but only some things need it.
    Note,
    /// Missing or wrong: builds will fail.
    Fail,
}

fn line(level: Level, what: &str, text: impl AsRef<str>) {
    let tag = match level {
        Level::Ok => "ok  ",
        Level::Note => "note",
        Level::Fail => "FAIL",
    };
    let mut lines = text.as_ref().lines();
    println!("  [{tag}] {what:<11} {}", lines.next().unwrap_or(""));
    for rest in lines {
        println!("  {:<18} {rest}", "");
    }
}

/// Run every check and print the report. `Ok(true)` when the toolchain is
/// complete (ptxas and a GPU are optional).
pub fn doctor() -> Result<bool> {
    println!("RingKernel doctor");
    let mut healthy = true;
    let channel = tools::pinned_channel()?;
    let setup = format!("run `./x setup` (installs {channel} with rust-src, llvm-tools, rustfmt, clippy)");

    match Toolchain::detect() {
        Err(e) => {
            healthy = false;
            line(Level::Fail, "rustc", format!("cannot run rustc: {e}\n{setup}"));
        }
        Ok(tc) => {
            if tc.name().starts_with(&channel) {
                line(Level::Ok, "rustc", format!("{} (toolchain {}, pinned {channel})", tc.version, tc.name()));
            } else {
                healthy = false;
                line(
                    Level::Fail,
                    "rustc",
                    format!(
                        "{} from toolchain {}, but rust-toolchain.toml pins {channel}\n\
                         build-std and the nvptx features are tied to that nightly; {setup}",
                        tc.version,
                        tc.name()
                    ),
                );
            }

            let core = tc.sysroot.join("lib/rustlib/src/rust/library/core/Cargo.toml");
            if core.is_file() {
                line(Level::Ok, "rust-src", tc.sysroot.join("lib/rustlib/src/rust").display().to_string());
            } else {
                healthy = false;
                line(
                    Level::Fail,
                    "rust-src",
                    format!("missing: -Zbuild-std needs core's source to build it for nvptx64\n{setup}"),
                );
            }

            let bin = tc.llvm_bin();
            match LlvmTools::in_dir(&bin) {
                Ok(_) => {
                    let nvptx = tools::run_captured("llc --version", Command::new(bin.join("llc")).arg("--version"))
                        .map(|o| String::from_utf8_lossy(&o.stdout).contains("nvptx64"))
                        .unwrap_or(false);
                    if nvptx {
                        line(
                            Level::Ok,
                            "llvm-tools",
                            format!("{} in {} (llc has nvptx64)", LLVM_TOOLS.join(", "), bin.display()),
                        );
                    } else {
                        healthy = false;
                        line(Level::Fail, "llvm-tools", format!("llc in {} has no nvptx64 backend", bin.display()));
                    }
                }
                Err(e) => {
                    healthy = false;
                    line(Level::Fail, "llvm-tools", format!("{e}\nthe PTX link step (llvm-link, opt, llc) needs them"));
                }
            }

            for (what, file) in [("rustfmt", "rustfmt"), ("clippy", "cargo-clippy")] {
                let path = tc.sysroot.join("bin").join(file);
                if tools::is_executable(&path) {
                    line(Level::Ok, what, path.display().to_string());
                } else {
                    healthy = false;
                    line(Level::Fail, what, format!("missing: `cargo xtask test` runs it\n{setup}"));
                }
            }
        }
    }

    match Ptxas::find() {
        Ok(Some(ptxas)) => match ptxas.version() {
            Ok(version) => line(Level::Ok, "ptxas", format!("{} ({})\n{version}", ptxas.path.display(), ptxas.origin)),
            Err(e) => {
                line(Level::Note, "ptxas", format!("{} ({}) does not run: {e}", ptxas.path.display(), ptxas.origin))
            }
        },
        Ok(None) => line(
            Level::Note,
            "ptxas",
            format!(
                "not found: PTX is built but not assembled or checked for spills, and `cargo xtask test` fails\n{PTXAS_HINT}"
            ),
        ),
        Err(e) => line(Level::Note, "ptxas", e.to_string()),
    }

    match cuda::probe() {
        Ok(info) => {
            let mut text = format!("driver supports CUDA {} ({})", info.version_string(), info.version);
            if info.gpus.is_empty() {
                text.push_str("\nno GPU visible to the driver");
            }
            for gpu in &info.gpus {
                let (major, minor) = gpu.compute_capability;
                text.push_str(&format!(
                    "\nGPU {}: {} (compute capability {major}.{minor}, sm_{major}{minor})",
                    gpu.ordinal, gpu.name
                ));
            }
            line(if info.gpus.is_empty() { Level::Note } else { Level::Ok }, "libcuda", text);
        }
        Err(cuda::ProbeError::NoLibrary(msg)) => line(
            Level::Note,
            "libcuda",
            format!(
                "no libcuda ({msg})\nno NVIDIA driver here: building, CPU tests and ptxas checks work; \
                 GPU tests and benchmarks need a machine with the driver (`cargo xtask gpu-bundle` packs them)"
            ),
        ),
        Err(e) => line(Level::Note, "libcuda", format!("{e}\nthe driver is installed but cannot be used for GPU runs")),
    }

    if healthy {
        println!("toolchain: complete");
    } else {
        println!("toolchain: incomplete, see FAIL lines above");
    }
    Ok(healthy)
}
