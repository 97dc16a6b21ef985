//! The queue, the window of unconfirmed messages and the counters shared by
//! [`GrpcSink`](super::GrpcSink) (the sink's worker thread) and the `spate-grpc` thread,
//! under one mutex.
//!
//! Every message taken by [`Outbox::push`] is, at any time, in exactly one place: the
//! queue (waiting to be released to a call, perhaps again), `unconfirmed` (released to
//! the current call, waiting for its response), or counted: confirmed, dropped, lost or
//! abandoned (see [`GrpcSinkStats`]). `settled` counts the counted ones, so
//! `written == settled + queue + unconfirmed` (replays aside: they are copies of messages
//! already counted).
//!
//! # Cost under the lock
//!
//! The writer (the sink's worker) and the `spate-grpc` thread share one mutex, so what
//! happens under it is kept to moving items and counting:
//!
//! * The queue is two queues: the messages pinned when written (store infos, statics kept
//!   for replay) and the others, each in write order; the queue's order is their merge.
//!   The first victim of `DropOldest` — the oldest message not pinned — is then the front
//!   of the second queue, or the oldest pinned one that a newer message of its key has
//!   superseded since (a heap of those). Making room costs O(1) per message evicted (a
//!   superseded static, O(log n)); counters replace every scan.
//! * [`Outbox::push`] makes the queue's copy of the message (an `Arc`) and a static's
//!   replay key before it locks; the request stream gets an `Arc` clone. Messages that
//!   leave under the lock (evicted, superseded, confirmed, abandoned) are handed to the
//!   caller and dropped after it unlocks: the last reference to a chunk may free a large
//!   buffer.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::{ConnectionState, GrpcSinkError, GrpcSinkOptions, GrpcSinkStats, OverflowPolicy};
use crate::error::ErrorChain;
use crate::net::codec::{Head, frame_head};
use crate::sink::SinkError;
use crate::wire::{EncodedMessage, MessageKind};

/// The smallest unconfirmed window a call shrinks to after connections failed before
/// confirming (unless the budget is smaller).
const MIN_WINDOW_BYTES: u64 = 256 << 10;

/// A queued message.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    /// Write order (replays keep the sequence number of the original).
    pub(crate) seq: u64,
    pub(crate) msg: Arc<EncodedMessage>,
    /// Its gRPC framing, computed once by `push`.
    pub(crate) head: Head,
    pub(crate) queued_at: Instant,
    /// Sent again at the start of a connection; not part of the budget or the counts.
    pub(crate) replay: bool,
    /// Already handed to a call whose connection failed before confirming it: if it is
    /// given up now, it may or may not have arrived (counted lost, not dropped).
    sent: bool,
    /// Pinned when written (see [`Inner::pin`]): queued in `Inner::queue_pinned`, where it
    /// stays once superseded.
    pinned_when_written: bool,
}

/// A place in [`Inner::queue_pinned`]: a message, or the hole an evicted one left (removed
/// when it reaches the front).
#[derive(Debug)]
struct Slot {
    seq: u64,
    item: Option<Item>,
}

/// The index of the message `seq` in `queue` (not a hole), if it is there.
fn find_slot(queue: &VecDeque<Slot>, seq: u64, steps: &mut u64) -> Option<usize> {
    let i = queue
        .binary_search_by(|s| {
            *steps += 1;
            s.seq.cmp(&seq)
        })
        .ok()?;
    queue[i].item.is_some().then_some(i)
}

/// What [`Inner::abandon_rest`] took out of the outbox: drop it after unlocking.
#[must_use = "dropped after the lock is released: it may free large buffers"]
pub(crate) struct Abandoned {
    queue_unpinned: VecDeque<Item>,
    queue_pinned: VecDeque<Slot>,
    unconfirmed: VecDeque<Item>,
    #[expect(dead_code, reason = "only held, to be dropped after unlocking")]
    replay: VecDeque<Item>,
}

/// The `WriteMessages` call open on the current connection.
#[derive(Debug, Default)]
struct Call {
    /// Numbers the calls of all connections.
    id: u64,
    /// Bytes and messages released to it (replays included).
    bytes: u64,
    messages: u64,
    /// The request stream ended (the sink half-closed it): the response confirms it.
    ended: bool,
}

#[derive(Debug)]
pub(crate) struct Inner {
    budget: u64,
    overflow: OverflowPolicy,
    /// Most bytes a call carries before it is ended for confirmation (half the budget).
    window_max: u64,
    /// The current limit: halved when a connection fails with messages unconfirmed, doubled
    /// back with every confirmed call, so that frequent cuts do not re-send forever.
    window: u64,

    /// The queue: not yet released to the current call. The messages not pinned when
    /// written, in `seq` order (the oldest is the first to evict)...
    queue_unpinned: VecDeque<Item>,
    /// ... and those pinned when written, in `seq` order, with holes where a superseded one
    /// was evicted (never at the front; removed all at once when they are most of it). The
    /// queue's order is the merge of the two.
    queue_pinned: VecDeque<Slot>,
    /// Holes in `queue_pinned`.
    holes: u64,
    /// The `seq`s of the messages in `queue_pinned` that are no longer pinned (a newer
    /// message of their key came): evictable, oldest first.
    superseded: BinaryHeap<Reverse<u64>>,
    /// Messages and bytes in the queue.
    queue_len: u64,
    queue_bytes: u64,
    /// Of those, the evictable ones: `queue_unpinned` and `superseded`.
    evictable_len: u64,
    evictable_bytes: u64,
    /// To send first on the current connection, and its bytes.
    replay: VecDeque<Item>,
    replay_pending_bytes: u64,
    /// Released to the current call, not yet confirmed by its response, in `seq` order
    /// (replays included).
    unconfirmed: VecDeque<Item>,
    /// The non-replay items in `unconfirmed`.
    unconfirmed_held: u64,
    /// Bytes of the queue and the non-replay `unconfirmed` items: what the budget limits.
    held_bytes: u64,
    next_seq: u64,

    /// The latest `SetStoreInfo` per store.
    store_infos: Vec<Item>,
    /// The latest static chunk per (store, entity, components), and where each key is.
    statics: Vec<(Arc<str>, Item)>,
    static_index: HashMap<Arc<str>, usize>,
    /// The `seq`s of the items in `store_infos` and `statics`: the pinned messages.
    pinned_seqs: HashSet<u64>,
    /// Bytes of `store_infos` and `statics`, and their bound (`max_replay_bytes`).
    replay_bytes: u64,
    max_replay_bytes: u64,
    /// Statics that did not fit the bound: not replayed (nor is an older one of their key).
    statics_not_kept: u64,

    pub(crate) state: ConnectionState,
    /// When the current outage began (kept across failed reconnect attempts).
    down_since: Option<Instant>,
    /// Bumped at every connection start and loss; a call's request stream only acts while
    /// its generation is current.
    generation: u64,
    call: Call,
    /// The request stream waits for messages (nothing to send).
    body_idle: bool,
    /// The request stream holds a run back for `GrpcBatchPolicy::max_delay`.
    body_delayed: bool,
    /// The request stream's waker, woken by writes, flushes and closes.
    pub(crate) waker: Option<Waker>,
    closing: bool,
    flushing: bool,
    /// A write waits for room in the budget: the call should end and free it.
    writer_waiting: bool,
    /// No more writes; `state` is `Closed`.
    closed: bool,
    close_result: Option<Result<(), GrpcSinkError>>,

    /// Messages taken by `write`.
    written: u64,
    /// Of those: confirmed, dropped, lost or abandoned.
    settled: u64,
    connections: u64,
    connect_failures: u64,
    confirmed_calls: u64,
    confirmed_messages: u64,
    confirmed_bytes: u64,
    sent_messages: u64,
    sent_bytes: u64,
    replayed: u64,
    resent: u64,
    dropped_messages: u64,
    dropped_bytes: u64,
    dropped_rows: u64,
    oversized: u64,
    lost_messages: u64,
    lost_bytes: u64,
    lost_rows: u64,
    abandoned: u64,
    abandoned_rows: u64,
    last_error: Option<String>,

