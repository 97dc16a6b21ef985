//! Where `Recording` handles meet the drain thread: the gate, new lanes, the requests and
//! their replies, and the live views that `stats()` reads.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use crossbeam_queue::SegQueue;

use crate::deadline::AtomicDeadline;
use crate::gate::Gate;
use crate::lane::{LaneConsumer, LaneShared, LaneStats};
use crate::park::Parker;
use crate::sink::SinkSpec;
use crate::sink::worker::{SinkShared, Ticket};
use crate::stats::{ShutdownReport, SinkReport, Stats};

/// Replaced sinks whose final reports are kept one by one; older ones are folded into one
/// entry, so a program that calls `set_sinks` in a loop stays bounded in memory.
pub(crate) const MAX_RETIRED_REPORTS: usize = 64;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What handles ask of the drain. Every request carries its reply channel: a request the
/// drain never serves (it exited) drops the channel, and the caller's wait ends at once.
pub(crate) enum Request {
    /// Take each lane up to where it stood, finish every batch, then flush every sink; the
    /// sinks' ticket comes back on `reply`.
    Flush {
        deadline: Instant,
        reply: Sender<Arc<Ticket>>,
    },
    /// Replace the sinks (after delivering what the lanes held into the old ones), unless
    /// the caller gave up first (`claim`).
    SetSinks {
        sinks: Vec<SinkSpec>,
        claim: Arc<Claim>,
        reply: Sender<std::io::Result<()>>,
    },
    /// Drain everything, close every sink, report, and stop.
    Shutdown {
        deadline: Instant,
        reply: Sender<ShutdownReport>,
    },
}

const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const CANCELLED: u8 = 2;

/// Who decides a request's fate when its caller's deadline passes: the drain takes it (and
/// will answer promptly) or the caller cancels it (and the drain will not act on it) —
/// exactly one of the two.
#[derive(Debug, Default)]
pub(crate) struct Claim(AtomicU8);

