//! [`Relay`]: hands messages that were encoded elsewhere (received from a gRPC client, read
//! from a file) to a set of sinks, with the same worker threads, byte-bounded queues,
//! [`SinkPolicy`]s and [`SinkStats`] as a [`Recording`](crate::Recording).
//!
//! # Threads and queues
//!
//! ```text
//! senders (any threads / tasks) ──send──▶ inbox (lock-free, bounded in bytes)
//!        ──▶ spate-relay thread ──dispatch (refcount clones)──▶ one worker + queue per sink
//! ```
//!
//! The `spate-relay` thread plays the part of a recording's drain thread: it is the only
//! thread that dispatches to the sink workers, so a sink with
//! [`SinkPolicy::Block`] blocks it (and, once the inbox is full,
//! the senders: [`Relay::send`] waits asynchronously, [`Relay::send_blocking`] blocks,
//! [`Relay::try_send`] gives the message back), while a
//! [`SinkPolicy::DropNewest`] sink drops and counts.
//!
//! # Ordering
//!
//! Messages from one sender arrive at every sink in the order they were sent. Messages of
//! different senders interleave in inbox order.
//!
//! # Shutdown
//!
//! [`Relay::shutdown`] delivers what is in the inbox, closes every sink (a
//! [`FileSink`](crate::sink::FileSink) writes its footer) and waits at most until the deadline
//! (each sink at most until its own [`close_timeout`](crate::sink::SinkSpec::close_timeout));
//! the report says what was delivered and what was not. Every message a `send` accepted
//! is delivered or counted: a send racing the shutdown either lands ahead of the close in
//! the inbox or is refused with [`RelayError::Closed`]. Concurrent and later calls return
//! the same report.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;

use crate::deadline::AtomicDeadline;
use crate::park::Parker;
use crate::sink::worker::{SinkShared, SinkWorker, Ticket};
use crate::sink::{IntoSinks, SinkPolicy, SinkReport};
use crate::stats::SinkStats;
use crate::sync::lock;
use crate::wire::EncodedMessage;

/// Default bound of a relay's inbox: 64 MiB.
pub const DEFAULT_INBOX_BYTES: u64 = 64 * 1024 * 1024;

/// Why a [`Relay`] did not take a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The inbox is over its byte bound (only from [`Relay::try_send`]); the message is
    /// given back.
    #[error("relay inbox is full")]
    Full(EncodedMessage),
    /// The relay was shut down; the message is given back.
    #[error("relay is shut down")]
    Closed(EncodedMessage),
}

/// What a [`Relay`] delivered, at shutdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a report says what was not delivered; check is_complete()"]
pub struct RelayReport {
    /// Messages the relay accepted.
    pub messages: u64,
    /// One report per sink, in the order the sinks were given.
    pub sinks: Vec<SinkReport>,
}

impl RelayReport {
    /// Every sink closed cleanly before its deadline and lost nothing.
    pub fn is_complete(&self) -> bool {
        self.sinks.iter().all(SinkReport::is_complete)
    }
}

enum InboxItem {
    Message {
        msg: EncodedMessage,
        received_at_ns: u64,
    },
    /// Flush every sink after what is ahead; the sinks' ticket comes back on `done`.
    Flush {
        deadline: Instant,
        done: mpsc::Sender<Arc<Ticket>>,
    },
    /// Flush every `Block` sink after what is ahead, acking `ticket` (by `deadline`).
    Barrier {
        deadline: Instant,
        ticket: Arc<Ticket>,
    },
    Close {
        deadline: Instant,
        done: mpsc::Sender<Vec<SinkReport>>,
    },
}

#[derive(Debug)]
struct Inbox {
    queue: SegQueue<InboxItem>,
    queued_bytes: AtomicU64,
    max_bytes: u64,
    closed: AtomicBool,
    /// Senders between their `closed` check and their push (the shutdown waits for them,
    /// so no accepted message lands behind the close).
    sending: AtomicUsize,
    accepted: AtomicU64,
    /// Set by the shutdown: a `Block` sink holds the relay thread up to it, not longer.
    deadline: AtomicDeadline,
    /// Async senders waiting for room.
    room: tokio::sync::Notify,
    /// Blocking senders waiting for room (counted so the relay thread only signals them
    /// when there are any).
    blocked: AtomicUsize,
    room_lock: Mutex<()>,
    room_cv: Condvar,
}

impl std::fmt::Debug for InboxItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Message { .. } => "Message",
            Self::Flush { .. } => "Flush",
            Self::Barrier { .. } => "Barrier",
            Self::Close { .. } => "Close",
        })
    }
}

impl Inbox {
    fn has_room(&self, len: u64) -> bool {
        let q = self.queued_bytes.load(Ordering::Acquire);
        q == 0 || q + len <= self.max_bytes
    }

