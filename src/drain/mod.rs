//! The drain thread: merges every lane fairly, batches rows into chunks, encodes each chunk
//! once, and hands the same encoded message to every sink's queue.
//!
//! # Requests are served under load
//!
//! Between two fair rounds over the lanes the drain serves the requests that arrived
//! (`flush`, `set_sinks`, `shutdown`). A flush or a sink change takes each lane only up to
//! where it stood when the drain picked the request up, so a producer that never stops
//! cannot starve it: the wait is bounded by what was already logged.
//!
//! # Every wait ends
//!
//! Replies go through channels that are dropped with the drain, so a request sent after the
//! drain exited is answered at once (with an error). The drain itself waits only on a full
//! `Block` sink, and never past a shutdown deadline or on a failed sink.

pub(crate) mod hub;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::chunk::batcher::{BatchPolicy, Batched, Batcher};
use crate::chunk::{Chunk, ChunkError, ComponentDescriptor};
use crate::entity::EntityPath;
use crate::lane::LaneConsumer;
use crate::park::Parker;
use crate::sink::worker::{Closing, SinkWorker, Ticket};
use crate::stats::{ShutdownReport, SinkReport};
use crate::wire::{Compression, EncodedMessage, StoreInfo};
use hub::{FlushTickets, Hub, Request, SinkOffer};

/// Most rows taken from one lane before the drain moves to the next: a busy lane cannot
/// starve a quiet one.
pub(crate) const BURST: usize = 256;

/// Longest idle sleep, so exited threads' lanes are freed even when nothing is logged.
const IDLE_PARK: Duration = Duration::from_millis(50);

/// How long a replaced sink may take to finish its queue and close, unless its
/// `close_timeout` says less (a shutdown gives up on it at its own deadline, whichever comes
/// first): a gRPC sink without a viewer does not retry for long.
const RETIRE_DEADLINE: Duration = Duration::from_secs(5);

/// Most replaced sinks still closing at once; past it the oldest is given a moment more,
/// then given up on (its undelivered messages counted), so `set_sinks` in a loop keeps
/// bookkeeping bounded.
const MAX_RETIRING: usize = 32;

/// How long the drain waits for the oldest replaced sink when too many are closing.
const RETIRING_GRACE: Duration = Duration::from_millis(50);

/// Deadline of the shutdown the drain does itself when every handle vanished without one.
const ORPHAN_SHUTDOWN: Duration = Duration::from_secs(5);

/// Takes up to `burst` items from each source in turn, starting after the source served
/// first last time. Returns how many items were taken. Pure, so fairness is unit-tested.
pub(crate) fn fair_round<S>(
    sources: &mut [S],
    start: &mut usize,
    burst: usize,
    mut pop: impl FnMut(&mut S, usize) -> usize,
) -> usize {
    let n = sources.len();
    if n == 0 {
        return 0;
    }
    let mut total = 0;
    for k in 0..n {
        total += pop(&mut sources[(*start + k) % n], burst);
    }
    *start = (*start + 1) % n;
    total
}

/// The drain's side of a recording: what it was configured with.
pub(crate) struct DrainConfig {
    pub store: StoreInfo,
    /// What every sink gets before any row (`SetStoreInfo`, then the properties), encoded
    /// once ([`preamble`]).
    pub preamble: Arc<[EncodedMessage]>,
    pub batch: BatchPolicy,
    pub compression: Compression,
}

/// The messages a recording sends each sink before any row: its `SetStoreInfo`, then its
/// properties (when they could be encoded: a failure is logged, and the recording goes on
/// without them).
pub(crate) fn preamble(
    store: &StoreInfo,
    properties: &RecordingProperties,
    compression: Compression,
) -> Arc<[EncodedMessage]> {
    let encoded = properties
        .chunk()
        .map_err(|e| e.to_string())
        .and_then(|c| EncodedMessage::arrow_msg(&c, store, compression).map_err(|e| e.to_string()));
    let properties = encoded
        .inspect_err(|e| log::warn!("spate: the recording's properties could not be encoded: {e}"))
        .ok();
    std::iter::once(EncodedMessage::set_store_info(store))
        .chain(properties)
        .collect()
}

