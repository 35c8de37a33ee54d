//! The batch GPU engine (feature `gpu`): the field in device memory, one
//! kernel launch per time step — the baseline the persistent actors are
//! measured against, and a second implementation checked against the CPU
//! reference (`tests/gpu_agreement.rs`).
//!
//! [`GpuBatch`] loads the kernels of `src/kernels.rs` (`cargo xtask
//! build-ptx` writes them to `target/ptx/ringkernel_wavesim.ptx` and, with
//! ptxas, `.cubin`), allocates two fields and a row-sum buffer on device 0,
//! and drives them through the public `ringkernel::cuda::driver` layer. The
//! driver library is opened at run time, so this module builds everywhere;
//! on a machine without a GPU, without the driver, or without the PTX,
//! [`GpuBatch::new`] returns a [`GpuError`] that says which and what to do.
//!
//! | operation | device work | host waits? |
//! | --- | --- | --- |
//! | [`GpuBatch::advance`] | `n` launches of `wavesim_step`, buffers swapped between them | no (queued on the stream) |
//! | [`GpuBatch::inject`] | one `wavesim_inject` launch | no |
//! | [`GpuBatch::energy`] | one `wavesim_energy` launch, `16·ny·nz` bytes read back, summed on the host | yes |
//! | [`GpuBatch::upload`] / [`GpuBatch::download`] | copies of both fields | yes |
//! | [`GpuBatch::synchronize`] | — | yes: reports a kernel fault |
//! | [`GpuBatch::copy_bandwidth`] | `wavesim_copy` launches between two scratch buffers | yes: times them |
//!
//! The kernels are searched for, in order, in `$RINGKERNEL_PTX_DIR`,
//! `target/ptx` under the working directory, `ptx/` beside the executable
//! and one folder up (the GPU bundle's layout), and this workspace's
//! `target/ptx`; a `.cubin` beside the `.ptx` is preferred, and the PTX is
//! JIT-compiled by the driver when the cubin is for another GPU.
//!
//! [`GpuBatch`] also implements [`Field`], so [`crate::actor::handle`] can
//! drive it with commands exactly as it drives the CPU field. The trait's
//! methods cannot return errors: the first failure is kept
//! ([`GpuBatch::error`]), every later operation does nothing, and the energy
//! reads NaN, so a caller checks `error()` after a batch of commands.
//!
//! **Stream ordering.** Kernels run on one non-blocking stream; the copies of
//! `DeviceBuffer::read`/`write` run on the legacy stream, which that stream
//! does not wait for. So every copy is preceded by a stream synchronisation,
//! and every upload followed by a context synchronisation (a copy from
//! pageable memory may return before it has landed).

use std::fmt;
use std::format;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::Instant;
use std::vec;
use std::vec::Vec;

use ringkernel::cuda::driver::{self, Context, CudaError, DeviceBuffer, Module, Stream};

use crate::actor::Field;
use crate::batch::{
    self, COPY_BLOCK, Chunk, ENERGY_BLOCK, INJECT_BLOCK, INJECT_BLOCKS, STEP_BLOCK_THREADS, StepGeometry,
};
use crate::fdtd::Coeffs;
use crate::grid::GridDims;

/// File stem of the kernels' PTX and cubin (the crate's library name).
pub const MODULE_STEM: &str = "ringkernel_wavesim";

/// The kernel entries the engine needs.
pub const ENTRIES: [&str; 3] = ["wavesim_step", "wavesim_inject", "wavesim_energy"];

/// The device-to-device copy kernel [`GpuBatch::copy_bandwidth`] times (the
/// driver layer has no device-to-device copy of its own). Not in
/// [`ENTRIES`]: the simulation runs without it.
pub const COPY_ENTRY: &str = "wavesim_copy";

