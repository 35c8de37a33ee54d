//! The message envelope: one fixed size for every message that crosses
//! host ↔ GPU or actor ↔ actor.
//!
//! ## Why 128 bytes
//!
//! [`ENVELOPE_BYTES`] is 128: a 64-byte header and a 64-byte inline payload.
//!
//! * 128 bytes is one L2 cache line on Hopper and two host cache lines: a
//!   slot never straddles a GPU line, and eight lanes with 16-byte vector
//!   loads (or one lane with eight) read a whole slot in a single request.
//!   Every extra read of mapped host memory costs about a microsecond (see
//!   the design notes), so a slot must be fetched in one go.
//! * The header needs 60 bytes (sequence, routing, correlation, HLC,
//!   checksum); a 64-byte envelope would leave no payload, and 256 bytes
//!   would double the PCIe traffic per message for control messages that are
//!   mostly a few words (a command, a position and a value, a counter).
//! * Bulk data does not belong in a queue slot: actors exchange device
//!   buffers by handle and send the handle in the payload.
//!
//! ## Header layout (64 bytes)
//!
//! | offset | field | |
//! | --- | --- | --- |
//! | 0 | `seq: u64` | slot sequence, owned by the ring protocol ([`crate::ring`]) |
//! | 8 | `magic: u32` | [`MAGIC`] |
//! | 12 | `version: u16` | [`crate::ABI_VERSION`] |
//! | 14 | `flags: u16` | [`MessageFlags`] bits |
//! | 16 | `type_id: u32` | message type (the actor's registered type) |
//! | 20 | `payload_len: u32` | bytes of `payload` in use, ≤ [`PAYLOAD_BYTES`] |
//! | 24 | `source: u32` | sending actor or host node id |
//! | 28 | `destination: u32` | receiving actor id |
//! | 32 | `correlation_id: u64` | pairs a reply with its request; 0 = none |
//! | 40 | `hlc: HlcTimestamp` | sender's clock at send |
//! | 56 | `checksum: u32` | checksum of the used payload, if flagged ([`crate::checksum`]) |
//! | 60 | `_reserved: u32` | zero |

use crate::checksum::checksum32;
use crate::hlc::HlcTimestamp;
use bytemuck::{Pod, Zeroable};
use core::fmt;

/// Bytes of one envelope (header + payload).
pub const ENVELOPE_BYTES: usize = 128;
/// Bytes of the envelope header.
pub const HEADER_BYTES: usize = 64;
/// Bytes of inline payload.
pub const PAYLOAD_BYTES: usize = ENVELOPE_BYTES - HEADER_BYTES;
/// Envelope magic: `"RKv1"` little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"RKv1");

/// Envelope flag bits (`u16` newtype).
#[repr(transparent)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct MessageFlags(pub u16);

impl MessageFlags {
    /// `checksum` holds the checksum of the used payload and must be verified.
    pub const CHECKSUM: u16 = 1 << 0;
    /// The envelope answers a request (`correlation_id` names it).
    pub const REPLY: u16 = 1 << 1;
    /// The reply reports a failure; the payload holds an error code.
    pub const ERROR: u16 = 1 << 2;
    /// An uncorrelated output of the actor (goes to the output stream).
    pub const OUTPUT: u16 = 1 << 3;
    /// A [`DeadLetterRecord`] from the actor: an envelope it rejected, and why
    /// (goes to the host's dead-letter queue).
    pub const DEAD_LETTER: u16 = 1 << 4;
    /// Host → actor, set only by the runtime's recovery: the message was
    /// handled by an incarnation that crashed after it, and is handled again
    /// to rebuild the state from the last checkpoint. Its replies and
    /// outputs were delivered the first time and are not written again.
    pub const REPLAY: u16 = 1 << 5;
    /// Host → actor, set only by the runtime's recovery: the message may
    /// have been the one that crashed the previous incarnation, so it is
    /// not handled; the actor turns it into a dead letter
    /// (`ERROR_MESSAGE_FAULTED`), and the host has already failed the request.
    pub const FAULTED: u16 = 1 << 6;
    /// The bits this ABI version defines.
    pub const KNOWN: u16 = 0b111_1111;

    /// Whether `bit` is set.
    #[inline]
    pub const fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
}

impl fmt::Debug for MessageFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageFlags({:#06b})", self.0)
    }
}

