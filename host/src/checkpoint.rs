//! # Checkpoints: the stored form of an actor's state
//!
//! A [`Checkpoint`] is what the runtime keeps of an actor so that it can be
//! restored after a failure: which actor it is, which incarnation, its clock,
//! its counters and its state as bytes. [`Checkpoint::to_bytes`] gives the
//! stored form; [`Checkpoint::from_bytes`] reads it back and rejects anything
//! that is not exactly a checkpoint this build wrote — with a typed
//! [`CheckpointError`], never a panic, whatever the input.
//!
//! ## Stored form
//!
//! A fixed 24-byte header, then the body (little-endian throughout):
//!
//! | offset | field | checked by |
//! | --- | --- | --- |
//! | 0 | magic, 8 bytes: [`MAGIC`] | [`CheckpointError::BadMagic`] |
//! | 8 | format version, `u32`: [`FORMAT_VERSION`] | [`CheckpointError::UnsupportedVersion`] |
//! | 12 | body length in bytes, `u32` | [`CheckpointError::Truncated`], [`CheckpointError::TrailingBytes`] |
//! | 16 | CRC-64/XZ of the body, `u64` | [`CheckpointError::BadChecksum`] |
//! | 24 | body: an [rkyv] archive of the record | [`CheckpointError::Malformed`] (rkyv's validated access) |
//!
//! The body holds actor type id, actor id, generation, HLC, counters and the
//! state bytes. Magic, version and checksum sit in the plain header rather
//! than inside the archive on purpose:
//!
//! * a reader must learn the format version before it knows the layout of
//!   the archive — a later version's body may not be a valid archive of this
//!   version's record, and must be reported as "unsupported version", not as
//!   "corrupt";
//! * a checksum cannot sit inside the bytes it covers.
//!
//! The checks run in the order of the table, so each kind of damage gets its
//! own error: a file that is not a checkpoint, one from a newer build, one
//! cut short (or with bytes appended), one whose bytes changed (the CRC
//! catches every burst of up to 64 flipped bits and, in practice, any
//! accidental corruption), and last one whose checksum matches but whose
//! body is still not a valid archive (a buggy or hostile writer): rkyv's
//! validation ([`rkyv::access`], never the unchecked access) checks every
//! offset and length before anything is read. After that the fields
//! themselves are checked ([`CheckpointError::InvalidField`]).
//!
//! rkyv's format is pinned in `Cargo.toml` (`little_endian`, `aligned`,
//! `pointer_width_32`), so a feature enabled elsewhere in a dependency graph
//! cannot silently change what is stored.
//!
//! ## How it is meant to be used
//!
//! The runtime uses it like this (`KernelHandle::checkpoint` and
//! [`crate::recovery`]):
//!
//! 1. **Taking one.** Between two messages — never inside a handler — the
//!    loop copies the actor's state (for plain-data states,
//!    [`Checkpoint::from_pod_state`]), and stamps the actor's HLC and the
//!    counters of its control block. [`CheckpointCounters::messages_in`] is
//!    the inbox position the state includes: every message taken from the
//!    inbox before it has had its effect on `state`, none after it.
//!    The host stores [`Checkpoint::to_bytes`] (in memory, or a file).
//! 2. **Restoring.** After a failure, the restart policy decides whether the
//!    actor restarts from its last checkpoint. The runtime reads it back with
//!    [`Checkpoint::from_bytes`], checks it belongs to the actor with
//!    [`Checkpoint::expect_actor_type`], and starts the actor with
//!    [`Checkpoint::state_as`] as its state, `generation + 1` as its
//!    incarnation, and its clock advanced past [`Checkpoint::hlc`] (HLC
//!    receive), so time never runs backwards across a restart.
//! 3. **What happened after it.** Messages accepted after `messages_in` are
//!    not in the state: the runtime replays them from its record of accepted
//!    messages, or fails them back to their senders — none is silently lost.
//!
//! Any error from `from_bytes` means the checkpoint must not be used: the
//! runtime then falls back to a fresh actor (`Actor::create`) or fails the
//! actor, as its restart policy says.
//!
//! ```
//! use bytemuck::{Pod, Zeroable};
//! use ringkernel::{Checkpoint, CheckpointError, HlcTimestamp};
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
//! struct CounterState {
//!     total: u64,
//!     ops: u64,
//! }
//!
//! const COUNTER_TYPE_ID: u32 = 0x434E_5452;
//! let mut ckpt = Checkpoint::from_pod_state(COUNTER_TYPE_ID, 7, 1, &CounterState { total: 40, ops: 3 });
//! ckpt.hlc = HlcTimestamp { physical: 1_000, logical: 2, node: 7 };
//! ckpt.counters.messages_in = 3;
//!
//! let stored = ckpt.to_bytes()?;
//! let back = Checkpoint::from_bytes(&stored)?;
//! back.expect_actor_type(COUNTER_TYPE_ID)?;
//! assert_eq!(back.state_as::<CounterState>()?, CounterState { total: 40, ops: 3 });
//! assert_eq!(back, ckpt);
//!
//! // A checkpoint cut short is refused, with the reason.
//! let cut = Checkpoint::from_bytes(&stored[..stored.len() - 1]);
//! assert!(matches!(cut, Err(CheckpointError::Truncated { .. })));
//! # Ok::<(), CheckpointError>(())
//! ```

