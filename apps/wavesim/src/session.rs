//! The persistent engine from the host: [`PersistentSim`] launches
//! [`WaveActor`] with its gang through RingKernel's public API and drives it
//! with [`Command`]s.
//!
//! ```no_run
//! use ringkernel::{Backend, GangWorkers};
//! use ringkernel_wavesim::session::PersistentSim;
//! use ringkernel_wavesim::{Command, GridDims};
//!
//! let dims = GridDims::cube(64).unwrap();
//! let sim = PersistentSim::launch(dims, Backend::Auto, GangWorkers::Fill).unwrap();
//! sim.command(Command::inject_impulse(dims.centre(), 1.0)).unwrap();
//! let reply = sim.command(Command::run_steps(100)).unwrap();
//! assert_eq!(reply.step, 100);
//! let field = sim.pressure().unwrap(); // the current pressure, read from the gang's arena
//! sim.shutdown().unwrap();
//! ```
//!
//! The calls block: the session owns a small tokio runtime and waits on it,
//! so the `wavesim` binary and the tests stay synchronous. One launch holds
//! the simulation for the session's life; commands never launch a kernel.

use std::fmt;
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use ringkernel::{
    Backend, BackendKind, BuildError, GangOptions, GangReadError, GangWorkers, KernelHandle, LaunchError,
    LaunchOptions, PendingReply, RequestError, RingKernel, SendError, ShutdownError,
};

use crate::grid::GridDims;
use crate::persistent::{ARENA_MAGIC, ArenaHeader, ArenaLayout, WaveActor, WaveGangParams};
use crate::protocol::{Command, Reply};

/// Threads per gang worker on CUDA, unless [`PersistentSim::launch_with`]
/// says otherwise.
pub const WORKER_THREADS: u32 = 256;

/// How long one command may take before the session gives up on it: long
/// enough for a RunSteps of a large grid.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// Why the session failed.
#[derive(Debug)]
pub enum SessionError {
    /// The tokio runtime could not be built.
    Runtime(std::io::Error),
    /// No RingKernel runtime on the backend asked for.
    Build(BuildError),
    /// The actor could not be launched (no kernels, gang does not fit, ...).
    Launch(LaunchError),
    /// A command could not be sent.
    Send(SendError<()>),
    /// A command got no reply.
    Request(RequestError),
    /// The field could not be read back.
    Read(GangReadError),
    /// The arena header does not describe this simulation (no command was
    /// run yet, or the gang is not WaveSim's).
    Header(ArenaHeader),
    /// Shutting down failed.
    Shutdown(ShutdownError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Runtime(e) => write!(f, "could not start the host runtime: {e}"),
            Self::Build(e) => write!(f, "no RingKernel runtime: {e}"),
            Self::Launch(e) => write!(f, "could not launch the persistent simulation: {e}"),
            Self::Send(e) => write!(f, "could not send a command: {e}"),
            Self::Request(e) => write!(f, "a command got no reply: {e}"),
            Self::Read(e) => write!(f, "could not read the field: {e}"),
            Self::Header(h) => write!(
                f,
                "the gang's arena does not hold this simulation's field (header magic {:#x}, dims {:?}); run a command first",
                h.magic, h.dims
            ),
            Self::Shutdown(e) => write!(f, "shutdown failed: {e}"),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Runtime(e) => Some(e),
            Self::Build(e) => Some(e),
            Self::Launch(e) => Some(e),
            Self::Send(e) => Some(e),
            Self::Request(e) => Some(e),
            Self::Read(e) => Some(e),
            Self::Header(_) => None,
            Self::Shutdown(e) => Some(e),
        }
    }
}

/// A persistent WaveSim3D: one [`WaveActor`] launch with a gang, fed
/// commands.
pub struct PersistentSim {
    rt: tokio::runtime::Runtime,
    rk: RingKernel,
    actor: KernelHandle<WaveActor>,
    dims: GridDims,
}

impl fmt::Debug for PersistentSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentSim")
            .field("dims", &self.dims)
            .field("backend", &self.rk.backend())
            .field("workers", &self.workers())
            .finish_non_exhaustive()
    }
}

impl PersistentSim {
    /// Launch a simulation of `dims` on `backend` with `workers` gang
    /// workers (on CUDA, blocks of [`WORKER_THREADS`] threads; on the CPU
    /// backend, threads).
    ///
    /// # Errors
    /// [`SessionError::Build`] when the backend is not available here (with
    /// the reason), [`SessionError::Launch`] when the kernel is missing or
    /// the gang does not fit.
    pub fn launch(dims: GridDims, backend: Backend, workers: GangWorkers) -> Result<Self, SessionError> {
        Self::launch_with(dims, backend, workers, WORKER_THREADS)
    }

