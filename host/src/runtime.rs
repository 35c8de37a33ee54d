//! [`RingKernel`]: the runtime, its builder, and launch options.
//!
//! A runtime owns one backend, one host clock and one poller thread, and
//! launches actors:
//!
//! ```text
//! launch::<A>(name, opts)
//!   validate options ── allocate actor memory (backend) ── write the control block
//!   start the actor loop (backend: a thread, or a persistent kernel)
//!   hand the outbox to the poller
//!   wait for Initializing → Active (auto-activate) or Deactivated
//!   → KernelHandle<A>
//! ```
//!
//! Dropping the runtime and every handle kills the remaining actors (KILL,
//! then a join of at most 2 s each) and stops the poller; call
//! [`RingKernel::shutdown`] to terminate them in order instead.

use crate::actor::{ActorShared, RuntimeShared, host_backoff};
use crate::backend::cpu::HostPlatform;
use crate::backend::{self, ActorProgram, Backend, BackendImpl, BackendKind, GangProgram};
use crate::clock::{HOST_NODE_ID, HostClock};
use crate::error::{BuildError, LaunchError, LifecycleError, ShutdownError};
use crate::gang::GangOptions;
use crate::handle::KernelHandle;
use crate::memory::ActorLayout;
use crate::poller::{self, Registration};
use crate::recovery::{Recovery, RecoveryPolicy};
use crate::sync::lock;
use crate::system::SystemInner;
use ringkernel_device::queue::{Consumer, Producer};
use ringkernel_device::{KernelEntry, run_actor, run_actor_with_gang};
use ringkernel_shared::control::FLAG_AUTO_ACTIVATE;
use ringkernel_shared::{Command, ControlBlock, LifecycleState, PAYLOAD_BYTES};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How an actor is launched. `LaunchOptions::default()` auto-activates.
///
/// | option | default | |
/// | --- | --- | --- |
/// | auto-activate | yes | [`LaunchOptions::without_auto_activate`] starts Deactivated |
/// | [`inbox_capacity`](LaunchOptions::inbox_capacity) | 1024 | slots of the H2K ring (power of two, 2 ..= 2^24) |
/// | [`outbox_capacity`](LaunchOptions::outbox_capacity) | 1024 | slots of the K2H ring (power of two, 2 ..= 2^24) |
/// | [`output_capacity`](LaunchOptions::output_capacity) | 1024 | outputs buffered on the host |
/// | [`block_size`](LaunchOptions::block_size) | 32 | GPU threads per block (1 ..= 1024; CUDA: a multiple of 32; the CPU backend ignores it) |
/// | [`cooperative`](LaunchOptions::cooperative) | no | CUDA: launch with `cuLaunchCooperativeKernel` (the CPU backend ignores it) |
/// | [`request_timeout`](LaunchOptions::request_timeout) | 5 s | default timeout of `request` |
/// | [`command_timeout`](LaunchOptions::command_timeout) | 5 s | wait for a command's acknowledgement (and for start-up) |
/// | [`terminate_timeout`](LaunchOptions::terminate_timeout) | 30 s | wait for draining to finish in `terminate` |
/// | [`stall_timeout`](LaunchOptions::stall_timeout) | 2 s | no heartbeat and no message taken for this long: the actor is reported stalled |
/// | [`gang`](LaunchOptions::gang) | none | worker blocks for an actor whose kernel declares a gang (required for such a kernel) |
/// | [`recovery`](LaunchOptions::recovery) | none | restart a crashed actor from its last checkpoint ([`crate::recovery`]) |
#[derive(Clone, Debug)]
pub struct LaunchOptions {
    pub(crate) auto_activate: bool,
    pub(crate) inbox_capacity: u32,
    pub(crate) outbox_capacity: u32,
    pub(crate) output_capacity: usize,
    pub(crate) block_size: u32,
    pub(crate) cooperative: bool,
    pub(crate) request_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) terminate_timeout: Duration,
    pub(crate) stall_timeout: Duration,
    pub(crate) gang: Option<GangOptions>,
    pub(crate) recovery: RecoveryPolicy,
}

impl Default for LaunchOptions {
    fn default() -> Self {
        Self {
            auto_activate: true,
            inbox_capacity: 1024,
            outbox_capacity: 1024,
            output_capacity: 1024,
            block_size: 32,
            cooperative: false,
            request_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            terminate_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(2),
            gang: None,
            recovery: RecoveryPolicy::none(),
        }
    }
}

