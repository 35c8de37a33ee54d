//! Host-visible memory of one actor.
//!
//! Every actor owns one block of memory that both its execution (a CPU
//! thread, or the GPU kernel through mapped pinned host memory) and the host
//! runtime reach. Its layout is fixed here, once, for every backend:
//!
//! | offset | bytes | what |
//! | --- | --- | --- |
//! | 0 | 128 | [`ControlBlock`] |
//! | 128 | 128 | [`TelemetryBuffer`] (64 bytes, padded to a 128-byte line) |
//! | 256 | `256 + 128 * inbox_capacity` | inbox ring (H2K): [`RingHeader`] + slots |
//! | … | `256 + 128 * outbox_capacity` | outbox ring (K2H): [`RingHeader`] + slots |
//! | … | `128 + snapshot bytes` (rounded up to 128) | snapshot region ([`ringkernel_shared::snapshot`]): only for an actor with `Actor::SNAPSHOT_BYTES > 0` |
//!
//! Every part starts on a 128-byte boundary (one GPU L2 line, two host
//! lines), so no two writers share a line.
//!
//! [`ActorMemory`] holds raw pointers to the four parts plus an owner that
//! frees the block when dropped. The runtime drops an `ActorMemory` only
//! after the execution using it has been joined (or leaks it if that never
//! happens; see `ActorShared`'s drop).

use crate::error::LaunchError;
use ringkernel_device::ActorPointers;
use ringkernel_device::queue::RawRing;
use ringkernel_shared::ring::{ring_bytes, validate_capacity};
use ringkernel_shared::snapshot::{SNAPSHOT_HEADER_BYTES, SnapshotHeader, region_bytes};
use ringkernel_shared::{ControlBlock, ENVELOPE_BYTES, RingHeader, TelemetryBuffer};
use std::alloc::Layout;
use std::ptr::NonNull;

/// Alignment of an actor block and of each part in it.
pub(crate) const BLOCK_ALIGN: usize = 128;

/// Something that keeps an actor block alive and frees it on drop (CPU: a
/// heap allocation; CUDA: mapped pinned host memory).
pub(crate) trait MemoryOwner: Send + Sync {
    /// The file descriptor of the shared mapping holding the block, for a
    /// backend that runs the actor in another process (`None`: ordinary
    /// memory of this process).
    fn shared_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

/// Byte offsets of the parts of an actor block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ActorLayout {
    /// Bytes of the whole block.
    pub total: usize,
    /// Offset of the [`TelemetryBuffer`].
    pub telemetry: usize,
    /// Offset of the inbox ring header.
    pub inbox: usize,
    /// Offset of the outbox ring header.
    pub outbox: usize,
    /// Slots of the inbox ring.
    pub inbox_capacity: u32,
    /// Slots of the outbox ring.
    pub outbox_capacity: u32,
    /// Offset of the snapshot region's header (0: no region).
    pub snapshot: usize,
    /// State bytes the snapshot region holds.
    pub snapshot_capacity: usize,
}

impl ActorLayout {
    /// The layout for the given ring capacities (powers of two; see
    /// [`ringkernel_shared::ring::validate_capacity`]).
    pub(crate) fn new(inbox_capacity: u32, outbox_capacity: u32) -> Result<Self, LaunchError> {
        validate_capacity(inbox_capacity).map_err(|source| LaunchError::InvalidCapacity { queue: "inbox", source })?;
        validate_capacity(outbox_capacity)
            .map_err(|source| LaunchError::InvalidCapacity { queue: "outbox", source })?;
        let telemetry = size_of::<ControlBlock>();
        let inbox = telemetry + BLOCK_ALIGN;
        let outbox = inbox + ring_bytes(inbox_capacity, ENVELOPE_BYTES as u32);
        let total = outbox + ring_bytes(outbox_capacity, ENVELOPE_BYTES as u32);
        Ok(Self { total, telemetry, inbox, outbox, inbox_capacity, outbox_capacity, snapshot: 0, snapshot_capacity: 0 })
    }

    /// [`ActorLayout::new`] plus a snapshot region for `snapshot_bytes` of
    /// state at the end (none when 0).
    pub(crate) fn with_snapshot(
        inbox_capacity: u32,
        outbox_capacity: u32,
        snapshot_bytes: usize,
    ) -> Result<Self, LaunchError> {
        let mut l = Self::new(inbox_capacity, outbox_capacity)?;
        if snapshot_bytes > 0 {
            if u32::try_from(snapshot_bytes).is_err() {
                return Err(LaunchError::OutOfMemory { bytes: snapshot_bytes });
            }
            l.snapshot = l.total;
            l.snapshot_capacity = snapshot_bytes.div_ceil(BLOCK_ALIGN) * BLOCK_ALIGN;
            l.total += region_bytes(snapshot_bytes);
        }
        Ok(l)
    }

