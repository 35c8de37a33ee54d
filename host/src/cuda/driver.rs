//! The safe layer over the CUDA driver API (cudarc `sys` → `result` → here).
//!
//! Every call returns `Result<_, CudaError>`; every handle is an RAII type
//! that keeps its context alive. Nothing outside `host/src/cuda` sees a raw
//! `CUdeviceptr` or `CUcontext`.
//!
//! libcuda is opened at run time (cudarc `dynamic-loading`): building and
//! running the CPU backend needs nothing from CUDA, and
//! [`driver_available`] says whether the library can be found before any
//! call that would otherwise abort the process.

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys;
use std::ffi::{CString, c_void};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A failed CUDA driver call: which call, the CUDA error by name and code,
/// and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaError {
    /// The driver function that failed (e.g. `cuModuleLoadData`).
    pub call: &'static str,
    /// The raw `CUresult` value.
    pub code: u32,
    /// The CUDA name of the error (e.g. `CUDA_ERROR_ILLEGAL_ADDRESS`).
    pub name: String,
    /// The driver's description.
    pub description: String,
}

impl CudaError {
    fn from_driver(call: &'static str, e: DriverError) -> Self {
        let name =
            e.error_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|_| "CUDA_ERROR_UNKNOWN".into());
        let description = e.error_string().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Self { call, code: e.0 as u32, name, description }
    }

    /// Whether the error is sticky: the context is unusable and must be
    /// recreated (a trap, an illegal address, a launch failure).
    pub fn is_sticky(&self) -> bool {
        matches!(
            self.name.as_str(),
            "CUDA_ERROR_ILLEGAL_ADDRESS"
                | "CUDA_ERROR_LAUNCH_FAILED"
                | "CUDA_ERROR_ILLEGAL_INSTRUCTION"
                | "CUDA_ERROR_MISALIGNED_ADDRESS"
                | "CUDA_ERROR_INVALID_ADDRESS_SPACE"
                | "CUDA_ERROR_INVALID_PC"
                | "CUDA_ERROR_HARDWARE_STACK_ERROR"
                | "CUDA_ERROR_ASSERT"
                | "CUDA_ERROR_ECC_UNCORRECTABLE"
        )
    }

    fn hint(&self) -> &'static str {
        match self.name.as_str() {
            "CUDA_ERROR_NO_DEVICE" => " (no CUDA device is visible; use Backend::Cpu or Backend::Auto)",
            "CUDA_ERROR_INVALID_PTX" | "CUDA_ERROR_NO_BINARY_FOR_GPU" | "CUDA_ERROR_UNSUPPORTED_PTX_VERSION" => {
                " (rebuild the kernels for this GPU: `cargo xtask build-ptx --arch sm_XX`)"
            }
            "CUDA_ERROR_NOT_FOUND" => " (the PTX module has no such entry; is the actor wrapped in `actor_kernel!`?)",
            "CUDA_ERROR_INSUFFICIENT_DRIVER" => " (the driver is older than CUDA 13.0; update the NVIDIA driver)",
            _ if self.is_sticky() => " (the GPU context is poisoned; it must be recreated)",
            _ => "",
        }
    }
}

impl fmt::Display for CudaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {} ({}): {}{}", self.call, self.name, self.code, self.description, self.hint())
    }
}

impl std::error::Error for CudaError {}

pub(crate) fn check(call: &'static str, r: sys::CUresult) -> Result<(), CudaError> {
    r.result().map_err(|e| CudaError::from_driver(call, e))
}

/// Whether libcuda can be loaded on this machine. `Err` says why not.
pub fn driver_available() -> Result<(), String> {
    // SAFETY: only probes the file system for the library; no CUDA call.
    if unsafe { sys::is_culib_present() } {
        Ok(())
    } else {
        Err("libcuda (the NVIDIA driver library) was not found on this machine".into())
    }
}

