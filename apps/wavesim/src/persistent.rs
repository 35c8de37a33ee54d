//! The persistent engine: WaveSim3D as one RingKernel actor whose gang of
//! worker blocks holds the field in device memory and steps it, inside one
//! launch that lives as long as the simulation.
//!
//! | part | what |
//! | --- | --- |
//! | [`WaveActor`] | the actor: receives [`Command`]s, answers [`Reply`]s through [`actor::handle`] — the same per-command logic as the CPU [`crate::Simulation`] |
//! | [`WaveWork`] | the gang's work ([`GangWork`]): one [`WaveJob`] per field operation (step *n* times, inject, energy, save, restore) |
//! | [`WaveGangParams`] | the launch parameters: the grid size |
//! | [`ArenaLayout`] | where the fields live in the gang's arena, and [`ArenaHeader`] there, which says which buffer holds the current field |
//! | [`Tiling`] | which worker steps which cells |
//!
//! `wavesim_persistent` is the kernel entry (`actor_kernel!`, built into
//! `ringkernel_wavesim.ptx` by `cargo xtask build-ptx`); the host side is
//! `crate::session` (feature `gpu`). On the CPU backend the same actor runs
//! on a host thread and each worker on another one, so `./x test` checks the
//! whole engine without a GPU.
//!
//! **Tiles and the halo exchange.** The interior is cut into
//! `tz × ty` tiles — slabs of whole z planes, each cut into bands of y rows
//! ([`Tiling::new`]) — one per worker; workers beyond `tz · ty` idle during
//! steps. A step of a tile reads its own cells and the face neighbours'
//! boundary planes and rows of the current field, and writes its own cells
//! of the other buffer. So a worker may start step `s + 1` once its (up to
//! four) face neighbours have finished step `s`: they have written the halo
//! it reads, and they have read what it is about to overwrite. Each worker
//! publishes its step count ([`Worker::signal`]) and waits only for its
//! neighbours' ([`Worker::wait_for_all`]): no grid-wide barrier per step.
//!
//! **Same arithmetic as the CPU.** Every cell goes through
//! [`batch::step_cell`]'s [`crate::fdtd::update_value`] with the operands
//! in the CPU's order, and the energy through [`batch::energy_lane`] and the
//! shuffle-down order of [`batch::warp_sum`], with the rows and planes added
//! in order as [`batch::energy_from_rows`] adds them: the persistent field
//! equals the CPU's bit for bit, and its energy equals the batch engine's.

use bytemuck::{Pod, Zeroable};
use ringkernel_device::{Actor, Context, Fault, Gang, GangWork, Platform, Worker};

use crate::actor::{self, Field, WaveState};
use crate::batch::{self, INJECT_THREADS, WARP};
use crate::fdtd::{self, Coeffs};
use crate::grid::GridDims;
use crate::protocol::{Command, ErrorCode, Reply};

/// Marks [`WaveGangParams`] (ASCII `WVP1`).
pub const PARAMS_MAGIC: u32 = 0x3150_5657;

/// Marks an [`ArenaHeader`] the gang has written (ASCII `WVA1`).
pub const ARENA_MAGIC: u32 = 0x3141_5657;

/// The gang's launch parameters (`GangOptions::params` on the host).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct WaveGangParams {
    /// [`PARAMS_MAGIC`].
    pub magic: u32,
    /// Grid cells along x.
    pub nx: u32,
    /// Grid cells along y.
    pub ny: u32,
    /// Grid cells along z.
    pub nz: u32,
}

const _: () = assert!(size_of::<WaveGangParams>() == 16);

impl WaveGangParams {
    /// The parameters of a simulation of `dims`.
    pub const fn new(dims: GridDims) -> Self {
        Self { magic: PARAMS_MAGIC, nx: dims.nx(), ny: dims.ny(), nz: dims.nz() }
    }

