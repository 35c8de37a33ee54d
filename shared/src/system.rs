//! Layouts of an actor *system*: many actors in one persistent launch.
//!
//! A system is a fixed number of **slots**. Each slot has the per-actor
//! memory of a single actor (control block, telemetry, host inbox and
//! outbox: see the host's `memory` module) plus a record and a K2K inbox in
//! the system's **device region**. A slot is Dormant until an actor is
//! created in it; the actor can then be restarted, killed and the slot
//! reused, all without a new launch.
//!
//! | memory | where (CUDA / CPU) | written by | holds |
//! | --- | --- | --- | --- |
//! | [`SystemControl`] | mapped host memory / heap | host, before launch (`shutdown`: at run time) | sizes, pool split, root policy, addresses of the rest |
//! | slot table: one [`SlotPointers`] per slot | mapped / heap | host, before launch | addresses of each slot's actor memory |
//! | device region: [`DeviceHeader`], one [`SlotRecord`] per slot, one K2K ring per slot | device memory / heap | slots (device-scope atomics) | supervision tree, restart histories, K2K inboxes |
//! | [`Directory`] | mapped / heap | host (seqlock) | name registry and pub/sub subscriptions, read by actors |
//!
//! ## Slots and pools
//!
//! Slots `0..spawn_first` are created by the host (it picks a free one under
//! its own lock and posts `Command::CREATE`); slots `spawn_first..slots` are
//! the spawn pool, claimed by actors with a compare-and-swap on
//! [`SlotRecord::claim`]. The split means host and GPU never race for one
//! slot over PCIe, where read-modify-write atomics are not atomic between
//! the two sides.
//!
//! ## K2K inboxes: a bounded MPSC ring
//!
//! Each slot's K2K inbox is a [`RingHeader`](crate::RingHeader) followed by
//! `k2k_capacity` envelope slots, in device memory. Any number of actors
//! produce, the owning slot consumes. The slot sequence (the envelope's
//! first word) works as in Vyukov's bounded queue:
//!
//! * slot `i` starts with `seq = i` ([`k2k_initial_seq`]): free for position `i`;
//! * a producer reads `tail` = `p`; if slot `p` has `seq == p` it claims `p`
//!   by a CAS of `tail` from `p` to `p + 1`, writes the body, then stores
//!   `seq = p + 1` with release ordering; `seq < p` means the ring is full;
//! * the consumer at `c` waits for `seq == c + 1` (acquire), copies the
//!   body, then stores `seq = c + capacity` (release): free for the producer
//!   one lap later.
//!
//! A full inbox is reported to the sending handler (`SendError::InboxFull`);
//! nothing is dropped silently.

use crate::registry::Registry;
use crate::supervision::RestartHistory;
use crate::topic::TopicPattern;
use bytemuck::{Pod, Zeroable};

/// Restarts remembered per supervisor.
pub const HISTORY: usize = 8;
/// Names in a system's [`Directory`].
pub const DIRECTORY_NAMES: usize = 64;
/// Subscriptions in a system's [`Directory`].
pub const DIRECTORY_SUBSCRIPTIONS: usize = 64;

/// [`SlotRecord::pending`] bit: create the actor described by the record
/// (set by a spawning actor).
pub const PENDING_CREATE: u32 = 1;
/// [`SlotRecord::pending`] bit: restart (a sibling failed under one-for-all
/// or rest-for-one).
pub const PENDING_RESTART: u32 = 2;
/// [`SlotRecord::pending`] bit: kill this actor and its subtree.
pub const PENDING_KILL: u32 = 4;

/// [`SlotRecord::claim`]: the slot is free.
pub const CLAIM_FREE: u32 = 0;
/// [`SlotRecord::claim`]: an actor claimed the slot for a child.
pub const CLAIM_TAKEN: u32 = 1;

/// The system's fixed parameters (128 bytes).
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SystemControl {
    /// Number of slots.
    pub slots: u32,
    /// Slots of each K2K inbox (a power of two).
    pub k2k_capacity: u32,
    /// First slot of the spawn pool (see [the pools](self#slots-and-pools)).
    pub spawn_first: u32,
    /// Actor id of slot 0; slot `s` hosts actor `base_actor_id + s`.
    pub base_actor_id: u32,
    /// Set to 1 by the host to end the launch: a Dormant slot that sees it
    /// returns.
    pub shutdown: u32,
    /// [`RestartPolicy`](crate::supervision::RestartPolicy) of the root
    /// supervisor (the parent of top-level actors).
    pub root_policy: u32,
    /// Root supervisor's restart intensity: most restarts …
    pub root_max_restarts: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// … within this window (ns).
    pub root_window_ns: u64,
    /// Address of the slot table (`slots` × [`SlotPointers`]).
    pub slot_table: u64,
    /// Address of the device region ([`SystemLayout`]).
    pub device_region: u64,
    /// Address of the [`Directory`].
    pub directory: u64,
    /// Reserved, zero.
    pub _reserved: [u64; 8],
}

