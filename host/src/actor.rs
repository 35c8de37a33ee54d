//! The host's shared state of one actor, behind every [`KernelHandle`](crate::KernelHandle).
//!
//! ```text
//!  KernelHandle<A> (clones, many tasks)        poller thread
//!        │                                          │
//!        ▼                                          ▼
//!  ActorShared ── inbox: Mutex<Producer> ──▶ H2K ring ──▶ actor loop
//!        │         pending: corr id → oneshot  ◀── K2H ring ◀──┘
//!        │         outputs: OutputQueue        ◀──┘
//!        └── control block (commands, state, counters), telemetry
//! ```
//!
//! Backend-independent: everything here goes through [`ActorMemory`]
//! pointers, the ring endpoints of `ringkernel-device` and its system-scope
//! atomics, so the CPU and CUDA backends share it.
//!
//! ## Commands (the control-block protocol)
//!
//! A command is validated against the shared state machine first
//! ([`LifecycleState::can_transition_to`]); an illegal one is refused with
//! [`LifecycleError::IllegalTransition`] and never posted. A legal one is
//! posted by storing `command`, then `command_seq + 1` with release
//! ordering; the runtime waits for `command_ack` to reach that sequence
//! (acquire), then reads `state`. Commands of one actor are serialized by an
//! async mutex. If the actor stops before acknowledging, the wait ends with a
//! typed error, never a hang; if it neither acknowledges nor stops, it ends
//! with [`LifecycleError::Timeout`].
//!
//! ## Waiting without blocking Tokio
//!
//! Waiting for an acknowledgement or for an actor to stop yields to the
//! scheduler for the first 64 rounds, then sleeps 0.5 ms per round (Tokio's
//! timer has a 1 ms granularity, so in practice about 1 ms). Waiting for room
//! in a full inbox uses a [`Notify`] that the poller signals whenever it sees
//! the actor's inbox `head` move, or when the actor stops; each wait also
//! re-checks every 10 ms in case no signal can come (the poller has stopped).

use crate::backend::{BackendKind, Execution};
use crate::clock::HostClock;
use crate::error::{ExecutionError, LifecycleError};
use crate::memory::ActorMemory;
use crate::outputs::OutputQueue;
use crate::poller::PollerCtl;
use crate::runtime::LaunchOptions;
use crate::sync::lock;
use ringkernel_device::atomic::sys;
use ringkernel_device::queue::{Producer, RawRing};
use ringkernel_shared::{Command, ControlBlock, Envelope, HlcTimestamp, LifecycleState, TelemetryBuffer};
use std::collections::HashMap;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// How long dropping the last reference to a still-running actor waits for
/// its execution to stop after a KILL.
const DROP_JOIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a sender waits for a signal before re-checking the actor.
const SPACE_RECHECK: Duration = Duration::from_millis(10);

/// State shared by a runtime and all of its actors.
#[derive(Debug)]
pub(crate) struct RuntimeShared {
    pub clock: Arc<HostClock>,
    pub next_correlation: AtomicU64,
    pub poller: Arc<PollerCtl>,
}

impl RuntimeShared {
    /// A correlation id, non-zero and unique in this runtime.
    pub(crate) fn correlation_id(&self) -> u64 {
        self.next_correlation.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why an actor's pending requests were failed and its streams ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The actor reached Terminated.
    Terminated,
    /// The actor failed with this `last_error`.
    Failed { code: u32 },
    /// The runtime stopped its poller.
    ShutDown,
}

/// Requests waiting for replies.
#[derive(Debug, Default)]
struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Envelope>>,
    closed: Option<CloseReason>,
}

/// Host-side counters of one actor (see [`crate::HostStats`]).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub replies: AtomicU64,
    pub replies_discarded: AtomicU64,
    pub rejected: AtomicU64,
    pub inbox_full: AtomicU64,
    /// Stalls detected (a live actor with no heartbeat and no progress for
    /// `stall_timeout`).
    pub stalls: AtomicU64,
    /// Whether the actor is stalled now.
    pub stalled: AtomicBool,
    /// Dead-letter records dropped because the queue was full.
    pub dead_letters_dropped: AtomicU64,
    /// Messages a recovery failed back (requests and fire-and-forget).
    pub messages_faulted: AtomicU64,
    /// Messages handled since the last checkpoint whose effects a recovery
    /// could not rebuild (they had left the bounded replay log).
    pub replay_lost: AtomicU64,
}

