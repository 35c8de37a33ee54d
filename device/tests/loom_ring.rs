//! Loom model of the slot-sequence SPSC ring ([`ringkernel_shared::ring`]).
//!
//! The real [`Producer`] and [`Consumer`] run on two loom threads over a
//! [`LoomRing`], a [`RingMemory`] whose words are loom atomics and whose slot
//! bodies are loom cells, so loom explores the interleavings and the
//! weak-memory outcomes the orderings allow and fails on any unsynchronised
//! body access (a torn or overwritten message) as well as on a lost,
//! duplicated or reordered one.
//!
//! | real ring ([`ringkernel_device::queue::RawRing`]) | model |
//! | --- | --- |
//! | slot word 0 (`seq`): relaxed or acquire load, release or relaxed store | `AtomicU64` per slot, same orderings |
//! | slot words 1..16 (the body), plain copies | `UnsafeCell<Envelope>` per slot, `seq` field unused |
//! | `read_slot` copies all 16 words, `seq` included | cell read + `unsync_load` of the `seq` atomic |
//! | `head`: acquire load, release or relaxed store; `tail`, `full_events` relaxed | `AtomicU64`s |
//! | `fence_acquire` / `fence_release` | `loom::sync::atomic::fence(Acquire / Release)` |
//!
//! The models cover the paths the runtimes use: the host pushes with
//! `try_push` and reads with `poll_batch` + `release`; the GPU actor loop
//! reads with `peek_lanes` (one lane here) or `peek_batch` + `consume` and
//! hands slots back with a release fence + `release_after_fence`, and writes
//! with `write_deferred` + `fence_release` + `publish_deferred`.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p ringkernel-device --test loom_ring --release`
//! (docs/TESTING.md). Capacities are 2 and 4 and every model pushes more
//! messages than the ring holds, so the producer's full path and its re-read
//! of `head` are explored (each model fails if no iteration filled the ring).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering, fence};
use loom::thread;
use ringkernel_device::Platform;
use ringkernel_device::queue::{Consumer, Full, Producer, RingMemory, lane_envelope};
use ringkernel_shared::Envelope;
use std::sync::atomic::AtomicUsize;

/// The ring's shared state.
struct Slots {
    seq: Vec<AtomicU64>,
    body: Vec<UnsafeCell<Envelope>>,
    head: AtomicU64,
    tail: AtomicU64,
    full_events: AtomicU64,
}

// SAFETY: the atomics are Sync; the cells are only reached through
// `RingMemory::{read_slot, write_body}`, whose contracts (one producer, one
// consumer, slot ownership handed over by `seq` and `head`) are exactly what
// this model checks. Loom reports any access the protocol leaves unordered.
unsafe impl Sync for Slots {}

/// A [`RingMemory`] over loom atomics and cells; clones share one ring.
#[derive(Clone)]
struct LoomRing {
    slots: Arc<Slots>,
    capacity: u32,
}

impl LoomRing {
    fn new(capacity: u32) -> Self {
        assert!(capacity.is_power_of_two());
        let n = capacity as usize;
        let slots = Slots {
            seq: (0..n).map(|_| AtomicU64::new(0)).collect(),
            body: (0..n).map(|_| UnsafeCell::new(bytemuck::Zeroable::zeroed())).collect(),
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            full_events: AtomicU64::new(0),
        };
        Self { slots: Arc::new(slots), capacity }
    }
}

