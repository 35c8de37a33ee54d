//! The xtask as the `nvptx64-nvidia-cuda` linker.
//!
//! rustc's own linker for this target (`llvm-bitcode-linker`) is a rustup
//! component the channel mirror does not serve, so `build-ptx` points
//! `CARGO_TARGET_NVPTX64_NVIDIA_CUDA_LINKER` at the xtask binary and sets
//! `RINGKERNEL_XTASK_AS_LINKER=1`; `main` then lands here. Everything rustc
//! hands over is LLVM bitcode (fat LTO already merged the crate, its
//! dependencies and `core` into one object; rlib members are bitcode too), so
//! linking is done with the `llvm-tools` component:
//!
//! | step | tool | what |
//! | --- | --- | --- |
//! | 1 | `llvm-ar x` | unpack each rlib; keep its bitcode members |
//! | 2 | `llvm-link` | objects in full, then archive members `--only-needed` |
//! | 3 | `opt` | `internalize,globaldce`: keep only the exported kernel entries |
//! | 4 | `opt -O3` | optimise the whole module |
//! | 5 | `llc -mcpu=sm_XX` | write PTX to rustc's `-o` path |

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::tools::{self, LLVM_TOOLS, Toolchain};

/// Set to `1` to make the xtask binary act as the linker.
pub const AS_LINKER_ENV: &str = "RINGKERNEL_XTASK_AS_LINKER";
/// Folder of the LLVM tools; `build-ptx` sets it so the linker does not have
/// to ask rustc again.
pub const LLVM_BIN_ENV: &str = "RINGKERNEL_LLVM_BIN";

/// The only target this linker links for.
pub const NVPTX_TARGET: &str = "nvptx64-nvidia-cuda";

/// What rustc asked the linker to do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkerArgs {
    /// Objects and archives, in command-line order.
    pub inputs: Vec<PathBuf>,
    /// Symbols that stay visible (the kernel entries).
    pub export_symbols: Vec<String>,
    /// `-L` folders, searched for relative inputs.
    pub lib_dirs: Vec<PathBuf>,
    /// `--target`.
    pub target: Option<String>,
    /// `--target-cpu` (e.g. `sm_90`).
    pub target_cpu: Option<String>,
    /// `-o`: where the PTX goes.
    pub output: Option<PathBuf>,
    /// `-O<level>`: `0`..`3`, `s` or `z`.
    pub opt_level: Option<String>,
    /// `--debug` was given.
    pub debug: bool,
}

/// Expand `@file` response files the way rustc writes them: one argument per
/// line, with `\` escaping `\` and space.
pub fn expand_response_files(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for arg in args {
        let arg = arg.into_string().map_err(|a| Error::Invalid(format!("linker argument is not UTF-8: {a:?}")))?;
        if let Some(file) = arg.strip_prefix('@') {
            let text = fs::read_to_string(file).map_err(Error::io(format!("reading linker response file {file}")))?;
            out.extend(text.lines().filter(|l| !l.is_empty()).map(unescape_response_line));
        } else {
            out.push(arg);
        }
    }
    Ok(out)
}

