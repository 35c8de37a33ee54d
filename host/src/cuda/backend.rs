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
//!   JIT at load). Every module in the search path is loaded, and each of
//!   its entries' code forced onto the device (`cuFuncLoad`), when the
//!   runtime is built: loading code may need a context synchronisation,
//!   which never completes while a persistent kernel spins, so nothing is
//!   loaded once actors run. An entry that is not in the search path at
//!   build time is looked for again at launch (safe only while no actor of
//!   the process runs on the GPU).
//! * **Launch.** One block of [`LaunchOptions::block_size`] threads (a
//!   multiple of 32: warp 0 runs the actor, its lanes sharing the reads of
//!   host memory) on a non-blocking stream of its own, so actors run side by
//!   side and never wait for each other's launches.
//! * **Faults.** `cuStreamQuery` on the actor's stream reports a kernel that
//!   trapped or faulted (a sticky error: the context is then unusable, and
//!   every actor of the runtime fails); the runtime polls it through
//!   [`Execution::poll_fault`].

use super::driver::{self, Context, CudaError, DeviceBuffer, Function, MappedBuffer, Module, Stream, StreamState};
use crate::backend::{
    ActorProgram, BackendImpl, BackendKind, DeviceBlock, Execution, HostBlock, SystemExecution, SystemProgram,
};
use crate::error::{BuildError, ExecutionError, LaunchError};
use crate::gang::{GangOptions, GangReadError, GangWorkers, check_range};
use crate::memory::{ActorLayout, ActorMemory, MemoryOwner};
use crate::runtime::LaunchOptions;
use crate::sync::lock;
use ringkernel_shared::gang::{GangLayout, MAX_GANG_WORKERS};
use ringkernel_shared::system::SystemControl;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The CUDA backend of one runtime: a handle on the process-wide state
/// (every runtime of a process shares device 0's primary context, its
/// modules and its pool of actor memory).
pub(crate) struct CudaBackend {
    shared: Arc<Shared>,
}

struct Shared {
    ctx: Context,
    search_path: Vec<PathBuf>,
    /// Loaded modules by file, and which file holds which entry. Never
    /// unloaded: unloading could wait on running kernels.
    modules: Mutex<ModuleCache>,
    /// Actor blocks of finished actors, kept for reuse instead of freed:
    /// `cuMemFreeHost` may synchronise the context, which never completes
    /// while another actor's persistent kernel spins.
    pool: Mutex<Vec<MappedBuffer>>,
    /// Device memory of finished actor systems, kept for reuse (`cuMemFree`
    /// may synchronise the context too).
    device_pool: Mutex<Vec<DeviceBuffer>>,
}

/// The process-wide CUDA state, made by the first runtime that asks.
static SHARED: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

#[derive(Default)]
struct ModuleCache {
    by_file: HashMap<PathBuf, Arc<Module>>,
    by_entry: HashMap<String, Arc<Module>>,
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

/// Where PTX modules are looked for, in order: `$RINGKERNEL_PTX_DIR`,
/// `./target/ptx`, then `ptx/` beside the running executable and beside its
/// folder (a GPU bundle). Applications that load kernels of their own with
/// [`driver`](super::driver) use the same list.
pub fn ptx_search_path() -> Vec<PathBuf> {
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
    /// Open device 0 (once per process), or say why CUDA cannot be used here.
    pub(crate) fn new() -> Result<Self, BuildError> {
        let mut slot = lock(&SHARED);
        if let Some(shared) = slot.as_ref() {
            return Ok(Self { shared: Arc::clone(shared) });
        }
        let shared = Arc::new(Shared::open()?);
        *slot = Some(Arc::clone(&shared));
        Ok(Self { shared })
    }
}

impl Shared {
    fn open() -> Result<Self, BuildError> {
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
        let shared = Self {
            ctx,
            search_path: ptx_search_path(),
            modules: Mutex::new(ModuleCache::default()),
            pool: Mutex::new(Vec::new()),
            device_pool: Mutex::new(Vec::new()),
        };
        shared.preload()?;
        Ok(shared)
    }

    /// Load every module of the search path and the code of all its
    /// entries (see the module docs for why this happens up front).
    fn preload(&self) -> Result<(), BuildError> {
        self.load_new_modules(&mut lock(&self.modules)).map_err(|e| unavailable(e.what, e.source))
    }

