//! Finding and running the programs the xtask drives: cargo, rustc, the LLVM
//! tools of the `llvm-tools` component, and ptxas.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};
use crate::json;

/// Environment variable that names the ptxas to use, ahead of any search.
pub const PTXAS_ENV: &str = "RINGKERNEL_PTXAS";

/// Where `./x setup` installs ptxas, relative to the repository root (from the
/// PyPI wheel `nvidia-cuda-nvcc==13.0.*`).
pub const LOCAL_PTXAS: &str = ".tools/cuda/nvidia/cu13/bin/ptxas";

/// What to tell someone who has no ptxas.
pub const PTXAS_HINT: &str = "run `./x setup` (installs the PyPI wheel `nvidia-cuda-nvcc==13.0.*` into .tools/cuda), \
     install the CUDA toolkit, or point RINGKERNEL_PTXAS at a ptxas binary";

/// The repository root (the xtask's own manifest lives one level below it).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The cargo to call: the one running us (`$CARGO`), else `cargo` on PATH.
pub fn cargo() -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(program);
    cmd.current_dir(repo_root());
    cmd
}

/// The rustc to ask about the toolchain: `$RUSTC`, else `rustc` on PATH
/// (rustup's proxy, which honours rust-toolchain.toml from the repo root).
pub fn rustc() -> Command {
    let program = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let mut cmd = Command::new(program);
    cmd.current_dir(repo_root());
    cmd
}

/// A command line as one string, for error messages and logs.
pub fn command_line(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        if arg.is_empty() || arg.contains([' ', '\'', '"', '$', '*']) {
            parts.push(format!("'{}'", arg.replace('\'', r"'\''")));
        } else {
            parts.push(arg.into_owned());
        }
    }
    parts.join(" ")
}

/// Run `cmd`, capturing what it prints; a failure carries its stderr and
/// stdout under the name `tool`.
pub fn run_captured(tool: &str, cmd: &mut Command) -> Result<Output> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn { tool: cmd.get_program().to_string_lossy().into_owned(), source })?;
    if output.status.success() {
        return Ok(output);
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() {
        text.push_str(&stdout);
    }
    Err(Error::ToolFailed { tool: tool.to_string(), command: command_line(cmd), status: output.status, output: text })
}

/// Run `cmd` with its output going straight to the terminal.
pub fn run_streamed(tool: &str, cmd: &mut Command) -> Result<()> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|source| Error::Spawn { tool: cmd.get_program().to_string_lossy().into_owned(), source })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::ToolFailed { tool: tool.to_string(), command: command_line(cmd), status, output: String::new() })
    }
}

/// The active Rust toolchain, as rustc describes itself.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// `rustc --print sysroot`.
    pub sysroot: PathBuf,
    /// The host triple (`host:` of `rustc -vV`).
    pub host: String,
    /// The first line of `rustc -vV`, e.g. `rustc 1.97.0-nightly (e50aa6fba 2026-05-19)`.
    pub version: String,
}

impl Toolchain {
    /// Ask rustc about itself.
    pub fn detect() -> Result<Toolchain> {
        let out = run_captured("rustc -vV", rustc().arg("-vV"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.lines().next().unwrap_or_default().trim().to_string();
        let host = text
            .lines()
            .find_map(|l| l.strip_prefix("host:"))
            .map(|h| h.trim().to_string())
            .ok_or_else(|| Error::Invalid(format!("`rustc -vV` printed no `host:` line:\n{text}")))?;
        let out = run_captured("rustc --print sysroot", rustc().args(["--print", "sysroot"]))?;
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(Toolchain { sysroot, host, version })
    }

    /// The folder of the `llvm-tools` component's binaries.
    pub fn llvm_bin(&self) -> PathBuf {
        self.sysroot.join("lib/rustlib").join(&self.host).join("bin")
    }

    /// The sysroot's folder name, e.g. `nightly-2026-05-20-x86_64-unknown-linux-gnu`.
    pub fn name(&self) -> String {
        self.sysroot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }
}

/// The channel pinned in `rust-toolchain.toml` (e.g. `nightly-2026-05-20`).
pub fn pinned_channel() -> Result<String> {
    let path = repo_root().join("rust-toolchain.toml");
    let text = fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    parse_channel(&text).ok_or_else(|| Error::Invalid(format!("{} has no `channel = \"...\"` line", path.display())))
}

/// The `channel = "..."` value of a rust-toolchain.toml text.
pub fn parse_channel(toml: &str) -> Option<String> {
    toml.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("channel")?.trim_start().strip_prefix('=')?.trim();
        let value = rest.strip_prefix('"')?;
        Some(value[..value.find('"')?].to_string())
    })
}

