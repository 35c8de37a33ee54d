//! The per-actor control block.
//!
//! One [`ControlBlock`] per actor lives in memory both sides can reach
//! (mapped pinned host memory for the CUDA backend, the heap for the CPU
//! backend). Ownership of each field is fixed:
//!
//! | field | written by | read by |
//! | --- | --- | --- |
//! | `command`, `command_seq` | host | actor loop |
//! | `state`, `command_ack`, `heartbeat_ns`, counters, `hlc`, `last_error` | actor loop | host |
//! | `actor_id`, `type_id`, `flags`, `snapshot_offset`, `snapshot_capacity` | host, before launch | actor loop |
//!
//! A command is posted by writing `command`, then storing `command_seq + 1`
//! with release ordering. The actor loop applies it through the shared
//! lifecycle state machine, stores the new `state`, then stores
//! `command_ack = command_seq` with release ordering; the host waits for the
//! ack. Counters are monotonic `u64`s (never reset during an incarnation).

use crate::hlc::HlcTimestamp;
use bytemuck::{Pod, Zeroable};

/// A command from the host to an actor loop (`u32` newtype).
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Command(u32);

impl Command {
    /// No command.
    pub const NONE: Self = Self(0);
    /// Deactivated/Initializing → Active.
    pub const ACTIVATE: Self = Self(1);
    /// Active → Deactivated (state kept, queue kept).
    pub const DEACTIVATE: Self = Self(2);
    /// Process what is already queued, then Terminated.
    pub const TERMINATE: Self = Self(3);
    /// Stop now, leave queued messages unprocessed, then Terminated.
    pub const KILL: Self = Self(4);
    /// System slots only: Dormant → create the actor described by
    /// `type_id`, `spec_parent`, `spec_policy` and `spec_window_ms`.
    pub const CREATE: Self = Self(5);
    /// System slots only: stop the running incarnation and create a fresh
    /// one in the same slot (queued messages are kept).
    pub const RESTART: Self = Self(6);
    /// Write a snapshot of the actor's state into the snapshot region
    /// ([`crate::snapshot`]) between two messages, then acknowledge.
    pub const SNAPSHOT: Self = Self(7);

    /// The raw value.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// A readable name.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "None",
            1 => "Activate",
            2 => "Deactivate",
            3 => "Terminate",
            4 => "Kill",
            5 => "Create",
            6 => "Restart",
            7 => "Snapshot",
            _ => "Invalid",
        }
    }
}

u32_kind_impls!(Command, max = 7);

/// Control block flag: go Active right after initialization.
pub const FLAG_AUTO_ACTIVATE: u32 = 1;
/// Control block flag: right after `Actor::create`, restore the state from
/// the snapshot region ([`crate::snapshot`]), which the host filled in
/// before the launch (a recovery).
pub const FLAG_RESTORE: u32 = 2;
/// Control block flag: the actor is the only one of its launch *and* of its
/// process (a recoverable CUDA actor in its own worker process). A panic of
/// its handler on the GPU then writes `last_error =`
/// [`ERROR_PANICKED`] with a system-scope release before the kernel traps,
/// so the host sees the crash at once instead of when the driver reports
/// the trap (hundreds of milliseconds later).
pub const FLAG_PANIC_MARK: u32 = 4;
/// `last_error` code: the actor panicked on the GPU; the kernel traps right
/// after writing it ([`FLAG_PANIC_MARK`]).
pub const ERROR_PANICKED: u32 = 16;

