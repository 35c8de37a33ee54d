//! Loads, stores and fences on raw shared memory, with the memory scope in
//! the name.
//!
//! | module | scope | use for | PTX on nvptx64 | host |
//! | --- | --- | --- | --- | --- |
//! | [`sys`] | system | memory the host also touches (mapped pinned host memory: H2K, K2H, control blocks) | `ld.relaxed.sys`, `ld.acquire.sys`, `st.release.sys`, `fence.acq_rel.sys` (what `core::sync::atomic` emits) | `core::sync::atomic` |
//! | [`gpu`] | device | memory only GPU threads touch (K2K inboxes in device memory) | `ld.relaxed.gpu`, `ld.acquire.gpu`, `st.release.gpu`, `fence.acq_rel.gpu` (inline PTX) | `core::sync::atomic` |
//!
//! Cost on an H100 (design notes): a two-block ping-pong through device
//! memory took 1.72 µs per round trip with `.sys` operations and 1.13 µs with
//! `.gpu` ones. Rust's atomics are always `.sys` on nvptx, hence [`gpu`].
//!
//! Ordering used by the queues: poll with a *relaxed* load (so independent
//! polls can be in flight together), then one *acquire fence* once something
//! was seen; publish with a *release* store after the payload.
//!
//! Every function takes a raw pointer and is `unsafe`: the caller promises
//! the pointer is valid and aligned for the access and that every concurrent
//! access to that word is atomic too.

macro_rules! core_atomics {
    ($t:ty, $atomic:ty, $load_relaxed:ident, $load_acquire:ident, $store_relaxed:ident, $store_release:ident) => {
        /// Relaxed load.
        ///
        /// # Safety
        /// `p` is valid and aligned, and all concurrent accesses to `*p` are atomic.
        #[inline(always)]
        pub unsafe fn $load_relaxed(p: *const $t) -> $t {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p as *mut $t) }.load(core::sync::atomic::Ordering::Relaxed)
        }
        /// Acquire load.
        ///
        /// # Safety
        /// As for the relaxed load.
        #[inline(always)]
        pub unsafe fn $load_acquire(p: *const $t) -> $t {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p as *mut $t) }.load(core::sync::atomic::Ordering::Acquire)
        }
        /// Relaxed store.
        ///
        /// # Safety
        /// As for the relaxed load.
        #[inline(always)]
        pub unsafe fn $store_relaxed(p: *mut $t, v: $t) {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p) }.store(v, core::sync::atomic::Ordering::Relaxed)
        }
        /// Release store.
        ///
        /// # Safety
        /// As for the relaxed load.
        #[inline(always)]
        pub unsafe fn $store_release(p: *mut $t, v: $t) {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p) }.store(v, core::sync::atomic::Ordering::Release)
        }
    };
}

macro_rules! rmw_atomics {
    ($t:ty, $atomic:ty, $cas:ident, $add:ident, $or:ident, $swap:ident) => {
        /// Compare-and-swap with acquire-release ordering: `Ok(old)` when
        /// `*p` was `old` and is now `new`, else `Err(current)`.
        ///
        /// # Safety
        /// `p` is valid and aligned, and all concurrent accesses to `*p` are
        /// atomic. Not atomic with respect to the other side of PCIe.
        #[inline(always)]
        pub unsafe fn $cas(p: *mut $t, old: $t, new: $t) -> Result<$t, $t> {
            use core::sync::atomic::Ordering::{AcqRel, Acquire};
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p) }.compare_exchange(old, new, AcqRel, Acquire)
        }
        /// Fetch-and-add (acquire-release); returns the old value.
        ///
        /// # Safety
        /// As for the compare-and-swap.
        #[inline(always)]
        pub unsafe fn $add(p: *mut $t, v: $t) -> $t {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p) }.fetch_add(v, core::sync::atomic::Ordering::AcqRel)
        }
        /// Fetch-and-or (acquire-release); returns the old value.
        ///
        /// # Safety
        /// As for the compare-and-swap.
        #[inline(always)]
        pub unsafe fn $or(p: *mut $t, v: $t) -> $t {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p) }.fetch_or(v, core::sync::atomic::Ordering::AcqRel)
        }
        /// Swap (acquire-release); returns the old value.
        ///
        /// # Safety
        /// As for the compare-and-swap.
        #[inline(always)]
        pub unsafe fn $swap(p: *mut $t, v: $t) -> $t {
            // SAFETY: caller guarantees validity, alignment and atomic-only access.
            unsafe { <$atomic>::from_ptr(p) }.swap(v, core::sync::atomic::Ordering::AcqRel)
        }
    };
}

