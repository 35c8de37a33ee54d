//! [`KernelHandle`]: the typed, cloneable handle to one running actor.
//!
//! | method | what it does | waits for |
//! | --- | --- | --- |
//! | [`send`](KernelHandle::send) | queue a message, no reply expected (a `reply` becomes an output) | room in the inbox |
//! | [`try_send`](KernelHandle::try_send) | queue a message if there is room now | nothing |
//! | [`request`](KernelHandle::request) | queue a message and await its reply | room, then the reply (with a timeout) |
//! | [`send_request`](KernelHandle::send_request) | queue a request, return its [`PendingReply`] (pipelining) | room |
//! | [`outputs`](KernelHandle::outputs) | a [`Stream`] of the actor's outputs | — |
//! | [`activate`](KernelHandle::activate), [`deactivate`](KernelHandle::deactivate), [`terminate`](KernelHandle::terminate), [`kill`](KernelHandle::kill) | lifecycle commands through the control block | the actor's acknowledgement |
//!
//! Messages to one actor are handled in the order they were queued (FIFO),
//! whichever clone or task queued them.

use crate::actor::{ActorShared, CloseReason, Refusal};
use crate::backend::BackendKind;
use crate::checkpoint::Checkpoint;
use crate::clock::HOST_NODE_ID;
use crate::error::{CheckpointTakeError, ExecutionError, LifecycleError, RequestError, SendError};
use crate::runtime::RuntimeCore;
use crate::sync::lock;
use ringkernel_device::Actor;
use ringkernel_shared::{
    Command, Envelope, HlcTimestamp, LifecycleState, MessageFlags, PAYLOAD_BYTES, TelemetryBuffer,
};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub use futures_core::Stream;

/// A handle to one running actor of type `A`. Cheap to clone; every clone
/// talks to the same actor, from any task or thread.
///
/// Dropping handles does not stop the actor; [`KernelHandle::terminate`] or
/// [`RingKernel::shutdown`](crate::RingKernel::shutdown) does. When the
/// runtime and every handle are gone, remaining actors are killed.
pub struct KernelHandle<A> {
    pub(crate) actor: Arc<ActorShared>,
    /// Keeps the runtime (and its poller) alive while handles exist.
    pub(crate) runtime: Arc<RuntimeCore>,
    pub(crate) _actor: PhantomData<fn() -> A>,
}

impl<A> Clone for KernelHandle<A> {
    fn clone(&self) -> Self {
        Self { actor: Arc::clone(&self.actor), runtime: Arc::clone(&self.runtime), _actor: PhantomData }
    }
}

impl<A> std::fmt::Debug for KernelHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelHandle")
            .field("id", &self.actor.id)
            .field("name", &self.actor.name)
            .field("state", &self.actor.state())
            .finish()
    }
}

/// Counters of the control block, read at one moment (each word atomically;
/// the set is not one atomic snapshot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControlSnapshot {
    /// Lifecycle state.
    pub state: LifecycleState,
    /// Commands posted by the host.
    pub command_seq: u32,
    /// Commands the actor applied.
    pub command_ack: u32,
    /// Last time the actor loop went round (actor clock, ns).
    pub heartbeat_ns: u64,
    /// Envelopes the actor took from its inbox.
    pub messages_in: u64,
    /// Envelopes the actor wrote to its outbox.
    pub messages_out: u64,
    /// Envelopes the actor rejected (dead letters).
    pub dead_letters: u64,
    /// Handler failures.
    pub failures: u64,
    /// The actor's HLC after its last published batch.
    pub hlc: HlcTimestamp,
    /// Code of the last error (0: none).
    pub last_error: u32,
}