/// Why the GPU engine cannot start or could not go on.
#[derive(Debug)]
pub enum GpuError {
    /// There is no usable GPU here: no driver library, the driver failed to
    /// start, or it sees no device.
    Unavailable {
        /// What is missing.
        reason: String,
        /// The driver's error, when a call failed.
        source: Option<CudaError>,
    },
    /// None of the folders searched holds `ringkernel_wavesim.ptx`.
    NoKernels {
        /// The folders searched, in order.
        looked_in: Vec<PathBuf>,
    },
    /// The kernel file was found but could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A driver call failed while loading, allocating, launching or copying.
    Cuda {
        /// What the engine was doing.
        what: String,
        /// The driver's error (with the call, the CUDA code and a hint).
        source: CudaError,
    },
    /// An earlier operation failed (see [`GpuBatch::error`]); the engine
    /// does nothing more.
    Poisoned,
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { reason, source: None } => {
                write!(f, "no CUDA GPU is usable here: {reason}; the CPU engines need none")
            }
            Self::Unavailable { reason, source: Some(e) } => {
                write!(f, "no CUDA GPU is usable here: {reason} ({e}); the CPU engines need none")
            }
            Self::NoKernels { looked_in } => {
                let dirs: Vec<String> = looked_in.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "the WaveSim GPU kernels ({MODULE_STEM}.ptx) were not found (looked in: {}); build them with \
                     `cargo xtask build-ptx` or point RINGKERNEL_PTX_DIR at the folder holding them",
                    dirs.join(", ")
                )
            }
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Cuda { what, source } => write!(f, "{what}: {source}"),
            Self::Poisoned => f.write_str("an earlier GPU operation failed; this engine does nothing more"),
        }
    }
}

impl std::error::Error for GpuError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable { source: Some(e), .. } | Self::Cuda { source: e, .. } => Some(e),
            Self::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn cuda(what: impl Into<String>) -> impl FnOnce(CudaError) -> GpuError {
    let what = what.into();
    move |source| GpuError::Cuda { what, source }
}

/// Where the kernels are looked for, in order (see the module doc): the
/// runtime's PTX search path, then this workspace's `target/ptx`.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = ringkernel::cuda::ptx_search_path();
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ptx"));
    dirs
}

/// Loads the first `ringkernel_wavesim.cubin` / `.ptx` of `dirs`: the cubin
/// when the GPU takes it, else the PTX (JIT-compiled). Returns the module and
/// the file it came from.
fn load_module(ctx: &Context, dirs: &[PathBuf]) -> Result<(Module, PathBuf), GpuError> {
    let Some(ptx) = dirs.iter().map(|d| d.join(format!("{MODULE_STEM}.ptx"))).find(|p| p.is_file()) else {
        return Err(GpuError::NoKernels { looked_in: dirs.to_vec() });
    };
    let cubin = ptx.with_extension("cubin");
    if let Ok(bytes) = std::fs::read(&cubin) {
        match Module::load(ctx, &bytes) {
            Ok(m) => return Ok((m, cubin)),
            // A cubin for another GPU: JIT the PTX instead.
            Err(e) if e.name == "CUDA_ERROR_NO_BINARY_FOR_GPU" || e.name == "CUDA_ERROR_INVALID_IMAGE" => {}
            Err(e) => return Err(cuda(format!("loading {}", cubin.display()))(e)),
        }
    }
    let text = std::fs::read(&ptx).map_err(|source| GpuError::Read { path: ptx.clone(), source })?;
    let module = Module::load(ctx, &text).map_err(cuda(format!("loading {}", ptx.display())))?;
    Ok((module, ptx))
}

/// The WaveSim field on the GPU, stepped by one kernel launch per time step.
/// See the module doc.
pub struct GpuBatch {
    dims: GridDims,
    // `Drop` synchronises the stream before any of these is freed.
    stream: Stream,
    cur: DeviceBuffer,
    prev: DeviceBuffer,
    rows: DeviceBuffer,
    module: Module,
    ctx: Context,
    source: PathBuf,
    row_scratch: Vec<f64>,
    saved: Option<(Vec<f32>, Vec<f32>)>,
    error: Option<GpuError>,
}

