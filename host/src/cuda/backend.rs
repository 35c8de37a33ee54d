//! [`Backend::Cuda`](crate::Backend::Cuda): actors as persistent kernels.
//!
//! ## How an actor runs
//!
//! * **Memory.** One `cuMemHostAlloc(DEVICEMAP | PORTABLE)` block per actor
//!   holds its control block, telemetry, inbox (H2K) and outbox (K2H), laid
//!   out by [`ActorLayout`] exactly as on the CPU backend. The host reaches
//!   it at memory speed; the kernel reaches it over PCIe. Unified addressing
//!   makes the device address of that memory equal to the host address
//!   (checked at allocation), so the kernel gets the same pointers the host
//!   uses.
//! * **Code.** The actor type's PTX entry ([`KernelEntry::ENTRY`](ringkernel_device::KernelEntry))
//!   is looked up in the modules found in the PTX search path, in order:
//!   `$RINGKERNEL_PTX_DIR`, `./target/ptx` (what `cargo xtask build-ptx`
//!   writes), and `ptx/` beside the running executable and its parent (a
//!   GPU bundle). A `.cubin` beside a `.ptx` of the same name is preferred (no
//!   JIT at load). Modules are loaded once per runtime.
//! * **Launch.** One block of [`LaunchOptions::block_size`] threads (a
//!   multiple of 32: warp 0 runs the actor, its lanes sharing the reads of
//!   host memory) on a non-blocking stream of its own, so actors run side by
//!   side and never wait for each other's launches.
//! * **Faults.** `cuStreamQuery` on the actor's stream reports a kernel that
//!   trapped or faulted (a sticky error: the context is then unusable, and
//!   every actor of the runtime fails); the runtime polls it through
//!   [`Execution::poll_fault`].

use super::driver::{self, Context, CudaError, MappedBuffer, Module, Stream, StreamState};
use crate::backend::{ActorProgram, BackendImpl, BackendKind, Execution};
use crate::error::{BuildError, ExecutionError, LaunchError};
use crate::memory::{ActorLayout, ActorMemory, MemoryOwner};
use crate::runtime::LaunchOptions;
use crate::sync::lock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The CUDA backend of one runtime.
pub(crate) struct CudaBackend {
    ctx: Context,
    search_path: Vec<PathBuf>,
    /// Loaded modules by file, and which file holds which entry.
    modules: Mutex<ModuleCache>,
}

#[derive(Default)]
struct ModuleCache {
    by_file: HashMap<PathBuf, Arc<Module>>,
    by_entry: HashMap<&'static str, Arc<Module>>,
}

fn unavailable(reason: impl Into<String>, source: Option<CudaError>) -> BuildError {
    BuildError::BackendUnavailable {
        backend: BackendKind::Cuda,
        reason: reason.into().into(),
        source: source.map(|e| Box::new(e) as _),
    }
}

fn start_error(reason: impl Into<String>, source: Option<CudaError>) -> LaunchError {
    LaunchError::Start {
        backend: BackendKind::Cuda,
        reason: reason.into().into(),
        source: source.map(|e| Box::new(e) as _),
    }
}

/// Where PTX modules are looked for (see the module docs).
pub(crate) fn ptx_search_path() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("RINGKERNEL_PTX_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("target/ptx"));
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.join("ptx"));
        if let Some(up) = dir.parent() {
            dirs.push(up.join("ptx"));
        }
    }
    dirs
}

impl CudaBackend {
    /// Open device 0, or say why CUDA cannot be used here.
    pub(crate) fn new() -> Result<Self, BuildError> {
        driver::driver_available().map_err(|why| unavailable(format!("{why}; no NVIDIA driver is installed"), None))?;
        driver::init().map_err(|e| unavailable("the CUDA driver could not be initialised", Some(e)))?;
        let n = driver::device_count().map_err(|e| unavailable("the CUDA driver could not count devices", Some(e)))?;
        if n == 0 {
            return Err(unavailable("the CUDA driver reports no device", None));
        }
        let ctx = Context::new(0).map_err(|e| unavailable("device 0 could not be opened", Some(e)))?;
        let info = ctx.info();
        if info.compute_capability.0 < 7 {
            return Err(unavailable(
                format!(
                    "{} has compute capability {}.{}; the actor loop needs 7.0 or newer (warp-synchronous intrinsics)",
                    info.name, info.compute_capability.0, info.compute_capability.1
                ),
                None,
            ));
        }
        if !info.can_map_host_memory {
            return Err(unavailable(format!("{} cannot map host memory", info.name), None));
        }
        Ok(Self { ctx, search_path: ptx_search_path(), modules: Mutex::new(ModuleCache::default()) })
    }