/// Dead-letter records kept per actor; older ones are dropped (and counted)
/// when no one takes them.
pub(crate) const DEAD_LETTER_QUEUE: usize = 256;

/// Why a message could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Inbox full (only from the non-waiting path).
    Full,
    /// Draining or terminated.
    Terminated,
    /// Failed.
    Failed,
    /// No room before the deadline.
    Timeout,
}

/// Everything the host keeps about one actor.
pub(crate) struct ActorShared {
    pub id: u32,
    pub name: String,
    pub type_id: u32,
    pub backend: BackendKind,
    pub opts: LaunchOptions,
    pub rt: Arc<RuntimeShared>,
    pub outputs: OutputQueue,
    pub stats: Stats,
    /// For an actor-system slot: its index. A slot outlives its actors: it
    /// is not closed when an incarnation ends, and Dormant means stopped.
    pub slot: Option<u32>,
    /// Dropped by hand, after the execution is joined.
    pub(crate) mem: ManuallyDrop<ActorMemory>,
    pub(crate) inbox: Mutex<Producer<RawRing>>,
    /// The running execution; replaced by a recovery.
    exec: RwLock<Box<dyn Execution>>,
    /// Present when the actor's recovery policy restarts it.
    pub(crate) recovery: Option<crate::recovery::Recovery>,
    /// Serialises checkpoints (the snapshot region holds one at a time).
    pub(crate) snapshots: tokio::sync::Mutex<()>,
    /// A backend fault was seen: the actor counts as Failed whatever its
    /// control block says (a trapped kernel cannot write it).
    pub(crate) faulted: AtomicBool,
    pending: Mutex<Pending>,
    /// The actor's dead-letter queue (bounded, oldest dropped).
    dead: Mutex<std::collections::VecDeque<ringkernel_shared::DeadLetterRecord>>,
    space: Notify,
    space_waiters: AtomicUsize,
    closed: AtomicBool,
    commands: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ActorShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorShared").field("id", &self.id).field("name", &self.name).finish_non_exhaustive()
    }
}

/// Raw pointer to a control-block field.
macro_rules! cb {
    ($self:ident . $field:ident) => {
        &raw mut (*$self.mem.control()).$field
    };
}

