//! # ringkernel-shared: the contract between host and GPU
//!
//! Everything in this crate is compiled twice — for the host (x86-64) and for
//! `nvptx64-nvidia-cuda` — and both builds must agree byte for byte. It holds
//! two kinds of things:
//!
//! * **Plain-data layouts** that live in memory both sides touch:
//!   [`ControlBlock`], [`Envelope`] (with its [`EnvelopeHeader`]),
//!   [`HlcTimestamp`], [`RingHeader`], [`TelemetryBuffer`] and
//!   [`SnapshotHeader`](snapshot::SnapshotHeader). Each is
//!   `#[repr(C)]`, [`bytemuck::Pod`], free of `bool`/`char`/enum fields, and has
//!   its size, alignment and field offsets pinned by `const` assertions, which
//!   run in both builds.
//! * **Pure rules** that must behave identically on both sides: the hybrid
//!   logical clock ([`hlc`]), the actor lifecycle state machine
//!   ([`lifecycle`]), the slot-sequence ring arithmetic ([`ring`]), the
//!   payload checksum ([`checksum`]), and what supervision needs: restart
//!   policies, restart intensity and cascading-kill order ([`supervision`]),
//!   actor names with `*` lookup and a fixed-capacity name table
//!   ([`registry`]), pub/sub topics with `*`/`#` patterns ([`topic`]).
//!   Those three allocate nothing, recurse nowhere, bound every loop by
//!   their inputs and never panic on bad input, so they run inside a GPU
//!   kernel too.
//!
//! Kinds that would naturally be enums (lifecycle state, control command,
//! message flags) are `u32` newtypes validated with `TryFrom<u32>`: any bit
//! pattern written by the other side is a valid *value*, and is checked before
//! it is interpreted.
#![no_std]
#![cfg_attr(not(test), warn(missing_docs))]

/// `TryFrom<u32>` (values `0..=max`; the raw value comes back on failure),
/// `Debug` and `Display` (both the type's `name()`) for a `u32` kind
/// newtype such as [`LifecycleState`] or [`Command`].
macro_rules! u32_kind_impls {
    ($ty:ty, max = $max:expr) => {
        impl TryFrom<u32> for $ty {
            type Error = u32;
            /// Fails with the raw value when it names no kind.
            fn try_from(v: u32) -> Result<Self, u32> {
                if v <= $max { Ok(Self(v)) } else { Err(v) }
            }
        }

        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub mod checksum;
pub mod control;
pub mod envelope;
pub mod gang;
pub mod hlc;
pub mod lifecycle;
pub mod registry;
pub mod ring;
pub mod snapshot;
pub mod supervision;
pub mod system;
pub mod telemetry;
pub mod topic;

pub use control::{Command, ControlBlock};
pub use envelope::{
    DEAD_LETTER_TYPE_ID, DeadLetterRecord, ENVELOPE_BYTES, Envelope, EnvelopeError, EnvelopeHeader, MessageFlags,
    PAYLOAD_BYTES,
};
pub use hlc::HlcTimestamp;
pub use lifecycle::{IllegalTransition, LifecycleState};
pub use ring::RingHeader;
pub use telemetry::TelemetryBuffer;

/// Version of the ABI in this crate. Written into every envelope header and
/// checked on receipt; bump it on any layout change.
pub const ABI_VERSION: u16 = 1;

/// Asserts `offset_of!($ty, $field) == $off` at compile time.
#[macro_export]
#[doc(hidden)]
macro_rules! assert_offset {
    ($ty:ty, $field:ident, $off:expr) => {
        const _: () = assert!(::core::mem::offset_of!($ty, $field) == $off);
    };
}

/// Asserts size and alignment of a type at compile time.
#[macro_export]
#[doc(hidden)]
macro_rules! assert_layout {
    ($ty:ty, size = $size:expr, align = $align:expr) => {
        const _: () = assert!(::core::mem::size_of::<$ty>() == $size);
        const _: () = assert!(::core::mem::align_of::<$ty>() == $align);
    };
}
