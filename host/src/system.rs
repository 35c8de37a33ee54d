//! Actor systems: many actors of several types in one persistent launch.
//!
//! [`RingKernel::launch_system`] starts one execution (CUDA: one kernel
//! with a thread block per slot; CPU: a thread per slot) whose slots are all
//! Dormant. Actors are then created, restarted and killed in the slots
//! without a new launch — by the host through [`ActorSystem`], and by actors
//! through their `Context` (`spawn`, `send_to`, `lookup`, `publish`). The
//! device side and the memory layout are described in
//! `ringkernel_device::system` and `ringkernel_shared::system`.
//!
//! ```
//! use ringkernel::{Backend, RingKernel, Spawn, SystemOptions};
//! use ringkernel_example_actors::{Counter, CounterCmd, ExampleSystem};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rk = RingKernel::builder().backend(Backend::Cpu).build().await?;
//! let system = rk.launch_system::<ExampleSystem>(SystemOptions::new(4).spawn_pool(1)).await?;
//! let counter = system.spawn::<Counter>(Spawn::new().named("counter/a")).await?;
//! assert_eq!(counter.request(CounterCmd::add(2)).await?.total, 2);
//! assert_eq!(system.lookup("counter/*")?, vec![counter.id()]);
//! system.restart(counter.id()).await?; // fresh state, same slot, same launch
//! assert_eq!(counter.request(CounterCmd::add(1)).await?.total, 1);
//! system.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## What the host can do
//!
//! | call | effect |
//! | --- | --- |
//! | [`ActorSystem::spawn`] | create an actor in a free host slot (optionally under a parent, with a name) |
//! | [`ActorSystem::actor`] | a [`KernelHandle`] to any live actor, e.g. one an actor spawned |
//! | [`ActorSystem::restart`] | fresh state from `create`, same slot and id, queue kept |
//! | [`ActorSystem::kill`] | kill an actor and its whole subtree (children first), free the slots |
//! | [`ActorSystem::register`] / [`lookup`](ActorSystem::lookup) | names, `*` lookup (actors look up too) |
//! | [`ActorSystem::subscribe`] / [`publish`](ActorSystem::publish) | topics with `*` / `#` (actors publish too) |
//! | [`ActorSystem::info`] | state, generation, parent, restarts, stop order of a slot |

use crate::actor::ActorShared;
use crate::backend::cpu::HostPlatform;
use crate::backend::{DeviceBlock, Execution, HostBlock, SystemExecution, SystemProgram};
use crate::error::{ExecutionError, LaunchError, LifecycleError};
use crate::handle::KernelHandle;
use crate::poller::Registration;
use crate::runtime::{LaunchOptions, RingKernel, RuntimeCore};
use crate::sync::lock;
use ringkernel_device::atomic::sys;
use ringkernel_device::queue::{Consumer, Producer};
use ringkernel_device::{Actor, ChildSpec, SystemEntry};
use ringkernel_shared::control::FLAG_AUTO_ACTIVATE;
use ringkernel_shared::registry::{Registry, RegistryError};
use ringkernel_shared::supervision::{NO_PARENT, RestartPolicy};
use ringkernel_shared::system::{
    DIRECTORY_NAMES, DIRECTORY_SUBSCRIPTIONS, Directory, SlotPointers, SubscribeError, Subscriptions, SystemControl,
    SystemLayout, k2k_initial_seq,
};
use ringkernel_shared::{Command, ControlBlock, ENVELOPE_BYTES, LifecycleState, RingHeader};
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long system operations wait by yielding before they sleep.
const SPIN_WAIT: Duration = Duration::from_millis(2);

/// Most slots one system may have.
pub const MAX_SLOTS: u32 = 4096;

/// How to launch an actor system.
#[derive(Clone, Debug)]
pub struct SystemOptions {
    /// Slots (actors alive at once), 1 ..= [`MAX_SLOTS`].
    pub slots: u32,
    /// Slots reserved for actors spawned by actors (the last ones); the
    /// others are for [`ActorSystem::spawn`].
    pub spawn_pool: u32,
    /// Slots of each K2K inbox (a power of two).
    pub k2k_capacity: u32,
    /// Per-actor options: inbox/outbox/output capacities, timeouts. Every
    /// slot has these host queues.
    pub actor: LaunchOptions,
    /// Policy of the root supervisor (the parent of top-level actors).
    pub root: ChildSpec,
}

