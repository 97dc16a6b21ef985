//! Where `Recording` handles meet the drain thread: the gate, new lanes, the requests and
//! their replies, and the live views that `stats()` reads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crossbeam_queue::SegQueue;

use crate::deadline::AtomicDeadline;
use crate::gate::Gate;
use crate::lane::{LaneConsumer, LaneShared, LaneStats};
use crate::park::Parker;
use crate::sink::worker::{SinkShared, SinkWorker, Ticket};
use crate::stats::{ShutdownReport, SinkReport, Stats};
use crate::sync::lock;

/// Replaced sinks whose final reports are kept one by one; older ones are folded into one
/// entry, so a program that calls `set_sinks` in a loop stays bounded in memory.
pub(crate) const MAX_RETIRED_REPORTS: usize = 64;

/// The id of the entry that replaced sinks beyond [`MAX_RETIRED_REPORTS`] are folded into
/// (real sinks' ids start at 1).
pub(crate) const FOLDED_SINKS_ID: u64 = 0;

/// What handles ask of the drain. Every request carries its reply channel: a request the
/// drain never serves (it exited) drops the channel, and the caller's wait ends at once.
pub(crate) enum Request {
    /// Take each lane up to where it stood, finish every batch, then flush every sink; the
    /// sinks' ticket goes to every caller waiting in the hub's flush list when the drain
    /// picks this up (flushes asked for meanwhile share this one).
    Flush,
    /// Replace the sinks (after delivering what the lanes held into the old ones) with the
    /// offered ones, unless the caller took them back first.
    SetSinks {
        offer: Arc<SinkOffer>,
        reply: Sender<()>,
    },
    /// Drain everything, close every sink, report, and stop.
    Shutdown {
        deadline: Instant,
        reply: Sender<ShutdownReport>,
    },
}

/// New sinks, already started by the caller of `set_sinks`, offered to the drain. Whoever
/// takes them out of the slot decides their fate, exactly once: the drain attaches them, or
/// the caller, at its deadline, discards them (no user code ever runs on the drain thread).
#[derive(Default)]
pub(crate) struct SinkOffer(Mutex<Option<Vec<SinkWorker>>>);

impl SinkOffer {
    pub(crate) fn new(workers: Vec<SinkWorker>) -> Self {
        Self(Mutex::new(Some(workers)))
    }

    /// The workers, to whoever asks first.
    pub(crate) fn take(&self) -> Option<Vec<SinkWorker>> {
        lock(&self.0).take()
    }
}

/// What a flush caller waits for: the current sinks' flush, and the close of every replaced
/// sink still closing (rows logged before the flush may be in their queues).
#[derive(Clone)]
pub(crate) struct FlushTickets {
    pub sinks: Arc<Ticket>,
    pub closing: Vec<Arc<Ticket>>,
}

impl FlushTickets {
    /// Waits for all of them until `deadline`; true if all were done in time and none late.
    pub(crate) fn wait(&self, deadline: Instant) -> bool {
        self.sinks.wait(deadline) && self.closing.iter().all(|t| t.wait(deadline))
    }

    /// (sink name, why) of every sink whose flush or close did not succeed.
    pub(crate) fn failures(&self) -> Vec<(String, String)> {
        let mut out = self.sinks.failures();
        for t in &self.closing {
            out.extend(t.failures());
        }
        out
    }
}

/// One flush, shared by every caller who asks for it before the drain picks it up (see
/// [`Request::Flush`]): callers hold it by reference, so a flush loop against a stuck
/// drain holds one round however often it calls.
pub(crate) struct FlushRound {
    state: Mutex<RoundState>,
    done: Condvar,
}

enum RoundState {
    /// Waiting for the drain; the latest deadline of its callers.
    Pending(Instant),
    Served(FlushTickets),
    /// The drain is gone.
    Closed,
}

/// Why a flush round ended without tickets.
pub(crate) enum RoundEnd {
    Deadline,
    Closed,
}

