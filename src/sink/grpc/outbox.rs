//! The queue and counters shared by [`GrpcSink`](super::GrpcSink) (the sink's worker
//! thread) and the `spate-grpc` thread, under one mutex.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::client::{Head, frame_head};
use super::{ConnectionState, GrpcSinkError, GrpcSinkOptions, GrpcSinkStats, OverflowPolicy};
use crate::ErrorChain;
use crate::sink::SinkError;
use crate::wire::{EncodedMessage, MessageKind};

/// A queued message.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Write order (replays keep the sequence number of the original).
    pub(crate) seq: u64,
    pub(crate) msg: EncodedMessage,
    /// Its gRPC framing, computed once by `push`.
    pub(crate) head: Head,
    pub(crate) queued_at: Instant,
    /// Sent again at the start of a connection; not part of the budget or the flush count.
    pub(crate) replay: bool,
}

#[derive(Debug)]
pub(crate) struct Inner {
    budget: u64,
    overflow: OverflowPolicy,

    /// Not yet released to the call, in `seq` order.
    pub(crate) queue: VecDeque<Item>,
    /// Bytes in `queue`.
    pub(crate) queue_bytes: u64,
    /// To send first on the current connection.
    pub(crate) replay: VecDeque<Item>,
    /// Released to the call, not yet confirmed handed to HTTP/2.
    pub(crate) inflight: Vec<Item>,
    /// Bytes of `queue` and the non-replay `inflight` items: what the budget limits.
    held_bytes: u64,
    next_seq: u64,

    /// The latest `SetStoreInfo` per store.
    store_infos: Vec<Item>,
    /// The latest static chunk per (store, entity, components).
    statics: Vec<(String, Item)>,

    pub(crate) state: ConnectionState,
    /// When the current outage began (kept across failed reconnect attempts).
    down_since: Option<Instant>,
    /// Bumped at every connection start and loss; a call's request stream only acts while
    /// its generation is current.
    pub(crate) generation: u64,
    /// The request stream's waker, woken by writes, flushes and closes.
    pub(crate) waker: Option<Waker>,
    pub(crate) closing: bool,
    pub(crate) flushing: bool,
    /// No more writes; `state` is `Closed`.
    closed: bool,
    close_result: Option<Result<(), GrpcSinkError>>,

    /// Messages taken by `write`.
    written: u64,
    /// Of those: confirmed handed to HTTP/2, dropped or abandoned.
    settled: u64,
    connections: u64,
    connect_failures: u64,
    sent_messages: u64,
    sent_bytes: u64,
    replayed: u64,
    dropped_messages: u64,
    dropped_bytes: u64,
    dropped_rows: u64,
    oversized: u64,
    abandoned: u64,
    last_error: Option<String>,
}

/// The shared state and the condition variable signalled on every change.
#[derive(Debug)]
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    changed: Condvar,
}

/// Identifies the latest static chunk to replay
/// ([`ChunkSummary::static_key`](crate::wire::ChunkSummary::static_key): store, entity and
/// component set; a sink may carry several stores, e.g. `spate serve --forward`).
fn static_key(msg: &EncodedMessage) -> Option<String> {
    msg.summary()?.static_key()
}

fn rows(msg: &EncodedMessage) -> u64 {
    msg.summary().map_or(0, |s| s.num_rows)
}