/// The LLVM tools the xtask linker needs, all from one folder.
pub const LLVM_TOOLS: [&str; 4] = ["llvm-ar", "llvm-link", "opt", "llc"];

/// Is `path` a file someone may execute?
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Look `name` up on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

/// A ptxas that was found, and where it came from.
#[derive(Debug, Clone)]
pub struct Ptxas {
    /// The binary.
    pub path: PathBuf,
    /// How it was found ("$RINGKERNEL_PTXAS", "project-local", "PATH", ...).
    pub origin: &'static str,
}

impl Ptxas {
    /// Find ptxas: `$RINGKERNEL_PTXAS`, then the project-local install in
    /// `.tools/cuda`, then `ptxas` on PATH, then `/usr/local/cuda/bin/ptxas`.
    ///
    /// `Ok(None)` when there is none; an error when `$RINGKERNEL_PTXAS` names
    /// something that is not an executable file.
    pub fn find() -> Result<Option<Ptxas>> {
        if let Some(value) = env::var_os(PTXAS_ENV).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            if !is_executable(&path) {
                return Err(Error::Invalid(format!(
                    "{PTXAS_ENV}={} is not an executable file; unset it or {PTXAS_HINT}",
                    path.display()
                )));
            }
            return Ok(Some(Ptxas { path, origin: "$RINGKERNEL_PTXAS" }));
        }
        let local = repo_root().join(LOCAL_PTXAS);
        if is_executable(&local) {
            return Ok(Some(Ptxas { path: local, origin: "project-local (.tools/cuda)" }));
        }
        if let Some(path) = find_on_path("ptxas") {
            return Ok(Some(Ptxas { path, origin: "PATH" }));
        }
        let cuda = PathBuf::from("/usr/local/cuda/bin/ptxas");
        if is_executable(&cuda) {
            return Ok(Some(Ptxas { path: cuda, origin: "/usr/local/cuda" }));
        }
        Ok(None)
    }

    /// Like [`Ptxas::find`], but a missing ptxas is an error that says how to
    /// install one.
    pub fn require() -> Result<Ptxas> {
        Ptxas::find()?.ok_or_else(|| Error::Missing { what: "ptxas".into(), hint: PTXAS_HINT.into() })
    }

    /// The release line of `ptxas --version`, e.g.
    /// `Cuda compilation tools, release 13.0, V13.0.88`.
    pub fn version(&self) -> Result<String> {
        let out = run_captured("ptxas --version", Command::new(&self.path).arg("--version"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .find(|l| l.contains("release"))
            .or_else(|| text.lines().last())
            .unwrap_or("")
            .trim()
            .to_string())
    }
}

/// One workspace package, as `cargo metadata` describes it.
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name (`ringkernel-device`).
    pub name: String,
    /// Name of its library target (`ringkernel_device`), if it has one.
    pub lib_name: Option<String>,
    /// Names of its binary targets.
    pub bins: Vec<String>,
    /// Names of its example targets.
    pub examples: Vec<String>,
}

/// The workspace: where it is, where cargo puts artifacts, what it holds.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root.
    pub root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
    /// The member packages.
    pub packages: Vec<Package>,
}

impl Workspace {
    /// Ask `cargo metadata` (no dependencies, no network).
    pub fn load() -> Result<Workspace> {
        let out = run_captured("cargo metadata", cargo().args(["metadata", "--no-deps", "--format-version", "1"]))?;
        Workspace::from_metadata(&String::from_utf8_lossy(&out.stdout))
    }