/// The recording's properties (`RecordingInfo` at `/__properties`, as the official SDK
/// writes them): the viewer shows the recording's name and start time from them.
#[derive(Clone, Debug)]
pub(crate) struct RecordingProperties {
    pub start_time: std::time::SystemTime,
    pub name: Option<String>,
}

impl RecordingProperties {
    /// One static row: `RecordingInfo:start_time` (ns since the epoch, as `Int64`, with the
    /// component type `rerun.components.Timestamp`) and, when given, `RecordingInfo:name`.
    pub(crate) fn chunk(&self) -> Result<Chunk, ChunkError> {
        use arrow_array::{ArrayRef, Int64Array, StringArray};
        const INFO: &str = "rerun.archetypes.RecordingInfo";
        let start_ns = crate::time::TimeCell::from(self.start_time).value();
        let mut components: Vec<(ComponentDescriptor, ArrayRef)> = vec![(
            ComponentDescriptor::new(
                INFO,
                "RecordingInfo:start_time",
                "rerun.components.Timestamp",
            ),
            Arc::new(Int64Array::from(vec![start_ns])),
        )];
        if let Some(name) = &self.name {
            components.push((
                ComponentDescriptor::new(INFO, "RecordingInfo:name", "rerun.components.Name"),
                Arc::new(StringArray::from(vec![name.as_str()])),
            ));
        }
        Chunk::from_components(
            EntityPath::from_file_unchecked("/__properties"),
            crate::chunk::RowId::new(),
            Vec::new(),
            components,
        )
    }
}

pub(crate) struct DrainLoop {
    hub: Arc<Hub>,
    config: DrainConfig,
    parker: Arc<Parker>,
    requests: Receiver<Request>,
    /// A request taken off the channel while looking for work.
    pending: Option<Request>,
    /// Every handle is gone (no shutdown request can come any more).
    orphaned: bool,
    lanes: Vec<LaneConsumer>,
    next_lane: usize,
    batcher: Batcher,
    sinks: Vec<SinkWorker>,
    /// Sinks replaced by `set_sinks`, closing on their own threads.
    retiring: Vec<Closing>,
    finished: Vec<Batched>,
}

/// Whether the drain goes on after serving a request.
enum Next {
    Continue,
    Exit,
}

impl DrainLoop {
    pub(crate) fn new(
        hub: Arc<Hub>,
        config: DrainConfig,
        parker: Arc<Parker>,
        requests: Receiver<Request>,
        sinks: Vec<SinkWorker>,
    ) -> Self {
        let batcher = Batcher::new(config.batch);
        let this = Self {
            hub,
            config,
            parker,
            requests,
            pending: None,
            orphaned: false,
            lanes: Vec::new(),
            next_lane: 0,
            batcher,
            sinks,
            retiring: Vec::new(),
            finished: Vec::new(),
        };
        this.greet_sinks();
        this
    }

    /// Sends the recording's preamble (`SetStoreInfo`, then the properties) to the (new)
    /// sinks first and makes them visible in the stats.
    fn greet_sinks(&self) {
        for s in &self.sinks {
            for msg in self.config.preamble.iter() {
                s.dispatch_preamble(msg);
            }
        }
        self.publish_sinks();
    }

    fn publish_sinks(&self) {
        let view = self
            .sinks
            .iter()
            .chain(self.retiring.iter().map(Closing::worker))
            .map(|s| s.shared().clone())
            .collect();
        self.hub.set_sinks_view(view);
    }

