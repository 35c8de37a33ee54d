//! Endpoints of the slot-sequence SPSC ring ([`ringkernel_shared::ring`] has
//! the layout and the invariants).
//!
//! The endpoints are written once, against [`RingMemory`], and used by
//! everyone: the host's H2K producer and K2H consumer, the GPU loop's H2K
//! consumer and K2H producer, the CPU backend's actor threads, and the loom
//! model (which implements [`RingMemory`] with loom's atomics).
//!
//! Each endpoint keeps its own position in a register and a cached view of
//! the other side: the producer re-reads the consumer's `head` only when its
//! cache says the ring is full, and the consumer publishes `head` once per
//! batch ([`Consumer::release`]). On a GPU serving host memory each avoided
//! access is an avoided PCIe transaction.

use crate::atomic::{gpu, sys};
use crate::platform::Platform;
use core::marker::PhantomData;
use ringkernel_shared::Envelope;
use ringkernel_shared::ring::{RingHeader, has_room, is_ready, ready_seq, slot_index};

/// The memory of one ring, as the protocol touches it.
///
/// # Safety
/// Implementations must give each method the meaning documented on it; the
/// endpoints rely on that for memory safety.
pub unsafe trait RingMemory {
    /// Number of slots (a power of two).
    fn capacity(&self) -> u32;
    /// Relaxed load of the sequence word of slot `idx`.
    fn load_seq(&self, idx: usize) -> u64;
    /// Release store of the sequence word of slot `idx`.
    fn store_seq(&self, idx: usize, seq: u64);
    /// Acquire fence that pairs with [`RingMemory::store_seq`] and
    /// [`RingMemory::store_head`].
    fn fence_acquire(&self);
    /// Copy slot `idx` out.
    ///
    /// # Safety
    /// The caller is the consumer, observed `seq == ready_seq(pos)` for this
    /// slot and fenced; the producer will not write the slot until the
    /// consumer releases it.
    unsafe fn read_slot(&self, idx: usize) -> Envelope;
    /// Write everything of slot `idx` except its sequence word.
    ///
    /// # Safety
    /// The caller is the producer and the slot is free (`has_room`).
    unsafe fn write_body(&self, idx: usize, env: &Envelope);
    /// Acquire load of the consumer's published `head`.
    fn load_head(&self) -> u64;
    /// Release store of `head` (consumer only).
    fn store_head(&self, head: u64);
    /// Relaxed store of `tail` (producer only, monitoring).
    fn store_tail(&self, tail: u64);
    /// Relaxed load of `tail`.
    fn load_tail(&self) -> u64;
    /// Count a full-ring event (producer only).
    fn note_full(&self);

    /// Acquire load of the sequence word of slot `idx`: later reads of the
    /// slot see what the producer wrote before publishing it. Default: a
    /// relaxed load and [`RingMemory::fence_acquire`]. On the GPU an acquire
    /// load is much cheaper than a fence (no system-wide membar).
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        let v = self.load_seq(idx);
        self.fence_acquire();
        v
    }

    /// Release fence that orders every earlier access before later relaxed
    /// stores made with [`RingMemory::store_seq_relaxed`] and
    /// [`RingMemory::store_head_relaxed`].
    ///
    /// The default does nothing, which is sound because the default relaxed
    /// stores below are release stores.
    fn fence_release(&self) {}
    /// Store a sequence word, ordered only by an earlier
    /// [`RingMemory::fence_release`]. Default: a release store.
    fn store_seq_relaxed(&self, idx: usize, seq: u64) {
        self.store_seq(idx, seq)
    }
    /// Store `head`, ordered only by an earlier [`RingMemory::fence_release`].
    /// Default: a release store.
    fn store_head_relaxed(&self, head: u64) {
        self.store_head(head)
    }
}

