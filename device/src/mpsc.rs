//! The bounded MPSC ring of K2K inboxes (protocol:
//! [`ringkernel_shared::system`]): any number of actors push, the owning
//! actor pops.
//!
//! Written once against [`MpscMemory`] and used by the GPU (device memory,
//! `.gpu` atomics: [`DeviceMpsc`]), the CPU backend (the same type over heap
//! memory) and the loom model (`tests/loom_mpsc.rs`).

use crate::atomic::gpu;
use ringkernel_shared::{Envelope, RingHeader};

/// The memory of one MPSC ring, as the protocol touches it.
///
/// # Safety
/// Implementations must give each method the meaning documented on it; the
/// endpoints rely on that for memory safety.
pub unsafe trait MpscMemory {
    /// Number of slots (a power of two).
    fn capacity(&self) -> u32;
    /// Acquire load of slot `idx`'s sequence word.
    fn load_seq_acquire(&self, idx: usize) -> u64;
    /// Release store of slot `idx`'s sequence word.
    fn store_seq_release(&self, idx: usize, seq: u64);
    /// Relaxed load of the producers' claim counter `tail`.
    fn load_tail(&self) -> u64;
    /// Compare-and-swap of `tail`: `Ok` when it was `old` and is now `new`,
    /// else `Err(current)`.
    fn cas_tail(&self, old: u64, new: u64) -> Result<u64, u64>;
    /// Copy slot `idx` out (its sequence word excluded).
    ///
    /// # Safety
    /// The caller is the consumer and acquired `seq == pos + 1` for the slot.
    unsafe fn read_body(&self, idx: usize) -> Envelope;
    /// Write slot `idx` except its sequence word.
    ///
    /// # Safety
    /// The caller won the claim of the slot's position (`cas_tail`) after
    /// seeing `seq == pos`.
    unsafe fn write_body(&self, idx: usize, env: &Envelope);
    /// Relaxed store of the consumer's position (monitoring only).
    fn store_head(&self, head: u64);
    /// Count a push that found the ring full.
    fn note_full(&self);
}

/// The ring was full; nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboxFull;

/// Push `env` if there is room now (lock-free; many producers). Returns the
/// position it took.
#[inline]
pub fn try_push<M: MpscMemory>(m: &M, env: &Envelope) -> Result<u64, InboxFull> {
    let mask = m.capacity() as u64 - 1;
    let mut pos = m.load_tail();
    loop {
        let idx = (pos & mask) as usize;
        let seq = m.load_seq_acquire(idx);
        if seq == pos {
            match m.cas_tail(pos, pos + 1) {
                Ok(_) => {
                    // SAFETY: we claimed `pos`, whose slot was free (`seq == pos`).
                    unsafe { m.write_body(idx, env) };
                    m.store_seq_release(idx, pos + 1);
                    return Ok(pos);
                }
                Err(now) => pos = now,
            }
        } else if seq < pos {
            // The slot still holds the message of position `pos - capacity`:
            // the consumer is a full lap behind.
            m.note_full();
            return Err(InboxFull);
        } else {
            // Another producer took `pos` already; catch up.
            pos = m.load_tail();
        }
    }
}

/// The single consumer of an MPSC ring.
pub struct MpscConsumer<M: MpscMemory> {
    mem: M,
    head: u64,
}

impl<M: MpscMemory> MpscConsumer<M> {
    /// Attach to a ring whose consumer position is `head` (0 for a new one).
    ///
    /// # Safety
    /// At most one consumer exists for the ring at a time.
    pub unsafe fn attach(mem: M, head: u64) -> Self {
        Self { mem, head }
    }

    /// The next position to consume.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Whether the next message has been published (one acquire load).
    #[inline]
    pub fn ready(&self) -> bool {
        let idx = (self.head & (self.mem.capacity() as u64 - 1)) as usize;
        self.mem.load_seq_acquire(idx) == self.head + 1
    }

    /// Take the next message, if one is published. `write` is whether this
    /// thread performs the stores (on the GPU only one lane of a warp does).
    #[inline]
    pub fn pop(&mut self, write: bool) -> Option<Envelope> {
        let cap = self.mem.capacity() as u64;
        let idx = (self.head & (cap - 1)) as usize;
        if self.mem.load_seq_acquire(idx) != self.head + 1 {
            return None;
        }
        // SAFETY: we are the only consumer and acquired the slot's publication.
        let env = unsafe { self.mem.read_body(idx) };
        if write {
            // Free the slot for position `head + capacity` (one lap later).
            self.mem.store_seq_release(idx, self.head + cap);
        }
        self.head += 1;
        if write && self.head.is_multiple_of(16) {
            self.mem.store_head(self.head);
        }
        Some(env)
    }
}