/// Host-side counters of one actor, kept by the runtime and the poller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostStats {
    /// Replies delivered to waiting requests.
    pub replies: u64,
    /// Replies nobody waited for any more (dropped or timed-out requests,
    /// error replies to fire-and-forget messages).
    pub replies_discarded: u64,
    /// Outputs handed to output streams.
    pub outputs_delivered: u64,
    /// Outputs waiting in the output buffer.
    pub outputs_buffered: u64,
    /// Outputs dropped because the buffer was full with no stream reading it.
    pub outputs_dropped: u64,
    /// Envelopes from the actor that failed validation (or had no known kind).
    pub rejected: u64,
    /// Times a send found the inbox full.
    pub inbox_full: u64,
    /// Times the actor was found stalled (see [`KernelHandle::is_stalled`]).
    pub stalls: u64,
    /// Dead-letter records dropped because nobody took them (the queue keeps
    /// the newest 256; see [`KernelHandle::take_dead_letters`]).
    pub dead_letters_dropped: u64,
    /// Messages recoveries failed back (see [`crate::recovery`]): requests
    /// ended with [`RequestError::MessageFaulted`], fire-and-forget
    /// messages turned into dead letters.
    pub messages_faulted: u64,
    /// Messages whose effects a recovery could not rebuild because they had
    /// left the bounded replay log ([`RecoveryPolicy::replay_limit`](crate::RecoveryPolicy::replay_limit)).
    pub replay_lost: u64,
}

fn send_error<T>(r: Refusal, msg: T) -> SendError<T> {
    match r {
        Refusal::Full => SendError::Full(msg),
        Refusal::Terminated => SendError::Terminated(msg),
        Refusal::Failed => SendError::ActorFailed(msg),
        Refusal::Timeout => SendError::Timeout(msg),
    }
}

fn close_error(reason: Option<CloseReason>) -> RequestError {
    match reason {
        Some(CloseReason::Terminated) => RequestError::Terminated,
        Some(CloseReason::Failed { code }) => RequestError::ActorFailed { code },
        Some(CloseReason::ShutDown) | None => RequestError::ShutDown,
    }
}

impl<A: Actor> KernelHandle<A> {
    /// The runtime's id of this actor (also its node id in envelopes).
    pub fn id(&self) -> u32 {
        self.actor.id
    }

    /// The name given at launch.
    pub fn name(&self) -> &str {
        &self.actor.name
    }

    /// The backend the actor runs on.
    pub fn backend(&self) -> BackendKind {
        self.actor.backend
    }

    /// The actor's lifecycle state, read from its control block.
    pub fn state(&self) -> LifecycleState {
        self.actor.state()
    }

    /// Whether the actor is Active (processing messages).
    pub fn is_active(&self) -> bool {
        self.state() == LifecycleState::ACTIVE
    }

    /// A fault the backend observed (a panic in a CPU handler), if any.
    pub fn fault(&self) -> Option<ExecutionError> {
        self.actor.fault()
    }

    // -- lifecycle -------------------------------------------------------------

    /// Deactivated → Active.
    ///
    /// # Errors
    /// [`LifecycleError::IllegalTransition`] from any other state (nothing is
    /// posted), [`LifecycleError::ActorFailed`] if the actor failed,
    /// [`LifecycleError::Timeout`] if it did not acknowledge in time.
    ///
    /// # Cancel safety
    /// Dropping the future before the command is posted posts nothing;
    /// dropping it afterwards leaves the command posted: the actor applies
    /// it, and the next command waits for that first.
    pub async fn activate(&self) -> Result<(), LifecycleError> {
        self.actor.command(Command::ACTIVATE).await.map(drop)
    }

    /// Active → Deactivated: the actor keeps its state and stops taking
    /// messages from its inbox; messages sent meanwhile wait there.
    ///
    /// # Errors
    /// As for [`KernelHandle::activate`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::activate`].
    pub async fn deactivate(&self) -> Result<(), LifecycleError> {
        self.actor.command(Command::DEACTIVATE).await.map(drop)
    }

    /// Alias of [`KernelHandle::deactivate`].
    ///
    /// # Errors
    /// As for [`KernelHandle::activate`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::activate`].
    pub async fn suspend(&self) -> Result<(), LifecycleError> {
        self.deactivate().await
    }