    /// Read the JSON of `cargo metadata --no-deps --format-version 1`.
    pub fn from_metadata(text: &str) -> Result<Workspace> {
        let doc = json::parse(text).map_err(|source| Error::Json { what: "cargo metadata".into(), source })?;
        let field = |key: &str| {
            doc.get(key)
                .and_then(json::Value::as_str)
                .map(PathBuf::from)
                .ok_or_else(|| Error::Invalid(format!("cargo metadata has no `{key}`")))
        };
        let root = field("workspace_root")?;
        let target_dir = field("target_directory")?;
        let mut packages = Vec::new();
        for pkg in doc.get("packages").map(json::Value::elements).unwrap_or_default() {
            let Some(name) = pkg.get("name").and_then(json::Value::as_str) else { continue };
            let mut package =
                Package { name: name.to_string(), lib_name: None, bins: Vec::new(), examples: Vec::new() };
            for target in pkg.get("targets").map(json::Value::elements).unwrap_or_default() {
                let Some(tname) = target.get("name").and_then(json::Value::as_str) else { continue };
                let kinds = target.get("kind").map(json::Value::elements).unwrap_or_default();
                let has = |k: &str| kinds.iter().any(|v| v.as_str() == Some(k));
                if has("lib") || has("rlib") || has("cdylib") {
                    package.lib_name = Some(tname.to_string());
                }
                if has("bin") {
                    package.bins.push(tname.to_string());
                }
                if has("example") {
                    package.examples.push(tname.to_string());
                }
            }
            packages.push(package);
        }
        Ok(Workspace { root, target_dir, packages })
    }

    /// The package called `name`, or an error listing the ones there are.
    pub fn package(&self, name: &str) -> Result<&Package> {
        self.packages.iter().find(|p| p.name == name).ok_or_else(|| {
            let names: Vec<_> = self.packages.iter().map(|p| p.name.as_str()).collect();
            Error::Invalid(format!("no package `{name}` in the workspace (it has: {})", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pinned_channel() {
        let toml = "[toolchain]\nchannel = \"nightly-2026-05-20\"\ncomponents = [\"rust-src\"]\n";
        assert_eq!(parse_channel(toml).as_deref(), Some("nightly-2026-05-20"));
        assert_eq!(parse_channel("[toolchain]\nprofile = \"minimal\"\n"), None);
        assert_eq!(parse_channel("channel=\"stable\""), Some("stable".into()));
    }

    #[test]
    fn reads_cargo_metadata() {
        let text = r#"{"packages":[
            {"name":"ringkernel-device","targets":[{"name":"ringkernel_device","kind":["lib"]},{"name":"loom_ring","kind":["test"]}]},
            {"name":"ringkernel","targets":[{"name":"ringkernel","kind":["lib"]},{"name":"basic_hello_kernel","kind":["example"]}]},
            {"name":"xtask","targets":[{"name":"xtask","kind":["bin"]}]}],
            "target_directory":"/w/target","workspace_root":"/w"}"#;
        let ws = Workspace::from_metadata(text).unwrap();
        assert_eq!(ws.target_dir, Path::new("/w/target"));
        assert_eq!(ws.package("ringkernel-device").unwrap().lib_name.as_deref(), Some("ringkernel_device"));
        assert_eq!(ws.package("ringkernel").unwrap().examples, ["basic_hello_kernel"]);
        assert_eq!(ws.package("xtask").unwrap().bins, ["xtask"]);
        let err = ws.package("nope").unwrap_err().to_string();
        assert!(err.contains("no package `nope`") && err.contains("ringkernel-device"), "{err}");
    }

    #[test]
    fn quotes_arguments_that_need_it() {
        let mut cmd = Command::new("opt");
        cmd.args(["-passes=internalize,globaldce", "a b.bc", ""]);
        assert_eq!(command_line(&cmd), "opt -passes=internalize,globaldce 'a b.bc' ''");
    }
}
