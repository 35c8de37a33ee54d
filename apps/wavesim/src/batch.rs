//! The batch GPU path's per-thread work: what one thread of each kernel does,
//! written once for both targets.
//!
//! The `kernels` feature's PTX entries (`src/kernels.rs`, nvptx64 only) read
//! their block and thread numbers and call the functions here; the host-side
//! engine (`crate::gpu`) takes its launch sizes from here; and the tests run
//! every "thread" of a launch on the CPU ([`emulate`]) to check, without a
//! GPU, that the kernels cover every interior cell once and compute the same
//! bits as the CPU engines.
//!
//! | kernel | threads | what one thread does |
//! | --- | --- | --- |
//! | `wavesim_step` | one per interior cell, blocks of [`STEP_BLOCK`] (32 × 4 × 2) | [`step_cell`]: [`fdtd::update_value`] on the cell, `prev` overwritten with the next value |
//! | `wavesim_inject` | [`INJECT_THREADS`] (one per offset of the bump's 11³ cube), blocks of [`INJECT_BLOCK`] | [`inject_offset`]: adds `value · w` to one cell of both levels |
//! | `wavesim_energy` | one warp per row (`y`, `z`), blocks of [`ENERGY_BLOCK`] (8 warps) | [`energy_lane`] over `x ≡ lane (mod 32)`, then a shuffle-down tree ([`warp_sum`]) |
//! | `wavesim_copy` | one per 16-byte [`Chunk`], blocks of [`COPY_BLOCK`] | copies its chunk: the device-to-device copy `wavesim --bench` times to measure the memory bandwidth (the driver layer has no device-to-device copy) |
//!
//! **Same arithmetic as the CPU.** `wavesim_step` calls the very
//! [`fdtd::update_value`] the CPU engines call, with the same operands in the
//! same order; the index arithmetic differs, the floating point does not.
//! Rust does not contract `a * b + c` into a fused multiply-add on either
//! target, and the NVPTX backend then writes `mul.rn.f32` / `add.rn.f32`,
//! whose explicit rounding mode forbids ptxas (and the driver's JIT) from
//! fusing them: the GPU field is expected to equal the CPU field bit for bit
//! (`tests/gpu_agreement.rs` says what it checks).
//!
//! **In place, two buffers.** Like the CPU, `wavesim_step` reads the current
//! field and the previous one and overwrites the previous one with the next
//! time level: thread *i* reads `prev[i]` and writes `prev[i]`, no other
//! thread touches `prev[i]`, and no thread writes `cur`. The caller swaps the
//! two buffers after each step.
//!
//! **Energy.** The per-row partial sums (kinetic, potential) go to a buffer of
//! `2 · ny · nz` `f64`s; the host adds the rows of each plane in order and the
//! planes in order ([`energy_from_rows`]). The sum is the CPU's
//! [`fdtd::energy`] with another order of additions inside a plane, so the two
//! agree to a few units in the last place of an `f64`, not bit for bit.
//!
//! **Indices.** A grid has at most 2³⁰ cells ([`GridDims::MAX`]), so cell
//! indices fit in a `u32` with a factor of four to spare; the kernels compute
//! them in 32-bit arithmetic.

use crate::fdtd::{self, Coeffs, IMPULSE_RADIUS};
use crate::grid::GridDims;

/// Threads of a `wavesim_step` block along x, y and z: 32 × 4 × 2 = 256.
/// A warp covers 32 consecutive cells of one row (coalesced loads and
/// stores); the block's 8 rows share their y and z neighbours in L1.
pub const STEP_BLOCK: [u32; 3] = [32, 4, 2];

/// Threads in one `wavesim_step` block.
pub const STEP_BLOCK_THREADS: u32 = STEP_BLOCK[0] * STEP_BLOCK[1] * STEP_BLOCK[2];

/// Cells along one side of the cube an impulse may touch: `2R + 1`.
pub const INJECT_SIDE: u32 = 2 * IMPULSE_RADIUS + 1;

/// Threads `wavesim_inject` needs: one per cell of the `INJECT_SIDE³` cube.
pub const INJECT_THREADS: u32 = INJECT_SIDE * INJECT_SIDE * INJECT_SIDE;

/// Threads per `wavesim_inject` block.
pub const INJECT_BLOCK: u32 = 256;