/// Yield for the first rounds, then sleep (see the module docs).
pub(crate) async fn host_backoff(round: &mut u32) {
    *round = round.saturating_add(1);
    if *round <= 64 {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

impl ActorShared {
    /// Wrap a started actor.
    ///
    /// # Safety
    /// `inbox` is the only producer of `mem`'s inbox ring, `exec` is the
    /// execution running over `mem`, and nothing else will produce into
    /// the inbox.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn new(
        id: u32,
        name: String,
        type_id: u32,
        backend: BackendKind,
        opts: LaunchOptions,
        rt: Arc<RuntimeShared>,
        mem: ActorMemory,
        inbox: Producer<RawRing>,
        exec: Box<dyn Execution>,
    ) -> Self {
        let outputs = OutputQueue::new(opts.output_capacity, Arc::clone(&rt.poller));
        Self {
            id,
            name,
            type_id,
            backend,
            opts,
            rt,
            outputs,
            stats: Stats::default(),
            slot: None,
            mem: ManuallyDrop::new(mem),
            inbox: Mutex::new(inbox),
            exec: RwLock::new(exec),
            recovery: None,
            snapshots: tokio::sync::Mutex::new(()),
            faulted: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
            dead: Mutex::new(std::collections::VecDeque::new()),
            space: Notify::new(),
            space_waiters: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            commands: tokio::sync::Mutex::new(()),
        }
    }

    /// With a recovery policy that restarts it (set before the actor is shared).
    pub(crate) fn with_recovery(mut self, r: crate::recovery::Recovery) -> Self {
        self.recovery = Some(r);
        self
    }

    /// The running execution.
    pub(crate) fn exec(&self) -> RwLockReadGuard<'_, Box<dyn Execution>> {
        self.exec.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace the execution (a recovery; the old one has ended).
    pub(crate) fn replace_exec(&self, exec: Box<dyn Execution>) -> Box<dyn Execution> {
        let mut slot = self.exec.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *slot, exec)
    }

    // -- reading the control block -------------------------------------------

    /// The actor's lifecycle state. A raw value that names no state (memory
    /// corruption) reads as Failed.
    pub(crate) fn state(&self) -> LifecycleState {
        if self.faulted.load(Ordering::Acquire) {
            return LifecycleState::FAILED;
        }
        // SAFETY: the control block is valid while `self` lives; the actor
        // writes `state` with atomic stores.
        let raw = unsafe { sys::load_acquire_u32(cb!(self.state)) };
        LifecycleState::try_from(raw).unwrap_or(LifecycleState::FAILED)
    }

    /// `ControlBlock::last_error`.
    pub(crate) fn last_error(&self) -> u32 {
        // SAFETY: as in `state`.
        unsafe { sys::load_relaxed_u32(cb!(self.last_error)) }
    }

    /// A copy of the control block, word by word with atomic loads.
    pub(crate) fn control_block(&self) -> ControlBlock {
        let mut c = ControlBlock::new(self.id, self.type_id, 0);
        // SAFETY: as in `state`; every field the actor writes is written
        // with atomic stores, the rest is immutable after launch.
        unsafe {
            c.state = sys::load_acquire_u32(cb!(self.state));
            c.command = sys::load_relaxed_u32(cb!(self.command));
            c.command_seq = sys::load_relaxed_u32(cb!(self.command_seq));
            c.command_ack = sys::load_acquire_u32(cb!(self.command_ack));
            c.heartbeat_ns = sys::load_relaxed_u64(cb!(self.heartbeat_ns));
            c.messages_in = sys::load_relaxed_u64(cb!(self.messages_in));
            c.messages_out = sys::load_relaxed_u64(cb!(self.messages_out));
            c.dead_letters = sys::load_relaxed_u64(cb!(self.dead_letters));
            c.failures = sys::load_relaxed_u64(cb!(self.failures));
            let hlc = cb!(self.hlc);
            c.hlc = HlcTimestamp {
                physical: sys::load_relaxed_u64(&raw const (*hlc).physical),
                logical: sys::load_relaxed_u32(&raw const (*hlc).logical),
                node: self.id,
            };
            c.last_error = sys::load_relaxed_u32(cb!(self.last_error));
            c.flags = sys::load_relaxed_u32(cb!(self.flags));
            if self.slot.is_some() {
                // A system slot's actor type changes with its incarnations.
                c.type_id = sys::load_relaxed_u32(cb!(self.type_id));
            }
            c.spec_parent = sys::load_relaxed_u32(cb!(self.spec_parent));
            c.spec_policy = sys::load_relaxed_u32(cb!(self.spec_policy));
            c.spec_window_ms = sys::load_relaxed_u32(cb!(self.spec_window_ms));
            c.generation = sys::load_relaxed_u32(cb!(self.generation));
            c.parent = sys::load_relaxed_u32(cb!(self.parent));
            c.restarts = sys::load_relaxed_u32(cb!(self.restarts));
            c.stop_seq = sys::load_relaxed_u64(cb!(self.stop_seq));
        }
        c
    }

    /// A copy of the telemetry buffer, word by word with atomic loads.
    pub(crate) fn telemetry(&self) -> TelemetryBuffer {
        let t = self.mem.telemetry();
        // SAFETY: the buffer is valid while `self` lives; the actor writes
        // it with relaxed atomic stores.
        unsafe {
            TelemetryBuffer {
                messages_processed: sys::load_relaxed_u64(&raw const (*t).messages_processed),
                messages_sent: sys::load_relaxed_u64(&raw const (*t).messages_sent),
                dead_letters: sys::load_relaxed_u64(&raw const (*t).dead_letters),
                queue_full_events: sys::load_relaxed_u64(&raw const (*t).queue_full_events),
                last_latency_ns: sys::load_relaxed_u64(&raw const (*t).last_latency_ns),
                max_latency_ns: sys::load_relaxed_u64(&raw const (*t).max_latency_ns),
                total_latency_ns: sys::load_relaxed_u64(&raw const (*t).total_latency_ns),
                errors: sys::load_relaxed_u32(&raw const (*t).errors),
                _reserved: 0,
            }
        }
    }

    /// The inbox ring (the poller watches its `head`).
    pub(crate) fn inbox_ring(&self) -> RawRing {
        self.mem.inbox_ring()
    }

    /// The outbox ring, for tests that play the actor's side.
    #[cfg(test)]
    pub(crate) fn outbox_ring(&self) -> RawRing {
        self.mem.outbox_ring()
    }

    /// A fault the backend observed, if any.
    pub(crate) fn fault(&self) -> Option<ExecutionError> {
        self.exec().poll_fault()
    }

    /// Poller: look at the execution itself. Returns whether the actor has
    /// stopped (a backend fault, or an execution that ended without a final
    /// state, which then counts as Failed).
    pub(crate) fn check_execution(&self) -> bool {
        if self.exec().poll_fault().is_some() {
            self.faulted.store(true, Ordering::Release);
            return true;
        }
        if self.exec().is_finished() {
            if !self.state().is_final() && self.slot.is_none() {
                self.faulted.store(true, Ordering::Release);
            }
            return true;
        }
        false
    }

    /// Why the actor stopped, for pending requests (call once it has).
    pub(crate) fn stop_reason(&self) -> CloseReason {
        let state = self.state();
        if self.slot.is_some() && state == LifecycleState::DORMANT {
            return CloseReason::ShutDown;
        }
        if state == LifecycleState::TERMINATED {
            CloseReason::Terminated
        } else {
            CloseReason::Failed { code: self.last_error() }
        }
    }

    // -- sending -------------------------------------------------------------

    /// Whether the actor takes new messages now.
    fn admission(&self) -> Result<(), Refusal> {
        if let Some(r) = &self.recovery
            && !self.is_closed()
            && (r.holds_new_messages() || r.recovering.load(Ordering::Acquire) || self.exec().poll_fault().is_some())
        {
            // A crash is being recovered from: new messages wait behind
            // what the recovery puts back into the inbox.
            return Err(Refusal::Full);
        }
        let state = self.state();
        if self.slot.is_some() && !self.is_closed() {
            // A slot answers everything it accepted: a Failed actor is
            // restarted (and serves its queue) or killed (and answers the
            // queue with errors).
            return match state {
                LifecycleState::DORMANT | LifecycleState::TERMINATED => Err(Refusal::Terminated),
                _ => Ok(()),
            };
        }
        if state == LifecycleState::FAILED {
            Err(Refusal::Failed)
        } else if state.accepts_messages() {
            Ok(())
        } else {
            Err(Refusal::Terminated)
        }
    }

    /// Queue `env` if there is room now.
    pub(crate) fn try_push(&self, env: &Envelope) -> Result<(), Refusal> {
        self.admission()?;
        let pushed = {
            let mut p = lock(&self.inbox);
            let r = p.try_push(env);
            p.publish_tail();
            if r.is_ok() {
                self.log_sent(env);
            }
            r
        };
        match pushed {
            Ok(()) => {
                self.exec().wake();
                self.rt.poller.kick();
                Ok(())
            }
            Err(_) => {
                self.stats.inbox_full.fetch_add(1, Ordering::Relaxed);
                Err(Refusal::Full)
            }
        }
    }

    /// Queue `env`, waiting for room until `deadline` (forever if `None`)
    /// while the actor takes messages.
    ///
    /// Cancel safety: dropping the future before it completes leaves the
    /// envelope unsent; once it completes the envelope is queued.
    pub(crate) async fn push(&self, env: &Envelope, deadline: Option<Instant>) -> Result<(), Refusal> {
        match self.try_push(env) {
            Err(Refusal::Full) => {}
            other => return other,
        }
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.space_waiters.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.space_waiters);
        loop {
            let mut notified = pin!(self.space.notified());
            notified.as_mut().enable();
            // Re-check after enabling, so a signal between the failed push
            // and `enable` is not lost.
            match self.try_push(env) {
                Err(Refusal::Full) => {}
                other => return other,
            }
            let mut wait = SPACE_RECHECK;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Refusal::Timeout);
                }
                wait = wait.min(left);
            }
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// Keep a copy of an envelope just written into the inbox for replay
    /// (call with the inbox producer locked, so the log keeps inbox order).
    fn log_sent(&self, env: &Envelope) {
        if let Some(r) = &self.recovery {
            lock(&r.log).record(env, r.policy_replay_limit());
        }
    }

    /// A request's sender, removed from the pending table.
    pub(crate) fn take_waiter(&self, corr: u64) -> Option<oneshot::Sender<Envelope>> {
        lock(&self.pending).waiting.remove(&corr)
    }

    /// Poller: the actor consumed from its inbox, or stopped.
    pub(crate) fn notify_space(&self) {
        if self.space_waiters.load(Ordering::Acquire) > 0 {
            self.space.notify_waiters();
        }
    }

    /// Write an envelope straight into the inbox, bypassing admission (test
    /// hook for dead-letter handling).
    pub(crate) fn push_raw(&self, env: &Envelope) -> Result<(), Refusal> {
        let mut p = lock(&self.inbox);
        let r = p.try_push(env);
        p.publish_tail();
        if r.is_ok() {
            self.log_sent(env);
        }
        drop(p);
        self.exec().wake();
        self.rt.poller.kick();
        r.map_err(|_| Refusal::Full)
    }

    // -- requests ------------------------------------------------------------

    /// Register a request waiting for correlation id `corr`.
    pub(crate) fn register(&self, corr: u64) -> Result<oneshot::Receiver<Envelope>, CloseReason> {
        let mut p = lock(&self.pending);
        if let Some(reason) = p.closed {
            return Err(reason);
        }
        let (tx, rx) = oneshot::channel();
        p.waiting.insert(corr, tx);
        Ok(rx)
    }

    /// Forget a request (its future was dropped, timed out, or not sent).
    pub(crate) fn unregister(&self, corr: u64) {
        lock(&self.pending).waiting.remove(&corr);
    }

    /// Poller: deliver a reply, counting it as delivered or discarded (the
    /// count is updated before the waiter wakes, so it sees it).
    pub(crate) fn complete(&self, corr: u64, env: Envelope) {
        let tx = if corr == 0 { None } else { lock(&self.pending).waiting.remove(&corr) };
        let Some(tx) = tx else {
            self.stats.replies_discarded.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.stats.replies.fetch_add(1, Ordering::Relaxed);
        if tx.send(env).is_err() {
            // The receiver went away between the lookup and the send.
            self.stats.replies.fetch_sub(1, Ordering::Relaxed);
            self.stats.replies_discarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Why requests of this actor fail, once it is closed.
    pub(crate) fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.pending).closed
    }

    /// Poller: keep a dead-letter record (dropping the oldest when full).
    pub(crate) fn push_dead_letter(&self, record: ringkernel_shared::DeadLetterRecord) {
        let mut q = lock(&self.dead);
        if q.len() == DEAD_LETTER_QUEUE {
            q.pop_front();
            self.stats.dead_letters_dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(record);
    }

    /// Take every dead-letter record queued so far, oldest first.
    pub(crate) fn take_dead_letters(&self) -> Vec<ringkernel_shared::DeadLetterRecord> {
        lock(&self.dead).drain(..).collect()
    }

    /// Poller: the actor is gone. Fail every pending request, end the
    /// output streams, wake blocked senders.
    pub(crate) fn close(&self, reason: CloseReason) {
        let waiting = {
            let mut p = lock(&self.pending);
            p.closed.get_or_insert(reason);
            std::mem::take(&mut p.waiting)
        };
        // Dropping the senders wakes each receiver with an error; it then
        // reads the close reason.
        drop(waiting);
        self.outputs.close();
        self.closed.store(true, Ordering::Release);
        self.space.notify_waiters();
    }

    /// Whether the poller has closed this actor.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    // -- commands --------------------------------------------------------------

    /// Post `cmd` without validation or waiting (drop paths).
    fn post_now(&self, cmd: Command) -> u32 {
        // SAFETY: the control block is valid; the host is the only writer
        // of `command` and `command_seq`, and the actor reads them
        // atomically after an acquire of `command_seq`.
        let seq = unsafe {
            let seq = sys::load_relaxed_u32(cb!(self.command_seq)).wrapping_add(1);
            sys::store_relaxed_u32(cb!(self.command), cmd.as_u32());
            sys::store_release_u32(cb!(self.command_seq), seq);
            seq
        };
        self.exec().wake();
        seq
    }

    /// Post `cmd` without validation (system slots: `CREATE`, `RESTART`,
    /// `KILL`, whose effects the system waits for itself).
    pub(crate) fn post_command(&self, cmd: Command) -> u32 {
        self.post_now(cmd)
    }

    /// A system slot's create spec, written before posting `CREATE` (the
    /// slot reads it only then).
    pub(crate) fn write_spec(&self, type_id: u32, parent: u32, spec: &ringkernel_device::ChildSpec, flags: u32) {
        // SAFETY: host-owned fields of the control block (see
        // ringkernel_shared::control); the release store of `command_seq` in
        // `post_now` publishes them.
        unsafe {
            sys::store_relaxed_u32(cb!(self.type_id), type_id);
            sys::store_relaxed_u32(cb!(self.spec_parent), parent);
            sys::store_relaxed_u32(
                cb!(self.spec_policy),
                spec.policy.as_u32() | (spec.max_restarts.min(0x00ff_ffff) << 8),
            );
            sys::store_relaxed_u32(cb!(self.spec_window_ms), spec.window_ms);
            sys::store_relaxed_u32(cb!(self.flags), flags);
        }
    }

    pub(crate) fn acked(&self, seq: u32) -> bool {
        // SAFETY: as in `state`; the actor stores `command_ack` with release.
        unsafe { sys::load_acquire_u32(cb!(self.command_ack)) == seq }
    }

    /// Wait until the actor acknowledges `seq`.
    async fn wait_ack(&self, seq: u32, command: &'static str, to: LifecycleState) -> Result<(), LifecycleError> {
        let start = Instant::now();
        let mut round = 0u32;
        loop {
            if self.acked(seq) {
                return Ok(());
            }
            let state = self.state();
            if state.is_final() && self.exec().is_finished() {
                // The loop stores the ack before it exits: look once more.
                if self.acked(seq) {
                    return Ok(());
                }
                return Err(self.stopped_error(state, to));
            }
            if start.elapsed() >= self.opts.command_timeout {
                return Err(LifecycleError::Timeout { command, state, waited: self.opts.command_timeout });
            }
            host_backoff(&mut round).await;
        }
    }

    fn stopped_error(&self, state: LifecycleState, to: LifecycleState) -> LifecycleError {
        if state == LifecycleState::FAILED {
            LifecycleError::ActorFailed { code: self.last_error(), fault: self.fault() }
        } else {
            LifecycleError::IllegalTransition { from: state, to }
        }
    }

    /// Validate and post `cmd`, wait for its acknowledgement, and return the
    /// state the actor is in afterwards.
    ///
    /// Cancel safety: dropping the future before the command is posted
    /// posts nothing; dropping it afterwards leaves the command posted (the
    /// actor applies it), and the next command waits for its ack first.
    pub(crate) async fn command(&self, cmd: Command) -> Result<LifecycleState, LifecycleError> {
        self.command_posted(cmd).await.map(|(state, _)| state)
    }

    /// [`ActorShared::command`] that also returns the command's sequence
    /// number (`SNAPSHOT`: the one its snapshot header carries).
    pub(crate) async fn command_seq(&self, cmd: Command) -> Result<u32, LifecycleError> {
        self.command_posted(cmd).await.map(|(_, seq)| seq)
    }

    async fn command_posted(&self, cmd: Command) -> Result<(LifecycleState, u32), LifecycleError> {
        let name = command_name(cmd);
        let _serial = self.commands.lock().await;
        // A command posted by a dropped future must be applied first.
        // SAFETY: as in `post_now`: only the host writes `command_seq`.
        let prev = unsafe { sys::load_relaxed_u32(cb!(self.command_seq)) };
        let from = self.state();
        let to = command_target(cmd, from);
        if !self.acked(prev) && !from.is_final() {
            self.wait_ack(prev, name, to).await?;
        }
        let from = self.state();
        let to = command_target(cmd, from);
        if from == LifecycleState::FAILED {
            return Err(LifecycleError::ActorFailed { code: self.last_error(), fault: self.fault() });
        }
        let legal = if cmd == Command::SNAPSHOT {
            // Not a transition: any live actor that is not stopping answers it.
            from == LifecycleState::ACTIVE || from == LifecycleState::DEACTIVATED
        } else {
            from.can_transition_to(to)
        };
        if !legal {
            return Err(LifecycleError::IllegalTransition { from, to });
        }
        let seq = self.post_now(cmd);
        self.rt.poller.kick();
        self.wait_ack(seq, name, to).await?;
        // The ack says the actor looked at the command. Whether it applied
        // it: a Deactivated actor cannot leave that state by itself, so an
        // acknowledged ACTIVATE was applied (the actor may have moved on
        // since, e.g. failed on its next message). An Active actor can fail
        // or stop by itself before seeing DEACTIVATE, which it then refuses.
        // TERMINATE and KILL end in a final state either way; the caller
        // waits for it and reports how it ended.
        let now = self.state();
        let applied = match cmd {
            Command::DEACTIVATE => now == LifecycleState::DEACTIVATED,
            _ => true,
        };
        if applied { Ok((now, seq)) } else { Err(self.stopped_error(now, to)) }
    }

    /// Wait until the actor has stopped, its execution is joined and the
    /// poller has closed it (pending requests failed, outputs delivered).
    ///
    /// Cancel safety: dropping the future stops only the waiting.
    pub(crate) async fn wait_stopped(&self, command: &'static str) -> Result<LifecycleState, LifecycleError> {
        let timeout = self.opts.terminate_timeout;
        let start = Instant::now();
        let mut round = 0u32;
        loop {
            let state = self.state();
            if self.slot.is_some() && (state == LifecycleState::DORMANT || state == LifecycleState::TERMINATED) {
                // The slot stays; its actor is gone.
                return Ok(LifecycleState::TERMINATED);
            }
            let poller_done = self.is_closed();
            if state.is_final() && self.exec().is_finished() && poller_done {
                self.exec().join(Duration::ZERO).map_err(LifecycleError::Join)?;
                return Ok(state);
            }
            if !state.is_final() && self.check_execution() {
                continue;
            }
            if start.elapsed() >= timeout {
                return Err(LifecycleError::Timeout { command, state, waited: timeout });
            }
            host_backoff(&mut round).await;
        }
    }

    /// Whether the execution has ended (for shutdown bookkeeping).
    pub(crate) fn execution_finished(&self) -> bool {
        self.exec().is_finished()
    }

    /// Kill without waiting (runtime drop): post KILL if the actor still
    /// runs and is not already final.
    pub(crate) fn kill_now(&self) {
        if self.slot.is_none() && !self.state().is_final() && !self.exec().is_finished() {
            self.post_now(Command::KILL);
        }
    }
}

impl Drop for ActorShared {
    fn drop(&mut self) {
        if !self.exec().is_finished() {
            self.kill_now();
        }
        if self.exec().join(DROP_JOIN_TIMEOUT).is_err() {
            // The execution still runs (a handler that never returns): its
            // memory must outlive it, so it is leaked on purpose.
            return;
        }
        // SAFETY: the execution has been joined, the poller's consumer and
        // every ring view are gone with the last `Arc` (this drop), so
        // nothing uses the memory any more; dropped exactly once.
        unsafe { ManuallyDrop::drop(&mut self.mem) };
    }
}

/// The state a command leads to from `from`.
pub(crate) fn command_target(cmd: Command, from: LifecycleState) -> LifecycleState {
    match cmd {
        Command::ACTIVATE => LifecycleState::ACTIVE,
        Command::DEACTIVATE => LifecycleState::DEACTIVATED,
        Command::KILL if from == LifecycleState::DRAINING => LifecycleState::TERMINATED,
        Command::TERMINATE | Command::KILL => LifecycleState::DRAINING,
        _ => from,
    }
}

fn command_name(cmd: Command) -> &'static str {
    match cmd {
        Command::ACTIVATE => "activate",
        Command::DEACTIVATE => "deactivate",
        Command::TERMINATE => "terminate",
        Command::KILL => "kill",
        Command::SNAPSHOT => "checkpoint",
        _ => "none",
    }
}