    /// [`PersistentSim::launch`] with `threads` threads per worker on CUDA
    /// (32 ..= 1024, a multiple of 32; a launch error says so otherwise).
    ///
    /// # Errors
    /// As for [`PersistentSim::launch`].
    pub fn launch_with(
        dims: GridDims,
        backend: Backend,
        workers: GangWorkers,
        threads: u32,
    ) -> Result<Self, SessionError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(SessionError::Runtime)?;
        let (rk, actor) = rt.block_on(async {
            let rk = RingKernel::builder().backend(backend).build().await.map_err(SessionError::Build)?;
            let gang = GangOptions::new(workers, ArenaLayout::new(dims).total as u64)
                .threads(threads)
                .params(&WaveGangParams::new(dims));
            let opts = LaunchOptions::default().inbox_capacity(1024).request_timeout(COMMAND_TIMEOUT).gang(gang);
            match rk.launch::<WaveActor>("wavesim", opts).await {
                Ok(actor) => Ok((rk, actor)),
                Err(e) => {
                    let _ = rk.shutdown().await;
                    Err(SessionError::Launch(e))
                }
            }
        })?;
        Ok(Self { rt, rk, actor, dims })
    }

    /// The grid.
    pub fn dims(&self) -> GridDims {
        self.dims
    }

    /// The backend the simulation runs on.
    pub fn backend(&self) -> BackendKind {
        self.rk.backend()
    }

    /// Why `Backend::Auto` fell back to the CPU, if it did.
    pub fn fallback_reason(&self) -> Option<&BuildError> {
        self.rk.fallback_reason()
    }

    /// Gang workers.
    pub fn workers(&self) -> u32 {
        self.actor.gang_workers().unwrap_or(0)
    }

    /// The actor, for callers that drive it asynchronously themselves
    /// (through [`PersistentSim::block_on`]).
    pub fn actor(&self) -> &KernelHandle<WaveActor> {
        &self.actor
    }

    /// Run `fut` on the session's runtime.
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// Send `cmd` and wait for its reply.
    ///
    /// # Errors
    /// [`SessionError::Request`] when the actor did not answer (it stopped,
    /// or [`COMMAND_TIMEOUT`] passed). A refused command is not an error:
    /// it is an `Error` reply.
    pub fn command(&self, cmd: Command) -> Result<Reply, SessionError> {
        self.rt.block_on(self.actor.request(cmd)).map_err(SessionError::Request)
    }

    /// Send every command without waiting, then collect the replies in
    /// order: the actor works through them back to back.
    ///
    /// # Errors
    /// As for [`PersistentSim::command`].
    pub fn commands(&self, cmds: &[Command]) -> Result<Vec<Reply>, SessionError> {
        self.rt.block_on(async {
            let mut pending: Vec<PendingReply<WaveActor>> = Vec::with_capacity(cmds.len());
            for &cmd in cmds {
                pending.push(self.actor.send_request(cmd).await.map_err(|e| SessionError::Send(e.without_message()))?);
            }
            let mut replies = Vec::with_capacity(cmds.len());
            for p in pending {
                replies.push(p.await.map_err(SessionError::Request)?);
            }
            Ok(replies)
        })
    }

    /// The arena header the gang wrote after its last job.
    fn header(&self) -> Result<ArenaHeader, SessionError> {
        let mut h: ArenaHeader = bytemuck::Zeroable::zeroed();
        // SAFETY: `&self` methods of the session wait for every reply they
        // ask for, so no job runs (the gang's last job finished before its
        // reply was sent).
        unsafe { self.actor.read_gang_arena(0, bytemuck::bytes_of_mut(&mut h)) }.map_err(SessionError::Read)?;
        let d = self.dims;
        if h.magic != ARENA_MAGIC || h.dims != [d.nx(), d.ny(), d.nz()] || h.cur > 1 {
            return Err(SessionError::Header(h));
        }
        Ok(h)
    }

    fn read_field(&self, buffer: u32) -> Result<Vec<f32>, SessionError> {
        let at = ArenaLayout::new(self.dims).fields[buffer as usize];
        let mut field = vec![0.0f32; self.dims.cells()];
        // SAFETY: as in `header`.
        unsafe { self.actor.read_gang_arena(at, bytemuck::cast_slice_mut(&mut field)) }.map_err(SessionError::Read)?;
        Ok(field)
    }

    /// The current and the previous pressure field, read from the gang's
    /// arena (after at least one command).
    ///
    /// # Errors
    /// [`SessionError::Header`] before the first command;
    /// [`SessionError::Read`] when the copy fails.
    pub fn fields(&self) -> Result<(Vec<f32>, Vec<f32>), SessionError> {
        let h = self.header()?;
        Ok((self.read_field(h.cur)?, self.read_field(h.cur ^ 1)?))
    }

    /// The current pressure field.
    ///
    /// # Errors
    /// As for [`PersistentSim::fields`].
    pub fn pressure(&self) -> Result<Vec<f32>, SessionError> {
        let h = self.header()?;
        self.read_field(h.cur)
    }

    /// Stop the actor and the runtime.
    ///
    /// # Errors
    /// [`SessionError::Shutdown`] when the actor did not stop cleanly.
    pub fn shutdown(self) -> Result<(), SessionError> {
        let Self { rt, rk, actor, .. } = self;
        drop(actor);
        rt.block_on(rk.shutdown()).map_err(SessionError::Shutdown)
    }
}