impl<M: MpscMemory> MpscConsumer<M> {
    /// Warp form of [`MpscConsumer::pop`]: lane `l` reads the slot of
    /// position `head + l` into `mine` if it is published; returns how many
    /// consecutive positions from `head` are (the same on every lane, all
    /// of which must call). Nothing is consumed: follow with
    /// [`MpscConsumer::release_lanes`] once the envelopes were taken with
    /// [`crate::queue::lane_envelope`]. One round of loads for up to 32
    /// messages, instead of one per message.
    #[inline]
    pub fn peek_lanes<P: crate::Platform>(&self, mine: &mut Envelope) -> usize {
        let cap = self.mem.capacity() as u64;
        let lane = P::lane() as u64;
        let pos = self.head + lane;
        let idx = (pos & (cap - 1)) as usize;
        let ready = lane < cap && self.mem.load_seq_acquire(idx) == pos + 1;
        let n = (!P::ballot(ready)).trailing_zeros().min(P::LANES) as usize;
        if (lane as usize) < n {
            // SAFETY: the warp is the only consumer; this lane acquired the
            // publication of position `pos`, which stays ours until released.
            *mine = unsafe { self.mem.read_body(idx) };
        }
        n
    }

    /// Free the `n` positions a [`MpscConsumer::peek_lanes`] returned: lane
    /// `l < n` frees position `head + l` (every lane must call).
    #[inline]
    pub fn release_lanes<P: crate::Platform>(&mut self, n: usize) {
        let cap = self.mem.capacity() as u64;
        let lane = P::lane() as u64;
        if (lane as usize) < n {
            let pos = self.head + lane;
            self.mem.store_seq_release((pos & (cap - 1)) as usize, pos + cap);
        }
        let before = self.head;
        self.head += n as u64;
        if P::is_writer() && before / 16 != self.head / 16 {
            self.mem.store_head(self.head);
        }
    }
}

/// An MPSC ring in device memory (a K2K inbox), with `.gpu` atomics on the
/// GPU and ordinary atomics on the host.
#[derive(Clone, Copy, Debug)]
pub struct DeviceMpsc {
    header: *mut RingHeader,
    slots: *mut Envelope,
    capacity: u32,
}

impl DeviceMpsc {
    /// View the ring at `header`.
    ///
    /// # Safety
    /// `header` points to a [`RingHeader`] with a power-of-two `capacity`,
    /// followed by `capacity` envelope slots initialised with
    /// `seq = index` ([`ringkernel_shared::system::k2k_initial_seq`]), valid
    /// for the lifetime of the value, and touched only through this protocol
    /// by threads of one GPU (or, on the host, of one process).
    pub unsafe fn new(header: *mut RingHeader) -> Self {
        // SAFETY: capacity is written before the ring is shared.
        let capacity = unsafe { crate::atomic::sys::load_relaxed_u32(&raw const (*header).capacity) };
        // SAFETY: slots follow the 256-byte header (contract).
        let slots = unsafe { header.add(1) } as *mut Envelope;
        Self { header, slots, capacity }
    }

    #[inline(always)]
    fn seq_ptr(&self, idx: usize) -> *mut u64 {
        // SAFETY: idx < capacity (masked by callers); seq is at offset 0.
        unsafe { self.slots.add(idx) as *mut u64 }
    }
}

