//! The host's hybrid logical clock.
//!
//! One clock per runtime stamps every envelope the host sends
//! ([`HlcTimestamp::tick`] with the system time) and merges the stamp of
//! every batch of envelopes the poller receives ([`HlcTimestamp::receive`]),
//! so host stamps order causally after everything the host has seen.

use crate::backend::cpu::system_time_ns;
use crate::sync::lock;
use ringkernel_shared::HlcTimestamp;
use std::sync::Mutex;

/// Node id of the host in envelopes (`source` of host messages) and HLC
/// stamps. Actor ids are never this value.
pub const HOST_NODE_ID: u32 = u32::MAX;

/// The host's HLC (a mutex around one stamp; held for a few nanoseconds).
#[derive(Debug)]
pub(crate) struct HostClock {
    hlc: Mutex<HlcTimestamp>,
}

impl HostClock {
    pub(crate) fn new() -> Self {
        Self { hlc: Mutex::new(HlcTimestamp::zero(HOST_NODE_ID)) }
    }

    /// Stamp a send.
    pub(crate) fn tick(&self) -> HlcTimestamp {
        lock(&self.hlc).tick(system_time_ns())
    }

    /// Merge a received stamp.
    pub(crate) fn observe(&self, remote: &HlcTimestamp) {
        lock(&self.hlc).receive(remote, system_time_ns());
    }

    /// The current stamp, without advancing it.
    pub(crate) fn peek(&self) -> HlcTimestamp {
        *lock(&self.hlc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_clock_orders_after_received() {
        let c = HostClock::new();
        let a = c.tick();
        let far = HlcTimestamp { physical: a.physical + 1_000_000_000_000, logical: 5, node: 1 };
        c.observe(&far);
        let b = c.tick();
        assert!(a.before(&b) && far.before(&b));
        assert_eq!(b.node, HOST_NODE_ID);
        assert_eq!(c.peek(), b);
    }
}
