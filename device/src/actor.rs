//! The actor contract.
//!
//! An actor is a value with state and a handler. Users implement [`Actor`] in
//! a `no_std` crate; the CPU backend runs it on a host thread and the CUDA
//! backend runs it inside a persistent kernel, through the same loop
//! ([`crate::runtime::run_actor`]).
//!
//! ```
//! use ringkernel_device::{Actor, Context, Fault};
//!
//! /// Keeps a running sum and answers with it.
//! pub struct Summer { total: u64 }
//!
//! impl Actor for Summer {
//!     const TYPE_ID: u32 = 0x5_0001;
//!     type Msg = u64;
//!     type Reply = u64;
//!     fn create(_actor_id: u32) -> Self { Summer { total: 0 } }
//!     fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: u64) -> Result<(), Fault> {
//!         self.total = self.total.checked_add(msg).ok_or(Fault(1))?;
//!         ctx.reply(&self.total).map_err(|_| Fault(2))
//!     }
//! }
//! ```

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use ringkernel_shared::supervision::RestartPolicy;
use ringkernel_shared::{Envelope, HlcTimestamp, MessageFlags};

/// Largest number of envelopes one `handle` call may send.
pub const MAX_OUTPUTS_PER_MESSAGE: usize = 4;

/// A user actor: state plus a handler over one plain-data message type.
///
/// `Msg` and `Reply` must fit in an envelope payload (64 bytes); this is
/// checked at compile time when the actor is instantiated in a loop.
///
/// ## Handlers run in lockstep on the GPU
///
/// Inside the persistent kernel the loop runs on the 32 lanes of one warp:
/// every lane holds its own copy of the state, sees the same messages and
/// calls `create` and `handle` with the same arguments; only lane 0's
/// sends are written out (see [`Platform`](crate::Platform)). A handler
/// must therefore be a deterministic function of its state, its message and
/// its [`Context`] — which plain Rust over plain data is. It must not
/// read or write memory behind raw pointers it got elsewhere, since each lane
/// would do so.
pub trait Actor: Sized {
    /// The message type id this actor accepts. Envelopes of any other type
    /// are dead letters.
    const TYPE_ID: u32;
    /// Inbound message (plain data, at most 64 bytes).
    type Msg: bytemuck::Pod;
    /// Outbound reply or output (plain data, at most 64 bytes).
    type Reply: bytemuck::Pod;

    /// Create the actor's state. Called at launch and at every restart.
    fn create(actor_id: u32) -> Self;

    /// Handle one message. Returning `Err` is a crash: the actor goes to
    /// Failed and its supervisor's policy decides what follows. Business
    /// errors that the actor survives are answered with
    /// [`Context::reply_error`] instead.
    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: Self::Msg) -> Result<(), Fault>;

    /// Bytes [`Actor::snapshot`] writes at most. 0 (the default): the actor
    /// takes no snapshots; the host's `checkpoint` reports that, and a
    /// recovery starts it afresh with [`Actor::create`].
    const SNAPSHOT_BYTES: usize = 0;

    /// Write the state into `out` (exactly [`Actor::SNAPSHOT_BYTES`] long)
    /// and return how many bytes were used. Called by the loop between two
    /// messages when the host asks for a checkpoint; on the GPU only lane 0
    /// calls it, so it must only read `self`.
    fn snapshot(&self, out: &mut [u8]) -> usize {
        let _ = out;
        0
    }

    /// Replace the state with one [`Actor::snapshot`] wrote (`bytes` is what
    /// it returned). Called right after [`Actor::create`] when an
    /// incarnation starts as a recovery, before any message. An `Err`
    /// fails the incarnation (it does not run with a state that is not the
    /// checkpoint's).
    fn restore(&mut self, bytes: &[u8]) -> Result<(), Fault> {
        let _ = bytes;
        Err(Fault(RESTORE_UNSUPPORTED))
    }
}

/// The [`Fault`] code of the default [`Actor::restore`]: the actor takes no
/// snapshots, so it has none to restore.
pub const RESTORE_UNSUPPORTED: u32 = 0x5253_0001;

/// The PTX entry point that runs an actor type on the GPU. Implemented by
/// [`crate::actor_kernel!`]; the host's CUDA backend launches `ENTRY`.
pub trait KernelEntry: Actor {
    /// Name of the `.entry` in the PTX module.
    const ENTRY: &'static str;
    /// `GangWork::ID` of the kernel's gang of workers ([`crate::gang`]);
    /// `None` for a kernel without one.
    const GANG: Option<u32> = None;
    /// Run worker `index` of the kernel's gang on one host thread (the CPU
    /// backend); does nothing for a kernel without a gang.
    ///
    /// # Safety
    /// As for [`crate::gang::run_worker`] with one thread per worker.
    unsafe fn run_gang_worker<P: crate::Platform>(gang: *mut ringkernel_shared::gang::GangControl, index: u32) {
        let _ = (gang, index);
    }
}