    fn signal_room(&self) {
        self.room.notify_waiters();
        if self.blocked.load(Ordering::Acquire) > 0 {
            let _g = lock(&self.room_lock);
            self.room_cv.notify_all();
        }
    }
}

/// Feeds messages encoded elsewhere to a set of sinks (see the [module docs](self)).
///
/// ```
/// use spate::sink::MemorySink;
/// use spate::server::Relay;
/// use spate::wire::{EncodedMessage, StoreInfo};
/// use std::time::{Duration, Instant};
///
/// let (sink, memory) = MemorySink::new();
/// let relay = Relay::start(sink)?;
/// let store = StoreInfo::new("demo", "rec-1")?;
/// relay.send_blocking(EncodedMessage::set_store_info(&store))?;
/// let report = relay.shutdown(Instant::now() + Duration::from_secs(5));
/// assert!(report.is_complete());
/// assert_eq!(memory.messages().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Relay {
    inbox: Arc<Inbox>,
    parker: Arc<Parker>,
    sinks: Vec<Arc<SinkShared>>,
    /// How many sinks have `SinkPolicy::Block` (what `confirm` waits for).
    block_sinks: usize,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The shutdown's report, once made (later calls get it too).
    report: Mutex<Option<RelayReport>>,
}

impl Relay {
    /// Starts the sinks' workers and the `spate-relay` thread, with an inbox of
    /// [`DEFAULT_INBOX_BYTES`].
    pub fn start(sinks: impl IntoSinks) -> std::io::Result<Self> {
        Self::start_with(sinks, DEFAULT_INBOX_BYTES)
    }

    /// Like [`start`](Self::start), with an inbox bounded to `max_inbox_bytes` (a message
    /// larger than the bound still goes through an empty inbox).
    pub fn start_with(sinks: impl IntoSinks, max_inbox_bytes: u64) -> std::io::Result<Self> {
        let specs = sinks.into_sinks();
        let block_sinks = specs
            .iter()
            .filter(|s| s.current_policy() == SinkPolicy::Block)
            .count();
        let inbox = Arc::new(Inbox {
            queue: SegQueue::new(),
            queued_bytes: AtomicU64::new(0),
            max_bytes: max_inbox_bytes,
            closed: AtomicBool::new(false),
            sending: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
            deadline: AtomicDeadline::new(),
            room: tokio::sync::Notify::new(),
            blocked: AtomicUsize::new(0),
            room_lock: Mutex::new(()),
            room_cv: Condvar::new(),
        });
        type Started = std::io::Result<(Arc<Parker>, Vec<Arc<SinkShared>>)>;
        let (started_tx, started_rx) = mpsc::channel::<Started>();
        let ib = inbox.clone();
        let thread = std::thread::Builder::new()
            .name("spate-relay".to_owned())
            .spawn(move || {
                let parker = Arc::new(Parker::for_current_thread());
                let mut workers = Vec::with_capacity(specs.len());
                for spec in specs {
                    match SinkWorker::start(spec, parker.clone()) {
                        Ok(w) => workers.push(w),
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    }
                }
                let shared = workers.iter().map(|w| w.shared().clone()).collect();
                let _ = started_tx.send(Ok((parker.clone(), shared)));
                run(&ib, &parker, workers);
            })?;
        let (parker, sinks) = started_rx
            .recv()
            .map_err(|_| std::io::Error::other("spate-relay thread ended at start"))??;
        Ok(Self {
            inbox,
            parker,
            sinks,
            block_sinks,
            thread: Mutex::new(Some(thread)),
            report: Mutex::new(None),
        })
    }

    /// Runs `f` (given whether the relay is closed) while announced as a sender: the
    /// shutdown sets `closed` before waiting for `sending` to reach zero, and a sender
    /// announces itself before looking at `closed` (both SeqCst: one of the two sees the
    /// other), so nothing `f` pushes lands behind the close.
    fn while_sending<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        self.inbox.sending.fetch_add(1, Ordering::SeqCst);
        let result = f(self.inbox.closed.load(Ordering::SeqCst));
        self.inbox.sending.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Pushes `item` unless the relay is closed (then gives it back).
    fn push_item(&self, item: InboxItem) -> Result<(), InboxItem> {
        let result = self.while_sending(|closed| {
            if closed {
                Err(item)
            } else {
                self.inbox.queue.push(item);
                Ok(())
            }
        });
        self.parker.notify();
        result
    }

    fn push(&self, msg: EncodedMessage) {
        let len = msg.retained_bytes();
        self.inbox.queued_bytes.fetch_add(len, Ordering::AcqRel);
        self.inbox.accepted.fetch_add(1, Ordering::Relaxed);
        self.inbox.queue.push(InboxItem::Message {
            msg,
            received_at_ns: crate::chunk::wall_clock_ns(),
        });
        self.parker.notify();
    }