impl SystemOptions {
    /// `slots` slots, none reserved for spawning, K2K inboxes of 64, the
    /// default [`LaunchOptions`], and a one-for-one root supervisor allowing
    /// 3 restarts in 5 s.
    pub fn new(slots: u32) -> Self {
        Self { slots, spawn_pool: 0, k2k_capacity: 64, actor: LaunchOptions::default(), root: ChildSpec::default() }
    }

    /// Reserve the last `n` slots for actors spawned by actors.
    pub fn spawn_pool(mut self, n: u32) -> Self {
        self.spawn_pool = n;
        self
    }

    /// Slots of each K2K inbox.
    pub fn k2k_capacity(mut self, n: u32) -> Self {
        self.k2k_capacity = n;
        self
    }

    /// The root supervisor's policy.
    pub fn root(mut self, spec: ChildSpec) -> Self {
        self.root = spec;
        self
    }

    /// Per-actor options.
    pub fn actor_options(mut self, opts: LaunchOptions) -> Self {
        self.actor = opts;
        self
    }

    fn validate(&self) -> Result<SystemLayout, LaunchError> {
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(LaunchError::InvalidSystem(format!("slots must be 1..={MAX_SLOTS}, not {}", self.slots)));
        }
        if self.spawn_pool > self.slots {
            return Err(LaunchError::InvalidSystem(format!(
                "the spawn pool ({}) is larger than the system ({} slots)",
                self.spawn_pool, self.slots
            )));
        }
        if RestartPolicy::try_from(self.root.policy.as_u32()).is_err() || self.root.max_restarts > 0x00ff_ffff {
            return Err(LaunchError::InvalidSystem("invalid root supervisor".into()));
        }
        self.actor.validate()?;
        SystemLayout::new(self.slots, self.k2k_capacity)
            .map_err(|source| LaunchError::InvalidCapacity { queue: "k2k inbox", source })
    }
}

impl Default for SystemOptions {
    fn default() -> Self {
        Self::new(8)
    }
}

/// How to create one actor in a system ([`ActorSystem::spawn`]).
#[derive(Clone, Debug, Default)]
pub struct Spawn {
    name: Option<String>,
    parent: Option<u32>,
    children: ChildSpec,
    deactivated: bool,
}

impl Spawn {
    /// A top-level actor, unnamed, supervising its children one-for-one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register the actor under `name` (see `ringkernel_shared::registry`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Make it a child of actor `parent` (its supervisor).
    pub fn under(mut self, parent: u32) -> Self {
        self.parent = Some(parent);
        self
    }

    /// How it supervises its own children.
    pub fn supervising(mut self, spec: ChildSpec) -> Self {
        self.children = spec;
        self
    }

    /// Start it Deactivated instead of Active.
    pub fn deactivated(mut self) -> Self {
        self.deactivated = true;
        self
    }
}

/// Why a system operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemError {
    /// The system (or its runtime) was shut down.
    #[error("the actor system has been shut down")]
    ShutDown,
    /// Every host slot holds an actor.
    #[error("no free slot (the system has {host_slots} host slots, all in use)")]
    NoFreeSlot {
        /// Slots the host creates actors in.
        host_slots: u32,
    },
    /// No live actor has this id in this system.
    #[error("actor {0} is not alive in this system")]
    NoSuchActor(u32),
    /// The actor is of another type than asked for.
    #[error("actor {id} has type id {found:#x}, not {expected:#x}")]
    WrongType {
        /// The actor.
        id: u32,
        /// The type asked for.
        expected: u32,
        /// Its type.
        found: u32,
    },
    /// The system's actor set has no such type.
    #[error("type id {0:#x} is not in this system's actor set")]
    UnknownType(u32),
    /// A lifecycle command failed.
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// The actor did not reach the expected state in time.
    #[error("{what} did not complete within {waited:?}")]
    Timeout {
        /// The operation.
        what: &'static str,
        /// How long the host waited.
        waited: Duration,
    },
    /// The actor failed while starting (its `create`, or an unknown type).
    #[error("actor {id} failed while starting (error code {code})")]
    FailedToStart {
        /// The actor.
        id: u32,
        /// `last_error` of its control block.
        code: u32,
    },
    /// A name was refused.
    #[error("name refused: {0}")]
    Name(RegistryError),
    /// A subscription was refused.
    #[error("subscription refused: {0}")]
    Subscribe(SubscribeError),
    /// A topic was refused.
    #[error("invalid topic: {0}")]
    Topic(ringkernel_shared::topic::TopicError),
    /// The GPU (or a slot thread) failed.
    #[error("the system's execution failed")]
    Execution(#[source] ExecutionError),
}