impl LaunchOptions {
    /// Start Deactivated: messages queue up until [`KernelHandle::activate`].
    pub fn without_auto_activate(mut self) -> Self {
        self.auto_activate = false;
        self
    }

    /// Slots of the inbox ring (a power of two, 2 ..= 2^24).
    pub fn inbox_capacity(mut self, slots: u32) -> Self {
        self.inbox_capacity = slots;
        self
    }

    /// Slots of the outbox ring (a power of two, 2 ..= 2^24).
    pub fn outbox_capacity(mut self, slots: u32) -> Self {
        self.outbox_capacity = slots;
        self
    }

    /// Outputs buffered on the host (at least 1); see [`KernelHandle::outputs`].
    pub fn output_capacity(mut self, outputs: usize) -> Self {
        self.output_capacity = outputs;
        self
    }

    /// GPU threads per block of the actor's kernel (1 ..= 1024; the CUDA
    /// backend runs an actor on one full warp, so there it must be a
    /// multiple of 32).
    pub fn block_size(mut self, threads: u32) -> Self {
        self.block_size = threads;
        self
    }

    /// Launch the actor's kernel as a cooperative launch
    /// (`cuLaunchCooperativeKernel`): the driver then guarantees that all of
    /// its blocks are resident at once, or refuses the launch. The CPU
    /// backend ignores it.
    pub fn cooperative(mut self, cooperative: bool) -> Self {
        self.cooperative = cooperative;
        self
    }

    /// Default timeout of [`KernelHandle::request`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long lifecycle commands (and start-up) wait for the actor.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// How long [`KernelHandle::terminate`] waits for the actor to drain.
    pub fn terminate_timeout(mut self, timeout: Duration) -> Self {
        self.terminate_timeout = timeout;
        self
    }

    /// How long a live actor may go without a heartbeat and without taking a
    /// message before [`KernelHandle::is_stalled`] reports it (a handler that
    /// never returns, a kernel that hangs). An idle actor still beats (every
    /// 10 ms), and a busy one every 64 batches.
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// The gang of worker blocks for an actor whose kernel was declared
    /// with `actor_kernel!(entry, Actor, gang = Work)` (see
    /// [`crate::gang`]). On CUDA the launch becomes a cooperative launch of
    /// `1 + workers` blocks of the gang's thread count.
    pub fn gang(mut self, gang: GangOptions) -> Self {
        self.gang = Some(gang);
        self
    }

    /// What happens when the actor's execution crashes (a CPU panic, a GPU
    /// trap): [`RecoveryPolicy::restart`] restarts it from its last
    /// checkpoint and replays or fails back what it had accepted (see
    /// [`crate::recovery`]). On CUDA such an actor runs in a worker process
    /// of its own ([`crate::cuda::isolated`]).
    pub fn recovery(mut self, policy: RecoveryPolicy) -> Self {
        self.recovery = policy;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), LaunchError> {
        if let Some(g) = &self.gang {
            g.validate()?;
        }
        if !(1..=1024).contains(&self.block_size) {
            return Err(LaunchError::InvalidBlockSize(self.block_size));
        }
        if self.output_capacity == 0 {
            return Err(LaunchError::InvalidOutputCapacity);
        }
        // Ring capacities are checked by the memory layout.
        crate::memory::ActorLayout::new(self.inbox_capacity, self.outbox_capacity).map(drop)
    }
}

/// Builds a [`RingKernel`].
#[derive(Clone, Debug, Default)]
pub struct RingKernelBuilder {
    backend: Backend,
}

