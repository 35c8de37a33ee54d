//! Layout and arithmetic of the slot-sequence SPSC ring.
//!
//! A ring is a [`RingHeader`] followed by `capacity` slots of
//! [`ENVELOPE_BYTES`](crate::ENVELOPE_BYTES) each (the envelope's first
//! eight bytes are the slot sequence). One producer and one consumer, each
//! possibly on the other side of PCIe.
//!
//! ## Protocol invariants
//!
//! * Positions are `u64` counters that never wrap in practice (2^64 slots).
//!   Position `p` lives in slot `p & (capacity - 1)`; `capacity` is a power
//!   of two.
//! * The producer owns `tail` (its next position) and writes slot contents;
//!   the consumer owns `head` (its next position).
//! * **Publishing.** The producer writes the whole envelope except `seq`,
//!   then stores `seq = p + 1` ([`ready_seq`]) with release ordering. A slot
//!   is ready for the consumer at position `c` exactly when its `seq` equals
//!   `c + 1`. Sequence values grow by `capacity` per lap, so a slot left from
//!   an earlier lap (`seq = c + 1 - capacity`) or never written (`0`) is never
//!   mistaken for a fresh one, and the consumer never has to clear slots.
//! * **The consumer polls the slot it expects next**, not a shared index: on
//!   a GPU reading host memory this is one PCIe read per message instead of
//!   two.
//! * **Freeing.** After consuming up to position `c` the consumer stores
//!   `head = c` with release ordering (it may do so once per batch). The
//!   producer may write position `p` only when `p - head < capacity`
//!   ([`has_room`]). It keeps a cached copy of `head` and re-reads the real one
//!   only when the cache says full, so a non-full ring costs the producer no
//!   remote reads.
//! * `tail` is published by the producer for monitoring only; correctness
//!   does not depend on it.

use bytemuck::{Pod, Zeroable};

/// Smallest allowed capacity.
pub const MIN_CAPACITY: u32 = 2;
/// Largest allowed capacity (2^24 slots = 2 GiB of 128-byte slots).
pub const MAX_CAPACITY: u32 = 1 << 24;

/// Ring header: producer's line, then consumer's line (256 bytes), so that
/// the two sides never write the same 128-byte line.
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RingHeader {
    /// Producer's next position (monitoring only).
    pub tail: u64,
    /// Number of slots, a power of two (set at creation).
    pub capacity: u32,
    /// Bytes per slot (set at creation; [`ENVELOPE_BYTES`](crate::ENVELOPE_BYTES)).
    pub slot_bytes: u32,
    /// Times the producer found the ring full.
    pub full_events: u64,
    /// Padding to the end of the producer's line.
    pub _producer_pad: [u64; 13],
    /// Consumer's next position: every position below it is free.
    pub head: u64,
    /// Padding to the end of the consumer's line.
    pub _consumer_pad: [u64; 15],
}

crate::assert_layout!(RingHeader, size = 256, align = 128);
crate::assert_offset!(RingHeader, tail, 0);
crate::assert_offset!(RingHeader, capacity, 8);
crate::assert_offset!(RingHeader, slot_bytes, 12);
crate::assert_offset!(RingHeader, full_events, 16);
crate::assert_offset!(RingHeader, head, 128);

/// Why a ring capacity was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCapacity(pub u32);

impl core::fmt::Display for BadCapacity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ring capacity {} must be a power of two in {}..={}", self.0, MIN_CAPACITY, MAX_CAPACITY)
    }
}

impl core::error::Error for BadCapacity {}

/// Check a requested capacity.
pub const fn validate_capacity(capacity: u32) -> Result<u32, BadCapacity> {
    if capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY && capacity.is_power_of_two() {
        Ok(capacity)
    } else {
        Err(BadCapacity(capacity))
    }
}

impl RingHeader {
    /// A header for a ring of `capacity` slots of `slot_bytes`.
    pub fn new(capacity: u32, slot_bytes: u32) -> Result<Self, BadCapacity> {
        validate_capacity(capacity)?;
        Ok(Self { capacity, slot_bytes, ..Zeroable::zeroed() })
    }
}

/// Slot index of position `pos` in a ring of `capacity` (a power of two).
#[inline(always)]
pub const fn slot_index(pos: u64, capacity: u32) -> usize {
    (pos & (capacity as u64 - 1)) as usize
}

/// Sequence value marking position `pos` as written.
#[inline(always)]
pub const fn ready_seq(pos: u64) -> u64 {
    pos.wrapping_add(1)
}

/// Whether a slot whose sequence reads `seq` holds position `pos`.
#[inline(always)]
pub const fn is_ready(seq: u64, pos: u64) -> bool {
    seq == ready_seq(pos)
}

/// Whether the producer may write position `tail` when the consumer has
/// freed everything below `head`.
#[inline(always)]
pub const fn has_room(tail: u64, head: u64, capacity: u32) -> bool {
    tail.wrapping_sub(head) < capacity as u64
}

/// Number of positions in flight between `head` and `tail`.
#[inline(always)]
pub const fn occupancy(tail: u64, head: u64) -> u64 {
    tail.wrapping_sub(head)
}

/// Bytes of a whole ring (header + slots).
pub const fn ring_bytes(capacity: u32, slot_bytes: u32) -> usize {
    core::mem::size_of::<RingHeader>() + capacity as usize * slot_bytes as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_ring_header_lines() {
        let h = RingHeader::new(8, 128).unwrap();
        assert_eq!(core::mem::size_of_val(&h), 256);
        assert_eq!(ring_bytes(8, 128), 256 + 1024);
    }

    #[test]
    fn ring_capacity_validation() {
        assert!(validate_capacity(0).is_err());
        assert!(validate_capacity(1).is_err());
        assert!(validate_capacity(3).is_err());
        assert!(validate_capacity(MAX_CAPACITY * 2).is_err());
        assert_eq!(validate_capacity(2), Ok(2));
        assert_eq!(validate_capacity(1024), Ok(1024));
    }

    #[test]
    fn ring_stale_slot_never_ready() {
        // A slot written one lap earlier is not ready for this lap.
        let cap = 4u32;
        for pos in 4u64..64 {
            let stale = ready_seq(pos - cap as u64);
            assert!(!is_ready(stale, pos));
            assert!(!is_ready(0, pos));
            assert!(is_ready(ready_seq(pos), pos));
        }
    }

    proptest! {
        /// Sequential model of the protocol: producer and consumer make
        /// random progress; the consumer sees exactly the produced order and
        /// the producer never overwrites an unconsumed slot.
        #[test]
        fn ring_arith_model(cap_log in 1u32..6, steps in proptest::collection::vec(any::<bool>(), 1..400)) {
            let cap = 1u32 << cap_log;
            let mut seqs = [0u64; 32];
            let mut vals = [0u64; 32];
            let (mut tail, mut head) = (0u64, 0u64);
            for produce in steps {
                if produce {
                    if has_room(tail, head, cap) {
                        let i = slot_index(tail, cap);
                        // the slot is free: its seq is from an older lap
                        prop_assert!(seqs[i] <= tail.saturating_sub(cap as u64) + 1 || seqs[i] == 0);
                        vals[i] = tail * 7;
                        seqs[i] = ready_seq(tail);
                        tail += 1;
                    }
                } else {
                    let i = slot_index(head, cap);
                    if is_ready(seqs[i], head) {
                        prop_assert_eq!(vals[i], head * 7);
                        head += 1;
                    } else {
                        prop_assert_eq!(head, tail, "a written slot was not seen");
                    }
                }
                prop_assert!(occupancy(tail, head) <= cap as u64);
            }
        }
    }
}