    /// Load the modules of the search path not loaded yet, and force the
    /// code of each of their entries onto the device; the first module
    /// defining an entry serves it.
    fn load_new_modules(&self, cache: &mut ModuleCache) -> Result<(), LoadError> {
        for dir in &self.search_path {
            for (path, text) in ptx_files(dir) {
                let entries = ptx_entries(&text);
                if entries.is_empty() || cache.by_file.contains_key(&path) {
                    continue;
                }
                let module = Arc::new(load_image(&self.ctx, &path, &text)?);
                for entry in entries {
                    module.function(&entry).map_err(|e| LoadError {
                        what: format!("kernel `{entry}` of {} could not be loaded", path.display()),
                        source: Some(e),
                    })?;
                    cache.by_entry.entry(entry).or_insert_with(|| Arc::clone(&module));
                }
                cache.by_file.insert(path, module);
            }
        }
        Ok(())
    }

    /// The module holding `entry`: loaded when the runtime was built, or
    /// (for a PTX file added since) loaded now.
    fn module_for(&self, entry: &'static str) -> Result<Arc<Module>, LaunchError> {
        let mut cache = lock(&self.modules);
        if !cache.by_entry.contains_key(entry) {
            self.load_new_modules(&mut cache).map_err(|e| start_error(e.what, e.source))?;
        }
        if let Some(m) = cache.by_entry.get(entry) {
            return Ok(Arc::clone(m));
        }
        let looked: Vec<String> = self.search_path.iter().map(|d| d.display().to_string()).collect();
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

/// Why a module or kernel could not be loaded.
struct LoadError {
    what: String,
    source: Option<CudaError>,
}

/// The `.ptx` files of `dir` with their text, sorted by path (none if the
/// folder is missing).
fn ptx_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> =
        read.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "ptx")).collect();
    paths.sort();
    paths.into_iter().filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t))).collect()
}

/// The names of the `.entry` functions PTX `text` defines.
pub(crate) fn ptx_entries(text: &str) -> Vec<String> {
    text.match_indices(".entry ")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let end = rest.find(|c: char| c == '(' || c.is_whitespace())?;
            (end > 0).then(|| rest[..end].to_owned())
        })
        .collect()
}

/// Load `ptx_path`, preferring a `.cubin` of the same stem beside it.
fn load_image(ctx: &Context, ptx_path: &Path, ptx_text: &str) -> Result<Module, LoadError> {
    let cubin = ptx_path.with_extension("cubin");
    if let Ok(bytes) = std::fs::read(&cubin) {
        match Module::load(ctx, &bytes) {
            Ok(m) => return Ok(m),
            // A cubin for another architecture: fall back to JIT from PTX.
            Err(e) if e.name == "CUDA_ERROR_NO_BINARY_FOR_GPU" || e.name == "CUDA_ERROR_INVALID_IMAGE" => {}
            Err(e) => return Err(LoadError { what: format!("could not load {}", cubin.display()), source: Some(e) }),
        }
    }
    Module::load(ctx, ptx_text.as_bytes())
        .map_err(|e| LoadError { what: format!("could not load {}", ptx_path.display()), source: Some(e) })
}

/// Device memory of a system; on drop it goes back to the pool.
struct DeviceOwner {
    buf: Option<DeviceBuffer>,
    shared: Arc<Shared>,
}

impl MemoryOwner for DeviceOwner {}

impl DeviceOwner {
    /// The buffer (present until the owner is dropped).
    fn buffer(&self) -> &DeviceBuffer {
        self.buf.as_ref().expect("a DeviceOwner holds its buffer until dropped")
    }
}

impl Drop for DeviceOwner {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            lock(&self.shared.device_pool).push(buf);
        }
    }
}

/// Mapped pinned memory as an actor block owner; on drop the block goes
/// back to the pool.
struct MappedOwner {
    buf: Option<MappedBuffer>,
    shared: Arc<Shared>,
}

impl MemoryOwner for MappedOwner {}

impl Drop for MappedOwner {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            lock(&self.shared.pool).push(buf);
        }
    }
}

impl Shared {
    /// A block of at least `bytes`: the smallest pooled one that fits, or a
    /// new one.
    fn block(&self, bytes: usize) -> Result<MappedBuffer, LaunchError> {
        {
            let mut pool = lock(&self.pool);
            let best = pool.iter().enumerate().filter(|(_, b)| b.len() >= bytes).min_by_key(|(_, b)| b.len());
            if let Some((i, _)) = best {
                return Ok(pool.swap_remove(i));
            }
        }
        MappedBuffer::new(&self.ctx, bytes).map_err(|e| {
            if e.name == "CUDA_ERROR_OUT_OF_MEMORY" {
                LaunchError::OutOfMemory { bytes }
            } else {
                start_error("could not allocate mapped host memory", Some(e))
            }
        })
    }
}

/// A gang's device memory, kept by its execution.
struct CudaGang {
    buf: DeviceOwner,
    workers: u32,
    threads: u32,
    layout: GangLayout,
}