/// What the host sees of one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    /// The actor id of the slot.
    pub id: u32,
    /// Lifecycle state (Dormant: no actor).
    pub state: LifecycleState,
    /// Type id of the current (or last) actor.
    pub type_id: u32,
    /// Parent actor id (`None`: top level).
    pub parent: Option<u32>,
    /// Incarnations of the slot so far.
    pub generation: u32,
    /// Restarts of the slot so far.
    pub restarts: u32,
    /// Order in which the last actor of the slot stopped (1-based, among all
    /// stops of the system; 0: none yet).
    pub stop_seq: u64,
    /// `last_error` of the control block.
    pub last_error: u32,
}

/// A running actor system. Cheap to clone.
#[derive(Clone)]
pub struct ActorSystem {
    inner: Arc<SystemInner>,
}

impl std::fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystem")
            .field("entry", &self.inner.entry)
            .field("slots", &self.inner.slots.len())
            .field("base_actor_id", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// Host-side directory state (the device reads the published copy).
struct DirectoryState {
    names: Registry<DIRECTORY_NAMES>,
    subs: Subscriptions<DIRECTORY_SUBSCRIPTIONS>,
}

pub(crate) struct SystemInner {
    entry: &'static str,
    type_ids: &'static [u32],
    rt: Arc<RuntimeCore>,
    slots: Vec<Arc<ActorShared>>,
    exec: Arc<dyn SystemExecution>,
    control: *mut SystemControl,
    directory: *mut Directory,
    dir: std::sync::Mutex<DirectoryState>,
    /// Host slots taken by `spawn`: the slot's stop sequence when it was
    /// taken. The slot is free again once it is Dormant with another stop
    /// sequence (the actor created there has come and gone: the slot writes
    /// its stop sequence before it goes Dormant). Neither the generation
    /// (bumped before the new actor leaves Dormant) nor the state alone
    /// tells a create in flight from a stopped actor.
    host_taken: std::sync::Mutex<Vec<Option<u64>>>,
    spawn_first: u32,
    base: u32,
    opts: SystemOptions,
    shut: AtomicBool,
    /// Keep the memory alive until the execution is joined (see Drop).
    _host: HostBlock,
    _device: DeviceBlock,
}

// SAFETY: the raw pointers point into `_host`, which SystemInner owns; the
// host writes `shutdown` and the directory only with atomic stores (under
// `dir`'s lock), the protocols of ringkernel_shared::system.
unsafe impl Send for SystemInner {}
// SAFETY: as above.
unsafe impl Sync for SystemInner {}

/// Adapts one slot of a system execution to the per-actor [`Execution`]
/// the host machinery (poller, handles) watches.
struct SlotExec {
    sys: Arc<dyn SystemExecution>,
    slot: u32,
}

impl Execution for SlotExec {
    fn poll_fault(&self) -> Option<ExecutionError> {
        self.sys.slot_fault(self.slot)
    }
    fn is_finished(&self) -> bool {
        self.sys.is_finished()
    }
    fn join(&self, timeout: Duration) -> Result<(), ExecutionError> {
        self.sys.join(timeout)
    }
    fn wake(&self) {
        self.sys.wake_slot(self.slot)
    }
}

/// The initial contents of the device region.
fn device_image(layout: &SystemLayout) -> Vec<u8> {
    let mut image = vec![0u8; layout.total];
    for s in 0..layout.slots {
        let rec = layout.record(s);
        // parent = NO_PARENT (offset 20), everything else zero.
        image[rec + 20..rec + 24].copy_from_slice(&NO_PARENT.to_le_bytes());
        let ring = layout.ring(s);
        let header = RingHeader {
            capacity: layout.k2k_capacity,
            slot_bytes: ENVELOPE_BYTES as u32,
            ..bytemuck::Zeroable::zeroed()
        };
        image[ring..ring + size_of::<RingHeader>()].copy_from_slice(bytemuck::bytes_of(&header));
        for i in 0..layout.k2k_capacity as usize {
            let at = ring + size_of::<RingHeader>() + i * ENVELOPE_BYTES;
            image[at..at + 8].copy_from_slice(&k2k_initial_seq(i as u64).to_le_bytes());
        }
    }
    image
}

impl RingKernel {
    /// Launch the actor system `S` (declared with
    /// `ringkernel_device::actor_system!`): every slot starts Dormant, in
    /// one persistent launch. Create actors with [`ActorSystem::spawn`].
    ///
    /// # Errors
    /// Invalid options ([`LaunchError::InvalidSystem`],
    /// [`LaunchError::InvalidCapacity`], …), [`LaunchError::ShutDown`],
    /// and backend failures, including more slots than the GPU holds at
    /// once ([`LaunchError::Start`]).
    pub async fn launch_system<S: SystemEntry + 'static>(
        &self,
        opts: SystemOptions,
    ) -> Result<ActorSystem, LaunchError> {
        let core = &self.core;
        if core.shut_down.load(Ordering::Acquire) {
            return Err(LaunchError::ShutDown);
        }
        let layout = opts.validate()?;
        let n = opts.slots;
        let base = core.reserve_ids(n)?;
        let a = &opts.actor;
        let flags = if a.auto_activate { FLAG_AUTO_ACTIVATE } else { 0 };
        let mut mems = Vec::with_capacity(n as usize);
        for s in 0..n {
            let mem =
                core.backend.alloc_actor(&crate::memory::ActorLayout::new(a.inbox_capacity, a.outbox_capacity)?)?;
            // SAFETY: freshly allocated, nothing runs over it yet; state 0 is Dormant.
            unsafe {
                mem.control().write(ControlBlock {
                    spec_parent: NO_PARENT,
                    parent: NO_PARENT,
                    ..ControlBlock::new(base + s, 0, flags)
                })
            };
            mems.push(mem);
        }
        let table_at = size_of::<SystemControl>();
        let dir_at = (table_at + n as usize * size_of::<SlotPointers>()).next_multiple_of(128);
        let host = core.backend.alloc_host_block(dir_at + size_of::<Directory>())?;
        let device = core.backend.alloc_device_block(&device_image(&layout))?;
        let control = host.ptr as *mut SystemControl;
        // SAFETY: `host` is zeroed, 128-aligned and large enough for the
        // control block, the slot table and the directory; not shared yet.
        unsafe {
            let table = host.ptr.add(table_at) as *mut SlotPointers;
            for (s, m) in mems.iter().enumerate() {
                let p = m.pointers();
                table.add(s).write(SlotPointers {
                    control: p.control as u64,
                    inbox: p.inbox as u64,
                    outbox: p.outbox as u64,
                    telemetry: p.telemetry as u64,
                });
            }
            control.write(SystemControl {
                slots: n,
                k2k_capacity: opts.k2k_capacity,
                spawn_first: n - opts.spawn_pool,
                base_actor_id: base,
                shutdown: 0,
                root_policy: opts.root.policy.as_u32(),
                root_max_restarts: opts.root.max_restarts,
                _pad: 0,
                root_window_ns: opts.root.window_ms as u64 * 1_000_000,
                slot_table: table as u64,
                device_region: device.addr,
                directory: host.ptr.add(dir_at) as u64,
                _reserved: [0; 8],
            });
        }
        let program =
            SystemProgram { entry: S::ENTRY, cpu_slot: ringkernel_device::run_slot::<S, HostPlatform>, slots: n };
        let exec = core.backend.start_system(&program, control)?;
        let mut slots = Vec::with_capacity(n as usize);
        for (s, mem) in mems.into_iter().enumerate() {
            // SAFETY: the runtime is the only producer of each slot's inbox
            // and the poller the only consumer of its outbox.
            let (inbox, outbox) = unsafe { (Producer::attach(mem.inbox_ring()), Consumer::attach(mem.outbox_ring())) };
            let exec = Box::new(SlotExec { sys: Arc::clone(&exec), slot: s as u32 });
            let name = format!("{}[{s}]", S::ENTRY);
            // SAFETY: `inbox` is the only producer of the slot's inbox, and
            // `exec` runs over its memory.
            let mut actor = unsafe {
                ActorShared::new(
                    base + s as u32,
                    name,
                    0,
                    core.kind,
                    a.clone(),
                    Arc::clone(&core.shared),
                    mem,
                    inbox,
                    exec,
                )
            };
            actor.slot = Some(s as u32);
            let actor = Arc::new(actor);
            core.shared
                .poller
                .register(Registration { actor: Arc::clone(&actor), outbox })
                .map_err(|_| LaunchError::ShutDown)?;
            slots.push(actor);
        }
        let inner = Arc::new(SystemInner {
            entry: S::ENTRY,
            type_ids: S::TYPE_IDS,
            rt: Arc::clone(core),
            slots,
            exec,
            control,
            // SAFETY: inside `host` (see above).
            directory: unsafe { host.ptr.add(dir_at) } as *mut Directory,
            dir: std::sync::Mutex::new(DirectoryState { names: Registry::new(), subs: Subscriptions::default() }),
            host_taken: std::sync::Mutex::new(vec![None; (n - opts.spawn_pool) as usize]),
            spawn_first: n - opts.spawn_pool,
            base,
            opts,
            shut: AtomicBool::new(false),
            _host: host,
            _device: device,
        });
        lock(&core.systems).push(Arc::clone(&inner));
        Ok(ActorSystem { inner })
    }
}

