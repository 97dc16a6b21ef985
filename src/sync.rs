//! Atomics and thread parking, from `std` or — under `--cfg loom` — from loom's model
//! checker, so the lock-free protocols can be checked exhaustively.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current, park};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current, park, park_timeout};
