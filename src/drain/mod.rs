//! The drain thread: merges every lane fairly, batches rows into chunks, encodes each chunk
//! once, and hands the same encoded message to every sink's queue.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::chunk::ChunkError;
use crate::chunk::batcher::{Batcher, FinishedChunk};
use crate::lane::LaneConsumer;
use crate::park::Parker;
use crate::recording::{Shared, ShutdownReport};
use crate::sink::SinkSpec;
use crate::sink::worker::{SinkWorker, Ticket};
use crate::wire::EncodedMessage;

/// Most rows taken from one lane before the drain moves to the next: a busy lane cannot
/// starve a quiet one.
pub(crate) const BURST: usize = 256;

/// Longest idle sleep, so exited threads' lanes are freed even when nothing is logged.
const IDLE_PARK: Duration = Duration::from_millis(50);

/// Requests from `Recording` handles to the drain thread.
pub(crate) enum DrainRequest {
    /// Drain every lane, finish every batch, then flush every sink; the sinks' ticket comes
    /// back on `reply`.
    Flush {
        deadline: Instant,
        reply: Sender<Arc<Ticket>>,
    },
    /// Replace the sinks (after flushing batches into the old ones).
    SetSinks {
        sinks: Vec<SinkSpec>,
        reply: Sender<std::io::Result<()>>,
    },
    /// Drain everything, close every sink, report, and stop.
    Shutdown {
        deadline: Instant,
        reply: Sender<ShutdownReport>,
    },
}

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

pub(crate) struct DrainLoop {
    shared: Arc<Shared>,
    parker: Arc<Parker>,
    lanes: Vec<LaneConsumer>,
    next_lane: usize,
    batcher: Batcher,
    sinks: Vec<SinkWorker>,
    /// Sinks replaced by `set_sinks`, closing on their own threads, with their close tickets.
    retired: Vec<(SinkWorker, Arc<Ticket>)>,
    finished: Vec<Result<FinishedChunk, ChunkError>>,
}

impl DrainLoop {
    pub(crate) fn new(shared: Arc<Shared>, parker: Arc<Parker>, sinks: Vec<SinkWorker>) -> Self {
        let batcher = Batcher::new(shared.batch);
        let this = Self {
            shared,
            parker,
            lanes: Vec::new(),
            next_lane: 0,
            batcher,
            sinks,
            retired: Vec::new(),
            finished: Vec::new(),
        };
        this.greet_sinks();
        this
    }

    /// Sends the recording's `SetStoreInfo` to the (new) sinks first and makes them
    /// visible in the stats.
    fn greet_sinks(&self) {
        let hello = EncodedMessage::set_store_info(&self.shared.store);
        for s in &self.sinks {
            s.dispatch(&hello, None, &self.parker);
        }
        self.publish_sinks();
    }

    fn publish_sinks(&self) {
        let view = self.sinks.iter().map(|s| s.shared().clone()).collect();
        *self
            .shared
            .sinks_view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = view;
    }

    fn accept_lanes(&mut self) -> bool {
        let mut any = false;
        while let Some(lane) = self.shared.new_lanes.pop() {
            self.shared
                .lanes_view
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(lane.shared.clone());
            self.lanes.push(lane);
            any = true;
        }
        any
    }

    /// One fair pass over the lanes; rows go to the batcher.
    fn poll_lanes(&mut self, now: Instant) -> usize {
        let (batcher, finished) = (&mut self.batcher, &mut self.finished);
        // Rows go straight from the ring into their batch: one move each.
        let n = fair_round(&mut self.lanes, &mut self.next_lane, BURST, |lane, max| {
            lane.pop_burst(max, |row| batcher.push(row, now, finished))
        });
        self.shared
            .rows_drained
            .fetch_add(n as u64, Ordering::Relaxed);
        self.lanes.retain(|l| !l.is_finished());
        n
    }

    /// Takes every row currently in every lane (for flush and shutdown).
    fn drain_all_lanes(&mut self) {
        self.accept_lanes();
        while self.poll_lanes(Instant::now()) > 0 {
            self.emit();
        }
        self.emit();
    }