// SAFETY: each method performs the access its trait documentation names,
// with the ordering `RawRing` uses, on state owned by this ring. Every
// provided method is overridden, so the model checks `RawRing`'s orderings
// rather than the trait's stronger defaults.
unsafe impl RingMemory for LoomRing {
    fn capacity(&self) -> u32 {
        self.capacity
    }
    fn load_seq(&self, idx: usize) -> u64 {
        self.slots.seq[idx].load(Ordering::Relaxed)
    }
    fn store_seq(&self, idx: usize, seq: u64) {
        self.slots.seq[idx].store(seq, Ordering::Release)
    }
    fn fence_acquire(&self) {
        fence(Ordering::Acquire)
    }
    unsafe fn read_slot(&self, idx: usize) -> Envelope {
        // SAFETY: the caller owns the slot for reading (trait contract); loom
        // checks that the copy is ordered after the producer's write.
        let mut env = self.slots.body[idx].with(|p| unsafe { *p });
        // Like `RawRing::read_slot`, the sequence word is not copied.
        env.header.seq = 0;
        env
    }
    unsafe fn write_body(&self, idx: usize, env: &Envelope) {
        // The body is everything but `seq`, which lives in its own atomic.
        // SAFETY: the caller is the producer and the slot is free (trait
        // contract); loom checks that no read of the slot is concurrent.
        self.slots.body[idx].with_mut(|p| unsafe { *p = *env });
    }
    fn load_head(&self) -> u64 {
        self.slots.head.load(Ordering::Acquire)
    }
    fn store_head(&self, head: u64) {
        self.slots.head.store(head, Ordering::Release)
    }
    fn store_tail(&self, tail: u64) {
        self.slots.tail.store(tail, Ordering::Relaxed)
    }
    fn load_tail(&self) -> u64 {
        self.slots.tail.load(Ordering::Relaxed)
    }
    fn note_full(&self) {
        let n = self.slots.full_events.load(Ordering::Relaxed);
        self.slots.full_events.store(n.wrapping_add(1), Ordering::Relaxed);
    }
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        self.slots.seq[idx].load(Ordering::Acquire)
    }
    fn fence_release(&self) {
        fence(Ordering::Release)
    }
    fn store_seq_relaxed(&self, idx: usize, seq: u64) {
        self.slots.seq[idx].store(seq, Ordering::Relaxed)
    }
    fn store_head_relaxed(&self, head: u64) {
        self.slots.head.store(head, Ordering::Relaxed)
    }
}

/// A one-lane platform for [`Consumer::peek_lanes`] (a warp's lockstep lanes
/// cannot be modelled as loom threads; one lane takes the same code path).
struct OneLane;

impl Platform for OneLane {
    fn now_ns() -> u64 {
        0
    }
    fn relax(_idle_rounds: u32) {}
}

/// How the producer writes.
#[derive(Clone, Copy, Debug)]
enum Writer {
    /// [`Producer::try_push`]: one release store per message (the host).
    Push,
    /// [`Producer::write_deferred`], then [`Producer::fence_release`] and
    /// [`Producer::publish_deferred`] after every `batch` messages and
    /// before waiting on a full ring (the GPU actor loop's outbox).
    Deferred { batch: u64 },
}

/// How the consumer takes messages.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// [`Consumer::poll`], one message at a time.
    Poll,
    /// [`Consumer::poll_batch`] into `prefetch` envelopes (the host poller).
    PollBatch { prefetch: usize },
    /// [`Consumer::peek_batch`] into `prefetch` envelopes, then
    /// [`Consumer::consume`] of at most `take` of them, one at a time, as the
    /// actor loop does (it stops early when the actor stops; the rest are
    /// peeked again later).
    Peek { prefetch: usize, take: usize },
    /// [`Consumer::peek_lanes`] on one lane (acquire load of `seq`).
    Lanes,
}

/// How the consumer hands slots back.
#[derive(Clone, Copy, Debug)]
enum Release {
    /// [`Consumer::release`]: a release store of `head` (the host).
    Store,
    /// [`RingMemory::fence_release`], then [`Consumer::release_after_fence`]
    /// (the actor loop's `end_batch`).
    AfterFence,
}

/// One model: a producer writes `messages` envelopes with payload
/// `0..messages` into a ring of `capacity` with `writer`; a consumer takes
/// them with `reader` and hands slots back with `release` every
/// `release_every` messages and whenever it finds the ring empty (the actor
/// loop does so after each batch).
struct Model {
    capacity: u32,
    messages: u64,
    writer: Writer,
    reader: Reader,
    release: Release,
    release_every: u64,
    preemption_bound: usize,
}

