//! The worker thread and byte-bounded queue in front of every sink.
//!
//! # A sink fails alone
//!
//! Every call into the sink (`write`, `flush`, `close`, and `name`/`monitor` at start) runs
//! under `catch_unwind`: an error **or a panic** marks the sink failed, with its message in
//! [`SinkStats::error`]; its queued and later messages are counted as dropped (sink failed);
//! the drain never waits on a failed sink (a `Block` dispatch gives up as soon as the sink
//! fails). A panicked sink is not called again (not even `close`): it is dropped, also under
//! `catch_unwind`.
//!
//! # Accounting
//!
//! For every sink, `dispatched = accepted + dropped(queue full) + dropped(sink failed) +
//! still queued`. When shutdown gives up on a sink at its deadline ([`SinkShared::abandon`]),
//! "still queued" becomes `dropped_shutdown_deadline`, derived from the other counters at
//! every snapshot, so the sum holds whatever the worker finishes afterwards.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Sink, SinkError, SinkMonitor, SinkPolicy, SinkSpec};
use crate::error::ErrorChain;
use crate::park::Parker;
use crate::stats::{DropReason, LatencyHistogram, SinkReport, SinkStats};
use crate::sync::lock;
use crate::wire::EncodedMessage;

/// Counts down acknowledgements from sink workers, and collects their failures; waited on
/// with a deadline.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    state: Mutex<TicketState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct TicketState {
    remaining: usize,
    /// (sink name, why) of each worker that did not succeed.
    failures: Vec<(String, String)>,
    /// A worker acknowledged without finishing by the deadline (not a failure).
    late: bool,
}

impl Ticket {
    pub(crate) fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(TicketState {
                remaining: n,
                failures: Vec::new(),
                late: false,
            }),
            done: Condvar::new(),
        })
    }

    /// One worker is done; `failure` is (its sink's name, why) when it did not succeed.
    pub(crate) fn ack(&self, failure: Option<(String, String)>) {
        let mut s = lock(&self.state);
        s.remaining = s.remaining.saturating_sub(1);
        s.failures.extend(failure);
        if s.remaining == 0 {
            self.done.notify_all();
        }
    }

    /// One worker is done, but did not finish its part by the deadline.
    pub(crate) fn ack_late(&self) {
        lock(&self.state).late = true;
        self.ack(None);
    }

    /// Every ack arrived.
    pub(crate) fn is_done(&self) -> bool {
        lock(&self.state).remaining == 0
    }

    /// Waits until every ack arrived or `deadline` passed; true if all arrived in time and
    /// none of them late (a sink whose own flush missed its deadline).
    pub(crate) fn wait(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        let (s, _) = self
            .done
            .wait_timeout_while(lock(&self.state), left, |s| s.remaining > 0)
            .unwrap_or_else(PoisonError::into_inner);
        s.remaining == 0 && !s.late
    }

    /// The failures acknowledged so far: (sink name, why).
    pub(crate) fn failures(&self) -> Vec<(String, String)> {
        lock(&self.state).failures.clone()
    }
}

/// What the drain asks of a sink's worker, in queue order.
enum SinkJob {
    Write {
        msg: EncodedMessage,
        rows: u64,
        retained: u64,
        logged_at_ns: Option<u64>,
    },
    /// Flush once for the oldest `SinkShared::flushes` entry (flushes with no write queued
    /// between them share one job: a stuck sink holds one however often it is flushed).
    Flush,
    Close {
        deadline: Instant,
        ticket: Arc<Ticket>,
    },
}

