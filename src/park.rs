//! The wake-up protocol between a thread that may sleep (the drain waiting for rows, or a
//! producer waiting for lane space) and the threads that make work for it. Two flavours:
//!
//! **Read-modify-write** ([`Parker::park_unless`] / [`Parker::notify`]), for a producer
//! waiting for room, which the drain wakes once per burst. The sleeper announces itself with
//! an atomic read-modify-write (`swap(PARKED)`), then looks for work once more, and only then
//! parks. A notifier, after publishing work, does one RMW on the same atomic (`fetch_or(0)`)
//! and calls `unpark` only if it read `PARKED`. Why no wake-up is lost: all RMWs on one atomic
//! are totally ordered. If the notifier's RMW comes after the sleeper's `swap(PARKED)`, it
//! reads `PARKED` and unparks (an unpark before the park makes the park return at once). If
//! it comes before, the sleeper's swap reads from the release sequence headed by the
//! notifier's RMW, so everything the notifier published before its RMW is visible to the
//! sleeper's second look for work. This needs only acquire/release RMWs, which is what loom
//! models exactly (`tests/loom_park.rs`).
//!
//! **Fenced** ([`Parker::park_unless_fenced`] / [`Parker::notify_fenced`]), for the drain,
//! which every `log()` may have to wake. An RMW per row on the drain's word is a cache line
//! written by every producer: it moves between cores on every row. Instead the notifier
//! publishes, runs a `SeqCst` fence (local to its core: it drains its store buffer, no line
//! changes hands) and only *loads* the word, a line it shares read-only while the drain is
//! awake; the sleeper stores `PARKED`, runs a `SeqCst` fence, and looks for work again. It is
//! Dekker's pattern: of the sleeper's store and the notifier's publication, whichever comes
//! second in the fences' total order is preceded by a fence that makes the other visible —
//! the notifier sees `PARKED` and unparks, or the sleeper sees the work and does not sleep
//! (loom checks it, `tests/loom_park.rs`). A stale `PARKED` read only costs a spare unpark.
//!
//! (The sleeper's side is not Linux's `membarrier`, as the gate's rare side is: the drain
//! parks often, and in a virtual machine each membarrier waits for IPIs to other vCPUs —
//! measured here at milliseconds per call, a quarter of the drain's time.)

use crate::sync::{AtomicU8, Ordering, Thread, current, fence};

const RUNNING: u8 = 0;
const PARKED: u8 = 1;

/// One sleeper, any number of notifiers.
#[derive(Debug)]
pub struct Parker {
    state: AtomicU8,
    thread: Thread,
}

/// Parks the calling thread, for at most `timeout` (`None`: until unparked). Under loom,
/// until unparked: the models check that a wake-up comes, not when.
fn sleep(#[cfg_attr(spate_loom, allow(unused_variables))] timeout: Option<std::time::Duration>) {
    #[cfg(not(spate_loom))]
    match timeout {
        Some(t) => crate::sync::park_timeout(t),
        None => crate::sync::park(),
    }
    #[cfg(spate_loom)]
    crate::sync::park();
}

impl Parker {
    /// A parker for the calling thread (the only one that may call [`park_unless`]).
    pub fn for_current_thread() -> Self {
        Self {
            state: AtomicU8::new(RUNNING),
            thread: current(),
        }
    }

    /// Called by the sleeper: parks unless `has_work` (evaluated after announcing the park)
    /// says there is work. `timeout` bounds the sleep (`None`: until notified). Spurious
    /// returns are allowed; callers loop.
    pub fn park_unless(
        &self,
        has_work: impl FnOnce() -> bool,
        timeout: Option<std::time::Duration>,
    ) {
        self.state.swap(PARKED, Ordering::AcqRel);
        if !has_work() {
            sleep(timeout);
        }
        self.state.swap(RUNNING, Ordering::AcqRel);
    }

    /// The fenced flavour of [`park_unless`](Self::park_unless) (see the module docs): its
    /// notifiers must use [`notify_fenced`](Self::notify_fenced).
    pub fn park_unless_fenced(
        &self,
        has_work: impl FnOnce() -> bool,
        timeout: Option<std::time::Duration>,
    ) {
        self.state.store(PARKED, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !has_work() {
            sleep(timeout);
        }
        self.state.store(RUNNING, Ordering::Relaxed);
    }

    /// Called by a notifier after it published work, for a sleeper that parks with
    /// [`park_unless_fenced`](Self::park_unless_fenced): a fence on the caller's core and a
    /// load of a line the sleeper writes only when it parks — no shared write.
    pub fn notify_fenced(&self) {
        fence(Ordering::SeqCst);
        if self.state.load(Ordering::Relaxed) == PARKED {
            self.thread.unpark();
        }
    }

    /// Called by a notifier after it published work. Unparks only a parked sleeper.
    pub fn notify(&self) {
        // An RMW (not a load) so that it is ordered against the sleeper's swap: see the
        // module docs. AcqRel: Release publishes the work written before; Acquire pairs with
        // the sleeper's swap.
        if self.state.fetch_or(0, Ordering::AcqRel) == PARKED {
            self.thread.unpark();
        }
    }

    /// Whether the sleeper has announced a park (for tests and stats).
    #[cfg(test)]
    pub(crate) fn is_parked(&self) -> bool {
        self.state.load(Ordering::Acquire) == PARKED
    }
}

#[cfg(all(test, not(spate_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::*};
    use std::time::{Duration, Instant};

    /// Stress: a producer publishes 200k items one at a time, notifying after each; the
    /// consumer parks without a timeout whenever it sees nothing. A lost wake-up would hang
    /// the consumer; the test bounds the whole run in time instead of sleeping.
    #[test]
    fn no_lost_wakeups_under_stress() {
        const N: u64 = 200_000;
        let published = Arc::new(AtomicU64::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = published.clone();
        let consumer = std::thread::spawn(move || {
            let parker = Arc::new(Parker::for_current_thread());
            tx.send(parker.clone()).unwrap();
            let mut seen = 0;
            let mut parks = 0u64;
            while seen < N {
                let now = p2.load(Acquire);
                if now > seen {
                    seen = now;
                    continue;
                }
                parks += 1;
                parker.park_unless(|| p2.load(Acquire) > seen, None);
            }
            parks
        });
        let parker = rx.recv().unwrap();
        let start = Instant::now();
        for i in 1..=N {
            published.store(i, Release);
            parker.notify();
            if i % 1000 == 0 {
                std::thread::yield_now();
            }
        }
        // Bounded wait for the consumer: a lost wake-up shows as a timeout, not a hang.
        while !consumer.is_finished() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "consumer hung: lost wake-up"
            );
            std::thread::yield_now();
        }
        let parks = consumer.join().unwrap();
        assert!(!parker.is_parked());
        eprintln!("consumer parked {parks} times");
    }
}