    /// The grid, when these are parameters of a valid one.
    pub const fn dims(&self) -> Option<GridDims> {
        if self.magic != PARAMS_MAGIC {
            return None;
        }
        match GridDims::new(self.nx, self.ny, self.nz) {
            Ok(d) => Some(d),
            Err(_) => None,
        }
    }
}

/// What the gang's finishing worker writes at the start of the arena after
/// every job: the host reads it to find the current field.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ArenaHeader {
    /// [`ARENA_MAGIC`] once a job has run.
    pub magic: u32,
    /// Grid cells along x, y and z.
    pub dims: [u32; 3],
    /// Which of the two field buffers ([`ArenaLayout::fields`] 0 or 1)
    /// holds the current pressure; the other holds the previous one.
    pub cur: u32,
    /// Jobs finished (wrapping).
    pub jobs: u32,
    /// Zero.
    pub reserved: [u32; 10],
}

const _: () = assert!(size_of::<ArenaHeader>() == 64);
const _: () = assert!(core::mem::offset_of!(ArenaHeader, dims) == 4);
const _: () = assert!(core::mem::offset_of!(ArenaHeader, cur) == 16);
const _: () = assert!(core::mem::offset_of!(ArenaHeader, jobs) == 20);

/// Alignment of every region of the arena.
const ALIGN: usize = 256;

const fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Where things live in the gang's arena, for one grid size (byte offsets
/// from the arena's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArenaLayout {
    /// The [`ArenaHeader`] (at 0).
    pub header: usize,
    /// The two field buffers (current and previous, in either order, as
    /// the header says) and the checkpoint's two copies of them.
    pub fields: [usize; 4],
    /// Energy scratch: `(kinetic, potential)` per row, `2 · ny · nz` `f64`s.
    pub rows: usize,
    /// Energy scratch: one `f64` per z plane.
    pub planes: usize,
    /// Bytes the arena needs.
    pub total: usize,
}

impl ArenaLayout {
    /// The layout for `dims`.
    pub const fn new(dims: GridDims) -> Self {
        let field = align_up(dims.cells() * 4);
        let first = ALIGN;
        let rows = first + 4 * field;
        let planes = rows + align_up(batch::energy_rows_len(dims) * 8);
        let total = planes + align_up(dims.nz() as usize * 8);
        Self { header: 0, fields: [first, first + field, first + 2 * field, first + 3 * field], rows, planes, total }
    }
}

/// [`WaveJob::op`] values.
pub mod op {
    /// Check the parameters and the arena; the result is 1 when usable.
    pub const INIT: u32 = 1;
    /// Advance `steps` steps.
    pub const STEP: u32 = 2;
    /// Add a bump of `value` at `pos` to both fields.
    pub const INJECT: u32 = 3;
    /// The energy with `courant2`; the result is its bits.
    pub const ENERGY: u32 = 4;
    /// Copy both fields to the checkpoint copies.
    pub const SAVE: u32 = 5;
    /// Copy the checkpoint copies back.
    pub const RESTORE: u32 = 6;
}

/// One job of [`WaveWork`] (40 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct WaveJob {
    /// One of [`op`].
    pub op: u32,
    /// STEP: steps (≥ 1).
    pub steps: u32,
    /// The buffer holding the current field when the job starts (0 or 1).
    pub cur: u32,
    /// The buffer holding it when the job ends (the header's `cur`).
    pub after: u32,
    /// STEP, ENERGY: `C = (c·dt/dx)²`.
    pub courant2: f32,
    /// STEP: `1 − γ`.
    pub keep: f32,
    /// INJECT: the cell.
    pub pos: [u32; 3],
    /// INJECT: the peak value.
    pub value: f32,
}

const _: () = assert!(size_of::<WaveJob>() == 40);

impl WaveJob {
    const fn of(op: u32, cur: u32) -> Self {
        Self { op, steps: 0, cur, after: cur, courant2: 0.0, keep: 0.0, pos: [0; 3], value: 0.0 }
    }
}