    /// Alias of [`KernelHandle::activate`].
    ///
    /// # Errors
    /// As for [`KernelHandle::activate`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::activate`].
    pub async fn resume(&self) -> Result<(), LifecycleError> {
        self.activate().await
    }

    /// Active or Deactivated → Draining → Terminated: the actor handles what
    /// is already queued (new sends are refused), then stops. Returns once
    /// it has stopped, its execution has been joined, and every reply and
    /// output it wrote has been delivered; requests still pending then fail
    /// with [`RequestError::Terminated`].
    ///
    /// # Errors
    /// [`LifecycleError::IllegalTransition`] when already Draining,
    /// Terminated or Failed; [`LifecycleError::ActorFailed`] if the actor
    /// failed while draining; [`LifecycleError::Timeout`] if draining took
    /// longer than [`LaunchOptions::terminate_timeout`](crate::LaunchOptions::terminate_timeout).
    ///
    /// # Cancel safety
    /// Once posted, the command stands: dropping the future only stops the
    /// waiting, the actor still terminates.
    pub async fn terminate(&self) -> Result<(), LifecycleError> {
        self.stop(Command::TERMINATE, "terminate").await
    }

    /// Stop now: Active, Deactivated or Draining → Terminated, leaving queued
    /// messages unprocessed. Returns as [`KernelHandle::terminate`] does.
    ///
    /// # Errors
    /// As for [`KernelHandle::terminate`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::terminate`].
    pub async fn kill(&self) -> Result<(), LifecycleError> {
        self.stop(Command::KILL, "kill").await
    }

    async fn stop(&self, cmd: Command, name: &'static str) -> Result<(), LifecycleError> {
        self.actor.command(cmd).await?;
        match self.actor.wait_stopped(name).await? {
            LifecycleState::FAILED => {
                Err(LifecycleError::ActorFailed { code: self.actor.last_error(), fault: self.actor.fault() })
            }
            _ => Ok(()),
        }
    }

    // -- messages --------------------------------------------------------------

    fn envelope(&self, msg: &A::Msg, correlation_id: u64) -> Envelope {
        const { assert!(size_of::<A::Msg>() <= PAYLOAD_BYTES, "Actor::Msg is larger than an envelope payload") };
        let mut env = match Envelope::from_pod(A::TYPE_ID, HOST_NODE_ID, self.actor.id, msg) {
            Ok(env) => env,
            // The size is checked at compile time just above.
            Err(_) => unreachable!("message size checked at compile time"),
        };
        env.header.correlation_id = correlation_id;
        env.header.hlc = self.actor.rt.clock.tick();
        env
    }

    /// Queue `msg` for the actor, waiting while the inbox is full. A `reply`
    /// the handler makes to it becomes an output (see [`KernelHandle::outputs`]).
    ///
    /// Waiting is asynchronous: the poller wakes senders when the actor
    /// consumes from its inbox. A Deactivated actor does not consume, so a
    /// send to its full inbox waits until it is activated or stopped (use
    /// [`KernelHandle::send_timeout`] to bound that).
    ///
    /// # Errors
    /// [`SendError::Terminated`] / [`SendError::ActorFailed`] (with the
    /// message) when the actor is draining, terminated or failed, also if it
    /// stops while this waits.
    ///
    /// # Cancel safety
    /// If the future is dropped before it completes, the message was not
    /// queued. Once it has completed, the message is queued.
    pub async fn send(&self, msg: A::Msg) -> Result<(), SendError<A::Msg>> {
        let env = self.envelope(&msg, 0);
        self.actor.push(&env, None).await.map_err(|r| send_error(r, msg))
    }

    /// [`KernelHandle::send`] that gives up after `timeout` with
    /// [`SendError::Timeout`].
    ///
    /// # Errors
    /// As for [`KernelHandle::send`], plus [`SendError::Timeout`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::send`].
    pub async fn send_timeout(&self, msg: A::Msg, timeout: Duration) -> Result<(), SendError<A::Msg>> {
        let env = self.envelope(&msg, 0);
        let deadline = Instant::now().checked_add(timeout);
        self.actor.push(&env, deadline).await.map_err(|r| send_error(r, msg))
    }