impl Claim {
    /// The drain commits to serving the request; false if the caller cancelled it.
    pub(crate) fn take(&self) -> bool {
        self.0
            .compare_exchange(PENDING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller gives up; false if the drain took the request already.
    pub(crate) fn cancel(&self) -> bool {
        self.0
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[derive(Default)]
struct LanesView {
    live: Vec<Arc<LaneShared>>,
    /// Lanes of exited threads, all rows drained, folded into one entry.
    exited: Option<LaneStats>,
    exited_count: usize,
}

#[derive(Default)]
struct SinksView {
    /// Current sinks, then replaced ones still closing.
    live: Vec<Arc<SinkShared>>,
    /// Final reports of replaced sinks, oldest first (at most `MAX_RETIRED_REPORTS`).
    retired: Vec<SinkReport>,
}

/// The drain's counters (drain-written, read by `stats()`).
#[derive(Debug, Default)]
pub(crate) struct DrainCounters {
    pub rows_drained: AtomicU64,
    pub chunks_encoded: AtomicU64,
    pub rows_encoded: AtomicU64,
    pub bytes_encoded: AtomicU64,
    pub encode_errors: AtomicU64,
    pub rows_abandoned: AtomicU64,
    /// Rows in open batches now (for a report the drain could not make itself).
    pub rows_batched: AtomicU64,
}

/// State shared by the handles, the producers and the drain thread.
pub(crate) struct Hub {
    /// Unique per recording in this process (keys the thread-local lanes).
    pub id: u64,
    pub gate: Gate,
    pub new_lanes: SegQueue<LaneConsumer>,
    drain: OnceLock<Arc<Parker>>,
    lanes: Mutex<LanesView>,
    sinks: Mutex<SinksView>,
    pub counters: DrainCounters,
    /// Set by the first shutdown: a drain blocked on a full `Block` sink gives up at it
    /// even before it sees the shutdown request.
    shutdown_deadline: AtomicDeadline,
}

impl Hub {
    pub(crate) fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            gate: Gate::new(),
            new_lanes: SegQueue::new(),
            drain: OnceLock::new(),
            lanes: Mutex::new(LanesView::default()),
            sinks: Mutex::new(SinksView::default()),
            counters: DrainCounters::default(),
            shutdown_deadline: AtomicDeadline::new(),
        }
    }

    pub(crate) fn set_drain(&self, parker: Arc<Parker>) {
        let _ = self.drain.set(parker);
    }

    pub(crate) fn notify_drain(&self) {
        if let Some(p) = self.drain.get() {
            p.notify();
        }
    }

    pub(crate) fn set_shutdown_deadline(&self, deadline: Instant) {
        // Only the first shutdown sets it (later ones get the first's report).
        self.shutdown_deadline.set(deadline);
    }

    pub(crate) fn shutdown_deadline(&self) -> Option<Instant> {
        self.shutdown_deadline.get()
    }

    pub(crate) fn add_lane(&self, lane: Arc<LaneShared>) {
        lock(&self.lanes).live.push(lane);
    }

    /// A lane whose thread exited and whose rows were all taken leaves the view; its
    /// counters stay in the totals.
    pub(crate) fn retire_lane(&self, lane: &Arc<LaneShared>) {
        let mut v = lock(&self.lanes);
        if let Some(i) = v.live.iter().position(|l| Arc::ptr_eq(l, lane)) {
            let last = v.live.swap_remove(i).snapshot();
            v.exited_count += 1;
            let n = v.exited_count;
            let agg = v.exited.get_or_insert_with(|| LaneStats {
                thread: String::new(),
                rows_pushed: 0,
                rows_dropped: 0,
                high_water_rows: 0,
                high_water_bytes: 0,
            });
            agg.absorb(&last);
            agg.thread = format!("exited threads ({n})");
        }
    }

    pub(crate) fn set_sinks_view(&self, live: Vec<Arc<SinkShared>>) {
        lock(&self.sinks).live = live;
    }

    /// A replaced sink finished closing: its report replaces its live view.
    pub(crate) fn retire_sink(&self, report: SinkReport) {
        let mut v = lock(&self.sinks);
        v.live.retain(|s| s.id() != report.stats.id);
        v.retired.push(report);
        if v.retired.len() > MAX_RETIRED_REPORTS {
            let oldest = v.retired.remove(0);
            fold_into(&mut v.retired[0], &oldest);
        }
    }

    /// The final reports of replaced sinks (for the shutdown report).
    pub(crate) fn retired_reports(&self) -> Vec<SinkReport> {
        lock(&self.sinks).retired.clone()
    }

    /// Every live sink (current and closing), to give up on at a deadline.
    pub(crate) fn live_sinks(&self) -> Vec<Arc<SinkShared>> {
        lock(&self.sinks).live.clone()
    }

    pub(crate) fn stats(&self) -> Stats {
        let r = Ordering::Acquire;
        let c = &self.counters;
        let lanes = {
            let v = lock(&self.lanes);
            v.live
                .iter()
                .map(|l| l.snapshot())
                .chain(v.exited.clone())
                .collect()
        };
        let sinks = {
            let v = lock(&self.sinks);
            v.live
                .iter()
                .map(|s| s.snapshot())
                .chain(v.retired.iter().map(|r| r.stats.clone()))
                .collect()
        };
        Stats {
            lanes,
            sinks,
            rows_drained: c.rows_drained.load(r),
            chunks_encoded: c.chunks_encoded.load(r),
            rows_encoded: c.rows_encoded.load(r),
            bytes_encoded: c.bytes_encoded.load(r),
            encode_errors: c.encode_errors.load(r),
            rows_abandoned: c.rows_abandoned.load(r),
        }
    }

    /// A report from the counters alone, for when the drain did not answer by the
    /// deadline: every live sink is given up on, and what the lanes and batches still hold
    /// is counted as abandoned.
    pub(crate) fn report_without_drain(&self) -> ShutdownReport {
        let left: u64 = lock(&self.lanes)
            .live
            .iter()
            .map(|l| l.rows_left())
            .sum::<u64>()
            + self.counters.rows_batched.load(Ordering::Acquire);
        self.counters
            .rows_abandoned
            .fetch_max(left, Ordering::AcqRel);
        let mut sinks: Vec<SinkReport> = self.live_sinks().iter().map(|s| s.abandon()).collect();
        sinks.extend(self.retired_reports());
        self.report(sinks, true)
    }

    pub(crate) fn report(&self, sinks: Vec<SinkReport>, timed_out: bool) -> ShutdownReport {
        let mut stats = self.stats();
        stats.sinks = sinks.iter().map(|s| s.stats.clone()).collect();
        ShutdownReport {
            timed_out,
            stats,
            sinks,
        }
    }
}

/// Folds an old sink report into `into` (counts add up; "clean" only if both were).
fn fold_into(into: &mut SinkReport, old: &SinkReport) {
    into.stats.absorb(&old.stats.without_monitor());
    into.closed_cleanly &= old.closed_cleanly;
    into.timed_out |= old.timed_out;
}
