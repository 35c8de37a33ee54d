//! Building kernel crates to PTX, and checking the PTX with ptxas.
//!
//! [`build_ptx`] runs, for each crate,
//!
//! ```text
//! cargo rustc -p CRATE --lib --crate-type cdylib --profile ptx \
//!     --target nvptx64-nvidia-cuda -Zbuild-std=core,panic_abort [--features ...]
//! ```
//!
//! with the xtask binary as the target's linker (see [`crate::linker`]),
//! copies the PTX to `target/ptx/<crate>.ptx`, checks its `.target`, lists its
//! `.entry` kernels and, when ptxas is there, assembles it to
//! `target/ptx/<crate>.cubin` and reports registers, stack and spills per
//! function.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::linker::{AS_LINKER_ENV, LLVM_BIN_ENV, LlvmTools, NVPTX_TARGET};
use crate::tools::{self, PTXAS_HINT, Ptxas, Toolchain, Workspace};

/// The GPU architecture built for unless `--arch` says otherwise (H100/H200).
pub const DEFAULT_ARCH: &str = "sm_90";

/// A crate to build to PTX, with the features its PTX build needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtxCrate {
    /// Package name.
    pub package: String,
    /// Features passed with `--features`.
    pub features: Vec<String>,
    /// Pass `--no-default-features`: for crates whose default features
    /// (`std`) cannot build for nvptx64.
    pub no_default_features: bool,
}

impl PtxCrate {
    /// `package` with the features the project's kernel crates need:
    /// `ringkernel-device` carries its built-in kernels behind `kernels`;
    /// `ringkernel-wavesim` its batch kernels behind `kernels`, without its
    /// default `std` feature (rayon, the binary, the host GPU engine).
    pub fn new(package: &str) -> PtxCrate {
        let (features, no_default_features) = match package {
            "ringkernel-device" => (vec!["kernels".to_string()], false),
            "ringkernel-wavesim" => (vec!["kernels".to_string()], true),
            _ => (Vec::new(), false),
        };
        PtxCrate { package: package.to_string(), features, no_default_features }
    }

    /// The feature arguments of its `cargo rustc` command.
    pub fn feature_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.no_default_features {
            args.push("--no-default-features".to_string());
        }
        if !self.features.is_empty() {
            args.extend(["--features".to_string(), self.features.join(",")]);
        }
        args
    }
}

/// The crates `build-ptx` builds when no `-p` is given.
pub fn default_crates() -> Vec<PtxCrate> {
    ["ringkernel-device", "ringkernel-example-actors", "ringkernel-wavesim"].into_iter().map(PtxCrate::new).collect()
}

/// Accept `sm_NN` with an optional letter suffix (`sm_90a`).
pub fn validate_arch(arch: &str) -> Result<()> {
    let ok = arch.strip_prefix("sm_").is_some_and(|rest| {
        let digits = rest.trim_end_matches(|c: char| c.is_ascii_lowercase());
        !digits.is_empty()
            && digits.len() <= 3
            && digits.bytes().all(|b| b.is_ascii_digit())
            && rest.len() - digits.len() <= 1
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!("--arch {arch:?} is not a GPU architecture like sm_90 or sm_90a")))
    }
}

/// What to do about ptxas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtxasMode {
    /// Do not run it (`--no-ptxas`).
    Skip,
    /// Run it when it can be found; say so when it cannot.
    IfFound,
    /// Run it; a missing ptxas is an error (`cargo xtask test`).
    Require,
}

/// Options of [`build_ptx`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `-C target-cpu` and `ptxas -arch`.
    pub arch: String,
    /// What to build.
    pub crates: Vec<PtxCrate>,
    /// Whether to assemble with ptxas.
    pub ptxas: PtxasMode,
    /// Fail when ptxas reports spill bytes in any function.
    pub deny_spills: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            arch: DEFAULT_ARCH.into(),
            crates: default_crates(),
            ptxas: PtxasMode::IfFound,
            deny_spills: false,
        }
    }
}