/// Blocks of a `wavesim_inject` launch.
pub const INJECT_BLOCKS: u32 = INJECT_THREADS.div_ceil(INJECT_BLOCK);

/// Threads per `wavesim_energy` block: 8 warps, one row each.
pub const ENERGY_BLOCK: u32 = 256;

/// Lanes in a warp.
pub const WARP: u32 = 32;

/// Rows (warps) one `wavesim_energy` block reduces.
pub const ENERGY_ROWS_PER_BLOCK: u32 = ENERGY_BLOCK / WARP;

/// How a `wavesim_step` launch covers the interior: `tiles[a]` blocks along
/// axis `a`, numbered x fastest in a one-dimensional grid (the host's launch
/// call takes a 1D grid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepGeometry {
    /// Blocks along x, y and z.
    pub tiles: [u32; 3],
}

impl StepGeometry {
    /// The tiling of `dims`' interior by [`STEP_BLOCK`].
    pub const fn new(dims: GridDims) -> Self {
        Self::of(dims.nx(), dims.ny(), dims.nz())
    }

    /// The tiling for a grid of `nx × ny × nz` (each ≥ 3): what the kernel
    /// computes from its parameters.
    #[inline(always)]
    pub const fn of(nx: u32, ny: u32, nz: u32) -> Self {
        Self {
            tiles: [
                (nx - 2).div_ceil(STEP_BLOCK[0]),
                (ny - 2).div_ceil(STEP_BLOCK[1]),
                (nz - 2).div_ceil(STEP_BLOCK[2]),
            ],
        }
    }

    /// Blocks in the launch. At most 32 · 256 · 511 < 2²³ for the largest
    /// grid, far below the 2³¹ − 1 blocks a 1D grid may have.
    pub const fn blocks(self) -> u32 {
        self.tiles[0] * self.tiles[1] * self.tiles[2]
    }

    /// The cell thread `thread` (0..256) of block `block` updates, or `None`
    /// for a thread of an edge block that falls outside the interior (or a
    /// block past the end).
    #[inline(always)]
    pub const fn cell(self, nx: u32, ny: u32, nz: u32, block: u32, thread: u32) -> Option<[u32; 3]> {
        let [tx, ty, _] = self.tiles;
        let bx = block % tx;
        let rest = block / tx;
        let by = rest % ty;
        let bz = rest / ty;
        let x = 1 + bx * STEP_BLOCK[0] + thread % STEP_BLOCK[0];
        let y = 1 + by * STEP_BLOCK[1] + (thread / STEP_BLOCK[0]) % STEP_BLOCK[1];
        let z = 1 + bz * STEP_BLOCK[2] + thread / (STEP_BLOCK[0] * STEP_BLOCK[1]);
        if x < nx - 1 && y < ny - 1 && z < nz - 1 { Some([x, y, z]) } else { None }
    }
}

/// Updates interior cell `i` (`= x + nx·(y + ny·z)`): reads its pressure and
/// its six neighbours from `cur` and its previous pressure from `prev`, and
/// writes the next pressure over `prev[i]` — [`fdtd::update_value`], the
/// CPU's function, operands in the CPU's order.
///
/// # Safety
/// `cur` and `prev` each point to a field of `plane · nz` cells
/// (`plane = nx · ny`), valid for reads (`cur`) and reads and writes
/// (`prev`), not overlapping; `i` is an interior cell of that grid (so
/// `i ± 1`, `i ± nx`, `i ± plane` are cells too); no other thread writes
/// `cur` or cell `i` of `prev` meanwhile.
#[inline(always)]
pub unsafe fn step_cell(cur: *const f32, prev: *mut f32, nx: u32, plane: u32, i: u32, k: Coeffs) {
    let i = i as usize;
    // SAFETY: the caller guarantees `i` is interior; `prev[i]` is this thread's.
    unsafe {
        let [c, q, xm, xp, ym, yp, zm, zp] = operands(cur, prev, i, nx as usize, plane as usize);
        prev.add(i).write(fdtd::update_value(c, q, xm, xp, ym, yp, zm, zp, k));
    }
}