crate::assert_layout!(SystemControl, size = 128, align = 128);
crate::assert_offset!(SystemControl, slots, 0);
crate::assert_offset!(SystemControl, k2k_capacity, 4);
crate::assert_offset!(SystemControl, spawn_first, 8);
crate::assert_offset!(SystemControl, base_actor_id, 12);
crate::assert_offset!(SystemControl, shutdown, 16);
crate::assert_offset!(SystemControl, root_policy, 20);
crate::assert_offset!(SystemControl, root_max_restarts, 24);
crate::assert_offset!(SystemControl, root_window_ns, 32);
crate::assert_offset!(SystemControl, slot_table, 40);
crate::assert_offset!(SystemControl, device_region, 48);
crate::assert_offset!(SystemControl, directory, 56);

/// Addresses of one slot's actor memory (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SlotPointers {
    /// [`ControlBlock`](crate::ControlBlock).
    pub control: u64,
    /// Host inbox ring.
    pub inbox: u64,
    /// Host outbox ring.
    pub outbox: u64,
    /// [`TelemetryBuffer`](crate::TelemetryBuffer).
    pub telemetry: u64,
}

crate::assert_layout!(SlotPointers, size = 32, align = 8);
crate::assert_offset!(SlotPointers, control, 0);
crate::assert_offset!(SlotPointers, inbox, 8);
crate::assert_offset!(SlotPointers, outbox, 16);
crate::assert_offset!(SlotPointers, telemetry, 24);

/// Start of the device region (128 bytes).
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct DeviceHeader {
    /// Next start sequence (orders siblings by creation).
    pub next_start_seq: u64,
    /// Next stop sequence (orders terminations; tests check kill order).
    pub next_stop_seq: u64,
    /// Lock of the root supervisor's history.
    pub root_lock: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// Root supervisor's restarts.
    pub root_history: RestartHistory<HISTORY>,
    /// Reserved, zero.
    pub _reserved: [u64; 4],
}

crate::assert_layout!(DeviceHeader, size = 128, align = 128);
crate::assert_offset!(DeviceHeader, next_start_seq, 0);
crate::assert_offset!(DeviceHeader, next_stop_seq, 8);
crate::assert_offset!(DeviceHeader, root_lock, 16);
crate::assert_offset!(DeviceHeader, root_history, 24);

/// One slot's supervision record in the device region (128 bytes).
///
/// `pending`, `claim`, `lock`, `live` and `start_seq` are accessed
/// atomically by any slot; the spec fields (`type_id` … `window_ns`) are
/// written by whoever creates the actor before it publishes `live`, and
/// `history` only under `lock`.
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SlotRecord {
    /// `PENDING_*` requests to this slot (atomic OR by others, swap by the slot).
    pub pending: u32,
    /// [`CLAIM_FREE`] / [`CLAIM_TAKEN`] (spawn pool only).
    pub claim: u32,
    /// Lock of this actor's history as a supervisor.
    pub lock: u32,
    /// 1 while an actor lives in the slot (Initializing … Failed), else 0.
    pub live: u32,
    /// Type id of the actor.
    pub type_id: u32,
    /// Parent slot, or [`NO_PARENT`](crate::supervision::NO_PARENT).
    pub parent: u32,
    /// This actor's policy for its own children.
    pub policy: u32,
    /// … and its restart intensity: most restarts …
    pub max_restarts: u32,
    /// … within this window (ns).
    pub window_ns: u64,
    /// Start order among all actors (assigned at creation, kept over restarts).
    pub start_seq: u64,
    /// Restarts of this actor's children.
    pub history: RestartHistory<HISTORY>,
    /// Incarnations of this slot.
    pub generation: u32,
    /// Reserved, zero.
    pub _pad: u32,
}