/// Copy a ring slot out: everything but the sequence word (bytes 0..8),
/// which only the protocol's atomics touch (a producer's deferred
/// publication stores it with a relaxed store that is not ordered before
/// this copy); the returned envelope's `seq` is 0. A plain `ptr::read` would
/// lower to 128 byte loads on nvptx, hence the explicit 8-byte word and
/// 16-byte blocks; weak loads let the GPU keep a batch's loads in flight.
///
/// # Safety
/// `slot` is a valid, 16-aligned envelope slot whose bytes 8..128 the caller
/// owns for reading: its producer wrote them before publishing the slot, the
/// caller acquired that publication, and no one writes them until the slot
/// is released.
#[inline(always)]
pub(crate) unsafe fn read_slot_body(slot: *const Envelope) -> Envelope {
    let mut env = core::mem::MaybeUninit::<Envelope>::zeroed();
    let src = slot as *const [u64; 2];
    let dst = env.as_mut_ptr() as *mut [u64; 2];
    // SAFETY: see the contract; `env` is zeroed, so every byte is initialised.
    unsafe {
        *(dst as *mut u64).add(1) = core::ptr::read((src as *const u64).add(1));
        crate::atomic::block::read16(src.add(1), dst.add(1), 7);
        env.assume_init()
    }
}

/// Write a ring slot except its sequence word (bytes 8..16 as one word,
/// then blocks 1..8); the sequence is stored atomically afterwards.
///
/// # Safety
/// `slot` is a valid, 16-aligned envelope slot the caller may write (free,
/// or claimed by this producer).
#[inline(always)]
pub(crate) unsafe fn write_slot_body(slot: *mut Envelope, env: &Envelope) {
    let src = env as *const Envelope as *const [u64; 2];
    let dst = slot as *mut [u64; 2];
    // SAFETY: see the contract; 16-aligned, 8 blocks.
    unsafe {
        core::ptr::write_volatile((dst as *mut u64).add(1), *(src as *const u64).add(1));
        crate::atomic::block::write16(src.add(1), dst.add(1), 7);
    }
}

/// A ring in raw memory laid out as [`RingHeader`] followed by the slots.
#[derive(Clone, Copy, Debug)]
pub struct RawRing {
    header: *mut RingHeader,
    slots: *mut Envelope,
    capacity: u32,
}

// SAFETY: a RawRing is a pair of pointers into memory shared by design; the
// protocol (one producer, one consumer) decides who writes what.
unsafe impl Send for RawRing {}

impl RawRing {
    /// View the ring at `header`.
    ///
    /// # Safety
    /// `header` points to a [`RingHeader`] whose `capacity` is a power of two,
    /// followed by `capacity` envelope slots, all valid for the lifetime of
    /// the returned value and only accessed through the ring protocol.
    pub unsafe fn new(header: *mut RingHeader) -> Self {
        // SAFETY: `capacity` is written before the ring is shared and never after.
        let capacity = unsafe { sys::load_relaxed_u32(&raw const (*header).capacity) };
        // SAFETY: the slots follow the 256-byte header (contract above).
        let slots = unsafe { header.add(1) } as *mut Envelope;
        Self { header, slots, capacity }
    }

    /// The header pointer.
    pub fn header(&self) -> *mut RingHeader {
        self.header
    }

    #[inline(always)]
    fn seq_ptr(&self, idx: usize) -> *mut u64 {
        // SAFETY: idx < capacity (slot_index masks it); seq is at offset 0.
        unsafe { self.slots.add(idx) as *mut u64 }
    }
}