/// What [`fdtd::update_value`] takes for interior cell `i`, in its
/// parameter order: the cell's pressure and previous pressure, then its
/// x, y and z neighbours (minus, plus). Every GPU engine reads through
/// this, so the operand order that makes them equal the CPU bit for bit is
/// written once.
///
/// # Safety
/// `cur` and `prev` each point to a field of `plane · nz` cells valid for
/// reads; `i` is an interior cell of that grid (`nx` cells per row,
/// `plane` per plane), so `i ± 1`, `i ± nx`, `i ± plane` are cells too.
#[inline(always)]
pub unsafe fn operands(cur: *const f32, prev: *const f32, i: usize, nx: usize, plane: usize) -> [f32; 8] {
    // SAFETY: all eight indices are cells of the grid (contract).
    unsafe {
        [
            cur.add(i).read(),
            prev.add(i).read(),
            cur.add(i - 1).read(),
            cur.add(i + 1).read(),
            cur.add(i - nx).read(),
            cur.add(i + nx).read(),
            cur.add(i - plane).read(),
            cur.add(i + plane).read(),
        ]
    }
}

/// The cell and weight of `wavesim_inject` thread `t` (0..[`INJECT_THREADS`])
/// for a bump centred on `pos`, or `None` when the offset falls outside the
/// bump's radius, outside the grid or on a wall. Offsets run x fastest, each
/// from −R to R; the cells and weights are exactly those
/// [`fdtd::inject_bump`] visits.
#[inline(always)]
pub fn inject_target(dims: GridDims, pos: [u32; 3], t: u32) -> Option<(u32, f32)> {
    if t >= INJECT_THREADS {
        return None;
    }
    let r = IMPULSE_RADIUS as i32;
    let side = INJECT_SIDE;
    let dx = (t % side) as i32 - r;
    let dy = ((t / side) % side) as i32 - r;
    let dz = (t / (side * side)) as i32 - r;
    let x = pos[0].checked_add_signed(dx)?;
    let y = pos[1].checked_add_signed(dy)?;
    let z = pos[2].checked_add_signed(dz)?;
    let w = fdtd::impulse_weight(dx, dy, dz);
    if w == 0.0 || !dims.is_interior([x, y, z]) {
        return None;
    }
    Some((x + dims.nx() * (y + dims.ny() * z), w))
}

/// Adds thread `t`'s share of a bump of peak `value` centred on `pos` to both
/// fields: `add = value · w`, then `cur[i] += add` and `prev[i] += add`, as
/// [`fdtd::inject_bump`] does.
///
/// # Safety
/// `cur` and `prev` each point to `dims.cells()` cells valid for reads and
/// writes, not overlapping; no other thread touches the cell this thread
/// writes (threads of one launch write distinct cells).
#[inline(always)]
pub unsafe fn inject_offset(cur: *mut f32, prev: *mut f32, dims: GridDims, pos: [u32; 3], value: f32, t: u32) {
    if let Some((i, w)) = inject_target(dims, pos, t) {
        let i = i as usize;
        let add = value * w;
        // SAFETY: `inject_target` returns interior cells only, inside both
        // fields (caller's contract), and cell `i` is this thread's alone.
        unsafe {
            cur.add(i).write(cur.add(i).read() + add);
            prev.add(i).write(prev.add(i).read() + add);
        }
    }
}

/// One lane's part of row (`y`, `z`)'s energy: the kinetic terms
/// `(p − q)²` and the potential terms of the forward neighbour pairs of the
/// cells `x = lane, lane + 32, …` — the terms [`fdtd::energy_plane`] adds
/// for those cells, in `f64`. Returns `(kinetic, potential)`.
///
/// # Safety
/// `cur` and `prev` each point to `dims.cells()` cells valid for reads that
/// nobody writes meanwhile; `y < ny`, `z < nz`.
#[inline(always)]
pub unsafe fn energy_lane(cur: *const f32, prev: *const f32, dims: GridDims, y: u32, z: u32, lane: u32) -> (f64, f64) {
    let (nx, ny, nz) = (dims.nx(), dims.ny(), dims.nz());
    let plane = nx * ny;
    let row = nx * (y + ny * z);
    let mut kinetic = 0.0f64;
    let mut potential = 0.0f64;
    let mut x = lane;
    while x < nx {
        let i = (row + x) as usize;
        // SAFETY: `x < nx`, `y < ny`, `z < nz`: a cell of both fields.
        let (p, q) = unsafe { (f64::from(cur.add(i).read()), f64::from(prev.add(i).read())) };
        let d = p - q;
        kinetic += d * d;
        let mut pair = |j: usize| {
            // SAFETY: only called for a neighbour inside the grid (below).
            let (pj, qj) = unsafe { (f64::from(cur.add(j).read()), f64::from(prev.add(j).read())) };
            potential += (p - pj) * (q - qj);
        };
        if x + 1 < nx {
            pair(i + 1);
        }
        if y + 1 < ny {
            pair(i + nx as usize);
        }
        if z + 1 < nz {
            pair(i + plane as usize);
        }
        x += WARP;
    }
    (kinetic, potential)
}

