//! # RingKernel: persistent actors with a safe async host API
//!
//! Actors are written once, in a `no_std` crate, against
//! [`ringkernel_device::Actor`]; this crate runs them — on host threads
//! ([`Backend::Cpu`]) or inside persistent GPU kernels ([`Backend::Cuda`]) —
//! and drives them from async Rust.
//!
//! ```
//! use ringkernel::{Backend, LaunchOptions, RingKernel};
//! use ringkernel_example_actors::{Hello, HelloRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rk = RingKernel::builder().backend(Backend::Auto).build().await?;
//! let hello = rk.launch::<Hello>("hello", LaunchOptions::default()).await?;
//! let greeting = hello.request(HelloRequest::new("World")?).await?;
//! assert_eq!(greeting.as_str()?, format!("Hello, World! (actor {}, message #1)", hello.id()));
//! hello.terminate().await?;
//! rk.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Architecture
//!
//! ```text
//!   tokio tasks                                  backend
//!  ┌──────────────────┐  H2K ring (inbox)   ┌─────────────────────────┐
//!  │ KernelHandle<A>  │────────────────────▶│ actor loop (run_actor)  │
//!  │  send / request  │                     │  CPU: a thread per actor│
//!  │  activate / ...  │── control block ───▶│  CUDA: a persistent     │
//!  └──────────────────┘   (commands, state) │        kernel           │
//!           ▲                               └───────────┬─────────────┘
//!           │ oneshot (replies),                        │ K2H ring (outbox)
//!           │ output buffer (outputs)                   ▼
//!  ┌────────┴──────────────────────────────────────────────────────────┐
//!  │ poller thread (one per runtime): validates every envelope, routes │
//!  │ replies by correlation id and outputs to streams, watches state   │
//!  └───────────────────────────────────────────────────────────────────┘
//! ```
//!
//! * Memory per actor: control block, telemetry, inbox and outbox rings, in
//!   one block both sides reach (`memory` module docs have the layout).
//! * Everything above the backend (poller, requests, outputs, lifecycle
//!   commands) goes through that memory with the ring endpoints and
//!   system-scope atomics of `ringkernel-device`, so it is the same code for
//!   the CPU and the GPU.
//! * Every message is an [`Envelope`] stamped by the host's hybrid logical
//!   clock, with a correlation id (unique per runtime) for requests.
//!
//! ## Lifecycle
//!
//! Commands go through the control block and the shared state machine
//! ([`LifecycleState::can_transition_to`]); an illegal one is a typed error,
//! never a hang.
//!
//! | command | legal from | leads to |
//! | --- | --- | --- |
//! | [`activate`](KernelHandle::activate) / `resume` | Deactivated | Active |
//! | [`deactivate`](KernelHandle::deactivate) / `suspend` | Active | Deactivated |
//! | [`terminate`](KernelHandle::terminate) | Active, Deactivated | Draining → Terminated |
//! | [`kill`](KernelHandle::kill) | Active, Deactivated, Draining | Terminated |
//!
//! A handler that returns `Err(Fault)` (or, on the CPU, panics) sends its
//! actor to Failed; requests waiting on it fail with
//! [`RequestError::ActorFailed`] and sends are refused with
//! [`SendError::ActorFailed`].
//!
//! ## Outputs
//!
//! A `reply` to a fire-and-forget message, and every `emit`, is an output;
//! [`KernelHandle::outputs`] streams them. The host buffers up to
//! [`LaunchOptions::output_capacity`] outputs per actor. With no stream open
//! the oldest are dropped (counted in [`HostStats::outputs_dropped`]); with a
//! stream open the poller applies backpressure to the actor instead of
//! dropping.
//!
//! ## Threads and CPU cost
//!
//! One poller thread per runtime, plus one thread per actor on the CPU
//! backend. Idle loops spin briefly, then yield, then park with timeouts
//! capped at 200 µs; sends and commands unpark them. An idle actor or poller
//! costs about 1–2 % of a core.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod actor;
mod backend;
pub mod checkpoint;
mod clock;
pub mod cuda;
mod error;
pub mod gang;
mod handle;
mod memory;
mod outputs;
mod poller;
pub mod recovery;
mod runtime;
mod sync;
pub mod system;

pub use backend::cpu::HostPlatform;
pub use backend::{Backend, BackendKind};
pub use checkpoint::{Checkpoint, CheckpointCounters, CheckpointError};
pub use clock::HOST_NODE_ID;
pub use error::{
    BoxError, BuildError, CheckpointTakeError, ExecutionError, LaunchError, LifecycleError, RequestError, SendError,
    ShutdownError,
};
pub use gang::{GangOptions, GangReadError, GangWorkers};
pub use handle::{ControlSnapshot, HostStats, KernelHandle, OutputStream, PendingReply, Stream};
pub use recovery::RecoveryPolicy;
pub use ringkernel_device::ChildSpec;
pub use ringkernel_shared::supervision::RestartPolicy;
pub use runtime::{LaunchOptions, RingKernel, RingKernelBuilder};
pub use system::{ActorSystem, SlotInfo, Spawn, SystemError, SystemOptions};

pub use ringkernel_device::{Actor, Context, Fault, KernelEntry};
pub use ringkernel_shared::{Envelope, HlcTimestamp, LifecycleState, TelemetryBuffer};