/// Counters and flags shared by the drain (the queue's producer side), the worker, and
/// `stats()` readers.
#[derive(Debug, Default)]
pub(crate) struct SinkShared {
    id: u64,
    /// Set by the worker thread from `Sink::name()` (user code runs there, not on the
    /// thread that starts the worker).
    name: OnceLock<String>,
    /// Retained bytes of the queued messages (what the queue bound limits).
    queued_bytes: AtomicU64,
    high_water_bytes: AtomicU64,
    /// Messages and rows put into the worker's queue (drain-written).
    queued: AtomicU64,
    queued_rows: AtomicU64,
    /// Accepted by the sink.
    messages: AtomicU64,
    rows: AtomicU64,
    bytes: AtomicU64,
    dropped_queue_full: AtomicU64,
    rows_dropped_queue_full: AtomicU64,
    /// Dropped by the worker because the sink failed (or lost after accepting them).
    dropped_failed: AtomicU64,
    rows_dropped_failed: AtomicU64,
    /// Not queued because the sink had failed (drain-written).
    refused_failed: AtomicU64,
    rows_refused_failed: AtomicU64,
    /// Not queued because a `Block` dispatch reached the shutdown deadline (drain-written).
    refused_deadline: AtomicU64,
    rows_refused_deadline: AtomicU64,
    failed: AtomicBool,
    /// Shutdown gave up on the sink: the worker discards what is left, uncounted (the rest
    /// is derived as `dropped_shutdown_deadline`).
    abandoned: AtomicBool,
    retired: AtomicBool,
    closed_cleanly: AtomicBool,
    /// A drop was logged as a warning already.
    warned: AtomicBool,
    /// Flush jobs queued and not yet served, oldest first: each with the `queued` count
    /// when it was queued and its tickets (with their deadlines).
    flushes: Mutex<std::collections::VecDeque<PendingFlush>>,
    error: Mutex<Option<String>>,
    latency: LatencyHistogram,
    /// The sink's own live state, read at every snapshot (set by the worker thread).
    monitor: OnceLock<SinkMonitor>,
}

impl SinkShared {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The sink's name (`"(starting)"` until its worker asked it).
    pub(crate) fn name(&self) -> &str {
        self.name.get().map_or("(starting)", String::as_str)
    }

    pub(crate) fn snapshot(&self) -> SinkStats {
        let r = Ordering::Acquire;
        // Read what the worker settles before what the drain dispatched, so a concurrent
        // write only makes the derived "still queued" larger, never negative.
        let (messages, rows, failed_m, failed_r) = (
            self.messages.load(r),
            self.rows.load(r),
            self.dropped_failed.load(r),
            self.rows_dropped_failed.load(r),
        );
        let (mut deadline_m, mut deadline_r) = (
            self.refused_deadline.load(r),
            self.rows_refused_deadline.load(r),
        );
        if self.abandoned.load(r) {
            deadline_m += self.queued.load(r).saturating_sub(messages + failed_m);
            deadline_r += self.queued_rows.load(r).saturating_sub(rows + failed_r);
        }
        let (grpc, file) = match self.monitor.get() {
            Some(SinkMonitor::Grpc(h)) => (Some(h.stats()), None),
            Some(SinkMonitor::File(h)) => (None, Some(h.stats())),
            None => (None, None),
        };
        // The sink's own failure, and the last error its monitor saw (e.g. why a gRPC sink
        // could not connect), which is often the actionable part.
        let last = grpc.as_ref().and_then(|g| g.last_error.clone());
        let error = match (lock(&self.error).clone(), last) {
            (Some(own), Some(last)) if !own.contains(&last) => {
                Some(format!("{own} (last error: {last})"))
            }
            (own, last) => own.or(last),
        };
        SinkStats {
            name: self.name().to_owned(),
            id: self.id,
            messages,
            rows,
            bytes: self.bytes.load(r),
            dropped_queue_full: self.dropped_queue_full.load(r),
            dropped_sink_failed: failed_m + self.refused_failed.load(r),
            dropped_shutdown_deadline: deadline_m,
            rows_dropped_queue_full: self.rows_dropped_queue_full.load(r),
            rows_dropped_sink_failed: failed_r + self.rows_refused_failed.load(r),
            rows_dropped_shutdown_deadline: deadline_r,
            queued_bytes: self.queued_bytes.load(r),
            queue_high_water_bytes: self.high_water_bytes.load(r),
            latency: self.latency.summary(),
            failed: self.failed.load(r),
            retired: self.retired.load(r),
            error,
            grpc,
            file,
        }
    }

    /// Gives up on this sink at a deadline: the worker discards what is left; what was
    /// dispatched and not settled is counted as dropped at the shutdown deadline.
    pub(crate) fn abandon(&self) -> SinkReport {
        self.abandoned.store(true, Ordering::Release);
        let stats = self.snapshot();
        if stats.dropped_shutdown_deadline > 0 {
            self.warn_once(DropReason::ShutdownDeadline);
        }
        SinkReport {
            stats,
            closed_cleanly: false,
            timed_out: true,
        }
    }

    fn warn_once(&self, reason: DropReason) {
        if !self.warned.swap(true, Ordering::AcqRel) {
            log::warn!(
                "spate: sink {} dropped a message ({reason}); see Recording::stats() for the counts",
                self.name()
            );
        }
    }