use bytemuck::Pod;
use ringkernel_shared::HlcTimestamp;
use rkyv::rancor;

/// The first 8 bytes of every stored checkpoint. The `\r\n` makes a copy
/// that went through newline translation fail here, not somewhere later.
pub const MAGIC: [u8; 8] = *b"RKCKPT\r\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the fixed header before the body.
pub const HEADER_BYTES: usize = 24;

/// The actor's counters at the checkpoint (those of its control block).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CheckpointCounters {
    /// Envelopes the actor had taken from its inbox: the inbox position whose
    /// effects `state` includes.
    pub messages_in: u64,
    /// Envelopes the actor had written to its outbox.
    pub messages_out: u64,
    /// Envelopes the actor had rejected (dead letters).
    pub dead_letters: u64,
    /// Handler failures so far.
    pub failures: u64,
}

/// One actor's checkpoint; see the module docs for the stored form and how
/// the runtime uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The actor's message type id ([`Actor::TYPE_ID`](crate::Actor::TYPE_ID)).
    pub actor_type_id: u32,
    /// The actor's id in its runtime.
    pub actor_id: u32,
    /// The incarnation the state comes from (0: the first; each restart adds 1).
    pub generation: u64,
    /// The actor's clock when the checkpoint was taken.
    pub hlc: HlcTimestamp,
    /// The actor's counters when the checkpoint was taken.
    pub counters: CheckpointCounters,
    /// The actor's state, as bytes (for plain data: [`Checkpoint::from_pod_state`]).
    pub state: Vec<u8>,
}

