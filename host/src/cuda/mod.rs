//! The CUDA backend and the driver layer under it.
//!
//! * [`driver`]: a small safe layer over the CUDA driver API (through
//!   cudarc, with libcuda opened at run time): context, mapped pinned
//!   memory, modules, streams, graphs. Benchmarks and tools use it directly;
//!   actor code never needs it.
//! * `backend` (internal): the [`Backend::Cuda`](crate::Backend::Cuda)
//!   implementation: every actor is one persistent kernel launch of its
//!   `actor_kernel!` entry, on its own stream, over mapped pinned host memory
//!   laid out exactly as for the CPU backend.

pub(crate) mod backend;
pub mod driver;
pub mod isolated;

pub use backend::ptx_search_path;