/// How the interior is cut into tiles, one per worker: `tz` slabs of z
/// planes, each cut into `ty` bands of y rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Slabs along z.
    pub tz: u32,
    /// Bands along y in each slab.
    pub ty: u32,
}

/// The cells of one tile: interior planes `z0..z1`, rows `y0..y1`, all
/// interior x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// First plane.
    pub z0: u32,
    /// One past the last plane.
    pub z1: u32,
    /// First row.
    pub y0: u32,
    /// One past the last row.
    pub y1: u32,
    /// Slab number.
    pub iz: u32,
    /// Band number.
    pub iy: u32,
}

impl Tiling {
    /// As many tiles as there are workers, up to one per interior row:
    /// `tz = min(workers, nz − 2)` slabs, then `ty = min(workers / tz,
    /// ny − 2)` bands in each.
    pub fn new(dims: GridDims, workers: u32) -> Self {
        let tz = workers.clamp(1, dims.nz() - 2);
        let ty = (workers / tz).clamp(1, dims.ny() - 2);
        Self { tz, ty }
    }

    /// Workers with a tile.
    pub const fn tiles(self) -> u32 {
        self.tz * self.ty
    }

    /// Worker `w`'s tile, `None` when it has none.
    pub fn tile(self, dims: GridDims, w: u32) -> Option<Tile> {
        if w >= self.tiles() {
            return None;
        }
        let (iz, iy) = (w / self.ty, w % self.ty);
        let split = |n: u32, parts: u32, i: u32| 1 + ((u64::from(n - 2) * u64::from(i)) / u64::from(parts)) as u32;
        Some(Tile {
            z0: split(dims.nz(), self.tz, iz),
            z1: split(dims.nz(), self.tz, iz + 1),
            y0: split(dims.ny(), self.ty, iy),
            y1: split(dims.ny(), self.ty, iy + 1),
            iz,
            iy,
        })
    }

    /// The workers owning the face-neighbour tiles of `t` (`u32::MAX` where
    /// there is none): below and above in z, before and after in y.
    pub fn neighbours(self, t: Tile) -> [u32; 4] {
        let w = |iz: u32, iy: u32| iz * self.ty + iy;
        [
            if t.iz > 0 { w(t.iz - 1, t.iy) } else { u32::MAX },
            if t.iz + 1 < self.tz { w(t.iz + 1, t.iy) } else { u32::MAX },
            if t.iy > 0 { w(t.iz, t.iy - 1) } else { u32::MAX },
            if t.iy + 1 < self.ty { w(t.iz, t.iy + 1) } else { u32::MAX },
        ]
    }
}

/// The gang's work: the field operations of [`WaveActor`].
pub struct WaveWork;

/// What a worker needs of the arena.
struct Arena {
    dims: GridDims,
    base: *mut u8,
    layout: ArenaLayout,
}

impl Arena {
    /// The arena of `w`, when the parameters name a grid and the arena
    /// holds it.
    fn of<P: Platform>(w: &Worker<P>) -> Option<Self> {
        let dims = w.params::<WaveGangParams>().dims()?;
        let layout = ArenaLayout::new(dims);
        (layout.total <= w.arena_len()).then(|| Self { dims, base: w.arena(), layout })
    }

    /// Field buffer `i` (0..4).
    fn field(&self, i: u32) -> *mut f32 {
        // SAFETY: `layout.fields[i]` lies inside the arena (`of` checked
        // `total`); `i & 3` keeps the index in range.
        unsafe { self.base.add(self.layout.fields[(i & 3) as usize]).cast() }
    }

    fn rows(&self) -> *mut f64 {
        // SAFETY: inside the arena, as above.
        unsafe { self.base.add(self.layout.rows).cast() }
    }

    fn planes(&self) -> *mut f64 {
        // SAFETY: inside the arena, as above.
        unsafe { self.base.add(self.layout.planes).cast() }
    }
}