/// Initialise the driver and return the driver version (e.g. 13000).
pub fn init() -> Result<i32, CudaError> {
    driver_available().map_err(|d| CudaError {
        call: "dlopen(libcuda)",
        code: sys::CUresult::CUDA_ERROR_NOT_INITIALIZED as u32,
        name: "CUDA_ERROR_NOT_INITIALIZED".into(),
        description: d,
    })?;
    result::init().map_err(|e| CudaError::from_driver("cuInit", e))?;
    let mut v = 0;
    // SAFETY: `v` is a valid out-pointer.
    check("cuDriverGetVersion", unsafe { sys::cuDriverGetVersion(&mut v) })?;
    Ok(v)
}

/// Free and total device memory of the context's device, in bytes.
pub fn mem_info(ctx: &Context) -> Result<(usize, usize), CudaError> {
    ctx.bind()?;
    result::mem_get_info().map_err(|e| CudaError::from_driver("cuMemGetInfo", e))
}

/// Facts about one GPU.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// Ordinal.
    pub ordinal: i32,
    /// Marketing name.
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Streaming multiprocessors.
    pub multiprocessors: i32,
    /// Whether cooperative launches are supported.
    pub cooperative_launch: bool,
    /// Whether host memory can be mapped into the device address space.
    pub can_map_host_memory: bool,
    /// Driver version (e.g. 13000).
    pub driver_version: i32,
}

fn attribute(dev: sys::CUdevice, a: sys::CUdevice_attribute) -> Result<i32, CudaError> {
    // SAFETY: `dev` came from cuDeviceGet.
    unsafe { result::device::get_attribute(dev, a) }.map_err(|e| CudaError::from_driver("cuDeviceGetAttribute", e))
}

/// Number of visible devices (0 when the driver reports none).
pub fn device_count() -> Result<i32, CudaError> {
    result::device::get_count().map_err(|e| CudaError::from_driver("cuDeviceGetCount", e))
}

struct ContextInner {
    ctx: sys::CUcontext,
    dev: sys::CUdevice,
}

// SAFETY: a CUcontext handle may be used from any thread once made current
// there (`Context::bind`); the driver synchronises internally.
unsafe impl Send for ContextInner {}
// SAFETY: as above.
unsafe impl Sync for ContextInner {}

impl Drop for ContextInner {
    fn drop(&mut self) {
        // SAFETY: we retained the primary context in `Context::new`; every
        // object using it holds an Arc to us, so none is left.
        let _ = unsafe { result::primary_ctx::release(self.dev) };
    }
}

/// The primary context of one device, retained for as long as any clone or
/// any object made from it lives.
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
    info: Arc<DeviceInfo>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("device", &self.info.name).finish()
    }
}

