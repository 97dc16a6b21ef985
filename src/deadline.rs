//! A deadline that one thread sets and others read without a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An optional [`Instant`], set once (the first `set` wins), read lock-free.
#[derive(Debug)]
pub(crate) struct AtomicDeadline {
    epoch: Instant,
    /// ns after `epoch`, plus one; 0 = unset.
    ns: AtomicU64,
}

impl Default for AtomicDeadline {
    fn default() -> Self {
        Self::new()
    }
}

impl AtomicDeadline {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            ns: AtomicU64::new(0),
        }
    }

    /// Sets the deadline unless one is set already; true if this call set it.
    pub(crate) fn set(&self, deadline: Instant) -> bool {
        let ns = deadline.saturating_duration_since(self.epoch).as_nanos();
        let ns = u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1;
        self.ns
            .compare_exchange(0, ns, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn get(&self) -> Option<Instant> {
        match self.ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_deadline_wins_and_reads_back() {
        let d = AtomicDeadline::new();
        assert_eq!(d.get(), None);
        let t = Instant::now() + Duration::from_millis(1500);
        assert!(d.set(t));
        assert!(!d.set(t + Duration::from_secs(9)));
        let got = d.get().unwrap();
        assert!(
            got <= t && t - got < Duration::from_micros(1),
            "{got:?} {t:?}"
        );
    }
}