impl FlushRound {
    fn new(deadline: Instant) -> Self {
        Self {
            state: Mutex::new(RoundState::Pending(deadline)),
            done: Condvar::new(),
        }
    }

    /// The latest deadline of its callers (what the sinks' flush is given).
    pub(crate) fn deadline(&self) -> Instant {
        match &*lock(&self.state) {
            RoundState::Pending(d) => *d,
            _ => Instant::now(),
        }
    }

    fn settle(&self, to: RoundState) {
        *lock(&self.state) = to;
        self.done.notify_all();
    }

    /// The drain served it.
    pub(crate) fn serve(&self, tickets: FlushTickets) {
        self.settle(RoundState::Served(tickets));
    }

    /// Waits until the drain served the round, or `deadline`.
    pub(crate) fn wait(&self, deadline: Instant) -> Result<FlushTickets, RoundEnd> {
        let left = deadline.saturating_duration_since(Instant::now());
        let (s, _) = self
            .done
            .wait_timeout_while(lock(&self.state), left, |s| {
                matches!(s, RoundState::Pending(_))
            })
            .unwrap_or_else(PoisonError::into_inner);
        match &*s {
            RoundState::Served(t) => Ok(t.clone()),
            RoundState::Closed => Err(RoundEnd::Closed),
            RoundState::Pending(_) => Err(RoundEnd::Deadline),
        }
    }
}