/// One crate's build result.
#[derive(Debug, Clone)]
pub struct PtxArtifact {
    /// Package name.
    pub package: String,
    /// `target/ptx/<crate>.ptx`.
    pub ptx: PathBuf,
    /// The PTX text.
    pub text: String,
    /// Its `.entry` kernels.
    pub entries: Vec<String>,
    /// `target/ptx/<crate>.cubin`, when ptxas ran.
    pub cubin: Option<PathBuf>,
    /// ptxas's report, when it ran.
    pub report: Option<PtxasReport>,
}

/// Build each crate of `opts` to PTX (and cubin when ptxas is used), printing
/// progress, entries and the ptxas table as it goes.
pub fn build_ptx(ws: &Workspace, opts: &BuildOptions) -> Result<Vec<PtxArtifact>> {
    validate_arch(&opts.arch)?;
    let ptxas = match opts.ptxas {
        PtxasMode::Skip => None,
        PtxasMode::IfFound => Ptxas::find()?,
        PtxasMode::Require => Some(Ptxas::require()?),
    };
    let toolchain = Toolchain::detect()?;
    let llvm_bin = toolchain.llvm_bin();
    LlvmTools::in_dir(&llvm_bin)?;
    let linker = env::current_exe().map_err(Error::io("finding the xtask executable (the PTX linker)"))?;
    let out_dir = ws.target_dir.join("ptx");
    fs::create_dir_all(&out_dir).map_err(Error::io(format!("creating {}", out_dir.display())))?;

    let mut artifacts = Vec::new();
    for krate in &opts.crates {
        let package = ws.package(&krate.package)?;
        let lib = package.lib_name.as_deref().ok_or_else(|| {
            Error::Invalid(format!("package `{}` has no library target to build to PTX", package.name))
        })?;
        println!("==> PTX: {} ({}, {NVPTX_TARGET})", krate.package, opts.arch);
        let mut cmd = tools::cargo();
        cmd.args(["rustc", "-p", &krate.package, "--lib", "--crate-type", "cdylib", "--profile", "ptx"])
            .args(["--target", NVPTX_TARGET, "-Zbuild-std=core,panic_abort"])
            .env("CARGO_TARGET_NVPTX64_NVIDIA_CUDA_LINKER", &linker)
            .env("CARGO_TARGET_NVPTX64_NVIDIA_CUDA_RUSTFLAGS", format!("-C target-cpu={}", opts.arch))
            .env(AS_LINKER_ENV, "1")
            .env(LLVM_BIN_ENV, &llvm_bin);
        cmd.args(krate.feature_args());
        tools::run_streamed(&format!("cargo rustc (PTX build of {})", krate.package), &mut cmd)?;

        let built = ws.target_dir.join(NVPTX_TARGET).join("ptx").join(format!("{lib}.ptx"));
        let text = fs::read_to_string(&built).map_err(Error::io(format!("reading {}", built.display())))?;
        match ptx_target(&text) {
            Some(target) if target == opts.arch => {}
            found => {
                return Err(Error::Invalid(format!(
                    "{} is for `.target {}`, expected {}",
                    built.display(),
                    found.unwrap_or("(none)"),
                    opts.arch
                )));
            }
        }
        let ptx = out_dir.join(format!("{lib}.ptx"));
        fs::write(&ptx, &text).map_err(Error::io(format!("writing {}", ptx.display())))?;
        let entries = ptx_entries(&text);
        println!("    {} (.target {})", ptx.display(), opts.arch);
        if entries.is_empty() {
            println!("    no .entry kernels");
        }
        for entry in &entries {
            println!("    .entry {entry}");
        }

        let (cubin, report) = match &ptxas {
            Some(ptxas) => {
                let cubin = out_dir.join(format!("{lib}.cubin"));
                let report = assemble(&ptxas.path, &ptx, &opts.arch, &cubin)?;
                println!("    ptxas {} -> {}", opts.arch, cubin.display());
                print!("{}", indent(&format_stats_table(&report), "    "));
                for warning in &report.warnings {
                    println!("    {warning}");
                }
                (Some(cubin), Some(report))
            }
            None => (None, None),
        };
        artifacts.push(PtxArtifact { package: krate.package.clone(), ptx, text, entries, cubin, report });
    }

    match (&ptxas, opts.ptxas) {
        (Some(p), _) => println!("ptxas: {} ({})", p.path.display(), p.origin),
        (None, PtxasMode::Skip) => println!("ptxas: skipped (--no-ptxas)"),
        (None, _) => println!("ptxas: not found, PTX was not assembled or checked; to get it, {PTXAS_HINT}"),
    }
    if opts.deny_spills {
        let spills: Vec<String> = artifacts
            .iter()
            .filter_map(|a| Some((a, a.report.as_ref()?)))
            .flat_map(|(a, r)| spill_lines(&a.package, r))
            .collect();
        if !spills.is_empty() {
            return Err(Error::Spills { functions: spills });
        }
        if ptxas.is_some() {
            println!("spills: none");
        }
    }
    Ok(artifacts)
}