impl SystemInner {
    fn slot_of(&self, id: u32) -> Option<u32> {
        id.checked_sub(self.base).filter(|&s| (s as usize) < self.slots.len())
    }

    fn info(&self, s: u32) -> SlotInfo {
        let a = &self.slots[s as usize];
        let c = a.control_block();
        SlotInfo {
            id: a.id,
            state: a.state(),
            type_id: c.type_id,
            parent: (c.parent != NO_PARENT && c.parent < self.slots.len() as u32).then(|| self.base + c.parent),
            generation: c.generation,
            restarts: c.restarts,
            stop_seq: c.stop_seq,
            last_error: c.last_error,
        }
    }

    fn check(&self) -> Result<(), SystemError> {
        if self.shut.load(Ordering::Acquire) || self.rt.shut_down.load(Ordering::Acquire) {
            return Err(SystemError::ShutDown);
        }
        if let Some(f) = self.exec.slot_fault(0).filter(|_| self.exec.is_finished()) {
            return Err(SystemError::Execution(f));
        }
        Ok(())
    }

    /// Publish the directory to the device (sequence lock).
    fn publish_directory(&self, d: &DirectoryState) {
        // SAFETY: the directory lies in `_host`; the host is its only writer
        // (serialised by `dir`'s lock) and writes every word atomically;
        // readers check the version (see ringkernel_shared::system).
        unsafe {
            let version = &raw mut (*self.directory).version;
            let v = sys::load_relaxed_u32(version);
            sys::store_relaxed_u32(version, v.wrapping_add(1));
            sys::fence_release();
            let names = bytemuck::bytes_of(&d.names);
            let subs = bytemuck::bytes_of(&d.subs);
            let write = |dst: *mut u8, src: &[u8]| {
                for (i, w) in src.chunks_exact(4).enumerate() {
                    let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                    sys::store_relaxed_u32((dst as *mut u32).add(i), word);
                }
            };
            write(&raw mut (*self.directory).names as *mut u8, names);
            write(&raw mut (*self.directory).subscriptions as *mut u8, subs);
            sys::store_release_u32(version, v.wrapping_add(2));
        }
    }

