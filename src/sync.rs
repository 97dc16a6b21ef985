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

/// Asymmetric fences: a pair of `SeqCst` fences where one side is hot (a producer's
/// `log()`, millions of times a second) and the other rare (shutdown closing the gate; not
/// the drain going to sleep, which is too frequent for a membarrier: see `crate::park`).
///
/// [`light`](asymmetric::light) is only a compiler fence when
/// [`heavy`](asymmetric::heavy) is Linux's `membarrier(PRIVATE_EXPEDITED)`, which makes every
/// running thread of the process execute a full memory barrier before it returns — what a
/// `SeqCst` fence on the hot side would have done, paid only when the rare side runs. Where
/// membarrier is missing (other systems, old kernels, a seccomp filter), both are
/// `fence(SeqCst)`. Under loom both are `fence(SeqCst)`: the models check the protocols as
/// written with two fences, which is the pair's contract.
///
/// [`init`](asymmetric::init) must run before any thread uses the pair (it does in
/// `Recording::start`, before the drain and the producers can run), so both sides always
/// agree on which kind they use.
pub(crate) mod asymmetric {
    #[cfg(not(spate_loom))]
    use std::sync::OnceLock;

    /// Whether `heavy` is a membarrier (decided once, by `init`).
    #[cfg(not(spate_loom))]
    static EXPEDITED: OnceLock<bool> = OnceLock::new();

    /// Registers the process for expedited membarriers, once.
    pub(crate) fn init() {
        #[cfg(all(not(spate_loom), target_os = "linux"))]
        EXPEDITED.get_or_init(|| {
            use rustix::thread::{MembarrierCommand, membarrier, membarrier_query};
            membarrier_query().contains_command(MembarrierCommand::PrivateExpedited)
                && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
                && membarrier(MembarrierCommand::PrivateExpedited).is_ok()
        });
        #[cfg(all(not(spate_loom), not(target_os = "linux")))]
        EXPEDITED.get_or_init(|| false);
    }

    /// Whether the hot side is a compiler fence only.
    #[cfg(not(spate_loom))]
    fn is_expedited() -> bool {
        EXPEDITED.get().copied().unwrap_or(false)
    }

    /// The hot side.
    #[inline]
    pub(crate) fn light() {
        #[cfg(not(spate_loom))]
        if is_expedited() {
            std::sync::atomic::compiler_fence(super::Ordering::SeqCst);
            return;
        }
        super::fence(super::Ordering::SeqCst);
    }

    /// The rare side.
    pub(crate) fn heavy() {
        #[cfg(all(not(spate_loom), target_os = "linux"))]
        if is_expedited() {
            use rustix::thread::{MembarrierCommand, membarrier};
            // Registered by `init`, so it cannot fail with EPERM; if it failed anyway, the
            // fence below is no substitute, so a failure is not ignored silently in tests.
            let done = membarrier(MembarrierCommand::PrivateExpedited);
            debug_assert!(done.is_ok(), "membarrier failed: {done:?}");
            if done.is_ok() {
                return;
            }
        }
        super::fence(super::Ordering::SeqCst);
    }
}
