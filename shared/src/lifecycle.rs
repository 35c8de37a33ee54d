//! The actor lifecycle state machine.
//!
//! ```text
//!                 launch           init done
//!   Dormant ─────────────▶ Initializing ─────────▶ Active ◀────────┐
//!      ▲                       │   │  (auto-activate)  │  │        │ activate
//!      │ slot recycled         │   └─────────────▶ Deactivated ────┘
//!      │                       │  (no auto-activate)  │  ▲  deactivate
//!   Terminated ◀── Draining ◀──┼──────────────────────┘  └──── Active
//!                     ▲        │            drain / terminate
//!                     └────────┼── Active (drain / terminate)
//!   Failed ◀── any live state (handler failure, fault)
//!   Failed ──▶ Initializing (restart)
//! ```
//!
//! The full table of legal transitions is [`LifecycleState::can_transition_to`];
//! everything else is an [`IllegalTransition`]. Both the host runtime and the
//! device loop call [`LifecycleState::transition`], so a state written into a
//! [`ControlBlock`](crate::ControlBlock) by either side obeys the same rules.

use core::fmt;

/// Lifecycle state of an actor, stored as a `u32` in the control block.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LifecycleState(u32);

impl LifecycleState {
    /// A slot with no actor in it.
    pub const DORMANT: Self = Self(0);
    /// The actor's state is being created.
    pub const INITIALIZING: Self = Self(1);
    /// Processing messages.
    pub const ACTIVE: Self = Self(2);
    /// Alive, state kept, not processing; messages wait in the queue.
    pub const DEACTIVATED: Self = Self(3);
    /// Finishing the messages already queued, then terminating.
    pub const DRAINING: Self = Self(4);
    /// Stopped in order. Terminal for this incarnation.
    pub const TERMINATED: Self = Self(5);
    /// Stopped by a failure. A supervisor may restart it.
    pub const FAILED: Self = Self(6);

    /// Every state, in numeric order.
    pub const ALL: [Self; 7] = [
        Self::DORMANT,
        Self::INITIALIZING,
        Self::ACTIVE,
        Self::DEACTIVATED,
        Self::DRAINING,
        Self::TERMINATED,
        Self::FAILED,
    ];

    /// The raw value.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// A readable name.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "Dormant",
            1 => "Initializing",
            2 => "Active",
            3 => "Deactivated",
            4 => "Draining",
            5 => "Terminated",
            6 => "Failed",
            _ => "Invalid",
        }
    }

    /// Whether `self → to` is a legal transition.
    #[inline]
    pub const fn can_transition_to(self, to: Self) -> bool {
        matches!(
            (self.0, to.0),
            // Dormant → Initializing
            (0, 1)
            // Initializing → Active | Deactivated | Failed
            | (1, 2) | (1, 3) | (1, 6)
            // Active → Deactivated | Draining | Failed
            | (2, 3) | (2, 4) | (2, 6)
            // Deactivated → Active | Draining | Terminated | Failed
            | (3, 2) | (3, 4) | (3, 5) | (3, 6)
            // Draining → Terminated | Failed
            | (4, 5) | (4, 6)
            // Terminated → Dormant (slot recycled)
            | (5, 0)
            // Failed → Initializing (restart) | Dormant (slot recycled)
            | (6, 1) | (6, 0)
        )
    }

    /// Checked transition.
    #[inline]
    pub const fn transition(self, to: Self) -> Result<Self, IllegalTransition> {
        if self.can_transition_to(to) { Ok(to) } else { Err(IllegalTransition { from: self, to }) }
    }

    /// The actor can still receive messages into its queue.
    #[inline]
    pub const fn accepts_messages(self) -> bool {
        matches!(self.0, 1..=3)
    }

    /// Terminated or Failed.
    #[inline]
    pub const fn is_final(self) -> bool {
        matches!(self.0, 5 | 6)
    }
}

u32_kind_impls!(LifecycleState, max = 6);

/// A transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    /// State before.
    pub from: LifecycleState,
    /// Requested state.
    pub to: LifecycleState,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "illegal lifecycle transition {} -> {}", self.from, self.to)
    }
}

impl core::error::Error for IllegalTransition {}

#[cfg(test)]
mod tests {
    use super::LifecycleState as S;

    const LEGAL: &[(S, S)] = &[
        (S::DORMANT, S::INITIALIZING),
        (S::INITIALIZING, S::ACTIVE),
        (S::INITIALIZING, S::DEACTIVATED),
        (S::INITIALIZING, S::FAILED),
        (S::ACTIVE, S::DEACTIVATED),
        (S::ACTIVE, S::DRAINING),
        (S::ACTIVE, S::FAILED),
        (S::DEACTIVATED, S::ACTIVE),
        (S::DEACTIVATED, S::DRAINING),
        (S::DEACTIVATED, S::TERMINATED),
        (S::DEACTIVATED, S::FAILED),
        (S::DRAINING, S::TERMINATED),
        (S::DRAINING, S::FAILED),
        (S::TERMINATED, S::DORMANT),
        (S::FAILED, S::INITIALIZING),
        (S::FAILED, S::DORMANT),
    ];

    #[test]
    fn lifecycle_legal_transitions_succeed() {
        for &(from, to) in LEGAL {
            assert_eq!(from.transition(to), Ok(to), "{from} -> {to}");
        }
    }

    /// Every pair not in the table (49 pairs - 16 legal = 33, self-loops
    /// included) is rejected with an error naming both states.
    #[test]
    fn lifecycle_every_illegal_transition_rejected() {
        let mut illegal = 0;
        for from in S::ALL {
            for to in S::ALL {
                if LEGAL.contains(&(from, to)) {
                    continue;
                }
                let err = from.transition(to).expect_err("must be illegal");
                assert_eq!((err.from, err.to), (from, to));
                illegal += 1;
            }
        }
        assert_eq!(illegal, 49 - LEGAL.len());
    }

    #[test]
    fn lifecycle_raw_values_validated() {
        for s in S::ALL {
            assert_eq!(S::try_from(s.as_u32()), Ok(s));
        }
        assert_eq!(S::try_from(7), Err(7));
        assert_eq!(S::try_from(u32::MAX), Err(u32::MAX));
    }

    #[test]
    fn lifecycle_seed_path_is_legal() {
        // The quick-start path: launch, activate, deactivate, activate, terminate.
        let path = [S::DORMANT, S::INITIALIZING, S::ACTIVE, S::DEACTIVATED, S::ACTIVE, S::DRAINING, S::TERMINATED];
        for w in path.windows(2) {
            assert!(w[0].can_transition_to(w[1]), "{} -> {}", w[0], w[1]);
        }
    }
}