/// One line per function of `report` that spills registers, for `--deny-spills`.
pub fn spill_lines(package: &str, report: &PtxasReport) -> Vec<String> {
    report
        .functions
        .iter()
        .filter(|f| f.spills())
        .map(|f| {
            format!(
                "{package}: {} ({} bytes spill stores, {} bytes spill loads)",
                f.name, f.spill_stores, f.spill_loads
            )
        })
        .collect()
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}\n")).collect()
}

/// The `.target` of a PTX module (`sm_90`), without any `, debug` suffix.
pub fn ptx_target(ptx: &str) -> Option<&str> {
    ptx.lines().find_map(|l| l.trim().strip_prefix(".target ")).map(|t| t.split(',').next().unwrap_or(t).trim())
}

/// Names of the `.entry` kernels in a PTX module, in order.
pub fn ptx_entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w == ".visible" || *w == ".weak");
            if words.next()? != ".entry" {
                return None;
            }
            let name = words.next()?;
            let name = name.split('(').next().unwrap_or(name);
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// Size figures of a PTX module, for `cargo xtask ptx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtxSummary {
    /// Bytes of PTX text.
    pub bytes: usize,
    /// Lines of PTX text.
    pub lines: usize,
    /// For each `.entry` and `.func`: its name and how many lines its body has.
    pub functions: Vec<(String, usize)>,
}

/// Measure a PTX module.
pub fn summarize_ptx(ptx: &str) -> PtxSummary {
    let mut functions = Vec::new();
    let mut current: Option<(String, usize)> = None;
    for line in ptx.lines() {
        let trimmed = line.trim();
        if current.is_none() {
            let mut words = trimmed.split_whitespace().skip_while(|w| *w == ".visible" || *w == ".weak");
            if let Some(".entry" | ".func") = words.next() {
                // A `.func` may have a return value: `.func (.param .b32 r) name(`.
                let rest: Vec<&str> = words.collect();
                let joined = rest.join(" ");
                let after_ret =
                    if joined.starts_with('(') { joined.split_once(')').map_or("", |x| x.1) } else { &joined };
                let name = after_ret.trim().split(['(', ' ', ';']).next().unwrap_or("").to_string();
                if !trimmed.ends_with(';') && !name.is_empty() {
                    current = Some((name, 0));
                }
            }
            continue;
        }
        if let Some((name, count)) = current.as_mut() {
            *count += 1;
            if line == "}" {
                functions.push((std::mem::take(name), *count));
                current = None;
            }
        }
    }
    PtxSummary { bytes: ptx.len(), lines: ptx.lines().count(), functions }
}

