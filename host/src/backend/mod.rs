//! Backends: where actors run.
//!
//! Everything above this module — the poller, requests, outputs, lifecycle
//! commands — talks to an actor only through its [`ActorMemory`] (control
//! block, rings, telemetry), with the ring endpoints of `ringkernel-device`
//! and its system-scope atomics. A backend only has to do two things:
//!
//! 1. [`BackendImpl::alloc_actor`]: provide memory that both the host and
//!    the actor's execution reach (CPU: the heap; CUDA: mapped pinned host
//!    memory), laid out by [`crate::memory::ActorLayout`];
//! 2. [`BackendImpl::start`]: run the actor loop over it (CPU: a thread
//!    running [`ringkernel_device::run_actor`]; CUDA: a persistent kernel
//!    launch of the PTX entry [`ActorProgram::entry`]), returning an
//!    [`Execution`] the runtime can watch and join.
//!
//! The traits are object-safe and non-generic: the runtime holds a
//! `Box<dyn BackendImpl>` chosen at build time.
//!
//! | [`Backend`] asked for | what `build` does |
//! | --- | --- |
//! | `Cpu` | the CPU backend |
//! | `Cuda` | the CUDA backend, or [`BuildError::BackendUnavailable`] |
//! | `Auto` | CUDA if [`cuda_backend`] gives one, else the CPU backend (the reason is kept: [`crate::RingKernel::fallback_reason`]) |

pub(crate) mod cpu;

use crate::error::{BuildError, ExecutionError, LaunchError};
use crate::memory::{ActorLayout, ActorMemory, MemoryOwner};
use crate::runtime::LaunchOptions;
use ringkernel_device::ActorPointers;
use ringkernel_shared::gang::GangControl;
use ringkernel_shared::system::SystemControl;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The backend to ask [`RingKernelBuilder`](crate::RingKernelBuilder) for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Actors run on host threads (always available).
    Cpu,
    /// Actors run inside persistent CUDA kernels.
    Cuda,
    /// CUDA when a usable GPU and driver are present, else the CPU.
    #[default]
    Auto,
}

/// The backend a runtime actually uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Host threads.
    Cpu,
    /// Persistent CUDA kernels.
    Cuda,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "CPU",
            Self::Cuda => "CUDA",
        })
    }
}

/// What a backend needs to run one actor type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ActorProgram {
    /// PTX entry name (`KernelEntry::ENTRY`).
    pub entry: &'static str,
    /// The actor loop for host threads: `run_actor::<A, HostPlatform>`.
    pub cpu_entry: unsafe fn(ActorPointers),
    /// `Actor::TYPE_ID`.
    pub type_id: u32,
    /// The runtime's actor id (for thread names, diagnostics).
    pub actor_id: u32,
    /// The kernel's gang, if it declares one.
    pub gang: Option<GangProgram>,
}

/// What a backend needs to run an actor's gang.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GangProgram {
    /// `GangWork::ID`.
    pub work_id: u32,
    /// The actor loop with its gang, for host threads: `run_actor_with_gang::<A, HostPlatform>`.
    pub cpu_actor: unsafe fn(ActorPointers, *mut GangControl),
    /// One worker, for host threads: `A::run_gang_worker::<HostPlatform>`.
    pub cpu_worker: unsafe fn(*mut GangControl, u32),
}

/// What a backend needs to run an actor system.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SystemProgram {
    /// PTX entry name (`SystemEntry::ENTRY`).
    pub entry: &'static str,
    /// One slot's loop for host threads: `run_slot::<S, HostPlatform>`.
    pub cpu_slot: unsafe fn(*const SystemControl, u32),
    /// Number of slots.
    pub slots: u32,
}

/// Memory both the host and a system's execution reach (CPU: heap; CUDA:
/// mapped pinned memory whose device address equals its host address).
pub(crate) struct HostBlock {
    pub ptr: *mut u8,
    pub _owner: Box<dyn MemoryOwner>,
}

// SAFETY: a pointer into memory owned by `_owner` (Send + Sync); concurrent
// access follows the system layout's protocols (ringkernel_shared::system).
unsafe impl Send for HostBlock {}
// SAFETY: as above.
unsafe impl Sync for HostBlock {}

/// Memory only a system's execution touches (CUDA: device memory; CPU: heap).
pub(crate) struct DeviceBlock {
    /// Address the execution uses.
    pub addr: u64,
    pub _owner: Box<dyn MemoryOwner>,
}

