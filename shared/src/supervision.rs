//! Supervision rules, Erlang/OTP style: which children restart, when a
//! supervisor gives up, and in what order a subtree is killed.
//!
//! ## Restart policies
//!
//! A supervisor's children are ordered by start time (index 0 started
//! first). When child `f` fails, [`affected`] says which restart:
//!
//! | policy | restarts | use when |
//! | --- | --- | --- |
//! | [`ONE_FOR_ONE`](RestartPolicy::ONE_FOR_ONE) | `f..f+1`: only the failed child | children are independent |
//! | [`ONE_FOR_ALL`](RestartPolicy::ONE_FOR_ALL) | `0..n`: every child | children only work together |
//! | [`REST_FOR_ONE`](RestartPolicy::REST_FOR_ONE) | `f..n`: the failed child and every child started after it | later children depend on earlier ones |
//!
//! The affected children are stopped in reverse start order (highest index
//! first) and started again in start order. A failed index outside
//! `0..n` affects nobody (empty range).
//!
//! ## Restart intensity
//!
//! [`RestartIntensity`] `{ max_restarts, window_ns }` bounds how often a
//! supervisor restarts. Each failure is recorded in a [`RestartHistory`];
//! [`RestartHistory::record_and_check`] counts the recorded restarts `t`
//! with `now - t <= window_ns` (the new one included) and decides:
//!
//! | restarts in the window | decision |
//! | --- | --- |
//! | `<= max_restarts` | [`Decision::Restart`] |
//! | `> max_restarts` | [`Decision::Escalate`]: the supervisor stops its children and fails itself, and its own supervisor handles that failure |
//!
//! So `max_restarts = 0` escalates on the first failure, and restarts older
//! than the window are forgotten. A history of capacity `N` remembers the
//! last `N` restarts: it enforces a `max_restarts` up to `N - 1` exactly and
//! treats a larger one as `N - 1` (it escalates early rather than never). A
//! clock that runs backwards counts the "future" stamps as inside the
//! window.
//!
//! ## Cascading kill
//!
//! Stopping an actor stops its whole subtree, children first.
//! [`kill_order`] takes a parent table (`parent_of[id]` is the parent of actor
//! `id`, [`NO_PARENT`] for a top-level actor) and writes the subtree of
//! `root` in **post-order**: every actor after all of its descendants, each
//! child's subtree contiguous, siblings in ascending id order, `root` last.
//! It uses no stack and no allocation (it walks the parent links), runs
//! O(n²) in `n = parent_of.len()` at worst, and reports a cycle through
//! `root` or a too-small output instead of looping or panicking.
//!
//! ```
//! use ringkernel_shared::supervision::{NO_PARENT, kill_order};
//!
//! //          0
//! //        /   \
//! //       1     2
//! //      / \
//! //     3   4
//! let parent_of = [NO_PARENT, 0, 0, 1, 1];
//! let mut out = [0u32; 5];
//! let n = kill_order(&parent_of, 0, &mut out).unwrap();
//! assert_eq!(&out[..n], &[3, 4, 1, 2, 0]);
//! ```

use bytemuck::{Pod, Zeroable};
use core::fmt;
use core::ops::Range;

/// Which siblings restart when one fails (`u32` newtype).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RestartPolicy(u32);

impl RestartPolicy {
    /// Restart only the failed child.
    pub const ONE_FOR_ONE: Self = Self(0);
    /// Restart every child.
    pub const ONE_FOR_ALL: Self = Self(1);
    /// Restart the failed child and the children started after it.
    pub const REST_FOR_ONE: Self = Self(2);

    /// Every policy, in numeric order.
    pub const ALL: [Self; 3] = [Self::ONE_FOR_ONE, Self::ONE_FOR_ALL, Self::REST_FOR_ONE];

    /// The raw value.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// A readable name.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "OneForOne",
            1 => "OneForAll",
            2 => "RestForOne",
            _ => "Invalid",
        }
    }
}

u32_kind_impls!(RestartPolicy, max = 2);

/// The children (indices in start order, of `children`) that restart when
/// child `failed_index` fails: see the [policy table](self#restart-policies).
/// Empty when `failed_index >= children`.
#[inline]
pub const fn affected(policy: RestartPolicy, failed_index: usize, children: usize) -> Range<usize> {
    if failed_index >= children {
        return 0..0;
    }
    match policy.0 {
        1 => 0..children,
        2 => failed_index..children,
        // ONE_FOR_ONE; `RestartPolicy` holds no other value.
        _ => failed_index..failed_index + 1,
    }
}

