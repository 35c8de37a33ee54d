//! Actor systems: many actors, of several types, in one persistent launch.
//!
//! [`run_slot`] is the life of one slot (layouts and pools:
//! [`ringkernel_shared::system`]). On the GPU each slot is warp 0 of one
//! thread block of the kernel that [`crate::actor_system!`] emits; on the CPU
//! backend each slot is a thread. Both run this code.
//!
//! ```text
//! Dormant ── host CREATE / PENDING_CREATE from a spawning actor ──▶ incarnation
//!   incarnation (run_incarnation of the slot's actor type, serving the
//!   host inbox and the K2K inbox) ends with
//!     Restart     ─▶ Failed ─▶ new incarnation (host RESTART, or a sibling's
//!                    one-for-all / rest-for-one restart)
//!     Failed      ─▶ supervise: the parent's policy and restart intensity
//!                    ─ restart ─▶ new incarnation (+ PENDING_RESTART to the
//!                                 affected siblings)
//!                    ─ escalate ─▶ kill the siblings and this actor,
//!                                 PENDING_FAIL to the parent (at the root:
//!                                 stay Failed until a host RESTART or kill)
//!     Terminated  ─▶ kill the children and wait for them (post-order), take
//!                    a stop sequence number, answer what is still queued
//!                    ─▶ Dormant (slot free for reuse)
//! Dormant + SystemControl.shutdown ─▶ return
//! ```
//!
//! ## Lanes
//!
//! On the GPU all 32 lanes of the slot's warp run this loop in lockstep (see
//! [`Platform`]). Read-modify-write operations on shared memory (claims,
//! pending bits, the supervisor lock, K2K pushes) are done by lane 0 alone
//! and their results broadcast with [`Platform::shuffle`], so every lane
//! takes the same branch.
//!
//! ## Supervision
//!
//! The supervisor of an actor is its parent slot (or the *root supervisor*,
//! configured in [`SystemControl`], for top-level actors). The policy and
//! the restart intensity that apply are the supervisor's; the restart
//! history lives in its [`SlotRecord`] and is updated under its `lock` by
//! the failing child's warp, using `ringkernel_shared::supervision`'s rules.
//! An escalation stops the supervisor's children (the failed one included)
//! and fails the supervisor, whose own supervisor then decides; root
//! escalation leaves the failed actor Failed (the host decides).
//! Children survive a restart of their parent; a kill takes the subtree.

use crate::actor::{ChildSpec, SendError, SystemPort};
use crate::atomic::{gpu, sys};
use crate::mpsc::{DeviceMpsc, MpscConsumer, try_push};
use crate::platform::Platform;
use crate::runtime::{ActorPointers, ERROR_ESCALATED, ERROR_UNKNOWN_TYPE, Exit};
use core::marker::PhantomData;
use ringkernel_shared::registry::name_matches;
use ringkernel_shared::supervision::{Decision, NO_PARENT, RestartIntensity, RestartPolicy, affected};
use ringkernel_shared::system::{
    CLAIM_FREE, CLAIM_TAKEN, DIRECTORY_SUBSCRIPTIONS, DeviceHeader, Directory, PENDING_CREATE, PENDING_KILL,
    PENDING_RESTART, SlotPointers, SlotRecord, SystemControl, SystemLayout,
};
use ringkernel_shared::{Command, ControlBlock, Envelope, LifecycleState, RingHeader};

/// [`SlotRecord::pending`] bit: the supervisor of this actor's failed child
/// gave up; this actor fails and its own supervisor decides.
pub const PENDING_FAIL: u32 = 8;

/// A set of actor types that can be created in the slots of one system:
/// implemented by [`crate::actor_system!`].
pub trait ActorSet {
    /// Type ids of the actors in the set.
    const TYPE_IDS: &'static [u32];

    /// Run one incarnation of the actor with `type_id` in `link`'s slot;
    /// `None` when the set has no such type.
    ///
    /// # Safety
    /// `link` was made by [`run_slot`] for a slot of a live system.
    #[doc(hidden)]
    unsafe fn run_incarnation<P: Platform>(
        type_id: u32,
        link: &mut SlotLink<P>,
        ack: Option<u32>,
        fresh: bool,
    ) -> Option<Exit>;
}

/// The PTX entry of an actor system: implemented by [`crate::actor_system!`].
pub trait SystemEntry: ActorSet {
    /// Name of the `.entry` in the PTX module.
    const ENTRY: &'static str;
}