    fn accept_lanes(&mut self) -> bool {
        let mut any = false;
        while let Some(lane) = self.hub.new_lanes.pop() {
            self.lanes.push(lane);
            any = true;
        }
        any
    }

    /// Counts rows taken from the lanes (a `send_columns` item is that many rows).
    fn count_drained(&self, rows: u64) {
        self.hub
            .counters
            .rows_drained
            .fetch_add(rows, Ordering::Relaxed);
    }

    /// One fair pass over the lanes; rows go to the batcher.
    fn poll_lanes(&mut self, now: Instant) -> usize {
        if self.hub.gave_up() {
            return 0;
        }
        let (batcher, finished) = (&mut self.batcher, &mut self.finished);
        // Rows go straight from the ring into their batch: one move each.
        let mut rows = 0;
        let n = fair_round(&mut self.lanes, &mut self.next_lane, BURST, |lane, max| {
            lane.pop_burst(max, |row, found| {
                rows += row.rows();
                batcher.push_popped(row, found, now, finished);
            })
        });
        self.count_drained(rows);
        self.forget_finished_lanes();
        n
    }

    fn forget_finished_lanes(&mut self) {
        let hub = &self.hub;
        self.lanes.retain(|l| {
            let done = l.is_finished();
            if done {
                hub.retire_lane(&l.shared);
            }
            !done
        });
    }

    /// Takes from every lane exactly the rows it held when called (a producer that keeps
    /// logging cannot make this longer), emitting chunks as they fill.
    fn drain_lanes_to_mark(&mut self) {
        self.accept_lanes();
        let mut marks: Vec<usize> = self.lanes.iter().map(LaneConsumer::rows_waiting).collect();
        while marks.iter().any(|m| *m > 0) && !self.hub.gave_up() {
            let now = Instant::now();
            let mut rows = 0;
            let (batcher, finished) = (&mut self.batcher, &mut self.finished);
            for (lane, mark) in self.lanes.iter_mut().zip(marks.iter_mut()) {
                let take = (*mark).min(BURST);
                if take > 0 {
                    let got = lane.pop_burst(take, |row, found| {
                        rows += row.rows();
                        batcher.push_popped(row, found, now, finished);
                    });
                    *mark = if got == take { *mark - take } else { 0 };
                }
            }
            self.count_drained(rows);
            self.emit();
        }
        self.forget_finished_lanes();
    }

    /// Encodes finished chunks once and dispatches them to every sink.
    fn emit(&mut self) {
        if self.hub.gave_up() {
            // A shutdown reported these rows as abandoned: never deliver them too.
            self.finished.clear();
            return;
        }
        let c = &self.hub.counters;
        for f in std::mem::take(&mut self.finished) {
            let f = match f {
                Ok(f) => f,
                Err(failed) => {
                    if c.encode_errors.fetch_add(failed.rows, Ordering::Relaxed) == 0 {
                        log::warn!(
                            "spate: {} rows could not become a chunk (counted in encode_errors): {}",
                            failed.rows,
                            crate::error::ErrorChain(&failed.error)
                        );
                    }
                    continue;
                }
            };
            let rows = f.chunk.num_rows() as u64;
            match EncodedMessage::arrow_msg(&f.chunk, &self.config.store, self.config.compression) {
                Ok(msg) => {
                    c.chunks_encoded.fetch_add(1, Ordering::Relaxed);
                    c.rows_encoded.fetch_add(rows, Ordering::Relaxed);
                    c.bytes_encoded
                        .fetch_add(msg.len() as u64, Ordering::Relaxed);
                    for s in &self.sinks {
                        s.dispatch(&msg, Some(f.oldest_logged_at_ns), &self.parker, &|| {
                            self.hub.shutdown_deadline()
                        });
                    }
                }
                Err(e) => {
                    if c.encode_errors.fetch_add(rows, Ordering::Relaxed) == 0 {
                        log::warn!(
                            "spate: a chunk of {rows} rows failed to encode (counted in encode_errors): {}",
                            crate::error::ErrorChain(&e)
                        );
                    }
                }
            }
        }
        c.rows_batched
            .store(self.batcher.pending_rows() as u64, Ordering::Relaxed);
    }