// SAFETY: each method performs exactly the access its documentation names on
// memory the `RawRing::new` contract declares valid.
unsafe impl RingMemory for RawRing {
    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.capacity
    }
    #[inline(always)]
    fn load_seq(&self, idx: usize) -> u64 {
        // SAFETY: valid, 16-aligned slot; seq is only accessed atomically.
        unsafe { sys::load_relaxed_u64(self.seq_ptr(idx)) }
    }
    #[inline(always)]
    fn store_seq(&self, idx: usize, seq: u64) {
        // SAFETY: as above.
        unsafe { sys::store_release_u64(self.seq_ptr(idx), seq) }
    }
    #[inline(always)]
    fn fence_acquire(&self) {
        sys::fence_acquire()
    }
    #[inline(always)]
    unsafe fn read_slot(&self, idx: usize) -> Envelope {
        // SAFETY: the caller owns the slot for reading (trait contract).
        unsafe { read_slot_body(self.slots.wrapping_add(idx)) }
    }
    #[inline(always)]
    unsafe fn write_body(&self, idx: usize, env: &Envelope) {
        // SAFETY: the slot is free (trait contract).
        unsafe { write_slot_body(self.slots.wrapping_add(idx), env) }
    }
    #[inline(always)]
    fn load_head(&self) -> u64 {
        // SAFETY: header valid; head only accessed atomically.
        unsafe { sys::load_acquire_u64(&raw const (*self.header).head) }
    }
    #[inline(always)]
    fn store_head(&self, head: u64) {
        // SAFETY: as above.
        unsafe { sys::store_release_u64(&raw mut (*self.header).head, head) }
    }
    #[inline(always)]
    fn store_tail(&self, tail: u64) {
        // SAFETY: header valid; tail only accessed atomically.
        unsafe { sys::store_relaxed_u64(&raw mut (*self.header).tail, tail) }
    }
    #[inline(always)]
    fn load_tail(&self) -> u64 {
        // SAFETY: as above.
        unsafe { sys::load_relaxed_u64(&raw const (*self.header).tail) }
    }
    #[inline(always)]
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        // SAFETY: valid, 16-aligned slot; seq is only accessed atomically.
        unsafe { sys::load_acquire_u64(self.seq_ptr(idx)) }
    }
    #[inline(always)]
    fn fence_release(&self) {
        sys::fence_release()
    }
    #[inline(always)]
    fn store_seq_relaxed(&self, idx: usize, seq: u64) {
        // SAFETY: valid, 16-aligned slot; seq is only accessed atomically.
        unsafe { sys::store_relaxed_u64(self.seq_ptr(idx), seq) }
    }
    #[inline(always)]
    fn store_head_relaxed(&self, head: u64) {
        // SAFETY: header valid; head only accessed atomically.
        unsafe { sys::store_relaxed_u64(&raw mut (*self.header).head, head) }
    }
    #[inline(always)]
    fn note_full(&self) {
        // SAFETY: header valid; only the producer writes full_events.
        unsafe {
            let p = &raw mut (*self.header).full_events;
            sys::store_relaxed_u64(p, sys::load_relaxed_u64(p).wrapping_add(1));
        }
    }
}

/// A ring in device memory that only GPU threads touch (a K2K inbox): the
/// layout and endpoints of [`RawRing`], with device-scope (`.gpu`) atomics
/// and fences instead of system-scope ones (see [`crate::atomic`] for the
/// cost difference). On the host it behaves exactly like [`RawRing`].
#[derive(Clone, Copy, Debug)]
pub struct DeviceRing {
    raw: RawRing,
}

impl DeviceRing {
    /// View the ring at `header`.
    ///
    /// # Safety
    /// As for [`RawRing::new`], and the ring is only accessed by threads of
    /// one GPU (or, on the host, of one process).
    pub unsafe fn new(header: *mut RingHeader) -> Self {
        // SAFETY: forwarded contract.
        Self { raw: unsafe { RawRing::new(header) } }
    }
}

// SAFETY: every access is the one RawRing makes, with the scope narrowed to
// the device, which is all that the contract above lets touch the ring.
unsafe impl RingMemory for DeviceRing {
    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.raw.capacity
    }
    #[inline(always)]
    fn load_seq(&self, idx: usize) -> u64 {
        // SAFETY: valid, 16-aligned slot; seq is only accessed atomically.
        unsafe { gpu::load_relaxed_u64(self.raw.seq_ptr(idx)) }
    }
    #[inline(always)]
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        // SAFETY: as above.
        unsafe { gpu::load_acquire_u64(self.raw.seq_ptr(idx)) }
    }
    #[inline(always)]
    fn store_seq(&self, idx: usize, seq: u64) {
        // SAFETY: as above.
        unsafe { gpu::store_release_u64(self.raw.seq_ptr(idx), seq) }
    }
    #[inline(always)]
    fn store_seq_relaxed(&self, idx: usize, seq: u64) {
        // SAFETY: as above.
        unsafe { gpu::store_relaxed_u64(self.raw.seq_ptr(idx), seq) }
    }
    #[inline(always)]
    fn fence_acquire(&self) {
        gpu::fence_acquire()
    }
    #[inline(always)]
    fn fence_release(&self) {
        gpu::fence_release()
    }
    #[inline(always)]
    unsafe fn read_slot(&self, idx: usize) -> Envelope {
        // SAFETY: forwarded contract.
        unsafe { self.raw.read_slot(idx) }
    }
    #[inline(always)]
    unsafe fn write_body(&self, idx: usize, env: &Envelope) {
        // SAFETY: forwarded contract.
        unsafe { self.raw.write_body(idx, env) }
    }
    #[inline(always)]
    fn load_head(&self) -> u64 {
        // SAFETY: header valid; head only accessed atomically.
        unsafe { gpu::load_acquire_u64(&raw const (*self.raw.header).head) }
    }
    #[inline(always)]
    fn store_head(&self, head: u64) {
        // SAFETY: as above.
        unsafe { gpu::store_release_u64(&raw mut (*self.raw.header).head, head) }
    }
    #[inline(always)]
    fn store_head_relaxed(&self, head: u64) {
        // SAFETY: as above.
        unsafe { gpu::store_relaxed_u64(&raw mut (*self.raw.header).head, head) }
    }
    #[inline(always)]
    fn store_tail(&self, tail: u64) {
        // SAFETY: header valid; tail only accessed atomically.
        unsafe { gpu::store_relaxed_u64(&raw mut (*self.raw.header).tail, tail) }
    }
    #[inline(always)]
    fn load_tail(&self) -> u64 {
        // SAFETY: as above.
        unsafe { gpu::load_relaxed_u64(&raw const (*self.raw.header).tail) }
    }
    #[inline(always)]
    fn note_full(&self) {
        // Monitoring only, written by the one producer.
        // SAFETY: header valid; full_events only accessed atomically.
        unsafe {
            let p = &raw mut (*self.raw.header).full_events;
            gpu::store_relaxed_u64(p, gpu::load_relaxed_u64(p).wrapping_add(1));
        }
    }
}