/// What ptxas `-v` says about one function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// Function name as in the PTX.
    pub name: String,
    /// A kernel (`.entry`), not a device function.
    pub entry: bool,
    /// Registers per thread (reported for entries).
    pub registers: Option<u32>,
    /// Named barriers used.
    pub barriers: Option<u32>,
    /// Bytes of stack frame.
    pub stack_frame: u64,
    /// Bytes of register spill stores.
    pub spill_stores: u64,
    /// Bytes of register spill loads.
    pub spill_loads: u64,
    /// Bytes of cumulative stack size (the entry and what it calls).
    pub cumulative_stack: Option<u64>,
}

impl FunctionStats {
    /// Any spill bytes at all.
    pub fn spills(&self) -> bool {
        self.spill_stores > 0 || self.spill_loads > 0
    }
}

/// ptxas `-v` output, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PtxasReport {
    /// Every function ptxas reported, entries first in report order.
    pub functions: Vec<FunctionStats>,
    /// `ptxas warning` lines, verbatim.
    pub warnings: Vec<String>,
}

/// The unsigned number written just before `suffix` in `line`
/// (`number_before("128 bytes stack frame", "bytes stack frame") == Some(128)`).
fn number_before(line: &str, suffix: &str) -> Option<u64> {
    let head = &line[..line.find(suffix)?];
    head.split(|c: char| c.is_whitespace() || c == ',' || c == ':').rfind(|s| !s.is_empty())?.parse().ok()
}

fn quoted(line: &str) -> Option<&str> {
    let start = line.find('\'')? + 1;
    let len = line[start..].find('\'')?;
    Some(&line[start..start + len])
}

/// Parse what `ptxas -v` prints (stdout and stderr together).
pub fn parse_ptxas_verbose(text: &str) -> PtxasReport {
    let mut report = PtxasReport::default();
    let mut entry: Option<usize> = None;
    let mut props: Option<usize> = None;
    fn slot(report: &mut PtxasReport, name: &str) -> usize {
        match report.functions.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                report.functions.push(FunctionStats { name: name.to_string(), ..FunctionStats::default() });
                report.functions.len() - 1
            }
        }
    }
    for line in text.lines() {
        let body =
            line.split_once(':').map_or(line, |(head, rest)| if head.starts_with("ptxas") { rest } else { line });
        let body = body.trim();
        if line.starts_with("ptxas warning") {
            report.warnings.push(line.trim().to_string());
        } else if body.starts_with("Compiling entry function") {
            if let Some(name) = quoted(body) {
                let i = slot(&mut report, name);
                report.functions[i].entry = true;
                entry = Some(i);
            }
        } else if let Some(name) = body.strip_prefix("Function properties for ") {
            props = Some(slot(&mut report, name.trim()));
        } else if body.contains("bytes stack frame") {
            if let Some(f) = props.map(|i| &mut report.functions[i]) {
                f.stack_frame = number_before(body, "bytes stack frame").unwrap_or(0);
                f.spill_stores = number_before(body, "bytes spill stores").unwrap_or(0);
                f.spill_loads = number_before(body, "bytes spill loads").unwrap_or(0);
            }
            props = None;
        } else if body.starts_with("Used ")
            && body.contains("registers")
            && let Some(f) = entry.map(|i| &mut report.functions[i])
        {
            f.registers = number_before(body, "registers").and_then(|n| u32::try_from(n).ok());
            f.barriers = number_before(body, "barriers").and_then(|n| u32::try_from(n).ok());
            // ptxas leaves the cumulative stack out when it is zero.
            f.cumulative_stack = Some(number_before(body, "bytes cumulative stack size").unwrap_or(0));
        }
    }
    report.functions.sort_by_key(|f| !f.entry);
    report
}

