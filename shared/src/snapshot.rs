//! The snapshot region: where an actor loop writes a copy of its actor's
//! state when the host asks (`Command::SNAPSHOT`), and where it reads the
//! state back from when it starts as a recovery (`FLAG_RESTORE`).
//!
//! The region sits in the actor's host-visible memory, at
//! `ControlBlock::snapshot_offset` bytes from the control block (relative,
//! so every process and device that maps the memory finds it the same way):
//!
//! | offset | bytes | what |
//! | --- | --- | --- |
//! | 0 | 128 | [`SnapshotHeader`] |
//! | 128 | `ControlBlock::snapshot_capacity` | the state bytes (`len` of them are used) |
//!
//! ## Protocol
//!
//! * **Taking one.** The host posts `SNAPSHOT` like any command. Between two
//!   messages (never inside a handler, and after the batch before it was
//!   published) the loop writes the state bytes, then the header with
//!   `seq` = the command's `command_seq`, then stores `command_ack` with
//!   release ordering. The host, after its acquire load of `command_ack`,
//!   reads the header and the bytes and checks them with
//!   [`SnapshotHeader::validate`]. Nobody else writes the region meanwhile:
//!   the host only writes it while no incarnation runs.
//! * **Restoring.** Before launching an incarnation with `FLAG_RESTORE`, the
//!   host writes the state bytes and a header made by
//!   [`SnapshotHeader::for_state`] (`seq` 0). The loop validates it the same
//!   way before handing the bytes to `Actor::restore`; a region that does
//!   not validate fails the incarnation (`last_error` = the error's
//!   [`SnapshotError::code`] + [`RESTORE_ERROR_BASE`]) rather than running
//!   it with a state that is not the checkpoint's.
//!
//! `messages_in` is the inbox position the state includes: every envelope
//! the loop took before it has had its effect on the state, none after it.

use crate::checksum::checksum32;
use crate::hlc::HlcTimestamp;
use bytemuck::{Pod, Zeroable};

/// `magic` of a written header: `"RKSS"`.
pub const SNAPSHOT_MAGIC: u32 = u32::from_le_bytes(*b"RKSS");
/// The header layout version.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Bytes of the header before the state.
pub const SNAPSHOT_HEADER_BYTES: usize = 128;

/// [`SnapshotHeader::status`]: the state was written.
pub const STATUS_OK: u32 = 0;
/// [`SnapshotHeader::status`]: the actor takes no snapshots
/// (`Actor::SNAPSHOT_BYTES` is 0) or has no region.
pub const STATUS_UNSUPPORTED: u32 = 1;
/// [`SnapshotHeader::status`]: `Actor::snapshot` reported more bytes than
/// the region holds.
pub const STATUS_TOO_LARGE: u32 = 2;

/// Added to a [`SnapshotError::code`] to form the `last_error` of an
/// incarnation whose restore failed.
pub const RESTORE_ERROR_BASE: u32 = 0x5200;

/// Header of the snapshot region (128 bytes, one line).
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct SnapshotHeader {
    /// [`SNAPSHOT_MAGIC`].
    pub magic: u32,
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// `STATUS_*`: whether the state bytes are there.
    pub status: u32,
    /// State bytes used.
    pub len: u32,
    /// The actor's type id.
    pub type_id: u32,
    /// [`checksum32`] of the `len` state bytes.
    pub checksum: u32,
    /// The `command_seq` of the `SNAPSHOT` command this answers (0: written
    /// by the host for a restore).
    pub seq: u64,
    /// Envelopes the actor had taken from its inbox: the inbox position the
    /// state includes.
    pub messages_in: u64,
    /// Envelopes the actor had written to its outbox.
    pub messages_out: u64,
    /// Envelopes it had rejected.
    pub dead_letters: u64,
    /// Handler failures so far.
    pub failures: u64,
    /// The actor's clock at the snapshot.
    pub hlc: HlcTimestamp,
    /// Reserved, zero.
    pub _reserved: [u64; 6],
}

