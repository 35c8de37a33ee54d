//! RingKernel's build tasks (`cargo xtask ...`), as a library so each command
//! can reuse the others: `build-ptx` is [`ptx::build_ptx`], which `test` and
//! `gpu-bundle` call too. The binary in `main.rs` is a thin command line over
//! these modules, and doubles as the nvptx linker ([`linker`]).
//!
//! std only, plus nothing: the xtask must build fast on a small machine.

pub mod bench;
pub mod bundle;
pub mod check;
pub mod cli;
pub mod cuda;
pub mod doctor;
pub mod error;
pub mod json;
pub mod linker;
pub mod ptx;
pub mod tools;

pub use error::{Error, Result};
