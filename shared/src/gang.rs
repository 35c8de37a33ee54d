//! Layout of a **gang**: worker blocks that a single actor hands
//! data-parallel jobs to, inside the actor's own persistent launch.
//!
//! An actor runs on one warp. Work that needs the whole GPU — a stencil over
//! a 3D field, a reduction — goes to its gang: `workers` blocks of the same
//! launch (blocks `1..=workers` on CUDA, one thread each on the CPU) that
//! wait for a job, run it, and report completion. The actor's handler
//! dispatches a job and waits for it (`Context::gang` in the device crate),
//! so a job is part of handling one message.
//!
//! The gang's memory is one block of device memory (heap on the CPU),
//! allocated and zeroed by the host at launch:
//!
//! | offset | what | written by |
//! | --- | --- | --- |
//! | 0 | [`GangControl`] (256 B) | host before launch (sizes, params); actor (job, epoch, shutdown); last worker (result, completed) |
//! | [`GangLayout::progress`] | one `u32` progress counter per worker | its worker (release), read by any worker (acquire) |
//! | [`GangLayout::results`] | one `u64` per worker | its worker, read in `finish` by the last worker |
//! | [`GangLayout::arena`] | `arena_bytes` for the work's own data | the work |
//!
//! ## Protocol (all device-scope atomics)
//!
//! 1. The actor writes [`GangControl::job`], then stores `epoch = e` with
//!    release ordering.
//! 2. Each worker's leading thread sees `epoch` change (acquire), the block
//!    synchronises, and every thread runs the job.
//! 3. Each worker, after a block barrier, adds 1 to [`GangControl::arrivals`]
//!    (acquire-release). The one that brings it to `workers` is the last: it
//!    runs the work's `finish` (a reduction over the per-worker results),
//!    writes [`GangControl::result`], resets `arrivals` to 0 and stores
//!    `completed = e` with release ordering.
//! 4. The actor waits for `completed == e` (acquire) and reads `result`.
//!
//! Between jobs, workers may wait on each other's progress counters (a
//! neighbour has finished step *s*): the counters only grow, so waits
//! compare with wrapping arithmetic. Setting [`GangControl::shutdown`] makes
//! every idle worker return.

use bytemuck::{Pod, Zeroable};

/// Bytes of a job and of the launch parameters.
pub const GANG_JOB_BYTES: usize = 64;

/// Most workers a gang may have.
pub const MAX_GANG_WORKERS: u32 = 4096;

/// Alignment of the arena (and of the layout's parts).
pub const GANG_ALIGN: usize = 256;

/// The gang's control words, at offset 0 of its memory.
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct GangControl {
    /// Job sequence: the actor stores `e + 1` (release) after writing job `e + 1`.
    pub epoch: u32,
    /// The epoch whose job every worker finished (stored by the last one).
    pub completed: u32,
    /// Workers done with the current job.
    pub arrivals: u32,
    /// Non-zero: idle workers return (set when the actor's loop ends).
    pub shutdown: u32,
    /// Number of workers.
    pub workers: u32,
    /// `GangWork::ID` of the kernel the host launched (checked by the actor).
    pub work_id: u32,
    /// Byte offset of the arena from the start of the gang memory.
    pub arena_offset: u32,
    /// Reserved, zero.
    pub _reserved: u32,
    /// Length of the arena in bytes.
    pub arena_len: u64,
    /// The finished job's result (`GangWork::finish` of the last worker).
    pub result: u64,
    /// Reserved, zero.
    pub _pad: [u64; 10],
    /// The current job.
    pub job: [u8; GANG_JOB_BYTES],
    /// Launch parameters: written by the host before launch, read-only after.
    pub params: [u8; GANG_JOB_BYTES],
}

const _: () = {
    assert!(core::mem::size_of::<GangControl>() == 256);
    assert!(core::mem::offset_of!(GangControl, epoch) == 0);
    assert!(core::mem::offset_of!(GangControl, completed) == 4);
    assert!(core::mem::offset_of!(GangControl, arrivals) == 8);
    assert!(core::mem::offset_of!(GangControl, shutdown) == 12);
    assert!(core::mem::offset_of!(GangControl, workers) == 16);
    assert!(core::mem::offset_of!(GangControl, work_id) == 20);
    assert!(core::mem::offset_of!(GangControl, arena_offset) == 24);
    assert!(core::mem::offset_of!(GangControl, arena_len) == 32);
    assert!(core::mem::offset_of!(GangControl, result) == 40);
    assert!(core::mem::offset_of!(GangControl, job) == 128);
    assert!(core::mem::offset_of!(GangControl, params) == 192);
};