/// The per-function table printed after ptxas runs.
pub fn format_stats_table(report: &PtxasReport) -> String {
    let width = report.functions.iter().map(|f| f.name.len()).max().unwrap_or(0).max("function".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>5}  {:>4}  {:>8}  {:>10}  {:>10}  {:>9}  {:>8}",
        "function", "kind", "regs", "barriers", "stack (B)", "spill st", "spill ld", "cum (B)"
    );
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
    for f in &report.functions {
        let _ = writeln!(
            out,
            "{:<width$}  {:>5}  {:>4}  {:>8}  {:>10}  {:>10}  {:>9}  {:>8}",
            f.name,
            if f.entry { "entry" } else { "func" },
            opt(f.registers.map(u64::from)),
            opt(f.barriers.map(u64::from)),
            f.stack_frame,
            f.spill_stores,
            f.spill_loads,
            opt(f.cumulative_stack),
        );
    }
    if report.functions.is_empty() {
        out.push_str("(ptxas reported no functions)\n");
    }
    out
}

/// Assemble `ptx` for `arch` into `cubin` with `ptxas -v`, and parse its report.
///
/// A ptxas failure is [`Error::Ptxas`], which names the file and carries
/// ptxas's own message.
pub fn assemble(ptxas: &Path, ptx: &Path, arch: &str, cubin: &Path) -> Result<PtxasReport> {
    let mut cmd = Command::new(ptxas);
    cmd.arg(format!("-arch={arch}")).arg("-v").arg(ptx).arg("-o").arg(cubin);
    let output = cmd.output().map_err(|source| Error::Spawn { tool: ptxas.display().to_string(), source })?;
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        return Err(Error::Ptxas { file: ptx.to_path_buf(), status: output.status, message: text });
    }
    Ok(parse_ptxas_verbose(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from ptxas 13.0 on the echo kernel.
    const ECHO: &str = "\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'ringkernel_echo' for 'sm_90'
ptxas info    : Function properties for ringkernel_echo
    128 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 71 registers, used 0 barriers, 128 bytes cumulative stack size
ptxas info    : Compile time = 74.149 ms
";

    #[test]
    fn parses_real_ptxas_output() {
        let report = parse_ptxas_verbose(ECHO);
        assert_eq!(
            report.functions,
            [FunctionStats {
                name: "ringkernel_echo".into(),
                entry: true,
                registers: Some(71),
                barriers: Some(0),
                stack_frame: 128,
                spill_stores: 0,
                spill_loads: 0,
                cumulative_stack: Some(128),
            }]
        );
        assert!(report.warnings.is_empty());
        let table = format_stats_table(&report);
        assert!(table.lines().nth(1).unwrap().starts_with("ringkernel_echo  entry    71"), "{table}");
    }

    #[test]
    fn parses_spills_device_functions_and_warnings() {
        let text = "\
ptxas info    : 0 bytes gmem
ptxas info    : Function properties for helper_fn
    24 bytes stack frame, 8 bytes spill stores, 16 bytes spill loads
ptxas info    : Compiling entry function 'k2' for 'sm_80'
ptxas info    : Function properties for k2
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 10 registers, 380 bytes cmem[0]
ptxas warning : Registers are spilled to local memory in function 'helper_fn', 8 bytes spill stores, 16 bytes spill loads
";
        let report = parse_ptxas_verbose(text);
        assert_eq!(report.functions.len(), 2);
        let k2 = &report.functions[0];
        assert_eq!((k2.name.as_str(), k2.entry, k2.registers, k2.barriers), ("k2", true, Some(10), None));
        assert_eq!(k2.cumulative_stack, Some(0), "ptxas omits a zero cumulative stack");
        assert!(!k2.spills());
        let helper = &report.functions[1];
        assert_eq!((helper.entry, helper.stack_frame, helper.spill_stores, helper.spill_loads), (false, 24, 8, 16));
        assert!(helper.spills());
        assert_eq!(report.warnings.len(), 1);
        let spills = spill_lines("kernels", &report);
        assert_eq!(spills, ["kernels: helper_fn (8 bytes spill stores, 16 bytes spill loads)"]);
        let err = Error::Spills { functions: spills }.to_string();
        assert!(err.starts_with("--deny-spills: ptxas reports register spills in:\n  kernels: helper_fn"), "{err}");
        assert!(spill_lines("k", &parse_ptxas_verbose(ECHO)).is_empty());
    }

    #[test]
    fn reads_target_entries_and_sizes() {
        let ptx = "\
//
.version 8.7
.target sm_90
.address_size 64

.func  (.param .b32 func_retval0) helper(
\t.param .b64 helper_param_0
)
{
\tret;
}
\t// .globl\tringkernel_echo
.visible .entry ringkernel_echo(
\t.param .u64 ringkernel_echo_param_0
)
{
\t.reg .b32 \t%r<3>;
\tret;
}
";
        assert_eq!(ptx_target(ptx), Some("sm_90"));
        assert_eq!(ptx_target(".target sm_90a, debug\n"), Some("sm_90a"));
        assert_eq!(ptx_entries(ptx), ["ringkernel_echo"]);
        let summary = summarize_ptx(ptx);
        assert_eq!(summary.lines, ptx.lines().count());
        assert_eq!(summary.functions, [("helper".to_string(), 5), ("ringkernel_echo".to_string(), 6)]);
    }

    #[test]
    fn kernel_crates_get_their_features() {
        assert_eq!(PtxCrate::new("ringkernel-device").feature_args(), ["--features", "kernels"]);
        assert!(PtxCrate::new("ringkernel-example-actors").feature_args().is_empty());
        assert_eq!(
            PtxCrate::new("ringkernel-wavesim").feature_args(),
            ["--no-default-features", "--features", "kernels"]
        );
        let names: Vec<String> = default_crates().into_iter().map(|c| c.package).collect();
        assert_eq!(names, ["ringkernel-device", "ringkernel-example-actors", "ringkernel-wavesim"]);
    }

    #[test]
    fn checks_arch_names() {
        for good in ["sm_90", "sm_90a", "sm_100", "sm_75"] {
            validate_arch(good).unwrap();
        }
        for bad in ["90", "sm_", "compute_90", "sm_90ab", "sm_9x0", ""] {
            assert!(matches!(validate_arch(bad), Err(Error::Usage(_))), "{bad}");
        }
    }

    /// ptxas must turn a bad PTX file into an error that carries its own
    /// message and names the file. Needs ptxas (`./x setup` installs it); a
    /// missing ptxas fails this test instead of skipping it.
    #[test]
    fn ptxas_rejection_is_a_clear_error() {
        let ptxas = match Ptxas::find() {
            Ok(Some(p)) => p,
            Ok(None) => panic!("ptxas not found: run `./x setup` (or set RINGKERNEL_PTXAS) so this test can run"),
            Err(e) => panic!("{e}"),
        };
        let dir = env::temp_dir().join(format!("xtask-ptxas-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let ptx = dir.join("broken_kernel.ptx");
        fs::write(
            &ptx,
            ".version 8.0\n.target sm_90\n.address_size 64\n\n.visible .entry broken()\n{\n\tfrobnicate.u32 %r1;\n\tret;\n}\n",
        )
        .unwrap();
        let err = assemble(&ptxas.path, &ptx, "sm_90", &dir.join("broken_kernel.cubin")).unwrap_err();
        let Error::Ptxas { file, message, .. } = &err else { panic!("expected Error::Ptxas, got {err:?}") };
        assert_eq!(file, &ptx);
        assert!(message.contains("ptxas") && message.contains("error"), "ptxas's own message is kept: {message}");
        let shown = err.to_string();
        assert!(shown.contains("broken_kernel.ptx") && shown.contains(message.trim_end()), "{shown}");

        let good = dir.join("ok_kernel.ptx");
        fs::write(&good, ".version 8.0\n.target sm_90\n.address_size 64\n\n.visible .entry ok()\n{\n\tret;\n}\n")
            .unwrap();
        let report = assemble(&ptxas.path, &good, "sm_90", &dir.join("ok_kernel.cubin")).unwrap();
        assert_eq!(report.functions.first().map(|f| (f.name.as_str(), f.entry)), Some(("ok", true)));
        fs::remove_dir_all(&dir).unwrap();
    }
}