/// A [`RawRing`] for code that runs on all lanes of a warp in lockstep
/// (the GPU actor loop): every lane loads, only the [`Platform::is_writer`]
/// lane stores. Endpoint state (positions, cached indices) stays identical on
/// all lanes because every lane makes the same calls.
pub struct WriterRing<P: Platform> {
    raw: RawRing,
    _p: PhantomData<fn() -> P>,
}

impl<P: Platform> WriterRing<P> {
    /// Wrap a raw ring.
    pub fn new(raw: RawRing) -> Self {
        Self { raw, _p: PhantomData }
    }
}

// SAFETY: delegates to RawRing; skipping a store on non-writer lanes is
// sound because the writer lane performs the identical store.
unsafe impl<P: Platform> RingMemory for WriterRing<P> {
    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.raw.capacity()
    }
    #[inline(always)]
    fn load_seq(&self, idx: usize) -> u64 {
        self.raw.load_seq(idx)
    }
    #[inline(always)]
    fn store_seq(&self, idx: usize, seq: u64) {
        if P::is_writer() {
            self.raw.store_seq(idx, seq)
        }
    }
    #[inline(always)]
    fn fence_acquire(&self) {
        self.raw.fence_acquire()
    }
    #[inline(always)]
    unsafe fn read_slot(&self, idx: usize) -> Envelope {
        // SAFETY: forwarded contract.
        unsafe { self.raw.read_slot(idx) }
    }
    #[inline(always)]
    unsafe fn write_body(&self, idx: usize, env: &Envelope) {
        if P::is_writer() {
            // SAFETY: forwarded contract.
            unsafe { self.raw.write_body(idx, env) }
        }
    }
    #[inline(always)]
    fn load_head(&self) -> u64 {
        self.raw.load_head()
    }
    #[inline(always)]
    fn store_head(&self, head: u64) {
        if P::is_writer() {
            self.raw.store_head(head)
        }
    }
    #[inline(always)]
    fn store_tail(&self, tail: u64) {
        if P::is_writer() {
            self.raw.store_tail(tail)
        }
    }
    #[inline(always)]
    fn load_tail(&self) -> u64 {
        self.raw.load_tail()
    }
    #[inline(always)]
    fn note_full(&self) {
        if P::is_writer() {
            self.raw.note_full()
        }
    }
    #[inline(always)]
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        self.raw.load_seq_acquire(idx)
    }
    #[inline(always)]
    fn fence_release(&self) {
        self.raw.fence_release()
    }
    #[inline(always)]
    fn store_seq_relaxed(&self, idx: usize, seq: u64) {
        if P::is_writer() {
            self.raw.store_seq_relaxed(idx, seq)
        }
    }
    #[inline(always)]
    fn store_head_relaxed(&self, head: u64) {
        if P::is_writer() {
            self.raw.store_head_relaxed(head)
        }
    }
}

/// The ring was full; the envelope was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The writing end of a ring. Exactly one may exist per ring.
#[derive(Debug)]
pub struct Producer<M: RingMemory> {
    mem: M,
    tail: u64,
    /// Positions below this have their sequence word stored.
    published: u64,
    cached_head: u64,
    capacity: u32,
}