impl RingKernelBuilder {
    /// Which backend to use (default [`Backend::Auto`]).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Select the backend and start the poller thread.
    ///
    /// Must run inside a Tokio runtime with the time driver enabled
    /// (`#[tokio::main]` and `#[tokio::test]` enable it).
    ///
    /// # Errors
    /// [`BuildError::BackendUnavailable`] when [`Backend::Cuda`] cannot run
    /// here ([`Backend::Auto`] falls back to the CPU instead);
    /// [`BuildError::NoTokioRuntime`]; [`BuildError::Poller`].
    ///
    /// # Cancel safety
    /// Nothing is started until the future completes; dropping it is safe.
    pub async fn build(self) -> Result<RingKernel, BuildError> {
        tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoTokioRuntime)?;
        let (backend, fallback) = backend::select(self.backend)?;
        let clock = Arc::new(HostClock::new());
        let (poller, join) = poller::spawn(Arc::clone(&clock)).map_err(BuildError::Poller)?;
        let shared = Arc::new(RuntimeShared { clock, next_correlation: AtomicU64::new(1), poller });
        let kind = backend.kind();
        Ok(RingKernel {
            core: Arc::new(RuntimeCore {
                backend: Arc::from(backend),
                isolated: std::sync::OnceLock::new(),
                kind,
                fallback,
                shared,
                actors: Mutex::new(Vec::new()),
                systems: Mutex::new(Vec::new()),
                poller_thread: Mutex::new(Some(join)),
                next_actor_id: AtomicU32::new(1),
                shut_down: AtomicBool::new(false),
            }),
        })
    }
}

/// What the runtime and its handles share.
pub(crate) struct RuntimeCore {
    pub(crate) backend: Arc<dyn BackendImpl>,
    /// CUDA only: the backend of actors with a restarting recovery policy
    /// (each in a worker process of its own), made on first use.
    isolated: std::sync::OnceLock<Arc<dyn BackendImpl>>,
    pub(crate) kind: BackendKind,
    fallback: Option<BuildError>,
    pub(crate) shared: Arc<RuntimeShared>,
    actors: Mutex<Vec<Arc<ActorShared>>>,
    /// Actor systems launched by this runtime.
    pub(crate) systems: Mutex<Vec<Arc<SystemInner>>>,
    poller_thread: Mutex<Option<JoinHandle<()>>>,
    next_actor_id: AtomicU32,
    pub(crate) shut_down: AtomicBool,
}

impl RuntimeCore {
    /// The backend that runs an actor launched with `opts`.
    fn backend_for(&self, opts: &LaunchOptions) -> Result<Arc<dyn BackendImpl>, LaunchError> {
        if self.kind != BackendKind::Cuda || !opts.recovery.is_restart() {
            return Ok(Arc::clone(&self.backend));
        }
        if let Some(b) = self.isolated.get() {
            return Ok(Arc::clone(b));
        }
        let b = crate::cuda::isolated::backend()?;
        Ok(Arc::clone(self.isolated.get_or_init(|| b)))
    }

    /// Reserve `n` consecutive actor ids; returns the first.
    pub(crate) fn reserve_ids(&self, n: u32) -> Result<u32, LaunchError> {
        self.next_actor_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| {
                id.checked_add(n).filter(|&end| end < HOST_NODE_ID)
            })
            .map_err(|_| LaunchError::TooManyActors)
    }
}

impl Drop for RuntimeCore {
    fn drop(&mut self) {
        for a in lock(&self.actors).iter() {
            a.kill_now();
        }
        for s in lock(&self.systems).iter() {
            s.begin_shutdown();
        }
        self.shared.poller.request_stop();
        if let Some(t) = lock(&self.poller_thread).take() {
            // The poller makes one final pass and returns; a panic in it has
            // already been reported by the panic hook.
            let _ = t.join();
        }
    }
}

/// The RingKernel runtime: launches actors on one backend and serves their
/// messages. Cheap to clone (clones share the runtime).
///
/// ```
/// use ringkernel::{Backend, LaunchOptions, RingKernel};
/// use ringkernel_example_actors::{Counter, CounterCmd};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let rk = RingKernel::builder().backend(Backend::Cpu).build().await?;
/// let counter = rk.launch::<Counter>("counter", LaunchOptions::default()).await?;
/// assert_eq!(counter.request(CounterCmd::add(40)).await?.total, 40);
/// assert_eq!(counter.request(CounterCmd::add(2)).await?.total, 42);
/// rk.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RingKernel {
    pub(crate) core: Arc<RuntimeCore>,
}

impl std::fmt::Debug for RingKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingKernel")
            .field("backend", &self.core.kind)
            .field("actors", &lock(&self.core.actors).len())
            .field("shut_down", &self.core.shut_down.load(Ordering::Relaxed))
            .finish()
    }
}

