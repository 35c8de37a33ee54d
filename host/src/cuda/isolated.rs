//! CUDA actors that can be recovered: each runs in a worker process of its
//! own, over memory the runtime's process keeps.
//!
//! ## Why a process
//!
//! After a kernel executes `trap` (or faults), its CUDA context is dead
//! with a sticky error, and on the driver the project targets (580, CUDA
//! 13.0) so is every CUDA call of that *process*: resetting and retaining
//! the primary context again, or creating a fresh context, returns
//! `CUDA_ERROR_LAUNCH_FAILED`, and module loads `CUDA_ERROR_CONTEXT_IS_DESTROYED`
//! (measured on an H200 with a C program on the driver API). A context can
//! therefore only be recreated in a new process. So an actor launched with a
//! restarting [`RecoveryPolicy`](crate::RecoveryPolicy) on CUDA runs like this:
//!
//! ```text
//! runtime process                               worker process (one per incarnation)
//!  actor memory: memfd, mmap MAP_SHARED  ──fd 3──▶  mmap MAP_SHARED (same pages)
//!  rings, control block, snapshot region           cuMemHostRegister(DEVICEMAP | PORTABLE)
//!  poller, requests, replay log                    load the module, launch the actor kernel
//!                                        ◀─stdout─  "launched", then "exit ok" or
//!                                                   "fault <code> <name> <call>"
//! ```
//!
//! The runtime reads and writes the rings through its own mapping of the
//! same physical pages the GPU reads over PCIe, so messages take the same
//! path as with [`Backend::Cuda`](crate::Backend::Cuda). When the worker
//! reports a fault or dies, the recovery ([`crate::recovery`]) rebuilds the
//! rings in that memory and starts a new worker on it; the runtime's own
//! CUDA context is never touched by the trap.
//!
//! ## The worker executable
//!
//! The worker is the `ringkernel-cuda-worker` binary of this package (it
//! calls [`worker_main`]). The runtime looks for it, in order: at
//! `$RINGKERNEL_CUDA_WORKER`, beside the running executable, and in the
//! folder above it (`target/debug/` for a test executable in
//! `target/debug/deps/`). Ship it beside an application that uses recovery
//! on CUDA, or point the variable at it. The kernel's module is found in
//! [`ptx_search_path`](super::ptx_search_path) and its path handed to the
//! worker.
//!
//! The worker gets `PR_SET_PDEATHSIG` = `SIGKILL`: it never outlives the
//! runtime's process, and its kernel dies with it.

use super::backend::{ptx_entries, ptx_search_path};
use super::driver::{self, Context, CudaError, Module, Stream};
use crate::backend::{
    ActorProgram, BackendImpl, BackendKind, DeviceBlock, Execution, HostBlock, SystemExecution, SystemProgram,
};
use crate::error::{ExecutionError, LaunchError};
use crate::memory::{ActorLayout, ActorMemory, MemoryOwner};
use crate::runtime::LaunchOptions;
use crate::sync::lock;
use cudarc::driver::sys;
use ringkernel_shared::ControlBlock;
use ringkernel_shared::control::{ERROR_PANICKED, FLAG_PANIC_MARK};
use ringkernel_shared::system::SystemControl;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The worker's executable name.
pub const WORKER_NAME: &str = "ringkernel-cuda-worker";
/// The descriptor the worker finds the actor memory at.
const WORKER_FD: RawFd = 3;

fn start_error(reason: impl Into<String>) -> LaunchError {
    LaunchError::Start { backend: BackendKind::Cuda, reason: reason.into().into(), source: None }
}

/// The backend of recoverable CUDA actors (module docs).
pub(crate) fn backend() -> Result<Arc<dyn BackendImpl>, LaunchError> {
    let worker = worker_path().ok_or_else(|| {
        start_error(format!(
            "a restarting recovery policy on CUDA runs the actor in a `{WORKER_NAME}` process, and none was found \
             (looked at $RINGKERNEL_CUDA_WORKER, beside the executable and one folder up); build it with \
             `cargo build -p ringkernel --bin {WORKER_NAME}` and put it there"
        ))
    })?;
    Ok(Arc::new(IsolatedCuda { worker }))
}

/// Where the worker executable is (module docs), if anywhere.
fn worker_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RINGKERNEL_CUDA_WORKER") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [Some(dir), dir.parent()].into_iter().flatten().map(|d| d.join(WORKER_NAME)).find(|p| p.is_file())
}