impl Context {
    /// Retain the primary context of device `ordinal`.
    pub fn new(ordinal: i32) -> Result<Self, CudaError> {
        let driver_version = init()?;
        let dev = result::device::get(ordinal).map_err(|e| CudaError::from_driver("cuDeviceGet", e))?;
        let name = result::device::get_name(dev).map_err(|e| CudaError::from_driver("cuDeviceGetName", e))?;
        use sys::CUdevice_attribute as A;
        let info = DeviceInfo {
            ordinal,
            name,
            compute_capability: (
                attribute(dev, A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
                attribute(dev, A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
            ),
            multiprocessors: attribute(dev, A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?,
            cooperative_launch: attribute(dev, A::CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH)? != 0,
            can_map_host_memory: attribute(dev, A::CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY)? != 0,
            driver_version,
        };
        // SAFETY: `dev` is a valid device; released in ContextInner::drop.
        let ctx = unsafe { result::primary_ctx::retain(dev) }
            .map_err(|e| CudaError::from_driver("cuDevicePrimaryCtxRetain", e))?;
        let c = Self { inner: Arc::new(ContextInner { ctx, dev }), info: Arc::new(info) };
        c.bind()?;
        Ok(c)
    }

    /// Make the context current on the calling thread (cheap; call before
    /// any driver work on a thread that may not have it).
    pub fn bind(&self) -> Result<(), CudaError> {
        // SAFETY: the context is retained for our lifetime.
        check("cuCtxSetCurrent", unsafe { sys::cuCtxSetCurrent(self.inner.ctx) })
    }

    /// The device.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// Wait for all work in the context; reports a sticky error if a kernel
    /// faulted.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.bind()?;
        // SAFETY: context bound above.
        check("cuCtxSynchronize", unsafe { sys::cuCtxSynchronize() })
    }

    /// Reset the device's primary context: destroys every allocation, module
    /// and stream in it. The way out of a sticky error.
    ///
    /// # Safety
    /// No object created from this context may be used afterwards (their
    /// drops are harmless: the driver ignores stale handles).
    pub unsafe fn reset(&self) -> Result<(), CudaError> {
        // SAFETY: caller promises nothing made from the context is used again.
        check("cuDevicePrimaryCtxReset", unsafe { sys::cuDevicePrimaryCtxReset_v2(self.inner.dev) })
    }
}

/// Page-locked host memory mapped into the device's address space
/// (`cuMemHostAlloc` with `DEVICEMAP | PORTABLE`), zero-filled.
pub struct MappedBuffer {
    ctx: Context,
    host: *mut u8,
    device: u64,
    len: usize,
}

// SAFETY: the buffer is plain memory; concurrent access is governed by the
// ring/control-block protocols of whoever uses it.
unsafe impl Send for MappedBuffer {}
// SAFETY: as above.
unsafe impl Sync for MappedBuffer {}

impl MappedBuffer {
    /// Allocate `len` bytes (page-aligned by the driver).
    pub fn new(ctx: &Context, len: usize) -> Result<Self, CudaError> {
        ctx.bind()?;
        let flags = sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE;
        // SAFETY: context bound; the returned memory is owned by `Self`.
        let host = unsafe { result::malloc_host(len, flags) }
            .map_err(|e| CudaError::from_driver("cuMemHostAlloc", e))? as *mut u8;
        // SAFETY: `host` points to `len` writable bytes.
        unsafe { std::ptr::write_bytes(host, 0, len) };
        let mut device: sys::CUdeviceptr = 0;
        // SAFETY: `host` came from cuMemHostAlloc with DEVICEMAP.
        let r = unsafe { sys::cuMemHostGetDevicePointer_v2(&mut device, host as *mut c_void, 0) };
        if let Err(e) = check("cuMemHostGetDevicePointer", r) {
            // SAFETY: allocated above, not shared.
            let _ = unsafe { result::free_host(host as *mut c_void) };
            return Err(e);
        }
        Ok(Self { ctx: ctx.clone(), host, device, len })
    }

    /// Host address of byte 0.
    pub fn host_ptr(&self) -> *mut u8 {
        self.host
    }

    /// Device address of byte 0 (what a kernel parameter gets).
    pub fn device_addr(&self) -> u64 {
        self.device
    }

    /// Device address of the byte at host address `p` inside this buffer.
    pub fn device_addr_of<T>(&self, p: *const T) -> u64 {
        let off = (p as usize).wrapping_sub(self.host as usize);
        assert!(off < self.len, "pointer outside the mapped buffer");
        self.device + off as u64
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for MappedBuffer {
    fn drop(&mut self) {
        let _ = self.ctx.bind();
        // SAFETY: allocated by cuMemHostAlloc in `new`; no kernel uses it any
        // more (owners drop buffers only after their kernels are joined).
        let _ = unsafe { result::free_host(self.host as *mut c_void) };
    }
}

/// Device memory (`cuMemAlloc`), zero-filled at allocation.
///
/// Allocating, filling and freeing device memory may synchronise the
/// context: do it while no persistent kernel spins.
pub struct DeviceBuffer {
    ctx: Context,
    ptr: u64,
    len: usize,
}

// SAFETY: a device address and a length; access goes through driver calls.
unsafe impl Send for DeviceBuffer {}
// SAFETY: as above.
unsafe impl Sync for DeviceBuffer {}

impl DeviceBuffer {
    /// Allocate `len` bytes (at least 1) and fill them with zeros.
    pub fn new(ctx: &Context, len: usize) -> Result<Self, CudaError> {
        ctx.bind()?;
        // SAFETY: context bound; the allocation is owned by `Self`.
        let ptr = unsafe { result::malloc_sync(len.max(1)) }.map_err(|e| CudaError::from_driver("cuMemAlloc", e))?;
        let buf = Self { ctx: ctx.clone(), ptr, len };
        // SAFETY: `ptr` is a fresh allocation of `len` bytes.
        unsafe { result::memset_d8_sync(ptr, 0, len) }.map_err(|e| CudaError::from_driver("cuMemsetD8", e))?;
        Ok(buf)
    }

    /// Device address of byte 0.
    pub fn device_addr(&self) -> u64 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Set every byte to zero.
    pub fn zero(&self) -> Result<(), CudaError> {
        self.ctx.bind()?;
        // SAFETY: the whole allocation, which `self` owns.
        unsafe { result::memset_d8_sync(self.ptr, 0, self.len) }.map_err(|e| CudaError::from_driver("cuMemsetD8", e))
    }

    /// Copy `bytes` to offset `at`.
    pub fn write(&self, at: usize, bytes: &[u8]) -> Result<(), CudaError> {
        assert!(at.checked_add(bytes.len()).is_some_and(|end| end <= self.len), "write outside the buffer");
        self.ctx.bind()?;
        // SAFETY: the range is inside the allocation (asserted above).
        unsafe { result::memcpy_htod_sync(self.ptr + at as u64, bytes) }
            .map_err(|e| CudaError::from_driver("cuMemcpyHtoD", e))
    }

    /// Copy `out.len()` bytes from offset `at`.
    pub fn read(&self, at: usize, out: &mut [u8]) -> Result<(), CudaError> {
        assert!(at.checked_add(out.len()).is_some_and(|end| end <= self.len), "read outside the buffer");
        self.ctx.bind()?;
        // SAFETY: the range is inside the allocation (asserted above).
        unsafe { result::memcpy_dtoh_sync(out, self.ptr + at as u64) }
            .map_err(|e| CudaError::from_driver("cuMemcpyDtoH", e))
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        let _ = self.ctx.bind();
        // SAFETY: allocated in `new`; kernels using it were synchronised by
        // their owners before the drop.
        let _ = unsafe { result::free_sync(self.ptr) };
    }
}

/// A loaded module (PTX text or cubin).
///
/// Load modules, and look up their functions, before launching persistent
/// kernels in the same context: loading code may need a context
/// synchronisation, which a spinning persistent kernel never lets complete.
pub struct Module {
    ctx: Context,
    module: sys::CUmodule,
}

// SAFETY: module handles are usable from any thread with the context bound.
unsafe impl Send for Module {}
// SAFETY: as above.
unsafe impl Sync for Module {}

impl Module {
    /// Load a module image: PTX text (JIT-compiled by the driver) or a cubin.
    pub fn load(ctx: &Context, image: &[u8]) -> Result<Self, CudaError> {
        ctx.bind()?;
        // PTX must be NUL-terminated; a cubin is passed as is.
        let mut owned;
        let data = if image.starts_with(b"\x7fELF") {
            image
        } else {
            owned = image.to_vec();
            owned.push(0);
            &owned[..]
        };
        // SAFETY: `data` is a complete PTX string or ELF image that outlives the call.
        let module = unsafe { result::module::load_data(data.as_ptr() as *const c_void) }
            .map_err(|e| CudaError::from_driver("cuModuleLoadData", e))?;
        Ok(Self { ctx: ctx.clone(), module })
    }

    /// Look up a kernel entry.
    pub fn function(&self, name: &str) -> Result<Function<'_>, CudaError> {
        self.ctx.bind()?;
        let cname = CString::new(name).map_err(|_| CudaError {
            call: "cuModuleGetFunction",
            code: sys::CUresult::CUDA_ERROR_INVALID_VALUE as u32,
            name: "CUDA_ERROR_INVALID_VALUE".into(),
            description: format!("kernel name {name:?} contains a NUL byte"),
        })?;
        // SAFETY: the module is loaded and lives as long as the returned borrow.
        let f = unsafe { result::module::get_function(self.module, cname) }
            .map_err(|e| CudaError::from_driver("cuModuleGetFunction", e))?;
        // Load the code now. Under lazy loading (the default since CUDA
        // 12.2) a kernel is otherwise loaded at its first launch, which may
        // need a context synchronisation, and that never completes while a
        // persistent kernel of the context is spinning.
        // SAFETY: `f` is a valid function of a loaded module.
        check("cuFuncLoad", unsafe { sys::cuFuncLoad(f) })?;
        Ok(Function { f, _m: self })
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        let _ = self.ctx.bind();
        // SAFETY: loaded in `load`; kernels launched from it were joined by
        // their owners before the module is dropped.
        let _ = unsafe { result::module::unload(self.module) };
    }
}

/// A kernel entry of a loaded [`Module`].
#[derive(Clone, Copy)]
pub struct Function<'m> {
    f: sys::CUfunction,
    _m: &'m Module,
}

impl Function<'_> {
    /// Blocks of `block_size` threads that fit on one SM at once.
    pub fn max_active_blocks_per_sm(&self, block_size: u32) -> Result<u32, CudaError> {
        // SAFETY: valid function handle.
        let n = unsafe { result::occupancy::max_active_block_per_multiprocessor(self.f, block_size as i32, 0) }
            .map_err(|e| CudaError::from_driver("cuOccupancyMaxActiveBlocksPerMultiprocessor", e))?;
        Ok(n as u32)
    }

    /// Launch on `stream` with one `u64` (a device address or plain value)
    /// per kernel parameter.
    ///
    /// # Safety
    /// `params` must match the entry's parameter list, and every address in
    /// it must stay valid until the kernel has finished.
    pub unsafe fn launch(
        &self,
        stream: &Stream,
        grid: u32,
        block: u32,
        params: &[u64],
        cooperative: bool,
    ) -> Result<(), CudaError> {
        stream.ctx.bind()?;
        let mut vals: Vec<u64> = params.to_vec();
        let mut ptrs: Vec<*mut c_void> = vals.iter_mut().map(|v| v as *mut u64 as *mut c_void).collect();
        let r = if cooperative {
            // SAFETY: caller's contract; `ptrs` points at `vals`, alive across the call.
            unsafe { result::launch_cooperative_kernel(self.f, (grid, 1, 1), (block, 1, 1), 0, stream.s, &mut ptrs) }
        } else {
            // SAFETY: as above.
            unsafe { result::launch_kernel(self.f, (grid, 1, 1), (block, 1, 1), 0, stream.s, &mut ptrs) }
        };
        r.map_err(|e| {
            CudaError::from_driver(if cooperative { "cuLaunchCooperativeKernel" } else { "cuLaunchKernel" }, e)
        })
    }
}

/// A non-blocking stream.
pub struct Stream {
    ctx: Context,
    s: sys::CUstream,
}

// SAFETY: stream handles are usable from any thread with the context bound.
unsafe impl Send for Stream {}
// SAFETY: as above.
unsafe impl Sync for Stream {}

/// What [`Stream::query`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Work is still running.
    Busy,
    /// All work finished.
    Idle,
}