/// Why a checkpoint could not be read back, encoded, or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The input ends before the header or the body it announces does.
    #[error("checkpoint truncated: {needed} bytes needed, {found} present")]
    Truncated {
        /// Bytes the header (or, once read, header plus body) needs.
        needed: u64,
        /// Bytes present.
        found: u64,
    },
    /// The input does not start with [`MAGIC`]: it is not a checkpoint.
    #[error("not a RingKernel checkpoint (first bytes {found:02x?}, expected {:02x?})", MAGIC)]
    BadMagic {
        /// The first bytes of the input (up to 8).
        found: Vec<u8>,
    },
    /// A format version this build cannot read (written by another build).
    #[error("checkpoint format version {found} is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version in the header.
        found: u32,
    },
    /// Bytes follow the body the header announces.
    #[error("checkpoint has {extra} unexpected bytes after its {body} byte body")]
    TrailingBytes {
        /// Body length in the header.
        body: u64,
        /// Bytes after it.
        extra: u64,
    },
    /// The body's checksum does not match: the bytes were damaged.
    #[error("checkpoint corrupt: body checksum {computed:#018x} does not match the stored {stored:#018x}")]
    BadChecksum {
        /// Checksum in the header.
        stored: u64,
        /// Checksum of the body as read.
        computed: u64,
    },
    /// The checksum matches but the body is not a valid archive of the
    /// record (written by a faulty or hostile writer).
    #[error("checkpoint body is malformed")]
    Malformed(#[source] rancor::Error),
    /// A field of a well-formed body holds a value no checkpoint can have.
    #[error("checkpoint field `{field}` is invalid: {why}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The checkpoint could not be encoded (its state is too large for the
    /// format's 32-bit lengths).
    #[error("checkpoint could not be encoded")]
    Encode(#[source] rancor::Error),
    /// The state is not the size of the type it is read as.
    #[error("checkpoint state is {found} bytes, but the state type is {expected} bytes")]
    StateSize {
        /// `size_of` the requested type.
        expected: usize,
        /// Bytes of state in the checkpoint.
        found: usize,
    },
    /// The checkpoint belongs to another kind of actor.
    #[error("checkpoint of actor type {found:#010x}, expected {expected:#010x}")]
    WrongActorType {
        /// Type id in the checkpoint.
        found: u32,
        /// Type id of the actor being restored.
        expected: u32,
    },
}

/// The archived record: everything but magic, version and checksum. Private,
/// so the public [`Checkpoint`] can change without changing what is stored
/// (and a change here means a new [`FORMAT_VERSION`]).
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Body {
    actor_type_id: u32,
    actor_id: u32,
    generation: u64,
    hlc_physical: u64,
    hlc_logical: u32,
    hlc_node: u32,
    messages_in: u64,
    messages_out: u64,
    dead_letters: u64,
    failures: u64,
    state: Vec<u8>,
}

impl Checkpoint {
    /// A checkpoint of a plain-data state, with a zero clock and counters
    /// (set [`Checkpoint::hlc`] and [`Checkpoint::counters`] as needed).
    pub fn from_pod_state<T: Pod>(actor_type_id: u32, actor_id: u32, generation: u64, state: &T) -> Self {
        Self {
            actor_type_id,
            actor_id,
            generation,
            hlc: HlcTimestamp::default(),
            counters: CheckpointCounters::default(),
            state: bytemuck::bytes_of(state).to_vec(),
        }
    }

    /// The state as a `T`.
    ///
    /// # Errors
    /// [`CheckpointError::StateSize`] unless the state is exactly
    /// `size_of::<T>()` bytes (any bytes of the right size are a valid `T`).
    pub fn state_as<T: Pod>(&self) -> Result<T, CheckpointError> {
        let expected = size_of::<T>();
        if self.state.len() != expected {
            return Err(CheckpointError::StateSize { expected, found: self.state.len() });
        }
        Ok(bytemuck::pod_read_unaligned(&self.state))
    }

    /// Check that this checkpoint belongs to the actor type `type_id`.
    ///
    /// # Errors
    /// [`CheckpointError::WrongActorType`] if it does not.
    pub fn expect_actor_type(&self, type_id: u32) -> Result<(), CheckpointError> {
        if self.actor_type_id != type_id {
            return Err(CheckpointError::WrongActorType { found: self.actor_type_id, expected: type_id });
        }
        Ok(())
    }

    /// The stored form (see the module docs).
    ///
    /// # Errors
    /// [`CheckpointError::Encode`] if the state is too large for the format
    /// (a body over `u32::MAX` bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let body = Body {
            actor_type_id: self.actor_type_id,
            actor_id: self.actor_id,
            generation: self.generation,
            hlc_physical: self.hlc.physical,
            hlc_logical: self.hlc.logical,
            hlc_node: self.hlc.node,
            messages_in: self.counters.messages_in,
            messages_out: self.counters.messages_out,
            dead_letters: self.counters.dead_letters,
            failures: self.counters.failures,
            state: self.state.clone(),
        };
        let archived = rkyv::to_bytes::<rancor::Error>(&body).map_err(CheckpointError::Encode)?;
        let len = u32::try_from(archived.len())
            .map_err(|_| CheckpointError::Encode(rancor::Source::new(BodyTooLarge { bytes: archived.len() })))?;
        let mut out = Vec::with_capacity(HEADER_BYTES + archived.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc64(&archived).to_le_bytes());
        out.extend_from_slice(&archived);
        Ok(out)
    }

    /// Read a checkpoint back from its stored form.
    ///
    /// Never panics and never reads out of bounds, whatever `bytes` holds;
    /// allocates at most one copy of the body (never what a header claims).
    ///
    /// # Errors
    /// In the order checked: [`CheckpointError::BadMagic`],
    /// [`CheckpointError::Truncated`] (header),
    /// [`CheckpointError::UnsupportedVersion`],
    /// [`CheckpointError::Truncated`] (body),
    /// [`CheckpointError::TrailingBytes`], [`CheckpointError::BadChecksum`],
    /// [`CheckpointError::Malformed`], [`CheckpointError::InvalidField`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(CheckpointError::BadMagic { found: bytes[..magic_len].to_vec() });
        }
        let Some((header, rest)) = bytes.split_first_chunk::<HEADER_BYTES>() else {
            return Err(CheckpointError::Truncated { needed: HEADER_BYTES as u64, found: bytes.len() as u64 });
        };
        let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let version = word(8);
        if version != FORMAT_VERSION {
            return Err(CheckpointError::UnsupportedVersion { found: version });
        }
        let body_len = u64::from(word(12));
        let stored = u64::from(word(16)) | u64::from(word(20)) << 32;
        let present = rest.len() as u64;
        if present < body_len {
            return Err(CheckpointError::Truncated {
                needed: HEADER_BYTES as u64 + body_len,
                found: bytes.len() as u64,
            });
        }
        if present > body_len {
            return Err(CheckpointError::TrailingBytes { body: body_len, extra: present - body_len });
        }
        let computed = crc64(rest);
        if computed != stored {
            return Err(CheckpointError::BadChecksum { stored, computed });
        }
        // rkyv's access needs the archive aligned as it was written; the
        // input slice may sit anywhere.
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(rest.len());
        aligned.extend_from_slice(rest);
        let archived = rkyv::access::<ArchivedBody, rancor::Error>(&aligned).map_err(CheckpointError::Malformed)?;
        let body = rkyv::deserialize::<Body, rancor::Error>(archived).map_err(CheckpointError::Malformed)?;
        if body.hlc_logical > HlcTimestamp::MAX_LOGICAL {
            return Err(CheckpointError::InvalidField {
                field: "hlc.logical",
                why: "above HlcTimestamp::MAX_LOGICAL, which no clock produces",
            });
        }
        Ok(Self {
            actor_type_id: body.actor_type_id,
            actor_id: body.actor_id,
            generation: body.generation,
            hlc: HlcTimestamp { physical: body.hlc_physical, logical: body.hlc_logical, node: body.hlc_node },
            counters: CheckpointCounters {
                messages_in: body.messages_in,
                messages_out: body.messages_out,
                dead_letters: body.dead_letters,
                failures: body.failures,
            },
            state: body.state,
        })
    }
}