/// Run one incarnation of `A` in `link`'s slot (used by
/// [`crate::actor_system!`]).
///
/// # Safety
/// As for [`ActorSet::run_incarnation`].
#[doc(hidden)]
// One function per actor type: inlining every type's loop into the
// dispatcher made one body too large for the register file (spills).
#[inline(never)]
pub unsafe fn run_typed<A: crate::Actor, P: Platform>(link: &mut SlotLink<P>, ack: Option<u32>, fresh: bool) -> Exit {
    let ptrs = link.port.ptrs;
    // SAFETY: the slot's own memory and link (contract).
    unsafe { crate::runtime::run_incarnation::<A, P>(ptrs, Some(link), ack, fresh, core::ptr::null_mut()) }
}

/// What other actors asked of a slot ([`SlotRecord::pending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PendingRequest {
    Kill,
    Restart,
    Fail,
}

/// The immutable part of a slot's view of its system, lent to handlers as
/// their [`SystemPort`].
pub(crate) struct SlotPort<P> {
    pub(crate) ptrs: ActorPointers,
    sysc: *const SystemControl,
    slot: u32,
    slots: u32,
    spawn_first: u32,
    base: u32,
    dev: *mut u8,
    directory: *const Directory,
    layout: SystemLayout,
    _p: PhantomData<P>,
}

/// One slot's view of its system: [`SlotPort`] plus its K2K consumer.
pub struct SlotLink<P> {
    pub(crate) port: SlotPort<P>,
    pub(crate) k2k: MpscConsumer<DeviceMpsc>,
}

impl<P: Platform> SlotPort<P> {
    fn header(&self) -> *mut DeviceHeader {
        self.dev as *mut DeviceHeader
    }

    fn rec(&self, s: u32) -> *mut SlotRecord {
        // SAFETY: s < slots (callers check); inside the device region.
        unsafe { self.dev.add(self.layout.record(s)) as *mut SlotRecord }
    }

    fn ring(&self, s: u32) -> DeviceMpsc {
        // SAFETY: s < slots; the host initialised every ring before launch.
        unsafe { DeviceMpsc::new(self.dev.add(self.layout.ring(s)) as *mut RingHeader) }
    }

    fn cb(&self) -> *mut ControlBlock {
        self.ptrs.control
    }

    /// Run `f` on lane 0 only and give its result to every lane.
    #[inline(always)]
    fn lane0(f: impl FnOnce() -> u64) -> u64 {
        let v = if P::is_writer() { f() } else { 0 };
        P::sync_lanes();
        P::shuffle(v, 0)
    }

    fn or_pending(&self, s: u32, bits: u32) {
        Self::lane0(|| {
            // SAFETY: record in the device region; `pending` is atomic-only.
            unsafe { gpu::fetch_or_u32(&raw mut (*self.rec(s)).pending, bits) };
            0
        });
    }

    fn is_live(&self, s: u32) -> bool {
        // SAFETY: as above; `live` is atomic-only.
        unsafe { gpu::load_acquire_u32(&raw const (*self.rec(s)).live) != 0 }
    }

    fn parent_of(&self, s: u32) -> u32 {
        // SAFETY: written before `live` was published (acquired by callers).
        unsafe { gpu::load_relaxed_u32(&raw const (*self.rec(s)).parent) }
    }

    fn start_seq_of(&self, s: u32) -> u64 {
        // SAFETY: as above.
        unsafe { gpu::load_relaxed_u64(&raw const (*self.rec(s)).start_seq) }
    }

    /// Live children of supervisor `p` (a slot or [`NO_PARENT`]): calls
    /// `f(slot)` for each; returns how many there are. One pass over the
    /// slots: it also runs in the wait loop of a dying supervisor.
    fn children(&self, p: u32, mut f: impl FnMut(u32)) -> u32 {
        let mut n = 0;
        for s in 0..self.slots {
            if self.is_live(s) && self.parent_of(s) == p {
                f(s);
                n += 1;
            }
        }
        n
    }

    /// Whether the host asked the system to stop.
    pub(crate) fn shutting_down(&self) -> bool {
        // SAFETY: `sysc` is valid for the launch; `shutdown` is written
        // atomically by the host.
        // Relaxed: nothing is read on the strength of it (an acquire load is
        // an L1 invalidation on the GPU).
        unsafe { sys::load_relaxed_u32(&raw const (*self.sysc).shutdown) != 0 }
    }