/// The `.ptx` file of the search path that defines `entry`.
fn module_path(entry: &str) -> Option<PathBuf> {
    for dir in ptx_search_path() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ptx"))
            .collect();
        paths.sort();
        for p in paths {
            if std::fs::read_to_string(&p).is_ok_and(|t| ptx_entries(&t).iter().any(|e| e == entry)) {
                return Some(p);
            }
        }
    }
    None
}

struct IsolatedCuda {
    worker: PathBuf,
}

/// An actor block in a `memfd` mapping shared with the worker processes.
struct SharedMapping {
    fd: OwnedFd,
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory with no thread affinity; concurrent
// access follows the actor memory's protocols (ActorMemory).
unsafe impl Send for SharedMapping {}
// SAFETY: as above; SharedMapping itself never reads or writes the block.
unsafe impl Sync for SharedMapping {}

impl MemoryOwner for SharedMapping {
    fn shared_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is the mapping made in `SharedMapping::new`,
        // unmapped once; the runtime drops actor memory only after the
        // execution over it was joined.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl SharedMapping {
    /// A zeroed shared mapping of at least `bytes`.
    fn new(bytes: usize) -> Result<Self, LaunchError> {
        let io = |what: &str| start_error(format!("{what}: {}", std::io::Error::last_os_error()));
        // SAFETY: a NUL-terminated name and valid flags; the result is checked.
        let raw = unsafe { libc::memfd_create(c"ringkernel-actor".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(io("memfd_create"));
        }
        // SAFETY: `raw` is a descriptor we own from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(4096);
        let len = bytes.div_ceil(page) * page;
        let Ok(off) = libc::off_t::try_from(len) else { return Err(LaunchError::OutOfMemory { bytes }) };
        // SAFETY: a valid descriptor; the result is checked.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), off) } != 0 {
            return Err(io("ftruncate of the actor memory"));
        }
        // SAFETY: maps `len` bytes of the file just sized; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io("mmap of the actor memory"));
        }
        Ok(Self { fd, ptr: ptr.cast(), len })
    }
}

impl BackendImpl for IsolatedCuda {
    fn kind(&self) -> BackendKind {
        BackendKind::Cuda
    }