crate::assert_layout!(SlotRecord, size = 128, align = 128);
crate::assert_offset!(SlotRecord, pending, 0);
crate::assert_offset!(SlotRecord, claim, 4);
crate::assert_offset!(SlotRecord, lock, 8);
crate::assert_offset!(SlotRecord, live, 12);
crate::assert_offset!(SlotRecord, type_id, 16);
crate::assert_offset!(SlotRecord, parent, 20);
crate::assert_offset!(SlotRecord, policy, 24);
crate::assert_offset!(SlotRecord, max_restarts, 28);
crate::assert_offset!(SlotRecord, window_ns, 32);
crate::assert_offset!(SlotRecord, start_seq, 40);
crate::assert_offset!(SlotRecord, history, 48);
crate::assert_offset!(SlotRecord, generation, 120);

/// Byte offsets in the device region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemLayout {
    /// Slots.
    pub slots: u32,
    /// Slots per K2K inbox.
    pub k2k_capacity: u32,
    /// Offset of the first [`SlotRecord`].
    pub records: usize,
    /// Offset of the first K2K ring.
    pub rings: usize,
    /// Bytes of one K2K ring (header and slots).
    pub ring_bytes: usize,
    /// Bytes of the whole region.
    pub total: usize,
}

impl SystemLayout {
    /// The layout for `slots` slots with K2K inboxes of `k2k_capacity`
    /// (a valid ring capacity: see [`crate::ring::validate_capacity`]).
    pub fn new(slots: u32, k2k_capacity: u32) -> Result<Self, crate::ring::BadCapacity> {
        crate::ring::validate_capacity(k2k_capacity)?;
        let records = core::mem::size_of::<DeviceHeader>();
        let rings = records + slots as usize * core::mem::size_of::<SlotRecord>();
        let ring_bytes = crate::ring::ring_bytes(k2k_capacity, crate::ENVELOPE_BYTES as u32);
        Ok(Self { slots, k2k_capacity, records, rings, ring_bytes, total: rings + slots as usize * ring_bytes })
    }

    /// Offset of slot `s`'s record.
    pub const fn record(&self, s: u32) -> usize {
        self.records + s as usize * core::mem::size_of::<SlotRecord>()
    }

    /// Offset of slot `s`'s K2K ring header.
    pub const fn ring(&self, s: u32) -> usize {
        self.rings + s as usize * self.ring_bytes
    }
}

/// Initial sequence word of K2K slot `i` (free for position `i`).
#[inline]
pub const fn k2k_initial_seq(i: u64) -> u64 {
    i
}

/// One pub/sub subscription (56 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Subscription {
    /// The pattern.
    pub pattern: TopicPattern,
    /// The subscriber.
    pub actor_id: u32,
}

crate::assert_layout!(Subscription, size = 56, align = 4);
crate::assert_offset!(Subscription, actor_id, 52);

/// A fixed-capacity subscription table (plain data).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Subscriptions<const N: usize> {
    len: u32,
    _pad: u32,
    entries: [Subscription; N],
}

// SAFETY: `#[repr(C)]` with `u32`, `u32`, `[Subscription; N]`; `Subscription`
// is Pod with size 56 and align 4, so the array starts at 8 and the size
// 8 + 56·N is a multiple of 4: no padding; all-zero is an empty table.
unsafe impl<const N: usize> Zeroable for Subscriptions<N> {}
// SAFETY: as above; every bit pattern is a valid value.
unsafe impl<const N: usize> Pod for Subscriptions<N> {}

crate::assert_layout!(Subscriptions<2>, size = 8 + 2 * 56, align = 4);

/// Why a subscription was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// The pattern breaks the [pattern rules](crate::topic).
    InvalidPattern(crate::topic::TopicError),
    /// All entries are in use.
    Full,
}

impl core::fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidPattern(e) => write!(f, "invalid topic pattern: {e}"),
            Self::Full => f.write_str("subscription table is full"),
        }
    }
}

impl core::error::Error for SubscribeError {}

impl<const N: usize> Default for Subscriptions<N> {
    fn default() -> Self {
        Zeroable::zeroed()
    }
}

impl<const N: usize> Subscriptions<N> {
    /// Live entries (a `len` above `N` reads as `N`).
    pub fn entries(&self) -> &[Subscription] {
        &self.entries[..(self.len as usize).min(N)]
    }

    /// Add `actor_id` as a subscriber of `pattern`. Subscribing twice to
    /// one pattern is a no-op.
    pub fn subscribe(&mut self, pattern: &[u8], actor_id: u32) -> Result<(), SubscribeError> {
        let pattern = TopicPattern::new(pattern).map_err(SubscribeError::InvalidPattern)?;
        if self.entries().iter().any(|s| s.actor_id == actor_id && s.pattern == pattern) {
            return Ok(());
        }
        let n = self.entries().len();
        if n == N {
            return Err(SubscribeError::Full);
        }
        self.entries[n] = Subscription { pattern, actor_id };
        self.len = n as u32 + 1;
        Ok(())
    }

