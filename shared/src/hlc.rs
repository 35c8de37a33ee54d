//! Hybrid logical clock (HLC).
//!
//! Every envelope carries an [`HlcTimestamp`]: a physical part in nanoseconds
//! (host: the system clock; GPU: `%globaltimer`) and a logical counter that
//! orders events sharing one physical value. The rules:
//!
//! | event | new physical `p'` | new logical `l'` |
//! | --- | --- | --- |
//! | local event / send ([`HlcTimestamp::tick`]) | `max(p, now)` | `l + 1` if `p' == p`, else `0` |
//! | receive `r` ([`HlcTimestamp::receive`]) | `max(p, r.p, now)` | `max` of the logical parts whose physical equals `p'`, plus one; `0` if only `now` reached `p'` |
//!
//! The logical counter is bounded by [`HlcTimestamp::MAX_LOGICAL`]: when an
//! increment would pass it, the physical part is advanced by one nanosecond
//! and the logical part restarts at zero. The clock thus stays strictly
//! monotonic, and a receive strictly dominates both the local and the remote
//! stamp, whatever the physical clocks do.
//!
//! Ordering is lexicographic on `(physical, logical, node)`; `node` only
//! breaks ties between different nodes and takes no part in the rules.

use bytemuck::{Pod, Zeroable};

/// A hybrid-logical-clock timestamp (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct HlcTimestamp {
    /// Physical time in nanoseconds.
    pub physical: u64,
    /// Logical counter, at most [`HlcTimestamp::MAX_LOGICAL`].
    pub logical: u32,
    /// The node (actor or host) that produced the stamp.
    pub node: u32,
}

crate::assert_layout!(HlcTimestamp, size = 16, align = 8);
crate::assert_offset!(HlcTimestamp, physical, 0);
crate::assert_offset!(HlcTimestamp, logical, 8);
crate::assert_offset!(HlcTimestamp, node, 12);

impl HlcTimestamp {
    /// Largest logical counter value; see the module docs.
    pub const MAX_LOGICAL: u32 = u16::MAX as u32;

    /// A zero stamp for `node`.
    pub const fn zero(node: u32) -> Self {
        Self { physical: 0, logical: 0, node }
    }

    /// `(physical, logical)` as one comparable key (ignores `node`).
    #[inline]
    pub const fn key(&self) -> (u64, u32) {
        (self.physical, self.logical)
    }

    /// Strict causal order: `self` happened before `other` by the clock's
    /// `(physical, logical)` order.
    #[inline]
    pub fn before(&self, other: &Self) -> bool {
        self.key() < other.key()
    }

    #[inline]
    fn bump(physical: u64, logical: u32) -> (u64, u32) {
        if logical >= Self::MAX_LOGICAL { (physical.saturating_add(1), 0) } else { (physical, logical + 1) }
    }

    /// Advance for a local event or a send, with `now_ns` the local physical
    /// clock. Returns the new stamp (also stored in `self`).
    #[inline]
    pub fn tick(&mut self, now_ns: u64) -> Self {
        let (p, l) = if now_ns > self.physical { (now_ns, 0) } else { Self::bump(self.physical, self.logical) };
        self.physical = p;
        self.logical = l;
        *self
    }

    /// Merge a received stamp `remote` at local physical time `now_ns`.
    /// Returns the new stamp (also stored in `self`), which is strictly
    /// greater than both the old local stamp and `remote`.
    #[inline]
    pub fn receive(&mut self, remote: &Self, now_ns: u64) -> Self {
        let local_p = self.physical;
        let pmax = if local_p > remote.physical { local_p } else { remote.physical };
        let (p, l) = if now_ns > pmax {
            (now_ns, 0)
        } else if local_p == remote.physical {
            let l = if self.logical > remote.logical { self.logical } else { remote.logical };
            Self::bump(local_p, l)
        } else if local_p > remote.physical {
            Self::bump(local_p, self.logical)
        } else {
            Self::bump(remote.physical, remote.logical)
        };
        self.physical = p;
        self.logical = l;
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tick_uses_wall_clock_when_it_moves() {
        let mut c = HlcTimestamp::zero(1);
        assert_eq!(c.tick(100).key(), (100, 0));
        assert_eq!(c.tick(100).key(), (100, 1));
        assert_eq!(c.tick(50).key(), (100, 2));
        assert_eq!(c.tick(101).key(), (101, 0));
    }

    #[test]
    fn logical_overflow_advances_physical() {
        let mut c = HlcTimestamp { physical: 7, logical: HlcTimestamp::MAX_LOGICAL, node: 0 };
        assert_eq!(c.tick(0).key(), (8, 0));
        let mut c = HlcTimestamp { physical: 7, logical: 3, node: 0 };
        let r = HlcTimestamp { physical: 7, logical: HlcTimestamp::MAX_LOGICAL, node: 1 };
        assert_eq!(c.receive(&r, 0).key(), (8, 0));
    }

    fn stamp() -> impl Strategy<Value = HlcTimestamp> {
        (0u64..1_000, 0u32..=HlcTimestamp::MAX_LOGICAL, any::<u32>())
            .prop_map(|(physical, logical, node)| HlcTimestamp { physical, logical, node })
    }

    proptest! {
        /// A sequence of local events gives strictly increasing stamps, with
        /// any (even backwards-running) physical clock.
        #[test]
        fn hlc_tick_monotonic(start in stamp(), clocks in proptest::collection::vec(0u64..1_200, 1..64)) {
            let mut c = start;
            let mut prev = c;
            for now in clocks {
                let next = c.tick(now);
                prop_assert!(prev.before(&next));
                prop_assert!(next.logical <= HlcTimestamp::MAX_LOGICAL);
                prev = next;
            }
        }

        /// A receive dominates both the local stamp and the sender's stamp.
        #[test]
        fn hlc_receive_dominates(local in stamp(), remote in stamp(), now in 0u64..1_200) {
            let mut c = local;
            let r = c.receive(&remote, now);
            prop_assert!(local.before(&r));
            prop_assert!(remote.before(&r));
            prop_assert!(r.physical >= now);
            prop_assert!(r.logical <= HlcTimestamp::MAX_LOGICAL);
        }

        /// Interleaved ticks and receives stay strictly monotonic and bounded.
        #[test]
        fn hlc_mixed_events_monotonic_and_bounded(
            events in proptest::collection::vec((any::<bool>(), stamp(), 0u64..1_200), 1..128)
        ) {
            let mut c = HlcTimestamp::zero(9);
            let mut prev = c;
            for (is_recv, remote, now) in events {
                let next = if is_recv { c.receive(&remote, now) } else { c.tick(now) };
                prop_assert!(prev.before(&next));
                prop_assert!(next.logical <= HlcTimestamp::MAX_LOGICAL);
                prev = next;
            }
        }
    }
}