impl Model {
    fn check(self) {
        let Model { capacity, messages, writer, reader, release, release_every, preemption_bound } = self;
        // Iterations, and those in which the producer found the ring full.
        let counts = std::sync::Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let counter = counts.clone();
        let mut builder = loom::model::Builder::new();
        // LOOM_MAX_PREEMPTIONS, when set, overrides the model's bound.
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(preemption_bound);
        }
        let bound = builder.preemption_bound;
        builder.check(move || {
            counter[0].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if run_once(&self) > 0 {
                counter[1].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let [iterations, full] = counts.each_ref().map(|c| c.load(std::sync::atomic::Ordering::Relaxed));
        println!(
            "loom: capacity {capacity}, {messages} messages, {writer:?}, {reader:?}, {release:?} every \
             {release_every}, preemption bound {bound:?}: {iterations} iterations, {full} with the ring full"
        );
        assert!(full > 0, "the model never filled the ring");
    }
}

/// Check that `env` is intact and is the message of position `pos`.
fn check_message(env: &Envelope, pos: u64) {
    assert_eq!(env.validate_for(7), Ok(()), "torn envelope at position {pos}");
    assert_eq!(env.header.seq, 0, "read_slot does not copy the slot sequence (position {pos})");
    assert_eq!(env.read_pod::<u64>(), Some(pos), "FIFO: expected position {pos}");
}

/// The producer thread's work; returns how often it found the ring full.
fn produce(ring: LoomRing, messages: u64, writer: Writer) -> u64 {
    // SAFETY: this thread is the ring's only producer.
    let mut p = unsafe { Producer::attach(ring) };
    let mut fulls = 0u64;
    let mut i = 0u64;
    while i < messages {
        let env = Envelope::from_pod(7, 1, 2, &i).unwrap();
        let written = match writer {
            Writer::Push => p.try_push(&env),
            Writer::Deferred { .. } => p.write_deferred(&env),
        };
        match written {
            Ok(()) => {
                i += 1;
                if let Writer::Deferred { batch } = writer
                    && (i.is_multiple_of(batch) || i == messages)
                {
                    p.fence_release();
                    p.publish_deferred();
                }
            }
            Err(Full) => {
                fulls += 1;
                // Let the consumer see (and free) what is already written.
                if p.has_deferred() {
                    p.fence_release();
                    p.publish_deferred();
                }
                thread::yield_now();
            }
        }
    }
    assert!(!p.has_deferred());
    p.publish_tail();
    assert_eq!(p.tail(), messages);
    fulls
}

/// The consumer thread's work; returns the consumer for the final checks.
fn consume(ring: LoomRing, messages: u64, reader: Reader, release: Release, release_every: u64) -> Consumer<LoomRing> {
    let hand_back = |c: &mut Consumer<LoomRing>, ring: &LoomRing| match release {
        Release::Store => c.release(),
        Release::AfterFence => {
            ring.fence_release();
            c.release_after_fence();
        }
    };
    // SAFETY: this thread is the ring's only consumer.
    let mut c = unsafe { Consumer::attach(ring.clone()) };
    let mut buf = [<Envelope as bytemuck::Zeroable>::zeroed(); 4];
    let mut next = 0u64;
    while next < messages {
        let start = next;
        match reader {
            Reader::Poll => {
                if let Some(env) = c.poll() {
                    check_message(&env, next);
                    next += 1;
                }
            }
            Reader::PollBatch { prefetch } => {
                let k = c.poll_batch(&mut buf[..prefetch]);
                for env in &buf[..k] {
                    check_message(env, next);
                    next += 1;
                }
            }
            Reader::Peek { prefetch, take } => {
                let k = c.peek_batch(&mut buf[..prefetch]);
                for env in &buf[..k.min(take)] {
                    check_message(env, next);
                    c.consume(1);
                    next += 1;
                }
            }
            Reader::Lanes => {
                let k = c.peek_lanes::<OneLane>(&mut buf[0], 1);
                assert!(k <= 1, "one lane peeks at most one slot");
                if k == 1 {
                    check_message(&lane_envelope::<OneLane>(&buf[0], 0), next);
                    c.consume(1);
                    next += 1;
                }
            }
        }
        assert!(next <= messages, "more messages than were sent");
        assert_eq!(c.head(), next);
        if next == start {
            // Hand back a partial batch before waiting.
            hand_back(&mut c, &ring);
            thread::yield_now();
        } else if next.is_multiple_of(release_every) {
            hand_back(&mut c, &ring);
        }
    }
    hand_back(&mut c, &ring);
    c
}

/// One execution of the model (loom calls this once per interleaving);
/// returns how often the producer found the ring full.
fn run_once(m: &Model) -> u64 {
    let (messages, writer, reader, release, release_every) =
        (m.messages, m.writer, m.reader, m.release, m.release_every);
    let ring = LoomRing::new(m.capacity);
    let producer_ring = ring.clone();
    let producer = thread::spawn(move || produce(producer_ring, messages, writer));
    let consumer_ring = ring.clone();
    let consumer = thread::spawn(move || consume(consumer_ring, messages, reader, release, release_every));

    let fulls = producer.join().unwrap();
    let mut c = consumer.join().unwrap();
    assert!(c.poll().is_none(), "a message was delivered twice");
    assert!(!c.is_ready());
    let mut buf = [<Envelope as bytemuck::Zeroable>::zeroed(); 2];
    assert_eq!(c.peek_batch(&mut buf), 0, "a message was peeked after the last one");
    assert_eq!(c.head(), messages);
    assert_eq!(ring.load_head(), messages, "final head");
    assert_eq!(ring.load_tail(), messages, "final tail");
    assert_eq!(ring.slots.full_events.load(Ordering::Relaxed), fulls, "full events counted");
    fulls
}

// Basic protocol: push, poll, release store.

#[test]
fn loom_ring_cap2_poll_release_each() {
    let (writer, reader, release) = (Writer::Push, Reader::Poll, Release::Store);
    Model { capacity: 2, messages: 5, writer, reader, release, release_every: 1, preemption_bound: 3 }.check();
}

#[test]
fn loom_ring_cap4_poll_release_batched() {
    let (writer, reader, release) = (Writer::Push, Reader::Poll, Release::Store);
    Model { capacity: 4, messages: 5, writer, reader, release, release_every: 2, preemption_bound: 4 }.check();
}

// H2K: the host pushes; the GPU actor loop peeks and releases after a fence.

#[test]
fn loom_ring_h2k_cap2_peek_lanes() {
    let (writer, reader, release) = (Writer::Push, Reader::Lanes, Release::AfterFence);
    Model { capacity: 2, messages: 4, writer, reader, release, release_every: 2, preemption_bound: 4 }.check();
}

#[test]
fn loom_ring_h2k_cap4_peek_batch() {
    let (writer, reader, release) = (Writer::Push, Reader::Peek { prefetch: 4, take: 4 }, Release::AfterFence);
    Model { capacity: 4, messages: 6, writer, reader, release, release_every: 2, preemption_bound: 3 }.check();
}

#[test]
fn loom_ring_h2k_cap2_peek_partial_consume() {
    let (writer, reader, release) = (Writer::Push, Reader::Peek { prefetch: 2, take: 1 }, Release::AfterFence);
    Model { capacity: 2, messages: 4, writer, reader, release, release_every: 1, preemption_bound: 3 }.check();
}

// K2H: the GPU actor loop writes deferred and publishes per batch; the host
// polls in batches and releases with a store.
//
// These two found a data race in an earlier `RawRing::read_slot`, which
// copied the `seq` word with a plain read that `publish_deferred`'s relaxed
// store was not ordered before (loom: "Concurrent `unsync_load` and atomic
// store"; Miri agreed on the real `RawRing`). `read_slot` no longer copies
// the `seq` word, and both pass.

#[test]
fn loom_ring_k2h_cap2_deferred_poll_batch() {
    let (writer, reader, release) = (Writer::Deferred { batch: 2 }, Reader::PollBatch { prefetch: 2 }, Release::Store);
    Model { capacity: 2, messages: 4, writer, reader, release, release_every: 1, preemption_bound: 4 }.check();
}

#[test]
fn loom_ring_k2h_cap4_deferred_poll_batch() {
    let (writer, reader, release) = (Writer::Deferred { batch: 3 }, Reader::PollBatch { prefetch: 4 }, Release::Store);
    Model { capacity: 4, messages: 6, writer, reader, release, release_every: 2, preemption_bound: 3 }.check();
}