impl fmt::Debug for GpuBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuBatch")
            .field("dims", &self.dims)
            .field("device", &self.ctx.info().name)
            .field("kernels", &self.source)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl GpuBatch {
    /// A field at rest (all zero) on device 0, kernels from [`search_path`].
    pub fn new(dims: GridDims) -> Result<Self, GpuError> {
        Self::with_search_path(dims, &search_path())
    }

    /// As [`GpuBatch::new`], with the kernels looked for in `dirs` only.
    pub fn with_search_path(dims: GridDims, dirs: &[PathBuf]) -> Result<Self, GpuError> {
        driver::driver_available().map_err(|reason| GpuError::Unavailable { reason, source: None })?;
        driver::init().map_err(|e| GpuError::Unavailable {
            reason: "the CUDA driver could not be initialised".into(),
            source: Some(e),
        })?;
        let n = driver::device_count().map_err(|e| GpuError::Unavailable {
            reason: "the CUDA driver could not count devices".into(),
            source: Some(e),
        })?;
        if n == 0 {
            return Err(GpuError::Unavailable { reason: "the CUDA driver reports no device".into(), source: None });
        }
        let ctx = Context::new(0)
            .map_err(|e| GpuError::Unavailable { reason: "device 0 could not be opened".into(), source: Some(e) })?;
        let (module, source) = load_module(&ctx, dirs)?;
        for entry in ENTRIES {
            module.function(entry).map_err(cuda(format!(
                "kernel `{entry}` of {} (rebuild with `cargo xtask build-ptx`)",
                source.display()
            )))?;
        }
        let bytes = dims.cells() * size_of::<f32>();
        let cur = DeviceBuffer::new(&ctx, bytes).map_err(cuda("allocating the current field"))?;
        let prev = DeviceBuffer::new(&ctx, bytes).map_err(cuda("allocating the previous field"))?;
        let rows = DeviceBuffer::new(&ctx, batch::energy_rows_len(dims) * size_of::<f64>())
            .map_err(cuda("allocating the energy row sums"))?;
        let stream = Stream::new(&ctx).map_err(cuda("creating a stream"))?;
        Ok(Self {
            dims,
            stream,
            cur,
            prev,
            rows,
            module,
            ctx,
            source,
            row_scratch: vec![0.0; batch::energy_rows_len(dims)],
            saved: None,
            error: None,
        })
    }

    /// The grid size.
    pub fn dims(&self) -> GridDims {
        self.dims
    }

    /// The GPU's name (e.g. `NVIDIA H100 80GB HBM3`).
    pub fn device_name(&self) -> &str {
        &self.ctx.info().name
    }

    /// The kernel file loaded (a `.cubin`, or a `.ptx` JIT-compiled by the driver).
    pub fn kernel_file(&self) -> &Path {
        &self.source
    }

    /// The first failure of a [`Field`] method, if any (the engine has done
    /// nothing since).
    pub fn error(&self) -> Option<&GpuError> {
        self.error.as_ref()
    }

    /// Takes the first failure of a [`Field`] method out, for a caller that
    /// reports it; the engine stays stopped ([`GpuBatch::error`] reads
    /// [`GpuError::Poisoned`] from then on).
    pub fn take_error(&mut self) -> Option<GpuError> {
        match self.error.replace(GpuError::Poisoned) {
            Some(e) => Some(e),
            None => {
                self.error = None;
                None
            }
        }
    }

    fn check_ok(&self) -> Result<(), GpuError> {
        if self.error.is_some() { Err(GpuError::Poisoned) } else { Ok(()) }
    }

    /// Queues `steps` time steps with `coeffs`. Returns once they are
    /// queued; [`GpuBatch::synchronize`] waits for them.
    pub fn advance(&mut self, steps: u32, coeffs: Coeffs) -> Result<(), GpuError> {
        self.check_ok()?;
        let (nx, ny, nz) = (self.dims.nx(), self.dims.ny(), self.dims.nz());
        let blocks = StepGeometry::new(self.dims).blocks();
        let step = self.module.function("wavesim_step").map_err(cuda("looking up wavesim_step"))?;
        for _ in 0..steps {
            let params = [
                self.cur.device_addr(),
                self.prev.device_addr(),
                u64::from(nx),
                u64::from(ny),
                u64::from(nz),
                u64::from(coeffs.courant2.to_bits()),
                u64::from(coeffs.keep.to_bits()),
            ];
            // SAFETY: the parameters are `wavesim_step`'s (src/kernels.rs):
            // two distinct device buffers of `dims.cells()` f32s that `self`
            // owns and frees only after synchronising the stream (`Drop`),
            // the sides of a checked `GridDims`, and the launch is the
            // geometry's block count of 256 threads.
            unsafe { step.launch(&self.stream, blocks, STEP_BLOCK_THREADS, &params, false) }
                .map_err(cuda("launching wavesim_step"))?;
            std::mem::swap(&mut self.cur, &mut self.prev);
        }
        Ok(())
    }

    /// Queues the injection of a bump of peak `value` at interior cell `pos`
    /// (to both time levels), as [`crate::fdtd::inject_bump`] does.
    ///
    /// # Panics
    /// If `pos` is not an interior cell (the protocol refuses such commands
    /// before they get here).
    pub fn inject(&mut self, pos: [u32; 3], value: f32) -> Result<(), GpuError> {
        assert!(self.dims.is_interior(pos), "impulse position {pos:?} is not an interior cell");
        self.check_ok()?;
        let f = self.module.function("wavesim_inject").map_err(cuda("looking up wavesim_inject"))?;
        let params = [
            self.cur.device_addr(),
            self.prev.device_addr(),
            u64::from(self.dims.nx()),
            u64::from(self.dims.ny()),
            u64::from(self.dims.nz()),
            u64::from(pos[0]),
            u64::from(pos[1]),
            u64::from(pos[2]),
            u64::from(value.to_bits()),
        ];
        // SAFETY: `wavesim_inject`'s parameters: the two field buffers (owned,
        // alive until the stream is synchronised), the checked grid's sides,
        // an interior position; threads write distinct cells.
        unsafe { f.launch(&self.stream, INJECT_BLOCKS, INJECT_BLOCK, &params, false) }
            .map_err(cuda("launching wavesim_inject"))
    }

    /// The discrete energy of the present field pair (see [`crate::fdtd`]),
    /// summed per row on the GPU and per plane on the host
    /// ([`batch::energy_from_rows`]). Waits for the queued work.
    pub fn energy(&mut self, courant2: f32) -> Result<f64, GpuError> {
        self.check_ok()?;
        let d = self.dims;
        let f = self.module.function("wavesim_energy").map_err(cuda("looking up wavesim_energy"))?;
        let params = [
            self.cur.device_addr(),
            self.prev.device_addr(),
            u64::from(d.nx()),
            u64::from(d.ny()),
            u64::from(d.nz()),
            self.rows.device_addr(),
        ];
        // SAFETY: `wavesim_energy`'s parameters: the field buffers (read only
        // here) and the row buffer of `2·ny·nz` f64s, all owned by `self`;
        // blocks of 256 threads (a multiple of 32).
        unsafe { f.launch(&self.stream, batch::energy_blocks(d), ENERGY_BLOCK, &params, false) }
            .map_err(cuda("launching wavesim_energy"))?;
        self.stream.synchronize().map_err(cuda("waiting for wavesim_energy"))?;
        self.rows
            .read(0, bytemuck::cast_slice_mut(&mut self.row_scratch))
            .map_err(cuda("reading the energy row sums"))?;
        Ok(batch::energy_from_rows(&self.row_scratch, d, courant2))
    }

    /// Waits for every queued kernel; a kernel fault shows up here.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.check_ok()?;
        self.stream.synchronize().map_err(cuda("waiting for the WaveSim kernels"))
    }

    /// Replaces both fields (current, previous), each `dims.cells()` long.
    ///
    /// # Panics
    /// If a slice has another length.
    pub fn upload(&mut self, cur: &[f32], prev: &[f32]) -> Result<(), GpuError> {
        assert!(cur.len() == self.dims.cells() && prev.len() == self.dims.cells(), "field length");
        self.synchronize()?;
        self.cur.write(0, bytemuck::cast_slice(cur)).map_err(cuda("copying the current field to the GPU"))?;
        self.prev.write(0, bytemuck::cast_slice(prev)).map_err(cuda("copying the previous field to the GPU"))?;
        // The copies ran on the legacy stream: let them land before the
        // next kernel on ours.
        self.ctx.synchronize().map_err(cuda("finishing the copies to the GPU"))
    }

    /// Copies both fields (current, previous) back, each `dims.cells()` long.
    /// Waits for the queued work first.
    ///
    /// # Panics
    /// If a slice has another length.
    pub fn download(&self, cur: &mut [f32], prev: &mut [f32]) -> Result<(), GpuError> {
        assert!(cur.len() == self.dims.cells() && prev.len() == self.dims.cells(), "field length");
        self.synchronize()?;
        self.cur.read(0, bytemuck::cast_slice_mut(cur)).map_err(cuda("copying the current field back"))?;
        self.prev.read(0, bytemuck::cast_slice_mut(prev)).map_err(cuda("copying the previous field back"))
    }

    /// The current pressure, copied back (x fastest).
    pub fn pressure(&self) -> Result<Vec<f32>, GpuError> {
        let mut cur = vec![0.0; self.dims.cells()];
        self.synchronize()?;
        self.cur.read(0, bytemuck::cast_slice_mut(&mut cur)).map_err(cuda("copying the current field back"))?;
        Ok(cur)
    }

    /// Measures the device memory bandwidth: `reps` timed launches of
    /// `wavesim_copy` from one scratch buffer of `bytes` bytes (rounded up
    /// to 16) to another, after one untimed launch. Each copy reads and
    /// writes `bytes`, so it moves `2·bytes`; pick `bytes` well above the L2
    /// cache (50 MiB on an H100) so the figure is DRAM's. The scratch
    /// buffers are freed before it returns; the fields are not touched.
    pub fn copy_bandwidth(&self, bytes: usize, reps: u32) -> Result<Bandwidth, GpuError> {
        self.check_ok()?;
        // At most one launch's worth of chunks (8 TiB: more than any GPU has).
        let max_chunks = i32::MAX as usize * COPY_BLOCK as usize;
        let chunks = bytes.div_ceil(size_of::<Chunk>()).clamp(1, max_chunks);
        let len = chunks * size_of::<Chunk>();
        let blocks = batch::copy_blocks(chunks as u64).expect("chunks are capped to one launch");
        let f = self.module.function(COPY_ENTRY).map_err(cuda(format!(
            "kernel `{COPY_ENTRY}` of {} (rebuild with `cargo xtask build-ptx`)",
            self.source.display()
        )))?;
        let src = DeviceBuffer::new(&self.ctx, len).map_err(cuda("allocating the copy source"))?;
        let dst = DeviceBuffer::new(&self.ctx, len).map_err(cuda("allocating the copy destination"))?;
        let params = [src.device_addr(), dst.device_addr(), chunks as u64];
        let launch = || {
            // SAFETY: `wavesim_copy`'s parameters: two distinct buffers of
            // `chunks` 16-byte chunks (device allocations are 256-byte
            // aligned), alive until the stream is synchronised below; no
            // other kernel touches them.
            unsafe { f.launch(&self.stream, blocks, COPY_BLOCK, &params, false) }
                .map_err(cuda("launching wavesim_copy"))
        };
        launch()?;
        self.stream.synchronize().map_err(cuda("waiting for wavesim_copy"))?;
        let start = Instant::now();
        for _ in 0..reps.max(1) {
            launch()?;
        }
        self.stream.synchronize().map_err(cuda("waiting for wavesim_copy"))?;
        Ok(Bandwidth { bytes: len, reps: reps.max(1), seconds: start.elapsed().as_secs_f64() })
    }

    /// Keeps the first error of a [`Field`] method.
    fn record<T>(&mut self, r: Result<T, GpuError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(GpuError::Poisoned) => None,
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }
}