/// The reason inside [`CheckpointError::Encode`] when the body does not fit
/// the header's 32-bit length.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint body of {bytes} bytes exceeds the format's limit of {} bytes", u32::MAX)]
struct BodyTooLarge {
    bytes: usize,
}

/// The checksum the header stores for `body` (the bytes after the header):
/// CRC-64/XZ. For tools that inspect stored checkpoints, and for fuzzing the
/// body's validation behind a correct checksum.
pub fn body_checksum(body: &[u8]) -> u64 {
    crc64(body)
}

/// CRC-64/XZ (ECMA-182 polynomial, reflected; init and final xor all ones).
/// Check value: `crc64(b"123456789") == 0x995D_C9BB_DF19_39FA`.
fn crc64(bytes: &[u8]) -> u64 {
    let mut crc = !0u64;
    for &b in bytes {
        crc = CRC64_TABLE[((crc ^ u64::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The reflected ECMA-182 polynomial.
const CRC64_POLY: u64 = 0xC96C_5795_D787_0F42;

/// The byte-at-a-time table of [`crc64`], built at compile time.
const CRC64_TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ CRC64_POLY } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Under Miri, run with `MIRIFLAGS=-Zmiri-tree-borrows`: rkyv's relative
/// pointers break Stacked Borrows' rules by design (docs/RELIABILITY.md).
#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    struct State {
        total: u64,
        ops: u64,
        name: [u8; 12],
        flags: u32,
    }

    fn sample() -> Checkpoint {
        let state = State { total: 0xDEAD_BEEF, ops: 42, name: *b"counter-one\0", flags: 5 };
        let mut c = Checkpoint::from_pod_state(0x434E_5452, 3, 2, &state);
        c.hlc = HlcTimestamp { physical: 1_700_000_000_123, logical: 7, node: 3 };
        c.counters = CheckpointCounters { messages_in: 1_000, messages_out: 998, dead_letters: 2, failures: 1 };
        c
    }

    fn stored() -> Vec<u8> {
        sample().to_bytes().unwrap()
    }

    /// Rewrites the header's checksum so that it matches the (edited) body.
    fn reseal(bytes: &mut [u8]) {
        let crc = crc64(&bytes[HEADER_BYTES..]);
        bytes[16..24].copy_from_slice(&crc.to_le_bytes());
    }

    #[test]
    fn crc64_xz_check_value() {
        assert_eq!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn roundtrip_keeps_every_field() {
        let c = sample();
        let bytes = c.to_bytes().unwrap();
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(&bytes[8..12], &FORMAT_VERSION.to_le_bytes());
        assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize, bytes.len() - HEADER_BYTES);
        assert_eq!(bytes[16..24], body_checksum(&bytes[HEADER_BYTES..]).to_le_bytes());
        let back = Checkpoint::from_bytes(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.state_as::<State>().unwrap(), sample().state_as::<State>().unwrap());
        // Empty and odd-sized states too.
        for len in [0usize, 1, 7, 4096 + 3] {
            let c = Checkpoint { state: (0..len).map(|i| i as u8).collect(), ..sample() };
            assert_eq!(Checkpoint::from_bytes(&c.to_bytes().unwrap()).unwrap(), c, "state of {len} bytes");
        }
    }

    #[test]
    fn reads_from_any_alignment() {
        let bytes = stored();
        for shift in 1..16 {
            let mut buf = vec![0u8; shift];
            buf.extend_from_slice(&bytes);
            assert_eq!(Checkpoint::from_bytes(&buf[shift..]).unwrap(), sample(), "shifted by {shift}");
        }
    }

    #[test]
    fn rejects_wrong_magic() {
        let mut bytes = stored();
        bytes[0] = b'X';
        assert!(matches!(Checkpoint::from_bytes(&bytes), Err(CheckpointError::BadMagic { found }) if found[0] == b'X'));
        // Newline translation (\r\n -> \n) is caught by the magic.
        let mut unix = stored();
        unix.remove(6);
        assert!(matches!(Checkpoint::from_bytes(&unix), Err(CheckpointError::BadMagic { .. })));
        // Something else entirely, shorter than the magic.
        assert!(matches!(Checkpoint::from_bytes(b"{}"), Err(CheckpointError::BadMagic { found }) if found == b"{}"));
    }

    #[test]
    fn rejects_truncation_at_every_length() {
        let bytes = stored();
        assert!(matches!(Checkpoint::from_bytes(&[]), Err(CheckpointError::Truncated { needed: 24, found: 0 })));
        for len in 0..bytes.len() {
            match Checkpoint::from_bytes(&bytes[..len]) {
                Err(CheckpointError::Truncated { needed, found }) => {
                    assert_eq!(found, len as u64);
                    let want = if len < HEADER_BYTES { HEADER_BYTES } else { bytes.len() };
                    assert_eq!(needed, want as u64, "cut at {len}");
                }
                other => panic!("cut at {len} of {}: expected Truncated, got {other:?}", bytes.len()),
            }
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = stored();
        let body = (bytes.len() - HEADER_BYTES) as u64;
        bytes.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(
            Checkpoint::from_bytes(&bytes),
            Err(CheckpointError::TrailingBytes { body: b, extra: 3 }) if b == body
        ));
    }

    #[test]
    fn rejects_other_versions() {
        for v in [0u32, 2, u32::MAX] {
            let mut bytes = stored();
            bytes[8..12].copy_from_slice(&v.to_le_bytes());
            match Checkpoint::from_bytes(&bytes) {
                Err(e @ CheckpointError::UnsupportedVersion { found }) => {
                    assert_eq!(found, v);
                    assert!(e.to_string().contains("version"), "{e}");
                }
                other => panic!("version {v}: {other:?}"),
            }
        }
        // A later version is reported as such even when its body would not
        // be a valid archive of this version's record.
        let mut later = MAGIC.to_vec();
        later.extend_from_slice(&2u32.to_le_bytes());
        later.extend_from_slice(&[0xFF; 40]);
        assert!(matches!(Checkpoint::from_bytes(&later), Err(CheckpointError::UnsupportedVersion { found: 2 })));
    }

    #[test]
    fn rejects_every_single_bit_flip_in_the_body() {
        let bytes = stored();
        for i in HEADER_BYTES * 8..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(
                matches!(Checkpoint::from_bytes(&b), Err(CheckpointError::BadChecksum { .. })),
                "bit {i} flipped went unnoticed"
            );
        }
        // The stored checksum itself damaged.
        let mut b = bytes.clone();
        b[20] ^= 0x10;
        assert!(matches!(Checkpoint::from_bytes(&b), Err(CheckpointError::BadChecksum { .. })));
    }

    #[test]
    fn every_header_byte_is_checked() {
        // Each byte of the header, changed, gives one of the header's errors.
        let bytes = stored();
        for i in 0..HEADER_BYTES {
            let mut b = bytes.clone();
            b[i] = b[i].wrapping_add(1);
            let e = Checkpoint::from_bytes(&b).unwrap_err();
            let ok = match i {
                0..8 => matches!(e, CheckpointError::BadMagic { .. }),
                8..12 => matches!(e, CheckpointError::UnsupportedVersion { .. }),
                12..16 => matches!(e, CheckpointError::Truncated { .. } | CheckpointError::TrailingBytes { .. }),
                _ => matches!(e, CheckpointError::BadChecksum { .. }),
            };
            assert!(ok, "header byte {i}: {e:?}");
        }
    }

    #[test]
    fn rejects_malformed_body_with_a_valid_checksum() {
        // Garbage of several sizes, sealed with a matching checksum: only
        // rkyv's validation stands between it and the reader.
        for body in [vec![], vec![0xFF; 3], vec![0xFF; 64], vec![0xA5; 200]] {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            b.extend_from_slice(&(body.len() as u32).to_le_bytes());
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&body);
            reseal(&mut b);
            match Checkpoint::from_bytes(&b) {
                Err(e @ CheckpointError::Malformed(_)) => {
                    assert!(std::error::Error::source(&e).is_some(), "the rkyv error is kept as the source");
                }
                other => panic!("{} garbage bytes: {other:?}", body.len()),
            }
        }
        // A real body whose state length points past the end.
        let mut b = stored();
        let state_len_at = find_state_len(&b);
        b[state_len_at..state_len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(Checkpoint::from_bytes(&b), Err(CheckpointError::Malformed(_))));
    }

    /// Where the archived `state` length sits: the root is at the end of the
    /// body; the `ArchivedVec` (offset, length) is its last field.
    fn find_state_len(bytes: &[u8]) -> usize {
        let len = sample().state.len() as u32;
        let at = bytes.len() - 4;
        assert_eq!(&bytes[at..], &len.to_le_bytes(), "layout assumption: the state's length ends the archive");
        at
    }

    #[test]
    fn rejects_invalid_hlc() {
        let c = Checkpoint { hlc: HlcTimestamp { logical: HlcTimestamp::MAX_LOGICAL + 1, ..sample().hlc }, ..sample() };
        assert!(matches!(
            Checkpoint::from_bytes(&c.to_bytes().unwrap()),
            Err(CheckpointError::InvalidField { field: "hlc.logical", .. })
        ));
    }

    #[test]
    fn pod_state_size_is_checked() {
        let c = sample();
        assert!(matches!(c.state_as::<[u8; 31]>(), Err(CheckpointError::StateSize { expected: 31, found: 32 })));
        assert!(matches!(c.state_as::<[u64; 5]>(), Err(CheckpointError::StateSize { expected: 40, found: 32 })));
        assert_eq!(c.state_as::<[u8; 32]>().unwrap()[..8], 0xDEAD_BEEFu64.to_le_bytes());
        let empty = Checkpoint::from_pod_state(1, 1, 0, &());
        assert!(empty.state.is_empty());
        assert!(matches!(empty.state_as::<u8>(), Err(CheckpointError::StateSize { expected: 1, found: 0 })));
        let z = State::zeroed();
        assert_eq!(Checkpoint::from_pod_state(1, 1, 0, &z).state_as::<State>().unwrap(), z);
    }

    #[test]
    fn actor_type_is_checked() {
        let c = sample();
        assert!(c.expect_actor_type(0x434E_5452).is_ok());
        assert!(matches!(
            c.expect_actor_type(1),
            Err(CheckpointError::WrongActorType { found: 0x434E_5452, expected: 1 })
        ));
    }

    #[test]
    fn errors_are_send_sync_and_say_what_happened() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<CheckpointError>();
        send_sync::<Checkpoint>();
        let e = Checkpoint::from_bytes(&stored()[..30]).unwrap_err();
        assert!(e.to_string().starts_with("checkpoint truncated"), "{e}");
    }
}
