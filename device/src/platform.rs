//! What differs between the places an actor loop runs: the clock and how to
//! wait politely.

/// Clock, back-off and lanes of the place an actor loop runs.
///
/// ## Lanes
///
/// On the GPU the actor loop runs on all [`Platform::LANES`] (32) lanes of
/// one warp in lockstep, every lane holding the same actor state and seeing
/// the same messages. The lanes share out the reads of host memory — lane
/// `l` reads the `l`-th ready inbox slot, so a batch of up to 32 messages
/// costs two PCIe round trips — and lane 0 alone performs every write
/// ([`Platform::is_writer`]). On the host there is one lane and the defaults
/// below apply.
pub trait Platform {
    /// Lanes that run one actor loop together.
    const LANES: u32 = 1;

    /// Nanoseconds of a monotonic clock (the physical part of HLC stamps).
    fn now_ns() -> u64;
    /// Back off briefly after an idle poll. `idle_rounds` counts consecutive
    /// idle polls, so implementations can back off further the longer the
    /// queue stays empty.
    fn relax(idle_rounds: u32);

    /// This lane's index, `0..LANES`.
    #[inline(always)]
    fn lane() -> u32 {
        0
    }
    /// Whether this lane performs writes to shared memory (lane 0).
    #[inline(always)]
    fn is_writer() -> bool {
        Self::lane() == 0
    }
    /// Bit `l` set when `pred` is true on lane `l` (all lanes must call).
    #[inline(always)]
    fn ballot(pred: bool) -> u32 {
        pred as u32
    }
    /// The value of `v` on lane `src` (all lanes must call).
    #[inline(always)]
    fn shuffle(v: u64, src: u32) -> u64 {
        let _ = src;
        v
    }
    /// Wait for every lane, with the memory accesses of each lane before
    /// the call ordered before those of every lane after it (all lanes must
    /// call). Used after lane 0 alone wrote what all lanes then read.
    #[inline(always)]
    fn sync_lanes() {}
    /// Wait for every thread of this block (a gang worker), with the memory
    /// accesses of each before the call ordered before those of every
    /// thread after it (all threads of the block must call). One thread per
    /// worker on the host: nothing to do.
    #[inline(always)]
    fn sync_block() {}
    /// [`Platform::sync_block`] that also returns whether `pred` was true
    /// on any thread of the block.
    #[inline(always)]
    fn sync_block_or(pred: bool) -> bool {
        pred
    }
}

/// The GPU platform: `%globaltimer` and `nanosleep`.
#[cfg(target_arch = "nvptx64")]
pub mod gpu {
    use core::arch::asm;

    /// The platform of the persistent kernel.
    pub struct Gpu;

    /// Whether this thread is in warp 0 of block 0 (the warp that runs a
    /// single actor).
    #[inline(always)]
    pub fn is_actor_warp() -> bool {
        // SAFETY: reading special registers has no preconditions.
        unsafe { core::arch::nvptx::_thread_idx_x() < 32 && core::arch::nvptx::_block_idx_x() == 0 }
    }

    /// Whether this thread is in warp 0 of its block (the warp that runs
    /// the block's slot in an actor system).
    #[inline(always)]
    pub fn is_slot_warp() -> bool {
        // SAFETY: reading special registers has no preconditions.
        unsafe { core::arch::nvptx::_thread_idx_x() < 32 }
    }

    /// This block's index (an actor system's slot).
    #[inline(always)]
    pub fn block_index() -> u32 {
        // SAFETY: reading special registers has no preconditions.
        unsafe { core::arch::nvptx::_block_idx_x() as u32 }
    }

    /// This thread's index in its block and the block's size.
    #[inline(always)]
    pub fn thread_in_block() -> (u32, u32) {
        // SAFETY: reading special registers has no preconditions.
        unsafe { (core::arch::nvptx::_thread_idx_x() as u32, core::arch::nvptx::_block_dim_x() as u32) }
    }