/// A crash reported by a handler, with a non-zero code of the actor's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault(pub u32);

/// Why a send from a handler failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The handler already sent [`MAX_OUTPUTS_PER_MESSAGE`] envelopes.
    TooManyOutputs,
    /// The destination's K2K inbox is full; nothing was sent. Try again in a
    /// later message, or answer the work with an error.
    InboxFull,
    /// No slot of this system hosts that actor id.
    NoSuchActor,
    /// The actor does not run in an actor system (a single-actor launch),
    /// so there is no one to send to, spawn or look up.
    NotInSystem,
    /// Every slot of the spawn pool is taken.
    NoFreeSlot,
    /// A name or topic breaks the naming rules.
    InvalidName,
}

/// How a spawned child supervises *its own* children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildSpec {
    /// Which of its children restart when one fails.
    pub policy: RestartPolicy,
    /// Most restarts of its children within `window_ms` before it gives up
    /// (escalates).
    pub max_restarts: u32,
    /// The restart-intensity window in milliseconds.
    pub window_ms: u32,
}

impl Default for ChildSpec {
    /// One-for-one, at most 3 restarts in 5 s.
    fn default() -> Self {
        Self { policy: RestartPolicy::ONE_FOR_ONE, max_restarts: 3, window_ms: 5000 }
    }
}

/// What an actor in a system can reach besides its own outputs:
/// implemented by the system slot loop (`crate::system`).
pub(crate) trait SystemPort {
    /// Deliver `env` to the K2K inbox of `env.header.destination`.
    fn send(&self, env: &Envelope) -> Result<(), SendError>;
    /// Create a child of this actor of type `type_id` in a free spawn-pool
    /// slot; returns its actor id.
    fn spawn(&self, type_id: u32, spec: ChildSpec) -> Result<u32, SendError>;
    /// The actor registered under `name`, or the first match of a `*`
    /// pattern.
    fn lookup(&self, name: &[u8]) -> Option<u32>;
    /// Deliver `env` to every subscriber of `topic`; returns how many got it.
    fn publish(&self, topic: &[u8], env: &Envelope) -> Result<u32, SendError>;
}

/// Envelopes a handler produced, flushed by the loop after `handle` returns.
pub(crate) struct Outputs {
    envs: [MaybeUninit<Envelope>; MAX_OUTPUTS_PER_MESSAGE],
    len: usize,
}

impl Outputs {
    pub(crate) const fn new() -> Self {
        Self { envs: [const { MaybeUninit::uninit() }; MAX_OUTPUTS_PER_MESSAGE], len: 0 }
    }
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
    fn push(&mut self, env: Envelope) -> Result<(), SendError> {
        if self.len == MAX_OUTPUTS_PER_MESSAGE {
            return Err(SendError::TooManyOutputs);
        }
        self.envs[self.len].write(env);
        self.len += 1;
        Ok(())
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn get_mut(&mut self, i: usize) -> &mut Envelope {
        assert!(i < self.len);
        // SAFETY: entries below `len` were written by `push`.
        unsafe { self.envs[i].assume_init_mut() }
    }
}

/// What a handler can do besides changing its own state.
pub struct Context<'a, A: Actor> {
    pub(crate) outputs: &'a mut Outputs,
    pub(crate) actor_id: u32,
    pub(crate) source: u32,
    pub(crate) correlation_id: u64,
    pub(crate) now: HlcTimestamp,
    /// The actor's clock while the handler runs: ticked by every K2K send.
    pub(crate) clock: HlcTimestamp,
    pub(crate) port: Option<&'a dyn SystemPort>,
    /// The actor's gang, when its kernel has one.
    pub(crate) gang: Option<crate::gang::GangRef<'a>>,
    pub(crate) stop: bool,
    pub(crate) replied: bool,
    pub(crate) _actor: PhantomData<fn(A)>,
}

impl<'a, A: Actor> Context<'a, A> {
    /// This actor's id.
    pub fn actor_id(&self) -> u32 {
        self.actor_id
    }

    /// Sender of the current message.
    pub fn source(&self) -> u32 {
        self.source
    }

    /// Correlation id of the current message (0 for fire-and-forget sends).
    pub fn correlation_id(&self) -> u64 {
        self.correlation_id
    }

    /// The actor's hybrid logical clock after receiving this message.
    pub fn now(&self) -> HlcTimestamp {
        self.now
    }

    fn envelope(&self, reply: &A::Reply, flags: u16, correlation_id: u64) -> Envelope {
        // Size fits: checked at compile time in `run_actor`.
        let mut env = match Envelope::from_pod(A::TYPE_ID, self.actor_id, self.source, reply) {
            Ok(e) => e,
            Err(_) => unreachable_oversize(),
        };
        env.header.flags.0 |= flags;
        env.header.correlation_id = correlation_id;
        env
    }