/// Rows a thread group takes in flight at once in [`step_tile`]: their
/// loads are all issued before the first update, so each thread keeps
/// several cells' memory traffic outstanding.
///
/// Measured on an H200 (`wavesim --bench`, 500 steps): 4 rows keep the
/// kernel at 128 registers, so two 256-thread workers share an SM — 45 %
/// of the copy bandwidth at 256³, 75 % at 128³; 8 rows need 166 registers,
/// one worker per SM, 38 % and 63 % (and 39 % / 70 % with 384 threads);
/// loading the next batch before updating this one (software pipelining,
/// 4 rows) needs 168 and gave 32 % / 53 %.
const ROWS_IN_FLIGHT: usize = 4;

/// One cell in each of `ROWS_IN_FLIGHT` rows of a thread's group, at one x.
#[derive(Clone, Copy)]
struct Batch {
    /// Index of each row's first cell (x = 0).
    start: [u32; ROWS_IN_FLIGHT],
    /// Whether the row is in the tile; a row that is not repeats row 0's
    /// loads and skips its store.
    live: [bool; ROWS_IN_FLIGHT],
    x: u32,
}

/// The seven neighbours and the previous value of every cell of a batch.
type Operands = [[f32; 8]; ROWS_IN_FLIGHT];

/// How a worker's threads walk a tile: groups of `group` lanes (the
/// interior x rounded up to a power of two, at most the worker's threads),
/// group `g` taking rows `g, g + groups, …` of the tile in batches of
/// `ROWS_IN_FLIGHT`, lane `l` the cells `x = 1 + l, 1 + l + group, …`.
struct Walk {
    nx: u32,
    ny: u32,
    t: Tile,
    height: u32,
    rows: u32,
    groups: u32,
    group: u32,
    lane: u32,
}

impl Walk {
    fn batch(&self, r: u32, x: u32) -> Batch {
        let mut b = Batch { start: [0; ROWS_IN_FLIGHT], live: [false; ROWS_IN_FLIGHT], x };
        for j in 0..ROWS_IN_FLIGHT {
            let rj = r + j as u32 * self.groups;
            b.live[j] = rj < self.rows;
            let rj = if b.live[j] { rj } else { r };
            b.start[j] = self.nx * (self.t.y0 + rj % self.height + self.ny * (self.t.z0 + rj / self.height));
        }
        b
    }

    /// The position after `(r, x)`, if the group has one.
    fn next(&self, r: u32, x: u32) -> Option<(u32, u32)> {
        if x + self.group < self.nx - 1 {
            return Some((r, x + self.group));
        }
        let r = r + self.groups * ROWS_IN_FLIGHT as u32;
        (r < self.rows).then_some((r, 1 + self.lane))
    }
}

/// Every load of batch `b`, in one branch-free block. (With a branch per
/// row the compiler put each row's additions right after its loads, and
/// every row waited for memory in turn.)
///
/// # Safety
/// `b`'s cells are interior cells of the grid `cur` and `prev` hold.
#[inline(always)]
unsafe fn load(cur: *const f32, prev: *const f32, b: &Batch, nx: u32, plane: u32) -> Operands {
    let mut v = [[0.0f32; 8]; ROWS_IN_FLIGHT];
    let (n, p) = (nx as usize, plane as usize);
    // Index loops with constant bounds: LLVM unrolls them and keeps the
    // operands in registers (a zip of iterators here was left as a loop
    // over a stack array, ten times slower on the GPU).
    #[allow(clippy::needless_range_loop)]
    for j in 0..ROWS_IN_FLIGHT {
        let i = (b.start[j] + b.x) as usize;
        // SAFETY: cell `i` is interior (contract).
        v[j] = unsafe { batch::operands(cur, prev, i, n, p) };
    }
    v
}