    /// Slots whose actor has supervisor `p`, alive or claimed by a spawn
    /// that has not started yet: calls `f(slot)` for each, returns how many.
    fn dependents(&self, p: u32, mut f: impl FnMut(u32)) -> u32 {
        let mut n = 0;
        for s in 0..self.slots {
            if self.parent_of(s) != p {
                continue;
            }
            // SAFETY: record in the device region; `claim` is atomic-only.
            let claimed = unsafe { gpu::load_acquire_u32(&raw const (*self.rec(s)).claim) } == CLAIM_TAKEN;
            if self.is_live(s) || claimed {
                f(s);
                n += 1;
            }
        }
        n
    }

    /// Read a plain-data value from the directory with relaxed word loads.
    fn read_dir<T: bytemuck::Pod>(&self, src: *const T) -> T {
        let mut out = <T as bytemuck::Zeroable>::zeroed();
        let words = core::mem::size_of::<T>() / 4;
        let dst = &mut out as *mut T as *mut u32;
        for i in 0..words {
            // SAFETY: `src` lies in the directory (4-aligned Pod types of a
            // size multiple of 4); the host writes it with atomic stores
            // under the sequence lock, which `with_directory` checks.
            unsafe { *dst.add(i) = sys::load_relaxed_u32((src as *const u32).add(i)) };
        }
        out
    }

    /// Run `f` over a consistent view of the directory (sequence lock).
    fn with_directory<R>(&self, mut f: impl FnMut(&Self) -> R) -> Option<R> {
        if self.directory.is_null() {
            return None;
        }
        // SAFETY: the directory is valid for the launch; `version` is atomic.
        let version = unsafe { &raw const (*self.directory).version };
        for _ in 0..64 {
            // SAFETY: as above.
            let v1 = unsafe { sys::load_acquire_u32(version) };
            if v1 & 1 == 1 {
                P::relax(100);
                continue;
            }
            let r = f(self);
            sys::fence_acquire();
            // SAFETY: as above.
            if unsafe { sys::load_relaxed_u32(version) } == v1 {
                return Some(r);
            }
        }
        None
    }

    fn slot_of(&self, actor_id: u32) -> Option<u32> {
        actor_id.checked_sub(self.base).filter(|&s| s < self.slots)
    }

    fn push(&self, slot: u32, env: &Envelope) -> Result<(), SendError> {
        let r = Self::lane0(|| try_push(&self.ring(slot), env).is_ok() as u64);
        if r != 0 { Ok(()) } else { Err(SendError::InboxFull) }
    }
}

impl<P: Platform> SystemPort for SlotPort<P> {
    fn send(&self, env: &Envelope) -> Result<(), SendError> {
        let slot = self.slot_of(env.header.destination).ok_or(SendError::NoSuchActor)?;
        self.push(slot, env)
    }

    fn spawn(&self, type_id: u32, spec: ChildSpec) -> Result<u32, SendError> {
        let me = self.slot;
        let got = Self::lane0(|| {
            for s in self.spawn_first..self.slots {
                let rec = self.rec(s);
                // SAFETY: record in the device region; `claim` is atomic-only.
                if unsafe { gpu::cas_u32(&raw mut (*rec).claim, CLAIM_FREE, CLAIM_TAKEN) }.is_ok() {
                    // SAFETY: the claim makes the spec fields ours until the
                    // child publishes `live`; PENDING_CREATE (acq_rel) below
                    // orders these stores before the child reads them.
                    unsafe {
                        gpu::store_relaxed_u32(&raw mut (*rec).type_id, type_id);
                        gpu::store_relaxed_u32(&raw mut (*rec).parent, me);
                        gpu::store_relaxed_u32(&raw mut (*rec).policy, spec.policy.as_u32());
                        gpu::store_relaxed_u32(&raw mut (*rec).max_restarts, spec.max_restarts);
                        gpu::store_relaxed_u64(&raw mut (*rec).window_ns, spec.window_ms as u64 * 1_000_000);
                        gpu::fetch_or_u32(&raw mut (*rec).pending, PENDING_CREATE);
                    }
                    return s as u64 + 1;
                }
            }
            0
        });
        if got == 0 { Err(SendError::NoFreeSlot) } else { Ok(self.base + got as u32 - 1) }
    }