/// At most `max_restarts` restarts within any `window_ns` (16 bytes, plain
/// data so that a supervisor spec can cross to the GPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct RestartIntensity {
    /// Length of the sliding window, in nanoseconds.
    pub window_ns: u64,
    /// Restarts allowed within the window; one more escalates.
    pub max_restarts: u32,
    /// Reserved, zero.
    pub _reserved: u32,
}

crate::assert_layout!(RestartIntensity, size = 16, align = 8);
crate::assert_offset!(RestartIntensity, window_ns, 0);
crate::assert_offset!(RestartIntensity, max_restarts, 8);
crate::assert_offset!(RestartIntensity, _reserved, 12);

impl RestartIntensity {
    /// Erlang/OTP's supervisor default: 1 restart in 5 seconds.
    pub const OTP_DEFAULT: Self = Self::new(1, 5_000_000_000);

    /// `max_restarts` within `window_ns`.
    pub const fn new(max_restarts: u32, window_ns: u64) -> Self {
        Self { window_ns, max_restarts, _reserved: 0 }
    }
}

/// What a supervisor does about a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Restart the [affected] children.
    Restart,
    /// Too many restarts in the window: stop all children and fail.
    Escalate,
}

impl Decision {
    /// A stable numeric code: `Restart` = 0, `Escalate` = 1.
    pub const fn as_u32(self) -> u32 {
        match self {
            Self::Restart => 0,
            Self::Escalate => 1,
        }
    }
}

/// The times of a supervisor's last `N` restarts (a ring; `8·N + 8` bytes,
/// plain data). See the [intensity rules](self#restart-intensity).
///
/// `N` must be at least 1 ([`RestartHistory::new`] refuses 0 at compile
/// time; a zeroed `RestartHistory<0>` escalates every failure). A value read
/// from shared memory with out-of-range fields never panics.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartHistory<const N: usize> {
    stamps_ns: [u64; N],
    next: u32,
    len: u32,
}

// SAFETY: `#[repr(C)]` with fields `[u64; N]`, `u32`, `u32`: the array (align
// 8) is at offset 0, the two `u32`s follow at `8·N` and `8·N + 4`, and the
// size `8·N + 8` is a multiple of the align (8): no padding for any `N`. The
// all-zero pattern is an empty history.
unsafe impl<const N: usize> Zeroable for RestartHistory<N> {}
// SAFETY: as above: no padding, every field is `Pod`, so every bit pattern is
// a valid value; the type is `Copy + 'static`.
unsafe impl<const N: usize> Pod for RestartHistory<N> {}

crate::assert_layout!(RestartHistory<0>, size = 8, align = 8);
crate::assert_layout!(RestartHistory<1>, size = 16, align = 8);
crate::assert_layout!(RestartHistory<5>, size = 48, align = 8);

impl<const N: usize> Default for RestartHistory<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RestartHistory<N> {
    /// An empty history.
    pub const fn new() -> Self {
        const { assert!(N >= 1, "a RestartHistory must hold at least one restart") };
        Self { stamps_ns: [0; N], next: 0, len: 0 }
    }

    /// Forget every restart (when the supervisor itself is restarted).
    pub const fn clear(&mut self) {
        self.next = 0;
        self.len = 0;
    }

    /// Restarts remembered (at most `N`).
    pub const fn len(&self) -> usize {
        let n = self.len as usize;
        if n > N { N } else { n }
    }

    /// Nothing remembered.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembered restarts `t` with `now_ns - t <= window_ns` (stamps after
    /// `now_ns` count as inside).
    pub const fn restarts_in_window(&self, now_ns: u64, window_ns: u64) -> usize {
        let mut count = 0;
        let mut i = 0;
        while i < self.len() {
            if now_ns.saturating_sub(self.stamps_ns[i]) <= window_ns {
                count += 1;
            }
            i += 1;
        }
        count
    }

