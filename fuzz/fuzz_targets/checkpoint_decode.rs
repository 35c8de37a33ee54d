//! Fuzz target: [`Checkpoint::from_bytes`] on arbitrary bytes, as when a
//! stored checkpoint was damaged or written by something else.
//!
//! Each input is decoded twice:
//!
//! 1. as it is — the header checks (magic, version, length, checksum) see
//!    every mutation;
//! 2. as a body behind a correct header (right length and checksum), so that
//!    mutations reach rkyv's validation of the body instead of stopping at
//!    the checksum. There the only possible refusals are
//!    [`CheckpointError::Malformed`] and [`CheckpointError::InvalidField`].
//!
//! Neither may panic or read out of bounds (the build runs under
//! AddressSanitizer). Whatever is accepted must survive a round trip through
//! `to_bytes`, and its state must read back, or be refused, by size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkernel::checkpoint::{FORMAT_VERSION, HEADER_BYTES, MAGIC, body_checksum};
use ringkernel::{Checkpoint, CheckpointError};

/// What must hold for a checkpoint `from_bytes` accepted from `input`.
fn check_accepted(c: &Checkpoint, input: &[u8]) {
    assert!(input.len() >= HEADER_BYTES + c.state.len(), "accepted more state than the input holds");
    let again = c.to_bytes().expect("an accepted checkpoint encodes again");
    assert_eq!(&Checkpoint::from_bytes(&again).expect("its own encoding decodes"), c, "round trip");
    match c.state_as::<[u64; 4]>() {
        Ok(v) => assert_eq!(bytemuck::bytes_of(&v), c.state.as_slice()),
        Err(CheckpointError::StateSize { expected: 32, found }) => assert_eq!(found, c.state.len()),
        Err(e) => panic!("state_as failed with {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    match Checkpoint::from_bytes(data) {
        Ok(c) => check_accepted(&c, data),
        Err(e) => {
            assert!(!e.to_string().is_empty(), "every rejection renders as a message");
            assert!(!matches!(e, CheckpointError::Encode(_) | CheckpointError::StateSize { .. }), "{e:?}");
        }
    }

    let Ok(len) = u32::try_from(data.len()) else { return };
    let mut sealed = Vec::with_capacity(HEADER_BYTES + data.len());
    sealed.extend_from_slice(&MAGIC);
    sealed.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    sealed.extend_from_slice(&len.to_le_bytes());
    sealed.extend_from_slice(&body_checksum(data).to_le_bytes());
    sealed.extend_from_slice(data);
    match Checkpoint::from_bytes(&sealed) {
        Ok(c) => check_accepted(&c, &sealed),
        Err(CheckpointError::Malformed(_) | CheckpointError::InvalidField { .. }) => {}
        Err(e) => panic!("a body behind a correct header was refused by a header check: {e:?}"),
    }
});