fn unescape_response_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parse the linker command line rustc passes (after response-file expansion).
pub fn parse_linker_args(args: &[String]) -> Result<LinkerArgs> {
    let mut parsed = LinkerArgs::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value_of = |flag: &str| -> Result<String> {
            if let Some(v) = arg.strip_prefix(flag).and_then(|rest| rest.strip_prefix('=')) {
                return Ok(v.to_string());
            }
            it.next().cloned().ok_or_else(|| Error::Invalid(format!("linker flag {flag} needs a value")))
        };
        let flag_is = |flag: &str| arg == flag || arg.starts_with(&format!("{flag}="));
        if flag_is("--export-symbol") {
            parsed.export_symbols.push(value_of("--export-symbol")?);
        } else if flag_is("--target-cpu") {
            parsed.target_cpu = Some(value_of("--target-cpu")?);
        } else if flag_is("--target") {
            parsed.target = Some(value_of("--target")?);
        } else if arg == "-o" {
            parsed.output = Some(PathBuf::from(value_of("-o")?));
        } else if arg == "-L" {
            parsed.lib_dirs.push(PathBuf::from(value_of("-L")?));
        } else if let Some(dir) = arg.strip_prefix("-L") {
            parsed.lib_dirs.push(PathBuf::from(dir));
        } else if let Some(level) = arg.strip_prefix("-O") {
            if !matches!(level, "0" | "1" | "2" | "3" | "s" | "z") {
                return Err(Error::Invalid(format!("unknown optimisation level in linker argument `{arg}`")));
            }
            parsed.opt_level = Some(level.to_string());
        } else if arg == "--debug" {
            parsed.debug = true;
        } else if arg.starts_with("-l") {
            return Err(Error::Invalid(format!(
                "linker argument `{arg}`: native libraries cannot be linked into a PTX module"
            )));
        } else if arg.starts_with('-') {
            return Err(Error::Invalid(format!("unknown linker argument `{arg}` (args: {})", args.join(" "))));
        } else {
            parsed.inputs.push(PathBuf::from(arg));
        }
    }
    if parsed.output.is_none() {
        return Err(Error::Invalid("the linker was given no `-o OUTPUT`".into()));
    }
    if parsed.target_cpu.is_none() {
        return Err(Error::Invalid(
            "the linker was given no `--target-cpu`: build with `-C target-cpu=sm_XX` (cargo xtask build-ptx does)"
                .into(),
        ));
    }
    if let Some(target) = &parsed.target
        && target != NVPTX_TARGET
    {
        return Err(Error::Invalid(format!("this linker only links {NVPTX_TARGET}, not {target}")));
    }
    if parsed.inputs.is_empty() {
        return Err(Error::Invalid("the linker was given no input files".into()));
    }
    Ok(parsed)
}

/// Entry point when the binary runs as the linker: parse, link, report.
pub fn main_as_linker() -> Result<()> {
    let args = expand_response_files(env::args_os().skip(1))?;
    let parsed = parse_linker_args(&args)?;
    let bin = match env::var_os(LLVM_BIN_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => Toolchain::detect()?.llvm_bin(),
    };
    link(&parsed, &LlvmTools::in_dir(&bin)?)
}

/// Paths of the LLVM tools the linker runs.
#[derive(Debug, Clone)]
pub struct LlvmTools {
    ar: PathBuf,
    link: PathBuf,
    opt: PathBuf,
    llc: PathBuf,
}

impl LlvmTools {
    /// The tools in `dir`; an error naming the first one missing.
    pub fn in_dir(dir: &Path) -> Result<LlvmTools> {
        for name in LLVM_TOOLS {
            if !tools::is_executable(&dir.join(name)) {
                return Err(Error::Missing {
                    what: format!("{name} (in {})", dir.display()),
                    hint: "install the `llvm-tools` component: `./x setup`, or \
                           `rustup component add llvm-tools` for the pinned toolchain"
                        .into(),
                });
            }
        }
        Ok(LlvmTools {
            ar: dir.join("llvm-ar"),
            link: dir.join("llvm-link"),
            opt: dir.join("opt"),
            llc: dir.join("llc"),
        })
    }
}

/// Does this file start with LLVM bitcode (raw or wrapped)?
fn is_bitcode(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut file = fs::File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
    match file.read_exact(&mut magic) {
        Ok(()) => Ok(magic == *b"BC\xC0\xDE" || magic == [0xDE, 0xC0, 0x17, 0x0B]),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::Io { action: format!("reading {}", path.display()), source: e }),
    }
}

fn is_archive(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("rlib" | "a"))
}

/// Resolve an input the way a linker does: as given, else in the `-L` folders.
fn resolve_input(input: &Path, lib_dirs: &[PathBuf]) -> Result<PathBuf> {
    if input.exists() {
        return Ok(input.to_path_buf());
    }
    if input.is_relative()
        && let Some(found) = lib_dirs.iter().map(|d| d.join(input)).find(|p| p.exists())
    {
        return Ok(found);
    }
    Err(Error::Invalid(format!("linker input {} does not exist", input.display())))
}