    /// Queues `msg` if the inbox has room; otherwise gives it back.
    pub fn try_send(&self, msg: EncodedMessage) -> Result<(), RelayError> {
        self.while_sending(|closed| {
            if closed {
                Err(RelayError::Closed(msg))
            } else if !self.inbox.has_room(msg.retained_bytes()) {
                Err(RelayError::Full(msg))
            } else {
                self.push(msg);
                Ok(())
            }
        })
    }

    /// Queues `msg`, waiting (asynchronously) for room in the inbox.
    pub async fn send(&self, msg: EncodedMessage) -> Result<(), RelayError> {
        let mut msg = msg;
        loop {
            let notified = self.inbox.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_send(msg) {
                Err(RelayError::Full(m)) => msg = m,
                other => return other,
            }
            notified.await;
        }
    }

    /// Queues `msg`, blocking the calling thread until the inbox has room.
    pub fn send_blocking(&self, msg: EncodedMessage) -> Result<(), RelayError> {
        let mut msg = msg;
        loop {
            match self.try_send(msg) {
                Err(RelayError::Full(m)) => msg = m,
                other => return other,
            }
            self.inbox.blocked.fetch_add(1, Ordering::AcqRel);
            let g = lock(&self.inbox.room_lock);
            if !self.inbox.has_room(msg.retained_bytes())
                && !self.inbox.closed.load(Ordering::Acquire)
            {
                // Bounded wait: a missed signal costs at most this long.
                let _ = self
                    .inbox
                    .room_cv
                    .wait_timeout(g, Duration::from_millis(50))
                    .unwrap_or_else(PoisonError::into_inner);
            }
            self.inbox.blocked.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> u64 {
        self.inbox.accepted.load(Ordering::Relaxed)
    }

    /// Bytes waiting in the inbox.
    pub fn inbox_bytes(&self) -> u64 {
        self.inbox.queued_bytes.load(Ordering::Relaxed)
    }

    /// Every sink's counters now, in the order the sinks were given.
    pub fn stats(&self) -> Vec<SinkStats> {
        self.sinks.iter().map(|s| s.snapshot()).collect()
    }

    /// Waits until every message accepted so far reached every sink and the sinks flushed,
    /// or `deadline` passed; returns whether everything flushed in time.
    pub fn flush(&self, deadline: Instant) -> bool {
        if self.inbox.closed.load(Ordering::Acquire) {
            return false;
        }
        let (done, rx) = mpsc::channel();
        if self.push_item(InboxItem::Flush { deadline, done }).is_err() {
            return false;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        // The relay thread hands the ticket over at once; the waiting happens here, not on
        // the relay thread (which serves every sender).
        rx.recv_timeout(wait)
            .is_ok_and(|t| t.wait(deadline) && t.failures().is_empty())
    }

    /// Waits (asynchronously, until `deadline`) until every message this relay accepted
    /// before the call was written and flushed by every sink with
    /// [`SinkPolicy::Block`] — a recording's sinks; `DropNewest`
    /// ones (live views, forwards) are not waited for. `Ok` means they hold it (a
    /// `FileSink`: in the file, its backend's writes completed, so it survives this process
    /// being killed); an error says which sink failed, or that the deadline passed. `spate serve` answers a
    /// `WriteMessages` call only after this, so a client's "confirmed" means "saved".
    pub async fn confirm(&self, deadline: Instant) -> Result<(), String> {
        if self.block_sinks == 0 {
            return Ok(());
        }
        let ticket = Ticket::new(self.block_sinks);
        let barrier = InboxItem::Barrier {
            deadline,
            ticket: ticket.clone(),
        };
        if self.push_item(barrier).is_err() {
            return Err("the relay is shutting down".to_owned());
        }
        let waited = tokio::task::spawn_blocking(move || {
            let in_time = ticket.wait(deadline);
            (in_time, ticket.failures())
        })
        .await;
        match waited {
            Ok((true, failures)) if failures.is_empty() => Ok(()),
            Ok((true, failures)) => Err(failures
                .iter()
                .map(|(name, why)| format!("{name}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")),
            Ok((false, _)) => Err("the sinks did not write it in time".to_owned()),
            Err(e) => Err(format!("waiting for the sinks failed: {e}")),
        }
    }

    /// Stops taking messages, delivers what the inbox holds, closes every sink and reports,
    /// waiting at most until `deadline` (sinks that did not finish by then are reported as
    /// not closed cleanly, their undelivered messages counted as dropped at the deadline).
    pub fn shutdown(&self, deadline: Instant) -> RelayReport {
        // One shutdown at a time; the others wait for its report (bounded by its deadline).
        let mut report = lock(&self.report);
        if let Some(r) = &*report {
            return r.clone();
        }
        self.inbox.deadline.set(deadline);
        self.inbox.closed.store(true, Ordering::SeqCst);
        // Senders that saw the relay open finish their push, ahead of the close.
        while self.inbox.sending.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        let messages = self.accepted();
        self.inbox.signal_room();
        let (done, rx) = mpsc::channel();
        self.inbox.queue.push(InboxItem::Close { deadline, done });
        self.parker.notify();
        // The relay thread waits for the sinks until the deadline; give it a moment more
        // to hand over the reports.
        let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        let sinks = match rx.recv_timeout(wait) {
            Ok(reports) => {
                let t = lock(&self.thread).take();
                if let Some(t) = t {
                    let _ = t.join();
                }
                reports
            }
            Err(_) => self.sinks.iter().map(|s| s.abandon()).collect(),
        };
        let r = RelayReport { messages, sinks };
        *report = Some(r.clone());
        r
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.inbox.closed.load(Ordering::Acquire) {
            log::warn!("spate: a Relay was dropped without shutdown(); shutting down within 5 s");
            let report = self.shutdown(Instant::now() + Duration::from_secs(5));
            if !report.is_complete() {
                log::warn!("spate: relay shutdown incomplete: {report:?}");
            }
        }
    }
}

fn run(inbox: &Inbox, parker: &Parker, workers: Vec<SinkWorker>) {
    loop {
        while let Some(cmd) = inbox.queue.pop() {
            match cmd {
                InboxItem::Message {
                    msg,
                    received_at_ns,
                } => {
                    for w in &workers {
                        w.dispatch(&msg, Some(received_at_ns), parker, &|| inbox.deadline.get());
                    }
                    inbox
                        .queued_bytes
                        .fetch_sub(msg.retained_bytes(), Ordering::AcqRel);
                    inbox.signal_room();
                }
                InboxItem::Flush { deadline, done } => {
                    let ticket = Ticket::new(workers.len());
                    for w in &workers {
                        w.flush(deadline, ticket.clone());
                    }
                    let _ = done.send(ticket);
                }
                InboxItem::Barrier { deadline, ticket } => {
                    // A flush, not only "written": a file sink's flush waits for its
                    // backend's completions (io_uring writes in flight are not in the file
                    // yet, and die with a killed process).
                    for w in workers.iter().filter(|w| w.policy() == SinkPolicy::Block) {
                        w.flush(deadline, ticket.clone());
                    }
                }
                InboxItem::Close { deadline, done } => {
                    // Every accepted message is ahead of this item (see `shutdown`). One
                    // ticket per sink, each with its own close deadline, so one slow sink
                    // does not mark the others as timed out.
                    let closing: Vec<_> = workers
                        .into_iter()
                        .map(|w| w.begin_close(deadline))
                        .collect();
                    let reports = closing.into_iter().map(|c| c.wait(None)).collect();
                    let _ = done.send(reports);
                    // Nothing is accepted after the close (see `push_item`); whatever is
                    // still queued is dropped with its reply channel, so a waiting caller
                    // hears at once.
                    while inbox.queue.pop().is_some() {}
                    inbox.signal_room();
                    return;
                }
            }
        }
        parker.park_unless(|| !inbox.queue.is_empty(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{MemorySink, SinkExt, SinkPolicy};
    use crate::wire::StoreInfo;

    /// Every message a `send` accepted is delivered, even when senders race the shutdown
    /// (before, one pushed after the close was dropped with the relay, uncounted).
    #[test]
    fn a_send_racing_shutdown_is_delivered_or_refused() {
        let store = StoreInfo::new("relay", "race").unwrap();
        for _ in 0..50 {
            let (sink, memory) = MemorySink::new();
            let relay = Arc::new(Relay::start(sink.with_policy(SinkPolicy::Block)).unwrap());
            let senders: Vec<_> = (0..4)
                .map(|_| {
                    let (relay, store) = (relay.clone(), store.clone());
                    std::thread::spawn(move || {
                        let mut ok = 0u64;
                        for _ in 0..10_000 {
                            match relay.try_send(EncodedMessage::set_store_info(&store)) {
                                Ok(()) => ok += 1,
                                Err(RelayError::Full(_)) => std::thread::yield_now(),
                                Err(RelayError::Closed(_)) => break,
                            }
                        }
                        ok
                    })
                })
                .collect();
            std::thread::yield_now();
            let report = relay.shutdown(Instant::now() + Duration::from_secs(30));
            let ok: u64 = senders.into_iter().map(|s| s.join().unwrap()).sum();
            assert!(report.is_complete(), "{report:?}");
            assert_eq!(report.messages, ok);
            assert_eq!(memory.len() as u64, ok, "every accepted message delivered");
            // Later and concurrent calls get the same report.
            assert_eq!(relay.shutdown(Instant::now()), report);
        }
    }
}
