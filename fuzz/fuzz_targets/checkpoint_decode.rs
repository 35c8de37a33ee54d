//! Fuzz target: [`Checkpoint::from_bytes`] on arbitrary bytes, as when a
//! stored checkpoint was damaged or written by something else.
//!
//! It must never panic (nor read out of bounds: the build runs under
//! AddressSanitizer). Whatever it accepts must survive a round trip through
//! `to_bytes`, and its state must read back (or be refused) by size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkernel::checkpoint::HEADER_BYTES;
use ringkernel::{Checkpoint, CheckpointError};

fuzz_target!(|data: &[u8]| {
    match Checkpoint::from_bytes(data) {
        Ok(c) => {
            assert!(data.len() >= HEADER_BYTES + c.state.len(), "accepted more state than the input holds");
            let again = c.to_bytes().expect("an accepted checkpoint encodes again");
            assert_eq!(Checkpoint::from_bytes(&again).expect("its own encoding decodes"), c, "round trip");
            match c.state_as::<[u64; 4]>() {
                Ok(v) => assert_eq!(bytemuck::bytes_of(&v), c.state.as_slice()),
                Err(CheckpointError::StateSize { expected: 32, found }) => assert_eq!(found, c.state.len()),
                Err(e) => panic!("state_as failed with {e:?}"),
            }
        }
        Err(e) => {
            // Every rejection renders as a message.
            assert!(!e.to_string().is_empty());
            assert!(!matches!(e, CheckpointError::Encode(_) | CheckpointError::StateSize { .. }));
        }
    }
});