    /// Encodes finished chunks once and dispatches them to every sink.
    fn emit(&mut self) {
        for f in std::mem::take(&mut self.finished) {
            let encoded = f.and_then(|f| {
                EncodedMessage::arrow_msg(&f.chunk, &self.shared.store, self.shared.compression)
                    .map(|m| (m, f.oldest_logged_at_ns))
                    .map_err(|e| {
                        ChunkError::Arrow(arrow_schema::ArrowError::ExternalError(Box::new(e)))
                    })
            });
            match encoded {
                Ok((msg, logged_at)) => {
                    self.shared.chunks_encoded.fetch_add(1, Ordering::Relaxed);
                    self.shared
                        .bytes_encoded
                        .fetch_add(msg.len() as u64, Ordering::Relaxed);
                    for s in &self.sinks {
                        s.dispatch(&msg, Some(logged_at), &self.parker);
                    }
                }
                Err(_) => {
                    self.shared.encode_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn has_work(&self) -> bool {
        !self.shared.new_lanes.is_empty()
            || !self.shared.commands.is_empty()
            || self.lanes.iter().any(LaneConsumer::has_rows)
    }

    /// Runs until a shutdown command; returns its reply channel and report.
    pub(crate) fn run(mut self) {
        let backoff = Backoff::new();
        loop {
            let now = Instant::now();
            let mut work = usize::from(self.accept_lanes());
            work += self.poll_lanes(now);
            self.batcher.take_due(now, &mut self.finished);
            work += self.finished.len();
            self.emit();
            while let Some(cmd) = self.shared.commands.pop() {
                work += 1;
                match cmd {
                    DrainRequest::Flush { deadline, reply } => {
                        self.drain_all_lanes();
                        self.batcher.flush_all(&mut self.finished);
                        self.emit();
                        let ticket = Ticket::new(self.sinks.len());
                        for s in &self.sinks {
                            s.flush(deadline, ticket.clone());
                        }
                        let _ = reply.send(ticket);
                    }
                    DrainRequest::SetSinks { sinks, reply } => {
                        self.drain_all_lanes();
                        self.batcher.flush_all(&mut self.finished);
                        self.emit();
                        let result = self.replace_sinks(sinks);
                        let _ = reply.send(result);
                    }
                    DrainRequest::Shutdown { deadline, reply } => {
                        let report = self.shutdown(deadline);
                        let _ = reply.send(report);
                        return;
                    }
                }
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
            parker.park_unless(|| self.has_work(), Some(timeout));
        }
    }

    fn replace_sinks(&mut self, specs: Vec<SinkSpec>) -> std::io::Result<()> {
        let mut new = Vec::with_capacity(specs.len());
        for spec in specs {
            new.push(SinkWorker::start(spec, self.parker.clone())?);
        }
        // The old sinks finish their queues and close on their own threads.
        let far = Instant::now() + Duration::from_secs(3600);
        for old in std::mem::replace(&mut self.sinks, new) {
            let ticket = Ticket::new(1);
            old.close(far, ticket.clone());
            self.retired.push((old, ticket));
        }
        self.greet_sinks();
        Ok(())
    }

    fn shutdown(&mut self, deadline: Instant) -> ShutdownReport {
        self.drain_all_lanes();
        self.batcher.flush_all(&mut self.finished);
        self.emit();
        // One ticket per sink: a sink that finishes in time closes cleanly even if another
        // one misses the deadline. Replaced sinks were asked to close already.
        let current: Vec<(SinkWorker, Arc<Ticket>)> = self
            .sinks
            .drain(..)
            .map(|s| {
                let t = Ticket::new(1);
                s.close(deadline, t.clone());
                (s, t)
            })
            .collect();
        let mut timed_out = false;
        let sinks = current
            .into_iter()
            .chain(std::mem::take(&mut self.retired))
            .map(|(s, t)| {
                let in_time = t.wait(deadline);
                timed_out |= !in_time;
                s.finish(in_time)
            })
            .collect();
        self.shared.report(sinks, timed_out)
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