    /// Queue `msg` if the inbox has room now.
    ///
    /// # Errors
    /// [`SendError::Full`] with the message when the inbox is full; the
    /// others as for [`KernelHandle::send`].
    pub fn try_send(&self, msg: A::Msg) -> Result<(), SendError<A::Msg>> {
        let env = self.envelope(&msg, 0);
        self.actor.try_push(&env).map_err(|r| send_error(r, msg))
    }

    /// Queue `msg` as a request and return the [`PendingReply`] without
    /// waiting for it: keep several in flight to pipeline requests.
    ///
    /// # Errors
    /// As for [`KernelHandle::send`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::send`]: a dropped future has sent nothing.
    pub async fn send_request(&self, msg: A::Msg) -> Result<PendingReply<A>, SendError<A::Msg>> {
        let corr = self.actor.rt.correlation_id();
        let rx = match self.actor.register(corr) {
            Ok(rx) => rx,
            Err(CloseReason::Failed { .. }) => return Err(SendError::ActorFailed(msg)),
            Err(_) => return Err(SendError::Terminated(msg)),
        };
        // From here on the guard unregisters the request if it is dropped.
        let pending = PendingReply { rx, corr, actor: Arc::clone(&self.actor), _actor: PhantomData };
        let env = self.envelope(&msg, corr);
        match self.actor.push(&env, None).await {
            Ok(()) => Ok(pending),
            Err(r) => Err(send_error(r, msg)),
        }
    }

    /// Send `msg` and await the reply, with the actor's default timeout
    /// ([`LaunchOptions::request_timeout`](crate::LaunchOptions::request_timeout)).
    ///
    /// # Errors
    /// [`RequestError::Send`] when the message could not be queued;
    /// [`RequestError::ActorError`] for an error reply;
    /// [`RequestError::Terminated`] / [`RequestError::ActorFailed`] when the
    /// actor stopped before answering; [`RequestError::Timeout`].
    ///
    /// # Cancel safety
    /// If the future is dropped after the message was queued, the message
    /// stays sent: the actor handles it, and the poller discards the reply
    /// (counted in [`HostStats::replies_discarded`]).
    pub async fn request(&self, msg: A::Msg) -> Result<A::Reply, RequestError> {
        self.request_timeout(msg, self.actor.opts.request_timeout).await
    }

    /// [`KernelHandle::request`] with an explicit timeout (covering both the
    /// wait for room and the wait for the reply).
    ///
    /// # Errors
    /// As for [`KernelHandle::request`].
    ///
    /// # Cancel safety
    /// As for [`KernelHandle::request`].
    pub async fn request_timeout(&self, msg: A::Msg, timeout: Duration) -> Result<A::Reply, RequestError> {
        let work = async {
            let pending = self.send_request(msg).await.map_err(|e| RequestError::Send(e.without_message()))?;
            pending.await
        };
        tokio::time::timeout(timeout, work).await.unwrap_or(Err(RequestError::Timeout(timeout)))
    }

    /// The actor's outputs (OUTPUT envelopes: `Context::emit`, and replies
    /// to fire-and-forget messages), as a [`Stream`] of `A::Reply`.
    ///
    /// Outputs are buffered from launch; see the crate's
    /// [`outputs` docs](crate#outputs) for what happens when nobody reads
    /// them. The stream ends after the actor stopped and its last outputs
    /// were read.
    pub fn outputs(&self) -> OutputStream<A> {
        self.actor.outputs.add_stream();
        OutputStream { actor: Arc::clone(&self.actor), _actor: PhantomData }
    }

    // -- observation -----------------------------------------------------------

