//! # ringkernel-wavesim: a 3D acoustic wave simulation driven by commands
//!
//! WaveSim3D is RingKernel's showcase application (issue 6): a pressure field
//! on a regular 3D grid, advanced by a finite-difference time-domain (FDTD)
//! scheme, steered while it runs by a small command protocol — run *n* steps,
//! inject an impulse, ask for progress, reconfigure, checkpoint, restore,
//! terminate. On the GPU it runs as a persistent RingKernel actor whose gang of
//! worker blocks holds and steps the field ([`persistent`], driven from the
//! host by `session::PersistentSim`), beside a batch GPU baseline and a CPU
//! reference:
//!
//! | module | `no_std` | what |
//! | --- | --- | --- |
//! | [`grid`] | yes | [`GridDims`]: grid size, cell indexing, interior test |
//! | [`fdtd`] | yes | [`Params`] and the CFL check, the per-cell / per-row / per-plane leapfrog update, the discrete energy |
//! | [`protocol`] | yes | [`Command`] and [`Reply`] (64-byte `#[repr(C)]` plain data), their kinds and error codes, [`protocol::validate`] |
//! | [`actor`] | yes | [`WaveState`], the [`Field`] trait and [`actor::handle`]: *all* per-command logic in one function, for the CPU, the batch engine and the persistent actor |
//! | [`batch`] | yes | the batch GPU kernels' per-thread work and launch geometry, shared by the PTX entries, the host engine and a CPU emulation |
//! | `kernels` | nvptx64 + `kernels` | the PTX entries `wavesim_step`, `wavesim_inject`, `wavesim_energy` (built by `cargo xtask build-ptx`) |
//! | `gpu` | `gpu` | `GpuBatch`: the field in device memory, one kernel launch per step, via `ringkernel::cuda::driver`; also a [`Field`] |
//! | [`persistent`] | yes | [`WaveActor`] and its gang work: the persistent engine, kernel entry `wavesim_persistent` |
//! | `session` | `gpu` | `PersistentSim`: launches and drives [`WaveActor`] through RingKernel's public API |
//! | `bench` | `gpu` | `wavesim --bench`'s persistent-vs-batch comparison |
//! | [`cpu`] | `std` | the CPU engines: a single-threaded naive one and a rayon one (parallel over z planes), bit-for-bit equal; [`CpuField`] |
//! | [`sim`] | `std` | [`Simulation`]: a [`CpuField`] plus a [`WaveState`], fed commands, answering replies |
//! | [`image`] | `std` | the mid-plane slice, a diverging colour map and a minimal PNG encoder (stored deflate, CRC-32, Adler-32) |
//! | [`cli`] | `std` | the options of the `wavesim` binary |
//!
//! The `no_std` part allocates nothing, never recurses, bounds every loop by
//! the grid size, and touches `f64` only for the energy sum; the `std`
//! feature (on by default, additive) adds the CPU engines, the simulation,
//! the PNG writer and the binary, and `gpu` (on by default, needs `std`) the
//! host GPU engine.
//!
//! ```
//! use ringkernel_wavesim::{Command, Engine, GridDims, ReplyKind, Simulation};
//!
//! let dims = GridDims::cube(16).unwrap();
//! let mut sim = Simulation::new(dims, Engine::Rayon);
//! let replies = sim.run(&[
//!     Command::inject_impulse(dims.centre(), 1.0),
//!     Command::run_steps(20),
//!     Command::get_progress(),
//!     Command::run_steps(0), // a bad command: answered with an Error, the simulation goes on
//!     Command::terminate(),
//! ]);
//! assert_eq!(replies[2].kind(), Ok(ReplyKind::PROGRESS));
//! assert_eq!(replies[2].step, 20);
//! assert_eq!(replies[3].kind(), Ok(ReplyKind::ERROR));
//! assert_eq!(replies[4].kind(), Ok(ReplyKind::TERMINATED));
//! ```
#![no_std]
#![cfg_attr(not(test), warn(missing_docs))]
#![cfg_attr(all(feature = "kernels", target_arch = "nvptx64"), feature(abi_ptx, stdarch_nvptx, asm_experimental_arch))]

#[cfg(feature = "std")]
extern crate std;

pub mod actor;
pub mod batch;
pub mod fdtd;
pub mod grid;
pub mod persistent;
pub mod protocol;

#[cfg(all(feature = "kernels", target_arch = "nvptx64"))]
pub mod kernels;

#[cfg(feature = "gpu")]
pub mod bench;
#[cfg(feature = "std")]
pub mod cli;
#[cfg(feature = "std")]
pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
#[cfg(feature = "std")]
pub mod image;
#[cfg(feature = "gpu")]
pub mod session;
#[cfg(feature = "std")]
pub mod sim;

pub use actor::{Field, WaveState};
pub use fdtd::{Coeffs, ParamError, Params};
pub use grid::{GridDims, GridError};
pub use persistent::{WaveActor, WaveGangParams};
pub use protocol::{Command, CommandKind, ErrorCode, Op, Reply, ReplyKind};

#[cfg(feature = "std")]
pub use cpu::{CpuField, Engine};
#[cfg(feature = "gpu")]
pub use gpu::{GpuBatch, GpuError};
#[cfg(feature = "std")]
pub use sim::Simulation;