    /// The snapshot fields of the control block for this layout.
    pub(crate) fn snapshot_fields(&self) -> (u32, u32) {
        // Both fit: checked in `with_snapshot` (and offsets are below `total`).
        (self.snapshot as u32, self.snapshot_capacity as u32)
    }

    /// Write the initial contents of a block: a zero control block (the
    /// runtime writes the real one before start), zero telemetry, both ring
    /// headers, and zeroed slots (sequence 0 is never "ready").
    ///
    /// # Safety
    /// `base` is valid for writes of `self.total` bytes, aligned to
    /// [`BLOCK_ALIGN`], and no one else accesses the block yet.
    pub(crate) unsafe fn init(&self, base: *mut u8) -> ActorParts {
        // SAFETY: the whole block is ours and writable (contract).
        unsafe { std::ptr::write_bytes(base, 0, self.total) };
        // SAFETY: every offset is below `total`, 128-aligned, and holds a
        // part of the size this layout gave it (see `new`).
        unsafe {
            let control = base as *mut ControlBlock;
            let telemetry = base.add(self.telemetry) as *mut TelemetryBuffer;
            let inbox = base.add(self.inbox) as *mut RingHeader;
            let outbox = base.add(self.outbox) as *mut RingHeader;
            control.write(ControlBlock::new(0, 0, 0));
            telemetry.write(TelemetryBuffer::default());
            inbox.write(RingHeader { capacity: self.inbox_capacity, slot_bytes: ENVELOPE_BYTES as u32, ..zero() });
            outbox.write(RingHeader { capacity: self.outbox_capacity, slot_bytes: ENVELOPE_BYTES as u32, ..zero() });
            let snapshot = if self.snapshot == 0 { std::ptr::null_mut() } else { base.add(self.snapshot) };
            ActorParts { control, inbox, outbox, telemetry, snapshot, snapshot_capacity: self.snapshot_capacity }
        }
    }
}

fn zero<T: bytemuck::Zeroable>() -> T {
    T::zeroed()
}

/// Pointers to the four parts of an actor block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActorParts {
    pub control: *mut ControlBlock,
    pub inbox: *mut RingHeader,
    pub outbox: *mut RingHeader,
    pub telemetry: *mut TelemetryBuffer,
    /// The snapshot region's header (null: none).
    pub snapshot: *mut u8,
    /// State bytes after it.
    pub snapshot_capacity: usize,
}

/// Host-visible memory of one actor (CPU: aligned heap; CUDA: mapped pinned
/// host memory). The pointers are host addresses; a backend that needs
/// device addresses derives them itself.
pub(crate) struct ActorMemory {
    parts: ActorParts,
    /// Frees the block on drop.
    _owner: Box<dyn MemoryOwner>,
}

// SAFETY: ActorMemory is pointers into a block owned by `_owner` (which is
// Send + Sync). Every concurrent access to the block goes through atomics or
// the single-producer/single-consumer ring protocol; which side may touch
// which word is fixed by `ringkernel_shared` (control block ownership table,
// ring invariants), and the runtime enforces one producer and one consumer
// per ring.
unsafe impl Send for ActorMemory {}
// SAFETY: as for Send; `&ActorMemory` only hands out raw pointers, whose use
// is `unsafe` and bound by the same protocol.
unsafe impl Sync for ActorMemory {}

impl ActorMemory {
    /// Wrap an initialized block.
    ///
    /// # Safety
    /// `parts` point into the block kept alive by `owner`, initialized by
    /// [`ActorLayout::init`].
    pub(crate) unsafe fn from_parts(parts: ActorParts, owner: Box<dyn MemoryOwner>) -> Self {
        Self { parts, _owner: owner }
    }

    /// The control block.
    pub(crate) fn control(&self) -> *mut ControlBlock {
        self.parts.control
    }

    /// The telemetry buffer.
    pub(crate) fn telemetry(&self) -> *mut TelemetryBuffer {
        self.parts.telemetry
    }

    /// Host pointers in the form the actor loop takes.
    pub(crate) fn pointers(&self) -> ActorPointers {
        ActorPointers {
            control: self.parts.control,
            inbox: self.parts.inbox,
            outbox: self.parts.outbox,
            telemetry: self.parts.telemetry,
        }
    }

    /// The snapshot region: its header and state bytes (`None` without one).
    pub(crate) fn snapshot_region(&self) -> Option<(*mut SnapshotHeader, *mut u8, usize)> {
        let p = self.parts.snapshot;
        // SAFETY: a non-null `snapshot` is the region's header inside the
        // block, followed by `snapshot_capacity` bytes (ActorLayout::init).
        (!p.is_null()).then(|| (p.cast(), unsafe { p.add(SNAPSHOT_HEADER_BYTES) }, self.parts.snapshot_capacity))
    }

