//! The one way this crate takes a `std::sync::Mutex`.
//!
//! Owns [`lock`]. Must never: turn a poisoned lock into a second panic; the
//! next holder goes on with the data as the panicking holder left it (the
//! locks here guard bookkeeping that a half-done step leaves usable).
//! Callers keep the rule of never holding a guard across an await.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Lock `m`, also when a panicking holder poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