    /// Records a failure at `now_ns` and decides: see the
    /// [intensity table](self#restart-intensity).
    pub const fn record_and_check(&mut self, now_ns: u64, intensity: RestartIntensity) -> Decision {
        // Slots are filled 0, 1, …, N-1, then overwritten oldest first; the
        // remainder keeps a corrupted `next` in range. N = 0 remembers
        // nothing and so allows nothing.
        let Some(slot) = (self.next as usize).checked_rem(N) else {
            return Decision::Escalate;
        };
        self.stamps_ns[slot] = now_ns;
        self.next = if slot + 1 == N { 0 } else { slot as u32 + 1 };
        if self.len() < N {
            self.len = self.len() as u32 + 1;
        }
        let max = intensity.max_restarts as usize;
        let max = if max > N.saturating_sub(1) { N.saturating_sub(1) } else { max };
        if self.restarts_in_window(now_ns, intensity.window_ns) > max { Decision::Escalate } else { Decision::Restart }
    }
}

/// `parent_of` value for an actor without a parent.
pub const NO_PARENT: u32 = u32::MAX;

/// Why [`kill_order`] could not list a subtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOrderError {
    /// `root` is not an index of `parent_of`.
    UnknownRoot {
        /// The root given.
        root: u32,
    },
    /// Following parents from `root` leads back to `root`: its subtree has
    /// no bottom.
    Cycle {
        /// The root given.
        root: u32,
    },
    /// `out` is shorter than the subtree (a slice as long as `parent_of`
    /// always suffices).
    OutFull {
        /// `out.len()`.
        capacity: u32,
    },
}

impl KillOrderError {
    /// A stable numeric code (never 0), for places where only a `u32` fits.
    pub const fn code(&self) -> u32 {
        match self {
            Self::UnknownRoot { .. } => 1,
            Self::Cycle { .. } => 2,
            Self::OutFull { .. } => 3,
        }
    }
}

impl fmt::Display for KillOrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownRoot { root } => write!(f, "actor {root} is not in the parent table"),
            Self::Cycle { root } => write!(f, "the parent links of actor {root} form a cycle through it"),
            Self::OutFull { capacity } => write!(f, "the subtree has more than {capacity} actors"),
        }
    }
}

impl core::error::Error for KillOrderError {}

/// The smallest id `i` in `from..n` with `parent_of[i] == parent` (a
/// self-parented actor is not its own child).
#[inline]
fn next_child(parent_of: &[u32], parent: u32, from: usize) -> Option<u32> {
    let rest = parent_of.get(from..)?;
    let k = rest.iter().enumerate().position(|(k, &p)| p == parent && from + k != parent as usize)?;
    Some((from + k) as u32)
}