    fn lookup(&self, name: &[u8]) -> Option<u32> {
        self.with_directory(|me| {
            // SAFETY: directory valid for the launch (see with_directory).
            let names = unsafe { &raw const (*me.directory).names };
            let len = me.read_dir(names as *const u32).min(ringkernel_shared::system::DIRECTORY_NAMES as u32);
            // Entries follow `len` and `generation` (8 bytes).
            let entries = (names as *const u8).wrapping_add(8) as *const ringkernel_shared::registry::RegistryEntry;
            for i in 0..len as usize {
                let e = me.read_dir(entries.wrapping_add(i));
                if name_matches(name, e.name.as_bytes()) {
                    return Some(e.actor_id);
                }
            }
            None
        })
        .flatten()
    }

    fn publish(&self, topic: &[u8], env: &Envelope) -> Result<u32, SendError> {
        let mut ids = [0u32; DIRECTORY_SUBSCRIPTIONS];
        let n = self
            .with_directory(|me| {
                // SAFETY: directory valid for the launch (see with_directory).
                let subs = unsafe { &raw const (*me.directory).subscriptions };
                let len = me.read_dir(subs as *const u32).min(DIRECTORY_SUBSCRIPTIONS as u32);
                let entries = (subs as *const u8).wrapping_add(8) as *const ringkernel_shared::system::Subscription;
                let mut n = 0;
                for i in 0..len as usize {
                    let e = me.read_dir(entries.wrapping_add(i));
                    if ringkernel_shared::topic::matches(e.pattern.as_bytes(), topic) && !ids[..n].contains(&e.actor_id)
                    {
                        ids[n] = e.actor_id;
                        n += 1;
                    }
                }
                n
            })
            .unwrap_or(0);
        let mut delivered = 0;
        let mut full = false;
        for &id in &ids[..n] {
            let mut e = *env;
            e.header.destination = id;
            match self.send(&e) {
                Ok(()) => delivered += 1,
                Err(_) => full = true,
            }
        }
        if full { Err(SendError::InboxFull) } else { Ok(delivered) }
    }
}

impl<P: Platform> SlotLink<P> {
    /// Take (and clear) this slot's pending requests; the most severe wins.
    pub(crate) fn take_pending(&mut self) -> Option<PendingRequest> {
        if self.port.shutting_down() {
            return Some(PendingRequest::Kill);
        }
        let rec = self.port.rec(self.port.slot);
        // SAFETY: record in the device region; `pending` is atomic-only.
        if unsafe { gpu::load_relaxed_u32(&raw const (*rec).pending) } & !PENDING_CREATE == 0 {
            return None;
        }
        let bits = SlotPort::<P>::lane0(|| {
            // Keep a PENDING_CREATE (it cannot be set while we live, but
            // clearing it would lose a request).
            // SAFETY: as above.
            let old = unsafe { gpu::swap_u32(&raw mut (*rec).pending, 0) };
            if old & PENDING_CREATE != 0 {
                // SAFETY: as above.
                unsafe { gpu::fetch_or_u32(&raw mut (*rec).pending, PENDING_CREATE) };
            }
            old as u64
        }) as u32;
        if bits & PENDING_KILL != 0 {
            Some(PendingRequest::Kill)
        } else if bits & PENDING_FAIL != 0 {
            Some(PendingRequest::Fail)
        } else if bits & PENDING_RESTART != 0 {
            Some(PendingRequest::Restart)
        } else {
            None
        }
    }
}

/// How a slot's next actor was asked for.
enum Create {
    /// Host `CREATE`: spec in the control block; ack this command sequence.
    Host(u32),
    /// An actor's spawn: spec already in the record.
    Spawned,
    /// The system is shutting down.
    Shutdown,
}