    /// Counts a message the drain did not queue.
    fn refuse(&self, reason: DropReason, rows: u64) {
        let r = Ordering::AcqRel;
        let (m, n) = match reason {
            DropReason::QueueFull => (&self.dropped_queue_full, &self.rows_dropped_queue_full),
            DropReason::SinkFailed => (&self.refused_failed, &self.rows_refused_failed),
            DropReason::ShutdownDeadline => (&self.refused_deadline, &self.rows_refused_deadline),
        };
        m.fetch_add(1, r);
        n.fetch_add(rows, r);
        self.warn_once(reason);
    }

    /// Counts a queued message the worker dropped because the sink failed.
    fn drop_failed(&self, rows: u64) {
        self.dropped_failed.fetch_add(1, Ordering::AcqRel);
        self.rows_dropped_failed.fetch_add(rows, Ordering::AcqRel);
        self.warn_once(DropReason::SinkFailed);
    }

    /// Marks the sink failed with `why` (the first failure's message is kept).
    fn fail(&self, why: String) {
        let mut e = lock(&self.error);
        if !self.failed.swap(true, Ordering::AcqRel) || e.is_none() {
            log::warn!("spate: sink {} failed: {why}", self.name());
            *e = Some(why);
        }
    }

    /// A sink error: messages it had accepted and now reports lost move from delivered to
    /// dropped.
    fn fail_with(&self, e: &SinkError) {
        if let SinkError::IoLost {
            lost_messages,
            lost_bytes,
            lost_rows,
            ..
        } = e
        {
            let r = Ordering::AcqRel;
            let m = (*lost_messages).min(self.messages.load(Ordering::Acquire));
            let rows = (*lost_rows).min(self.rows.load(Ordering::Acquire));
            let b = (*lost_bytes).min(self.bytes.load(Ordering::Acquire));
            // Add to dropped before taking from delivered: a concurrent snapshot may count
            // these twice for a moment, never zero times.
            self.dropped_failed.fetch_add(m, r);
            self.rows_dropped_failed.fetch_add(rows, r);
            self.messages.fetch_sub(m, r);
            self.rows.fetch_sub(rows, r);
            self.bytes.fetch_sub(b, r);
        }
        self.fail(ErrorChain(e).to_string());
    }

    fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }
}

/// The drain's handle on one sink: its queue and its worker thread.
pub(crate) struct SinkWorker {
    shared: Arc<SinkShared>,
    policy: SinkPolicy,
    max_queue_bytes: u64,
    close_timeout: Option<Duration>,
    tx: Sender<SinkJob>,
    thread: Option<JoinHandle<()>>,
}

/// Most flushes waiting for one flush job of a stuck sink.
const MAX_JOINED_FLUSHES: usize = 64;

/// Tickets of flushes that share one flush job.
#[derive(Debug)]
struct PendingFlush {
    /// `SinkShared::queued` when the job was queued: a later flush may join only if no
    /// write was queued since.
    after_queued: u64,
    tickets: Vec<(Arc<Ticket>, Instant)>,
}

/// A sink asked to close: each one waits for its own ticket by its own deadline, so one
/// that misses it is given up on (timed out) without marking the others.
pub(crate) struct Closing {
    worker: SinkWorker,
    ticket: Arc<Ticket>,
    deadline: Instant,
}

impl Closing {
    /// The worker acknowledged the close.
    pub(crate) fn is_done(&self) -> bool {
        self.ticket.is_done()
    }

    /// The close's ticket (a flush waits for replaced sinks to finish their queues).
    pub(crate) fn ticket(&self) -> Arc<Ticket> {
        self.ticket.clone()
    }

    /// The worker, for its shared counters.
    pub(crate) fn worker(&self) -> &SinkWorker {
        &self.worker
    }

    /// Waits for the close until its deadline (or `cut_off`, if earlier) and reports.
    pub(crate) fn wait(self, cut_off: Option<Instant>) -> SinkReport {
        let deadline = cut_off.map_or(self.deadline, |c| c.min(self.deadline));
        let in_time = self.ticket.wait(deadline);
        self.worker.finish(in_time)
    }
}

/// A panic payload as text; the payload is dropped here, contained (a payload whose own
/// `Drop` panics would otherwise unwind the worker).
fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let text = p
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(p))) {
        // Dropping this one could panic too: leak it.
        std::mem::forget(again);
    }
    text
}