    /// Remove every subscription of `actor_id` (to `pattern`, or to all
    /// patterns when `None`); returns how many went.
    pub fn unsubscribe(&mut self, actor_id: u32, pattern: Option<&[u8]>) -> usize {
        let n = self.entries().len();
        let mut kept = 0;
        for i in 0..n {
            let e = self.entries[i];
            let hit = e.actor_id == actor_id && pattern.is_none_or(|p| crate::topic::bytes_eq(e.pattern.as_bytes(), p));
            if !hit {
                self.entries[kept] = e;
                kept += 1;
            }
        }
        for e in &mut self.entries[kept..n] {
            *e = Zeroable::zeroed();
        }
        self.len = kept as u32;
        n - kept
    }

    /// Subscribers of `topic`, in subscription order, into `out`; returns
    /// how many were written (an actor subscribed by two matching patterns
    /// appears once).
    pub fn subscribers(&self, topic: &[u8], out: &mut [u32]) -> usize {
        let mut n = 0;
        for s in self.entries() {
            if crate::topic::matches(s.pattern.as_bytes(), topic) && !out[..n].contains(&s.actor_id) {
                if n == out.len() {
                    break;
                }
                out[n] = s.actor_id;
                n += 1;
            }
        }
        n
    }
}

/// Names and subscriptions of a system, published by the host under a
/// sequence lock: `version` is odd while the host writes; a reader copies
/// the part it needs and retries if `version` changed or was odd.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Directory {
    /// Sequence-lock version.
    pub version: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// Names.
    pub names: Registry<DIRECTORY_NAMES>,
    /// Subscriptions.
    pub subscriptions: Subscriptions<DIRECTORY_SUBSCRIPTIONS>,
}

crate::assert_layout!(Directory, size = 8 + (8 + 60 * DIRECTORY_NAMES) + (8 + 56 * DIRECTORY_SUBSCRIPTIONS), align = 4);
crate::assert_offset!(Directory, names, 8);
crate::assert_offset!(Directory, subscriptions, 16 + 60 * DIRECTORY_NAMES);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_layout_offsets() {
        let l = SystemLayout::new(4, 8).unwrap();
        assert_eq!(l.records, 128);
        assert_eq!(l.rings, 128 + 4 * 128);
        assert_eq!(l.ring_bytes, 256 + 8 * 128);
        assert_eq!(l.ring(3), l.rings + 3 * l.ring_bytes);
        assert_eq!(l.total, l.ring(4));
        assert!(SystemLayout::new(4, 3).is_err());
    }

    #[test]
    fn subscriptions_match_dedupe_and_remove() {
        let mut t = Subscriptions::<4>::default();
        t.subscribe(b"sensors/*/temp", 1).unwrap();
        t.subscribe(b"sensors/#", 2).unwrap();
        t.subscribe(b"sensors/#", 1).unwrap();
        t.subscribe(b"sensors/#", 1).unwrap();
        assert_eq!(t.entries().len(), 3);
        let mut out = [0u32; 4];
        let n = t.subscribers(b"sensors/a/temp", &mut out);
        assert_eq!(&out[..n], &[1, 2]);
        let n = t.subscribers(b"sensors/a/hum", &mut out);
        assert_eq!(&out[..n], &[2, 1]);
        assert_eq!(t.subscribers(b"other", &mut out), 0);
        t.subscribe(b"x", 3).unwrap();
        assert_eq!(t.subscribe(b"y", 3), Err(SubscribeError::Full));
        assert!(matches!(t.subscribe(b"a/#/b", 3), Err(SubscribeError::InvalidPattern(_))));
        assert_eq!(t.unsubscribe(1, None), 2);
        let n = t.subscribers(b"sensors/a/temp", &mut out);
        assert_eq!(&out[..n], &[2]);
        assert_eq!(t.unsubscribe(2, Some(b"sensors/#")), 1);
        assert_eq!(t.entries().len(), 1);
    }

    #[test]
    fn subscriptions_output_bounded() {
        let mut t = Subscriptions::<4>::default();
        for id in 0..4 {
            t.subscribe(b"#", id).unwrap();
        }
        let mut out = [0u32; 2];
        assert_eq!(t.subscribers(b"a", &mut out), 2);
        assert_eq!(out, [0, 1]);
    }
}