    /// Answer the current message. For a request this completes the caller's
    /// future; for a fire-and-forget message it becomes an output.
    pub fn reply(&mut self, reply: &A::Reply) -> Result<(), SendError> {
        let (flags, corr) = if self.correlation_id != 0 {
            (MessageFlags::REPLY, self.correlation_id)
        } else {
            (MessageFlags::OUTPUT, 0)
        };
        let env = self.envelope(reply, flags, corr);
        self.outputs.push(env)?;
        self.replied |= corr != 0;
        Ok(())
    }

    /// Answer the current request with an error code the caller receives as
    /// `Err`. The actor keeps running.
    pub fn reply_error(&mut self, code: u32) -> Result<(), SendError> {
        let mut env = self.envelope(
            &bytemuck::Zeroable::zeroed(),
            MessageFlags::REPLY | MessageFlags::ERROR,
            self.correlation_id,
        );
        env.payload[..4].copy_from_slice(&code.to_le_bytes());
        env.header.payload_len = 4;
        env.seal();
        self.outputs.push(env)?;
        self.replied = true;
        Ok(())
    }

    /// Publish an uncorrelated output (goes to the host's output stream).
    pub fn emit(&mut self, output: &A::Reply) -> Result<(), SendError> {
        let env = self.envelope(output, MessageFlags::OUTPUT, 0);
        self.outputs.push(env)
    }

    /// Stop after this message: the actor goes to Terminated and processes
    /// nothing more.
    pub fn stop(&mut self) {
        self.stop = true;
    }

    /// The actor's gang of worker blocks, doing work `W`
    /// ([`crate::gang`]): dispatch data-parallel jobs to it with
    /// [`Gang::run`](crate::gang::Gang::run). An error when the kernel was
    /// declared without a gang or with another work type.
    pub fn gang<W: crate::gang::GangWork>(&self) -> Result<crate::gang::Gang<'a, W>, crate::gang::GangError> {
        crate::gang::typed::<W>(self.gang)
    }

    fn port(&self) -> Result<&'a dyn SystemPort, SendError> {
        self.port.ok_or(SendError::NotInSystem)
    }

    fn k2k_envelope<B: Actor>(&mut self, to: u32, msg: &B::Msg) -> Envelope {
        let mut env = match Envelope::from_pod(B::TYPE_ID, self.actor_id, to, msg) {
            Ok(e) => e,
            Err(_) => unreachable_oversize(),
        };
        // A send is an event of this actor: its stamp is strictly after the
        // receipt of the current message and after every earlier send.
        let physical = self.clock.physical;
        env.header.hlc = self.clock.tick(physical);
        env
    }

    /// Send `msg` to actor `to` (of type `B`) in this system, on the device:
    /// it goes straight into `to`'s K2K inbox. A full inbox is reported as
    /// [`SendError::InboxFull`] and nothing is sent; the message is never
    /// dropped silently. Replies from `to` do not come back automatically:
    /// `to` answers with a `send_to` of its own.
    pub fn send_to<B: Actor>(&mut self, to: u32, msg: &B::Msg) -> Result<(), SendError> {
        const { assert!(core::mem::size_of::<B::Msg>() <= ringkernel_shared::PAYLOAD_BYTES) };
        let port = self.port()?;
        let env = self.k2k_envelope::<B>(to, msg);
        port.send(&env)
    }

    /// Create a child actor of type `B` under this actor (its supervisor)
    /// in a free slot of the system's spawn pool, without a new launch.
    /// Returns the child's actor id at once; the child starts shortly after.
    pub fn spawn<B: Actor>(&mut self, spec: ChildSpec) -> Result<u32, SendError> {
        self.port()?.spawn(B::TYPE_ID, spec)
    }

    /// The actor the host registered under `name`, or the first registered
    /// name matching a `*` pattern (see `ringkernel_shared::registry`).
    pub fn lookup(&self, name: &[u8]) -> Result<Option<u32>, SendError> {
        if ringkernel_shared::registry::validate_name_pattern(name).is_err() {
            return Err(SendError::InvalidName);
        }
        Ok(self.port()?.lookup(name))
    }

    /// Publish `msg` (a message of type `B`) on `topic`: every actor
    /// subscribed with a matching pattern gets it in its K2K inbox. Returns
    /// how many did; a subscriber whose inbox is full makes this return
    /// [`SendError::InboxFull`] after the others got theirs.
    pub fn publish<B: Actor>(&mut self, topic: &[u8], msg: &B::Msg) -> Result<u32, SendError> {
        if ringkernel_shared::topic::validate_topic(topic).is_err() {
            return Err(SendError::InvalidName);
        }
        let port = self.port()?;
        let env = self.k2k_envelope::<B>(0, msg);
        port.publish(topic, &env)
    }
}

#[cold]
#[inline(never)]
fn unreachable_oversize() -> ! {
    panic!("reply larger than an envelope payload")
}