impl CudaBackend {
    /// Device memory from the pool (or new) of at least `len` bytes.
    fn device_buffer(&self, len: usize) -> Result<DeviceOwner, LaunchError> {
        let pooled = {
            let mut pool = lock(&self.shared.device_pool);
            let best = pool.iter().enumerate().filter(|(_, b)| b.len() >= len).min_by_key(|(_, b)| b.len());
            best.map(|(i, _)| i).map(|i| pool.swap_remove(i))
        };
        let buf = match pooled {
            Some(b) => b,
            None => DeviceBuffer::new(&self.shared.ctx, len).map_err(|e| {
                if e.name == "CUDA_ERROR_OUT_OF_MEMORY" {
                    LaunchError::OutOfMemory { bytes: len }
                } else {
                    start_error("could not allocate device memory", Some(e))
                }
            })?,
        };
        Ok(DeviceOwner { buf: Some(buf), shared: Arc::clone(&self.shared) })
    }

    /// The gang memory of a launch of `f`: workers resolved against the
    /// occupancy of `f` with the gang's block size, zeroed, control written.
    fn gang(&self, f: &Function<'_>, entry: &str, work_id: u32, o: &GangOptions) -> Result<CudaGang, LaunchError> {
        let per_sm =
            f.max_active_blocks_per_sm(o.threads).map_err(|e| start_error("occupancy query failed", Some(e)))?;
        let fit = per_sm.saturating_mul(self.shared.ctx.info().multiprocessors.max(0) as u32);
        let workers = match o.workers {
            GangWorkers::Exact(n) => n,
            GangWorkers::Fill => fit.saturating_sub(1).min(MAX_GANG_WORKERS),
        };
        if workers == 0 || workers.saturating_add(1) > fit {
            return Err(LaunchError::InvalidGang(format!(
                "{workers} workers and the actor's block do not fit on the GPU at once: at most {fit} blocks of \
                 `{entry}` with {} threads are resident ({per_sm} per SM)",
                o.threads
            )));
        }
        let layout = o.layout(workers)?;
        let buf = self.device_buffer(layout.total)?;
        let b = buf.buffer();
        let control = layout.control(work_id, o.params);
        b.zero()
            .and_then(|()| b.write(0, bytemuck::bytes_of(&control)))
            .map_err(|e| start_error("could not initialise the gang memory", Some(e)))?;
        Ok(CudaGang { buf, workers, threads: o.threads, layout })
    }
}