crate::assert_layout!(SnapshotHeader, size = 128, align = 128);
crate::assert_offset!(SnapshotHeader, magic, 0);
crate::assert_offset!(SnapshotHeader, version, 4);
crate::assert_offset!(SnapshotHeader, status, 8);
crate::assert_offset!(SnapshotHeader, len, 12);
crate::assert_offset!(SnapshotHeader, type_id, 16);
crate::assert_offset!(SnapshotHeader, checksum, 20);
crate::assert_offset!(SnapshotHeader, seq, 24);
crate::assert_offset!(SnapshotHeader, messages_in, 32);
crate::assert_offset!(SnapshotHeader, messages_out, 40);
crate::assert_offset!(SnapshotHeader, dead_letters, 48);
crate::assert_offset!(SnapshotHeader, failures, 56);
crate::assert_offset!(SnapshotHeader, hlc, 64);
crate::assert_offset!(SnapshotHeader, _reserved, 80);

/// Why a snapshot region cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// `magic` is not [`SNAPSHOT_MAGIC`]: nothing was written.
    BadMagic(u32),
    /// A header version this build does not know.
    BadVersion(u32),
    /// The loop reported it could not write the state (`STATUS_*`).
    Status(u32),
    /// The header names another actor type.
    WrongType {
        /// Type id in the header.
        found: u32,
        /// The actor's.
        expected: u32,
    },
    /// `len` is larger than the region (or the bytes given).
    TooLong {
        /// `len` in the header.
        len: u32,
        /// Bytes available.
        capacity: u32,
    },
    /// The state bytes do not match the header's checksum.
    BadChecksum {
        /// Checksum in the header.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
}

impl SnapshotError {
    /// A small non-zero code per kind (for `last_error`).
    pub const fn code(&self) -> u32 {
        match self {
            Self::BadMagic(_) => 1,
            Self::BadVersion(_) => 2,
            Self::Status(_) => 3,
            Self::WrongType { .. } => 4,
            Self::TooLong { .. } => 5,
            Self::BadChecksum { .. } => 6,
        }
    }
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "no snapshot in the region (magic {m:#010x})"),
            Self::BadVersion(v) => write!(f, "snapshot header version {v} is not {SNAPSHOT_VERSION}"),
            Self::Status(STATUS_UNSUPPORTED) => {
                f.write_str("the actor takes no snapshots (Actor::SNAPSHOT_BYTES is 0)")
            }
            Self::Status(STATUS_TOO_LARGE) => {
                f.write_str("Actor::snapshot reported more bytes than Actor::SNAPSHOT_BYTES")
            }
            Self::Status(s) => write!(f, "the actor loop reported snapshot status {s}"),
            Self::WrongType { found, expected } => {
                write!(f, "snapshot of actor type {found:#010x}, expected {expected:#010x}")
            }
            Self::TooLong { len, capacity } => write!(f, "snapshot of {len} bytes in a region of {capacity}"),
            Self::BadChecksum { stored, computed } => {
                write!(f, "snapshot checksum {computed:#010x} does not match the stored {stored:#010x}")
            }
        }
    }
}

impl core::error::Error for SnapshotError {}

impl SnapshotHeader {
    /// A header for `state` of actor type `type_id`: magic, version, status
    /// OK, length and checksum set; `seq`, counters and clock zero (set
    /// them as needed).
    pub fn for_state(type_id: u32, state: &[u8]) -> Self {
        Self {
            magic: SNAPSHOT_MAGIC,
            version: SNAPSHOT_VERSION,
            status: STATUS_OK,
            len: state.len() as u32,
            type_id,
            checksum: checksum32(state),
            ..Zeroable::zeroed()
        }
    }