/// Link `args` into PTX at `args.output`. On failure the intermediate files
/// stay in `<output>.xtask-link/` and the error names the failing tool.
pub fn link(args: &LinkerArgs, llvm: &LlvmTools) -> Result<()> {
    let output = args.output.as_deref().ok_or_else(|| Error::Invalid("no -o".into()))?;
    let cpu = args.target_cpu.as_deref().ok_or_else(|| Error::Invalid("no --target-cpu".into()))?;
    let mut work_name = output.file_name().unwrap_or_default().to_os_string();
    work_name.push(".xtask-link");
    let work = output.with_file_name(work_name);
    if work.exists() {
        fs::remove_dir_all(&work).map_err(Error::io(format!("removing {}", work.display())))?;
    }
    fs::create_dir_all(&work).map_err(Error::io(format!("creating {}", work.display())))?;

    let result = link_in(args, llvm, output, cpu, &work);
    match &result {
        Ok(()) => {
            // Best effort: a leftover folder is harmless and replaced next time.
            let _ = fs::remove_dir_all(&work);
        }
        Err(_) => eprintln!("xtask linker: intermediate files kept in {}", work.display()),
    }
    result
}

fn link_in(args: &LinkerArgs, llvm: &LlvmTools, output: &Path, cpu: &str, work: &Path) -> Result<()> {
    let mut objects = Vec::new();
    let mut members = Vec::new();
    for (index, input) in args.inputs.iter().enumerate() {
        let path = resolve_input(input, &args.lib_dirs)?;
        if is_archive(&path) {
            let dir = work.join(format!("ar{index}"));
            fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
            let abs = fs::canonicalize(&path).map_err(Error::io(format!("resolving {}", path.display())))?;
            tools::run_captured("llvm-ar", Command::new(&llvm.ar).arg("x").arg(&abs).current_dir(&dir))?;
            let mut found = Vec::new();
            for entry in fs::read_dir(&dir).map_err(Error::io(format!("listing {}", dir.display())))? {
                let member = entry.map_err(Error::io(format!("listing {}", dir.display())))?.path();
                let name = member.file_name().unwrap_or_default().to_string_lossy();
                if name.starts_with("lib.rmeta") {
                    continue;
                }
                if !is_bitcode(&member)? {
                    return Err(Error::Invalid(format!(
                        "archive member {name} of {} is not LLVM bitcode; only bitcode can be linked into PTX",
                        path.display()
                    )));
                }
                found.push(member);
            }
            found.sort();
            members.extend(found);
        } else {
            if !is_bitcode(&path)? {
                return Err(Error::Invalid(format!(
                    "linker input {} is not LLVM bitcode; only bitcode can be linked into PTX",
                    path.display()
                )));
            }
            objects.push(path);
        }
    }
    if objects.is_empty() {
        return Err(Error::Invalid("the linker was given archives but no object files".into()));
    }

    // Objects are linked in full (the first file llvm-link reads always is);
    // archive members are merged among themselves, then only what the objects
    // need is taken, following references inside the archives.
    let base = if objects.len() == 1 {
        objects[0].clone()
    } else {
        let merged = work.join("objects.bc");
        tools::run_captured("llvm-link", Command::new(&llvm.link).args(&objects).arg("-o").arg(&merged))?;
        merged
    };
    let linked = if members.is_empty() {
        base
    } else {
        let archives = work.join("archives.bc");
        tools::run_captured("llvm-link", Command::new(&llvm.link).args(&members).arg("-o").arg(&archives))?;
        let linked = work.join("linked.bc");
        tools::run_captured(
            "llvm-link",
            Command::new(&llvm.link).arg(&base).arg("--only-needed").arg(&archives).arg("-o").arg(&linked),
        )?;
        linked
    };

    let internal = work.join("internalized.bc");
    tools::run_captured(
        "opt (internalize)",
        Command::new(&llvm.opt)
            .arg("-passes=internalize,globaldce")
            .arg(format!("-internalize-public-api-list={}", args.export_symbols.join(",")))
            .arg(&linked)
            .arg("-o")
            .arg(&internal),
    )?;

    let level = args.opt_level.as_deref().unwrap_or("3");
    let optimized = work.join("optimized.bc");
    tools::run_captured(
        "opt",
        Command::new(&llvm.opt).arg(format!("-passes=default<O{level}>")).arg(&internal).arg("-o").arg(&optimized),
    )?;

    let llc_level = match level {
        "s" | "z" => "2",
        other => other,
    };
    tools::run_captured(
        "llc",
        Command::new(&llvm.llc)
            .arg(format!("-mtriple={}", args.target.as_deref().unwrap_or(NVPTX_TARGET)))
            .arg(format!("-mcpu={cpu}"))
            .arg(format!("-O{llc_level}"))
            .arg(&optimized)
            .arg("-o")
            .arg(output),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    /// The exact shape rustc uses (captured from a real build).
    #[test]
    fn parses_what_rustc_passes() {
        let args = strings(&[
            "--export-symbol",
            "ringkernel_echo",
            "--export-symbol=second_kernel",
            "/t/deps/ringkernel_device.ringkernel_device.529ee2499738bfb6-cgu.0.rcgu.o",
            "/t/deps/libcompiler_builtins-0c392f0ac01c0f2d.rlib",
            "-L",
            "/t/deps/rustcf58ySx/raw-dylibs",
            "--target",
            "nvptx64-nvidia-cuda",
            "--target-cpu",
            "sm_90",
            "-L/sysroot/lib/rustlib/nvptx64-nvidia-cuda/lib/self-contained",
            "-o",
            "/t/deps/ringkernel_device.ptx",
            "-O3",
            "--debug",
        ]);
        let parsed = parse_linker_args(&args).unwrap();
        assert_eq!(parsed.export_symbols, ["ringkernel_echo", "second_kernel"]);
        assert_eq!(parsed.inputs.len(), 2);
        assert!(is_archive(&parsed.inputs[1]) && !is_archive(&parsed.inputs[0]));
        assert_eq!(parsed.lib_dirs.len(), 2);
        assert_eq!(parsed.target.as_deref(), Some("nvptx64-nvidia-cuda"));
        assert_eq!(parsed.target_cpu.as_deref(), Some("sm_90"));
        assert_eq!(parsed.output.as_deref(), Some(Path::new("/t/deps/ringkernel_device.ptx")));
        assert_eq!(parsed.opt_level.as_deref(), Some("3"));
        assert!(parsed.debug);
    }

    #[test]
    fn rejects_what_it_cannot_do() {
        let base = ["a.o", "--target-cpu", "sm_90", "-o", "out.ptx"];
        let with = |extra: &[&str]| {
            let mut args = strings(&base);
            args.extend(strings(extra));
            parse_linker_args(&args).map(|_| ()).unwrap_err().to_string()
        };
        assert!(with(&["--frobnicate"]).contains("unknown linker argument `--frobnicate`"));
        assert!(with(&["-lcuda"]).contains("native libraries"));
        assert!(with(&["--target", "x86_64-unknown-linux-gnu"]).contains("only links nvptx64-nvidia-cuda"));
        assert!(with(&["-O9"]).contains("unknown optimisation level"));
        assert!(with(&["--export-symbol"]).contains("needs a value"));
        let no_cpu = parse_linker_args(&strings(&["a.o", "-o", "out.ptx"])).unwrap_err().to_string();
        assert!(no_cpu.contains("--target-cpu"), "{no_cpu}");
        let no_out = parse_linker_args(&strings(&["a.o", "--target-cpu", "sm_90"])).unwrap_err().to_string();
        assert!(no_out.contains("-o OUTPUT"), "{no_out}");
        let no_input = parse_linker_args(&strings(&["--target-cpu", "sm_90", "-o", "x"])).unwrap_err().to_string();
        assert!(no_input.contains("no input files"), "{no_input}");
    }

    #[test]
    fn expands_response_files_with_escapes() {
        let dir = env::temp_dir().join(format!("xtask-rsp-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let rsp = dir.join("linker-arguments");
        fs::write(&rsp, "--export-symbol\nk\n/path\\ with\\ space/a.o\nback\\\\slash\n").unwrap();
        let args =
            expand_response_files([OsString::from("-O3"), OsString::from(format!("@{}", rsp.display()))]).unwrap();
        assert_eq!(args, ["-O3", "--export-symbol", "k", "/path with space/a.o", "back\\slash"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