    fn alloc_actor(&self, layout: &ActorLayout) -> Result<ActorMemory, LaunchError> {
        let m = SharedMapping::new(layout.total)?;
        // SAFETY: a fresh page-aligned mapping of at least `layout.total`
        // bytes that nothing else references yet.
        let parts = unsafe { layout.init(m.ptr) };
        // SAFETY: `parts` point into the mapping `m` keeps alive.
        Ok(unsafe { ActorMemory::from_parts(parts, Box::new(m)) })
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
        if program.gang.is_some() {
            return Err(LaunchError::InvalidGang("an actor with a gang cannot run in a worker process".into()));
        }
        let fd = mem.shared_fd().ok_or_else(|| start_error("the actor memory is not a shared mapping"))?;
        let module = module_path(program.entry).ok_or_else(|| {
            start_error(format!(
                "no PTX module defines the kernel entry `{}`; build it with `cargo xtask build-ptx` or point \
                 RINGKERNEL_PTX_DIR at it",
                program.entry
            ))
        })?;
        let p = mem.pointers();
        // The actor is alone in the worker's process: let a panic on the
        // device mark its control block before the kernel traps. No kernel
        // runs over this memory now (a new incarnation starts here).
        // SAFETY: the control block of `mem`, valid while `mem` lives; only
        // the host writes `flags`, and only before a launch.
        unsafe { (*p.control).flags |= FLAG_PANIC_MARK };
        let base = p.control as usize;
        let off = |q: usize| (q - base).to_string();
        let mut cmd = Command::new(&self.worker);
        cmd.arg(program.entry)
            .arg(&module)
            .arg(off(p.telemetry as usize))
            .arg(off(p.inbox as usize))
            .arg(off(p.outbox as usize))
            .arg(opts.block_size.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: between fork and exec only async-signal-safe calls (dup2,
        // prctl) on descriptors and values fixed before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd, WORKER_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        };
        let mut child = cmd.spawn().map_err(|e| LaunchError::Start {
            backend: BackendKind::Cuda,
            reason: format!("could not start {}", self.worker.display()).into(),
            source: Some(Box::new(e)),
        })?;
        let stdout = child.stdout.take().ok_or_else(|| start_error("the worker has no stdout pipe"))?;
        let shared = Arc::new(Watch { status: Mutex::new(Status::Starting), changed: Condvar::new() });
        let reader = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("rk-worker-{}", program.actor_id))
            .spawn(move || read_reports(stdout, &reader))
            .map_err(|e| LaunchError::Start {
                backend: BackendKind::Cuda,
                reason: "could not start the worker's reader thread".into(),
                source: Some(Box::new(e)),
            })?;
        Ok(Box::new(WorkerExecution { child: Mutex::new(child), watch: shared, control: ControlRef(p.control) }))
    }

    fn alloc_host_block(&self, _bytes: usize) -> Result<HostBlock, LaunchError> {
        Err(start_error("actor systems do not run in worker processes"))
    }

    fn alloc_device_block(&self, _image: &[u8]) -> Result<DeviceBlock, LaunchError> {
        Err(start_error("actor systems do not run in worker processes"))
    }

    fn start_system(
        &self,
        _program: &SystemProgram,
        _control: *const SystemControl,
    ) -> Result<Arc<dyn SystemExecution>, LaunchError> {
        Err(start_error("actor systems do not run in worker processes"))
    }
}

/// What the worker reported, as the runtime sees it.
#[derive(Clone, Debug)]
enum Status {
    /// Started, kernel not launched yet.
    Starting,
    /// The kernel runs.
    Running,
    /// The kernel returned; the worker exits.
    Finished,
    /// The kernel or the worker failed.
    Failed(ExecutionError),
}

struct Watch {
    status: Mutex<Status>,
    changed: Condvar,
}

impl Watch {
    fn set(&self, s: Status) {
        let mut st = lock(&self.status);
        if !matches!(*st, Status::Failed(_) | Status::Finished) {
            *st = s;
        }
        self.changed.notify_all();
    }
}

/// The reader thread: one line per report from the worker, until it
/// closes its stdout (exits).
fn read_reports(stdout: std::process::ChildStdout, w: &Watch) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        w.set(parse_report(&line));
    }
    // No more reports: a worker that ended without "exit ok" or a fault died.
    w.set(Status::Failed(ExecutionError::Worker { message: "the worker process ended without a report".into() }));
}

/// One report line of the worker protocol.
fn parse_report(line: &str) -> Status {
    let mut words = line.split_whitespace();
    match words.next() {
        Some("launched") => Status::Running,
        Some("exit") => Status::Finished,
        Some("fault") => {
            let code = words.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let name = words.next().unwrap_or("CUDA_ERROR_UNKNOWN").to_owned();
            let call = match words.next() {
                Some("cuStreamSynchronize") => "cuStreamSynchronize",
                Some("cuLaunchKernel") => "cuLaunchKernel",
                _ => "cuStreamSynchronize",
            };
            Status::Failed(ExecutionError::Gpu(CudaError {
                call,
                code,
                name,
                description: "reported by the actor's worker process".into(),
            }))
        }
        _ => Status::Failed(ExecutionError::Worker { message: line.to_owned() }),
    }
}

/// The actor's control block, read by the runtime's threads.
struct ControlRef(*const ControlBlock);

// SAFETY: the block lives in the actor's shared mapping, which outlives the
// execution (the actor's memory is dropped only after its execution was
// joined); it is only read, with atomic loads.
unsafe impl Send for ControlRef {}
// SAFETY: as above.
unsafe impl Sync for ControlRef {}

/// One incarnation in a worker process.
struct WorkerExecution {
    child: Mutex<Child>,
    watch: Arc<Watch>,
    control: ControlRef,
}

impl WorkerExecution {
    fn status(&self) -> Status {
        lock(&self.watch.status).clone()
    }

    /// Whether the kernel marked a panic (`FLAG_PANIC_MARK`): it traps
    /// right after, and the driver reports the trap only much later.
    fn panicked(&self) -> bool {
        // SAFETY: see `ControlRef`; the device writes `last_error` with a
        // system-scope release, read here atomically.
        let code = unsafe { AtomicU32::from_ptr((&raw const (*self.control.0).last_error).cast_mut()) }
            .load(std::sync::atomic::Ordering::Acquire);
        code == ERROR_PANICKED
    }