impl SinkWorker {
    /// Starts the worker thread `spate-sink`; it asks the sink its name and monitor first
    /// (user code: it runs there, contained, never on the thread that starts the worker).
    /// `drain` is notified whenever the queue shrinks (a drain blocked by
    /// `SinkPolicy::Block` waits on it).
    pub(crate) fn start(spec: SinkSpec, drain: Arc<Parker>) -> std::io::Result<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let sink = spec.sink;
        let shared = Arc::new(SinkShared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ..Default::default()
        });
        let (tx, rx) = channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("spate-sink".to_owned())
            .spawn(move || run(sink, &rx, &s, &drain))?;
        Ok(Self {
            shared,
            policy: spec.policy,
            max_queue_bytes: spec.max_queue_bytes,
            close_timeout: spec.close_timeout,
            tx,
            thread: Some(thread),
        })
    }

    pub(crate) fn shared(&self) -> &Arc<SinkShared> {
        &self.shared
    }

    fn has_room(&self, len: u64) -> bool {
        let q = self.shared.queued_bytes.load(Ordering::Acquire);
        q == 0 || q + len <= self.max_queue_bytes
    }

    /// Queues `msg`, applying the policy. Called on the drain thread; waits only under
    /// `SinkPolicy::Block`, and then only while the sink is alive and `deadline()` (the
    /// shutdown deadline, once there is one) has not passed.
    pub(crate) fn dispatch(
        &self,
        msg: &EncodedMessage,
        logged_at_ns: Option<u64>,
        drain: &Parker,
        deadline: &dyn Fn() -> Option<Instant>,
    ) {
        let rows = msg.summary().map_or(0, |m| m.num_rows);
        self.enqueue(msg, rows, logged_at_ns, Some((drain, deadline)));
    }

    /// Like [`dispatch`](Self::dispatch), for what the engine sends each sink before any
    /// row: `SetStoreInfo` and the recording's properties. A message, but no logged rows;
    /// queued without waiting for room (two small messages per sink, past the byte bound
    /// if need be), so a sink that is stuck from the start cannot hold up `start()` or
    /// `set_sinks()`.
    pub(crate) fn dispatch_preamble(&self, msg: &EncodedMessage) {
        self.enqueue(msg, 0, None, None);
    }

    /// Queues `msg`; with `wait` (the drain's parker and the shutdown deadline), first
    /// applies the policy to a full queue.
    fn enqueue(
        &self,
        msg: &EncodedMessage,
        rows: u64,
        logged_at_ns: Option<u64>,
        wait: Option<(&Parker, &dyn Fn() -> Option<Instant>)>,
    ) {
        let s = &self.shared;
        let retained = msg.retained_bytes();
        if s.is_failed() {
            s.refuse(DropReason::SinkFailed, rows);
            return;
        }
        while let Some((drain, deadline)) = wait {
            if s.is_failed() {
                s.refuse(DropReason::SinkFailed, rows);
                return;
            }
            if self.has_room(retained) {
                break;
            }
            match self.policy {
                SinkPolicy::DropNewest => {
                    s.refuse(DropReason::QueueFull, rows);
                    return;
                }
                SinkPolicy::Block => {
                    let mut nap = Duration::from_millis(2);
                    if s.abandoned.load(Ordering::Acquire) {
                        s.refuse(DropReason::ShutdownDeadline, rows);
                        return;
                    }
                    if let Some(d) = deadline() {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            s.refuse(DropReason::ShutdownDeadline, rows);
                            return;
                        }
                        nap = nap.min(left);
                    }
                    drain
                        .park_unless_fenced(|| self.has_room(retained) || s.is_failed(), Some(nap));
                }
            }
        }
        let q = s.queued_bytes.fetch_add(retained, Ordering::AcqRel) + retained;
        s.high_water_bytes.fetch_max(q, Ordering::Relaxed);
        s.queued.fetch_add(1, Ordering::AcqRel);
        s.queued_rows.fetch_add(rows, Ordering::AcqRel);
        let job = SinkJob::Write {
            msg: msg.clone(),
            rows,
            retained,
            logged_at_ns,
        };
        if self.tx.send(job).is_err() {
            // The worker is gone (it only exits after Close): counted, never silent.
            s.queued_bytes.fetch_sub(retained, Ordering::AcqRel);
            s.fail("the sink's worker thread exited".to_owned());
            s.drop_failed(rows);
        }
    }

    /// Asks the worker to flush after what is queued; it acks `ticket` when done. A flush
    /// asked for while the last queued one has nothing queued after it joins that one (one
    /// job, one flush): the same writes come before either.
    pub(crate) fn flush(&self, deadline: Instant, ticket: Arc<Ticket>) {
        let s = &self.shared;
        let queued = s.queued.load(Ordering::Acquire);
        let new_job = {
            let mut pending = lock(&s.flushes);
            match pending.back_mut() {
                Some(last) if last.after_queued == queued => {
                    // Bounded: past this many waiting flushes, the oldest is answered as
                    // late (its sink has not flushed yet, and its caller likely gave up).
                    if last.tickets.len() >= MAX_JOINED_FLUSHES {
                        let (oldest, _) = last.tickets.remove(0);
                        oldest.ack_late();
                    }
                    last.tickets.push((ticket, deadline));
                    false
                }
                _ => {
                    pending.push_back(PendingFlush {
                        after_queued: queued,
                        tickets: vec![(ticket, deadline)],
                    });
                    true
                }
            }
        };
        if new_job && self.tx.send(SinkJob::Flush).is_err() {
            for p in std::mem::take(&mut *lock(&s.flushes)) {
                for (t, _) in p.tickets {
                    t.ack(Some((s.name().to_owned(), "worker exited".to_owned())));
                }
            }
        }
    }

    /// The policy a full queue applies.
    pub(crate) fn policy(&self) -> SinkPolicy {
        self.policy
    }

    /// This sink's close deadline within a shutdown (or a replacement) ending at `deadline`.
    fn close_deadline(&self, deadline: Instant) -> Instant {
        self.close_timeout
            .and_then(|t| Instant::now().checked_add(t))
            .map_or(deadline, |own| own.min(deadline))
    }

    /// Asks the worker to close after what is queued; it acks `ticket` when done.
    fn close(&self, deadline: Instant, ticket: Arc<Ticket>) {
        if let Err(e) = self.tx.send(SinkJob::Close { deadline, ticket })
            && let SinkJob::Close { ticket, .. } = e.0
        {
            ticket.ack(Some((
                self.shared.name().to_owned(),
                "worker exited".to_owned(),
            )));
        }
    }

    /// Asks the worker to close (by its own [close deadline](Self::close_deadline) within
    /// `deadline`); [`Closing::wait`] then reports.
    pub(crate) fn begin_close(self, deadline: Instant) -> Closing {
        let ticket = Ticket::new(1);
        let deadline = self.close_deadline(deadline);
        self.close(deadline, ticket.clone());
        Closing {
            worker: self,
            ticket,
            deadline,
        }
    }

    /// Stops a worker that was never attached: its queue ends, its thread drops the sink
    /// (contained) and exits; waits until `deadline` for that, then leaves the thread.
    pub(crate) fn discard(mut self, deadline: Instant) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let backoff = crossbeam_utils::Backoff::new();
            while !t.is_finished() && Instant::now() < deadline {
                if backoff.is_completed() {
                    std::thread::sleep(Duration::from_millis(1));
                } else {
                    backoff.snooze();
                }
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }

    /// Marks the sink as replaced by `set_sinks` (it finishes its queue and closes).
    pub(crate) fn retire(&self) {
        self.shared.retired.store(true, Ordering::Release);
    }

    /// After a close: joins the worker if it acknowledged in time, otherwise gives up on it
    /// (its thread finishes on its own, discarding what is left); reports.
    pub(crate) fn finish(mut self, closed_in_time: bool) -> SinkReport {
        let s = &self.shared;
        if !closed_in_time {
            return s.abandon();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        SinkReport {
            stats: s.snapshot(),
            closed_cleanly: s.closed_cleanly.load(Ordering::Acquire),
            timed_out: false,
        }
    }
}