    /// A copy of the actor's telemetry buffer (latencies, counts).
    ///
    /// The actor loop publishes telemetry and control-block counters off
    /// the message path (every few dozen batches, and once it has been idle
    /// for a few polls; see `ringkernel_device::runtime`), so right after a
    /// reply they may not count that reply's message yet. After
    /// [`KernelHandle::terminate`] returns they are final.
    pub fn telemetry(&self) -> TelemetryBuffer {
        self.actor.telemetry()
    }

    /// The counters of the actor's control block. The lifecycle words
    /// (`state`, `command_seq`, `command_ack`) are current; the message
    /// counters are published like [`KernelHandle::telemetry`], off the
    /// message path.
    pub fn control_snapshot(&self) -> ControlSnapshot {
        let c = self.actor.control_block();
        ControlSnapshot {
            state: self.actor.state(),
            command_seq: c.command_seq,
            command_ack: c.command_ack,
            heartbeat_ns: c.heartbeat_ns,
            messages_in: c.messages_in,
            messages_out: c.messages_out,
            dead_letters: c.dead_letters,
            failures: c.failures,
            hlc: c.hlc,
            last_error: c.last_error,
        }
    }

    /// The host-side counters of this actor.
    pub fn host_stats(&self) -> HostStats {
        let s = &self.actor.stats;
        let o = &self.actor.outputs;
        HostStats {
            replies: s.replies.load(Ordering::Relaxed),
            replies_discarded: s.replies_discarded.load(Ordering::Relaxed),
            outputs_delivered: o.delivered(),
            outputs_buffered: o.buffered() as u64,
            outputs_dropped: o.dropped(),
            rejected: s.rejected.load(Ordering::Relaxed),
            inbox_full: s.inbox_full.load(Ordering::Relaxed),
            stalls: s.stalls.load(Ordering::Relaxed),
            dead_letters_dropped: s.dead_letters_dropped.load(Ordering::Relaxed),
            messages_faulted: s.messages_faulted.load(Ordering::Relaxed),
            replay_lost: s.replay_lost.load(Ordering::Relaxed),
        }
    }

    /// Every envelope the actor rejected since the last call, oldest first:
    /// the reason (an `EnvelopeError` code, or the loop's code for a payload
    /// too short or an actor that stopped before handling it) and the
    /// rejected envelope's header. The actor keeps running; requests among
    /// them were also answered with an error. At most the newest 256 are
    /// kept ([`HostStats::dead_letters_dropped`] counts the rest).
    pub fn take_dead_letters(&self) -> Vec<ringkernel_shared::DeadLetterRecord> {
        self.actor.take_dead_letters()
    }

    /// Workers of the actor's gang ([`crate::gang`]), if it has one: what
    /// [`GangWorkers::Fill`](crate::GangWorkers::Fill) resolved to.
    pub fn gang_workers(&self) -> Option<u32> {
        self.actor.exec().gang().map(|(w, _)| w)
    }

    /// Bytes in the actor's gang arena, if it has a gang.
    pub fn gang_arena_len(&self) -> Option<usize> {
        self.actor.exec().gang().map(|(_, len)| len)
    }

    /// Copy `out.len()` bytes of the gang arena, from byte `at`, to the host
    /// (CUDA: a device-to-host copy; the kernel keeps running).
    ///
    /// # Safety
    /// No gang job may write those bytes while they are copied: read after
    /// the reply of the message whose job wrote them, and before sending
    /// one that makes the gang write them again. (On the CPU backend a
    /// concurrent write would be a data race.)
    ///
    /// # Errors
    /// No gang, a range outside the arena, or a failed device copy.
    pub unsafe fn read_gang_arena(&self, at: usize, out: &mut [u8]) -> Result<(), crate::GangReadError> {
        // SAFETY: forwarded contract.
        unsafe { self.actor.exec().read_gang_arena(at, out) }
    }