    /// Queue items looked at by eviction and release (pops, hole skips, binary-search
    /// steps): shows that making room does not scan the queue.
    #[cfg(test)]
    visits: u64,
}

/// The shared state and the condition variable signalled on every change.
#[derive(Debug)]
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    changed: Condvar,
    /// Bumped whenever the connection moves (HTTP/2 asks the request stream for more, or a
    /// response arrives): read by the stall watchdog without the lock.
    progress: AtomicU64,
}

/// Identifies the latest static chunk to replay
/// ([`ChunkSummary::static_key`](crate::wire::ChunkSummary::static_key): store, entity and
/// component set; a sink may carry several stores, e.g. `spate serve --forward`). `None`
/// (without formatting anything) for other messages.
fn static_key(msg: &EncodedMessage) -> Option<String> {
    msg.summary()?.static_key()
}

fn rows(msg: &EncodedMessage) -> u64 {
    msg.summary().map_or(0, |s| s.num_rows)
}

/// What the request stream of one call asks of the outbox.
pub(crate) enum Next {
    /// Send this message (its framing and body).
    Message(Arc<EncodedMessage>, Head),
    /// End the request stream: the call's response will confirm what it carried.
    End,
    /// Nothing to do until woken (or, with a batching delay, until `Some(instant)`).
    Wait(Option<Instant>),
}