    /// The shared-mapping descriptor of the block, if it has one.
    pub(crate) fn shared_fd(&self) -> Option<std::os::fd::RawFd> {
        self._owner.shared_fd()
    }

    /// The inbox ring (H2K: the host produces, the actor consumes).
    pub(crate) fn inbox_ring(&self) -> RawRing {
        // SAFETY: the header was initialized with a valid capacity and is
        // followed by its slots, all kept alive by `_owner` for as long as
        // `self`; the runtime drops every RawRing view before the memory.
        unsafe { RawRing::new(self.parts.inbox) }
    }

    /// The outbox ring (K2H: the actor produces, the host consumes).
    pub(crate) fn outbox_ring(&self) -> RawRing {
        // SAFETY: as for `inbox_ring`.
        unsafe { RawRing::new(self.parts.outbox) }
    }
}

/// A zeroed, 128-aligned heap block (the CPU backend's actor memory).
struct HeapBlock {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the block is plain memory with no thread affinity.
unsafe impl Send for HeapBlock {}
// SAFETY: HeapBlock itself never reads or writes the block; users go
// through ActorMemory's protocol.
unsafe impl Sync for HeapBlock {}

impl MemoryOwner for HeapBlock {}

impl Drop for HeapBlock {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A zeroed, [`BLOCK_ALIGN`]-aligned heap block of `bytes` (at least 1) and
/// its owner.
pub(crate) fn alloc_heap_block(bytes: usize) -> Result<(*mut u8, Box<dyn MemoryOwner>), LaunchError> {
    let alloc_layout =
        Layout::from_size_align(bytes.max(1), BLOCK_ALIGN).map_err(|_| LaunchError::OutOfMemory { bytes })?;
    // SAFETY: the layout has a non-zero size.
    let raw = unsafe { std::alloc::alloc_zeroed(alloc_layout) };
    let ptr = NonNull::new(raw).ok_or(LaunchError::OutOfMemory { bytes })?;
    Ok((ptr.as_ptr(), Box::new(HeapBlock { ptr, layout: alloc_layout })))
}

/// Allocate and initialize an actor block on the heap.
pub(crate) fn alloc_heap_actor(layout: &ActorLayout) -> Result<ActorMemory, LaunchError> {
    let (ptr, owner) = alloc_heap_block(layout.total)?;
    // SAFETY: the block is `layout.total` long, 128-aligned and not shared yet.
    let parts = unsafe { layout.init(ptr) };
    // SAFETY: `parts` point into `owner`'s block, initialized just above.
    Ok(unsafe { ActorMemory::from_parts(parts, owner) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_parts_are_line_aligned() {
        let l = ActorLayout::new(8, 16).unwrap();
        assert_eq!((l.telemetry, l.inbox), (128, 256));
        assert_eq!(l.outbox, 256 + 256 + 8 * 128);
        assert_eq!(l.total, l.outbox + 256 + 16 * 128);
        assert!(l.outbox.is_multiple_of(BLOCK_ALIGN));
    }

    #[test]
    fn layout_snapshot_region_at_the_end() {
        let plain = ActorLayout::new(8, 16).unwrap();
        let l = ActorLayout::with_snapshot(8, 16, 20).unwrap();
        assert_eq!((l.snapshot, l.snapshot_capacity), (plain.total, 128));
        assert_eq!(l.total, plain.total + 256);
        assert_eq!(ActorLayout::with_snapshot(8, 16, 0).unwrap(), plain);
        let m = alloc_heap_actor(&l).unwrap();
        let (h, data, cap) = m.snapshot_region().unwrap();
        assert_eq!(h as usize - m.control() as usize, l.snapshot);
        assert_eq!(data as usize - h as usize, 128);
        assert_eq!(cap, 128);
    }

    #[test]
    fn layout_rejects_bad_capacities() {
        assert!(matches!(ActorLayout::new(3, 8), Err(LaunchError::InvalidCapacity { queue: "inbox", .. })));
        assert!(matches!(ActorLayout::new(8, 0), Err(LaunchError::InvalidCapacity { queue: "outbox", .. })));
    }

    #[test]
    fn heap_block_initialized() {
        let m = alloc_heap_actor(&ActorLayout::new(4, 8).unwrap()).unwrap();
        assert!(m.snapshot_region().is_none());
        assert_eq!(m.control() as usize % BLOCK_ALIGN, 0);
        // SAFETY: freshly initialized and not shared.
        unsafe {
            assert_eq!((*m.pointers().inbox).capacity, 4);
            assert_eq!((*m.pointers().outbox).capacity, 8);
            assert_eq!((*m.pointers().outbox).slot_bytes, 128);
            assert_eq!((*m.control()).state, 0);
        }
    }
}
