//! Small synchronization helpers.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Lock a mutex, ignoring poisoning: every critical section in this crate
/// leaves its data consistent at each step, so a panic elsewhere while the
/// lock was held does not make the data unusable (and must not turn into a
/// second panic here).
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