/// Why a gang layout cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GangLayoutError {
    /// Zero workers, or more than [`MAX_GANG_WORKERS`].
    Workers(u32),
    /// The arena does not fit the address arithmetic (more than 2⁴⁸ bytes).
    ArenaTooLarge(u64),
}

impl core::fmt::Display for GangLayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Workers(n) => write!(f, "a gang needs 1..={MAX_GANG_WORKERS} workers, not {n}"),
            Self::ArenaTooLarge(b) => write!(f, "a gang arena of {b} bytes is too large"),
        }
    }
}

/// Where the parts of a gang's memory are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GangLayout {
    /// Number of workers.
    pub workers: u32,
    /// Offset of the progress counters (`workers` × `u32`).
    pub progress: usize,
    /// Offset of the per-worker results (`workers` × `u64`).
    pub results: usize,
    /// Offset of the arena.
    pub arena: usize,
    /// Length of the arena.
    pub arena_len: usize,
    /// Bytes of the whole block.
    pub total: usize,
}

const fn align_up(x: usize) -> usize {
    x.div_ceil(GANG_ALIGN) * GANG_ALIGN
}

impl GangLayout {
    /// The layout for `workers` workers and an arena of `arena_bytes`.
    pub const fn new(workers: u32, arena_bytes: u64) -> Result<Self, GangLayoutError> {
        if workers == 0 || workers > MAX_GANG_WORKERS {
            return Err(GangLayoutError::Workers(workers));
        }
        if arena_bytes > 1 << 48 {
            return Err(GangLayoutError::ArenaTooLarge(arena_bytes));
        }
        let progress = core::mem::size_of::<GangControl>();
        let results = align_up(progress + 4 * workers as usize);
        let arena = align_up(results + 8 * workers as usize);
        let arena_len = arena_bytes as usize;
        Ok(Self { workers, progress, results, arena, arena_len, total: arena + arena_len })
    }

    /// The control block the host writes at offset 0 before launch.
    pub fn control(&self, work_id: u32, params: [u8; GANG_JOB_BYTES]) -> GangControl {
        GangControl {
            workers: self.workers,
            work_id,
            arena_offset: self.arena as u32,
            arena_len: self.arena_len as u64,
            params,
            ..Zeroable::zeroed()
        }
    }
}

/// Whether progress counter value `have` has reached `want`, with wrapping
/// (counters only grow, and waits are for values at most 2³¹ ahead).
#[inline(always)]
pub const fn reached(have: u32, want: u32) -> bool {
    (have.wrapping_sub(want) as i32) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_aligned_and_ordered() {
        let l = GangLayout::new(132, 1000).unwrap();
        assert_eq!(l.progress, 256);
        assert!(l.results >= l.progress + 4 * 132 && l.results.is_multiple_of(GANG_ALIGN));
        assert!(l.arena >= l.results + 8 * 132 && l.arena.is_multiple_of(GANG_ALIGN));
        assert_eq!(l.total, l.arena + 1000);
        let c = l.control(7, [3; GANG_JOB_BYTES]);
        assert_eq!((c.workers, c.work_id, c.arena_offset as usize, c.arena_len), (132, 7, l.arena, 1000));
        assert_eq!((c.epoch, c.completed, c.shutdown), (0, 0, 0));
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert_eq!(GangLayout::new(0, 1), Err(GangLayoutError::Workers(0)));
        assert_eq!(GangLayout::new(MAX_GANG_WORKERS + 1, 1), Err(GangLayoutError::Workers(MAX_GANG_WORKERS + 1)));
        assert!(GangLayout::new(1, u64::MAX).is_err());
        assert!(GangLayout::new(MAX_GANG_WORKERS, 0).is_ok());
    }

    #[test]
    fn reached_wraps() {
        assert!(reached(5, 5) && reached(6, 5) && !reached(4, 5));
        assert!(reached(2, u32::MAX - 1) && !reached(u32::MAX - 1, 2));
    }
}