/// The envelope header (64 bytes); see the module docs for the layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct EnvelopeHeader {
    /// Slot sequence number, owned by the ring protocol.
    pub seq: u64,
    /// [`MAGIC`].
    pub magic: u32,
    /// [`crate::ABI_VERSION`].
    pub version: u16,
    /// [`MessageFlags`] bits.
    pub flags: MessageFlags,
    /// Message type id.
    pub type_id: u32,
    /// Bytes of payload in use.
    pub payload_len: u32,
    /// Sender id.
    pub source: u32,
    /// Receiver id.
    pub destination: u32,
    /// Request/reply pairing; 0 = none.
    pub correlation_id: u64,
    /// Sender's clock at send.
    pub hlc: HlcTimestamp,
    /// [`crate::checksum::checksum32`] of `payload[..payload_len]` when [`MessageFlags::CHECKSUM`] is set.
    pub checksum: u32,
    /// Reserved, zero.
    pub _reserved: u32,
}

crate::assert_layout!(EnvelopeHeader, size = 64, align = 8);
crate::assert_offset!(EnvelopeHeader, seq, 0);
crate::assert_offset!(EnvelopeHeader, magic, 8);
crate::assert_offset!(EnvelopeHeader, version, 12);
crate::assert_offset!(EnvelopeHeader, flags, 14);
crate::assert_offset!(EnvelopeHeader, type_id, 16);
crate::assert_offset!(EnvelopeHeader, payload_len, 20);
crate::assert_offset!(EnvelopeHeader, source, 24);
crate::assert_offset!(EnvelopeHeader, destination, 28);
crate::assert_offset!(EnvelopeHeader, correlation_id, 32);
crate::assert_offset!(EnvelopeHeader, hlc, 40);
crate::assert_offset!(EnvelopeHeader, checksum, 56);
crate::assert_offset!(EnvelopeHeader, _reserved, 60);

/// One message: header plus inline payload (128 bytes, 16-aligned so a lane
/// can read it with 16-byte vector loads).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct Envelope {
    /// The header.
    pub header: EnvelopeHeader,
    /// Inline payload; `header.payload_len` bytes are meaningful.
    pub payload: [u8; PAYLOAD_BYTES],
}

crate::assert_layout!(Envelope, size = ENVELOPE_BYTES, align = 16);
crate::assert_offset!(Envelope, header, 0);
crate::assert_offset!(Envelope, payload, HEADER_BYTES);

/// Why an envelope was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeError {
    /// `magic` is not [`MAGIC`].
    BadMagic(u32),
    /// `version` is not [`crate::ABI_VERSION`].
    BadVersion(u16),
    /// `payload_len` is larger than [`PAYLOAD_BYTES`].
    PayloadTooLong(u32),
    /// Flag bits this ABI does not define are set.
    UnknownFlags(u16),
    /// The checksum does not match the payload.
    BadChecksum {
        /// Value in the header.
        stored: u32,
        /// Value computed over the payload.
        computed: u32,
    },
    /// The envelope's type is not the one the receiver accepts.
    WrongType {
        /// Type in the header.
        found: u32,
        /// Type the receiver accepts.
        expected: u32,
    },
    /// The payload is too large for the envelope (at build time).
    PayloadTooLarge(usize),
}

