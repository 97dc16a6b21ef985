//! The gate between logging threads and shutdown: once shutdown closes it, no row can enter a
//! lane behind the drain's final pass, so every `log()` that returned `Ok` is drained, and
//! every later one returns an error.
//!
//! # The race it closes
//!
//! A producer checks "closed?", then pushes into its lane. Shutdown sets "closed", then the
//! drain empties every lane once more and stops. Without more, a producer can check (open),
//! be preempted, and push after the drain's last look: the row is neither delivered nor
//! counted, yet `log()` said `Ok`.
//!
//! # The protocol
//!
//! Each lane has an [`Entry`] flag that its producer raises for the duration of a push
//! ([`Entry::enter`] .. [`Entry::leave`]). It is Dekker's handshake, with sequentially
//! consistent fences:
//!
//! ```text
//! producer                              shutdown caller / drain
//! entry.busy = true                     gate.closed = true
//! fence(SeqCst)                         fence(SeqCst)        (Gate::close)
//! if gate.closed { leave; Err }         ... request to the drain (happens-before) ...
//! push the row
//! entry.busy = false (Release)          drain: wait until !entry.busy (Acquire), empty the lane
//! ```
//!
//! The two fences are totally ordered. If the caller's fence comes first, the producer's read
//! after its own fence sees `closed` and it pushes nothing. If the producer's fence comes
//! first, the drain's read of `busy` — which happens after the caller's fence, through the
//! request — cannot read a value older than the producer's `busy = true` (C++20
//! [atomics.order]: a read coherence-ordered before a write would put the caller's fence
//! before the producer's in the total order). So the drain sees `true`, and waits, or the
//! `false` written after the push, which carries the row with it (Release/Acquire): either
//! way it empties the lane after the push. Lanes created during shutdown are ordered by
//! the gate's registration lock: [`Gate::register`] either runs before [`Gate::close`] (the
//! drain finds the lane) or refuses.
//!
//! The model checker covers every interleaving of this handshake (`tests/loom_gate.rs`; it
//! fails when the producer's fence is removed).
//! Cost on the log path: two stores, a compiler fence and one load on lines the producer owns
//! or only reads — no read-modify-write on a shared line, and no fence instruction where
//! Linux's membarrier is available: the two fences are an asymmetric pair
//! (`crate::sync::asymmetric`), whose heavy side `Gate::close` pays once.

use crate::sync::{AtomicBool, Mutex, Ordering, asymmetric};

/// The recording-wide half: closed or open, and the lane registration lock.
#[derive(Debug)]
pub struct Gate {
    closed: AtomicBool,
    /// Held while a lane registers and while the gate closes.
    registry: Mutex<()>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// An open gate.
    pub fn new() -> Self {
        Self {
            closed: AtomicBool::new(false),
            registry: Mutex::new(()),
        }
    }

    /// Whether the gate is closed. A hint for early returns; what decides whether a row may
    /// enter is [`Entry::enter`].
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the gate; true for the call that closed it. After this returns, every
    /// [`Entry::enter`] that has not yet read the flag fails, and no lane registers.
    pub fn close(&self) -> bool {
        let _g = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let first = !self.closed.load(Ordering::Relaxed);
        self.closed.store(true, Ordering::Release);
        // Pairs with the producers' fence in `Entry::enter` (see the module docs).
        asymmetric::heavy();
        first
    }

    /// Runs `register` (which hands a new lane to the drain) unless the gate is closed.
    pub fn register<R>(&self, register: impl FnOnce() -> R) -> Option<R> {
        let _g = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.closed.load(Ordering::Relaxed) {
            None
        } else {
            Some(register())
        }
    }
}

/// The per-lane half, raised by the lane's producer while it pushes.
#[derive(Debug, Default)]
pub struct Entry {
    busy: AtomicBool,
}

impl Entry {
    /// A lowered flag.
    pub fn new() -> Self {
        Self {
            busy: AtomicBool::new(false),
        }
    }

    /// Raises the flag unless `gate` is closed; true if the caller may push (and must then
    /// call [`leave`](Self::leave)).
    pub fn enter(&self, gate: &Gate) -> bool {
        self.busy.store(true, Ordering::Relaxed);
        // Pairs with the fence of `Gate::close` (the hot side of the pair: a compiler fence
        // where the closing side is a membarrier, `crate::sync::asymmetric`).
        asymmetric::light();
        if gate.closed.load(Ordering::Relaxed) {
            self.busy.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// Lowers the flag; Release publishes the push to the drain's Acquire in `is_idle`.
    pub fn leave(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// No push in progress (read by the drain after it learned, through a request sent
    /// after [`Gate::close`] returned, that the gate is closed).
    pub fn is_idle(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }
}