/// The updates of batch `b` from its operands, stored over `prev`.
///
/// # Safety
/// `b`'s live cells are this thread's own cells of `prev`.
#[inline(always)]
unsafe fn update(prev: *mut f32, b: &Batch, v: &Operands, k: Coeffs) {
    // Index loop with constant bounds, unrolled (see `load`).
    #[allow(clippy::needless_range_loop)]
    for j in 0..ROWS_IN_FLIGHT {
        let [c, q, xm, xp, ym, yp, zm, zp] = v[j];
        let next = fdtd::update_value(c, q, xm, xp, ym, yp, zm, zp, k);
        if b.live[j] {
            // SAFETY: this thread's own cell (contract).
            unsafe { prev.add((b.start[j] + b.x) as usize).write(next) };
        }
    }
}

/// One step of tile `t`: every cell through [`batch::step_cell`]'s update
/// ([`fdtd::update_value`], the CPU's operand order), walked as [`Walk`]
/// says.
///
/// # Safety
/// `cur` and `prev` are two distinct field buffers of `dims`; the caller
/// owns the tile's cells of `prev` and nobody writes `cur` meanwhile.
#[inline(always)]
unsafe fn step_tile<P: Platform>(cur: *const f32, prev: *mut f32, dims: GridDims, t: Tile, k: Coeffs, w: &Worker<P>) {
    let (nx, ny) = (dims.nx(), dims.ny());
    let plane = nx * ny;
    let group = w.threads().min((nx - 2).next_power_of_two());
    let groups = w.threads() / group;
    let (g, lane) = (w.thread() / group, w.thread() % group);
    let height = t.y1 - t.y0;
    let walk = Walk { nx, ny, t, height, rows: height * (t.z1 - t.z0), groups, group, lane };
    if g >= groups || g >= walk.rows || 1 + lane >= nx - 1 {
        return;
    }
    let (mut r, mut x) = (g, 1 + lane);
    loop {
        let b = walk.batch(r, x);
        // SAFETY: the walk yields interior cells of this tile (contract),
        // which are this thread's own cells of `prev`.
        unsafe { update(prev, &b, &load(cur, prev, &b, nx, plane), k) };
        match walk.next(r, x) {
            Some(n) => (r, x) = n,
            None => break,
        }
    }
}

/// Writes the `(kinetic, potential)` sums of every row of plane `z` to the
/// row scratch: one warp per row on the GPU, one thread emulating the 32
/// lanes elsewhere; either way [`batch::energy_lane`] per lane, added in
/// [`batch::warp_sum`]'s order.
///
/// # Safety
/// `cur` and `prev` are field buffers of `a.dims` nobody writes meanwhile;
/// `z < nz`; no other worker writes plane `z`'s rows.
#[inline(always)]
unsafe fn energy_rows<P: Platform>(cur: *const f32, prev: *const f32, a: &Arena, z: u32, w: &Worker<P>) {
    let ny = a.dims.ny();
    let out = a.rows();
    #[cfg(all(feature = "kernels", target_arch = "nvptx64"))]
    if w.threads().is_multiple_of(WARP) {
        let (warp, lane, warps) = (w.thread() / WARP, w.thread() % WARP, w.threads() / WARP);
        let mut y = warp;
        while y < ny {
            // SAFETY: `y < ny`, `z < nz` (contract).
            let (k, p) = unsafe { batch::energy_lane(cur, prev, a.dims, y, z, lane) };
            let (k, p) = (crate::kernels::warp_sum(k), crate::kernels::warp_sum(p));
            if lane == 0 {
                let row = (y + ny * z) as usize;
                // SAFETY: row `row` of the scratch, this warp's alone.
                unsafe {
                    out.add(2 * row).write(k);
                    out.add(2 * row + 1).write(p);
                }
            }
            y += warps;
        }
        return;
    }
    let mut y = w.thread();
    while y < ny {
        let mut k = [0.0f64; WARP as usize];
        let mut p = [0.0f64; WARP as usize];
        for lane in 0..WARP {
            // SAFETY: as above.
            (k[lane as usize], p[lane as usize]) = unsafe { batch::energy_lane(cur, prev, a.dims, y, z, lane) };
        }
        let row = (y + ny * z) as usize;
        // SAFETY: as above; this thread's row.
        unsafe {
            out.add(2 * row).write(batch::warp_sum(k));
            out.add(2 * row + 1).write(batch::warp_sum(p));
        }
        y += w.threads();
    }
}