    /// The next request, if one is waiting (remembers that every handle is gone).
    fn next_request(&mut self) -> Option<Request> {
        if let Some(r) = self.pending.take() {
            return Some(r);
        }
        match self.requests.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.orphaned = true;
                None
            }
        }
    }

    fn has_work(&mut self) -> bool {
        if self.pending.is_none() && !self.orphaned {
            self.pending = self.next_request();
        }
        self.pending.is_some()
            || self.orphaned
            || !self.hub.new_lanes.is_empty()
            || self.lanes.iter().any(LaneConsumer::has_rows)
    }

    /// Runs until a shutdown request (or until every handle is gone).
    pub(crate) fn run(mut self) {
        let backoff = Backoff::new();
        loop {
            if self.hub.gave_up() {
                // A shutdown reported without us; what is left is counted abandoned.
                self.hub.close_flushes();
                return;
            }
            let now = Instant::now();
            let mut work = usize::from(self.accept_lanes());
            work += self.poll_lanes(now);
            self.batcher.take_due(now, &mut self.finished);
            work += self.finished.len();
            self.emit();
            self.reap_retiring();
            while let Some(request) = self.next_request() {
                work += 1;
                if let Next::Exit = self.serve(request) {
                    return;
                }
            }
            if self.orphaned {
                // Handles always shut down before they vanish; this is the last resort.
                self.hub.gate.close();
                let _ = self.shutdown(Instant::now() + ORPHAN_SHUTDOWN);
                self.hub.close_flushes();
                return;
            }
            if work > 0 {
                backoff.reset();
                continue;
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let timeout = self.batcher.next_deadline().map_or(IDLE_PARK, |d| {
                d.saturating_duration_since(Instant::now()).min(IDLE_PARK)
            });
            let parker = self.parker.clone();
            parker.park_unless_fenced(|| self.has_work(), Some(timeout));
        }
    }

    fn serve(&mut self, request: Request) -> Next {
        match request {
            Request::Flush => {
                // Who is served is fixed before the lanes are marked: a caller that joins
                // later may have logged after the mark, so it waits for the next round.
                let Some(round) = self.hub.take_flush_round() else {
                    return Next::Continue;
                };
                let deadline = round.deadline();
                self.drain_lanes_to_mark();
                self.batcher.flush_all(&mut self.finished);
                self.emit();
                let ticket = Ticket::new(self.sinks.len());
                for s in &self.sinks {
                    s.flush(deadline, ticket.clone());
                }
                round.serve(FlushTickets {
                    sinks: ticket,
                    closing: self.retiring.iter().map(Closing::ticket).collect(),
                });
                Next::Continue
            }
            Request::SetSinks { offer, reply } => {
                self.drain_lanes_to_mark();
                self.batcher.flush_all(&mut self.finished);
                self.emit();
                self.replace_sinks(&offer, &reply);
                Next::Continue
            }
            Request::Shutdown { deadline, reply } => {
                let report = self.shutdown(deadline);
                self.hub.close_flushes();
                let _ = reply.send(report);
                Next::Exit
            }
        }
    }

    fn replace_sinks(&mut self, offer: &SinkOffer, reply: &Sender<()>) {
        let Some(new) = offer.take() else {
            // The caller took them back at its deadline: nothing changes.
            return;
        };
        // The old sinks finish their queues and close on their own threads.
        for old in std::mem::replace(&mut self.sinks, new) {
            old.retire();
            self.retiring
                .push(old.begin_close(Instant::now() + RETIRE_DEADLINE));
        }
        self.reap_retiring();
        while self.retiring.len() > MAX_RETIRING {
            let oldest = self.retiring.remove(0);
            self.hub
                .retire_sink(oldest.wait(Some(Instant::now() + RETIRING_GRACE)));
        }
        self.greet_sinks();
        let _ = reply.send(());
    }

    /// Joins replaced sinks that finished closing; their reports move to the hub.
    fn reap_retiring(&mut self) {
        if !self.retiring.iter().any(Closing::is_done) {
            return;
        }
        let (done, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(Closing::is_done);
        self.retiring = still;
        // Joined first, then moved from the live view to the reports in one step.
        for c in done {
            self.hub.retire_sink(c.wait(None));
        }
    }

    /// Takes every row the lanes hold after the gate closed, waiting for pushes in
    /// progress (`crate::gate`), until `deadline`; returns whether every lane was emptied.
    fn final_pass(&mut self, deadline: Instant) -> bool {
        // The gate closed before this request was sent: lanes registered before are in the
        // queue, and a raised entry flag is visible here (`crate::gate`).
        self.accept_lanes();
        let backoff = Backoff::new();
        loop {
            let now = Instant::now();
            let mut n = 0;
            loop {
                let got = self.poll_lanes(now);
                if got == 0 {
                    break;
                }
                n += got;
                self.emit();
            }
            if self.hub.gave_up() {
                return false;
            }
            // After the gate closed, a lane whose producer is not mid-push gets no row.
            let settled = self
                .lanes
                .iter()
                .all(|l| l.shared.entry.is_idle() && !l.has_rows());
            if settled {
                return true;
            }
            if now >= deadline {
                return false;
            }
            if n == 0 {
                backoff.snooze();
            }
        }
    }

    fn shutdown(&mut self, deadline: Instant) -> ShutdownReport {
        let emptied = self.final_pass(deadline);
        // From here on, what the lanes hold is abandoned (counted at every snapshot).
        self.hub
            .counters
            .final_pass_done
            .store(true, Ordering::Release);
        self.batcher.flush_all(&mut self.finished);
        self.emit();
        // Each sink by its own close deadline: a sink that finishes in time closes cleanly
        // even if another one misses its deadline. Replaced sinks still closing get until
        // the shutdown's deadline.
        let current: Vec<Closing> = self
            .sinks
            .drain(..)
            .map(|s| s.begin_close(deadline))
            .collect();
        let mut sinks: Vec<SinkReport> = current.into_iter().map(|c| c.wait(None)).collect();
        sinks.extend(
            std::mem::take(&mut self.retiring)
                .into_iter()
                .map(|c| c.wait(Some(deadline))),
        );
        sinks.extend(self.hub.retired_reports());
        self.hub.report(sinks, !emptied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn a_busy_source_cannot_starve_a_quiet_one() {
        let mut sources = vec![
            VecDeque::from(vec!["busy"; 10_000]),
            VecDeque::from(vec!["quiet"]),
        ];
        let mut start = 0;
        let mut order = Vec::new();
        fair_round(&mut sources, &mut start, BURST, |q, max| {
            let n = q.len().min(max);
            order.extend(q.drain(..n));
            n
        });
        let quiet_at = order.iter().position(|s| *s == "quiet").unwrap();
        assert_eq!(
            quiet_at, BURST,
            "the quiet row comes right after one burst of the busy lane"
        );
        // And the next round starts with the other source.
        assert_eq!(start, 1);
    }

    #[test]
    fn rounds_rotate_the_first_source() {
        let mut sources = vec![vec![0u8; 5], vec![1u8; 5], vec![2u8; 5]];
        let mut start = 0;
        let mut firsts = Vec::new();
        for _ in 0..3 {
            let mut first = None;
            fair_round(&mut sources, &mut start, 1, |q, _| {
                let v = q.pop().unwrap();
                first.get_or_insert(v);
                1
            });
            firsts.push(first.unwrap());
        }
        assert_eq!(firsts, [0, 1, 2]);
    }
}