    /// Whether the actor is live but has neither beaten nor taken a message
    /// for [`LaunchOptions::stall_timeout`](crate::LaunchOptions::stall_timeout)
    /// (a handler that does not return, a hung kernel). Checked by the
    /// poller every millisecond; clears when the actor makes progress again.
    pub fn is_stalled(&self) -> bool {
        self.actor.stats.stalled.load(Ordering::Acquire)
    }

    // -- checkpoints and recovery ----------------------------------------------

    /// Take a checkpoint of the actor's state, in the running loop: the
    /// actor writes its snapshot ([`Actor::snapshot`]) between two
    /// messages, and it comes back as a [`Checkpoint`] (store it with
    /// [`Checkpoint::to_bytes`]). Its `counters.messages_in` is the inbox
    /// position the state includes.
    ///
    /// With a recovery policy that restarts ([`crate::RecoveryPolicy`]),
    /// the runtime keeps the newest checkpoint and restarts a crashed
    /// actor from it; taking one also trims the replay log.
    ///
    /// # Errors
    /// [`CheckpointTakeError::NotSupported`] for an actor type without
    /// snapshots; [`CheckpointTakeError::Command`] when the actor is not
    /// Active or Deactivated (or does not answer); a region that does not
    /// validate.
    ///
    /// # Cancel safety
    /// Dropping the future after the command was posted leaves it posted:
    /// the actor writes a snapshot nobody reads.
    pub async fn checkpoint(&self) -> Result<Checkpoint, CheckpointTakeError> {
        if A::SNAPSHOT_BYTES == 0 {
            return Err(CheckpointTakeError::NotSupported);
        }
        let _one = self.actor.snapshots.lock().await;
        // A recovery in progress finishes first (the region is then the
        // new incarnation's).
        let start = Instant::now();
        let mut round = 0;
        while self.is_recovering() && start.elapsed() < self.actor.opts.command_timeout {
            crate::actor::host_backoff(&mut round).await;
        }
        let seq = self.actor.command_seq(Command::SNAPSHOT).await.map_err(CheckpointTakeError::Command)?;
        let Some((header, data, cap)) = self.actor.mem.snapshot_region() else {
            return Err(CheckpointTakeError::NotSupported);
        };
        // SAFETY: the loop wrote the region before its release store of the
        // command's ack, which `command_seq` loaded with acquire; it writes
        // the region again only for another SNAPSHOT, which `snapshots`
        // keeps from being posted while this reads.
        let (h, state) = unsafe { (header.read(), std::slice::from_raw_parts(data.cast_const(), cap).to_vec()) };
        if h.seq != u64::from(seq) {
            return Err(CheckpointTakeError::NotAnswered { expected: seq, found: h.seq });
        }
        h.validate(A::TYPE_ID, &state).map_err(CheckpointTakeError::Snapshot)?;
        let c = Checkpoint {
            actor_type_id: A::TYPE_ID,
            actor_id: self.actor.id,
            generation: self.recoveries(),
            hlc: h.hlc,
            counters: crate::CheckpointCounters {
                messages_in: h.messages_in,
                messages_out: h.messages_out,
                dead_letters: h.dead_letters,
                failures: h.failures,
            },
            state: state[..h.len as usize].to_vec(),
        };
        if let Some(r) = &self.actor.recovery {
            lock(&r.log).checkpointed(c.clone());
        }
        Ok(c)
    }

    /// How many times the runtime has recovered this actor from a crash
    /// (see [`crate::recovery`]); 0 without a restarting policy.
    pub fn recoveries(&self) -> u64 {
        self.actor.recovery.as_ref().map_or(0, |r| r.recoveries.load(Ordering::Acquire))
    }

    /// Whether a crash of the actor has been detected and its new
    /// incarnation is not serving yet. New messages wait meanwhile.
    pub fn is_recovering(&self) -> bool {
        self.actor.recovery.as_ref().is_some_and(|r| r.recovering.load(Ordering::Acquire))
    }