impl GangWork for WaveWork {
    const ID: u32 = 0x5741_5631;
    type Job = WaveJob;

    fn run<P: Platform>(job: &WaveJob, w: &Worker<P>) {
        let Some(a) = Arena::of(w) else { return };
        let dims = a.dims;
        let (cur, prev) = (a.field(job.cur), a.field(job.cur ^ 1));
        match job.op {
            op::STEP => {
                let tiling = Tiling::new(dims, w.count());
                let Some(tile) = tiling.tile(dims, w.index()) else { return };
                let around = tiling.neighbours(tile);
                let base = w.progress_of(w.index());
                let k = Coeffs { courant2: job.courant2, keep: job.keep };
                for s in 0..job.steps {
                    if s > 0 {
                        w.wait_for_all(&around, base.wrapping_add(s));
                    }
                    let c = (job.cur ^ s) & 1;
                    // SAFETY: buffers `c` and `c ^ 1` of the arena; this
                    // worker owns its tile's cells, and the neighbours it
                    // waited for are done reading them and writing the halo.
                    unsafe { step_tile(a.field(c), a.field(c ^ 1), dims, tile, k, w) };
                    w.signal(base.wrapping_add(s + 1));
                }
            }
            op::INJECT if w.index() == 0 => {
                let mut t = w.thread();
                while t < INJECT_THREADS {
                    // SAFETY: both field buffers of `dims`; offset `t` is this
                    // thread's, and other workers touch nothing in this job.
                    unsafe { batch::inject_offset(cur, prev, dims, job.pos, job.value, t) };
                    t += w.threads();
                }
            }
            op::ENERGY => {
                let mut z = w.index();
                while z < dims.nz() {
                    // SAFETY: nobody writes the fields during this job; plane
                    // `z` is this worker's.
                    unsafe { energy_rows(cur, prev, &a, z, w) };
                    w.sync();
                    if w.thread() == 0 {
                        let (mut kinetic, mut potential) = (0.0f64, 0.0f64);
                        for y in 0..dims.ny() {
                            let row = (y + dims.ny() * z) as usize;
                            // SAFETY: rows of this plane, written before the barrier.
                            unsafe {
                                kinetic += a.rows().add(2 * row).read();
                                potential += a.rows().add(2 * row + 1).read();
                            }
                        }
                        let e = 0.5 * kinetic + 0.5 * f64::from(job.courant2) * potential;
                        // SAFETY: this worker's plane entry.
                        unsafe { a.planes().add(z as usize).write(e) };
                    }
                    z += w.count();
                }
            }
            op::SAVE | op::RESTORE => {
                let (from, to) = if job.op == op::SAVE { (0, 2) } else { (2, 0) };
                let stride = w.count() as usize * w.threads() as usize;
                for b in 0..2 {
                    let (src, dst) = (a.field(from + b), a.field(to + b));
                    let mut i = w.index() as usize * w.threads() as usize + w.thread() as usize;
                    while i < dims.cells() {
                        // SAFETY: cell `i` of two distinct buffers; this
                        // thread's alone.
                        unsafe { dst.add(i).write(src.add(i).read()) };
                        i += stride;
                    }
                }
            }
            _ => {}
        }
    }

