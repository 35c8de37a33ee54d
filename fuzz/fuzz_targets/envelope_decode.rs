//! Fuzz target: an [`Envelope`] read from arbitrary bytes, as a receiver
//! does with a slot it did not write.
//!
//! Input: bytes `0..128` are the envelope (zero-padded when shorter), bytes
//! `128..132`, when present, the type id the receiver expects (else the
//! envelope's own). The target must never panic, and it checks what the
//! receiving code relies on:
//!
//! * `validate` accepts only a correct magic, version, flags and length (and
//!   checksum when flagged), and `validate_for` is `validate` plus the type;
//! * `payload` and `read_pod` never read past `payload_len` or the payload,
//!   whatever the header says, and `read_pod` fails exactly when the used
//!   payload is too short;
//! * an accepted, checksummed envelope carries the checksum that sealing
//!   its payload again gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkernel_shared::envelope::{MAGIC, MessageFlags};
use ringkernel_shared::{ABI_VERSION, ENVELOPE_BYTES, Envelope, EnvelopeError, PAYLOAD_BYTES};

/// `read_pod::<T>` against what it must return for `env`.
fn check_read_pod<T: bytemuck::Pod + PartialEq + core::fmt::Debug>(env: &Envelope) {
    let used = env.payload();
    let need = size_of::<T>();
    match env.read_pod::<T>() {
        Some(v) => {
            assert!(used.len() >= need, "read_pod read {need} bytes from a {} byte payload", used.len());
            assert_eq!(bytemuck::bytes_of(&v), &used[..need], "read_pod returned other bytes than the payload's");
        }
        None => assert!(used.len() < need, "read_pod refused a {} byte payload for {need} bytes", used.len()),
    }
}

fuzz_target!(|data: &[u8]| {
    // The receiver's two ways in: a cast of a slot-sized, aligned buffer
    // (refused, never a panic, when the input is neither), and a copy.
    let _ = bytemuck::try_from_bytes::<Envelope>(data);
    let mut slot = [0u8; ENVELOPE_BYTES];
    let n = data.len().min(ENVELOPE_BYTES);
    slot[..n].copy_from_slice(&data[..n]);
    let env: Envelope = bytemuck::pod_read_unaligned(&slot);
    let h = env.header;
    let expected_type = match data.get(ENVELOPE_BYTES..ENVELOPE_BYTES + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => h.type_id,
    };

    // `payload` is clamped whatever `payload_len` says.
    let used = env.payload();
    assert_eq!(used.len(), (h.payload_len as usize).min(PAYLOAD_BYTES));
    assert_eq!(used, &env.payload[..used.len()]);

    let valid = env.validate();
    match valid {
        Ok(()) => {
            assert_eq!(h.magic, MAGIC);
            assert_eq!(h.version, ABI_VERSION);
            assert_eq!(h.flags.0 & !MessageFlags::KNOWN, 0, "unknown flags accepted");
            assert!(h.payload_len as usize <= PAYLOAD_BYTES, "payload_len {} accepted", h.payload_len);
            // Sealing the same payload again gives the stored checksum.
            let mut again = Envelope::new(h.type_id, h.source, h.destination, used).expect("a valid payload fits");
            assert_eq!(again.validate(), Ok(()), "a freshly sealed envelope must validate");
            if h.flags.has(MessageFlags::CHECKSUM) {
                assert_eq!(again.header.checksum, h.checksum, "accepted checksum differs from the payload's");
            }
            again.header.flags = h.flags;
            again.header.checksum = h.checksum;
            assert_eq!(again.validate(), Ok(()), "same header fields and payload, different verdict");
        }
        Err(e) => {
            assert!((1..=7).contains(&e.code()), "error code {} out of range", e.code());
            assert!(!e.to_string().is_empty());
            assert!(!matches!(e, EnvelopeError::WrongType { .. } | EnvelopeError::PayloadTooLarge(_)));
        }
    }
    match env.validate_for(expected_type) {
        Ok(()) => {
            assert_eq!(valid, Ok(()), "validate_for accepted what validate refused");
            assert_eq!(h.type_id, expected_type);
        }
        Err(EnvelopeError::WrongType { found, expected }) => {
            assert_eq!(valid, Ok(()), "a type mismatch reported before the envelope's own errors");
            assert_eq!((found, expected), (h.type_id, expected_type));
            assert_ne!(found, expected);
        }
        Err(e) => assert_eq!(valid, Err(e), "validate_for must report validate's error"),
    }

    // Typed reads of every size class never go past the used payload.
    check_read_pod::<u8>(&env);
    check_read_pod::<u32>(&env);
    check_read_pod::<[u32; 3]>(&env);
    check_read_pod::<[u64; 2]>(&env);
    check_read_pod::<[u8; 33]>(&env);
    check_read_pod::<[u64; 8]>(&env);
    check_read_pod::<[u8; PAYLOAD_BYTES]>(&env);
    check_read_pod::<()>(&env);
});