/// The sum of 32 lanes' values as the kernel's shuffle-down tree forms it:
/// for `d` = 16, 8, 4, 2, 1 every lane `l < d` adds lane `l + d`'s value;
/// lane 0 ends with the total. (The kernel does this with `shfl.sync.down`;
/// this is the same order of additions, for the emulation and the tests.)
pub fn warp_sum(mut lanes: [f64; WARP as usize]) -> f64 {
    let mut d = WARP as usize / 2;
    while d > 0 {
        for l in 0..d {
            lanes[l] += lanes[l + d];
        }
        d /= 2;
    }
    lanes[0]
}

/// Entries of the `wavesim_energy` output buffer: `(kinetic, potential)` per
/// row, rows numbered `y + ny·z`.
pub const fn energy_rows_len(dims: GridDims) -> usize {
    2 * dims.ny() as usize * dims.nz() as usize
}

/// Blocks of a `wavesim_energy` launch: one warp per row.
pub const fn energy_blocks(dims: GridDims) -> u32 {
    (dims.ny() * dims.nz()).div_ceil(ENERGY_ROWS_PER_BLOCK)
}

/// The energy from `wavesim_energy`'s per-row sums: each plane's rows added
/// in order (kinetic and potential apart, as [`fdtd::energy_plane`] keeps
/// them), the plane's `½·kinetic + ½·C·potential`, then the planes summed in
/// order with [`fdtd::sum_in_order`].
///
/// # Panics
/// If `rows` is not [`energy_rows_len`] long.
pub fn energy_from_rows(rows: &[f64], dims: GridDims, courant2: f32) -> f64 {
    assert_eq!(rows.len(), energy_rows_len(dims));
    let per_plane = 2 * dims.ny() as usize;
    fdtd::sum_in_order(rows.chunks_exact(per_plane).map(|plane| {
        let (mut kinetic, mut potential) = (0.0f64, 0.0f64);
        for row in plane.chunks_exact(2) {
            kinetic += row[0];
            potential += row[1];
        }
        0.5 * kinetic + 0.5 * f64::from(courant2) * potential
    }))
}

/// What one `wavesim_copy` thread moves: 16 bytes, so a warp reads and
/// writes 512 contiguous bytes with one vector load and store per thread.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Chunk(pub [u32; 4]);

const _: () = assert!(size_of::<Chunk>() == 16 && align_of::<Chunk>() == 16);

/// Threads per `wavesim_copy` block.
pub const COPY_BLOCK: u32 = 256;

/// Blocks of a `wavesim_copy` launch over `chunks` chunks (one thread each),
/// or `None` when that is more than a launch can have (2³¹ − 1 blocks).
pub const fn copy_blocks(chunks: u64) -> Option<u32> {
    let blocks = chunks.div_ceil(COPY_BLOCK as u64);
    if blocks <= i32::MAX as u64 { Some(blocks as u32) } else { None }
}

/// The chunk thread `thread` of block `block` copies, if any: the thread's
/// global number when it is below `chunks`.
pub const fn copy_index(block: u32, block_dim: u32, thread: u32, chunks: u64) -> Option<u64> {
    let t = block as u64 * block_dim as u64 + thread as u64;
    if t < chunks { Some(t) } else { None }
}

/// The three kernels run on the CPU, one "thread" after another, through the
/// same per-thread functions as on the GPU: for tests (Miri included) and for
/// checking a launch geometry without a GPU.
pub mod emulate {
    use super::*;

