//! Per-actor telemetry written by the actor loop (64 bytes).

use bytemuck::{Pod, Zeroable};

/// Latency and throughput counters of one actor (64 bytes, 64-aligned).
///
/// Latencies are service times: from the moment the actor loop starts on a
/// message to the moment its handler returned,
/// both read from the actor's own clock (`%globaltimer` on the GPU). They do
/// not include queueing or transport: a sender's stamp comes from another
/// clock, and the difference would mix in the offset between the clocks.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct TelemetryBuffer {
    /// Messages handled.
    pub messages_processed: u64,
    /// Messages sent (replies, outputs, actor-to-actor).
    pub messages_sent: u64,
    /// Envelopes rejected by validation.
    pub dead_letters: u64,
    /// Times a send found its queue full.
    pub queue_full_events: u64,
    /// Last observed latency (ns).
    pub last_latency_ns: u64,
    /// Largest observed latency (ns).
    pub max_latency_ns: u64,
    /// Sum of observed latencies (ns), for the mean.
    pub total_latency_ns: u64,
    /// Handler-reported errors.
    pub errors: u32,
    /// Reserved, zero.
    pub _reserved: u32,
}

crate::assert_layout!(TelemetryBuffer, size = 64, align = 64);
crate::assert_offset!(TelemetryBuffer, messages_processed, 0);
crate::assert_offset!(TelemetryBuffer, messages_sent, 8);
crate::assert_offset!(TelemetryBuffer, dead_letters, 16);
crate::assert_offset!(TelemetryBuffer, queue_full_events, 24);
crate::assert_offset!(TelemetryBuffer, last_latency_ns, 32);
crate::assert_offset!(TelemetryBuffer, max_latency_ns, 40);
crate::assert_offset!(TelemetryBuffer, total_latency_ns, 48);
crate::assert_offset!(TelemetryBuffer, errors, 56);

impl TelemetryBuffer {
    /// Record one handled message with latency `ns`.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.messages_processed += 1;
        self.last_latency_ns = ns;
        if ns > self.max_latency_ns {
            self.max_latency_ns = ns;
        }
        self.total_latency_ns = self.total_latency_ns.wrapping_add(ns);
    }

    /// Mean latency in ns (0 before the first message).
    pub fn mean_latency_ns(&self) -> u64 {
        self.total_latency_ns.checked_div(self.messages_processed).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_telemetry_records() {
        let mut t = TelemetryBuffer::default();
        assert_eq!(t.mean_latency_ns(), 0);
        t.record(10);
        t.record(30);
        assert_eq!((t.messages_processed, t.max_latency_ns, t.mean_latency_ns()), (2, 30, 20));
    }
}