impl BackendImpl for CudaBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
    }

    fn alloc_actor(&self, layout: &ActorLayout) -> Result<ActorMemory, LaunchError> {
        let buf = self.shared.block(layout.total)?;
        if buf.device_addr() != buf.host_ptr() as u64 {
            return Err(start_error(
                "mapped host memory has a device address different from its host address (no unified addressing)",
                None,
            ));
        }
        // SAFETY: a page-aligned (≥ 128) mapping of at least `layout.total`
        // bytes that nothing else references (new, or back in the pool after
        // its actor was joined); `init` zeroes what it uses.
        let parts = unsafe { layout.init(buf.host_ptr()) };
        let owner = MappedOwner { buf: Some(buf), shared: Arc::clone(&self.shared) };
        // SAFETY: `parts` point into the buffer, initialised just above; the
        // owner keeps it alive as long as the ActorMemory.
        Ok(unsafe { ActorMemory::from_parts(parts, Box::new(owner)) })
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
        let module = self.shared.module_for(program.entry)?;
        let f = module.function(program.entry).map_err(|e| start_error("kernel entry lookup failed", Some(e)))?;
        let gang = match (program.gang, &opts.gang) {
            (Some(g), Some(o)) => Some(self.gang(&f, program.entry, g.work_id, o)?),
            _ => None,
        };
        let stream = Stream::new(&self.shared.ctx).map_err(|e| start_error("could not create a stream", Some(e)))?;
        let p = mem.pointers();
        // Identity-mapped (checked in `alloc_actor`): host address = device address.
        let mut params = vec![p.control as u64, p.inbox as u64, p.outbox as u64, p.telemetry as u64];
        let (grid, block, cooperative) = match &gang {
            None => (1, opts.block_size, opts.cooperative),
            Some(g) => {
                params.push(g.buf.buffer().device_addr());
                // All blocks spin for the whole launch: a cooperative launch
                // is refused rather than left with blocks that never start.
                (1 + g.workers, g.threads, true)
            }
        };
        // SAFETY: the entry made by `actor_kernel!` takes exactly these four
        // pointers (and, with a gang, the gang memory's device address);
        // they point into memory that the runtime (mapped actor memory) or
        // this execution (the gang) keeps alive until it is joined
        // (BackendImpl::start contract).
        unsafe { f.launch(&stream, grid, block, &params, cooperative) }
            .map_err(|e| start_error(format!("could not launch `{}`", program.entry), Some(e)))?;
        Ok(Box::new(CudaExecution { stream, fault: Mutex::new(None), _module: module, gang }))
    }

    fn alloc_host_block(&self, bytes: usize) -> Result<HostBlock, LaunchError> {
        let buf = self.shared.block(bytes)?;
        if buf.device_addr() != buf.host_ptr() as u64 {
            return Err(start_error("mapped host memory is not identity-mapped (no unified addressing)", None));
        }
        let ptr = buf.host_ptr();
        // SAFETY: the block is ours (new or back from the pool) and at least
        // `bytes` long; pooled blocks hold old contents.
        unsafe { std::ptr::write_bytes(ptr, 0, bytes) };
        Ok(HostBlock { ptr, _owner: Box::new(MappedOwner { buf: Some(buf), shared: Arc::clone(&self.shared) }) })
    }

    fn alloc_device_block(&self, image: &[u8]) -> Result<DeviceBlock, LaunchError> {
        let owner = self.device_buffer(image.len())?;
        let buf = owner.buffer();
        buf.write(0, image).map_err(|e| start_error("could not initialise device memory", Some(e)))?;
        let addr = buf.device_addr();
        Ok(DeviceBlock { addr, _owner: Box::new(owner) })
    }

    fn start_system(
        &self,
        program: &SystemProgram,
        control: *const SystemControl,
    ) -> Result<Arc<dyn SystemExecution>, LaunchError> {
        let module = self.shared.module_for(program.entry)?;
        let f = module.function(program.entry).map_err(|e| start_error("kernel entry lookup failed", Some(e)))?;
        // Every slot spins for the whole launch: all must be resident at
        // once, or the slots that never start would never answer.
        let per_sm = f.max_active_blocks_per_sm(32).map_err(|e| start_error("occupancy query failed", Some(e)))?;
        let fit = per_sm.saturating_mul(self.shared.ctx.info().multiprocessors.max(0) as u32);
        if program.slots > fit {
            return Err(start_error(
                format!(
                    "{} slots do not fit on the GPU at once: at most {fit} blocks of `{}` are resident                      ({per_sm} per SM); use fewer slots",
                    program.slots, program.entry
                ),
                None,
            ));
        }
        let stream = Stream::new(&self.shared.ctx).map_err(|e| start_error("could not create a stream", Some(e)))?;
        // SAFETY: the entry made by `actor_system!` takes one pointer to the
        // SystemControl, identity-mapped host memory that the runtime keeps
        // alive (with everything it points to) until the launch is joined.
        unsafe { f.launch(&stream, program.slots, 32, &[control as u64], false) }
            .map_err(|e| start_error(format!("could not launch `{}`", program.entry), Some(e)))?;
        Ok(Arc::new(CudaExecution { stream, fault: Mutex::new(None), _module: module, gang: None }))
    }
}

impl SystemExecution for CudaExecution {
    fn slot_fault(&self, _slot: u32) -> Option<ExecutionError> {
        Execution::poll_fault(self)
    }
    fn is_finished(&self) -> bool {
        Execution::is_finished(self)
    }
    fn join(&self, timeout: Duration) -> Result<(), ExecutionError> {
        Execution::join(self, timeout)
    }
    fn wake_slot(&self, _slot: u32) {}
}

/// One persistent kernel.
struct CudaExecution {
    stream: Stream,
    fault: Mutex<Option<ExecutionError>>,
    /// The kernel's code stays loaded while it runs.
    _module: Arc<Module>,
    /// The actor's gang memory, if it has a gang.
    gang: Option<CudaGang>,
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

    fn gang(&self) -> Option<(u32, usize)> {
        self.gang.as_ref().map(|g| (g.workers, g.layout.arena_len))
    }

    unsafe fn read_gang_arena(&self, at: usize, out: &mut [u8]) -> Result<(), GangReadError> {
        let g = self.gang.as_ref().ok_or(GangReadError::NoGang)?;
        check_range(at, out.len(), g.layout.arena_len)?;
        g.buf.buffer().read(g.layout.arena + at, out).map_err(|e| GangReadError::Device(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_entry_detection_is_exact() {
        let ptx = ".visible .entry hello_kernel(\n\t.param .u64 a\n)\n.visible .entry hello_kernel_2(\n";
        // Whole names only: neither `hello` nor `kernel` is an entry here.
        assert_eq!(ptx_entries(ptx), ["hello_kernel", "hello_kernel_2"]);
        assert!(ptx_entries(".entry (").is_empty());
    }

    #[test]
    fn search_path_includes_build_ptx_output() {
        let path = ptx_search_path();
        assert!(path.iter().any(|p| p == Path::new("target/ptx")));
    }
}