    /// The module holding `entry`, loading it on first use.
    fn module_for(&self, entry: &'static str) -> Result<Arc<Module>, LaunchError> {
        let mut cache = lock(&self.modules);
        if let Some(m) = cache.by_entry.get(entry) {
            return Ok(Arc::clone(m));
        }
        let mut looked = Vec::new();
        for dir in &self.search_path {
            let Ok(read) = std::fs::read_dir(dir) else {
                looked.push(format!("{} (missing)", dir.display()));
                continue;
            };
            looked.push(dir.display().to_string());
            let mut ptx: Vec<PathBuf> = read
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ptx"))
                .collect();
            ptx.sort();
            for p in ptx {
                let Ok(text) = std::fs::read_to_string(&p) else { continue };
                if !ptx_has_entry(&text, entry) {
                    continue;
                }
                let module = match cache.by_file.get(&p) {
                    Some(m) => Arc::clone(m),
                    None => {
                        let m = Arc::new(load_image(&self.ctx, &p, &text)?);
                        cache.by_file.insert(p.clone(), Arc::clone(&m));
                        m
                    }
                };
                cache.by_entry.insert(entry, Arc::clone(&module));
                return Ok(module);
            }
        }
        Err(start_error(
            format!(
                "no PTX module defines the kernel entry `{entry}` (looked in: {}); build it with \
                 `cargo xtask build-ptx -p <your actor crate>` or point RINGKERNEL_PTX_DIR at the folder holding it",
                looked.join(", ")
            ),
            None,
        ))
    }
}

/// Whether PTX `text` defines `.entry <entry>(`.
pub(crate) fn ptx_has_entry(text: &str, entry: &str) -> bool {
    text.match_indices(".entry ").any(|(i, m)| {
        let rest = &text[i + m.len()..];
        rest.strip_prefix(entry).is_some_and(|r| r.starts_with('(') || r.starts_with(char::is_whitespace))
    })
}

/// Load `ptx_path`, preferring a `.cubin` of the same stem beside it.
fn load_image(ctx: &Context, ptx_path: &Path, ptx_text: &str) -> Result<Module, LaunchError> {
    let cubin = ptx_path.with_extension("cubin");
    if let Ok(bytes) = std::fs::read(&cubin) {
        match Module::load(ctx, &bytes) {
            Ok(m) => return Ok(m),
            // A cubin for another architecture: fall back to JIT from PTX.
            Err(e) if e.name == "CUDA_ERROR_NO_BINARY_FOR_GPU" || e.name == "CUDA_ERROR_INVALID_IMAGE" => {}
            Err(e) => return Err(start_error(format!("could not load {}", cubin.display()), Some(e))),
        }
    }
    Module::load(ctx, ptx_text.as_bytes())
        .map_err(|e| start_error(format!("could not load {}", ptx_path.display()), Some(e)))
}

/// Mapped pinned memory as an actor block owner.
struct MappedOwner {
    _buf: MappedBuffer,
}

impl MemoryOwner for MappedOwner {}