impl EnvelopeError {
    /// A stable numeric code, used where only a `u32` fits (dead-letter
    /// records, `ControlBlock::last_error`).
    pub const fn code(&self) -> u32 {
        match self {
            Self::BadMagic(_) => 1,
            Self::BadVersion(_) => 2,
            Self::PayloadTooLong(_) => 3,
            Self::UnknownFlags(_) => 4,
            Self::BadChecksum { .. } => 5,
            Self::WrongType { .. } => 6,
            Self::PayloadTooLarge(_) => 7,
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(m) => write!(f, "bad envelope magic {m:#010x}"),
            Self::BadVersion(v) => write!(f, "unsupported envelope ABI version {v}"),
            Self::PayloadTooLong(n) => write!(f, "payload length {n} exceeds {PAYLOAD_BYTES} bytes"),
            Self::UnknownFlags(b) => write!(f, "unknown envelope flag bits {b:#06x}"),
            Self::BadChecksum { stored, computed } => {
                write!(f, "payload checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            Self::WrongType { found, expected } => {
                write!(f, "message type {found} not accepted (expected {expected})")
            }
            Self::PayloadTooLarge(n) => write!(f, "payload of {n} bytes does not fit in {PAYLOAD_BYTES}"),
        }
    }
}

impl core::error::Error for EnvelopeError {}

impl Envelope {
    /// A new envelope carrying `payload` (up to [`PAYLOAD_BYTES`]), with
    /// magic, version and checksum filled in. `seq` is left 0 for the ring.
    pub fn new(type_id: u32, source: u32, destination: u32, payload: &[u8]) -> Result<Self, EnvelopeError> {
        if payload.len() > PAYLOAD_BYTES {
            return Err(EnvelopeError::PayloadTooLarge(payload.len()));
        }
        let mut env: Self = Zeroable::zeroed();
        env.header.magic = MAGIC;
        env.header.version = crate::ABI_VERSION;
        env.header.type_id = type_id;
        env.header.source = source;
        env.header.destination = destination;
        env.header.payload_len = payload.len() as u32;
        env.payload[..payload.len()].copy_from_slice(payload);
        env.seal();
        Ok(env)
    }

    /// A new envelope carrying a plain-data value.
    pub fn from_pod<T: Pod>(type_id: u32, source: u32, destination: u32, value: &T) -> Result<Self, EnvelopeError> {
        Self::new(type_id, source, destination, bytemuck::bytes_of(value))
    }

    /// The used part of the payload (clamped to the payload size, so this
    /// never panics on an unvalidated envelope).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let n = self.header.payload_len as usize;
        &self.payload[..if n > PAYLOAD_BYTES { PAYLOAD_BYTES } else { n }]
    }

    /// Read the payload as `T`. `None` when the used payload is shorter than
    /// `T`; bytes past `payload_len` are never read.
    #[inline]
    pub fn read_pod<T: Pod>(&self) -> Option<T> {
        let need = core::mem::size_of::<T>();
        let p = self.payload();
        if p.len() < need {
            return None;
        }
        Some(bytemuck::pod_read_unaligned(&p[..need]))
    }

    /// Set the checksum over the used payload and the CHECKSUM flag.
    #[inline]
    pub fn seal(&mut self) {
        self.header.checksum = checksum32(self.payload());
        self.header.flags.0 |= MessageFlags::CHECKSUM;
    }