impl Outbox {
    pub(crate) fn new(options: &GrpcSinkOptions) -> Self {
        let window_max = (options.buffer_bytes / 2).max(1);
        Self {
            inner: Mutex::new(Inner {
                budget: options.buffer_bytes,
                overflow: options.overflow,
                window_max,
                window: window_max,
                queue_unpinned: VecDeque::new(),
                queue_pinned: VecDeque::new(),
                holes: 0,
                superseded: BinaryHeap::new(),
                queue_len: 0,
                queue_bytes: 0,
                evictable_len: 0,
                evictable_bytes: 0,
                replay: VecDeque::new(),
                replay_pending_bytes: 0,
                unconfirmed: VecDeque::new(),
                unconfirmed_held: 0,
                held_bytes: 0,
                next_seq: 0,
                store_infos: Vec::new(),
                statics: Vec::new(),
                static_index: HashMap::new(),
                pinned_seqs: HashSet::new(),
                replay_bytes: 0,
                max_replay_bytes: options.max_replay_bytes,
                statics_not_kept: 0,
                state: ConnectionState::Connecting,
                down_since: None,
                generation: 0,
                call: Call::default(),
                body_idle: true,
                body_delayed: false,
                waker: None,
                closing: false,
                flushing: false,
                writer_waiting: false,
                closed: false,
                close_result: None,
                written: 0,
                settled: 0,
                connections: 0,
                connect_failures: 0,
                confirmed_calls: 0,
                confirmed_messages: 0,
                confirmed_bytes: 0,
                sent_messages: 0,
                sent_bytes: 0,
                replayed: 0,
                resent: 0,
                dropped_messages: 0,
                dropped_bytes: 0,
                dropped_rows: 0,
                oversized: 0,
                lost_messages: 0,
                lost_bytes: 0,
                lost_rows: 0,
                abandoned: 0,
                abandoned_rows: 0,
                last_error: None,
                #[cfg(test)]
                visits: 0,
            }),
            changed: Condvar::new(),
            progress: AtomicU64::new(0),
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

    /// The connection moved (see [`Outbox::progress`]).
    pub(crate) fn note_progress(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// How often the connection moved so far.
    pub(crate) fn progress(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    /// `Sink::write`: queues `msg` (see the module docs of `grpc` for the budget rules). A
    /// message too large for gRPC is counted dropped (and `oversized`) and recorded as the
    /// last error; the sink carries on.
    ///
    /// `dead` (empty; the caller keeps it to reuse its capacity) receives the messages that
    /// leave the outbox under the lock (evicted, superseded for replay, or this one dropped):
    /// they are dropped after it is released.
    pub(crate) fn push(&self, msg: &EncodedMessage, dead: &mut Vec<Item>) -> Result<(), SinkError> {
        let Some(head) = frame_head(msg.kind(), msg.len()) else {
            return Ok(()); // End: gRPC has no footer
        };
        let head = match head {
            Ok(head) => head,
            Err(len) => {
                let e = ErrorChain(&GrpcSinkError::MessageTooLarge { len }).to_string();
                let mut g = self.lock();
                if g.closed {
                    return Err(SinkError::Closed);
                }
                g.written += 1;
                g.oversized += 1;
                g.count_gone(msg, false);
                g.last_error = Some(e);
                drop(g);
                self.notify();
                return Ok(());
            }
        };
        // What the queue keeps is made before locking: its reference to the message, and a
        // static's replay key.
        let shared = Arc::new(msg.clone());
        let key = static_key(msg).map(Arc::<str>::from);
        let len = msg.len() as u64;
        let mut queued_at = Instant::now();
        let mut g = self.lock();
        loop {
            if g.closed {
                g.writer_waiting = false;
                return Err(SinkError::Closed);
            }
            if !g.must_wait(len) {
                break;
            }
            // Connected but over budget: back-pressure. The call is ended to confirm (and
            // free) what it carries; the wait ends with room, a lost connection (a stalled
            // one included, see `stall_timeout`) or the end of the sink.
            if !g.writer_waiting {
                g.writer_waiting = true;
                if let Some(w) = g.waker.take() {
                    w.wake();
                }
            }
            g = self.wait(g, Duration::from_millis(50));
            queued_at = Instant::now();
        }
        g.writer_waiting = false;
        let mut item = Item {
            seq: g.next_seq,
            msg: shared,
            head,
            queued_at,
            replay: false,
            sent: false,
            pinned_when_written: false,
        };
        g.next_seq += 1;
        g.written += 1;
        item.pinned_when_written = g.pin(&item, key, dead);
        let accept = g.held_bytes + len <= g.budget || g.nothing_held() || g.make_room(len, dead);
        if accept || item.pinned_when_written {
            g.enqueue(item);
        } else {
            g.count_gone(&item.msg, false);
            dead.push(item);
        }
        let waker = g.waker.take();
        drop(g);
        if let Some(w) = waker {
            w.wake();
        }
        dead.clear();
        Ok(())
    }

    /// `Sink::flush`: waits until every message written so far is settled (confirmed by
    /// the server, or counted) or `deadline`; returns whether they all were.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
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
        g.settled >= target
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
                let left = g.abandon_rest();
                g.finish(None);
                drop(g);
                drop(left);
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
        self.queue_len == 0 && self.unconfirmed_held == 0
    }

    /// Whether a write of `len` bytes waits for room: it does not fit, and the connection
    /// is up. Until the first connection attempt has an outcome the server is not known
    /// to be down: back-pressure, as when connected (otherwise a burst logged right after
    /// start would be dropped while the sink is still dialing).
    fn must_wait(&self, len: u64) -> bool {
        let fits = self.held_bytes + len <= self.budget || self.nothing_held();
        let first_attempt = self.state == ConnectionState::Connecting
            && self.connections == 0
            && self.connect_failures == 0;
        !fits && (self.state == ConnectionState::Connected || first_attempt)
    }

    /// Records `item` as the store info or latest static (of replay key `key`) if it is
    /// one; returns whether it is pinned (kept for replay, never dropped). Store infos
    /// always are (a stream needs them); statics while `max_replay_bytes` holds them — one
    /// that does not fit is not pinned (counted in `statics_not_kept`), and the older static
    /// of its key is unpinned too, so a reconnect never replays stale data. The copies
    /// superseded go to `dead`.
    fn pin(&mut self, item: &Item, key: Option<Arc<str>>, dead: &mut Vec<Item>) -> bool {
        let len = item.msg.len() as u64;
        if item.msg.kind() == MessageKind::SetStoreInfo {
            // One per store (a handful): the latest `SetStoreInfo` of each is replayed.
            let store = item.msg.store();
            match self.store_infos.iter().position(|i| i.msg.store() == store) {
                Some(i) => {
                    let old = std::mem::replace(&mut self.store_infos[i], item.clone());
                    self.replay_bytes -= old.msg.len() as u64;
                    self.unpin(old, dead);
                }
                None => self.store_infos.push(item.clone()),
            }
            self.pinned_seqs.insert(item.seq);
            self.replay_bytes += len;
            return true;
        }
        let Some(key) = key else {
            return false;
        };
        if let Some(i) = self.static_index.remove(&key) {
            let (_, old) = self.statics.swap_remove(i);
            if let Some((moved, _)) = self.statics.get(i)
                && let Some(at) = self.static_index.get_mut(moved)
            {
                *at = i;
            }
            self.replay_bytes -= old.msg.len() as u64;
            self.unpin(old, dead);
        }
        if self.replay_bytes + len > self.max_replay_bytes {
            self.statics_not_kept += 1;
            return false;
        }
        self.replay_bytes += len;
        self.static_index.insert(key.clone(), self.statics.len());
        self.statics.push((key, item.clone()));
        self.pinned_seqs.insert(item.seq);
        true
    }

    /// `old`, the pinned copy of a message, was superseded: if the message is queued, it
    /// becomes evictable. The copy goes to `dead`.
    fn unpin(&mut self, old: Item, dead: &mut Vec<Item>) {
        self.pinned_seqs.remove(&old.seq);
        if self.find_pinned(old.seq).is_some() {
            self.superseded.push(Reverse(old.seq));
            self.evictable_len += 1;
            self.evictable_bytes += old.msg.len() as u64;
        }
        dead.push(old);
    }

    /// Where the message `seq` is in `queue_pinned`, if it is there.
    fn find_pinned(&mut self, seq: u64) -> Option<usize> {
        let mut steps = 0;
        let found = find_slot(&self.queue_pinned, seq, &mut steps);
        self.count_visits(steps);
        found
    }

    /// Counts queue items looked at (in tests; see `visits`).
    fn count_visits(&mut self, n: u64) {
        #[cfg(test)]
        {
            self.visits += n;
        }
        let _ = n;
    }

    /// Appends a message just written to the queue.
    fn enqueue(&mut self, item: Item) {
        let n = item.msg.len() as u64;
        self.queue_len += 1;
        self.queue_bytes += n;
        self.held_bytes += n;
        if item.pinned_when_written {
            self.queue_pinned.push_back(Slot {
                seq: item.seq,
                item: Some(item),
            });
        } else {
            self.evictable_len += 1;
            self.evictable_bytes += n;
            self.queue_unpinned.push_back(item);
        }
    }

    /// Puts an unconfirmed message back at the front of the queue (it is older than
    /// everything queued). It is still held.
    fn requeue(&mut self, item: Item) {
        let n = item.msg.len() as u64;
        self.queue_len += 1;
        self.queue_bytes += n;
        if item.pinned_when_written {
            if !self.pinned_seqs.contains(&item.seq) {
                self.superseded.push(Reverse(item.seq));
                self.evictable_len += 1;
                self.evictable_bytes += n;
            }
            self.queue_pinned.push_front(Slot {
                seq: item.seq,
                item: Some(item),
            });
        } else {
            self.evictable_len += 1;
            self.evictable_bytes += n;
            self.queue_unpinned.push_front(item);
        }
    }

    /// The oldest queued message.
    fn front(&self) -> Option<&Item> {
        let pinned = self.queue_pinned.front().and_then(|s| s.item.as_ref());
        match (self.queue_unpinned.front(), pinned) {
            (Some(u), Some(p)) => Some(if p.seq < u.seq { p } else { u }),
            (u, p) => u.or(p),
        }
    }

    /// Removes the holes at the front of `queue_pinned`.
    fn skip_holes(&mut self) {
        while self.queue_pinned.front().is_some_and(|s| s.item.is_none()) {
            self.queue_pinned.pop_front();
            self.holes -= 1;
            self.count_visits(1);
        }
    }

    /// Takes the oldest queued message (to release it).
    fn pop_front(&mut self) -> Option<Item> {
        let from_pinned = match (self.queue_unpinned.front(), self.queue_pinned.front()) {
            (Some(u), Some(p)) => p.seq < u.seq,
            (u, p) => u.is_none() && p.is_some(),
        };
        self.count_visits(1);
        let item = if from_pinned {
            let slot = self.queue_pinned.pop_front();
            self.skip_holes();
            slot.and_then(|s| s.item)? // the front is never a hole
        } else {
            self.queue_unpinned.pop_front()?
        };
        let n = item.msg.len() as u64;
        self.queue_len -= 1;
        self.queue_bytes -= n;
        // A superseded one is the oldest in `superseded`, as it is the oldest queued.
        let superseded = self.superseded.peek() == Some(&Reverse(item.seq));
        if superseded {
            self.superseded.pop();
        }
        if superseded || !item.pinned_when_written {
            self.evictable_len -= 1;
            self.evictable_bytes -= n;
        }
        Some(item)
    }

    /// Takes the oldest evictable queued message: the front of `queue_unpinned` or the
    /// oldest superseded one, whichever came first.
    fn evict_oldest(&mut self) -> Option<Item> {
        self.count_visits(1);
        let unpinned = self.queue_unpinned.front().map(|i| i.seq);
        let superseded = self.superseded.peek().map(|s| s.0);
        let item = match (unpinned, superseded) {
            (Some(u), Some(s)) if s < u => self.take_superseded(),
            (Some(_), _) => self.queue_unpinned.pop_front(),
            (None, Some(_)) => self.take_superseded(),
            (None, None) => None,
        }?;
        let n = item.msg.len() as u64;
        self.queue_len -= 1;
        self.queue_bytes -= n;
        self.held_bytes -= n;
        self.evictable_len -= 1;
        self.evictable_bytes -= n;
        Some(item)
    }

    /// Takes the oldest superseded message out of `queue_pinned`, leaving a hole. Holes
    /// behind a message still pinned would stay while it does (a whole outage): once they
    /// are most of `queue_pinned`, they are removed (amortized O(1) per hole).
    fn take_superseded(&mut self) -> Option<Item> {
        let Reverse(seq) = self.superseded.pop()?;
        let i = self.find_pinned(seq)?; // `superseded` holds only queued messages
        let item = self.queue_pinned[i].item.take();
        self.holes += 1;
        self.skip_holes();
        if self.holes * 2 > self.queue_pinned.len() as u64 {
            self.count_visits(self.queue_pinned.len() as u64);
            self.queue_pinned.retain(|s| s.item.is_some());
            self.holes = 0;
        }
        item
    }

    /// Counts a message given up: lost if it was `sent` before (it may have arrived),
    /// dropped otherwise.
    fn count_gone(&mut self, msg: &EncodedMessage, sent: bool) {
        let (n, b, r) = (1, msg.len() as u64, rows(msg));
        if sent {
            self.lost_messages += n;
            self.lost_bytes += b;
            self.lost_rows += r;
        } else {
            self.dropped_messages += n;
            self.dropped_bytes += b;
            self.dropped_rows += r;
        }
        self.settled += 1;
    }

    /// Drops the oldest unpinned queued messages until `len` more bytes fit (DropOldest);
    /// returns whether they fit. A message larger than the whole budget fits only once
    /// nothing is held, as on the write path; if evicting every unpinned message cannot get
    /// there, nothing is evicted for it (only the new message is lost, not the queue too).
    /// The evicted messages go to `dead`.
    fn make_room(&mut self, len: u64, dead: &mut Vec<Item>) -> bool {
        if self.overflow == OverflowPolicy::DropOldest {
            let evicts_all = self.evictable_len == self.queue_len && self.unconfirmed_held == 0;
            if self.held_bytes - self.evictable_bytes + len > self.budget && !evicts_all {
                return false;
            }
            while self.held_bytes + len > self.budget {
                let Some(old) = self.evict_oldest() else {
                    break;
                };
                self.count_gone(&old.msg, old.sent);
                dead.push(old);
            }
        }
        self.held_bytes + len <= self.budget || self.nothing_held()
    }

    /// Whether the current call should end now (the request stream half-closes, and the
    /// server's response then confirms what it carried): it carried its window; or
    /// everything queued went out and a close, a flush or a waiting writer wants it
    /// confirmed. An empty call ends only for a close.
    fn call_should_end(&self) -> bool {
        let all_out = !self.has_pending();
        if self.call.messages == 0 {
            return all_out && self.closing;
        }
        self.call.bytes >= self.window
            || (all_out && (self.closing || self.flushing || self.writer_waiting))
    }

    /// Takes the next message to release to the current call: replays first, then the
    /// queue.
    fn release(&mut self) -> Option<(Arc<EncodedMessage>, Head)> {
        let mut item = match self.replay.pop_front() {
            Some(i) => {
                self.replay_pending_bytes -= i.msg.len() as u64;
                i
            }
            None => {
                let i = self.pop_front()?;
                self.unconfirmed_held += 1;
                i
            }
        };
        let n = item.msg.len() as u64;
        self.sent_messages += 1;
        self.sent_bytes += n;
        if item.replay {
            self.replayed += 1;
        } else if item.sent {
            self.resent += 1;
        }
        item.sent = true;
        self.call.bytes += n;
        self.call.messages += 1;
        let out = (Arc::clone(&item.msg), item.head);
        self.unconfirmed.push_back(item);
        Some(out)
    }

    /// The length of the message [`Self::release`] would return next.
    fn next_len(&self) -> Option<usize> {
        self.replay
            .front()
            .or_else(|| self.front())
            .map(|i| i.msg.len())
    }

    /// Whether anything waits to be released.
    fn has_pending(&self) -> bool {
        !self.replay.is_empty() || self.queue_len > 0
    }

    /// Bytes waiting to be released.
    fn pending_bytes(&self) -> u64 {
        self.queue_bytes + self.replay_pending_bytes
    }

    /// Whether a call should be opened: something waits to be sent, or the sink closes.
    pub(crate) fn wants_call(&self) -> bool {
        self.has_pending() || self.closing
    }

    /// Whether the connection owes progress: something waits to be sent, the request stream
    /// has handed out a frame HTTP/2 has not taken yet, or an ended call waits for its
    /// response. (An open call with nothing to send owes nothing: that is idle; nor does
    /// one holding a run back for the batching delay.)
    pub(crate) fn owes_progress(&self) -> bool {
        !self.body_delayed && (self.has_pending() || !self.body_idle || self.call.ended)
    }

    /// A connection is up: the replay (store info and statics not queued any more) goes
    /// first. Returns the new generation.
    pub(crate) fn begin_connection(&mut self) -> u64 {
        self.generation += 1;
        self.connections += 1;
        self.replay.clear();
        self.replay_pending_bytes = 0;
        let mut steps = 0;
        let pinned = self
            .store_infos
            .iter()
            .chain(self.statics.iter().map(|(_, i)| i));
        for item in pinned {
            // Pinned messages queue in `queue_pinned`.
            if find_slot(&self.queue_pinned, item.seq, &mut steps).is_none() {
                self.replay_pending_bytes += item.msg.len() as u64;
                self.replay.push_back(Item {
                    replay: true,
                    ..item.clone()
                });
            }
        }
        self.state = ConnectionState::Connected;
        self.down_since = None;
        self.generation
    }

    /// Opens the next call on the connection of `generation`; `None` if that connection
    /// was given up.
    pub(crate) fn begin_call(&mut self, generation: u64) -> Option<u64> {
        if generation != self.generation || self.closed {
            return None;
        }
        self.call = Call {
            id: self.call.id + 1,
            ..Call::default()
        };
        self.body_idle = true;
        self.body_delayed = false;
        Some(self.call.id)
    }

    /// The server answered call `id` of `generation` with OK: if the sink had ended the
    /// call, the server read all of it, which confirms every message it carried. An answer
    /// before the end is an error ([`GrpcSinkError::EndedEarly`]): nothing is confirmed.
    ///
    /// The confirmed messages are swapped into `confirmed` (empty; the caller keeps it, so
    /// the two buffers trade places call after call) to be dropped after unlocking.
    pub(crate) fn call_answered(
        &mut self,
        generation: u64,
        id: u64,
        confirmed: &mut VecDeque<Item>,
    ) -> Result<(), GrpcSinkError> {
        if generation != self.generation || id != self.call.id {
            return Ok(()); // given up meanwhile; what it carried was counted or re-queued
        }
        if !self.call.ended {
            return Err(GrpcSinkError::EndedEarly);
        }
        confirmed.clear();
        std::mem::swap(&mut self.unconfirmed, confirmed);
        self.unconfirmed_held = 0;
        for item in confirmed.iter() {
            if !item.replay {
                let n = item.msg.len() as u64;
                self.held_bytes -= n;
                self.confirmed_messages += 1;
                self.confirmed_bytes += n;
                self.settled += 1;
            }
        }
        self.confirmed_calls += 1;
        self.window = (self.window.saturating_mul(2)).min(self.window_max);
        self.call.ended = false;
        Ok(())
    }

    /// The connection of `generation` failed with `error`: the unconfirmed messages go back
    /// to the front of the queue (in order) to be sent again, the replay is discarded.
    pub(crate) fn connection_lost(&mut self, generation: u64, error: &GrpcSinkError) {
        if generation == self.generation {
            self.generation += 1;
            let requeued = self.unconfirmed_held > 0;
            while let Some(item) = self.unconfirmed.pop_back() {
                if !item.replay {
                    self.requeue(item);
                }
            }
            self.unconfirmed_held = 0;
            if requeued {
                self.window = (self.window / 2).max(MIN_WINDOW_BYTES.min(self.window_max));
            }
            self.replay.clear();
            self.replay_pending_bytes = 0;
            self.call = Call {
                id: self.call.id,
                ..Call::default()
            };
            self.body_idle = true;
            self.body_delayed = false;
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

    /// Closing, every message was confirmed or counted, and the connection's replay (if
    /// any) went out.
    pub(crate) fn drained_for_close(&self) -> bool {
        self.closing && !self.has_pending() && self.unconfirmed_held == 0
    }

    /// Gives up on every message not confirmed: those sent before are counted lost (they
    /// may have arrived), the others abandoned. Returns them, to drop after unlocking.
    pub(crate) fn abandon_rest(&mut self) -> Abandoned {
        let left = Abandoned {
            queue_unpinned: std::mem::take(&mut self.queue_unpinned),
            queue_pinned: std::mem::take(&mut self.queue_pinned),
            unconfirmed: std::mem::take(&mut self.unconfirmed),
            replay: std::mem::take(&mut self.replay),
        };
        let queued = left.queue_pinned.iter().filter_map(|s| s.item.as_ref());
        for item in left
            .unconfirmed
            .iter()
            .chain(&left.queue_unpinned)
            .chain(queued)
        {
            if item.replay {
                continue;
            }
            if item.sent {
                self.count_gone(&item.msg, true);
            } else {
                self.abandoned += 1;
                self.abandoned_rows += rows(&item.msg);
                self.settled += 1;
            }
        }
        self.superseded.clear();
        self.holes = 0;
        self.queue_len = 0;
        self.queue_bytes = 0;
        self.evictable_len = 0;
        self.evictable_bytes = 0;
        self.replay_pending_bytes = 0;
        self.unconfirmed_held = 0;
        self.held_bytes = 0;
        self.generation += 1;
        left
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

    /// The request stream of call `id` of `generation` is polled: the next message of a run
    /// that is due (see `GrpcBatchPolicy`, `max_delay` apart from flushes, closes, replays
    /// and full runs), the end of the call, or a wait. A call given up ends at once.
    pub(crate) fn next_for_call(
        &mut self,
        generation: u64,
        id: u64,
        max_delay: Duration,
        max_bytes: u64,
    ) -> Next {
        if generation != self.generation || id != self.call.id {
            return Next::End; // given up: the call future is dropped with its connection
        }
        self.body_delayed = false;
        if self.call_should_end() {
            self.call.ended = true;
            self.body_idle = false;
            return Next::End;
        }
        if !self.has_pending() {
            self.body_idle = true;
            return Next::Wait(None);
        }
        let now = Instant::now();
        let start_by = self.front().map_or(now, |i| i.queued_at + max_delay);
        let due = !self.replay.is_empty()
            || self.closing
            || self.flushing
            || self.writer_waiting
            || now >= start_by
            || self.pending_bytes() >= max_bytes;
        if !due {
            self.body_delayed = true;
            return Next::Wait(Some(start_by));
        }
        match self.release() {
            Some((msg, head)) => {
                self.body_idle = false;
                Next::Message(msg, head)
            }
            None => Next::Wait(None), // has_pending() said otherwise; not reached
        }
    }

    /// After `first` was released: the next small message (under `small_max` bytes) to
    /// coalesce into the same run, while the run is under `run_max` bytes and the call
    /// under its window.
    pub(crate) fn next_small(
        &mut self,
        run_len: usize,
        run_max: usize,
        small_max: usize,
    ) -> Option<(Arc<EncodedMessage>, Head)> {
        if run_len >= run_max || self.call.bytes >= self.window {
            return None;
        }
        if self.next_len().is_none_or(|n| n >= small_max) {
            return None;
        }
        self.release()
    }

    pub(crate) fn stats(&self) -> GrpcSinkStats {
        GrpcSinkStats {
            state: self.state,
            connections: self.connections,
            reconnects: self.connections.saturating_sub(1),
            connect_failures: self.connect_failures,
            written_messages: self.written,
            confirmed_messages: self.confirmed_messages,
            confirmed_bytes: self.confirmed_bytes,
            confirmed_calls: self.confirmed_calls,
            sent_messages: self.sent_messages,
            sent_bytes: self.sent_bytes,
            replayed_messages: self.replayed,
            resent_messages: self.resent,
            dropped_messages: self.dropped_messages,
            dropped_bytes: self.dropped_bytes,
            dropped_rows: self.dropped_rows,
            oversized_messages: self.oversized,
            lost_messages: self.lost_messages,
            lost_bytes: self.lost_bytes,
            lost_rows: self.lost_rows,
            abandoned_messages: self.abandoned,
            abandoned_rows: self.abandoned_rows,
            queued_messages: self.queue_len,
            unconfirmed_messages: self.unconfirmed_held,
            queued_bytes: self.held_bytes,
            last_error: self.last_error.clone(),
            statics_not_kept: self.statics_not_kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::StoreInfo;

    impl Outbox {
        /// [`Outbox::push`] as `GrpcSink::write` calls it.
        fn write(&self, msg: &EncodedMessage) -> Result<(), SinkError> {
            self.push(msg, &mut Vec::new())
        }
    }

    impl Inner {
        /// The queue in order (the merge of its two parts).
        fn queued(&self) -> Vec<&Item> {
            let pinned = self.queue_pinned.iter().filter_map(|s| s.item.as_ref());
            let mut all: Vec<&Item> = self.queue_unpinned.iter().chain(pinned).collect();
            all.sort_by_key(|i| i.seq);
            all
        }

        /// Recounts what the counters, the heap and the index keep: they agree with a scan.
        fn check_consistency(&self) {
            let queued = self.queued();
            let bytes = |items: &[&Item]| items.iter().map(|i| i.msg.len() as u64).sum::<u64>();
            let evictable: Vec<&Item> = queued
                .iter()
                .copied()
                .filter(|i| !i.pinned_when_written || !self.pinned_seqs.contains(&i.seq))
                .collect();
            let mut superseded: Vec<u64> = self.superseded.iter().map(|s| s.0).collect();
            superseded.sort_unstable();
            let want: Vec<u64> = evictable
                .iter()
                .filter(|i| i.pinned_when_written)
                .map(|i| i.seq)
                .collect();
            assert_eq!(superseded, want, "superseded");
            assert_eq!(self.queue_len, queued.len() as u64);
            assert_eq!(self.queue_bytes, bytes(&queued));
            assert_eq!(self.evictable_len, evictable.len() as u64);
            assert_eq!(self.evictable_bytes, bytes(&evictable));
            assert!(self.queue_unpinned.iter().all(|i| !i.pinned_when_written));
            assert!(
                self.queue_pinned
                    .iter()
                    .flat_map(|s| &s.item)
                    .all(|i| i.pinned_when_written)
            );
            let holes = self
                .queue_pinned
                .iter()
                .filter(|s| s.item.is_none())
                .count();
            assert_eq!(self.holes, holes as u64, "holes");
            assert!(
                self.queue_pinned.front().is_none_or(|s| s.item.is_some()),
                "a hole in front"
            );
            let held: Vec<&Item> = self.unconfirmed.iter().filter(|i| !i.replay).collect();
            assert_eq!(self.unconfirmed_held, held.len() as u64);
            assert_eq!(self.held_bytes, bytes(&queued) + bytes(&held));
            let replay: Vec<&Item> = self.replay.iter().collect();
            assert_eq!(self.replay_pending_bytes, bytes(&replay));
            let pinned: HashSet<u64> = self
                .store_infos
                .iter()
                .chain(self.statics.iter().map(|(_, i)| i))
                .map(|i| i.seq)
                .collect();
            assert_eq!(pinned, self.pinned_seqs);
            assert_eq!(self.static_index.len(), self.statics.len());
            for (i, (key, _)) in self.statics.iter().enumerate() {
                assert_eq!(self.static_index.get(key), Some(&i), "index of {key}");
            }
        }
    }

    /// An outbox with a connection and a call open (generation and call id) and three
    /// messages written.
    fn three_written_while_connected() -> (Outbox, u64, u64) {
        let outbox = Outbox::new(&GrpcSinkOptions::default().buffer_bytes(1 << 20));
        let info = EncodedMessage::set_store_info(&StoreInfo::new("app", "rec").unwrap());
        let mut g = outbox.lock();
        let generation = g.begin_connection();
        let call = g.begin_call(generation).unwrap();
        drop(g);
        for _ in 0..3 {
            outbox.write(&info).unwrap();
        }
        (outbox, generation, call)
    }

    /// Regression (issue 12 item 9): statics were kept for replay, and accepted past the
    /// budget while disconnected, without any byte bound.
    #[test]
    fn statics_kept_for_replay_are_bounded_in_bytes() {
        use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
        let options = GrpcSinkOptions::default()
            .buffer_bytes(100_000)
            .max_replay_bytes(200_000);
        let outbox = Outbox::new(&options);
        let store = StoreInfo::new("app", "rec").unwrap();
        {
            let mut g = outbox.lock();
            let generation = g.begin_connection();
            g.connection_lost(generation, &GrpcSinkError::ConnectionClosed);
        }
        outbox
            .write(&EncodedMessage::set_store_info(&store))
            .unwrap();
        // 100 statics of ~12 kB, each of its own entity: 1.2 MB pinned without a bound.
        for e in 0..100 {
            let chunk = Chunk::from_row(
                EntityPath::parse(&format!("static/{e}")).unwrap(),
                RowId::new(),
                &TimePoint::default(),
                &Points3D::new(vec![[e as f32; 3]; 1000]),
            )
            .unwrap();
            let msg =
                EncodedMessage::arrow_msg(&chunk, &store, crate::wire::Compression::Off).unwrap();
            outbox.write(&msg).unwrap();
        }
        let g = outbox.lock();
        let s = g.stats();
        assert!(
            g.replay_bytes <= 200_000,
            "kept for replay: {} B",
            g.replay_bytes
        );
        assert!(
            s.queued_bytes <= 100_000 + 200_000,
            "held: {} B ({s:#?})",
            s.queued_bytes
        );
        assert!(s.statics_not_kept > 0, "{s:#?}");
        assert!(s.dropped_messages > 0, "over the budget, counted: {s:#?}");
        assert_eq!(
            s.written_messages,
            s.dropped_messages + s.queued_messages,
            "{s:#?}"
        );
    }

    #[test]
    fn a_lost_connection_requeues_theunconfirmed_and_a_confirmed_call_settles_them() {
        let (outbox, generation, call) = three_written_while_connected();
        let mut g = outbox.lock();
        let next = |g: &mut Inner| g.next_for_call(generation, call, Duration::ZERO, 1 << 20);
        for _ in 0..3 {
            assert!(matches!(next(&mut g), Next::Message(..)));
        }
        assert!(
            matches!(next(&mut g), Next::Wait(None)),
            "idle: nothing to send"
        );
        let s = g.stats();
        assert_eq!((s.sent_messages, s.unconfirmed_messages), (3, 3));
        // The connection fails before the call's response: all three go back, in order.
        g.connection_lost(generation, &GrpcSinkError::ConnectionClosed);
        let seqs: Vec<u64> = g.queued().iter().map(|i| i.seq).collect();
        assert_eq!(seqs, [0, 1, 2]);
        let generation = g.begin_connection();
        let call = g.begin_call(generation).unwrap();
        let next = |g: &mut Inner| g.next_for_call(generation, call, Duration::ZERO, 1 << 20);
        for _ in 0..3 {
            assert!(matches!(next(&mut g), Next::Message(..)));
        }
        // An answer before the sink ended the call confirms nothing.
        assert!(matches!(
            g.call_answered(generation, call, &mut VecDeque::new()),
            Err(GrpcSinkError::EndedEarly)
        ));
        g.flushing = true;
        assert!(matches!(next(&mut g), Next::End));
        g.call_answered(generation, call, &mut VecDeque::new())
            .unwrap();
        let s = g.stats();
        assert_eq!(
            (s.confirmed_messages, s.resent_messages, s.confirmed_calls),
            (3, 3, 1)
        );
        assert_eq!((s.unconfirmed_messages, s.queued_bytes), (0, 0));
        assert_eq!(g.settled, g.written);
    }

    #[test]
    fn giving_up_counts_sent_messages_lost_and_unsent_ones_abandoned() {
        let (outbox, generation, call) = three_written_while_connected();
        let mut g = outbox.lock();
        assert!(matches!(
            g.next_for_call(generation, call, Duration::ZERO, 1 << 20),
            Next::Message(..)
        ));
        drop(g.abandon_rest());
        let s = g.stats();
        assert_eq!((s.lost_messages, s.abandoned_messages), (1, 2));
        assert_eq!(g.settled, g.written);
    }

    /// Regression: under DropOldest a message larger than the whole budget evicted every
    /// queued message and was then dropped itself; now it takes the emptied queue (as a
    /// message over budget does when nothing is held), and when evicting cannot empty the
    /// queue (pinned statics), only the new message is dropped.
    #[test]
    fn a_message_over_the_whole_budget_is_not_lost_together_with_the_queue() {
        use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
        let store = StoreInfo::new("app", "rec").unwrap();
        let msg = |points: usize, is_static: bool, e: &str| {
            let time = if is_static {
                TimePoint::default()
            } else {
                TimePoint::default().with_sequence("frame", 0).unwrap()
            };
            let chunk = Chunk::from_row(
                EntityPath::parse(e).unwrap(),
                RowId::new(),
                &time,
                &Points3D::new(vec![[0.0f32; 3]; points]),
            )
            .unwrap();
            EncodedMessage::arrow_msg(&chunk, &store, crate::wire::Compression::Off).unwrap()
        };
        // Disconnected: what does not fit makes room instead of waiting.
        let disconnected = || {
            let outbox = Outbox::new(&GrpcSinkOptions::default().buffer_bytes(20_000));
            let mut g = outbox.lock();
            let generation = g.begin_connection();
            g.connection_lost(generation, &GrpcSinkError::ConnectionClosed);
            drop(g);
            outbox
        };
        let outbox = disconnected();
        for _ in 0..3 {
            outbox.write(&msg(400, false, "p")).unwrap(); // ~5 kB each
        }
        let big = msg(10_000, false, "p"); // ~120 kB: over the whole budget
        outbox.write(&big).unwrap();
        {
            let g = outbox.lock();
            let s = g.stats();
            assert_eq!(s.dropped_messages, 3, "the three older ones make room");
            assert_eq!(g.queued().len(), 1);
            assert_eq!(g.queued()[0].msg.len(), big.len(), "the big one is kept");
        }
        // A pinned static stays: the queue cannot be emptied, so the big message alone
        // is dropped and the small temporal one stays.
        let outbox = disconnected();
        outbox.write(&msg(400, true, "map")).unwrap();
        outbox.write(&msg(400, false, "p")).unwrap();
        outbox.write(&big).unwrap();
        let g = outbox.lock();
        assert_eq!(g.stats().dropped_messages, 1);
        assert_eq!(g.queued().len(), 2, "static and temporal kept");
    }

    /// Regression: the rows of abandoned chunks were left out of
    /// `SinkStats::rows_dropped_by_sink` (their messages were counted).
    #[test]
    fn abandoned_chunks_count_their_rows_as_dropped_by_the_sink() {
        use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
        let outbox = Outbox::new(&GrpcSinkOptions::default().buffer_bytes(1 << 20));
        let store = StoreInfo::new("app", "rec").unwrap();
        outbox.lock().begin_connection();
        for f in 0..3 {
            let chunk = Chunk::from_row(
                EntityPath::parse("p").unwrap(),
                RowId::new(),
                &TimePoint::default().with_sequence("frame", f).unwrap(),
                &Points3D::new(vec![[0.0f32; 3]; 10]),
            )
            .unwrap();
            let msg =
                EncodedMessage::arrow_msg(&chunk, &store, crate::wire::Compression::Off).unwrap();
            outbox.write(&msg).unwrap();
        }
        let mut g = outbox.lock();
        drop(g.abandon_rest());
        let grpc = g.stats();
        assert_eq!((grpc.abandoned_messages, grpc.abandoned_rows), (3, 3));
        let sink = crate::stats::SinkStats {
            grpc: Some(grpc),
            ..Default::default()
        };
        assert_eq!(
            (sink.dropped_by_sink(), sink.rows_dropped_by_sink()),
            (3, 3)
        );
    }

    /// SplitMix64, as `tests/support/rng.rs`: seedable, to pick random plans.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// A message as the model sees it, and as [`snapshot`] shows a real one: its write
    /// order, length, rows and flags.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct M {
        seq: u64,
        len: u64,
        rows: u64,
        sent: bool,
        replay: bool,
    }

    /// What is compared after every step: where each message is, in order, and the counts.
    #[derive(Debug, PartialEq, Eq)]
    struct Snapshot {
        queue: Vec<M>,
        unconfirmed: Vec<M>,
        replay: Vec<M>,
        written: u64,
        settled: u64,
        held_bytes: u64,
        dropped: [u64; 3],
        lost: [u64; 3],
        abandoned: [u64; 2],
        confirmed: [u64; 2],
        replay_bytes: u64,
        statics_not_kept: u64,
    }

    fn m(i: &Item) -> M {
        M {
            seq: i.seq,
            len: i.msg.len() as u64,
            rows: rows(&i.msg),
            sent: i.sent,
            replay: i.replay,
        }
    }

    fn snapshot(g: &Inner) -> Snapshot {
        g.check_consistency();
        let s = g.stats();
        let snap = Snapshot {
            queue: g.queued().into_iter().map(m).collect(),
            unconfirmed: g.unconfirmed.iter().map(m).collect(),
            replay: g.replay.iter().map(m).collect(),
            written: g.written,
            settled: g.settled,
            held_bytes: s.queued_bytes,
            dropped: [s.dropped_messages, s.dropped_bytes, s.dropped_rows],
            lost: [s.lost_messages, s.lost_bytes, s.lost_rows],
            abandoned: [s.abandoned_messages, s.abandoned_rows],
            confirmed: [s.confirmed_messages, s.confirmed_bytes],
            replay_bytes: g.replay_bytes,
            statics_not_kept: s.statics_not_kept,
        };
        assert_eq!(s.queued_messages, snap.queue.len() as u64);
        let unconfirmed = snap.unconfirmed.iter().filter(|i| !i.replay).count() as u64;
        assert_eq!(s.unconfirmed_messages, unconfirmed);
        assert_eq!(s.written_messages, snap.written);
        assert_eq!(snap.written, snap.settled + s.queued_messages + unconfirmed);
        snap
    }

    /// The reference model: the outbox's queue rules spelled out over plain `Vec`s, every
    /// question answered by a scan (obviously right, however slow).
    struct Model {
        budget: u64,
        overflow: OverflowPolicy,
        max_replay_bytes: u64,
        queue: Vec<M>,
        unconfirmed: Vec<M>,
        replay: Vec<M>,
        /// The latest `SetStoreInfo` per store, then the latest static per key, replayed
        /// in this order (a superseded static is swap-removed, as the real one does).
        store_infos: Vec<(Option<StoreInfo>, M)>,
        statics: Vec<(String, M)>,
        replay_bytes: u64,
        statics_not_kept: u64,
        connected: bool,
        /// A connection attempt has had an outcome (until then a full budget waits).
        dialed: bool,
        next_seq: u64,
        written: u64,
        settled: u64,
        dropped: [u64; 3],
        lost: [u64; 3],
        abandoned: [u64; 2],
        confirmed: [u64; 2],
    }

    impl Model {
        fn new(options: &GrpcSinkOptions) -> Self {
            Self {
                budget: options.buffer_bytes,
                overflow: options.overflow,
                max_replay_bytes: options.max_replay_bytes,
                queue: Vec::new(),
                unconfirmed: Vec::new(),
                replay: Vec::new(),
                store_infos: Vec::new(),
                statics: Vec::new(),
                replay_bytes: 0,
                statics_not_kept: 0,
                connected: false,
                dialed: false,
                next_seq: 0,
                written: 0,
                settled: 0,
                dropped: [0; 3],
                lost: [0; 3],
                abandoned: [0; 2],
                confirmed: [0; 2],
            }
        }

        fn held(&self) -> u64 {
            let queued: u64 = self.queue.iter().map(|i| i.len).sum();
            let unconfirmed: u64 = self
                .unconfirmed
                .iter()
                .filter(|i| !i.replay)
                .map(|i| i.len)
                .sum();
            queued + unconfirmed
        }

        fn nothing_held(&self) -> bool {
            self.queue.is_empty() && self.unconfirmed.iter().all(|i| i.replay)
        }

        fn fits(&self, len: u64) -> bool {
            self.held() + len <= self.budget || self.nothing_held()
        }

        /// Whether a write of `len` bytes waits for room (back-pressure).
        fn must_wait(&self, len: u64) -> bool {
            !self.fits(len) && (self.connected || !self.dialed)
        }

        fn is_pinned(&self, seq: u64) -> bool {
            self.store_infos.iter().any(|(_, i)| i.seq == seq)
                || self.statics.iter().any(|(_, i)| i.seq == seq)
        }

        fn gone(&mut self, i: &M) {
            let counts = if i.sent {
                &mut self.lost
            } else {
                &mut self.dropped
            };
            counts[0] += 1;
            counts[1] += i.len;
            counts[2] += i.rows;
            self.settled += 1;
        }

        fn pin(&mut self, msg: &EncodedMessage, item: &M) -> bool {
            if msg.kind() == MessageKind::SetStoreInfo {
                let store = msg.store().cloned();
                match self.store_infos.iter().position(|(s, _)| *s == store) {
                    Some(p) => {
                        self.replay_bytes -= self.store_infos[p].1.len;
                        self.store_infos[p].1 = item.clone();
                    }
                    None => self.store_infos.push((store, item.clone())),
                }
                self.replay_bytes += item.len;
                return true;
            }
            let Some(key) = static_key(msg) else {
                return false;
            };
            if let Some(p) = self.statics.iter().position(|(k, _)| *k == key) {
                let (_, old) = self.statics.swap_remove(p);
                self.replay_bytes -= old.len;
            }
            if self.replay_bytes + item.len > self.max_replay_bytes {
                self.statics_not_kept += 1;
                return false;
            }
            self.replay_bytes += item.len;
            self.statics.push((key, item.clone()));
            true
        }

        /// DropOldest: the oldest unpinned queued messages go until `len` fits, unless
        /// even all of them would not make it fit (and could not empty what is held).
        fn make_room(&mut self, len: u64) -> bool {
            if self.overflow == OverflowPolicy::DropOldest {
                let unpinned: Vec<&M> = self
                    .queue
                    .iter()
                    .filter(|i| !self.is_pinned(i.seq))
                    .collect();
                let evictable: u64 = unpinned.iter().map(|i| i.len).sum();
                let empties =
                    unpinned.len() == self.queue.len() && self.unconfirmed.iter().all(|i| i.replay);
                if self.held() - evictable + len > self.budget && !empties {
                    return false;
                }
                while self.held() + len > self.budget {
                    let Some(p) = self.queue.iter().position(|i| !self.is_pinned(i.seq)) else {
                        break;
                    };
                    let old = self.queue.remove(p);
                    self.gone(&old);
                }
            }
            self.fits(len)
        }

        fn push(&mut self, msg: &EncodedMessage) {
            let item = M {
                seq: self.next_seq,
                len: msg.len() as u64,
                rows: rows(msg),
                sent: false,
                replay: false,
            };
            self.next_seq += 1;
            self.written += 1;
            let pinned = self.pin(msg, &item);
            if self.fits(item.len) || self.make_room(item.len) || pinned {
                self.queue.push(item);
            } else {
                self.gone(&item);
            }
        }

        fn release(&mut self) {
            let mut item = if self.replay.is_empty() {
                self.queue.remove(0)
            } else {
                self.replay.remove(0)
            };
            item.sent = true;
            self.unconfirmed.push(item);
        }

        fn confirm(&mut self) {
            for i in std::mem::take(&mut self.unconfirmed) {
                if !i.replay {
                    self.confirmed[0] += 1;
                    self.confirmed[1] += i.len;
                    self.settled += 1;
                }
            }
        }

        fn connect(&mut self) {
            self.connected = true;
            self.dialed = true;
            let queued: Vec<u64> = self.queue.iter().map(|i| i.seq).collect();
            self.replay = self
                .store_infos
                .iter()
                .map(|(_, i)| i)
                .chain(self.statics.iter().map(|(_, i)| i))
                .filter(|i| !queued.contains(&i.seq))
                .map(|i| M {
                    replay: true,
                    ..i.clone()
                })
                .collect();
        }

        fn connect_failed(&mut self) {
            self.dialed = true;
        }

        fn lose(&mut self) {
            self.connected = false;
            self.dialed = true;
            let back: Vec<M> = std::mem::take(&mut self.unconfirmed)
                .into_iter()
                .filter(|i| !i.replay)
                .collect();
            self.queue.splice(0..0, back);
            self.replay.clear();
        }

        fn abandon(&mut self) {
            let left: Vec<M> = std::mem::take(&mut self.unconfirmed)
                .into_iter()
                .chain(std::mem::take(&mut self.queue))
                .filter(|i| !i.replay)
                .collect();
            for i in &left {
                if i.sent {
                    self.gone(i);
                } else {
                    self.abandoned[0] += 1;
                    self.abandoned[1] += i.rows;
                    self.settled += 1;
                }
            }
            self.replay.clear();
        }

        fn snapshot(&self) -> Snapshot {
            Snapshot {
                queue: self.queue.clone(),
                unconfirmed: self.unconfirmed.clone(),
                replay: self.replay.clone(),
                written: self.written,
                settled: self.settled,
                held_bytes: self.held(),
                dropped: self.dropped,
                lost: self.lost,
                abandoned: self.abandoned,
                confirmed: self.confirmed,
                replay_bytes: self.replay_bytes,
                statics_not_kept: self.statics_not_kept,
            }
        }
    }

    /// Messages of every class the outbox tells apart: `SetStoreInfo`s of two stores,
    /// statics of a few keys (entity, component set, store) and sizes, temporal chunks of
    /// a few sizes, and bodies without a chunk summary (not pinnable, no rows).
    fn message_pool() -> Vec<EncodedMessage> {
        use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
        let stores = [
            StoreInfo::new("app", "rec").unwrap(),
            StoreInfo::new("app", "other").unwrap(),
        ];
        let chunk = |store: &StoreInfo, e: &str, time: &TimePoint, points: Points3D| {
            let chunk = Chunk::from_row(EntityPath::parse(e).unwrap(), RowId::new(), time, &points)
                .unwrap();
            EncodedMessage::arrow_msg(&chunk, store, crate::wire::Compression::Off).unwrap()
        };
        let mut pool = Vec::new();
        for store in &stores {
            pool.push(EncodedMessage::set_store_info(store));
            for e in ["s0", "s1", "s2"] {
                for n in [1, 40, 200] {
                    let statics = TimePoint::default();
                    pool.push(chunk(store, e, &statics, Points3D::new(vec![[0.5; 3]; n])));
                }
            }
            let colored = Points3D::new(vec![[0.5; 3]; 10]).with_colors(vec![7u32; 10]);
            pool.push(chunk(store, "s0", &TimePoint::default(), colored));
            for n in [0, 1, 10, 60, 150, 400] {
                let time = TimePoint::default().with_sequence("frame", 1).unwrap();
                pool.push(chunk(store, "t", &time, Points3D::new(vec![[1.0; 3]; n])));
            }
        }
        for len in [0, 200, 3000] {
            pool.push(EncodedMessage::from_body(
                MessageKind::ArrowMsg,
                bytes::Bytes::from(vec![0u8; len]),
            ));
        }
        pool
    }

    /// Random pushes, releases, confirmations, lost and new connections against
    /// [`Model`], with random budgets, replay bounds and overflow policies: after every
    /// step, the same messages are in the same places in the same order, and every
    /// message is delivered, counted, or still held.
    #[test]
    fn the_queue_matches_a_reference_model_under_random_operations() {
        let pool = message_pool();
        let mut sizes: Vec<u64> = pool.iter().map(|m| m.len() as u64).collect();
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        for seed in 0..300u64 {
            let mut rng = Rng(seed);
            let overflow = if rng.below(2) == 0 {
                OverflowPolicy::DropOldest
            } else {
                OverflowPolicy::DropNewest
            };
            // Budgets from half a message to a few dozen (queues of up to ~100).
            let room = if rng.below(4) == 0 { 40 } else { 10 };
            let options = GrpcSinkOptions::default()
                .buffer_bytes(median / 2 + rng.below(median * room))
                .max_replay_bytes(rng.below(median * 6))
                .overflow(overflow);
            let outbox = Outbox::new(&options);
            let mut model = Model::new(&options);
            let mut connection: Option<(u64, u64)> = None;
            let mut log = Vec::new();
            for step in 0..400 {
                let op = rng.below(100);
                let mut g = outbox.lock();
                match op {
                    0..55 => {
                        let msg = &pool[rng.below(pool.len() as u64) as usize];
                        let len = msg.len() as u64;
                        assert_eq!(
                            g.must_wait(len),
                            model.must_wait(len),
                            "seed {seed} step {step}"
                        );
                        if model.must_wait(len) {
                            log.push(format!("push {len}: waits"));
                        } else {
                            drop(g);
                            outbox.write(msg).unwrap();
                            g = outbox.lock();
                            model.push(msg);
                            log.push(format!("push {len}"));
                        }
                    }
                    55..75 => {
                        if model.replay.is_empty() && model.queue.is_empty() {
                            continue;
                        }
                        assert!(g.release().is_some());
                        model.release();
                        log.push("release".into());
                    }
                    75..85 => {
                        let Some((generation, call)) = connection else {
                            continue;
                        };
                        g.call.ended = true;
                        g.call_answered(generation, call, &mut VecDeque::new())
                            .unwrap();
                        let call = g.begin_call(generation).unwrap();
                        connection = Some((generation, call));
                        model.confirm();
                        log.push("confirm".into());
                    }
                    85..92 => match connection.take() {
                        Some((generation, _)) => {
                            g.connection_lost(generation, &GrpcSinkError::ConnectionClosed);
                            model.lose();
                            log.push("lose".into());
                        }
                        None => {
                            let generation = g.begin_connection();
                            let call = g.begin_call(generation).unwrap();
                            connection = Some((generation, call));
                            model.connect();
                            log.push("connect".into());
                        }
                    },
                    _ => {
                        if connection.is_some() {
                            continue;
                        }
                        g.connect_failed(&GrpcSinkError::ConnectionClosed);
                        model.connect_failed();
                        log.push("connect failed".into());
                    }
                }
                assert_eq!(
                    snapshot(&g),
                    model.snapshot(),
                    "seed {seed} ({options:?}), after {log:?}"
                );
            }
            let mut g = outbox.lock();
            drop(g.abandon_rest());
            model.abandon();
            assert_eq!(snapshot(&g), model.snapshot(), "seed {seed}: abandoned");
            assert_eq!(g.settled, g.written, "seed {seed}: everything is counted");
        }
    }

    /// Making room does not scan the queue: with `n` messages queued (pinned statics among
    /// them), a write that evicts the oldest temporal message looks at one queue item,
    /// whatever `n`; one that evicts a superseded static at O(log n) (a binary search),
    /// amortized. Counted in `Inner::visits`, not timed.
    #[test]
    fn making_room_looks_at_a_bounded_number_of_queue_items_whatever_the_queue_length() {
        use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
        let store = StoreInfo::new("app", "rec").unwrap();
        let chunk = |e: &str, time: TimePoint| {
            let entity = EntityPath::parse(e).unwrap();
            let points = Points3D::new(vec![[0.0f32; 3]; 10]);
            let chunk = Chunk::from_row(entity, RowId::new(), &time, &points).unwrap();
            EncodedMessage::arrow_msg(&chunk, &store, crate::wire::Compression::Off).unwrap()
        };
        let info = EncodedMessage::set_store_info(&store);
        let temporal = chunk("t", TimePoint::default().with_sequence("frame", 0).unwrap());
        let statics: Vec<EncodedMessage> = (0..1_000)
            .map(|k| chunk(&format!("s/{k}"), TimePoint::default()))
            .collect();
        let len = |m: &EncodedMessage| m.len() as u64;
        const WRITES: u64 = 1_000;
        // Disconnected, DropOldest, a budget `fill` fills exactly; then `WRITES` writes of
        // `next`, each evicting one message. Returns the items they looked at.
        let visits = |fill: &[&EncodedMessage], next: &EncodedMessage| {
            let budget = fill.iter().map(|m| len(m)).sum();
            let outbox = Outbox::new(&GrpcSinkOptions::default().buffer_bytes(budget));
            let mut g = outbox.lock();
            let generation = g.begin_connection();
            g.connection_lost(generation, &GrpcSinkError::ConnectionClosed);
            drop(g);
            for m in fill {
                outbox.write(m).unwrap();
            }
            let before = outbox.lock().visits;
            for _ in 0..WRITES {
                outbox.write(next).unwrap();
            }
            let g = outbox.lock();
            assert_eq!(g.stats().dropped_messages, WRITES, "one evicted per write");
            g.check_consistency();
            let slots = g.queue_pinned.len() as u64;
            assert!(slots <= 2 * g.queue_len + 1, "holes pile up: {slots} slots");
            g.visits - before
        };

        // Temporal messages behind a store info, with a pinned static every tenth.
        let temporal_behind_pins = |n: usize| {
            let mut fill = vec![&info];
            for i in 0..n {
                fill.push(if i % 10 == 0 {
                    &statics[i / 10]
                } else {
                    &temporal
                });
            }
            visits(&fill, &temporal)
        };
        let (short, long) = (temporal_behind_pins(100), temporal_behind_pins(10_000));
        assert_eq!(short, WRITES, "one item per eviction");
        assert_eq!(long, short, "the same with a queue 100 times longer");

        // Versions of one static behind a store info: each write supersedes the last one
        // and evicts the oldest superseded.
        let superseded = |n: usize| {
            let mut fill = vec![&info];
            fill.extend(std::iter::repeat_n(&statics[0], n));
            visits(&fill, &statics[0])
        };
        let (short, long) = (superseded(100), superseded(10_000));
        // Two binary searches per write (unpinning, evicting), over at most twice the
        // versions queued (holes included), and compaction: about 20 items at n = 100.
        for (n, v) in [(100u64, short), (10_000, long)] {
            let bound = WRITES * 4 * u64::from(n.ilog2() + 1);
            assert!(
                v <= bound,
                "{v} items for {WRITES} evictions from {n} queued"
            );
        }
        assert!(
            long < 2 * short,
            "100 times the queue, {short} → {long} items"
        );
    }
}