/// Run slot `slot` of the system described by `sysc` until shutdown.
///
/// # Safety
/// `sysc` points to a [`SystemControl`] whose slot table, device region and
/// directory were laid out and initialised by the host as
/// [`ringkernel_shared::system`] describes, all valid for the whole call;
/// exactly one `run_slot` runs per slot; the host touches each slot's
/// memory only as the control-block and ring protocols allow.
pub unsafe fn run_slot<S: ActorSet, P: Platform>(sysc: *const SystemControl, slot: u32) {
    // SAFETY: `sysc` is valid and fixed for the launch (contract).
    let c = unsafe { core::ptr::read_volatile(sysc) };
    if slot >= c.slots {
        return;
    }
    let Ok(layout) = SystemLayout::new(c.slots, c.k2k_capacity) else { return };
    // SAFETY: the slot table has `slots` entries (contract).
    let sp = unsafe { core::ptr::read_volatile((c.slot_table as *const SlotPointers).add(slot as usize)) };
    let ptrs = ActorPointers {
        control: sp.control as *mut ControlBlock,
        inbox: sp.inbox as *mut RingHeader,
        outbox: sp.outbox as *mut RingHeader,
        telemetry: sp.telemetry as *mut ringkernel_shared::TelemetryBuffer,
    };
    let port = SlotPort::<P> {
        ptrs,
        sysc,
        slot,
        slots: c.slots,
        spawn_first: c.spawn_first.min(c.slots),
        base: c.base_actor_id,
        dev: c.device_region as *mut u8,
        directory: c.directory as *const Directory,
        layout,
        _p: PhantomData,
    };
    let ring = port.ring(slot);
    // SAFETY: this slot is the only consumer of its K2K ring.
    let k2k = unsafe { MpscConsumer::attach(ring, 0) };
    let mut link = SlotLink { port, k2k };
    let cb = link.port.cb();
    let rec = link.port.rec(slot);
    let root = RootSupervisor { policy: c.root_policy, max_restarts: c.root_max_restarts, window_ns: c.root_window_ns };
    // SAFETY: cb valid (contract); command_ack is ours to write.
    let mut ack = unsafe { sys::load_acquire_u32(&raw const (*cb).command_ack) };
    loop {
        let how = wait_create::<P>(&link.port, sysc, &mut ack);
        let host_ack = match how {
            Create::Shutdown => return,
            Create::Host(seq) => {
                SlotPort::<P>::lane0(|| {
                    // SAFETY: own record; nothing aims at a Dormant host slot.
                    unsafe { gpu::swap_u32(&raw mut (*rec).pending, 0) };
                    0
                });
                // SAFETY: host-written spec fields, stable while Dormant; the
                // record is ours (host pool slots are never claimed).
                unsafe {
                    let policy = sys::load_relaxed_u32(&raw const (*cb).spec_policy);
                    write_spec::<P>(
                        rec,
                        sys::load_relaxed_u32(&raw const (*cb).type_id),
                        sys::load_relaxed_u32(&raw const (*cb).spec_parent),
                        policy & 0xff,
                        policy >> 8,
                        sys::load_relaxed_u32(&raw const (*cb).spec_window_ms) as u64 * 1_000_000,
                    );
                }
                Some(seq)
            }
            Create::Spawned => None,
        };
        // A new actor: start order, generation, mirrors for the host.
        SlotPort::<P>::lane0(|| {
            // SAFETY: our record and header, atomic fields.
            unsafe {
                let seq = gpu::fetch_add_u64(&raw mut (*link.port.header()).next_start_seq, 1) + 1;
                gpu::store_relaxed_u64(&raw mut (*rec).start_seq, seq);
                (*rec).history.clear();
            }
            0
        });
        // The first incarnation answers what a previous actor left queued
        // (a message that raced with its stop) before it starts.
        let mut fresh = true;
        let mut ack_now = host_ack;
        loop {
            begin_incarnation::<P>(&link.port, rec);
            // SAFETY: written by the creator before `live`.
            let type_id = unsafe { gpu::load_relaxed_u32(&raw const (*rec).type_id) };
            // SAFETY: `link` belongs to this slot.
            let exit = match unsafe { S::run_incarnation::<P>(type_id, &mut link, ack_now.take(), fresh) } {
                Some(e) => e,
                None => {
                    set_cb_state::<P>(cb, LifecycleState::INITIALIZING, ERROR_UNKNOWN_TYPE);
                    set_cb_state::<P>(cb, LifecycleState::FAILED, ERROR_UNKNOWN_TYPE);
                    if let Some(seq) = host_ack {
                        store_ack::<P>(cb, seq);
                    }
                    Exit::Failed
                }
            };
            let again = match exit {
                Exit::Restart => {
                    set_cb_state::<P>(cb, LifecycleState::FAILED, 0);
                    true
                }
                Exit::Failed => match supervise::<P>(&link.port, &root) {
                    Decision::Restart => true,
                    // The supervisor gave up: it stops all of its children,
                    // this one included, and fails itself.
                    Decision::Escalate if link.port.parent_of(slot) < link.port.slots => false,
                    // The root gave up: the actor stays Failed for the host.
                    Decision::Escalate => wait_failed::<P>(&link.port, &mut ack),
                },
                Exit::Terminated => false,
            };
            fresh = false;
            if again {
                count_restart::<P>(cb);
                continue;
            }
            break;
        }
        end_actor::<P>(&mut link, rec, cb);
    }
}

/// The root supervisor's parameters.
struct RootSupervisor {
    policy: u32,
    max_restarts: u32,
    window_ns: u64,
}