    /// Check the header against the region's `state` bytes (all
    /// `snapshot_capacity` of them) for actor type `type_id`, in the order
    /// of [`SnapshotError`]'s variants. On success the state is
    /// `&state[..self.len as usize]`.
    pub fn validate(&self, type_id: u32, state: &[u8]) -> Result<(), SnapshotError> {
        if self.magic != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic(self.magic));
        }
        if self.version != SNAPSHOT_VERSION {
            return Err(SnapshotError::BadVersion(self.version));
        }
        if self.status != STATUS_OK {
            return Err(SnapshotError::Status(self.status));
        }
        if self.type_id != type_id {
            return Err(SnapshotError::WrongType { found: self.type_id, expected: type_id });
        }
        let capacity = u32::try_from(state.len()).unwrap_or(u32::MAX);
        if self.len > capacity {
            return Err(SnapshotError::TooLong { len: self.len, capacity });
        }
        let computed = checksum32(&state[..self.len as usize]);
        if computed != self.checksum {
            return Err(SnapshotError::BadChecksum { stored: self.checksum, computed });
        }
        Ok(())
    }
}

/// Bytes of a snapshot region holding `capacity` state bytes: the header
/// plus the state rounded up to a 128-byte line.
pub const fn region_bytes(capacity: usize) -> usize {
    SNAPSHOT_HEADER_BYTES + capacity.div_ceil(128) * 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_snapshot_header_is_one_line() {
        let h = SnapshotHeader::for_state(0x1234, &[1, 2, 3]);
        let b = bytemuck::bytes_of(&h);
        assert_eq!(&b[0..4], b"RKSS");
        assert_eq!(&b[12..16], &3u32.to_le_bytes());
        assert_eq!(&b[16..20], &0x1234u32.to_le_bytes());
        assert_eq!(region_bytes(0), 128);
        assert_eq!(region_bytes(1), 256);
        assert_eq!(region_bytes(128), 256);
    }

    #[test]
    fn validate_accepts_what_for_state_wrote() {
        let mut region = [0u8; 40];
        region[..5].copy_from_slice(b"state");
        let h = SnapshotHeader::for_state(7, &region[..5]);
        assert_eq!(h.validate(7, &region), Ok(()));
    }

    #[test]
    fn validate_reports_each_kind_of_damage() {
        let mut region = [0u8; 16];
        region[..8].copy_from_slice(&42u64.to_le_bytes());
        let good = SnapshotHeader::for_state(7, &region[..8]);
        let with = |f: fn(&mut SnapshotHeader)| {
            let mut h = good;
            f(&mut h);
            h.validate(7, &region)
        };
        assert_eq!(with(|h| h.magic = 0), Err(SnapshotError::BadMagic(0)));
        assert_eq!(with(|h| h.version = 9), Err(SnapshotError::BadVersion(9)));
        assert_eq!(with(|h| h.status = STATUS_UNSUPPORTED), Err(SnapshotError::Status(STATUS_UNSUPPORTED)));
        assert_eq!(with(|h| h.type_id = 8), Err(SnapshotError::WrongType { found: 8, expected: 7 }));
        assert_eq!(with(|h| h.len = 17), Err(SnapshotError::TooLong { len: 17, capacity: 16 }));
        assert!(matches!(with(|h| h.checksum ^= 1), Err(SnapshotError::BadChecksum { .. })));
        // A flipped state byte is caught by the checksum.
        let mut damaged = region;
        damaged[3] ^= 0x10;
        assert!(matches!(good.validate(7, &damaged), Err(SnapshotError::BadChecksum { .. })));
        // Every code is distinct and non-zero.
        let codes = [
            SnapshotError::BadMagic(0).code(),
            SnapshotError::BadVersion(0).code(),
            SnapshotError::Status(1).code(),
            SnapshotError::WrongType { found: 0, expected: 0 }.code(),
            SnapshotError::TooLong { len: 0, capacity: 0 }.code(),
            SnapshotError::BadChecksum { stored: 0, computed: 0 }.code(),
        ];
        for (i, c) in codes.iter().enumerate() {
            assert_ne!(*c, 0);
            assert!(!codes[..i].contains(c));
        }
    }
}