impl<M: RingMemory> Producer<M> {
    /// Take the producer role, resuming at the published `tail`.
    ///
    /// # Safety
    /// No other producer exists for this ring.
    pub unsafe fn attach(mem: M) -> Self {
        let tail = mem.load_tail();
        let cached_head = mem.load_head();
        let capacity = mem.capacity();
        Self { mem, tail, published: tail, cached_head, capacity }
    }

    /// Next position to be written.
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// Whether a push would succeed now (re-reads `head` if the cache says full).
    pub fn has_room(&mut self) -> bool {
        if has_room(self.tail, self.cached_head, self.capacity) {
            return true;
        }
        self.cached_head = self.mem.load_head();
        has_room(self.tail, self.cached_head, self.capacity)
    }

    /// Write `env` (its `seq` is overwritten) or report [`Full`].
    #[inline]
    pub fn try_push(&mut self, env: &Envelope) -> Result<(), Full> {
        if !self.has_room() {
            self.mem.note_full();
            return Err(Full);
        }
        let idx = slot_index(self.tail, self.capacity);
        // SAFETY: we are the only producer and the slot is free (has_room).
        unsafe { self.mem.write_body(idx, env) };
        self.mem.store_seq(idx, ready_seq(self.tail));
        self.tail += 1;
        self.published = self.tail;
        Ok(())
    }

    /// Write `env` without making it visible: it becomes visible, with every
    /// other deferred write, at the next [`Producer::publish_deferred`]. One
    /// release fence then covers a whole batch (on a GPU writing host memory
    /// each fence waits for the writes before it to reach the system).
    #[inline]
    pub fn write_deferred(&mut self, env: &Envelope) -> Result<(), Full> {
        if !self.has_room() {
            self.mem.note_full();
            return Err(Full);
        }
        // SAFETY: we are the only producer and the slot is free (has_room).
        unsafe { self.mem.write_body(slot_index(self.tail, self.capacity), env) };
        self.tail += 1;
        Ok(())
    }

    /// Whether deferred writes are waiting for [`Producer::publish_deferred`].
    #[inline]
    pub fn has_deferred(&self) -> bool {
        self.published != self.tail
    }

    /// Store the sequence words of all deferred writes. The caller must have
    /// called [`RingMemory::fence_release`] (e.g. through
    /// [`Producer::fence_release`]) after the last deferred write.
    #[inline]
    pub fn publish_deferred(&mut self) {
        while self.published != self.tail {
            self.mem.store_seq_relaxed(slot_index(self.published, self.capacity), ready_seq(self.published));
            self.published += 1;
        }
    }

    /// The ring memory's release fence.
    #[inline]
    pub fn fence_release(&self) {
        self.mem.fence_release()
    }

    /// Publish `tail` for monitoring (once per batch is enough).
    #[inline]
    pub fn publish_tail(&self) {
        self.mem.store_tail(self.tail);
    }
}

/// The reading end of a ring. Exactly one may exist per ring.
#[derive(Debug)]
pub struct Consumer<M: RingMemory> {
    mem: M,
    head: u64,
    published: u64,
    capacity: u32,
}

impl<M: RingMemory> Consumer<M> {
    /// Take the consumer role, resuming at the published `head`.
    ///
    /// # Safety
    /// No other consumer exists for this ring.
    pub unsafe fn attach(mem: M) -> Self {
        let head = mem.load_head();
        let capacity = mem.capacity();
        Self { mem, head, published: head, capacity }
    }

    /// Next position to be read.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Whether the next slot is ready (one relaxed load; no fence).
    #[inline]
    pub fn is_ready(&self) -> bool {
        is_ready(self.mem.load_seq(slot_index(self.head, self.capacity)), self.head)
    }

    /// Take the next envelope if one is ready. The slot is handed back to
    /// the producer at the next [`Consumer::release`].
    #[inline]
    pub fn poll(&mut self) -> Option<Envelope> {
        let idx = slot_index(self.head, self.capacity);
        // An acquire load of the one word polled: on the GPU a strong load
        // plus an L1 invalidate, where a fence would add a memory barrier.
        if !is_ready(self.mem.load_seq_acquire(idx), self.head) {
            return None;
        }
        // SAFETY: we are the only consumer, the slot holds position `head`
        // (seq acquired), and it stays ours until `release`.
        let env = unsafe { self.mem.read_slot(idx) };
        self.head += 1;
        Some(env)
    }