fn store_ack<P: Platform>(cb: *mut ControlBlock, seq: u32) {
    if P::is_writer() {
        // SAFETY: cb valid; command_ack is the slot's to write.
        unsafe { sys::store_release_u32(&raw mut (*cb).command_ack, seq) };
    }
}

/// Publish a state (and an error code, when non-zero) outside an
/// incarnation.
fn set_cb_state<P: Platform>(cb: *mut ControlBlock, s: LifecycleState, error: u32) {
    if P::is_writer() {
        // SAFETY: cb valid; state and last_error are the slot's to write.
        unsafe {
            if error != 0 {
                sys::store_relaxed_u32(&raw mut (*cb).last_error, error);
            }
            sys::store_release_u32(&raw mut (*cb).state, s.as_u32());
        }
    }
}

fn count_restart<P: Platform>(cb: *mut ControlBlock) {
    if P::is_writer() {
        // SAFETY: cb valid; `restarts` is the slot's to write.
        unsafe {
            let p = &raw mut (*cb).restarts;
            sys::store_relaxed_u32(p, sys::load_relaxed_u32(p).wrapping_add(1));
        }
    }
}

/// Write a new actor's spec into its record.
///
/// # Safety
/// `rec` is the slot's own record and no other slot writes its spec now.
unsafe fn write_spec<P: Platform>(
    rec: *mut SlotRecord,
    type_id: u32,
    parent: u32,
    policy: u32,
    max_restarts: u32,
    window_ns: u64,
) {
    if P::is_writer() {
        // SAFETY: contract; relaxed stores, published by `live` (release).
        unsafe {
            gpu::store_relaxed_u32(&raw mut (*rec).type_id, type_id);
            gpu::store_relaxed_u32(&raw mut (*rec).parent, parent);
            gpu::store_relaxed_u32(&raw mut (*rec).policy, policy);
            gpu::store_relaxed_u32(&raw mut (*rec).max_restarts, max_restarts);
            gpu::store_relaxed_u64(&raw mut (*rec).window_ns, window_ns);
        }
    }
    P::sync_lanes();
}

/// Wait in Dormant for a create request or shutdown. Commands other than
/// `CREATE` are acknowledged and ignored (the host refuses them before
/// posting; this covers a foreign writer).
#[inline(never)]
fn wait_create<P: Platform>(port: &SlotPort<P>, sysc: *const SystemControl, ack: &mut u32) -> Create {
    let cb = port.cb();
    let rec = port.rec(port.slot);
    let mut rounds = 0u32;
    loop {
        // SAFETY: record in the device region; `pending` is atomic-only.
        let pending = unsafe { gpu::load_acquire_u32(&raw const (*rec).pending) };
        if pending & PENDING_CREATE != 0 {
            if port.shutting_down() {
                // Not started: hand the claim back so that the spawner's
                // end does not wait for a child that never lived.
                SlotPort::<P>::lane0(|| {
                    // SAFETY: own record; atomic fields.
                    unsafe { gpu::store_release_u32(&raw mut (*rec).claim, CLAIM_FREE) };
                    0
                });
                return Create::Shutdown;
            }
            SlotPort::<P>::lane0(|| {
                // SAFETY: as above; only this slot clears its own bits. A
                // KILL that came with the claim (the spawner's subtree is
                // being killed) stays for the new actor to see at once.
                unsafe {
                    let old = gpu::swap_u32(&raw mut (*rec).pending, 0);
                    let keep = old & PENDING_KILL;
                    if keep != 0 {
                        gpu::fetch_or_u32(&raw mut (*rec).pending, keep);
                    }
                }
                0
            });
            return Create::Spawned;
        }
        if rounds.is_multiple_of(8) {
            // SAFETY: sysc valid; `shutdown` is written atomically by the host.
            if unsafe { sys::load_acquire_u32(&raw const (*sysc).shutdown) } != 0 {
                return Create::Shutdown;
            }
            // SAFETY: cb valid; host writes command_seq atomically.
            let seq = unsafe { sys::load_acquire_u32(&raw const (*cb).command_seq) };
            if seq != *ack {
                *ack = seq;
                // SAFETY: written before the release store of command_seq.
                let raw = unsafe { sys::load_relaxed_u32(&raw const (*cb).command) };
                if Command::try_from(raw) == Ok(Command::CREATE) {
                    // Acknowledged once the actor is initialised.
                    return Create::Host(seq);
                }
                set_cb_state::<P>(cb, LifecycleState::DORMANT, crate::runtime::ERROR_BAD_COMMAND);
                store_ack::<P>(cb, seq);
            }
        }
        rounds = rounds.wrapping_add(1).max(1);
        P::relax(rounds);
    }
}