    fn finish<P: Platform>(job: &WaveJob, w: &Worker<P>) -> u64 {
        let Some(a) = Arena::of(w) else { return 0 };
        if w.thread() != 0 {
            return 0;
        }
        let header = a.base.cast::<ArenaHeader>();
        // SAFETY: the header is at the start of the arena, 256-aligned;
        // only the finishing thread writes it, while no job runs.
        unsafe {
            let jobs = (*header).jobs.wrapping_add(1);
            header.write(ArenaHeader {
                magic: ARENA_MAGIC,
                dims: [a.dims.nx(), a.dims.ny(), a.dims.nz()],
                cur: job.after & 1,
                jobs,
                reserved: [0; 10],
            });
        }
        match job.op {
            op::ENERGY => {
                // SAFETY: every plane's entry, written by its worker before
                // it finished the job.
                let planes = (0..a.dims.nz()).map(|z| unsafe { a.planes().add(z as usize).read() });
                fdtd::sum_in_order(planes).to_bits()
            }
            _ => 1,
        }
    }
}

/// The field as [`actor::handle`] sees it: every operation one gang job.
struct GangField<'a, 'g> {
    gang: &'a mut Gang<'g, WaveWork>,
    dims: GridDims,
    cur: &'a mut u32,
    saved: &'a mut u32,
}

impl GangField<'_, '_> {
    fn run(&mut self, job: WaveJob) -> u64 {
        let r = self.gang.run(&job);
        *self.cur = job.after;
        r
    }
}

impl Field for GangField<'_, '_> {
    fn dims(&self) -> GridDims {
        self.dims
    }

    fn advance(&mut self, steps: u32, k: Coeffs) {
        let cur = *self.cur;
        self.run(WaveJob {
            steps,
            after: cur ^ (steps & 1),
            courant2: k.courant2,
            keep: k.keep,
            ..WaveJob::of(op::STEP, cur)
        });
    }

    fn inject(&mut self, pos: [u32; 3], value: f32) {
        self.run(WaveJob { pos, value, ..WaveJob::of(op::INJECT, *self.cur) });
    }

    fn energy(&mut self, courant2: f32) -> f64 {
        f64::from_bits(self.run(WaveJob { courant2, ..WaveJob::of(op::ENERGY, *self.cur) }))
    }

    fn save_checkpoint(&mut self) {
        self.run(WaveJob::of(op::SAVE, *self.cur));
        *self.saved = *self.cur;
    }

    fn restore_checkpoint(&mut self) {
        let saved = *self.saved;
        self.run(WaveJob { after: saved, ..WaveJob::of(op::RESTORE, *self.cur) });
    }
}

/// Whether the gang was checked, and what it holds.
#[derive(Clone, Copy, Debug)]
enum Engine {
    /// No command yet.
    Unchecked,
    /// The gang holds a field of `dims`; `cur` is the buffer of the current
    /// field, `saved` the one it was in at the checkpoint.
    Ready { dims: GridDims, cur: u32, saved: u32 },
    /// No gang, or its parameters or arena do not hold a grid: every
    /// command is answered `Error(ENGINE_UNAVAILABLE)`.
    Unusable,
}

/// WaveSim3D as a persistent actor: [`Command`] in, [`Reply`] out, the
/// field in its gang's arena.
pub struct WaveActor {
    state: WaveState,
    engine: Engine,
}

/// [`WaveActor`]'s type id.
pub const WAVE_ACTOR_TYPE_ID: u32 = 0x5741_5641;

impl WaveActor {
    /// The reply to `cmd`. Out of line: the command logic is cold next to
    /// the gang's stepping, and kept apart it does not raise the register
    /// count every worker thread of the kernel is given.
    #[inline(never)]
    fn answer(&mut self, gang: Option<Gang<'_, WaveWork>>, cmd: &Command) -> Reply {
        let Some(mut gang) = gang else {
            self.engine = Engine::Unusable;
            return Reply::error(ErrorCode::ENGINE_UNAVAILABLE, cmd, self.state.step());
        };
        if let Engine::Unchecked = self.engine {
            self.engine = match gang.params::<WaveGangParams>().dims() {
                Some(dims) if gang.run(&WaveJob::of(op::INIT, 0)) == 1 => Engine::Ready { dims, cur: 0, saved: 0 },
                _ => Engine::Unusable,
            };
        }
        let Engine::Ready { dims, cur, saved } = &mut self.engine else {
            return Reply::error(ErrorCode::ENGINE_UNAVAILABLE, cmd, self.state.step());
        };
        let mut field = GangField { gang: &mut gang, dims: *dims, cur, saved };
        actor::handle(&mut self.state, &mut field, cmd)
    }
}