// SAFETY: each method performs the access its documentation names on memory
// that `DeviceMpsc::new`'s contract declares valid; only the protocol's
// atomics touch the sequence words and `tail`.
unsafe impl MpscMemory for DeviceMpsc {
    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.capacity
    }
    #[inline(always)]
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        // SAFETY: valid 8-aligned word, accessed atomically only.
        unsafe { gpu::load_acquire_u64(self.seq_ptr(idx)) }
    }
    #[inline(always)]
    fn store_seq_release(&self, idx: usize, seq: u64) {
        // SAFETY: as above.
        unsafe { gpu::store_release_u64(self.seq_ptr(idx), seq) }
    }
    #[inline(always)]
    fn load_tail(&self) -> u64 {
        // SAFETY: header valid; tail accessed atomically only.
        unsafe { gpu::load_relaxed_u64(&raw const (*self.header).tail) }
    }
    #[inline(always)]
    fn cas_tail(&self, old: u64, new: u64) -> Result<u64, u64> {
        // SAFETY: as above.
        unsafe { gpu::cas_u64(&raw mut (*self.header).tail, old, new) }
    }
    #[inline(always)]
    unsafe fn read_body(&self, idx: usize) -> Envelope {
        // SAFETY: the consumer owns the slot's body (trait contract).
        unsafe { crate::queue::read_slot_body(self.slots.wrapping_add(idx)) }
    }
    #[inline(always)]
    unsafe fn write_body(&self, idx: usize, env: &Envelope) {
        // SAFETY: the caller claimed the slot (trait contract).
        unsafe { crate::queue::write_slot_body(self.slots.wrapping_add(idx), env) }
    }
    #[inline(always)]
    fn store_head(&self, head: u64) {
        // SAFETY: header valid; head accessed atomically only.
        unsafe { gpu::store_relaxed_u64(&raw mut (*self.header).head, head) }
    }
    #[inline(always)]
    fn note_full(&self) {
        // SAFETY: header valid; a racy monitoring counter (many producers):
        // an atomic add keeps it exact.
        unsafe { gpu::fetch_add_u64(&raw mut (*self.header).full_events, 1) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    extern crate std;
    use super::*;
    use ringkernel_shared::system::k2k_initial_seq;
    use std::vec::Vec;

    /// A heap ring with `cap` slots, initialised as the protocol requires.
    fn ring(cap: u32) -> (Vec<u128>, DeviceMpsc) {
        let words = (256 + cap as usize * 128) / 16;
        let mut mem = std::vec![0u128; words + 8];
        let base = mem.as_mut_ptr() as usize;
        let aligned = (base + 127) & !127;
        let header = aligned as *mut RingHeader;
        // SAFETY: `aligned` is inside `mem` with room for header + slots.
        unsafe {
            (*header).capacity = cap;
            (*header).slot_bytes = 128;
            for i in 0..cap as usize {
                *((header.add(1) as *mut Envelope).add(i) as *mut u64) = k2k_initial_seq(i as u64);
            }
        }
        // SAFETY: initialised above, outlives the ring (returned together).
        (mem, unsafe { DeviceMpsc::new(header) })
    }

    fn env(v: u64) -> Envelope {
        Envelope::new(1, 2, 3, &v.to_le_bytes()).unwrap()
    }

    #[test]
    fn mpsc_fifo_full_and_reuse() {
        let (_mem, r) = ring(4);
        // SAFETY: single consumer.
        let mut c = unsafe { MpscConsumer::attach(r, 0) };
        assert!(c.pop(true).is_none());
        for lap in 0..3u64 {
            for i in 0..4 {
                assert_eq!(try_push(&r, &env(lap * 10 + i)), Ok(lap * 4 + i));
            }
            assert_eq!(try_push(&r, &env(99)), Err(InboxFull));
            for i in 0..4 {
                let e = c.pop(true).unwrap();
                assert_eq!(e.read_pod::<u64>(), Some(lap * 10 + i));
            }
            assert!(c.pop(true).is_none());
        }
        // SAFETY: header valid, no concurrent access.
        assert_eq!(unsafe { (*r.header).full_events }, 3);
    }

    #[test]
    fn mpsc_many_producers_lose_nothing() {
        let (_mem, r) = ring(8);
        let r = std::sync::Arc::new(SendRing(r));
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let r = std::sync::Arc::clone(&r);
                std::thread::spawn(move || {
                    for i in 0..2000u64 {
                        while try_push(&r.0, &env(p << 32 | i)).is_err() {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        // SAFETY: single consumer.
        let mut c = unsafe { MpscConsumer::attach(r.0, 0) };
        let mut next = [0u64; 4];
        let mut got = 0;
        while got < 8000 {
            match c.pop(true) {
                Some(e) => {
                    let v = e.read_pod::<u64>().unwrap();
                    let (p, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    assert_eq!(i, next[p], "producer {p} out of order");
                    next[p] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for t in producers {
            t.join().unwrap();
        }
        assert_eq!(next, [2000; 4]);
        assert!(c.pop(true).is_none());
    }

    /// One lane: the host form of the warp path.
    struct OneLane;
    impl crate::Platform for OneLane {
        fn now_ns() -> u64 {
            0
        }
        fn relax(_: u32) {}
    }

    #[test]
    fn mpsc_peek_lanes_then_release_frees_only_what_was_taken() {
        let (_mem, r) = ring(2);
        // SAFETY: single consumer.
        let mut c = unsafe { MpscConsumer::attach(r, 0) };
        let mut mine = bytemuck::Zeroable::zeroed();
        assert_eq!(c.peek_lanes::<OneLane>(&mut mine), 0);
        try_push(&r, &env(7)).unwrap();
        try_push(&r, &env(8)).unwrap();
        assert_eq!(try_push(&r, &env(9)), Err(InboxFull));
        assert_eq!(c.peek_lanes::<OneLane>(&mut mine), 1);
        assert_eq!(mine.read_pod::<u64>(), Some(7));
        // Peeking again without releasing sees the same message.
        assert_eq!(c.peek_lanes::<OneLane>(&mut mine), 1);
        assert_eq!(mine.read_pod::<u64>(), Some(7));
        assert_eq!(try_push(&r, &env(9)), Err(InboxFull), "not freed before release");
        c.release_lanes::<OneLane>(1);
        try_push(&r, &env(9)).unwrap();
        assert_eq!(c.peek_lanes::<OneLane>(&mut mine), 1);
        assert_eq!(mine.read_pod::<u64>(), Some(8));
        c.release_lanes::<OneLane>(1);
        assert_eq!(c.pop(true).and_then(|e| e.read_pod::<u64>()), Some(9));
        assert!(c.pop(true).is_none());
    }

    struct SendRing(DeviceMpsc);
    // SAFETY: test only; the ring protocol synchronises all access.
    unsafe impl Send for SendRing {}
    // SAFETY: as above.
    unsafe impl Sync for SendRing {}
}
