//! Loom model of the K2K inbox: the bounded MPSC ring of
//! [`ringkernel_device::mpsc`] (protocol in [`ringkernel_shared::system`]).
//!
//! The real [`try_push`] and [`MpscConsumer`] run over [`LoomMpsc`], whose
//! sequence words and `tail` are loom atomics with the orderings
//! `DeviceMpsc` uses and whose bodies are loom cells, so loom fails on a
//! torn or overwritten message (an unsynchronised body access) as well as
//! on a lost, duplicated or reordered one. Two producers push more messages
//! than the ring holds, so claims race, the ring fills, and slots are reused
//! a lap later.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p ringkernel-device --test loom_mpsc --release`.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, Ordering};
use loom::thread;
use ringkernel_device::mpsc::{InboxFull, MpscConsumer, MpscMemory, try_push};
use ringkernel_shared::Envelope;

struct Slots {
    seq: Vec<AtomicU64>,
    body: Vec<UnsafeCell<Envelope>>,
    tail: AtomicU64,
    full: AtomicU64,
}

// SAFETY: bodies are reached only through `MpscMemory::{read_body,
// write_body}`, whose contracts are what this model checks.
unsafe impl Sync for Slots {}

#[derive(Clone)]
struct LoomMpsc {
    s: Arc<Slots>,
    capacity: u32,
}

impl LoomMpsc {
    fn new(capacity: u32) -> Self {
        let n = capacity as usize;
        let s = Slots {
            seq: (0..n as u64).map(AtomicU64::new).collect(),
            body: (0..n).map(|_| UnsafeCell::new(bytemuck::Zeroable::zeroed())).collect(),
            tail: AtomicU64::new(0),
            full: AtomicU64::new(0),
        };
        Self { s: Arc::new(s), capacity }
    }
}

// SAFETY: each method is the access its documentation names, with the
// ordering `DeviceMpsc` uses.
unsafe impl MpscMemory for LoomMpsc {
    fn capacity(&self) -> u32 {
        self.capacity
    }
    fn load_seq_acquire(&self, idx: usize) -> u64 {
        self.s.seq[idx].load(Ordering::Acquire)
    }
    fn store_seq_release(&self, idx: usize, seq: u64) {
        self.s.seq[idx].store(seq, Ordering::Release)
    }
    fn load_tail(&self) -> u64 {
        self.s.tail.load(Ordering::Relaxed)
    }
    fn cas_tail(&self, old: u64, new: u64) -> Result<u64, u64> {
        self.s.tail.compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
    }
    unsafe fn read_body(&self, idx: usize) -> Envelope {
        // SAFETY: the consumer acquired the slot (contract); loom checks it.
        self.s.body[idx].with(|p| unsafe { *p })
    }
    unsafe fn write_body(&self, idx: usize, env: &Envelope) {
        // SAFETY: the producer claimed the slot (contract); loom checks it.
        self.s.body[idx].with_mut(|p| unsafe { *p = *env });
    }
    fn store_head(&self, _head: u64) {}
    fn note_full(&self) {
        self.s.full.fetch_add(1, Ordering::Relaxed);
    }
}

fn env(producer: u64, i: u64) -> Envelope {
    Envelope::new(1, producer as u32, 0, &(producer << 32 | i).to_le_bytes()).unwrap()
}

/// Two producers each try to push `per_producer` messages once (no retry)
/// into a ring of `capacity` while the consumer pops a few times; then the
/// rest is drained. Every accepted message must arrive exactly once, in its
/// producer's order, and no refused one may arrive. Fails if no iteration
/// found the ring full.
fn model(capacity: u32, per_producer: u64, consumer_pops: usize) {
    let full_seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&full_seen);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(2);
    b.check(move || {
        let ring = LoomMpsc::new(capacity);
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let r = ring.clone();
                thread::spawn(move || {
                    (0..per_producer).filter(|&i| try_push(&r, &env(p, i)) != Err(InboxFull)).collect::<Vec<u64>>()
                })
            })
            .collect();
        // SAFETY: the only consumer.
        let mut c = unsafe { MpscConsumer::attach(ring.clone(), 0) };
        let mut got: Vec<u64> = (0..consumer_pops).filter_map(|_| c.pop(true)).map(|e| e.read_pod().unwrap()).collect();
        let accepted: Vec<Vec<u64>> = producers.into_iter().map(|t| t.join().unwrap()).collect();
        while let Some(e) = c.pop(true) {
            got.push(e.read_pod().unwrap());
        }
        for (p, acc) in accepted.iter().enumerate() {
            let mine: Vec<u64> = got.iter().filter(|v| (*v >> 32) as usize == p).map(|v| v & 0xffff_ffff).collect();
            assert_eq!(&mine, acc, "producer {p}: accepted messages lost, duplicated or reordered");
        }
        if accepted.iter().map(Vec::len).sum::<usize>() < 2 * per_producer as usize {
            seen.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    assert!(full_seen.load(std::sync::atomic::Ordering::Relaxed), "no iteration filled the ring");
}

#[test]
fn mpsc_two_producers_capacity_2() {
    model(2, 2, 1);
}

#[test]
fn mpsc_two_producers_slot_reuse() {
    model(2, 3, 2);
}