    /// Copy up to `out.len()` ready envelopes, in order, without taking
    /// them: [`Consumer::consume`] takes them. The sequence words of all
    /// candidate slots are loaded back to back and the bodies copied after
    /// one fence: on a GPU reading host memory a batch costs about two PCIe
    /// round trips instead of two per message.
    #[inline]
    pub fn peek_batch(&self, out: &mut [Envelope]) -> usize {
        const MAX: usize = 32;
        let want = out.len().min(self.capacity as usize).min(MAX);
        // Load all candidate sequence words first, with no branch between
        // the loads, so that they are in flight together.
        let mut seqs = [0u64; MAX];
        for (i, s) in seqs.iter_mut().enumerate().take(want) {
            *s = self.mem.load_seq(slot_index(self.head + i as u64, self.capacity));
        }
        let mut ready = 0;
        while ready < want && is_ready(seqs[ready], self.head + ready as u64) {
            ready += 1;
        }
        if ready == 0 {
            return 0;
        }
        self.mem.fence_acquire();
        for (i, slot) in out.iter_mut().enumerate().take(ready) {
            let idx = slot_index(self.head + i as u64, self.capacity);
            // SAFETY: we are the only consumer; positions head..head+ready
            // were observed written (seq loads + fence) and stay ours until
            // they are consumed and released.
            *slot = unsafe { self.mem.read_slot(idx) };
        }
        ready
    }

    /// Take `n` envelopes seen by [`Consumer::peek_batch`].
    #[inline]
    pub fn consume(&mut self, n: usize) {
        self.head += n as u64;
    }

    /// The warp-wide peek: lane `l < probe` (of `P::LANES`) acquire-loads
    /// the sequence word of position `head + l`; a ballot finds how many
    /// consecutive positions are ready (`n`); lane `l < n` then copies its
    /// slot into `mine` (its own acquire orders that read). All lanes must
    /// call it together. Returns `n`; envelope `j` is then
    /// [`lane_envelope`]`::<P>(mine, j)`. Nothing is taken until
    /// [`Consumer::consume`]. An idle actor probes one slot per poll instead
    /// of 32, to keep its reads of host memory few.
    #[inline(always)]
    pub fn peek_lanes<P: Platform>(&self, mine: &mut Envelope, probe: u32) -> usize {
        let lane = P::lane() as u64;
        let pos = self.head + lane;
        let ready = lane < probe as u64
            && lane < self.capacity as u64
            && is_ready(self.mem.load_seq_acquire(slot_index(pos, self.capacity)), pos);
        let n = (!P::ballot(ready)).trailing_zeros().min(P::LANES) as usize;
        if (lane as usize) < n {
            // SAFETY: we are the only consumer (all lanes act as one); this
            // lane acquired position `pos` as written, and it stays ours
            // until consumed and released.
            *mine = unsafe { self.mem.read_slot(slot_index(pos, self.capacity)) };
        }
        n
    }

    /// [`Consumer::peek_batch`] then [`Consumer::consume`] of all of them.
    #[inline]
    pub fn poll_batch(&mut self, out: &mut [Envelope]) -> usize {
        let n = self.peek_batch(out);
        self.consume(n);
        n
    }

    /// Hand every slot read so far back to the producer.
    #[inline]
    pub fn release(&mut self) {
        if self.head != self.published {
            self.mem.store_head(self.head);
            self.published = self.head;
        }
    }

    /// [`Consumer::release`] for a caller that has just made a
    /// [`RingMemory::fence_release`] after its last read of the slots.
    #[inline]
    pub fn release_after_fence(&mut self) {
        if self.head != self.published {
            self.mem.store_head_relaxed(self.head);
            self.published = self.head;
        }
    }
}

