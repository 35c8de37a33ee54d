//! One error type per operation.
//!
//! | operation | error | hands the value back |
//! | --- | --- | --- |
//! | [`RingKernelBuilder::build`](crate::RingKernelBuilder::build) | [`BuildError`] | — |
//! | [`RingKernel::launch`](crate::RingKernel::launch) | [`LaunchError`] | — |
//! | `activate`, `deactivate`, `terminate`, `kill` | [`LifecycleError`] | — |
//! | `send`, `try_send`, `send_timeout`, `send_request` | [`SendError<T>`] | the message |
//! | `request`, `request_timeout`, awaiting a [`PendingReply`](crate::PendingReply) | [`RequestError`] | — (the message was sent) |
//! | [`RingKernel::shutdown`](crate::RingKernel::shutdown) | [`ShutdownError`] | — |
//!
//! Where an error has a cause (a driver error, an OS error, a ring-capacity
//! rule) it is kept as [`std::error::Error::source`], never flattened into a
//! string.

use crate::backend::BackendKind;
use ringkernel_shared::LifecycleState;
use ringkernel_shared::ring::BadCapacity;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A boxed error from a lower layer (a driver, the OS).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why [`RingKernelBuilder::build`](crate::RingKernelBuilder::build) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The requested backend cannot run here (no driver, no device, not
    /// built in). [`Backend::Auto`](crate::Backend::Auto) falls back to the
    /// CPU instead of returning this.
    #[error("the {backend} backend is unavailable: {reason}")]
    BackendUnavailable {
        /// The backend that was asked for.
        backend: BackendKind,
        /// What is missing, and what to do about it.
        reason: Cow<'static, str>,
        /// The underlying error, if there is one (e.g. a driver error).
        #[source]
        source: Option<BoxError>,
    },
    /// `build` was called outside a Tokio runtime.
    #[error("RingKernel must be built inside a Tokio runtime (with the time driver enabled)")]
    NoTokioRuntime,
    /// The poller thread could not be started.
    #[error("could not start the poller thread")]
    Poller(#[source] std::io::Error),
}

/// Why [`RingKernel::launch`](crate::RingKernel::launch) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The runtime was shut down.
    #[error("the runtime has been shut down")]
    ShutDown,
    /// Actor names must not be empty.
    #[error("actor names must not be empty")]
    EmptyName,
    /// A ring capacity was refused.
    #[error("invalid {queue} capacity")]
    InvalidCapacity {
        /// `"inbox"` or `"outbox"`.
        queue: &'static str,
        /// The ring rule that was broken.
        #[source]
        source: BadCapacity,
    },
    /// Actor-system options were refused.
    #[error("invalid actor system options: {0}")]
    InvalidSystem(String),
    /// Gang options were refused, or do not match the kernel (a gang for a
    /// kernel without one, or none for a kernel that has one).
    #[error("invalid gang: {0}")]
    InvalidGang(String),
    /// The output buffer must hold at least one output.
    #[error("output capacity must be at least 1")]
    InvalidOutputCapacity,
    /// Block sizes are 1 to 1024 threads, and a multiple of 32 on the CUDA
    /// backend (an actor runs on one full warp).
    #[error("invalid block size {0}: 1..=1024 threads, and a multiple of 32 on the CUDA backend")]
    InvalidBlockSize(u32),
    /// Actor ids ran out (2^32 - 2 launches in one runtime).
    #[error("actor ids are exhausted")]
    TooManyActors,
    /// The actor's shared memory could not be allocated.
    #[error("could not allocate {bytes} bytes of actor memory")]
    OutOfMemory {
        /// Bytes requested.
        bytes: usize,
    },
    /// The backend could not start the actor (thread spawn, kernel launch).
    #[error("the {backend} backend could not start the actor: {reason}")]
    Start {
        /// The backend.
        backend: BackendKind,
        /// What failed.
        reason: Cow<'static, str>,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// The actor stopped before reaching its first state.
    #[error("the actor stopped while starting (state {state})")]
    FailedToStart {
        /// The state it stopped in.
        state: LifecycleState,
        /// What the backend observed, if anything.
        #[source]
        fault: Option<ExecutionError>,
    },
    /// The actor did not finish initializing in time.
    #[error("the actor did not start within {waited:?} (state {state})")]
    StartTimeout {
        /// The state it was in.
        state: LifecycleState,
        /// How long the runtime waited.
        waited: Duration,
    },
}

/// Why a lifecycle command (`activate`, `deactivate`, `terminate`, `kill`)
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The state machine does not allow this transition; nothing was posted,
    /// or the actor refused it because its state changed meanwhile.
    #[error("illegal lifecycle transition {from} -> {to}")]
    IllegalTransition {
        /// The actor's state.
        from: LifecycleState,
        /// The state the command leads to.
        to: LifecycleState,
    },
    /// The actor failed (before or while applying the command).
    #[error("the actor failed (last error code {code})")]
    ActorFailed {
        /// `ControlBlock::last_error` at the time.
        code: u32,
        /// What the backend observed, if anything.
        #[source]
        fault: Option<ExecutionError>,
    },
    /// The actor did not acknowledge the command, or did not finish, in time.
    #[error("the actor did not complete `{command}` within {waited:?} (state {state})")]
    Timeout {
        /// The command.
        command: &'static str,
        /// The state when the runtime gave up.
        state: LifecycleState,
        /// How long the runtime waited.
        waited: Duration,
    },
    /// The actor's execution could not be joined.
    #[error("the actor's execution could not be joined")]
    Join(#[source] ExecutionError),
}

/// Why a message was not sent; the message is handed back.
///
/// `T` need not implement `Debug`: the `Debug` output leaves the message out.
pub enum SendError<T> {
    /// The inbox is full (`try_send` only; `send` waits for room).
    Full(T),
    /// The actor is draining or terminated: it takes no new messages.
    Terminated(T),
    /// The actor failed: it takes no new messages.
    ActorFailed(T),
    /// No room appeared in the inbox within the given time (`send_timeout`).
    Timeout(T),
}

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(t) | Self::Terminated(t) | Self::ActorFailed(t) | Self::Timeout(t) => t,
        }
    }

    /// The same error without its message.
    pub fn without_message(&self) -> SendError<()> {
        match self {
            Self::Full(_) => SendError::Full(()),
            Self::Terminated(_) => SendError::Terminated(()),
            Self::ActorFailed(_) => SendError::ActorFailed(()),
            Self::Timeout(_) => SendError::Timeout(()),
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Full(_) => "Full",
            Self::Terminated(_) => "Terminated",
            Self::ActorFailed(_) => "ActorFailed",
            Self::Timeout(_) => "Timeout",
        };
        write!(f, "{name}(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "the actor's inbox is full",
            Self::Terminated(_) => "the actor is draining or terminated",
            Self::ActorFailed(_) => "the actor has failed",
            Self::Timeout(_) => "no room in the actor's inbox in time",
        })
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> PartialEq for SendError<T> {
    /// Compares the kind of error, not the messages.
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl<T> Eq for SendError<T> {}

impl<T: Clone> Clone for SendError<T> {
    fn clone(&self) -> Self {
        match self {
            Self::Full(t) => Self::Full(t.clone()),
            Self::Terminated(t) => Self::Terminated(t.clone()),
            Self::ActorFailed(t) => Self::ActorFailed(t.clone()),
            Self::Timeout(t) => Self::Timeout(t.clone()),
        }
    }
}

/// Why a request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The message could not be sent.
    #[error("the request could not be sent")]
    Send(#[source] SendError<()>),
    /// The actor answered with an error reply (`Context::reply_error`, or
    /// the fault code of a handler that crashed on this request, or a
    /// dead-letter code from the actor loop).
    #[error("the actor answered with error code {0}")]
    ActorError(u32),
    /// The actor terminated before answering.
    #[error("the actor terminated before answering")]
    Terminated,
    /// The actor failed before answering.
    #[error("the actor failed before answering (last error code {code})")]
    ActorFailed {
        /// `ControlBlock::last_error` when the failure was seen.
        code: u32,
    },
    /// No reply within the timeout. The message stays sent; a late reply is
    /// discarded.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The reply did not decode as the actor's reply type.
    #[error("reply payload of {len} bytes does not hold a {expected}-byte reply")]
    MalformedReply {
        /// Bytes of payload in the reply.
        len: u32,
        /// Bytes the reply type needs.
        expected: usize,
    },
    /// The runtime shut down before the reply arrived.
    #[error("the runtime shut down before the reply arrived")]
    ShutDown,
    /// The actor's execution crashed while this request may have been
    /// handled (it may even have caused the crash); its recovery policy
    /// restarted the actor from its last checkpoint without it, so it had
    /// no effect. Sending it again is safe.
    #[error("the actor crashed while this request was in flight; it was not applied (send it again)")]
    MessageFaulted,
}

/// Why [`KernelHandle::checkpoint`](crate::KernelHandle::checkpoint) gave no checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointTakeError {
    /// The actor type takes no snapshots (`Actor::SNAPSHOT_BYTES` is 0).
    #[error("the actor type takes no snapshots (Actor::SNAPSHOT_BYTES is 0)")]
    NotSupported,
    /// The `SNAPSHOT` command could not be applied (the actor is not live,
    /// failed, or did not answer in time).
    #[error("the snapshot command failed")]
    Command(#[source] LifecycleError),
    /// The actor loop acknowledged, but its snapshot region holds no valid
    /// snapshot for this request.
    #[error("the actor's snapshot is not usable")]
    Snapshot(#[source] ringkernel_shared::snapshot::SnapshotError),
    /// The acknowledged snapshot answers another request (`seq`), so it was
    /// not written for this one.
    #[error("the snapshot region answers command {found}, not {expected}")]
    NotAnswered {
        /// The command sequence this checkpoint posted.
        expected: u32,
        /// The one in the region.
        found: u64,
    },
}

/// What went wrong with an actor's execution (its thread or its kernel).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutionError {
    /// The actor's CPU thread panicked (a bug in the handler).
    #[error("the actor thread panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The execution ended without the actor reaching Terminated or Failed.
    #[error("the actor's execution ended in state {state}")]
    ExitedEarly {
        /// The state it left behind.
        state: LifecycleState,
    },
    /// The actor's GPU kernel failed (a trap, an illegal address, a launch
    /// failure); the CUDA error names it. A sticky error poisons the
    /// runtime's GPU context.
    #[error("the actor's GPU kernel failed")]
    Gpu(#[source] crate::cuda::driver::CudaError),
    /// The actor panicked on the GPU and its kernel is trapping: the
    /// panic handler marked the control block first (actors in a worker
    /// process, [`crate::cuda::isolated`]), so this is seen before the
    /// driver reports the trap.
    #[error("the actor panicked on the GPU (its kernel traps)")]
    DevicePanic,
    /// The worker process of an actor with a recovery policy on CUDA
    /// could not start its kernel, or ended without a report
    /// ([`crate::cuda::isolated`]).
    #[error("the actor's worker process failed: {message}")]
    Worker {
        /// What it reported, or what the runtime saw.
        message: String,
    },
    /// The execution did not finish within the time given to `join`.
    #[error("the actor's execution did not finish within {waited:?}")]
    JoinTimeout {
        /// How long the runtime waited.
        waited: Duration,
    },
}

/// Why [`RingKernel::shutdown`](crate::RingKernel::shutdown) did not stop
/// everything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// These actors did not stop in time; their memory is kept (leaked) so
    /// that a still-running thread never touches freed memory.
    #[error("{} actor(s) did not stop: {}", actors.len(), actors.join(", "))]
    ActorsStillRunning {
        /// `"<id>:<name>"` of each actor.
        actors: Vec<String>,
    },
}