/// Per-actor control and status block (128 bytes, 128-aligned: one L2 line).
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ControlBlock {
    /// [`LifecycleState`](crate::LifecycleState) as `u32` (actor loop).
    pub state: u32,
    /// [`Command`] as `u32` (host).
    pub command: u32,
    /// Incremented by the host for each posted command.
    pub command_seq: u32,
    /// The last `command_seq` the actor loop applied.
    pub command_ack: u32,
    /// Last time the loop went round, in the actor's clock (ns).
    pub heartbeat_ns: u64,
    /// Envelopes taken from the inbound queue.
    pub messages_in: u64,
    /// Envelopes written to the outbound queue.
    pub messages_out: u64,
    /// Envelopes rejected by validation (dead letters).
    pub dead_letters: u64,
    /// Handler-reported failures.
    pub failures: u64,
    /// Actor id (host, before launch).
    pub actor_id: u32,
    /// Message type id the actor accepts (host, before launch).
    pub type_id: u32,
    /// The actor's HLC after its last event.
    pub hlc: HlcTimestamp,
    /// Code of the last error (0: none).
    pub last_error: u32,
    /// `FLAG_*` bits (host, before launch).
    pub flags: u32,
    /// System slots, host before `CREATE`: the parent slot
    /// ([`NO_PARENT`](crate::supervision::NO_PARENT) for the root supervisor).
    pub spec_parent: u32,
    /// System slots, host before `CREATE`: the new actor's policy for its own
    /// children (bits 0..8: [`RestartPolicy`](crate::supervision::RestartPolicy))
    /// and most restarts in its window (bits 8..32).
    pub spec_policy: u32,
    /// System slots, host before `CREATE`: the restart window in ms.
    pub spec_window_ms: u32,
    /// System slots (actor loop): incarnations of this slot so far.
    pub generation: u32,
    /// System slots (actor loop): the current actor's parent slot.
    pub parent: u32,
    /// System slots (actor loop): restarts of this slot.
    pub restarts: u32,
    /// System slots (actor loop): stop order of the last incarnation that
    /// was killed or stopped (1-based; 0: none yet).
    pub stop_seq: u64,
    /// Host, before launch: bytes from the start of this block to the
    /// actor's [`SnapshotHeader`](crate::snapshot::SnapshotHeader) (0: the
    /// actor has no snapshot region). Relative, so that every process and
    /// device mapping the block finds the region the same way.
    pub snapshot_offset: u32,
    /// Host, before launch: bytes of state the snapshot region holds after
    /// its header.
    pub snapshot_capacity: u32,
}

crate::assert_layout!(ControlBlock, size = 128, align = 128);
crate::assert_offset!(ControlBlock, state, 0);
crate::assert_offset!(ControlBlock, command, 4);
crate::assert_offset!(ControlBlock, command_seq, 8);
crate::assert_offset!(ControlBlock, command_ack, 12);
crate::assert_offset!(ControlBlock, heartbeat_ns, 16);
crate::assert_offset!(ControlBlock, messages_in, 24);
crate::assert_offset!(ControlBlock, messages_out, 32);
crate::assert_offset!(ControlBlock, dead_letters, 40);
crate::assert_offset!(ControlBlock, failures, 48);
crate::assert_offset!(ControlBlock, actor_id, 56);
crate::assert_offset!(ControlBlock, type_id, 60);
crate::assert_offset!(ControlBlock, hlc, 64);
crate::assert_offset!(ControlBlock, last_error, 80);
crate::assert_offset!(ControlBlock, flags, 84);
crate::assert_offset!(ControlBlock, spec_parent, 88);
crate::assert_offset!(ControlBlock, spec_policy, 92);
crate::assert_offset!(ControlBlock, spec_window_ms, 96);
crate::assert_offset!(ControlBlock, generation, 100);
crate::assert_offset!(ControlBlock, parent, 104);
crate::assert_offset!(ControlBlock, restarts, 108);
crate::assert_offset!(ControlBlock, stop_seq, 112);
crate::assert_offset!(ControlBlock, snapshot_offset, 120);
crate::assert_offset!(ControlBlock, snapshot_capacity, 124);

impl ControlBlock {
    /// A fresh block for actor `actor_id` accepting `type_id`.
    pub fn new(actor_id: u32, type_id: u32, flags: u32) -> Self {
        Self { actor_id, type_id, flags, hlc: HlcTimestamp::zero(actor_id), ..Zeroable::zeroed() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_control_block_is_one_line() {
        assert_eq!(core::mem::size_of::<ControlBlock>(), 128);
        assert_eq!(core::mem::align_of::<ControlBlock>(), 128);
        let cb = ControlBlock::new(7, 42, FLAG_AUTO_ACTIVATE);
        let bytes = bytemuck::bytes_of(&cb);
        assert_eq!(&bytes[56..60], &7u32.to_le_bytes());
        assert_eq!(&bytes[60..64], &42u32.to_le_bytes());
        assert_eq!(&bytes[76..80], &7u32.to_le_bytes(), "hlc.node");
    }

    #[test]
    fn command_raw_values_validated() {
        for v in 0..=7 {
            assert_eq!(Command::try_from(v).map(Command::as_u32), Ok(v));
        }
        assert_eq!(Command::try_from(8), Err(8));
        assert_eq!(Command::SNAPSHOT.name(), "Snapshot");
    }
}