/// The next flush round, if callers are waiting for one.
#[derive(Default)]
struct FlushRounds {
    next: Option<Arc<FlushRound>>,
    /// The drain exited: nobody will serve a flush any more.
    closed: bool,
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
    /// Older ones, folded into one entry (id [`FOLDED_SINKS_ID`]), and how many.
    folded: Option<SinkReport>,
    folded_count: usize,
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
    /// The drain's final pass is over: what the lanes still hold is abandoned.
    pub final_pass_done: AtomicBool,
    /// A shutdown gave up on the drain and reported from the counters: the drain stops
    /// taking, encoding and dispatching rows (they are counted abandoned).
    pub gave_up: AtomicBool,
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
    flushes: Mutex<FlushRounds>,
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
            flushes: Mutex::new(FlushRounds::default()),
            counters: DrainCounters::default(),
            shutdown_deadline: AtomicDeadline::new(),
        }
    }

    pub(crate) fn set_drain(&self, parker: Arc<Parker>) {
        let _ = self.drain.set(parker);
    }

    /// The drain's parker (set before `start` returns).
    pub(crate) fn drain_parker(&self) -> Option<Arc<Parker>> {
        self.drain.get().cloned()
    }

    pub(crate) fn notify_drain(&self) {
        if let Some(p) = self.drain.get() {
            p.notify_fenced();
        }
    }

    pub(crate) fn set_shutdown_deadline(&self, deadline: Instant) {
        // Only the first shutdown sets it (later ones get the first's report).
        self.shutdown_deadline.set(deadline);
    }

    pub(crate) fn shutdown_deadline(&self) -> Option<Instant> {
        self.shutdown_deadline.get()
    }

    /// Adds a caller to the next flush round: `true` for the first one, which sends the
    /// request; later ones share it (and extend its deadline to theirs). `None` when the
    /// drain is gone.
    pub(crate) fn join_flush(&self, deadline: Instant) -> Option<(Arc<FlushRound>, bool)> {
        let mut f = lock(&self.flushes);
        if f.closed {
            return None;
        }
        if let Some(round) = &f.next {
            if let RoundState::Pending(d) = &mut *lock(&round.state) {
                *d = (*d).max(deadline);
            }
            return Some((round.clone(), false));
        }
        let round = Arc::new(FlushRound::new(deadline));
        f.next = Some(round.clone());
        Some((round, true))
    }

    /// The round the drain serves now (later callers start the next one).
    pub(crate) fn take_flush_round(&self) -> Option<Arc<FlushRound>> {
        lock(&self.flushes).next.take()
    }

    /// The drain exits (or the request could not be sent): waiting callers hear at once.
    pub(crate) fn close_flushes(&self) {
        let mut f = lock(&self.flushes);
        f.closed = true;
        if let Some(round) = f.next.take() {
            round.settle(RoundState::Closed);
        }
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
    /// A replaced sink finished closing: its report replaces its live view, in one step
    /// (a snapshot never misses it).
    pub(crate) fn retire_sink(&self, report: SinkReport) {
        let mut v = lock(&self.sinks);
        v.live.retain(|s| s.id() != report.stats.id);
        v.retired.push(report);
        if v.retired.len() > MAX_RETIRED_REPORTS {
            let oldest = v.retired.remove(0);
            v.folded_count += 1;
            let n = v.folded_count;
            let folded = v.folded.get_or_insert_with(|| {
                let mut empty = SinkReport {
                    closed_cleanly: true,
                    ..SinkReport::default()
                };
                empty.stats.id = FOLDED_SINKS_ID;
                empty
            });
            fold_into(folded, &oldest);
            folded.stats.name = format!("earlier sinks ({n})");
        }
    }

    /// The final reports of replaced sinks, the folded ones first (for the shutdown report).
    pub(crate) fn retired_reports(&self) -> Vec<SinkReport> {
        let v = lock(&self.sinks);
        v.folded.iter().chain(&v.retired).cloned().collect()
    }

    /// Every live sink (current and closing), to give up on at a deadline.
    fn live_sinks(&self) -> Vec<Arc<SinkShared>> {
        lock(&self.sinks).live.clone()
    }

    pub(crate) fn stats(&self) -> Stats {
        let r = Ordering::Acquire;
        let c = &self.counters;
        // Once the final pass is over (or was given up), the rows still in the lanes are
        // abandoned: counted at every snapshot, so even a push that lands after the report
        // is counted. Read under the same lock as the lanes' counters.
        let over = c.final_pass_done.load(r) || c.gave_up.load(r);
        let (lanes, left_behind) = {
            let v = lock(&self.lanes);
            let left: u64 = if over {
                v.live.iter().map(|l| l.rows_left()).sum()
            } else {
                0
            };
            let lanes = v
                .live
                .iter()
                .map(|l| l.snapshot())
                .chain(v.exited.clone())
                .collect();
            (lanes, left)
        };
        let sinks = {
            let v = lock(&self.sinks);
            v.live
                .iter()
                .map(|s| s.snapshot())
                .chain(v.folded.iter().chain(&v.retired).map(|r| r.stats.clone()))
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
            rows_abandoned: c.rows_abandoned.load(r) + left_behind,
        }
    }

    /// Whether a shutdown gave up on the drain (it stops at once).
    pub(crate) fn gave_up(&self) -> bool {
        self.counters.gave_up.load(Ordering::Acquire)
    }

    /// A report from the counters alone, for when the drain did not answer by the
    /// deadline: every live sink is given up on, and what the lanes and batches still hold
    /// is counted as abandoned.
    pub(crate) fn report_without_drain(&self) -> ShutdownReport {
        // The drain stops taking and dispatching rows from here on; the rows in its batches
        // (drained, not encoded) and in the lanes are abandoned.
        let c = &self.counters;
        if !c.gave_up.swap(true, Ordering::AcqRel) {
            c.rows_abandoned
                .fetch_add(c.rows_batched.load(Ordering::Acquire), Ordering::AcqRel);
        }
        self.timed_out_report(SinkShared::abandon)
    }

    /// The counters now, as a report marked timed out, changing nothing (for a shutdown
    /// that cannot wait for the one in progress).
    pub(crate) fn snapshot_report(&self) -> ShutdownReport {
        self.timed_out_report(|s| SinkReport {
            stats: s.snapshot(),
            closed_cleanly: false,
            timed_out: true,
        })
    }

    /// A timed-out report: every live sink as `live` reports it, then the replaced ones.
    fn timed_out_report(&self, live: impl Fn(&SinkShared) -> SinkReport) -> ShutdownReport {
        let mut sinks: Vec<SinkReport> = self.live_sinks().iter().map(|s| live(s)).collect();
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