impl Drop for GpuBatch {
    fn drop(&mut self) {
        // Kernels still queued use the buffers: let them finish before the
        // buffers are freed (an error here was already reported, or cannot be).
        let _ = self.stream.synchronize();
    }
}

/// The GPU field behind [`crate::actor::handle`]. Failures are sticky (see
/// the module doc): check [`GpuBatch::error`] after the commands.
impl Field for GpuBatch {
    fn dims(&self) -> GridDims {
        self.dims
    }

    fn advance(&mut self, steps: u32, coeffs: Coeffs) {
        let r = GpuBatch::advance(self, steps, coeffs);
        self.record(r);
    }

    fn inject(&mut self, pos: [u32; 3], value: f32) {
        let r = GpuBatch::inject(self, pos, value);
        self.record(r);
    }

    fn energy(&mut self, courant2: f32) -> f64 {
        let r = GpuBatch::energy(self, courant2);
        self.record(r).unwrap_or(f64::NAN)
    }

    fn save_checkpoint(&mut self) {
        let mut saved =
            self.saved.take().unwrap_or_else(|| (vec![0.0; self.dims.cells()], vec![0.0; self.dims.cells()]));
        let r = self.download(&mut saved.0, &mut saved.1);
        if self.record(r).is_some() {
            self.saved = Some(saved);
        }
    }