impl BackendImpl for CudaBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
    }

    fn alloc_actor(&self, inbox_capacity: u32, outbox_capacity: u32) -> Result<ActorMemory, LaunchError> {
        let layout = ActorLayout::new(inbox_capacity, outbox_capacity)?;
        let buf = MappedBuffer::new(&self.ctx, layout.total).map_err(|e| {
            if e.name == "CUDA_ERROR_OUT_OF_MEMORY" {
                LaunchError::OutOfMemory { bytes: layout.total }
            } else {
                start_error("could not allocate mapped host memory", Some(e))
            }
        })?;
        if buf.device_addr() != buf.host_ptr() as u64 {
            return Err(start_error(
                "mapped host memory has a device address different from its host address (no unified addressing)",
                None,
            ));
        }
        // SAFETY: a fresh, page-aligned (≥ 128) mapping of `layout.total`
        // bytes that nothing else references yet.
        let parts = unsafe { layout.init(buf.host_ptr()) };
        // SAFETY: `parts` point into `buf`, initialised just above; the
        // owner keeps `buf` alive as long as the ActorMemory.
        Ok(unsafe { ActorMemory::from_parts(parts, Box::new(MappedOwner { _buf: buf })) })
    }

    fn start(
        &self,
        program: &ActorProgram,
        mem: &ActorMemory,
        opts: &LaunchOptions,
    ) -> Result<Box<dyn Execution>, LaunchError> {
        if !opts.block_size.is_multiple_of(32) {
            return Err(LaunchError::InvalidBlockSize(opts.block_size));
        }
        let module = self.module_for(program.entry)?;
        let f = module.function(program.entry).map_err(|e| start_error("kernel entry lookup failed", Some(e)))?;
        let stream = Stream::new(&self.ctx).map_err(|e| start_error("could not create a stream", Some(e)))?;
        let p = mem.pointers();
        // Identity-mapped (checked in `alloc_actor`): host address = device address.
        let params = [p.control as u64, p.inbox as u64, p.outbox as u64, p.telemetry as u64];
        // SAFETY: the entry made by `actor_kernel!` takes exactly these four
        // pointers; they point into mapped memory that the runtime keeps
        // alive until this execution is joined (BackendImpl::start contract).
        unsafe { f.launch(&stream, 1, opts.block_size, &params, false) }
            .map_err(|e| start_error(format!("could not launch `{}`", program.entry), Some(e)))?;
        Ok(Box::new(CudaExecution { stream, fault: Mutex::new(None), _module: module }))
    }
}

/// One persistent kernel.
struct CudaExecution {
    stream: Stream,
    fault: Mutex<Option<ExecutionError>>,
    /// The kernel's code stays loaded while it runs.
    _module: Arc<Module>,
}

impl CudaExecution {
    fn observe(&self) -> Option<StreamState> {
        match self.stream.query() {
            Ok(s) => Some(s),
            Err(e) => {
                let mut f = lock(&self.fault);
                if f.is_none() {
                    *f = Some(ExecutionError::Gpu(e));
                }
                None
            }
        }
    }
}

impl Execution for CudaExecution {
    fn poll_fault(&self) -> Option<ExecutionError> {
        self.observe();
        lock(&self.fault).clone()
    }

    fn is_finished(&self) -> bool {
        !matches!(self.observe(), Some(StreamState::Busy))
    }

    fn join(&self, timeout: Duration) -> Result<(), ExecutionError> {
        if let Some(f) = lock(&self.fault).clone() {
            return Err(f);
        }
        match self.stream.wait_idle(timeout) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ExecutionError::JoinTimeout { waited: timeout }),
            Err(e) => {
                let err = ExecutionError::Gpu(e);
                *lock(&self.fault) = Some(err.clone());
                Err(err)
            }
        }
    }

    fn wake(&self) {
        // The kernel polls its inbox and control block; nothing to signal.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_entry_detection_is_exact() {
        let ptx = ".visible .entry hello_kernel(\n\t.param .u64 a\n)\n.visible .entry hello_kernel_2(\n";
        assert!(ptx_has_entry(ptx, "hello_kernel"));
        assert!(ptx_has_entry(ptx, "hello_kernel_2"));
        assert!(!ptx_has_entry(ptx, "hello"));
        assert!(!ptx_has_entry(ptx, "kernel"));
    }

    #[test]
    fn search_path_includes_build_ptx_output() {
        let path = ptx_search_path();
        assert!(path.iter().any(|p| p == Path::new("target/ptx")));
    }
}