    /// Of the last recovery: how long after the crash was detected the new
    /// incarnation was serving (`None` while it is not yet, or if there was
    /// no recovery).
    pub fn last_recovery_time(&self) -> Option<Duration> {
        self.actor.recovery.as_ref().and_then(|r| lock(&r.last).and_then(|(_, took)| took))
    }

    /// Test hook: write `env` into the actor's inbox as it is, skipping
    /// admission and envelope construction, to check how the actor loop
    /// handles a malformed envelope (dead letters). Not for production use.
    ///
    /// # Errors
    /// [`SendError::Full`] when the inbox is full (`Envelope` is `Copy`, so
    /// the caller still has it).
    #[doc(hidden)]
    pub fn debug_inject_envelope(&self, env: &Envelope) -> Result<(), SendError<()>> {
        self.actor.push_raw(env).map_err(|r| send_error(r, ()))
    }
}

/// A request in flight (from [`KernelHandle::send_request`]). Await it for
/// the reply.
///
/// There is no timeout here: the future completes when the reply arrives,
/// or with an error when the actor stops. Wrap it in
/// `tokio::time::timeout`, or use [`KernelHandle::request`], to bound it.
///
/// Dropping it forgets the request: the reply, when it comes, is discarded.
#[must_use = "the reply is discarded unless the PendingReply is awaited"]
pub struct PendingReply<A> {
    rx: oneshot::Receiver<Envelope>,
    corr: u64,
    actor: Arc<ActorShared>,
    _actor: PhantomData<fn() -> A>,
}

impl<A> std::fmt::Debug for PendingReply<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingReply").field("actor", &self.actor.id).field("correlation_id", &self.corr).finish()
    }
}

impl<A> PendingReply<A> {
    /// The request's correlation id.
    pub fn correlation_id(&self) -> u64 {
        self.corr
    }
}

impl<A: Actor> Future for PendingReply<A> {
    type Output = Result<A::Reply, RequestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let env = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(env)) => env,
            Poll::Ready(Err(_)) => return Poll::Ready(Err(close_error(self.actor.close_reason()))),
        };
        Poll::Ready(decode_reply::<A>(&env))
    }
}

impl<A> Drop for PendingReply<A> {
    fn drop(&mut self) {
        self.actor.unregister(self.corr);
    }
}

fn decode_reply<A: Actor>(env: &Envelope) -> Result<A::Reply, RequestError> {
    if env.header.flags.has(MessageFlags::FAULTED) {
        return Err(RequestError::MessageFaulted);
    }
    if env.header.flags.has(MessageFlags::ERROR) {
        let code = env.read_pod::<u32>().unwrap_or(0);
        return Err(RequestError::ActorError(code));
    }
    env.read_pod::<A::Reply>()
        .ok_or(RequestError::MalformedReply { len: env.header.payload_len, expected: size_of::<A::Reply>() })
}

/// The outputs of one actor, in order (see [`KernelHandle::outputs`]).
///
/// Implements [`Stream`]; [`OutputStream::next`] is the same as an async
/// method. Outputs whose payload does not decode as `A::Reply` are skipped
/// and counted in [`HostStats::rejected`].
pub struct OutputStream<A> {
    actor: Arc<ActorShared>,
    _actor: PhantomData<fn() -> A>,
}

impl<A> std::fmt::Debug for OutputStream<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStream").field("actor", &self.actor.id).finish()
    }
}

impl<A: Actor> OutputStream<A> {
    /// The next output, or `None` once the actor has stopped and every
    /// output was read.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future has taken no output.
    pub async fn next(&mut self) -> Option<A::Reply> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<A: Actor> Stream for OutputStream<A> {
    type Item = A::Reply;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<A::Reply>> {
        loop {
            match self.actor.outputs.poll_pop(cx) {
                Poll::Ready(Some(env)) => match env.read_pod::<A::Reply>() {
                    Some(r) => return Poll::Ready(Some(r)),
                    None => {
                        self.actor.stats.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                },
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<A> Drop for OutputStream<A> {
    fn drop(&mut self) {
        self.actor.outputs.remove_stream();
    }
}