impl Actor for WaveActor {
    const TYPE_ID: u32 = WAVE_ACTOR_TYPE_ID;
    type Msg = Command;
    type Reply = Reply;

    fn create(_actor_id: u32) -> Self {
        Self { state: WaveState::default(), engine: Engine::Unchecked }
    }

    fn handle(&mut self, ctx: &mut Context<'_, Self>, cmd: Command) -> Result<(), Fault> {
        let reply = self.answer(ctx.gang::<WaveWork>().ok(), &cmd);
        ctx.reply(&reply).map_err(|_| Fault(1))
    }
}

ringkernel_device::actor_kernel!(wavesim_persistent, WaveActor, gang = WaveWork);

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn tiles_cover_the_interior_once() {
        for (side, workers) in [(6u32, 1u32), (6, 3), (6, 100), (16, 7), (33, 132), (64, 263)] {
            let dims = GridDims::cube(side).unwrap();
            let tiling = Tiling::new(dims, workers);
            assert!(tiling.tiles() <= workers.max(1));
            let mut seen = std::vec![0u8; dims.cells()];
            for w in 0..workers {
                if let Some(t) = tiling.tile(dims, w) {
                    assert!(t.z0 < t.z1 && t.y0 < t.y1, "{side} {workers} {t:?}");
                    for z in t.z0..t.z1 {
                        for y in t.y0..t.y1 {
                            for x in 1..side - 1 {
                                seen[dims.index(x, y, z)] += 1;
                            }
                        }
                    }
                    for n in tiling.neighbours(t) {
                        if n != u32::MAX {
                            let o = tiling.tile(dims, n).unwrap();
                            let faces = (o.iz.abs_diff(t.iz) + o.iy.abs_diff(t.iy)) == 1;
                            assert!(faces, "{t:?} {o:?}");
                        }
                    }
                }
            }
            for z in 0..side {
                for y in 0..side {
                    for x in 0..side {
                        let want = u8::from(dims.is_interior([x, y, z]));
                        assert_eq!(seen[dims.index(x, y, z)], want, "{side} {workers} ({x},{y},{z})");
                    }
                }
            }
        }
    }

    #[test]
    fn layout_regions_do_not_overlap() {
        let dims = GridDims::new(10, 7, 5).unwrap();
        let l = ArenaLayout::new(dims);
        assert!(l.fields[0] >= size_of::<ArenaHeader>());
        for i in 0..3 {
            assert!(l.fields[i] + dims.cells() * 4 <= l.fields[i + 1]);
        }
        assert!(l.fields[3] + dims.cells() * 4 <= l.rows);
        assert!(l.rows + batch::energy_rows_len(dims) * 8 <= l.planes);
        assert!(l.planes + 5 * 8 <= l.total);
        assert!([l.rows, l.planes, l.total].iter().chain(&l.fields).all(|o| o % ALIGN == 0));
    }

    #[test]
    fn params_name_a_grid_or_nothing() {
        let dims = GridDims::new(10, 7, 5).unwrap();
        assert_eq!(WaveGangParams::new(dims).dims(), Some(dims));
        assert_eq!(WaveGangParams { magic: 0, ..WaveGangParams::new(dims) }.dims(), None);
        assert_eq!(WaveGangParams { nx: 2, ..WaveGangParams::new(dims) }.dims(), None);
    }
}