    /// `bar.warp.sync` over the whole warp: all lanes wait for each other,
    /// and memory accesses before it (of any lane) are ordered before
    /// accesses after it (of any lane).
    #[inline(always)]
    pub fn sync_warp() {
        // SAFETY: all 32 lanes of the warp execute this together.
        unsafe { asm!("bar.warp.sync -1;", options(nostack)) };
    }

    impl super::Platform for Gpu {
        const LANES: u32 = 32;

        #[inline(always)]
        fn lane() -> u32 {
            let l: u32;
            // SAFETY: reading %laneid has no side effects.
            unsafe { asm!("mov.u32 {l}, %laneid;", l = out(reg32) l, options(nomem, nostack, pure)) };
            l
        }

        #[inline(always)]
        fn ballot(pred: bool) -> u32 {
            let m: u32;
            // SAFETY: all 32 lanes execute this (the loop is warp-uniform).
            unsafe {
                asm!(
                    "{{ .reg .pred p; setp.ne.u32 p, {x}, 0; vote.sync.ballot.b32 {m}, p, -1; }}",
                    x = in(reg32) pred as u32, m = out(reg32) m, options(nomem, nostack)
                )
            };
            m
        }

        #[inline(always)]
        fn shuffle(v: u64, src: u32) -> u64 {
            let (lo, hi) = (v as u32, (v >> 32) as u32);
            let (a, b): (u32, u32);
            // SAFETY: all 32 lanes execute this (the loop is warp-uniform).
            unsafe {
                asm!(
                    "shfl.sync.idx.b32 {a}, {lo}, {s}, 31, -1;",
                    "shfl.sync.idx.b32 {b}, {hi}, {s}, 31, -1;",
                    a = out(reg32) a, b = out(reg32) b, lo = in(reg32) lo, hi = in(reg32) hi, s = in(reg32) src,
                    options(nomem, nostack)
                )
            };
            (a as u64) | ((b as u64) << 32)
        }

        #[inline(always)]
        fn sync_lanes() {
            sync_warp();
        }

        #[inline(always)]
        fn sync_block() {
            // `barrier.sync`, not `bar.sync`: the latter is the `.aligned`
            // form, which requires every thread of a warp to execute the
            // same barrier instruction. The compiler may duplicate the call
            // into diverged paths (one thread summing while the others wait
            // is the gang's normal case), and an aligned barrier reached
            // from two places hung a gang on an H200.
            // SAFETY: every thread of the block calls it the same number of
            // times (the gang worker loop is block-uniform).
            unsafe { asm!("barrier.sync 0;", options(nostack)) };
        }

        #[inline(always)]
        fn sync_block_or(pred: bool) -> bool {
            let r: u32;
            // SAFETY: as for `sync_block` (and not `.aligned` either).
            unsafe {
                asm!(
                    "{{ .reg .pred p, q; setp.ne.u32 p, {x}, 0; barrier.red.or.pred q, 0, p; selp.u32 {r}, 1, 0, q; }}",
                    x = in(reg32) pred as u32, r = out(reg32) r, options(nostack)
                )
            };
            r != 0
        }

        #[inline(always)]
        fn now_ns() -> u64 {
            let t: u64;
            // SAFETY: reading %globaltimer has no side effects.
            unsafe { asm!("mov.u64 {t}, %globaltimer;", t = out(reg64) t, options(nomem, nostack)) };
            t
        }

        #[inline(always)]
        fn relax(idle_rounds: u32) {
            // Spin hot for the first polls (latency), then sleep a little so
            // an idle actor leaves issue slots and PCIe to others.
            if idle_rounds > 64 {
                // SAFETY: nanosleep only delays this thread (sm_70+).
                unsafe { asm!("nanosleep.u32 {n};", n = in(reg32) 200u32, options(nomem, nostack)) };
            }
        }
    }
}