    /// Check magic, version, flags, length and (when flagged) checksum.
    /// Does not check `type_id`; see [`Envelope::validate_for`].
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        let h = &self.header;
        if h.magic != MAGIC {
            return Err(EnvelopeError::BadMagic(h.magic));
        }
        if h.version != crate::ABI_VERSION {
            return Err(EnvelopeError::BadVersion(h.version));
        }
        if h.flags.0 & !MessageFlags::KNOWN != 0 {
            return Err(EnvelopeError::UnknownFlags(h.flags.0 & !MessageFlags::KNOWN));
        }
        if h.payload_len as usize > PAYLOAD_BYTES {
            return Err(EnvelopeError::PayloadTooLong(h.payload_len));
        }
        if h.flags.has(MessageFlags::CHECKSUM) {
            let computed = checksum32(self.payload());
            if computed != h.checksum {
                return Err(EnvelopeError::BadChecksum { stored: h.checksum, computed });
            }
        }
        Ok(())
    }

    /// [`Envelope::validate`] plus the receiver's type check.
    pub fn validate_for(&self, expected_type: u32) -> Result<(), EnvelopeError> {
        self.validate()?;
        if self.header.type_id != expected_type {
            return Err(EnvelopeError::WrongType { found: self.header.type_id, expected: expected_type });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_envelope_header_offsets() {
        let mut e = Envelope::new(5, 1, 2, &[9, 8, 7]).unwrap();
        e.header.seq = 0x0102_0304_0506_0708;
        e.header.correlation_id = 0xAABB;
        let b = bytemuck::bytes_of(&e);
        assert_eq!(b.len(), 128);
        assert_eq!(&b[0..8], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&b[8..12], b"RKv1");
        assert_eq!(&b[16..20], &5u32.to_le_bytes());
        assert_eq!(&b[20..24], &3u32.to_le_bytes());
        assert_eq!(&b[32..40], &0xAABBu64.to_le_bytes());
        assert_eq!(&b[64..67], &[9, 8, 7]);
    }

    #[test]
    fn envelope_roundtrip_and_validate() {
        let e = Envelope::from_pod(3, 0, 1, &[1u32, 2, 3]).unwrap();
        assert_eq!(e.validate_for(3), Ok(()));
        assert_eq!(e.read_pod::<[u32; 3]>(), Some([1, 2, 3]));
        assert_eq!(e.read_pod::<[u32; 4]>(), None);
    }

    #[test]
    fn envelope_rejections_are_specific() {
        let good = Envelope::new(3, 0, 1, b"hello").unwrap();
        let mut e = good;
        e.header.magic = 0;
        assert_eq!(e.validate(), Err(EnvelopeError::BadMagic(0)));
        let mut e = good;
        e.header.version = 99;
        assert_eq!(e.validate(), Err(EnvelopeError::BadVersion(99)));
        let mut e = good;
        e.header.payload_len = 65;
        assert_eq!(e.validate(), Err(EnvelopeError::PayloadTooLong(65)));
        let mut e = good;
        e.payload[0] ^= 1;
        assert!(matches!(e.validate(), Err(EnvelopeError::BadChecksum { .. })));
        let mut e = good;
        e.header.flags.0 |= 0x100;
        assert_eq!(e.validate(), Err(EnvelopeError::UnknownFlags(0x100)));
        assert_eq!(good.validate_for(4), Err(EnvelopeError::WrongType { found: 3, expected: 4 }));
        assert_eq!(Envelope::new(1, 0, 0, &[0; 65]).unwrap_err(), EnvelopeError::PayloadTooLarge(65));
    }

    #[test]
    fn envelope_payload_accessor_never_panics() {
        let mut e = Envelope::new(1, 0, 0, &[]).unwrap();
        e.header.payload_len = u32::MAX;
        assert_eq!(e.payload().len(), PAYLOAD_BYTES);
    }
}

/// Message type id of the envelopes that carry a [`DeadLetterRecord`].
pub const DEAD_LETTER_TYPE_ID: u32 = 0xDEAD_1E77;

/// What an actor reports about an envelope it rejected (56 bytes, the
/// payload of a [`MessageFlags::DEAD_LETTER`] envelope): the reason and the
/// rejected envelope's header fields, as they were (they may be garbage:
/// that can be why it was rejected).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct DeadLetterRecord {
    /// Why: an [`EnvelopeError::code`], or an actor-loop code (payload too
    /// short, actor stopped).
    pub reason: u32,
    /// `type_id` of the rejected envelope.
    pub type_id: u32,
    /// `source` of the rejected envelope.
    pub source: u32,
    /// `destination` of the rejected envelope.
    pub destination: u32,
    /// `correlation_id` of the rejected envelope (0: not a request).
    pub correlation_id: u64,
    /// `payload_len` of the rejected envelope.
    pub payload_len: u32,
    /// `flags` of the rejected envelope.
    pub flags: u16,
    /// `version` of the rejected envelope.
    pub version: u16,
    /// `magic` of the rejected envelope.
    pub magic: u32,
    /// Reserved, zero.
    pub _pad: u32,
    /// `hlc` of the rejected envelope.
    pub hlc: HlcTimestamp,
}

crate::assert_layout!(DeadLetterRecord, size = 56, align = 8);
crate::assert_offset!(DeadLetterRecord, reason, 0);
crate::assert_offset!(DeadLetterRecord, correlation_id, 16);
crate::assert_offset!(DeadLetterRecord, payload_len, 24);
crate::assert_offset!(DeadLetterRecord, flags, 28);
crate::assert_offset!(DeadLetterRecord, magic, 32);
crate::assert_offset!(DeadLetterRecord, hlc, 40);
const _: () = assert!(core::mem::size_of::<DeadLetterRecord>() <= PAYLOAD_BYTES);

impl DeadLetterRecord {
    /// The record of `env`, rejected for `reason`.
    pub fn of(env: &Envelope, reason: u32) -> Self {
        let h = &env.header;
        Self {
            reason,
            type_id: h.type_id,
            source: h.source,
            destination: h.destination,
            correlation_id: h.correlation_id,
            payload_len: h.payload_len,
            flags: h.flags.0,
            version: h.version,
            magic: h.magic,
            _pad: 0,
            hlc: h.hlc,
        }
    }
}
