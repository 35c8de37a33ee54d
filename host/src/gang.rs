//! Gang options: the worker blocks of an actor whose kernel declares a gang
//! (`actor_kernel!(entry, Actor, gang = Work)`, see `ringkernel_device::gang`).
//!
//! ```no_run
//! # use ringkernel::{GangOptions, GangWorkers, LaunchOptions};
//! // As many 256-thread workers as fit next to the actor, 64 MiB of arena,
//! // and the grid size as launch parameters.
//! let opts = LaunchOptions::default()
//!     .gang(GangOptions::new(GangWorkers::Fill, 64 << 20).threads(256).params(&[128u32, 128, 128]));
//! ```
//!
//! | backend | a worker is | `GangWorkers::Fill` means |
//! | --- | --- | --- |
//! | CUDA | one block of `threads` threads, blocks `1..=workers` of the actor's launch (a cooperative launch: all blocks resident, or the launch is refused) | every block the occupancy calculator says fits, minus the actor's own |
//! | CPU | one host thread (`Worker::threads()` is 1) | one worker per available core |

use crate::error::LaunchError;
use ringkernel_shared::gang::{GANG_JOB_BYTES, GangLayout, MAX_GANG_WORKERS};

/// How many workers a gang gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GangWorkers {
    /// Exactly this many (1 ..= 4096).
    Exact(u32),
    /// As many as the device runs at once (see the module docs). It
    /// assumes the gang's launch has the GPU to itself.
    Fill,
}

/// The gang of an actor launch: [`LaunchOptions::gang`](crate::LaunchOptions::gang).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GangOptions {
    pub(crate) workers: GangWorkers,
    pub(crate) threads: u32,
    pub(crate) arena_bytes: u64,
    pub(crate) params: [u8; GANG_JOB_BYTES],
}

impl GangOptions {
    /// `workers` workers of 256 threads (CUDA) and an arena of
    /// `arena_bytes` zeroed bytes in device memory.
    pub fn new(workers: GangWorkers, arena_bytes: u64) -> Self {
        Self { workers, threads: 256, arena_bytes, params: [0; GANG_JOB_BYTES] }
    }

    /// Threads per worker block on CUDA (32 ..= 1024, a multiple of 32).
    /// The actor's block gets the same size; its threads past the first
    /// warp return at once.
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }

    /// Launch parameters the actor (`Gang::params`) and every worker
    /// (`Worker::params`) can read: plain data of at most 64 bytes.
    pub fn params<T: bytemuck::Pod>(mut self, params: &T) -> Self {
        const { assert!(size_of::<T>() <= GANG_JOB_BYTES, "gang parameters are at most 64 bytes") };
        self.params = [0; GANG_JOB_BYTES];
        self.params[..size_of::<T>()].copy_from_slice(bytemuck::bytes_of(params));
        self
    }

    /// The arena size asked for.
    pub fn arena_bytes(&self) -> u64 {
        self.arena_bytes
    }

    pub(crate) fn validate(&self) -> Result<(), LaunchError> {
        if !(32..=1024).contains(&self.threads) || !self.threads.is_multiple_of(32) {
            return Err(LaunchError::InvalidGang(format!(
                "{} threads per worker: 32..=1024, a multiple of 32",
                self.threads
            )));
        }
        if let GangWorkers::Exact(n) = self.workers
            && !(1..=MAX_GANG_WORKERS).contains(&n)
        {
            return Err(LaunchError::InvalidGang(format!("{n} workers: 1..={MAX_GANG_WORKERS}")));
        }
        GangLayout::new(1, self.arena_bytes).map_err(|e| LaunchError::InvalidGang(e.to_string()))?;
        Ok(())
    }

    /// The layout for `workers` resolved workers.
    pub(crate) fn layout(&self, workers: u32) -> Result<GangLayout, LaunchError> {
        GangLayout::new(workers, self.arena_bytes).map_err(|e| LaunchError::InvalidGang(e.to_string()))
    }
}

/// Why reading a gang's arena failed.
#[derive(Debug, thiserror::Error)]
pub enum GangReadError {
    /// The actor was launched without a gang.
    #[error("the actor has no gang")]
    NoGang,
    /// The range is not inside the arena.
    #[error("bytes {at}..{end} are outside the gang arena of {len} bytes")]
    OutOfRange {
        /// First byte asked for.
        at: usize,
        /// One past the last byte asked for.
        end: usize,
        /// Arena length.
        len: usize,
    },
    /// The device copy failed (a faulted context, for instance).
    #[error("the copy from device memory failed: {0}")]
    Device(String),
}

/// Check that `at..at + len` lies in an arena of `arena_len` bytes.
pub(crate) fn check_range(at: usize, len: usize, arena_len: usize) -> Result<(), GangReadError> {
    match at.checked_add(len) {
        Some(end) if end <= arena_len => Ok(()),
        end => Err(GangReadError::OutOfRange { at, end: end.unwrap_or(usize::MAX), len: arena_len }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert!(GangOptions::new(GangWorkers::Fill, 1 << 20).validate().is_ok());
        assert!(GangOptions::new(GangWorkers::Exact(0), 1).validate().is_err());
        assert!(GangOptions::new(GangWorkers::Exact(MAX_GANG_WORKERS + 1), 1).validate().is_err());
        assert!(GangOptions::new(GangWorkers::Exact(4), 1).threads(48).validate().is_err());
        assert!(GangOptions::new(GangWorkers::Exact(4), 1).threads(2048).validate().is_err());
        assert!(GangOptions::new(GangWorkers::Exact(4), u64::MAX).validate().is_err());
        let p = GangOptions::new(GangWorkers::Exact(4), 1).params(&[1u32, 2, 3]);
        assert_eq!(&p.params[..12], bytemuck::bytes_of(&[1u32, 2, 3]));
        assert!(p.params[12..].iter().all(|&b| b == 0));
    }

    #[test]
    fn ranges_are_checked() {
        assert!(check_range(0, 10, 10).is_ok());
        assert!(matches!(check_range(5, 6, 10), Err(GangReadError::OutOfRange { at: 5, end: 11, len: 10 })));
        assert!(check_range(usize::MAX, 2, 10).is_err());
    }
}
