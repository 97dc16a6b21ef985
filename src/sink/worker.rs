//! The worker thread and byte-bounded queue in front of every sink.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Sink, SinkError, SinkMonitor, SinkPolicy, SinkReport, SinkSpec};
use crate::park::Parker;
use crate::stats::{LatencyHistogram, SinkStats};
use crate::wire::EncodedMessage;

/// Counts down acknowledgements from sink workers; waited on with a deadline.
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    remaining: Mutex<usize>,
    done: Condvar,
}

impl Ticket {
    pub(crate) fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            remaining: Mutex::new(n),
            done: Condvar::new(),
        })
    }

    pub(crate) fn ack(&self) {
        let mut r = self
            .remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *r = r.saturating_sub(1);
        if *r == 0 {
            self.done.notify_all();
        }
    }

    /// Waits until every ack arrived or `deadline` passed; true if all arrived.
    pub(crate) fn wait(&self, deadline: Instant) -> bool {
        let mut r = self
            .remaining
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *r > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            r = self
                .done
                .wait_timeout(r, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

enum SinkJob {
    Write {
        msg: EncodedMessage,
        logged_at_ns: Option<u64>,
    },
    Flush {
        deadline: Instant,
        ticket: Arc<Ticket>,
    },
    Close {
        deadline: Instant,
        ticket: Arc<Ticket>,
    },
}

/// Counters shared by the drain (producer side of the queue) and the worker.
#[derive(Debug, Default)]
pub(crate) struct SinkShared {
    name: String,
    queued_bytes: AtomicU64,
    /// Messages handed to the worker's queue (drain-written).
    dispatched: AtomicU64,
    high_water_bytes: AtomicU64,
    messages: AtomicU64,
    bytes: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_failed: AtomicU64,
    dropped_deadline: AtomicU64,
    failed: AtomicBool,
    /// Set when shutdown gave up waiting: the worker discards what is left, counted.
    abandoned: AtomicBool,
    closed_cleanly: AtomicBool,
    error: Mutex<Option<String>>,
    latency: LatencyHistogram,
    /// The sink's own live state, read at every snapshot.
    monitor: Option<SinkMonitor>,
}

impl SinkShared {
    pub(crate) fn snapshot(&self) -> SinkStats {
        let r = Ordering::Relaxed;
        SinkStats {
            name: self.name.clone(),
            messages: self.messages.load(r),
            bytes: self.bytes.load(r),
            dropped_queue_full: self.dropped_queue_full.load(r),
            dropped_sink_failed: self.dropped_failed.load(r),
            dropped_shutdown_deadline: self.dropped_deadline.load(r),
            queued_bytes: self.queued_bytes.load(r),
            queue_high_water_bytes: self.high_water_bytes.load(r),
            latency: self.latency.summary(),
            error: self
                .error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            grpc: self.monitor.as_ref().map(|SinkMonitor::Grpc(h)| h.stats()),
        }
    }

    /// Messages queued but not (yet) confirmed written or failed.
    fn unconfirmed(&self) -> u64 {
        let r = Ordering::Acquire;
        self.dispatched
            .load(r)
            .saturating_sub(self.messages.load(r) + self.dropped_failed.load(r))
    }

    /// Gives up on this sink at a deadline: the worker discards what is left, and the
    /// unconfirmed messages are counted as dropped at the shutdown deadline.
    pub(crate) fn abandon(&self) -> SinkReport {
        self.abandoned.store(true, Ordering::Release);
        self.dropped_deadline
            .store(self.unconfirmed(), Ordering::Release);
        SinkReport {
            stats: self.snapshot(),
            closed_cleanly: false,
        }
    }

    fn fail(&self, e: &SinkError) {
        if let SinkError::IoLost {
            lost_messages,
            lost_bytes,
            ..
        } = e
        {
            // Accepted earlier, lost now: move them from delivered to dropped.
            let r = Ordering::AcqRel;
            let m = (*lost_messages).min(self.messages.load(Ordering::Acquire));
            self.messages.fetch_sub(m, r);
            let b = (*lost_bytes).min(self.bytes.load(Ordering::Acquire));
            self.bytes.fetch_sub(b, r);
            self.dropped_failed.fetch_add(m, r);
        }
        self.failed.store(true, Ordering::Release);
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
    }
}

/// The drain's handle on one sink: its queue and its worker thread.
pub(crate) struct SinkWorker {
    shared: Arc<SinkShared>,
    policy: SinkPolicy,
    max_queue_bytes: u64,
    tx: Sender<SinkJob>,
    thread: Option<JoinHandle<()>>,
}

impl SinkWorker {
    /// Starts the worker thread `spate-sink-<name>`. `drain` is notified whenever the queue
    /// shrinks (a drain blocked by `SinkPolicy::Block` waits on it).
    pub(crate) fn start(spec: SinkSpec, drain: Arc<Parker>) -> std::io::Result<Self> {
        let name = spec.sink.name();
        let shared = Arc::new(SinkShared {
            name: name.clone(),
            monitor: spec.sink.monitor(),
            ..Default::default()
        });
        let (tx, rx) = channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("spate-sink-{name}"))
            .spawn(move || run(spec.sink, rx, s, drain))?;
        Ok(Self {
            shared,
            policy: spec.policy,
            max_queue_bytes: spec.max_queue_bytes,
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

    /// Queues `msg`, applying the policy. Called on the drain thread; blocks only under
    /// `SinkPolicy::Block` (waking on `drain`, which the worker notifies).
    pub(crate) fn dispatch(&self, msg: &EncodedMessage, logged_at_ns: Option<u64>, drain: &Parker) {
        let s = &self.shared;
        let len = msg.len() as u64;
        if s.failed.load(Ordering::Acquire) {
            s.dropped_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        while !self.has_room(len) {
            match self.policy {
                SinkPolicy::DropNewest => {
                    s.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                SinkPolicy::Block => {
                    if s.failed.load(Ordering::Acquire) {
                        s.dropped_failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    drain.park_unless(|| self.has_room(len), Some(Duration::from_millis(2)));
                }
            }
        }
        let q = s.queued_bytes.fetch_add(len, Ordering::AcqRel) + len;
        s.high_water_bytes.fetch_max(q, Ordering::Relaxed);
        let cmd = SinkJob::Write {
            msg: msg.clone(),
            logged_at_ns,
        };
        if self.tx.send(cmd).is_ok() {
            s.dispatched.fetch_add(1, Ordering::Relaxed);
        } else {
            s.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            s.dropped_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Asks the worker to flush after what is queued; it acks `ticket` when done.
    pub(crate) fn flush(&self, deadline: Instant, ticket: Arc<Ticket>) {
        if let Err(e) = self.tx.send(SinkJob::Flush { deadline, ticket })
            && let SinkJob::Flush { ticket, .. } = e.0
        {
            ticket.ack();
        }
    }

    /// Asks the worker to close after what is queued; it acks `ticket` when done.
    pub(crate) fn close(&self, deadline: Instant, ticket: Arc<Ticket>) {
        if let Err(e) = self.tx.send(SinkJob::Close { deadline, ticket })
            && let SinkJob::Close { ticket, .. } = e.0
        {
            ticket.ack();
        }
    }

    /// After a close (or its deadline): joins the worker if it finished, otherwise tells it
    /// to discard what is left; reports. Messages dispatched but not confirmed written by
    /// then are counted as dropped at the shutdown deadline.
    pub(crate) fn finish(mut self, closed_in_time: bool) -> SinkReport {
        let s = &self.shared;
        if closed_in_time {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else {
            return s.abandon();
        }
        SinkReport {
            stats: s.snapshot(),
            closed_cleanly: closed_in_time && s.closed_cleanly.load(Ordering::Acquire),
        }
    }
}

fn run(mut sink: Box<dyn Sink>, rx: Receiver<SinkJob>, s: Arc<SinkShared>, drain: Arc<Parker>) {
    while let Ok(cmd) = rx.recv() {
        match cmd {
            SinkJob::Write { msg, logged_at_ns } => {
                let len = msg.len() as u64;
                if s.abandoned.load(Ordering::Acquire) {
                    // Shutdown gave up on this sink and already counted the rest.
                } else if s.failed.load(Ordering::Acquire) {
                    s.dropped_failed.fetch_add(1, Ordering::Relaxed);
                } else {
                    match sink.write(&msg) {
                        Ok(()) => {
                            s.messages.fetch_add(1, Ordering::Relaxed);
                            s.bytes.fetch_add(len, Ordering::Relaxed);
                            if let Some(t) = logged_at_ns {
                                let now = crate::chunk::wall_clock_ns();
                                s.latency
                                    .record(Duration::from_nanos(now.saturating_sub(t)));
                            }
                        }
                        Err(e) => {
                            s.fail(&e);
                            s.dropped_failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                drop(msg);
                s.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                drain.notify();
            }
            SinkJob::Flush { deadline, ticket } => {
                if !s.failed.load(Ordering::Acquire)
                    && let Err(e) = sink.flush(deadline)
                {
                    s.fail(&e);
                }
                ticket.ack();
            }
            SinkJob::Close { deadline, ticket } => {
                let ok = !s.failed.load(Ordering::Acquire) && !s.abandoned.load(Ordering::Acquire);
                match sink.close(deadline) {
                    Ok(()) => s.closed_cleanly.store(ok, Ordering::Release),
                    Err(e) => s.fail(&e),
                }
                ticket.ack();
                return;
            }
        }
    }
}
