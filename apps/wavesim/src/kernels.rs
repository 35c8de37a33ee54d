//! The batch GPU kernels (feature `kernels`, built for `nvptx64-nvidia-cuda`
//! by `cargo xtask build-ptx` into `target/ptx/ringkernel_wavesim.ptx`).
//!
//! Each entry reads its block and thread numbers and hands them to the
//! per-thread functions of [`crate::batch`], which the host tests run on the
//! CPU as well. Launch sizes come from the same module; the host engine
//! (`crate::gpu`) launches them with one-dimensional grids and blocks.
//!
//! | entry | parameters (each one 64-bit kernel parameter slot) | grid × block |
//! | --- | --- | --- |
//! | `wavesim_step` | `cur`, `prev`, `nx`, `ny`, `nz`, `courant2` bits, `keep` bits | `StepGeometry::blocks()` × 256 |
//! | `wavesim_inject` | `cur`, `prev`, `nx`, `ny`, `nz`, `x`, `y`, `z`, `value` bits | `INJECT_BLOCKS` × `INJECT_BLOCK` |
//! | `wavesim_energy` | `cur`, `prev`, `nx`, `ny`, `nz`, `rows` | `energy_blocks(dims)` × 256 |
//! | `wavesim_copy` | `src`, `dst`, `chunks` | `copy_blocks(chunks)` × `COPY_BLOCK` |
//!
//! The `u32` parameters are passed by the host as the low half of a `u64`
//! slot (the driver copies a parameter's own size from each slot, and both
//! sides are little-endian); `f32` values travel as their bits, so no float
//! parameter ABI is involved.
//!
//! Every entry trusts its pointers: the host engine passes buffers it
//! allocated for the grid whose sides it passes. Sides that do not make a
//! valid [`GridDims`] trap (a launch failure on the host) instead of
//! indexing anywhere.

use core::arch::asm;
use core::arch::nvptx::{_block_dim_x, _block_idx_x, _thread_idx_x};

use crate::batch::{self, Chunk, StepGeometry, WARP};
use crate::fdtd::Coeffs;
use crate::grid::GridDims;

/// This block's number and this thread's number in it.
#[inline(always)]
fn ids() -> (u32, u32) {
    // SAFETY: reading special registers has no preconditions.
    unsafe { (_block_idx_x() as u32, _thread_idx_x() as u32) }
}

/// The grid the host launched for. The host passes the sides of a checked
/// [`GridDims`]; sides that are not abort the kernel (a trap, which the host
/// sees as a launch failure) rather than index outside the buffers.
#[inline(always)]
fn dims(nx: u32, ny: u32, nz: u32) -> GridDims {
    match GridDims::new(nx, ny, nz) {
        Ok(d) => d,
        // SAFETY: `trap` has no preconditions; it aborts the kernel.
        Err(_) => unsafe { core::arch::nvptx::trap() },
    }
}

/// One FDTD step over the interior: thread → cell by [`StepGeometry`],
/// then [`batch::step_cell`]. `prev` holds the previous field on entry and
/// the next one on exit; the host then swaps the two buffers.
///
/// # Safety
/// `cur` and `prev` are distinct device buffers of `nx·ny·nz` `f32`s; the
/// sides are those of a valid [`GridDims`]; the launch is
/// `StepGeometry::blocks()` blocks of [`batch::STEP_BLOCK_THREADS`] threads.
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn wavesim_step(
    cur: *const f32,
    prev: *mut f32,
    nx: u32,
    ny: u32,
    nz: u32,
    courant2_bits: u32,
    keep_bits: u32,
) {
    let (block, thread) = ids();
    let k = Coeffs { courant2: f32::from_bits(courant2_bits), keep: f32::from_bits(keep_bits) };
    let _checked = dims(nx, ny, nz);
    if let Some([x, y, z]) = StepGeometry::of(nx, ny, nz).cell(nx, ny, nz, block, thread) {
        // SAFETY: the cell is interior (`cell` checks it) of the grid both
        // buffers hold (contract); thread → cell is one to one, so `prev[i]`
        // is this thread's alone, and nobody writes `cur`.
        unsafe { batch::step_cell(cur, prev, nx, nx * ny, x + nx * (y + ny * z), k) };
    }
}

/// Adds an impulse bump of peak `f32::from_bits(value_bits)` centred on
/// interior cell (`x`, `y`, `z`) to both fields: thread `t` handles offset
/// `t` of the bump's cube ([`batch::inject_offset`]).
///
/// # Safety
/// `cur` and `prev` are distinct device buffers of `nx·ny·nz` `f32`s; the
/// sides are those of a valid [`GridDims`]; no other kernel runs on them
/// meanwhile.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // one kernel parameter each
pub unsafe extern "ptx-kernel" fn wavesim_inject(
    cur: *mut f32,
    prev: *mut f32,
    nx: u32,
    ny: u32,
    nz: u32,
    x: u32,
    y: u32,
    z: u32,
    value_bits: u32,
) {
    let (block, thread) = ids();
    // SAFETY: reading a special register has no preconditions.
    let t = block * unsafe { _block_dim_x() as u32 } + thread;
    // SAFETY: buffers of the grid's size (contract); threads write distinct
    // cells (`inject_target` is one to one on offsets).
    unsafe { batch::inject_offset(cur, prev, dims(nx, ny, nz), [x, y, z], f32::from_bits(value_bits), t) };
}