    fn restore_checkpoint(&mut self) {
        if let Some((cur, prev)) = self.saved.take() {
            let r = self.upload(&cur, &prev);
            self.saved = Some((cur, prev));
            self.record(r);
        }
    }
}

/// What [`GpuBatch::copy_bandwidth`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bandwidth {
    /// Bytes per copy (each copy reads and writes this many).
    pub bytes: usize,
    /// Copies timed.
    pub reps: u32,
    /// Seconds for them (host clock around the launches plus one stream
    /// synchronisation).
    pub seconds: f64,
}

impl Bandwidth {
    /// Bytes read plus bytes written per second, in GB/s (10⁹ bytes).
    pub fn gb_per_s(&self) -> f64 {
        2.0 * self.bytes as f64 * f64::from(self.reps) / self.seconds / 1e9
    }
}

/// One size of [`bench()`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchRow {
    /// The grid.
    pub dims: GridDims,
    /// Steps timed.
    pub steps: u32,
    /// Seconds for them, from the first launch to the end of the last kernel
    /// (host clock around launches plus one stream synchronisation).
    pub seconds: f64,
}

impl BenchRow {
    /// Bytes one step must move at least: read the current and the previous
    /// field and write the next one, 12 bytes per cell (walls included; the
    /// neighbours' reads are assumed to hit in cache).
    pub fn bytes_per_step(&self) -> f64 {
        12.0 * self.dims.cells() as f64
    }