/// A running actor system: one execution, many slots.
pub(crate) trait SystemExecution: Send + Sync {
    /// A fault that took slot `slot` down (CPU: a panic in it; CUDA: any
    /// kernel fault, which takes every slot).
    fn slot_fault(&self, slot: u32) -> Option<ExecutionError>;
    /// Whether every slot has returned.
    fn is_finished(&self) -> bool;
    /// Wait up to `timeout` for every slot to return.
    fn join(&self, timeout: Duration) -> Result<(), ExecutionError>;
    /// New work for `slot` (CPU: unpark its thread).
    fn wake_slot(&self, slot: u32);
}

/// A place actors run.
pub(crate) trait BackendImpl: Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Allocate and initialize one actor's memory as `layout` says: zeroed
    /// control block, telemetry and snapshot region, both rings initialised
    /// with their capacities.
    fn alloc_actor(&self, layout: &ActorLayout) -> Result<ActorMemory, LaunchError>;

    /// Start the actor loop of `program` over `mem`, whose control block the
    /// runtime has filled in. The returned execution must not outlive `mem`:
    /// the runtime joins it before dropping the memory.
    fn start(
        &self,
        program: &ActorProgram,
        mem: &ActorMemory,
        opts: &LaunchOptions,
    ) -> Result<Box<dyn Execution>, LaunchError>;

    /// `bytes` of zeroed, 128-aligned memory the host and a system reach.
    fn alloc_host_block(&self, bytes: usize) -> Result<HostBlock, LaunchError>;

    /// Memory only the system's execution touches, filled with `image`.
    /// CUDA: allocate and copy while no actor of the system runs.
    fn alloc_device_block(&self, image: &[u8]) -> Result<DeviceBlock, LaunchError>;

    /// Start every slot of a system whose [`SystemControl`] is at `control`
    /// (filled in, with its slot table, device region and directory). The
    /// execution must not outlive any of that memory.
    fn start_system(
        &self,
        program: &SystemProgram,
        control: *const SystemControl,
    ) -> Result<Arc<dyn SystemExecution>, LaunchError>;
}

/// One running actor loop (a thread, a kernel launch).
pub(crate) trait Execution: Send + Sync {
    /// A fault the backend observed (a panic, a kernel trap), if any. The
    /// actor's own failures (a handler `Fault`) show in its control block
    /// instead.
    fn poll_fault(&self) -> Option<ExecutionError>;

    /// Whether the execution has ended.
    fn is_finished(&self) -> bool;

    /// Wait up to `timeout` for the execution to end and release its
    /// resources. Returns at once when [`Execution::is_finished`] is true.
    /// Joining twice is a no-op.
    fn join(&self, timeout: Duration) -> Result<(), ExecutionError>;

    /// Hint that new work was posted (a message or a command), so an actor
    /// that backed off deeply can look now. CPU: unparks the thread. Never
    /// needed for correctness: every back-off is bounded.
    fn wake(&self);

    /// Workers and arena length of the actor's gang, if it has one.
    fn gang(&self) -> Option<(u32, usize)> {
        None
    }

    /// Copy `out.len()` bytes of the gang arena from offset `at`.
    ///
    /// # Safety
    /// No gang job writes those bytes meanwhile.
    unsafe fn read_gang_arena(&self, at: usize, out: &mut [u8]) -> Result<(), crate::gang::GangReadError> {
        let _ = (at, out);
        Err(crate::gang::GangReadError::NoGang)
    }
}

/// The CUDA backend, if it can run here (driver, device, compute
/// capability); otherwise why not.
///
/// This is the hook [`Backend::Cuda`] and [`Backend::Auto`] go through.
pub(crate) fn cuda_backend() -> Result<Box<dyn BackendImpl>, BuildError> {
    crate::cuda::backend::CudaBackend::new().map(|b| Box::new(b) as Box<dyn BackendImpl>)
}

/// The backend for `choice`, and for `Auto` the reason CUDA was not used.
pub(crate) fn select(choice: Backend) -> Result<(Box<dyn BackendImpl>, Option<BuildError>), BuildError> {
    match choice {
        Backend::Cpu => Ok((Box::new(cpu::CpuBackend), None)),
        Backend::Cuda => cuda_backend().map(|b| (b, None)),
        Backend::Auto => match cuda_backend() {
            Ok(b) => Ok((b, None)),
            Err(why) => Ok((Box::new(cpu::CpuBackend), Some(why))),
        },
    }
}