/// Mark the slot live and mirror its spec into the control block.
fn begin_incarnation<P: Platform>(port: &SlotPort<P>, rec: *mut SlotRecord) {
    let cb = port.cb();
    if P::is_writer() {
        // SAFETY: own record (atomic fields) and control block (slot-owned
        // fields).
        unsafe {
            let generation = gpu::load_relaxed_u32(&raw const (*rec).generation).wrapping_add(1);
            gpu::store_relaxed_u32(&raw mut (*rec).generation, generation);
            gpu::store_release_u32(&raw mut (*rec).live, 1);
            sys::store_relaxed_u32(&raw mut (*cb).generation, generation);
            sys::store_relaxed_u32(&raw mut (*cb).parent, gpu::load_relaxed_u32(&raw const (*rec).parent));
            sys::store_relaxed_u32(&raw mut (*cb).type_id, gpu::load_relaxed_u32(&raw const (*rec).type_id));
        }
    }
    P::sync_lanes();
}

/// Apply the supervisor's policy to this slot's failure. Returns whether
/// this slot restarts.
#[inline(never)]
fn supervise<P: Platform>(port: &SlotPort<P>, root: &RootSupervisor) -> Decision {
    let me = port.slot;
    let parent = port.parent_of(me);
    let (lock, history, policy, intensity) = if parent == NO_PARENT || parent >= port.slots {
        let h = port.header();
        // SAFETY: device header, valid for the launch.
        unsafe {
            (
                &raw mut (*h).root_lock,
                &raw mut (*h).root_history,
                root.policy,
                RestartIntensity::new(root.max_restarts, root.window_ns),
            )
        }
    } else {
        let r = port.rec(parent);
        // SAFETY: the parent's record; its spec was published with its `live`.
        unsafe {
            (
                &raw mut (*r).lock,
                &raw mut (*r).history,
                gpu::load_relaxed_u32(&raw const (*r).policy),
                RestartIntensity::new(
                    gpu::load_relaxed_u32(&raw const (*r).max_restarts),
                    gpu::load_relaxed_u64(&raw const (*r).window_ns),
                ),
            )
        }
    };
    let now = P::now_ns();
    let decision = SlotPort::<P>::lane0(|| {
        // SAFETY: `lock` guards `history`; both in the device region.
        unsafe {
            while gpu::cas_u32(lock, 0, 1).is_err() {
                P::relax(100);
            }
            let mut h = core::ptr::read_volatile(history);
            let d = h.record_and_check(now, intensity);
            core::ptr::write_volatile(history, h);
            gpu::fence_release();
            gpu::store_release_u32(lock, 0);
            d.as_u32() as u64
        }
    });
    let policy = RestartPolicy::try_from(policy).unwrap_or(RestartPolicy::ONE_FOR_ONE);
    if decision == Decision::Restart.as_u32() as u64 {
        // Which siblings go with us: our rank in start order decides. The
        // affected range always holds our own rank, so a sibling started
        // before us is in it exactly when it reaches below our rank, and
        // one started after us when it reaches beyond: no sibling's own
        // rank is needed.
        let my_seq = port.start_seq_of(me);
        let mut my_rank = 0usize;
        let n = port.children(parent, |s| my_rank += (port.start_seq_of(s) < my_seq) as usize);
        let range = affected(policy, my_rank, n as usize);
        let (earlier_too, later_too) = (range.start < my_rank, range.end > my_rank + 1);
        port.children(parent, |s| {
            let earlier = port.start_seq_of(s) < my_seq;
            if s != me && ((earlier && earlier_too) || (!earlier && later_too)) {
                port.or_pending(s, PENDING_RESTART);
            }
        });
        Decision::Restart
    } else {
        // Give up: stop the supervisor's other children, fail the supervisor.
        if parent != NO_PARENT && parent < port.slots {
            port.dependents(parent, |s| {
                if s != me {
                    port.or_pending(s, PENDING_KILL);
                }
            });
            port.or_pending(parent, PENDING_FAIL);
        }
        set_cb_state::<P>(port.cb(), LifecycleState::FAILED, ERROR_ESCALATED);
        Decision::Escalate
    }
}