/// System scope: memory shared with the host.
pub mod sys {
    use core::sync::atomic::{AtomicU32, AtomicU64};

    core_atomics!(u64, AtomicU64, load_relaxed_u64, load_acquire_u64, store_relaxed_u64, store_release_u64);
    core_atomics!(u32, AtomicU32, load_relaxed_u32, load_acquire_u32, store_relaxed_u32, store_release_u32);

    rmw_atomics!(u64, AtomicU64, cas_u64, fetch_add_u64, fetch_or_u64, swap_u64);
    rmw_atomics!(u32, AtomicU32, cas_u32, fetch_add_u32, fetch_or_u32, swap_u32);

    /// Acquire fence: later reads see what the writer published before the
    /// release store that an earlier relaxed load observed.
    #[inline(always)]
    pub fn fence_acquire() {
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    }

    /// Release fence.
    #[inline(always)]
    pub fn fence_release() {
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    }
}

/// Bulk copies of 16-byte-aligned blocks in shared memory, as 16-byte
/// vector accesses on the GPU (`ld.v2.u64` / `st.volatile.v2.u64`: one
/// request per 16 bytes) and plain copies on the
/// host. Used for ring slot bodies, which the protocol hands over with a
/// release/acquire pair on the slot's sequence word, so the copies
/// themselves need no ordering.
pub mod block {
    /// Copy `n` 16-byte blocks from `src` (shared memory) to `dst` (local)
    /// with weak (plain) loads, for data the caller already owns through an
    /// acquire (a ring slot after its sequence word was seen) or a kernel
    /// launch. Weak loads carry no ordering, so the GPU keeps all of a
    /// batch's loads in flight together; an `ld.volatile` per block would
    /// let each one stall on the previous.
    ///
    /// # Safety
    /// Both pointers are valid and 16-aligned for `n` blocks, no one writes
    /// `src` concurrently, and the caller has synchronised with its writer
    /// (acquire, or a launch) so that the data is visible.
    #[inline(always)]
    pub unsafe fn read16(src: *const [u64; 2], dst: *mut [u64; 2], n: usize) {
        let mut i = 0;
        while i < n {
            #[cfg(target_arch = "nvptx64")]
            {
                let (a, b): (u64, u64);
                // SAFETY: caller's contract; a 16-aligned 16-byte load.
                unsafe {
                    core::arch::asm!(
                        "ld.v2.u64 {{{a}, {b}}}, [{p}];",
                        a = out(reg64) a, b = out(reg64) b, p = in(reg64) src.add(i),
                        options(nostack, readonly, pure)
                    );
                    *dst.add(i) = [a, b];
                }
            }
            #[cfg(not(target_arch = "nvptx64"))]
            // SAFETY: caller's contract.
            unsafe {
                *dst.add(i) = *src.add(i)
            };
            i += 1;
        }
    }

    /// Copy `n` 16-byte blocks from `src` (local) to `dst` (shared memory).
    ///
    /// # Safety
    /// Both pointers are valid and 16-aligned for `n` blocks, and no one
    /// accesses `dst` concurrently.
    #[inline(always)]
    pub unsafe fn write16(src: *const [u64; 2], dst: *mut [u64; 2], n: usize) {
        let mut i = 0;
        while i < n {
            #[cfg(target_arch = "nvptx64")]
            // SAFETY: caller's contract; a 16-aligned 16-byte store.
            unsafe {
                let [a, b] = *src.add(i);
                core::arch::asm!(
                    "st.volatile.v2.u64 [{p}], {{{a}, {b}}};",
                    a = in(reg64) a, b = in(reg64) b, p = in(reg64) dst.add(i),
                    options(nostack)
                );
            }
            #[cfg(not(target_arch = "nvptx64"))]
            // SAFETY: caller's contract.
            unsafe {
                *dst.add(i) = *src.add(i)
            };
            i += 1;
        }
    }
}