    /// Million cells updated per second (all `nx·ny·nz` cells, as the CPU
    /// figures count them).
    pub fn mcells_per_s(&self) -> f64 {
        self.dims.cells() as f64 * f64::from(self.steps) / self.seconds / 1e6
    }

    /// [`BenchRow::bytes_per_step`] per step time, in GB/s (10⁹ bytes).
    pub fn effective_gb_per_s(&self) -> f64 {
        self.bytes_per_step() * f64::from(self.steps) / self.seconds / 1e9
    }
}

/// Times the batch engine: for each size, an impulse, `steps / 10 + 1`
/// untimed warm-up steps, then `steps` timed steps (queued back to back, one
/// synchronisation at the end). Fails like [`GpuBatch::new`] without a GPU.
pub fn bench(sizes: &[GridDims], steps: u32) -> Result<Vec<BenchRow>, GpuError> {
    let k = crate::fdtd::Params::DEFAULT.coeffs();
    let mut rows = Vec::new();
    for &dims in sizes {
        let mut gpu = GpuBatch::new(dims)?;
        gpu.inject(dims.centre(), 1.0)?;
        gpu.advance(steps / 10 + 1, k)?;
        gpu.synchronize()?;
        let start = Instant::now();
        gpu.advance(steps, k)?;
        gpu.synchronize()?;
        rows.push(BenchRow { dims, steps, seconds: start.elapsed().as_secs_f64() });
    }
    Ok(rows)
}