    async fn wait_for(
        &self,
        what: &'static str,
        timeout: Duration,
        mut done: impl FnMut() -> Option<Result<(), SystemError>>,
    ) -> Result<(), SystemError> {
        let start = Instant::now();
        let mut round = 0u32;
        loop {
            if let Some(r) = done() {
                return r;
            }
            if let Some(f) = self.exec.slot_fault(0).filter(|_| self.exec.is_finished()) {
                return Err(SystemError::Execution(f));
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(SystemError::Timeout { what, waited: timeout });
            }
            // Slot operations take microseconds: yield (stay responsive)
            // for the first 2 ms, then back off like other host waits.
            if waited < SPIN_WAIT {
                tokio::task::yield_now().await;
            } else {
                crate::actor::host_backoff(&mut round).await;
            }
        }
    }

    fn post(&self, s: u32, cmd: Command) -> u32 {
        self.slots[s as usize].post_command(cmd)
    }
}

impl ActorSystem {
    /// Actor id of slot 0 (slot `s` hosts actor `base_actor_id() + s`).
    pub fn base_actor_id(&self) -> u32 {
        self.inner.base
    }

    /// Number of slots.
    pub fn slots(&self) -> u32 {
        self.inner.slots.len() as u32
    }

    /// What the host sees of the slot of actor `id`.
    pub fn info(&self, id: u32) -> Result<SlotInfo, SystemError> {
        let s = self.inner.slot_of(id).ok_or(SystemError::NoSuchActor(id))?;
        Ok(self.inner.info(s))
    }