/// Device scope: memory only GPU threads touch. On the host these are the
/// same as [`sys`].
pub mod gpu {
    #[cfg(not(target_arch = "nvptx64"))]
    pub use super::sys::{
        cas_u32, cas_u64, fence_acquire, fence_release, fetch_add_u32, fetch_add_u64, fetch_or_u32, load_acquire_u32,
        load_acquire_u64, load_relaxed_u32, load_relaxed_u64, store_relaxed_u32, store_relaxed_u64, store_release_u32,
        store_release_u64, swap_u32,
    };

    #[cfg(target_arch = "nvptx64")]
    mod imp {
        use core::arch::asm;

        /// Relaxed `.gpu` load.
        ///
        /// # Safety
        /// `p` is a valid, 8-aligned generic address of device memory whose
        /// concurrent accesses are all atomic.
        #[inline(always)]
        pub unsafe fn load_relaxed_u64(p: *const u64) -> u64 {
            let v: u64;
            // SAFETY: see the function's contract.
            unsafe { asm!("ld.relaxed.gpu.u64 {v}, [{p}];", v = out(reg64) v, p = in(reg64) p, options(nostack)) };
            v
        }
        /// Acquire `.gpu` load.
        ///
        /// # Safety
        /// As for [`load_relaxed_u64`].
        #[inline(always)]
        pub unsafe fn load_acquire_u64(p: *const u64) -> u64 {
            let v: u64;
            // SAFETY: see the function's contract.
            unsafe { asm!("ld.acquire.gpu.u64 {v}, [{p}];", v = out(reg64) v, p = in(reg64) p, options(nostack)) };
            v
        }
        /// Relaxed `.gpu` store.
        ///
        /// # Safety
        /// As for [`load_relaxed_u64`].
        #[inline(always)]
        pub unsafe fn store_relaxed_u64(p: *mut u64, v: u64) {
            // SAFETY: see the function's contract.
            unsafe { asm!("st.relaxed.gpu.u64 [{p}], {v};", v = in(reg64) v, p = in(reg64) p, options(nostack)) };
        }
        /// Release `.gpu` store.
        ///
        /// # Safety
        /// As for [`load_relaxed_u64`].
        #[inline(always)]
        pub unsafe fn store_release_u64(p: *mut u64, v: u64) {
            // SAFETY: see the function's contract.
            unsafe { asm!("st.release.gpu.u64 [{p}], {v};", v = in(reg64) v, p = in(reg64) p, options(nostack)) };
        }
        /// Relaxed `.gpu` 32-bit load.
        ///
        /// # Safety
        /// As for [`load_relaxed_u64`], 4-aligned.
        #[inline(always)]
        pub unsafe fn load_relaxed_u32(p: *const u32) -> u32 {
            let v: u32;
            // SAFETY: see the function's contract.
            unsafe { asm!("ld.relaxed.gpu.u32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p, options(nostack)) };
            v
        }
        /// Acquire `.gpu` 32-bit load.
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn load_acquire_u32(p: *const u32) -> u32 {
            let v: u32;
            // SAFETY: see the function's contract.
            unsafe { asm!("ld.acquire.gpu.u32 {v}, [{p}];", v = out(reg32) v, p = in(reg64) p, options(nostack)) };
            v
        }
        /// Relaxed `.gpu` 32-bit store.
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn store_relaxed_u32(p: *mut u32, v: u32) {
            // SAFETY: see the function's contract.
            unsafe { asm!("st.relaxed.gpu.u32 [{p}], {v};", v = in(reg32) v, p = in(reg64) p, options(nostack)) };
        }
        /// Release `.gpu` 32-bit store.
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn store_release_u32(p: *mut u32, v: u32) {
            // SAFETY: see the function's contract.
            unsafe { asm!("st.release.gpu.u32 [{p}], {v};", v = in(reg32) v, p = in(reg64) p, options(nostack)) };
        }
        /// `.gpu` compare-and-swap (acq_rel): `Ok(old)` on success, else `Err(current)`.
        ///
        /// # Safety
        /// As for [`load_relaxed_u64`].
        #[inline(always)]
        pub unsafe fn cas_u64(p: *mut u64, old: u64, new: u64) -> Result<u64, u64> {
            let v: u64;
            // SAFETY: see the function's contract.
            unsafe {
                asm!("atom.acq_rel.gpu.cas.b64 {v}, [{p}], {o}, {n};", v = out(reg64) v, p = in(reg64) p,
                     o = in(reg64) old, n = in(reg64) new, options(nostack))
            };
            if v == old { Ok(v) } else { Err(v) }
        }
        /// `.gpu` 32-bit compare-and-swap (acq_rel).
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn cas_u32(p: *mut u32, old: u32, new: u32) -> Result<u32, u32> {
            let v: u32;
            // SAFETY: see the function's contract.
            unsafe {
                asm!("atom.acq_rel.gpu.cas.b32 {v}, [{p}], {o}, {n};", v = out(reg32) v, p = in(reg64) p,
                     o = in(reg32) old, n = in(reg32) new, options(nostack))
            };
            if v == old { Ok(v) } else { Err(v) }
        }
        /// `.gpu` fetch-and-add (acq_rel); returns the old value.
        ///
        /// # Safety
        /// As for [`load_relaxed_u64`].
        #[inline(always)]
        pub unsafe fn fetch_add_u64(p: *mut u64, x: u64) -> u64 {
            let v: u64;
            // SAFETY: see the function's contract.
            unsafe {
                asm!("atom.acq_rel.gpu.add.u64 {v}, [{p}], {x};", v = out(reg64) v, p = in(reg64) p,
                     x = in(reg64) x, options(nostack))
            };
            v
        }
        /// `.gpu` 32-bit fetch-and-add (acq_rel); returns the old value.
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn fetch_add_u32(p: *mut u32, x: u32) -> u32 {
            let v: u32;
            // SAFETY: see the function's contract.
            unsafe {
                asm!("atom.acq_rel.gpu.add.u32 {v}, [{p}], {x};", v = out(reg32) v, p = in(reg64) p,
                     x = in(reg32) x, options(nostack))
            };
            v
        }
        /// `.gpu` 32-bit fetch-and-or (acq_rel); returns the old value.
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn fetch_or_u32(p: *mut u32, x: u32) -> u32 {
            let v: u32;
            // SAFETY: see the function's contract.
            unsafe {
                asm!("atom.acq_rel.gpu.or.b32 {v}, [{p}], {x};", v = out(reg32) v, p = in(reg64) p,
                     x = in(reg32) x, options(nostack))
            };
            v
        }
        /// `.gpu` 32-bit swap (acq_rel); returns the old value.
        ///
        /// # Safety
        /// As for [`load_relaxed_u32`].
        #[inline(always)]
        pub unsafe fn swap_u32(p: *mut u32, x: u32) -> u32 {
            let v: u32;
            // SAFETY: see the function's contract.
            unsafe {
                asm!("atom.acq_rel.gpu.exch.b32 {v}, [{p}], {x};", v = out(reg32) v, p = in(reg64) p,
                     x = in(reg32) x, options(nostack))
            };
            v
        }
        /// `.gpu` acquire fence.
        #[inline(always)]
        pub fn fence_acquire() {
            // SAFETY: a fence has no memory operands.
            unsafe { asm!("fence.acq_rel.gpu;", options(nostack)) };
        }
        /// `.gpu` release fence.
        #[inline(always)]
        pub fn fence_release() {
            // SAFETY: a fence has no memory operands.
            unsafe { asm!("fence.acq_rel.gpu;", options(nostack)) };
        }
    }
    #[cfg(target_arch = "nvptx64")]
    pub use imp::*;
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn scoped_loads_and_stores_roundtrip() {
        let mut w: u64 = 0;
        let mut h: u32 = 0;
        // SAFETY: local, aligned, single-threaded.
        unsafe {
            // Raw pointers made from `&raw mut`: `AtomicU64::from_ptr` needs
            // write permission even for loads (Miri, Stacked Borrows).
            let (w, h) = (&raw mut w, &raw mut h);
            sys::store_release_u64(w, 5);
            assert_eq!(sys::load_acquire_u64(w), 5);
            gpu::store_relaxed_u64(w, 6);
            assert_eq!(gpu::load_relaxed_u64(w), 6);
            sys::store_release_u32(h, 9);
            assert_eq!(sys::load_relaxed_u32(h), 9);
        }
    }
}