/// The worker's loop: one job at a time, every call into the sink contained.
fn run(sink: Box<dyn Sink>, rx: &Receiver<SinkJob>, s: &SinkShared, drain: &Parker) {
    let mut sink = Some(sink);
    match catch_unwind(AssertUnwindSafe(|| {
        sink.as_deref().map(|k| (k.name(), k.monitor()))
    })) {
        Ok(Some((name, monitor))) => {
            let _ = s.name.set(name);
            if let Some(m) = monitor {
                let _ = s.monitor.set(m);
            }
        }
        Ok(None) => {}
        Err(p) => {
            let _ = s.name.set("(sink whose name() panicked)".to_owned());
            s.fail(format!("panicked at start: {}", panic_message(p)));
            drop_contained(sink.take(), s);
        }
    }
    // Ends when the drain drops its end (after sending Close, or when it exits).
    while let Ok(job) = rx.recv() {
        let closed = matches!(job, SinkJob::Close { .. });
        serve(&mut sink, job, s, drain);
        if closed {
            return;
        }
    }
    // The drain is gone without a Close (it exited abnormally): drop the sink contained.
    drop_contained(sink.take(), s);
}

/// Calls into the sink under `catch_unwind`; a panic becomes a failure message and the sink
/// is dropped (never called again).
fn call<T>(
    sink: &mut Option<Box<dyn Sink>>,
    s: &SinkShared,
    what: &str,
    f: impl FnOnce(&mut dyn Sink) -> Result<T, SinkError>,
) -> Result<T, String> {
    let Some(inner) = sink.as_deref_mut() else {
        return Err("the sink panicked earlier".to_owned());
    };
    match catch_unwind(AssertUnwindSafe(|| f(inner))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            s.fail_with(&e);
            Err(ErrorChain(&e).to_string())
        }
        Err(p) => {
            let why = format!("panicked in {what}: {}", panic_message(p));
            s.fail(why.clone());
            drop_contained(sink.take(), s);
            Err(why)
        }
    }
}