    fn exited(&self) -> bool {
        matches!(lock(&self.child).try_wait(), Ok(Some(_)) | Err(_))
    }
}

impl Execution for WorkerExecution {
    fn poll_fault(&self) -> Option<ExecutionError> {
        match self.status() {
            Status::Failed(e) => Some(e),
            _ if self.panicked() => Some(ExecutionError::DevicePanic),
            _ => None,
        }
    }

    fn is_finished(&self) -> bool {
        // A marked panic counts as the end: the kernel is trapping, and
        // `join` ends the worker without waiting for the driver's report.
        matches!(self.status(), Status::Failed(_) | Status::Finished) || self.panicked() || self.exited()
    }

    fn join(&self, timeout: Duration) -> Result<(), ExecutionError> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.watch.status);
        while matches!(*st, Status::Starting | Status::Running) && !self.panicked() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ExecutionError::JoinTimeout { waited: timeout });
            }
            st = self.watch.changed.wait_timeout(st, left).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
        drop(st);
        // The kernel has ended (or its worker failed): make sure the process
        // is gone too, so nothing of it touches the memory afterwards. A
        // fault stays reported by `poll_fault`; like a CPU thread that
        // panicked, the execution itself is then joined.
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
        Ok(())
    }

    fn wake(&self) {
        // The kernel polls its inbox and control block; nothing to signal.
    }
}

impl Drop for WorkerExecution {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---------------------------------------------------------------------------
// The worker side
// ---------------------------------------------------------------------------

/// The worker's arguments: entry, module path, then the telemetry, inbox
/// and outbox offsets from the control block, and the block size.
#[derive(Debug)]
struct WorkerArgs {
    entry: String,
    module: PathBuf,
    telemetry: usize,
    inbox: usize,
    outbox: usize,
    block: u32,
}

fn parse_args(args: &[String]) -> Result<WorkerArgs, String> {
    let [entry, module, tel, inbox, outbox, block] = args else {
        return Err(format!("expected 6 arguments (entry module telemetry inbox outbox block), got {}", args.len()));
    };
    let num = |s: &str, what: &str| s.parse::<usize>().map_err(|_| format!("{what} `{s}` is not a number"));
    Ok(WorkerArgs {
        entry: entry.clone(),
        module: PathBuf::from(module),
        telemetry: num(tel, "telemetry offset")?,
        inbox: num(inbox, "inbox offset")?,
        outbox: num(outbox, "outbox offset")?,
        block: u32::try_from(num(block, "block size")?).map_err(|_| "block size too large".to_string())?,
    })
}

/// The worker process's `main` (the `ringkernel-cuda-worker` binary): map
/// the actor memory from descriptor 3, register it with CUDA, launch the
/// actor's kernel over it, wait for the kernel, and report on stdout
/// (module docs). Exit status 0 when the kernel returned, 3 when it
/// faulted, 2 when the worker could not start it.
pub fn worker_main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout();
    match run_worker(&args, &mut out) {
        Ok(()) => {
            let _ = writeln!(out, "exit ok");
            ExitCode::SUCCESS
        }
        Err(WorkerError::Fault(e)) => {
            let _ = writeln!(out, "fault {} {} {}", e.code, e.name, e.call);
            ExitCode::from(3)
        }
        Err(WorkerError::Setup(why)) => {
            let _ = writeln!(out, "error {why}");
            ExitCode::from(2)
        }
    }
}

enum WorkerError {
    /// The kernel failed.
    Fault(CudaError),
    /// The kernel could not be started.
    Setup(String),
}

fn setup(what: &str) -> impl Fn(CudaError) -> WorkerError + '_ {
    move |e| WorkerError::Setup(format!("{what}: {e} ({} {})", e.name, e.code))
}