impl Stream {
    /// Create a stream that does not synchronise with the legacy stream.
    pub fn new(ctx: &Context) -> Result<Self, CudaError> {
        ctx.bind()?;
        let s = result::stream::create(result::stream::StreamKind::NonBlocking)
            .map_err(|e| CudaError::from_driver("cuStreamCreate", e))?;
        Ok(Self { ctx: ctx.clone(), s })
    }

    /// Non-blocking check: busy, idle, or the (sticky) error a kernel hit.
    pub fn query(&self) -> Result<StreamState, CudaError> {
        self.ctx.bind()?;
        // SAFETY: valid stream.
        match unsafe { sys::cuStreamQuery(self.s) } {
            sys::CUresult::CUDA_SUCCESS => Ok(StreamState::Idle),
            sys::CUresult::CUDA_ERROR_NOT_READY => Ok(StreamState::Busy),
            e => Err(CudaError::from_driver("cuStreamQuery", DriverError(e))),
        }
    }

    /// Block until the stream's work is done.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.ctx.bind()?;
        // SAFETY: valid stream.
        check("cuStreamSynchronize", unsafe { sys::cuStreamSynchronize(self.s) })
    }

    /// Wait up to `timeout` for the stream to go idle, polling with a
    /// sleeping back-off (never blocks the driver on a persistent kernel).
    pub fn wait_idle(&self, timeout: Duration) -> Result<bool, CudaError> {
        let deadline = Instant::now() + timeout;
        let mut nap = Duration::from_micros(20);
        loop {
            if self.query()? == StreamState::Idle {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(2));
        }
    }

    /// Capture the work `record` enqueues on this stream into a graph.
    pub fn capture(&self, record: impl FnOnce(&Stream) -> Result<(), CudaError>) -> Result<Graph, CudaError> {
        self.ctx.bind()?;
        // SAFETY: valid stream; capture ended below on every path.
        unsafe { result::stream::begin_capture(self.s, sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) }
            .map_err(|e| CudaError::from_driver("cuStreamBeginCapture", e))?;
        let recorded = record(self);
        // SAFETY: capture begun above.
        let graph = unsafe { result::stream::end_capture(self.s) }
            .map_err(|e| CudaError::from_driver("cuStreamEndCapture", e))?;
        recorded?;
        // SAFETY: `graph` is a valid, captured graph.
        let exec = unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) };
        // SAFETY: the executable graph keeps what it needs; the template can go.
        let _ = unsafe { result::graph::destroy(graph) };
        let exec = exec.map_err(|e| CudaError::from_driver("cuGraphInstantiate", e))?;
        Ok(Graph { ctx: self.ctx.clone(), exec })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let _ = self.ctx.bind();
        // SAFETY: created in `new`; destroying a stream with work pending is
        // allowed (the driver finishes the work first).
        let _ = unsafe { result::stream::destroy(self.s) };
    }
}

