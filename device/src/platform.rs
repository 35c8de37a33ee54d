//! What differs between the places an actor loop runs: the clock and how to
//! wait politely.

/// Clock and back-off of the place an actor loop runs.
pub trait Platform {
    /// Nanoseconds of a monotonic clock (the physical part of HLC stamps).
    fn now_ns() -> u64;
    /// Back off briefly after an idle poll. `idle_rounds` counts consecutive
    /// idle polls, so implementations can back off further the longer the
    /// queue stays empty.
    fn relax(idle_rounds: u32);
}

/// The GPU platform: `%globaltimer` and `nanosleep`.
#[cfg(target_arch = "nvptx64")]
pub mod gpu {
    use core::arch::asm;

    /// The platform of the persistent kernel.
    pub struct Gpu;

    /// Whether this is thread 0 of block 0 (the one that runs a single actor).
    #[inline(always)]
    pub fn is_leader_thread() -> bool {
        // SAFETY: reading special registers has no preconditions.
        unsafe { core::arch::nvptx::_thread_idx_x() == 0 && core::arch::nvptx::_block_idx_x() == 0 }
    }

    impl super::Platform for Gpu {
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