fn drop_contained(sink: Option<Box<dyn Sink>>, s: &SinkShared) {
    if let Some(sink) = sink
        && let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(sink)))
    {
        s.fail(format!("panicked when dropped: {}", panic_message(p)));
    }
}

fn serve(sink: &mut Option<Box<dyn Sink>>, job: SinkJob, s: &SinkShared, drain: &Parker) {
    match job {
        SinkJob::Write {
            msg,
            rows,
            retained,
            logged_at_ns,
        } => {
            if s.abandoned.load(Ordering::Acquire) {
                // Shutdown gave up on this sink; the rest is counted as dropped at the
                // deadline (derived from the counters).
            } else if s.is_failed() {
                s.drop_failed(rows);
            } else {
                let len = msg.len() as u64;
                match call(sink, s, "write", |k| k.write(&msg)) {
                    Ok(()) => {
                        s.bytes.fetch_add(len, Ordering::AcqRel);
                        s.rows.fetch_add(rows, Ordering::AcqRel);
                        s.messages.fetch_add(1, Ordering::AcqRel);
                        if let Some(t) = logged_at_ns {
                            let now = crate::chunk::wall_clock_ns();
                            s.latency
                                .record(Duration::from_nanos(now.saturating_sub(t)));
                        }
                    }
                    Err(_) => s.drop_failed(rows),
                }
            }
            drop(msg);
            s.queued_bytes.fetch_sub(retained, Ordering::AcqRel);
            drain.notify_fenced();
        }
        SinkJob::Flush => {
            let Some(PendingFlush {
                tickets: waiting, ..
            }) = lock(&s.flushes).pop_front()
            else {
                return;
            };
            let Some(deadline) = waiting.iter().map(|(_, d)| *d).max() else {
                return;
            };
            if s.is_failed() {
                let why = lock(&s.error).clone().unwrap_or_default();
                for (t, _) in waiting {
                    t.ack(Some((s.name().to_owned(), why.clone())));
                }
                return;
            }
            // A flush that misses its deadline is late, not failed: the sink carries on.
            let mut late = false;
            let result = call(sink, s, "flush", |k| match k.flush(deadline) {
                Err(SinkError::Deadline) => {
                    late = true;
                    Ok(())
                }
                other => other,
            });
            for (t, _) in waiting {
                match &result {
                    Ok(()) if late => t.ack_late(),
                    Ok(()) => t.ack(None),
                    Err(f) => t.ack(Some((s.name().to_owned(), f.clone()))),
                }
            }
        }
        SinkJob::Close { deadline, ticket } => {
            let ok = !s.is_failed() && !s.abandoned.load(Ordering::Acquire);
            let result = call(sink, s, "close", |k| k.close(deadline));
            // Dropped before judging: a sink whose `Drop` panics did not close cleanly.
            drop_contained(sink.take(), s);
            s.closed_cleanly
                .store(ok && result.is_ok() && !s.is_failed(), Ordering::Release);
            ticket.ack(result.err().map(|f| (s.name().to_owned(), f)));
        }
    }
}
