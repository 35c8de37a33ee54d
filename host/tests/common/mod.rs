//! What the integration tests share: one test body run on every backend.
//!
//! [`backend_tests!`] turns each `async fn NAME(backend: Backend)` into two
//! tests, `cpu::NAME` and `cuda::NAME`, that run the same body:
//!
//! | test | backend | where it runs |
//! | --- | --- | --- |
//! | `cpu::NAME` | [`Backend::Cpu`] | everywhere (`cargo test`) |
//! | `cuda::NAME` | [`Backend::Cuda`] | `#[ignore]`d, with the reason shown; a GPU machine runs them from `cargo xtask gpu-bundle`'s `run-tests.sh` (`--include-ignored`) |
//!
//! Run with `--include-ignored` where CUDA cannot run, a `cuda::` test fails
//! at once with the [`BuildError`](ringkernel::BuildError) that says why
//! ([`runtime`]); it never passes silently and never hangs.
//!
//! Tests that cannot run on a GPU stay plain `#[tokio::test]`s on the CPU,
//! with a comment saying why.

use ringkernel::{Backend, BackendKind, RingKernel};
use std::time::{Duration, Instant};

/// A runtime on `backend`, or a test failure naming the backend and the
/// whole chain of reasons it cannot be used here.
pub async fn runtime(backend: Backend) -> RingKernel {
    let rk = match RingKernel::builder().backend(backend).build().await {
        Ok(rk) => rk,
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                why.push_str(&format!(": {s}"));
                source = s.source();
            }
            panic!("`Backend::{backend:?}` unavailable: {why}");
        }
    };
    let expected = match backend {
        Backend::Cpu => Some(BackendKind::Cpu),
        Backend::Cuda => Some(BackendKind::Cuda),
        _ => None,
    };
    if let Some(kind) = expected {
        assert_eq!(rk.backend(), kind, "`Backend::{backend:?}` must run on that backend, never another");
    }
    rk
}

/// The actor publishes its counters and telemetry off the message path
/// (after its replies; on the GPU every 64 batches or after 32 idle polls):
/// wait (up to 5 s) for what a reply already implies.
#[allow(dead_code, reason = "not every test file reads counters")]
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// One body, one test per backend (see the module docs).
///
/// ```ignore
/// common::backend_tests! {
///     /// Docs go on the body.
///     #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
///     async fn fifo_order_per_actor(backend: Backend) {
///         let rk = common::runtime(backend).await;
///         // ...
///     }
/// }
/// ```
///
/// The `#[tokio::test]` attribute, with its arguments, is copied onto both
/// tests.
macro_rules! backend_tests {
    ($(
        $(#[doc = $doc:literal])*
        #[tokio::test $(($($tokio:tt)*))?]
        async fn $name:ident($backend:ident: $backend_ty:ty) $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            async fn $name($backend: $backend_ty) $body
        )*

        /// The tests on [`Backend::Cpu`](ringkernel::Backend::Cpu).
        mod cpu {
            $(
                #[tokio::test $(($($tokio)*))?]
                async fn $name() {
                    super::$name(::ringkernel::Backend::Cpu).await
                }
            )*
        }

        /// The same tests on [`Backend::Cuda`](ringkernel::Backend::Cuda).
        mod cuda {
            $(
                #[tokio::test $(($($tokio)*))?]
                #[ignore = "needs a CUDA GPU: run on a GPU machine via `cargo xtask gpu-bundle` + run-tests.sh (--include-ignored)"]
                async fn $name() {
                    super::$name(::ringkernel::Backend::Cuda).await
                }
            )*
        }
    };
}

pub(crate) use backend_tests;