/// An instantiated CUDA graph.
pub struct Graph {
    ctx: Context,
    exec: sys::CUgraphExec,
}

// SAFETY: graph-exec handles are usable from any thread with the context bound.
unsafe impl Send for Graph {}

impl Graph {
    /// Replay the graph on `stream`.
    pub fn launch(&self, stream: &Stream) -> Result<(), CudaError> {
        self.ctx.bind()?;
        // SAFETY: valid graph exec and stream of the same context.
        unsafe { result::graph::launch(self.exec, stream.s) }.map_err(|e| CudaError::from_driver("cuGraphLaunch", e))
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        let _ = self.ctx.bind();
        // SAFETY: instantiated in `Stream::capture`.
        let _ = unsafe { result::graph::exec_destroy(self.exec) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_names_call_code_and_hint() {
        let e = CudaError {
            call: "cuModuleLoadData",
            code: 218,
            name: "CUDA_ERROR_INVALID_PTX".into(),
            description: "a PTX JIT compilation failed".into(),
        };
        let s = e.to_string();
        assert!(s.contains("cuModuleLoadData failed: CUDA_ERROR_INVALID_PTX (218)"), "{s}");
        assert!(s.contains("cargo xtask build-ptx"), "{s}");
        assert!(!e.is_sticky());
        let trap = CudaError { name: "CUDA_ERROR_LAUNCH_FAILED".into(), ..e };
        assert!(trap.is_sticky());
        assert!(trap.to_string().contains("poisoned"));
    }
}