/// After an escalation: stay Failed until the host restarts the actor
/// (returns true) or it is killed (false).
#[inline(never)]
fn wait_failed<P: Platform>(port: &SlotPort<P>, ack: &mut u32) -> bool {
    let cb = port.cb();
    let rec = port.rec(port.slot);
    let mut rounds = 0u32;
    loop {
        // SAFETY: own record; `pending` atomic-only.
        if unsafe { gpu::load_relaxed_u32(&raw const (*rec).pending) } & PENDING_KILL != 0 {
            SlotPort::<P>::lane0(|| {
                // SAFETY: as above.
                unsafe { gpu::swap_u32(&raw mut (*rec).pending, 0) };
                0
            });
            return false;
        }
        if rounds.is_multiple_of(8) {
            // SAFETY: cb valid; host writes command_seq atomically.
            let seq = unsafe { sys::load_acquire_u32(&raw const (*cb).command_seq) };
            if seq != *ack {
                *ack = seq;
                // SAFETY: written before command_seq.
                let raw = unsafe { sys::load_relaxed_u32(&raw const (*cb).command) };
                match Command::try_from(raw) {
                    Ok(Command::RESTART) | Ok(Command::ACTIVATE) => {
                        store_ack::<P>(cb, seq);
                        return true;
                    }
                    Ok(Command::KILL) | Ok(Command::TERMINATE) => {
                        store_ack::<P>(cb, seq);
                        return false;
                    }
                    _ => store_ack::<P>(cb, seq),
                }
            }
        }
        rounds = rounds.wrapping_add(1).max(1);
        P::relax(rounds);
    }
}

/// The actor is gone for good: kill its children and wait for them,
/// take a stop sequence number, free the slot.
#[inline(never)]
fn end_actor<P: Platform>(link: &mut SlotLink<P>, rec: *mut SlotRecord, cb: *mut ControlBlock) {
    let port = &link.port;
    let me = port.slot;
    port.dependents(me, |s| port.or_pending(s, PENDING_KILL));
    let mut rounds = 0u32;
    loop {
        // During a shutdown, children claimed but never started do not
        // start: only live ones are waited for.
        let waiting = if port.shutting_down() { port.children(me, |_| {}) } else { port.dependents(me, |_| {}) };
        if waiting == 0 {
            break;
        }
        rounds = rounds.wrapping_add(1).max(1);
        // A child claimed but not started when the KILL went out gets it
        // again (its create keeps a KILL; this is cheap).
        if rounds.is_multiple_of(1024) {
            port.dependents(me, |s| port.or_pending(s, PENDING_KILL));
        }
        P::relax(rounds);
    }
    let state = LifecycleState::try_from(
        // SAFETY: cb valid; `state` is the slot's own.
        unsafe { sys::load_relaxed_u32(&raw const (*cb).state) },
    )
    .unwrap_or(LifecycleState::FAILED);
    if state == LifecycleState::FAILED {
        // Killed while Failed (after an escalation): the queue was kept for
        // a restart that will not come.
        set_cb_state::<P>(cb, LifecycleState::DRAINING, 0);
    }
    SlotPort::<P>::lane0(|| {
        // SAFETY: device header and own record / control block; atomics.
        unsafe {
            let seq = gpu::fetch_add_u64(&raw mut (*port.header()).next_stop_seq, 1) + 1;
            sys::store_relaxed_u64(&raw mut (*cb).stop_seq, seq);
        }
        0
    });
    reject_leftovers::<P>(link);
    set_cb_state::<P>(cb, LifecycleState::TERMINATED, 0);
    set_cb_state::<P>(cb, LifecycleState::DORMANT, 0);
    SlotPort::<P>::lane0(|| {
        // SAFETY: own record; `live` and `claim` are atomic-only. `live`
        // goes first: a slot is claimable only once it is not live.
        unsafe {
            // Requests aimed at this actor die with it.
            gpu::swap_u32(&raw mut (*rec).pending, 0);
            gpu::store_release_u32(&raw mut (*rec).live, 0);
            gpu::store_release_u32(&raw mut (*rec).claim, CLAIM_FREE);
        }
        0
    });
}

/// Answer requests still queued for a slot without an actor (error
/// replies) and drop its K2K messages, counting them as dead letters: the
/// incarnation's own `reject_queued` in a throwaway loop.
#[inline(never)]
fn reject_leftovers<P: Platform>(link: &mut SlotLink<P>) {
    // SAFETY: the slot's own memory; `Reject` runs no handler.
    unsafe { crate::runtime::reject_only::<P>(link) };
}