fn run_worker(args: &[String], out: &mut impl Write) -> Result<(), WorkerError> {
    let a = parse_args(args).map_err(WorkerError::Setup)?;
    let fd = WORKER_FD;
    // SAFETY: fstat on a descriptor number fills `st`; the result is checked.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(WorkerError::Setup(format!("no actor memory at fd {fd}: {}", std::io::Error::last_os_error())));
    }
    let len = usize::try_from(st.st_size).unwrap_or(0);
    if len == 0 || a.telemetry >= len || a.inbox >= len || a.outbox >= len {
        return Err(WorkerError::Setup(format!("actor memory of {len} bytes does not fit the offsets given")));
    }
    // SAFETY: maps the whole file behind fd 3; the result is checked.
    let ptr =
        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
    if ptr == libc::MAP_FAILED {
        return Err(WorkerError::Setup(format!("mmap of the actor memory: {}", std::io::Error::last_os_error())));
    }
    driver::driver_available().map_err(WorkerError::Setup)?;
    driver::init().map_err(setup("cuInit"))?;
    let ctx = Context::new(0).map_err(setup("device 0"))?;
    ctx.bind().map_err(setup("binding the context"))?;
    let flags = sys::CU_MEMHOSTREGISTER_DEVICEMAP | sys::CU_MEMHOSTREGISTER_PORTABLE;
    // SAFETY: `ptr` is a mapping of `len` bytes that stays mapped until the
    // process exits (never unmapped here); the context is current.
    driver::check("cuMemHostRegister", unsafe { sys::cuMemHostRegister_v2(ptr, len, flags) })
        .map_err(setup("registering the actor memory"))?;
    let mut dev: sys::CUdeviceptr = 0;
    // SAFETY: `ptr` was registered with DEVICEMAP just above.
    driver::check("cuMemHostGetDevicePointer", unsafe { sys::cuMemHostGetDevicePointer_v2(&mut dev, ptr, 0) })
        .map_err(setup("device address of the actor memory"))?;
    let module = load_module(&ctx, &a.module)?;
    let f = module.function(&a.entry).map_err(setup("kernel entry"))?;
    let stream = Stream::new(&ctx).map_err(setup("stream"))?;
    let params = [dev, dev + a.inbox as u64, dev + a.outbox as u64, dev + a.telemetry as u64];
    // SAFETY: `actor_kernel!` entries take (control, inbox, outbox,
    // telemetry); all four are device addresses of the registered memory,
    // which stays registered and mapped until this process exits.
    unsafe { f.launch(&stream, 1, a.block, &params, false) }.map_err(WorkerError::Fault)?;
    let _ = writeln!(out, "launched");
    let _ = out.flush();
    stream.synchronize().map_err(WorkerError::Fault)?;
    Ok(())
}

/// Load `ptx` (or the `.cubin` beside it).
fn load_module(ctx: &Context, ptx: &Path) -> Result<Module, WorkerError> {
    if let Ok(bytes) = std::fs::read(ptx.with_extension("cubin"))
        && let Ok(m) = Module::load(ctx, &bytes)
    {
        return Ok(m);
    }
    let text = std::fs::read(ptx).map_err(|e| WorkerError::Setup(format!("reading {}: {e}", ptx.display())))?;
    Module::load(ctx, &text).map_err(setup("loading the module"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse() {
        assert!(matches!(parse_report("launched"), Status::Running));
        assert!(matches!(parse_report("exit ok"), Status::Finished));
        match parse_report("fault 719 CUDA_ERROR_LAUNCH_FAILED cuStreamSynchronize") {
            Status::Failed(ExecutionError::Gpu(e)) => {
                assert_eq!((e.code, e.name.as_str(), e.call), (719, "CUDA_ERROR_LAUNCH_FAILED", "cuStreamSynchronize"));
            }
            s => panic!("{s:?}"),
        }
        assert!(matches!(parse_report("error no device"), Status::Failed(ExecutionError::Worker { .. })));
    }

    #[test]
    fn worker_args_are_checked() {
        let good: Vec<String> = ["e", "m.ptx", "128", "256", "1024", "32"].map(String::from).into();
        let a = parse_args(&good).unwrap();
        assert_eq!((a.telemetry, a.inbox, a.outbox, a.block), (128, 256, 1024, 32));
        assert!(parse_args(&good[..5]).is_err());
        let mut bad = good.clone();
        bad[3] = "x".into();
        assert!(parse_args(&bad).unwrap_err().contains("inbox offset"));
    }

    #[test]
    fn shared_mapping_is_zeroed_and_has_a_descriptor() {
        let m = SharedMapping::new(5000).unwrap();
        assert_eq!(m.len % 4096, 0);
        assert!(m.len >= 5000);
        assert!(m.shared_fd().is_some());
        // SAFETY: the mapping is `len` bytes and ours.
        let bytes = unsafe { std::slice::from_raw_parts(m.ptr, m.len) };
        assert!(bytes.iter().all(|&b| b == 0));
    }
}