impl Outbox {
    pub(crate) fn new(options: &GrpcSinkOptions) -> Self {
        Self {
            inner: Mutex::new(Inner {
                budget: options.buffer_bytes,
                overflow: options.overflow,
                queue: VecDeque::new(),
                queue_bytes: 0,
                replay: VecDeque::new(),
                inflight: Vec::new(),
                held_bytes: 0,
                next_seq: 0,
                store_infos: Vec::new(),
                statics: Vec::new(),
                state: ConnectionState::Connecting,
                down_since: None,
                generation: 0,
                waker: None,
                closing: false,
                flushing: false,
                closed: false,
                close_result: None,
                written: 0,
                settled: 0,
                connections: 0,
                connect_failures: 0,
                sent_messages: 0,
                sent_bytes: 0,
                replayed: 0,
                dropped_messages: 0,
                dropped_bytes: 0,
                dropped_rows: 0,
                oversized: 0,
                abandoned: 0,
                last_error: None,
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a change (or `timeout`).
    pub(crate) fn wait<'a>(
        &self,
        g: MutexGuard<'a, Inner>,
        timeout: Duration,
    ) -> MutexGuard<'a, Inner> {
        self.changed
            .wait_timeout(g, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// `Sink::write`: queues `msg` (see the module docs of `grpc` for the budget rules). A
    /// message too large for gRPC is counted dropped (and `oversized`) and recorded as the
    /// last error; the sink carries on.
    pub(crate) fn push(&self, msg: &EncodedMessage) -> Result<(), SinkError> {
        let Some(head) = frame_head(msg.kind(), msg.len()) else {
            return Ok(()); // End: gRPC has no footer
        };
        let head = match head {
            Ok(head) => head,
            Err(e) => {
                let mut g = self.lock();
                if g.closed {
                    return Err(SinkError::Closed);
                }
                g.written += 1;
                g.oversized += 1;
                g.count_drop(msg);
                g.last_error = Some(ErrorChain(&e).to_string());
                drop(g);
                self.notify();
                return Ok(());
            }
        };
        let len = msg.len() as u64;
        let mut g = self.lock();
        loop {
            if g.closed {
                return Err(SinkError::Closed);
            }
            let fits = g.held_bytes + len <= g.budget || g.nothing_held();
            // Until the first connection attempt has an outcome the server is not known to
            // be down: back-pressure, as when connected (otherwise a burst logged right
            // after start would be dropped while the sink is still dialing).
            let first_attempt = g.state == ConnectionState::Connecting
                && g.connections == 0
                && g.connect_failures == 0;
            if fits || !(g.state == ConnectionState::Connected || first_attempt) {
                break;
            }
            // Connected but over budget: back-pressure (bounded waits; state changes wake us).
            g = self.wait(g, Duration::from_millis(50));
        }
        let item = Item {
            seq: g.next_seq,
            msg: msg.clone(),
            head,
            queued_at: Instant::now(),
            replay: false,
        };
        g.next_seq += 1;
        g.written += 1;
        let pinned = g.pin(&item);
        let accept = g.held_bytes + len <= g.budget || g.nothing_held() || g.make_room(len);
        if accept || pinned {
            g.queue_bytes += len;
            g.held_bytes += len;
            g.queue.push_back(item);
        } else {
            g.count_drop(&item.msg);
        }
        let waker = g.waker.take();
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// `Sink::flush`: waits until every message written so far is settled or `deadline`.
    pub(crate) fn flush(&self, deadline: Instant) {
        let mut g = self.lock();
        let target = g.written;
        g.flushing = true;
        if let Some(w) = g.waker.take() {
            w.wake();
        }
        while g.settled < target && !g.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            g = self.wait(g, deadline - now);
        }
        g.flushing = false;
    }

    /// `Sink::close`: asks the thread to finish the call and waits for the outcome.
    pub(crate) fn close(&self, deadline: Instant) -> Result<(), SinkError> {
        let mut g = self.lock();
        g.closing = true;
        if let Some(w) = g.waker.take() {
            w.wake();
        }
        self.notify();
        while g.state != ConnectionState::Closed {
            let now = Instant::now();
            if now >= deadline {
                g.abandon_rest();
                g.finish(None);
                self.notify();
                return Err(SinkError::Deadline);
            }
            g = self.wait(g, deadline - now);
        }
        match g.close_result.take() {
            Some(Err(e)) => Err(SinkError::Other(Box::new(e))),
            _ => Ok(()),
        }
    }
}

impl Inner {
    fn nothing_held(&self) -> bool {
        self.queue.is_empty() && self.inflight.iter().all(|i| i.replay)
    }

    /// Records `item` as the store info or latest static if it is one; returns whether it is
    /// pinned (never dropped).
    fn pin(&mut self, item: &Item) -> bool {
        if item.msg.kind() == MessageKind::SetStoreInfo {
            // One per store: the latest `SetStoreInfo` of each is replayed.
            let store = item.msg.store();
            match self.store_infos.iter_mut().find(|i| i.msg.store() == store) {
                Some(slot) => *slot = item.clone(),
                None => self.store_infos.push(item.clone()),
            }
            return true;
        }
        let Some(key) = static_key(&item.msg) else {
            return false;
        };
        match self.statics.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = item.clone(),
            None => self.statics.push((key, item.clone())),
        }
        true
    }

    fn is_pinned(&self, seq: u64) -> bool {
        self.store_infos.iter().any(|i| i.seq == seq)
            || self.statics.iter().any(|(_, i)| i.seq == seq)
    }

    fn count_drop(&mut self, msg: &EncodedMessage) {
        self.dropped_messages += 1;
        self.dropped_bytes += msg.len() as u64;
        self.dropped_rows += rows(msg);
        self.settled += 1;
    }

    /// Drops the oldest unpinned queued messages until `len` more bytes fit (DropOldest);
    /// returns whether they fit.
    fn make_room(&mut self, len: u64) -> bool {
        if self.overflow == OverflowPolicy::DropOldest {
            let mut i = 0;
            while self.held_bytes + len > self.budget && i < self.queue.len() {
                if self.is_pinned(self.queue[i].seq) {
                    i += 1;
                    continue;
                }
                if let Some(old) = self.queue.remove(i) {
                    let n = old.msg.len() as u64;
                    self.queue_bytes -= n;
                    self.held_bytes -= n;
                    self.count_drop(&old.msg);
                }
            }
        }
        self.held_bytes + len <= self.budget
    }

    /// Takes the next message to release: replays first, then the queue.
    pub(crate) fn release(&mut self) -> Option<(EncodedMessage, Head)> {
        let item = match self.replay.pop_front() {
            Some(i) => i,
            None => {
                let i = self.queue.pop_front()?;
                self.queue_bytes -= i.msg.len() as u64;
                i
            }
        };
        let out = (item.msg.clone(), item.head);
        self.inflight.push(item);
        Some(out)
    }

    /// The length of the message [`Self::release`] would return next.
    pub(crate) fn next_len(&self) -> Option<usize> {
        self.replay
            .front()
            .or_else(|| self.queue.front())
            .map(|i| i.msg.len())
    }

    /// Whether anything waits to be released.
    pub(crate) fn has_pending(&self) -> bool {
        !self.replay.is_empty() || !self.queue.is_empty()
    }

    /// Bytes waiting to be released.
    pub(crate) fn pending_bytes(&self) -> u64 {
        self.queue_bytes + self.replay.iter().map(|i| i.msg.len() as u64).sum::<u64>()
    }

    /// The released messages were handed to HTTP/2.
    pub(crate) fn confirm_inflight(&mut self) -> bool {
        if self.inflight.is_empty() {
            return false;
        }
        for item in std::mem::take(&mut self.inflight) {
            let n = item.msg.len() as u64;
            self.sent_messages += 1;
            self.sent_bytes += n;
            if item.replay {
                self.replayed += 1;
            } else {
                self.held_bytes -= n;
                self.settled += 1;
            }
        }
        true
    }

    /// A connection is up: the replay (store info and statics not queued any more) goes
    /// first. Returns the new generation.
    pub(crate) fn begin_connection(&mut self) -> u64 {
        self.generation += 1;
        self.connections += 1;
        self.replay.clear();
        let queued = |seq: u64| self.queue.binary_search_by_key(&seq, |i| i.seq).is_ok();
        let replay: Vec<Item> = self
            .store_infos
            .iter()
            .chain(self.statics.iter().map(|(_, i)| i))
            .filter(|i| !queued(i.seq))
            .map(|i| Item {
                replay: true,
                ..i.clone()
            })
            .collect();
        self.replay.extend(replay);
        self.state = ConnectionState::Connected;
        self.down_since = None;
        self.generation
    }

    /// The call of `generation` ended with `error`: unconfirmed messages go back to the
    /// front of the queue (in order), the replay is discarded.
    pub(crate) fn connection_lost(&mut self, generation: u64, error: &GrpcSinkError) {
        if generation == self.generation {
            self.generation += 1;
            for item in std::mem::take(&mut self.inflight).into_iter().rev() {
                if !item.replay {
                    self.queue_bytes += item.msg.len() as u64;
                    self.queue.push_front(item);
                }
            }
            self.replay.clear();
        }
        self.last_error = Some(ErrorChain(error).to_string());
        let since = *self.down_since.insert(Instant::now());
        if self.state != ConnectionState::Closed {
            self.state = ConnectionState::Disconnected { since };
        }
    }

    pub(crate) fn connect_failed(&mut self, error: &GrpcSinkError) {
        self.connect_failures += 1;
        self.last_error = Some(ErrorChain(error).to_string());
        let since = *self.down_since.get_or_insert_with(Instant::now);
        if self.state != ConnectionState::Closed {
            self.state = ConnectionState::Disconnected { since };
        }
    }

    pub(crate) fn set_connecting(&mut self) {
        if self.state != ConnectionState::Closed {
            self.state = ConnectionState::Connecting;
        }
    }

    /// Closing and nothing left to send.
    pub(crate) fn drained_for_close(&self) -> bool {
        self.closing && self.queue.is_empty() && self.inflight.iter().all(|i| i.replay)
    }

    /// Counts every message not handed over as abandoned.
    pub(crate) fn abandon_rest(&mut self) {
        let left: Vec<Item> = self
            .queue
            .drain(..)
            .chain(std::mem::take(&mut self.inflight))
            .filter(|i| !i.replay)
            .collect();
        self.replay.clear();
        self.queue_bytes = 0;
        self.held_bytes = 0;
        self.abandoned += left.len() as u64;
        self.settled += left.len() as u64;
        self.generation += 1;
    }

    /// The sink is closed for good; the first outcome recorded is kept.
    pub(crate) fn finish(&mut self, result: Option<Result<(), GrpcSinkError>>) {
        if self.state != ConnectionState::Closed {
            self.close_result = result;
        }
        self.state = ConnectionState::Closed;
        self.closed = true;
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn sent_messages(&self) -> u64 {
        self.sent_messages
    }

    pub(crate) fn stats(&self) -> GrpcSinkStats {
        GrpcSinkStats {
            state: self.state,
            connections: self.connections,
            reconnects: self.connections.saturating_sub(1),
            connect_failures: self.connect_failures,
            written_messages: self.written,
            sent_messages: self.sent_messages,
            sent_bytes: self.sent_bytes,
            replayed_messages: self.replayed,
            dropped_messages: self.dropped_messages,
            dropped_bytes: self.dropped_bytes,
            dropped_rows: self.dropped_rows,
            oversized_messages: self.oversized,
            abandoned_messages: self.abandoned,
            queued_messages: self.queue.len() as u64,
            queued_bytes: self.held_bytes,
            last_error: self.last_error.clone(),
        }
    }
}