    /// Create an actor of type `A` in a free host slot, wait until it is
    /// Active (or Deactivated), and return a handle to it.
    ///
    /// # Errors
    /// [`SystemError::UnknownType`], [`SystemError::NoFreeSlot`],
    /// [`SystemError::NoSuchActor`] for a parent that is not alive,
    /// [`SystemError::Name`] (nothing is created), [`SystemError::FailedToStart`],
    /// [`SystemError::Timeout`].
    pub async fn spawn<A: Actor>(&self, spec: Spawn) -> Result<KernelHandle<A>, SystemError> {
        let inner = &self.inner;
        inner.check()?;
        if !inner.type_ids.contains(&A::TYPE_ID) {
            return Err(SystemError::UnknownType(A::TYPE_ID));
        }
        if let Some(name) = &spec.name {
            ringkernel_shared::registry::validate_name(name.as_bytes())
                .map_err(|e| SystemError::Name(RegistryError::InvalidName(e)))?;
            if let Some(existing) = lock(&inner.dir).names.lookup(name.as_bytes()) {
                return Err(SystemError::Name(RegistryError::Duplicate { existing }));
            }
        }
        let parent_slot = match spec.parent {
            None => NO_PARENT,
            Some(p) => {
                let ps = inner.slot_of(p).ok_or(SystemError::NoSuchActor(p))?;
                if !inner.slots[ps as usize].state().accepts_messages() {
                    return Err(SystemError::NoSuchActor(p));
                }
                ps
            }
        };
        // A host slot that is free: not taken, and Dormant.
        let s = {
            let mut taken = lock(&inner.host_taken);
            for (i, t) in taken.iter_mut().enumerate() {
                if let Some(at) = *t {
                    let info = inner.info(i as u32);
                    if info.state == LifecycleState::DORMANT && info.stop_seq != at {
                        // Its actor was killed or stopped since: free again.
                        *t = None;
                    }
                }
            }
            let free = taken
                .iter()
                .position(Option::is_none)
                .ok_or(SystemError::NoFreeSlot { host_slots: inner.spawn_first })?;
            taken[free] = Some(inner.info(free as u32).stop_seq);
            free as u32
        };
        let actor = &inner.slots[s as usize];
        let before = inner.info(s).generation;
        let flags = if spec.deactivated || !inner.opts.actor.auto_activate { 0 } else { FLAG_AUTO_ACTIVATE };
        actor.write_spec(A::TYPE_ID, parent_slot, &spec.children, flags);
        let seq = inner.post(s, Command::CREATE);
        inner.rt.shared.poller.kick();
        let timeout = inner.opts.actor.command_timeout;
        let started = inner
            .wait_for("spawn", timeout, || {
                if !actor.acked(seq) {
                    return None;
                }
                let i = inner.info(s);
                if i.generation == before {
                    return None;
                }
                match i.state {
                    LifecycleState::ACTIVE | LifecycleState::DEACTIVATED => Some(Ok(())),
                    LifecycleState::FAILED => Some(Err(SystemError::FailedToStart { id: i.id, code: i.last_error })),
                    _ => None,
                }
            })
            .await;
        if let Err(e) = started {
            lock(&inner.host_taken)[s as usize] = None;
            return Err(e);
        }
        if let Some(name) = &spec.name
            && let Err(e) = self.register(name, actor.id)
        {
            let _ = self.kill(actor.id).await;
            return Err(e);
        }
        Ok(self.handle(s))
    }

    fn handle<A>(&self, s: u32) -> KernelHandle<A> {
        KernelHandle {
            actor: Arc::clone(&self.inner.slots[s as usize]),
            runtime: Arc::clone(&self.inner.rt),
            _actor: PhantomData,
        }
    }

    /// A handle to the live actor `id` (for example one that an actor
    /// spawned), checked to be of type `A`.
    pub fn actor<A: Actor>(&self, id: u32) -> Result<KernelHandle<A>, SystemError> {
        let s = self.inner.slot_of(id).ok_or(SystemError::NoSuchActor(id))?;
        let i = self.inner.info(s);
        if i.state == LifecycleState::DORMANT {
            return Err(SystemError::NoSuchActor(id));
        }
        if i.type_id != A::TYPE_ID {
            return Err(SystemError::WrongType { id, expected: A::TYPE_ID, found: i.type_id });
        }
        Ok(self.handle(s))
    }