    /// One `wavesim_step` launch: every thread of every block.
    ///
    /// # Panics
    /// If a buffer is not `dims.cells()` long.
    pub fn step(cur: &[f32], prev: &mut [f32], dims: GridDims, k: Coeffs) {
        assert!(cur.len() == dims.cells() && prev.len() == dims.cells());
        let (nx, ny, nz) = (dims.nx(), dims.ny(), dims.nz());
        let geometry = StepGeometry::new(dims);
        let (cur, prev) = (cur.as_ptr(), prev.as_mut_ptr());
        for block in 0..geometry.blocks() {
            for thread in 0..STEP_BLOCK_THREADS {
                if let Some([x, y, z]) = geometry.cell(nx, ny, nz, block, thread) {
                    // SAFETY: both slices hold `dims.cells()` values (asserted),
                    // are distinct borrows, and the cell is interior.
                    unsafe { step_cell(cur, prev, nx, nx * ny, x + nx * (y + ny * z), k) };
                }
            }
        }
    }

    /// One `wavesim_inject` launch.
    ///
    /// # Panics
    /// If a buffer is not `dims.cells()` long.
    pub fn inject(cur: &mut [f32], prev: &mut [f32], dims: GridDims, pos: [u32; 3], value: f32) {
        assert!(cur.len() == dims.cells() && prev.len() == dims.cells());
        let (c, p) = (cur.as_mut_ptr(), prev.as_mut_ptr());
        for t in 0..INJECT_BLOCKS * INJECT_BLOCK {
            // SAFETY: both slices hold `dims.cells()` values and are distinct.
            unsafe { inject_offset(c, p, dims, pos, value, t) };
        }
    }