/// Envelope `j` of a [`Consumer::peek_lanes`] batch, on every lane (all
/// lanes must call it together).
#[inline(always)]
pub fn lane_envelope<P: Platform>(mine: &Envelope, j: usize) -> Envelope {
    if P::LANES == 1 {
        return *mine;
    }
    let words: [u64; 16] = bytemuck::cast(*mine);
    bytemuck::cast(core::array::from_fn::<u64, 16, _>(|w| P::shuffle(words[w], j as u32)))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use ringkernel_shared::ENVELOPE_BYTES;
    use ringkernel_shared::ring::ring_bytes;

    /// 128-aligned backing store for a test ring.
    #[repr(C, align(128))]
    struct Store([u8; ring_bytes(8, ENVELOPE_BYTES as u32)]);

    fn ring(store: &mut Store) -> RawRing {
        let h = RingHeader::new(8, ENVELOPE_BYTES as u32).unwrap();
        store.0[..256].copy_from_slice(bytemuck::bytes_of(&h));
        // SAFETY: the store holds a header of capacity 8 and 8 slots.
        unsafe { RawRing::new(store.0.as_mut_ptr() as *mut RingHeader) }
    }

    #[test]
    fn ring_fifo_full_and_release() {
        let mut store = Store([0; ring_bytes(8, ENVELOPE_BYTES as u32)]);
        let r = ring(&mut store);
        // SAFETY: single producer and consumer in this test.
        let (mut p, mut c) = unsafe { (Producer::attach(r), Consumer::attach(r)) };
        assert!(c.poll().is_none());
        for i in 0..8u32 {
            p.try_push(&Envelope::from_pod(1, 0, 0, &i).unwrap()).unwrap();
        }
        let extra = Envelope::from_pod(1, 0, 0, &99u32).unwrap();
        assert_eq!(p.try_push(&extra), Err(Full), "ring of 8 holds 8");
        for i in 0..3u32 {
            assert_eq!(c.poll().unwrap().read_pod::<u32>(), Some(i));
        }
        assert_eq!(p.try_push(&extra), Err(Full), "not released yet");
        c.release();
        for i in 100..103u32 {
            p.try_push(&Envelope::from_pod(1, 0, 0, &i).unwrap()).unwrap();
        }
        let got: Vec<u32> = core::iter::from_fn(|| c.poll()).map(|e| e.read_pod::<u32>().unwrap()).collect();
        assert_eq!(got, [3, 4, 5, 6, 7, 100, 101, 102]);
        c.release();
        for i in 200..206u32 {
            p.try_push(&Envelope::from_pod(1, 0, 0, &i).unwrap()).unwrap();
        }
        let mut batch = [Envelope::new(0, 0, 0, &[]).unwrap(); 4];
        assert_eq!(c.poll_batch(&mut batch), 4);
        assert_eq!(batch.map(|e| e.read_pod::<u32>().unwrap()), [200, 201, 202, 203]);
        assert_eq!(c.poll_batch(&mut batch), 2, "only two more are ready");
        assert_eq!(c.poll_batch(&mut batch), 0);
        c.release();
        p.write_deferred(&Envelope::from_pod(1, 0, 0, &300u32).unwrap()).unwrap();
        p.write_deferred(&Envelope::from_pod(1, 0, 0, &301u32).unwrap()).unwrap();
        assert!(p.has_deferred());
        assert!(c.poll().is_none(), "deferred writes stay invisible");
        p.fence_release();
        p.publish_deferred();
        assert!(!p.has_deferred());
        assert_eq!(c.poll_batch(&mut batch), 2);
        assert_eq!([batch[0], batch[1]].map(|e| e.read_pod::<u32>().unwrap()), [300, 301]);
        c.release_after_fence();
        assert_eq!(r.load_tail(), 0, "tail only published on request");
        p.publish_tail();
        assert_eq!(r.load_tail(), 19);
        // SAFETY: the header is valid.
        assert_eq!(unsafe { (*r.header()).full_events }, 2);
    }

    #[test]
    fn device_ring_runs_the_same_protocol() {
        let mut store = Store([0; ring_bytes(8, ENVELOPE_BYTES as u32)]);
        let raw = ring(&mut store);
        // SAFETY: the same valid ring; single producer and consumer here.
        let r = unsafe { DeviceRing::new(raw.header()) };
        // SAFETY: single producer and consumer in this test.
        let (mut p, mut c) = unsafe { (Producer::attach(r), Consumer::attach(r)) };
        for i in 0..8u32 {
            p.try_push(&Envelope::from_pod(1, 0, 0, &i).unwrap()).unwrap();
        }
        assert_eq!(p.try_push(&Envelope::from_pod(1, 0, 0, &8u32).unwrap()), Err(Full));
        let got: Vec<u32> = core::iter::from_fn(|| c.poll()).map(|e| e.read_pod::<u32>().unwrap()).collect();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
        c.release();
        assert!(p.has_room(), "released slots are seen through the device-scope head");
        // SAFETY: the header is valid.
        assert_eq!(unsafe { (*raw.header()).full_events }, 1);
    }

    extern crate std;
    use std::vec::Vec;
}