    /// Restart actor `id` without a new launch: its state is created afresh
    /// by `create`, in the same slot with the same id; messages already
    /// queued are kept and served by the new incarnation. Works on a Failed
    /// actor too (one whose supervisor gave up). Returns when the new
    /// incarnation is Active or Deactivated.
    pub async fn restart(&self, id: u32) -> Result<(), SystemError> {
        let inner = &self.inner;
        inner.check()?;
        let s = inner.slot_of(id).ok_or(SystemError::NoSuchActor(id))?;
        let before = inner.info(s);
        if before.state == LifecycleState::DORMANT || before.state == LifecycleState::TERMINATED {
            return Err(SystemError::NoSuchActor(id));
        }
        let actor = &inner.slots[s as usize];
        let seq = inner.post(s, Command::RESTART);
        inner.rt.shared.poller.kick();
        inner
            .wait_for("restart", inner.opts.actor.command_timeout, || {
                let i = inner.info(s);
                if !actor.acked(seq) || i.generation == before.generation {
                    return None;
                }
                match i.state {
                    LifecycleState::ACTIVE | LifecycleState::DEACTIVATED => Some(Ok(())),
                    LifecycleState::DORMANT => Some(Err(SystemError::NoSuchActor(id))),
                    _ => None,
                }
            })
            .await
    }

    /// Kill actor `id` and its whole subtree, children first; each slot
    /// answers the requests still queued with an error and becomes free.
    /// Returns when the actor's slot is Dormant.
    pub async fn kill(&self, id: u32) -> Result<(), SystemError> {
        let inner = &self.inner;
        inner.check()?;
        let s = inner.slot_of(id).ok_or(SystemError::NoSuchActor(id))?;
        let before = inner.info(s);
        if before.state == LifecycleState::DORMANT {
            return Err(SystemError::NoSuchActor(id));
        }
        inner.post(s, Command::KILL);
        inner.rt.shared.poller.kick();
        let r = inner
            .wait_for("kill", inner.opts.actor.terminate_timeout, || {
                let i = inner.info(s);
                (i.state == LifecycleState::DORMANT && i.stop_seq != before.stop_seq).then_some(Ok(()))
            })
            .await;
        let mut d = lock(&inner.dir);
        let dropped = d.names.unregister_actor(id) + d.subs.unsubscribe(id, None);
        if dropped > 0 {
            inner.publish_directory(&d);
        }
        r
    }

    /// Register `name` for actor `id` (unique; see
    /// `ringkernel_shared::registry` for the rules). Actors see it through
    /// `Context::lookup`.
    pub fn register(&self, name: &str, id: u32) -> Result<(), SystemError> {
        self.inner.check()?;
        self.inner.slot_of(id).ok_or(SystemError::NoSuchActor(id))?;
        let mut d = lock(&self.inner.dir);
        d.names.register(name.as_bytes(), id).map_err(SystemError::Name)?;
        self.inner.publish_directory(&d);
        Ok(())
    }

    /// Remove `name`; returns the actor it named.
    pub fn unregister(&self, name: &str) -> Option<u32> {
        let mut d = lock(&self.inner.dir);
        let id = d.names.unregister(name.as_bytes());
        if id.is_some() {
            self.inner.publish_directory(&d);
        }
        id
    }

    /// Actors whose registered name matches `pattern` (`*` matches within
    /// one segment), in registration order.
    pub fn lookup(&self, pattern: &str) -> Result<Vec<u32>, SystemError> {
        ringkernel_shared::registry::validate_name_pattern(pattern.as_bytes())
            .map_err(|e| SystemError::Name(RegistryError::InvalidName(e)))?;
        let d = lock(&self.inner.dir);
        let mut out = vec![0u32; DIRECTORY_NAMES];
        let n = d.names.lookup_all(pattern.as_bytes(), &mut out);
        out.truncate(n);
        Ok(out)
    }

    /// Subscribe actor `id` to topics matching `pattern` (`*`: one segment,
    /// `#`: the rest). Messages published on them go to its K2K inbox.
    pub fn subscribe(&self, id: u32, pattern: &str) -> Result<(), SystemError> {
        self.inner.check()?;
        self.inner.slot_of(id).ok_or(SystemError::NoSuchActor(id))?;
        let mut d = lock(&self.inner.dir);
        d.subs.subscribe(pattern.as_bytes(), id).map_err(SystemError::Subscribe)?;
        self.inner.publish_directory(&d);
        Ok(())
    }

    /// Remove actor `id`'s subscriptions to `pattern` (all of them with
    /// `None`); returns how many went.
    pub fn unsubscribe(&self, id: u32, pattern: Option<&str>) -> usize {
        let mut d = lock(&self.inner.dir);
        let n = d.subs.unsubscribe(id, pattern.map(str::as_bytes));
        if n > 0 {
            self.inner.publish_directory(&d);
        }
        n
    }