impl RingKernel {
    /// A builder (default backend: [`Backend::Auto`]).
    pub fn builder() -> RingKernelBuilder {
        RingKernelBuilder::default()
    }

    /// The backend actors run on.
    pub fn backend(&self) -> BackendKind {
        self.core.kind
    }

    /// Why [`Backend::Auto`] did not pick CUDA (`None` otherwise).
    pub fn fallback_reason(&self) -> Option<&BuildError> {
        self.core.fallback.as_ref()
    }

    /// Whether [`RingKernel::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.core.shut_down.load(Ordering::Acquire)
    }

    /// The host's current hybrid-logical-clock stamp.
    pub fn now(&self) -> ringkernel_shared::HlcTimestamp {
        self.core.shared.clock.peek()
    }

    /// Launch an actor of type `A` named `name`, and wait until it is Active
    /// (or Deactivated, with [`LaunchOptions::without_auto_activate`]).
    ///
    /// # Errors
    /// Invalid options ([`LaunchError::InvalidCapacity`],
    /// [`LaunchError::InvalidBlockSize`], ...), [`LaunchError::EmptyName`],
    /// [`LaunchError::ShutDown`], backend failures
    /// ([`LaunchError::OutOfMemory`], [`LaunchError::Start`]), and an actor
    /// that stops or hangs while starting ([`LaunchError::FailedToStart`],
    /// [`LaunchError::StartTimeout`]).
    ///
    /// # Cancel safety
    /// Dropping the future after the actor was started leaves it running
    /// with no handle; the runtime still kills it at shutdown or drop.
    pub async fn launch<A: KernelEntry + 'static>(
        &self,
        name: impl Into<String>,
        opts: LaunchOptions,
    ) -> Result<KernelHandle<A>, LaunchError> {
        const { assert!(size_of::<A::Msg>() <= PAYLOAD_BYTES, "Actor::Msg is larger than an envelope payload") };
        const { assert!(size_of::<A::Reply>() <= PAYLOAD_BYTES, "Actor::Reply is larger than an envelope payload") };
        let core = &self.core;
        if core.shut_down.load(Ordering::Acquire) {
            return Err(LaunchError::ShutDown);
        }
        let name = name.into();
        if name.is_empty() {
            return Err(LaunchError::EmptyName);
        }
        opts.validate()?;
        match (A::GANG, &opts.gang) {
            (Some(_), None) => {
                return Err(LaunchError::InvalidGang(format!(
                    "the kernel `{}` has a gang: launch it with LaunchOptions::gang",
                    A::ENTRY
                )));
            }
            (None, Some(_)) => {
                return Err(LaunchError::InvalidGang(format!("the kernel `{}` declares no gang", A::ENTRY)));
            }
            _ => {}
        }
        let id = core
            .next_actor_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| (id < HOST_NODE_ID - 1).then_some(id + 1))
            .map_err(|_| LaunchError::TooManyActors)?;

        let layout = ActorLayout::with_snapshot(opts.inbox_capacity, opts.outbox_capacity, A::SNAPSHOT_BYTES)?;
        let backend = core.backend_for(&opts)?;
        let mem = backend.alloc_actor(&layout)?;
        let flags = if opts.auto_activate { FLAG_AUTO_ACTIVATE } else { 0 };
        let mut cb = ControlBlock::new(id, A::TYPE_ID, flags);
        (cb.snapshot_offset, cb.snapshot_capacity) = layout.snapshot_fields();
        // SAFETY: the memory was just allocated and nothing runs over it yet.
        unsafe { mem.control().write(cb) };
        // SAFETY: the runtime is the only producer of the inbox (this
        // endpoint lives in ActorShared) and the only consumer of the outbox
        // (this endpoint goes to the poller).
        let (inbox, outbox) = unsafe { (Producer::attach(mem.inbox_ring()), Consumer::attach(mem.outbox_ring())) };
        let program = ActorProgram {
            entry: A::ENTRY,
            cpu_entry: run_actor::<A, HostPlatform>,
            type_id: A::TYPE_ID,
            actor_id: id,
            gang: A::GANG.map(|work_id| GangProgram {
                work_id,
                cpu_actor: run_actor_with_gang::<A, HostPlatform>,
                cpu_worker: <A as KernelEntry>::run_gang_worker::<HostPlatform>,
            }),
        };
        let exec = backend.start(&program, &mem, &opts)?;
        let recovery = opts.recovery.is_restart().then(|| Recovery::new(opts.recovery, backend, program));
        // SAFETY: `inbox` is the only producer of `mem`'s inbox, and `exec`
        // runs over `mem`.
        let mut actor = unsafe {
            ActorShared::new(id, name, A::TYPE_ID, core.kind, opts, Arc::clone(&core.shared), mem, inbox, exec)
        };
        if let Some(r) = recovery {
            actor = actor.with_recovery(r);
        }
        let actor = Arc::new(actor);
        core.shared
            .poller
            .register(Registration { actor: Arc::clone(&actor), outbox })
            .map_err(|_| LaunchError::ShutDown)?;
        wait_started(&actor).await?;
        {
            let mut actors = lock(&core.actors);
            actors.retain(|a| !(a.is_closed() && a.execution_finished()));
            actors.push(Arc::clone(&actor));
        }
        Ok(KernelHandle { actor, runtime: Arc::clone(core), _actor: PhantomData })
    }

    /// Terminate every actor (TERMINATE: each drains its queue; KILL for
    /// those that do not finish within their terminate timeout), wait for
    /// them, deliver their last replies and outputs, and stop the poller.
    /// Later launches fail with [`LaunchError::ShutDown`]; handles report
    /// the actors as Terminated. Calling it again does nothing more.
    ///
    /// # Errors
    /// [`ShutdownError::ActorsStillRunning`] for actors that did not stop
    /// even after KILL (a CPU handler that never returns); their memory is
    /// leaked rather than freed under them.
    ///
    /// # Cancel safety
    /// Dropping the future stops the waiting; commands already posted stand,
    /// and the runtime's drop finishes the job.
    pub async fn shutdown(&self) -> Result<(), ShutdownError> {
        let core = &self.core;
        core.shut_down.store(true, Ordering::Release);
        let systems: Vec<Arc<SystemInner>> = lock(&core.systems).clone();
        for s in &systems {
            s.begin_shutdown();
        }
        let actors: Vec<Arc<ActorShared>> = lock(&core.actors).clone();
        for a in &actors {
            let state = a.state();
            if !state.is_final() && state != LifecycleState::DRAINING && a.command(Command::TERMINATE).await.is_err() {
                let _ = a.command(Command::KILL).await;
            }
        }
        let mut stuck = Vec::new();
        for a in &actors {
            match a.wait_stopped("shutdown").await {
                Ok(_) => {}
                Err(LifecycleError::Timeout { .. }) => {
                    let _ = a.command(Command::KILL).await;
                    if a.wait_stopped("shutdown").await.is_err() {
                        stuck.push(format!("{}:{}", a.id, a.name));
                    }
                }
                Err(_) => stuck.push(format!("{}:{}", a.id, a.name)),
            }
        }
        for s in &systems {
            let start = Instant::now();
            let mut round = 0;
            while !s.finished() {
                if start.elapsed() >= Duration::from_secs(5) {
                    stuck.push("an actor system".to_owned());
                    break;
                }
                host_backoff(&mut round).await;
            }
        }
        core.shared.poller.request_stop();
        let thread = lock(&core.poller_thread).take();
        if let Some(t) = thread {
            let mut round = 0;
            while !t.is_finished() {
                host_backoff(&mut round).await;
            }
            let _ = t.join();
        }
        if stuck.is_empty() { Ok(()) } else { Err(ShutdownError::ActorsStillRunning { actors: stuck }) }
    }
}

/// Wait until a freshly started actor has left Dormant/Initializing.
async fn wait_started(actor: &ActorShared) -> Result<(), LaunchError> {
    let timeout = actor.opts.command_timeout;
    let start = Instant::now();
    let mut round = 0u32;
    loop {
        let state = actor.state();
        if state == LifecycleState::ACTIVE || state == LifecycleState::DEACTIVATED {
            return Ok(());
        }
        if state.is_final() || actor.check_execution() {
            return Err(LaunchError::FailedToStart { state: actor.state(), fault: actor.fault() });
        }
        if start.elapsed() >= timeout {
            return Err(LaunchError::StartTimeout { state, waited: timeout });
        }
        host_backoff(&mut round).await;
    }
}
