//! CUDA actors with a restarting recovery policy: each in a worker process
//! of its own (a GPU trap makes the whole CUDA context of a process
//! unusable, so the context that traps must not be the runtime's).

use crate::backend::{BackendImpl, BackendKind};
use crate::error::LaunchError;
use std::sync::Arc;

/// The backend of recoverable CUDA actors.
pub(crate) fn backend() -> Result<Arc<dyn BackendImpl>, LaunchError> {
    Err(LaunchError::Start {
        backend: BackendKind::Cuda,
        reason: "a restarting recovery policy is not available on the CUDA backend in this build".into(),
        source: None,
    })
}