/// Writes the subtree of `root` into `out` children first (post-order) and
/// returns its size: see the [module docs](self#cascading-kill).
///
/// Ids are indices of `parent_of` (at most `u32::MAX`; entries beyond are
/// ignored). A parent value that is not an index (such as [`NO_PARENT`])
/// makes that actor top-level.
pub fn kill_order(parent_of: &[u32], root: u32, out: &mut [u32]) -> Result<usize, KillOrderError> {
    let parent_of = parent_of.get(..NO_PARENT as usize).unwrap_or(parent_of);
    let n = parent_of.len();
    let Some(&root_parent) = parent_of.get(root as usize) else {
        return Err(KillOrderError::UnknownRoot { root });
    };
    // A cycle is reachable downward from `root` only if it passes through
    // `root`: look for `root` among its first `n` ancestors.
    let mut a = root_parent;
    for _ in 0..n {
        if a == root {
            return Err(KillOrderError::Cycle { root });
        }
        match parent_of.get(a as usize) {
            Some(&p) => a = p,
            None => break,
        }
    }
    // Stackless post-order over the parent links. `v` is the current actor;
    // `descend` says whether its children are still to be visited. Each
    // actor is descended into once and emitted once: at most 2·n turns.
    let mut v = root;
    let mut descend = true;
    let mut written = 0;
    for _ in 0..2 * n + 1 {
        if descend {
            if let Some(c) = next_child(parent_of, v, 0) {
                v = c;
                continue;
            }
            descend = false;
        }
        // Every child of `v` has been written: write `v`.
        let Some(slot) = out.get_mut(written) else {
            return Err(KillOrderError::OutFull { capacity: out.len().min(u32::MAX as usize) as u32 });
        };
        *slot = v;
        written += 1;
        if v == root {
            return Ok(written);
        }
        // `v` is a non-root member of the subtree, so its parent is an index.
        let p = parent_of.get(v as usize).copied().unwrap_or(root);
        match next_child(parent_of, p, v as usize + 1) {
            Some(s) => {
                v = s;
                descend = true;
            }
            None => v = p,
        }
    }
    // Unreachable after the cycle check; kept so the loop is visibly bounded.
    Err(KillOrderError::Cycle { root })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn supervision_policy_raw_values_validated() {
        for p in RestartPolicy::ALL {
            assert_eq!(RestartPolicy::try_from(p.as_u32()), Ok(p));
        }
        assert_eq!(RestartPolicy::try_from(3), Err(3));
        assert_eq!(RestartPolicy::try_from(u32::MAX), Err(u32::MAX));
        assert_eq!(std::format!("{:?}", RestartPolicy::REST_FOR_ONE), "RestForOne");
    }

    /// Every policy, every failed index (in range and not) for 0..6 children.
    #[test]
    fn supervision_affected_ranges() {
        for children in 0..6 {
            for f in 0..children + 2 {
                let (one, all, rest) = (
                    affected(RestartPolicy::ONE_FOR_ONE, f, children),
                    affected(RestartPolicy::ONE_FOR_ALL, f, children),
                    affected(RestartPolicy::REST_FOR_ONE, f, children),
                );
                if f >= children {
                    assert!(one.is_empty() && all.is_empty() && rest.is_empty(), "{f} of {children}");
                    continue;
                }
                assert_eq!(one, f..f + 1);
                assert_eq!(all, 0..children);
                assert_eq!(rest, f..children);
            }
        }
        assert_eq!(affected(RestartPolicy::ONE_FOR_ONE, usize::MAX, usize::MAX), 0..0);
        assert_eq!(affected(RestartPolicy::REST_FOR_ONE, usize::MAX - 1, usize::MAX), usize::MAX - 1..usize::MAX);
    }

    #[test]
    fn supervision_intensity_erlang_default() {
        let i = RestartIntensity::OTP_DEFAULT;
        let mut h = RestartHistory::<4>::new();
        assert_eq!(h.record_and_check(0, i), Decision::Restart);
        assert_eq!(h.record_and_check(5_000_000_000, i), Decision::Escalate, "window is inclusive");
        let mut h = RestartHistory::<4>::new();
        assert_eq!(h.record_and_check(0, i), Decision::Restart);
        assert_eq!(h.record_and_check(5_000_000_001, i), Decision::Restart, "first restart forgotten");
    }

    #[test]
    fn supervision_intensity_zero_escalates_at_once() {
        let mut h = RestartHistory::<2>::new();
        assert_eq!(h.record_and_check(7, RestartIntensity::new(0, 1_000)), Decision::Escalate);
    }

    /// A `max_restarts` beyond what the history remembers is enforced as
    /// `N - 1`: it escalates early, never never.
    #[test]
    fn supervision_intensity_clamped_to_capacity() {
        let i = RestartIntensity::new(100, u64::MAX);
        let mut h = RestartHistory::<3>::new();
        assert_eq!(h.record_and_check(1, i), Decision::Restart);
        assert_eq!(h.record_and_check(2, i), Decision::Restart);
        assert_eq!(h.record_and_check(3, i), Decision::Escalate);
        assert_eq!(h.len(), 3);
        h.clear();
        assert!(h.is_empty());
        assert_eq!(h.record_and_check(4, i), Decision::Restart);
    }

    #[test]
    fn supervision_intensity_backwards_clock_counts_inside() {
        let i = RestartIntensity::new(1, 10);
        let mut h = RestartHistory::<4>::new();
        assert_eq!(h.record_and_check(1_000, i), Decision::Restart);
        assert_eq!(h.record_and_check(5, i), Decision::Escalate);
    }

    #[test]
    fn supervision_history_corrupted_never_panics() {
        let mut h = RestartHistory::<2>::new();
        h.next = u32::MAX;
        h.len = u32::MAX;
        assert_eq!(h.len(), 2);
        assert_eq!(h.record_and_check(1, RestartIntensity::new(5, 10)), Decision::Escalate);
        let mut z: RestartHistory<0> = Zeroable::zeroed();
        assert_eq!(z.record_and_check(1, RestartIntensity::new(5, 10)), Decision::Escalate);
        assert_eq!(z.restarts_in_window(1, 1), 0);
    }

    #[test]
    fn supervision_codes() {
        assert_eq!((Decision::Restart.as_u32(), Decision::Escalate.as_u32()), (0, 1));
        let codes = [
            KillOrderError::UnknownRoot { root: 0 }.code(),
            KillOrderError::Cycle { root: 0 }.code(),
            KillOrderError::OutFull { capacity: 0 }.code(),
        ];
        assert_eq!(codes, [1, 2, 3]);
    }

    #[test]
    fn supervision_kill_order_examples() {
        const X: u32 = NO_PARENT;
        let mut out = [0u32; 8];
        // Two trees: 0 → {1 → {3, 4}, 2}, 5 → {6}; 7 has an out-of-range parent.
        let parent_of = [X, 0, 0, 1, 1, X, 5, 99];
        let n = kill_order(&parent_of, 0, &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 4, 1, 2, 0]);
        let n = kill_order(&parent_of, 1, &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 4, 1]);
        let n = kill_order(&parent_of, 5, &mut out).unwrap();
        assert_eq!(&out[..n], &[6, 5]);
        let n = kill_order(&parent_of, 7, &mut out).unwrap();
        assert_eq!(&out[..n], &[7]);
        // Children with lower ids than their parent.
        let n = kill_order(&[1, 2, X], 2, &mut out).unwrap();
        assert_eq!(&out[..n], &[0, 1, 2]);
    }

    #[test]
    fn supervision_kill_order_errors() {
        const X: u32 = NO_PARENT;
        let mut out = [0u32; 4];
        assert_eq!(kill_order(&[X, 0], 2, &mut out), Err(KillOrderError::UnknownRoot { root: 2 }));
        assert_eq!(kill_order(&[], 0, &mut out), Err(KillOrderError::UnknownRoot { root: 0 }));
        assert_eq!(kill_order(&[0], 0, &mut out), Err(KillOrderError::Cycle { root: 0 }), "self-parent");
        assert_eq!(kill_order(&[2, 0, 1], 1, &mut out), Err(KillOrderError::Cycle { root: 1 }));
        assert_eq!(kill_order(&[X, 0, 0], 0, &mut out[..2]), Err(KillOrderError::OutFull { capacity: 2 }));
        assert_eq!(kill_order(&[X], 0, &mut []), Err(KillOrderError::OutFull { capacity: 0 }));
        // A cycle above the root, not through it, does not matter.
        let n = kill_order(&[1, 0, 0, 2], 2, &mut out).unwrap();
        assert_eq!(&out[..n], &[3, 2]);
        // A self-parented actor elsewhere is nobody's child.
        let n = kill_order(&[X, 1, 0], 0, &mut out).unwrap();
        assert_eq!(&out[..n], &[2, 0]);
    }

    // ---- property tests ----

    /// The subtree of `root`, by the definition: actors whose ancestor chain
    /// reaches `root` (chains cut off after `n` steps).
    fn reference_subtree(parent_of: &[u32], root: u32) -> Vec<u32> {
        (0..parent_of.len() as u32)
            .filter(|&i| {
                let mut a = i;
                for _ in 0..=parent_of.len() {
                    if a == root {
                        return true;
                    }
                    match parent_of.get(a as usize) {
                        Some(&p) => a = p,
                        None => return false,
                    }
                }
                false
            })
            .collect()
    }

    fn all_subtrees(parent_of: &[u32]) -> Vec<Vec<u32>> {
        (0..parent_of.len() as u32).map(|v| reference_subtree(parent_of, v)).collect()
    }

    fn root_on_cycle(parent_of: &[u32], root: u32) -> bool {
        let mut a = root;
        for _ in 0..parent_of.len() {
            match parent_of.get(a as usize) {
                Some(&p) if p == root => return true,
                Some(&p) => a = p,
                None => return false,
            }
        }
        false
    }

    /// `order` is a post-order of exactly the subtree of `root`: a
    /// permutation of it, `root` last, and every actor preceded directly by
    /// the contiguous block of its own descendants.
    ///
    /// `subtrees[v]` is `reference_subtree(parent_of, v)` (sorted), computed
    /// once per table.
    fn check_post_order(subtrees: &[Vec<u32>], root: u32, order: &[u32]) -> Result<(), TestCaseError> {
        let mut got = order.to_vec();
        got.sort_unstable();
        prop_assert_eq!(&got, &subtrees[root as usize], "not exactly the subtree");
        prop_assert_eq!(order.last(), Some(&root));
        for (pos, &v) in order.iter().enumerate() {
            let below = &subtrees[v as usize];
            let start = (pos + 1).checked_sub(below.len());
            prop_assert!(start.is_some(), "{} has more descendants than actors before it", v);
            let mut block = order[start.unwrap_or(0)..=pos].to_vec();
            block.sort_unstable();
            prop_assert_eq!(&block, below, "descendants of {} not just before it", v);
        }
        Ok(())
    }

    /// Forests: every actor's parent has a lower id, or there is none.
    /// One in four actors is top-level. (Plain numbers mapped, rather than
    /// `prop_oneof!`, which is slow under Miri.)
    fn forest() -> impl Strategy<Value = Vec<u32>> {
        proptest::collection::vec(any::<u32>(), 1..14).prop_map(|raw| {
            raw.iter()
                .enumerate()
                .map(|(i, &r)| if i == 0 || r % 4 == 0 { NO_PARENT } else { (r >> 2) % i as u32 })
                .collect()
        })
    }

    /// Arbitrary parent tables (cycles, self-parents, out-of-range values).
    fn any_table() -> impl Strategy<Value = Vec<u32>> {
        proptest::collection::vec(0u32..12, 1..10)
            .prop_map(|raw| raw.into_iter().map(|p| if p >= 10 { NO_PARENT } else { p }).collect())
    }

    proptest! {
        /// n restarts inside the window → Restart each time; the (n+1)-th →
        /// Escalate; after the window has passed, the old ones are forgotten.
        #[test]
        fn supervision_intensity_window(max in 0u32..6, window in 1u64..1_000, start in 0u64..1_000_000, gaps in proptest::collection::vec(0u64..50, 6)) {
            let intensity = RestartIntensity::new(max, window);
            let mut h = RestartHistory::<6>::new();
            // All restarts within `window` of each other (gaps sum ≤ window).
            let mut now = start;
            let budget = window / 6;
            for (k, g) in gaps.iter().take(max as usize).enumerate() {
                now += g % (budget + 1);
                prop_assert_eq!(h.record_and_check(now, intensity), Decision::Restart, "restart {}", k + 1);
            }
            let first = start;
            now += gaps[5] % (budget + 1);
            prop_assert!(now - first <= window);
            prop_assert_eq!(h.record_and_check(now, intensity), Decision::Escalate);
            // Once everything recorded is older than the window: forgotten.
            let later = now + window + 1;
            if max > 0 {
                prop_assert_eq!(h.record_and_check(later, intensity), Decision::Restart);
            }
        }

        /// Against Erlang's rule on an unbounded list of restart times, for
        /// any non-decreasing clock and `max_restarts < N`.
        #[test]
        fn supervision_intensity_matches_unbounded_model(max in 0u32..4, window in 0u64..100, steps in proptest::collection::vec(0u64..60, 1..24)) {
            let intensity = RestartIntensity::new(max, window);
            let mut h = RestartHistory::<4>::new();
            let mut all = Vec::new();
            let mut now = 0u64;
            for s in steps {
                now += s;
                all.push(now);
                let in_window = all.iter().filter(|&&t| now - t <= window).count();
                let want = if in_window > max as usize { Decision::Escalate } else { Decision::Restart };
                prop_assert_eq!(h.record_and_check(now, intensity), want);
            }
        }

        /// On forests, `kill_order` is a valid post-order of exactly the
        /// subtree, for every root.
        #[test]
        fn supervision_kill_order_is_post_order_of_subtree(parent_of in forest()) {
            let mut out = std::vec![0u32; parent_of.len()];
            let subtrees = all_subtrees(&parent_of);
            for root in 0..parent_of.len() as u32 {
                let n = kill_order(&parent_of, root, &mut out).unwrap();
                check_post_order(&subtrees, root, &out[..n])?;
                // One slot short is refused.
                prop_assert_eq!(kill_order(&parent_of, root, &mut out[..n - 1]), Err(KillOrderError::OutFull { capacity: n as u32 - 1 }));
            }
        }

        /// On arbitrary tables: `Cycle` exactly when the root is on a cycle,
        /// otherwise a valid post-order; never a panic or a hang.
        #[test]
        fn supervision_kill_order_any_table(parent_of in any_table(), root in 0u32..11) {
            let subtrees = all_subtrees(&parent_of);
            let mut out = [0u32; 10];
            match kill_order(&parent_of, root, &mut out) {
                Ok(n) => {
                    prop_assert!(!root_on_cycle(&parent_of, root));
                    check_post_order(&subtrees, root, &out[..n])?;
                }
                Err(KillOrderError::UnknownRoot { .. }) => prop_assert!(root as usize >= parent_of.len()),
                Err(KillOrderError::Cycle { .. }) => prop_assert!(root_on_cycle(&parent_of, root)),
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
        }
    }
}