    /// Publish `msg` (a message of actor type `A`) on `topic` from the
    /// host: each subscriber gets it in its host inbox, waiting for room.
    /// Returns the subscribers it went to.
    pub async fn publish<A: Actor>(&self, topic: &str, msg: A::Msg) -> Result<Vec<u32>, SystemError> {
        self.inner.check()?;
        ringkernel_shared::topic::validate_topic(topic.as_bytes()).map_err(SystemError::Topic)?;
        let ids = {
            let d = lock(&self.inner.dir);
            let mut out = vec![0u32; DIRECTORY_SUBSCRIPTIONS];
            let n = d.subs.subscribers(topic.as_bytes(), &mut out);
            out.truncate(n);
            out
        };
        let mut sent = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(s) = self.inner.slot_of(id) else { continue };
            if self.inner.info(s).type_id != A::TYPE_ID {
                continue;
            }
            if self.handle::<A>(s).send(msg).await.is_ok() {
                sent.push(id);
            }
        }
        Ok(sent)
    }

    /// Kill every actor, end the launch and wait for it. Handles report
    /// their actors as stopped afterwards. Calling it again does nothing.
    pub async fn shutdown(&self) -> Result<(), SystemError> {
        let inner = &self.inner;
        if inner.shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        inner.begin_shutdown();
        let timeout = inner.opts.actor.terminate_timeout;
        let start = Instant::now();
        let mut round = 0u32;
        while !inner.exec.is_finished() {
            if start.elapsed() >= timeout {
                return Err(SystemError::Timeout { what: "system shutdown", waited: timeout });
            }
            crate::actor::host_backoff(&mut round).await;
        }
        inner.exec.join(Duration::ZERO).map_err(SystemError::Execution)
    }
}

impl SystemInner {
    /// Post KILL to every live slot and set `shutdown` (Dormant slots
    /// return, killed ones return once Dormant).
    pub(crate) fn begin_shutdown(&self) {
        self.shut.store(true, Ordering::Release);
        for (s, a) in self.slots.iter().enumerate() {
            let st = a.state();
            if st != LifecycleState::DORMANT {
                self.post(s as u32, Command::KILL);
            }
        }
        // SAFETY: `control` lies in `_host`; `shutdown` is read atomically.
        unsafe { sys::store_release_u32(&raw mut (*self.control).shutdown, 1) };
        for s in 0..self.slots.len() as u32 {
            self.exec.wake_slot(s);
        }
    }

    /// Whether the execution has ended.
    pub(crate) fn finished(&self) -> bool {
        self.exec.is_finished()
    }
}

impl Drop for SystemInner {
    fn drop(&mut self) {
        if !self.exec.is_finished() {
            self.begin_shutdown();
        }
        if self.exec.join(Duration::from_secs(2)).is_err() {
            // Still running: the memory must outlive it.
            let host =
                std::mem::replace(&mut self._host, HostBlock { ptr: std::ptr::null_mut(), _owner: Box::new(Leaked) });
            std::mem::forget(host);
            let dev = std::mem::replace(&mut self._device, DeviceBlock { addr: 0, _owner: Box::new(Leaked) });
            std::mem::forget(dev);
        }
    }
}

/// Placeholder owner for memory deliberately leaked.
struct Leaked;
impl crate::memory::MemoryOwner for Leaked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_image_initialises_rings_and_records() {
        let l = SystemLayout::new(3, 4).unwrap();
        let img = device_image(&l);
        assert_eq!(img.len(), l.total);
        for s in 0..3 {
            let rec = l.record(s);
            assert_eq!(&img[rec + 20..rec + 24], &NO_PARENT.to_le_bytes());
            let ring = l.ring(s);
            let h: RingHeader = bytemuck::pod_read_unaligned(&img[ring..ring + 256]);
            assert_eq!((h.capacity, h.slot_bytes, h.tail, h.head), (4, 128, 0, 0));
            for i in 0..4 {
                let at = ring + 256 + i * 128;
                assert_eq!(u64::from_le_bytes(img[at..at + 8].try_into().unwrap()), i as u64);
            }
        }
    }

    #[test]
    fn options_are_validated() {
        assert!(matches!(SystemOptions::new(0).validate(), Err(LaunchError::InvalidSystem(_))));
        assert!(matches!(SystemOptions::new(2).spawn_pool(3).validate(), Err(LaunchError::InvalidSystem(_))));
        assert!(matches!(
            SystemOptions::new(2).k2k_capacity(3).validate(),
            Err(LaunchError::InvalidCapacity { queue: "k2k inbox", .. })
        ));
        assert!(SystemOptions::new(4).spawn_pool(4).validate().is_ok());
    }
}
