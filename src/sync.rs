//! Atomics, fences, locks and thread parking, from `std` or — under `--cfg spate_loom` — from
//! loom's model checker, so the lock-free protocols can be checked exhaustively. The cfg is
//! `spate_loom`, not `loom`: tokio (used by the gRPC sink) reads `cfg(loom)` too and would
//! compile out its networking.

#[cfg(spate_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(spate_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU8, Ordering, fence};
#[cfg(spate_loom)]
pub(crate) use loom::thread::{Thread, current, park};

#[cfg(not(spate_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(spate_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, Ordering, fence};
#[cfg(not(spate_loom))]
pub(crate) use std::thread::{Thread, current, park, park_timeout};

/// Locks a `std` mutex, using it even if a panic poisoned it: every critical section in this
/// crate leaves its data consistent, and a panicking sink must not take the engine down too.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