    /// One `wavesim_energy` launch followed by [`energy_from_rows`].
    ///
    /// # Panics
    /// If a buffer is not `dims.cells()` long.
    pub fn energy(cur: &[f32], prev: &[f32], dims: GridDims, courant2: f32, rows: &mut [f64]) -> f64 {
        assert!(cur.len() == dims.cells() && prev.len() == dims.cells());
        assert_eq!(rows.len(), energy_rows_len(dims));
        let row_count = dims.ny() * dims.nz();
        for warp in 0..energy_blocks(dims) * ENERGY_ROWS_PER_BLOCK {
            if warp >= row_count {
                continue;
            }
            let (y, z) = (warp % dims.ny(), warp / dims.ny());
            let mut kinetic = [0.0; WARP as usize];
            let mut potential = [0.0; WARP as usize];
            for lane in 0..WARP {
                // SAFETY: both slices hold `dims.cells()` values; `y`, `z` in range.
                let (k, p) = unsafe { energy_lane(cur.as_ptr(), prev.as_ptr(), dims, y, z, lane) };
                kinetic[lane as usize] = k;
                potential[lane as usize] = p;
            }
            rows[2 * warp as usize] = warp_sum(kinetic);
            rows[2 * warp as usize + 1] = warp_sum(potential);
        }
        energy_from_rows(rows, dims, courant2)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::fdtd::Params;

    fn bits(s: &[f32]) -> Vec<u32> {
        s.iter().map(|v| v.to_bits()).collect()
    }

    /// `wavesim_copy`'s threads cover every chunk once and none beyond.
    #[test]
    fn copy_geometry_covers_every_chunk_once() {
        for chunks in [1u64, 255, 256, 257, 1000] {
            let blocks = copy_blocks(chunks).unwrap();
            let mut seen = vec![0u32; chunks as usize];
            for b in 0..blocks {
                for t in 0..COPY_BLOCK {
                    if let Some(i) = copy_index(b, COPY_BLOCK, t, chunks) {
                        seen[i as usize] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{chunks}");
        }
        // 512 MiB (the bench's buffer) is 2^25 chunks: 2^17 blocks.
        assert_eq!(copy_blocks(1 << 25), Some(1 << 17));
        assert_eq!(copy_blocks(u64::from(COPY_BLOCK) * (1 << 31)), None);
        assert_eq!(copy_index(u32::MAX, COPY_BLOCK, 255, u64::MAX), Some(u64::from(u32::MAX) * 256 + 255));
    }

    /// Every interior cell is covered by exactly one thread, no wall cell by
    /// any, for sizes that do and do not divide the block.
    #[test]
    fn step_geometry_covers_the_interior_once() {
        for (nx, ny, nz) in [(3, 3, 3), (34, 6, 4), (35, 7, 5), (40, 9, 12), (66, 3, 4)] {
            let dims = GridDims::new(nx, ny, nz).unwrap();
            let g = StepGeometry::new(dims);
            let mut hits = vec![0u8; dims.cells()];
            for block in 0..g.blocks() + 1 {
                for thread in 0..STEP_BLOCK_THREADS {
                    if let Some([x, y, z]) = g.cell(nx, ny, nz, block, thread) {
                        assert!(block < g.blocks(), "a block past the end has no cell");
                        hits[dims.index(x, y, z)] += 1;
                    }
                }
            }
            for z in 0..nz {
                for y in 0..ny {
                    for x in 0..nx {
                        let want = u8::from(dims.is_interior([x, y, z]));
                        assert_eq!(hits[dims.index(x, y, z)], want, "{nx}x{ny}x{nz} at {x},{y},{z}");
                    }
                }
            }
        }
        let big = StepGeometry::new(GridDims::cube(GridDims::MAX).unwrap());
        assert_eq!(big.tiles, [32, 256, 511]);
        assert!(big.blocks() < i32::MAX as u32);
    }

    #[test]
    fn emulated_kernels_match_the_cpu_bit_for_bit() {
        let dims = GridDims::new(37, 11, 9).unwrap();
        let k = Params::new(1.0, 0.55, 1.0, 0.01).unwrap().coeffs();
        let (mut cur, mut prev) = (vec![0.0f32; dims.cells()], vec![0.0f32; dims.cells()]);
        let (mut gcur, mut gprev) = (cur.clone(), prev.clone());
        for (pos, value) in [([5, 5, 4], 1.0f32), ([35, 1, 7], -0.7), ([18, 9, 1], 0.3)] {
            fdtd::inject_bump(&mut cur, &mut prev, dims, pos, value);
            emulate::inject(&mut gcur, &mut gprev, dims, pos, value);
            assert_eq!(bits(&cur), bits(&gcur));
            assert_eq!(bits(&prev), bits(&gprev));
            for _ in 0..7 {
                fdtd::step_serial(&cur, &mut prev, dims, k);
                core::mem::swap(&mut cur, &mut prev);
                emulate::step(&gcur, &mut gprev, dims, k);
                core::mem::swap(&mut gcur, &mut gprev);
            }
            assert_eq!(bits(&cur), bits(&gcur));
            assert_eq!(bits(&prev), bits(&gprev));
        }
        assert!(cur.iter().any(|&v| v != 0.0));
        let mut rows = vec![0.0; energy_rows_len(dims)];
        let cpu = fdtd::energy(&cur, &prev, dims, k.courant2);
        let gpu = emulate::energy(&gcur, &gprev, dims, k.courant2, &mut rows);
        assert!(cpu > 0.0);
        assert!(((gpu - cpu) / cpu).abs() < 1e-13, "cpu {cpu} gpu {gpu}");
    }

    #[test]
    fn inject_threads_cover_the_bump() {
        assert_eq!((INJECT_SIDE, INJECT_THREADS, INJECT_BLOCKS), (11, 1331, 6));
        let dims = GridDims::cube(20).unwrap();
        let centre = inject_target(dims, [10, 10, 10], INJECT_THREADS / 2);
        assert_eq!(centre, Some((dims.index(10, 10, 10) as u32, 1.0)));
        // Offsets off the grid or on a wall are skipped, not wrapped.
        assert_eq!(inject_target(dims, [1, 1, 1], 0), None);
        assert_eq!(inject_target(dims, [1, 1, 1], INJECT_THREADS), None);
        let touched = (0..INJECT_THREADS).filter(|&t| inject_target(dims, [10, 10, 10], t).is_some()).count();
        // Cells with r² < 25 inside a ball of radius 5: 485 (weights > 0).
        assert_eq!(touched, 485);
    }

    #[test]
    fn warp_sum_is_the_shuffle_tree() {
        let mut lanes = [0.0; 32];
        for (i, v) in lanes.iter_mut().enumerate() {
            *v = i as f64;
        }
        assert_eq!(warp_sum(lanes), 496.0);
        // The order is a tree, not a running sum: 1e-17 meets 1.0 first
        // (and is lost) in the tree, meets 0.0 last in the running sum.
        let mut lanes = [0.0; 32];
        lanes[0] = 1.0;
        lanes[16] = 1e-17;
        lanes[1] = -1.0;
        assert_eq!(warp_sum(lanes), 0.0);
        assert_eq!(lanes.iter().sum::<f64>(), 1e-17);
    }
}