/// The energy's per-row partial sums: warp `w` of the launch sums row
/// `w = y + ny·z` ([`batch::energy_lane`] per lane, then a shuffle-down
/// tree) and lane 0 writes `(kinetic, potential)` to `rows[2w]`,
/// `rows[2w + 1]`. The host adds them up ([`batch::energy_from_rows`]).
///
/// # Safety
/// `cur` and `prev` are device buffers of `nx·ny·nz` `f32`s that no kernel
/// writes meanwhile, `rows` one of `2·ny·nz` `f64`s; the sides are those of
/// a valid [`GridDims`]; blocks have a multiple of 32 threads.
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn wavesim_energy(
    cur: *const f32,
    prev: *const f32,
    nx: u32,
    ny: u32,
    nz: u32,
    rows: *mut f64,
) {
    let (block, thread) = ids();
    // SAFETY: reading a special register has no preconditions.
    let warps_per_block = unsafe { _block_dim_x() as u32 } / WARP;
    let row = block * warps_per_block + thread / WARP;
    let lane = thread % WARP;
    // The whole warp leaves together (same `row`): the shuffles below see
    // all 32 lanes.
    if row >= ny * nz {
        return;
    }
    // SAFETY: fields of the grid's size (contract), `y < ny`, `z < nz`.
    let (kinetic, potential) = unsafe { batch::energy_lane(cur, prev, dims(nx, ny, nz), row % ny, row / ny, lane) };
    let kinetic = warp_sum(kinetic);
    let potential = warp_sum(potential);
    if lane == 0 {
        // SAFETY: `row < ny·nz`, so both entries are inside `rows` (contract).
        unsafe {
            rows.add(2 * row as usize).write(kinetic);
            rows.add(2 * row as usize + 1).write(potential);
        }
    }
}

/// Copies `chunks` 16-byte [`Chunk`]s from `src` to `dst`, one per thread
/// ([`batch::copy_index`]): the device-to-device copy `wavesim --bench` times
/// to measure the memory bandwidth the stencil is compared with.
///
/// # Safety
/// `src` and `dst` are distinct device buffers of at least `chunks`
/// 16-byte-aligned [`Chunk`]s; no other kernel writes them meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "ptx-kernel" fn wavesim_copy(src: *const Chunk, dst: *mut Chunk, chunks: u64) {
    let (block, thread) = ids();
    // SAFETY: reading a special register has no preconditions.
    let block_dim = unsafe { _block_dim_x() as u32 };
    if let Some(i) = batch::copy_index(block, block_dim, thread, chunks) {
        // One 16-byte vector load, then one vector store (written out: LLVM
        // splits a `Chunk` copy into two 8-byte load/store pairs, and the
        // first store then holds up the second load).
        let (a, b): (u64, u64);
        // SAFETY: `i < chunks`, so the chunk is inside `src` and 16-byte
        // aligned (contract); global memory read only. The pointers come
        // from `cuMemAlloc`, whose generic addresses are the global window's
        // own (`cvta.to.global` is the identity), so `ld.global` takes them.
        unsafe {
            asm!(
                "ld.global.v2.u64 {{{a}, {b}}}, [{p}];",
                p = in(reg64) src.add(i as usize), a = out(reg64) a, b = out(reg64) b,
                options(readonly, nostack, preserves_flags)
            )
        };
        // SAFETY: `i < chunks`, so the chunk is inside `dst` and aligned
        // (contract); each thread writes its own chunk, and nobody reads `dst`.
        unsafe {
            asm!(
                "st.global.v2.u64 [{p}], {{{a}, {b}}};",
                p = in(reg64) dst.add(i as usize), a = in(reg64) a, b = in(reg64) b,
                options(nostack, preserves_flags)
            )
        };
    }
}

/// The warp's total in lane 0, added in the order of [`batch::warp_sum`]
/// (also the persistent engine's row energy, `crate::persistent`):
/// for `d` = 16, 8, 4, 2, 1, lane `l` adds lane `l + d`'s value. All 32
/// lanes must call it together.
#[inline(always)]
pub(crate) fn warp_sum(mut v: f64) -> f64 {
    let mut d = WARP / 2;
    while d > 0 {
        v += shfl_down(v, d);
        d /= 2;
    }
    v
}

/// Lane `l + d`'s `v` (its own `v` where `l + d ≥ 32`), full warp.
#[inline(always)]
fn shfl_down(v: f64, d: u32) -> f64 {
    let bits = v.to_bits();
    let (lo, hi) = (bits as u32, (bits >> 32) as u32);
    let (a, b): (u32, u32);
    // SAFETY: `shfl.sync` with the full mask: every lane of the warp runs
    // this (the callers keep the warp converged); registers only.
    unsafe {
        asm!(
            "shfl.sync.down.b32 {a}, {lo}, {d}, 31, -1;",
            "shfl.sync.down.b32 {b}, {hi}, {d}, 31, -1;",
            a = out(reg32) a, b = out(reg32) b, lo = in(reg32) lo, hi = in(reg32) hi, d = in(reg32) d,
            options(nomem, nostack)
        )
    };
    f64::from_bits(u64::from(a) | (u64::from(b) << 32))
}

// The panic handler (a trap) comes from `ringkernel-device`, which this
// crate links for its persistent actor (`crate::persistent`).
