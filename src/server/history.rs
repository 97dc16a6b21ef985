//! What a [`ProxyServer`](super::ProxyServer) keeps for `ReadMessages` readers, within its
//! memory limit, and how readers read it.
//!
//! Three classes, after Rerun's rule (`rerun-format.md` §7.3), each bounded:
//!
//! - **persistent**: `SetStoreInfo`, `BlueprintActivationCommand` and blueprint-store
//!   chunks;
//! - **static**: the **latest** static chunk per
//!   [`static_key`](crate::wire::ChunkSummary::static_key) (store, entity, component set): a
//!   newer one replaces the older ([`Pushed::replaced_static`]), as the file sink keeps them;
//! - **temporal**: every other chunk.
//!
//! Each kept message costs its body plus [`ENTRY_OVERHEAD`] (and its static key). The total
//! stays within the limit: when a message arrives, the oldest temporal chunks are evicted
//! first, then the oldest statics, then the oldest persistent messages, each eviction
//! counted. The arriving message itself is never evicted by its own arrival (a live reader
//! still gets it), so after every push either the total is within the limit or that one
//! message is all that is kept.
//!
//! The history is also the live feed. Every message gets a sequence number; a reader is a
//! [`Cursor`] over them: it replays what is kept, in arrival order, then waits at the end
//! for the next message. A reader holds no copy of the history (only the message it is
//! sending), whatever its speed; one that falls behind skips what was evicted or replaced
//! before it got there ([`History::next`] says how many live messages it missed).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::task::Waker;

use crate::wire::{EncodedMessage, MessageKind};

/// Bytes counted per kept message on top of its body: the history's own bookkeeping (map
/// nodes, queue slots), so a flood of tiny messages is bounded too.
pub(crate) const ENTRY_OVERHEAD: u64 = 128;

/// The classes, lowest first in eviction order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Temporal,
    Static,
    Persistent,
}

#[derive(Debug)]
struct Entry {
    msg: EncodedMessage,
    class: Class,
    static_key: Option<String>,
    cost: u64,
}

/// What one [`History::push`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Temporal chunks evicted (memory limit).
    pub(crate) evicted_temporal: u64,
    /// Static chunks evicted (memory limit).
    pub(crate) evicted_static: u64,
    /// Persistent messages evicted (memory limit).
    pub(crate) evicted_persistent: u64,
    /// Static chunks replaced by this newer one of the same key.
    pub(crate) replaced_static: u64,
    /// Bytes kept after the push.
    pub(crate) bytes: u64,
}

/// A reader's place in the history.
#[derive(Debug)]
pub(crate) struct Cursor {
    id: u64,
    next: u64,
    /// Messages from this sequence number on were pushed after the reader started: those
    /// it skips are counted as missed.
    live_from: u64,
}

/// The kept messages, behind the server's lock (so a reader gets the history and then
/// every later message, with no gap and no repeat unless it falls behind).
#[derive(Debug)]
pub(crate) struct History {
    entries: BTreeMap<u64, Entry>,
    next_seq: u64,
    temporal: VecDeque<u64>,
    statics: BTreeSet<u64>,
    static_by_key: HashMap<String, u64>,
    persistent: VecDeque<u64>,
    bytes: u64,
    limit: u64,
    /// Readers waiting at the end, woken by the next push.
    waiting: HashMap<u64, Waker>,
    next_reader: u64,
}

impl History {
    /// Keeps messages up to `limit` bytes in total (see the module docs).
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            entries: BTreeMap::new(),
            next_seq: 0,
            temporal: VecDeque::new(),
            statics: BTreeSet::new(),
            static_by_key: HashMap::new(),
            persistent: VecDeque::new(),
            bytes: 0,
            limit,
            waiting: HashMap::new(),
            next_reader: 0,
        }
    }

    /// Keeps `msg` (replacing an older static of the same key), evicts what no longer fits,
    /// and wakes the readers waiting for it.
    pub(crate) fn push(&mut self, msg: &EncodedMessage) -> Pushed {
        let seq = self.next_seq;
        self.next_seq += 1;
        let blueprint = msg.store().is_some_and(|s| s.is_blueprint());
        let (class, static_key) = match msg.kind() {
            MessageKind::ArrowMsg if !blueprint => {
                match msg.summary().and_then(|s| s.static_key()) {
                    Some(key) => (Class::Static, Some(key)),
                    None => (Class::Temporal, None),
                }
            }
            _ => (Class::Persistent, None),
        };
        let mut out = Pushed::default();
        if let Some(key) = &static_key
            && let Some(old) = self.static_by_key.insert(key.clone(), seq)
        {
            self.remove(old);
            out.replaced_static += 1;
        }
        let cost =
            msg.len() as u64 + ENTRY_OVERHEAD + static_key.as_ref().map_or(0, |k| k.len() as u64);
        match class {
            Class::Temporal => self.temporal.push_back(seq),
            Class::Static => {
                self.statics.insert(seq);
            }
            Class::Persistent => self.persistent.push_back(seq),
        }
        self.entries.insert(
            seq,
            Entry {
                msg: msg.clone(),
                class,
                static_key,
                cost,
            },
        );
        self.bytes += cost;
        while self.bytes > self.limit {
            let Some(victim) = self.oldest_but(seq) else {
                break;
            };
            match self.remove(victim) {
                Some(Class::Temporal) => out.evicted_temporal += 1,
                Some(Class::Static) => out.evicted_static += 1,
                Some(Class::Persistent) => out.evicted_persistent += 1,
                None => break,
            }
        }
        for (_, waker) in self.waiting.drain() {
            waker.wake();
        }
        out.bytes = self.bytes;
        out
    }

    /// The oldest message of the lowest class, other than `newest` (which, being the
    /// newest, can only be the front of a queue that holds nothing else).
    fn oldest_but(&self, newest: u64) -> Option<u64> {
        let temporal = self.temporal.iter().find(|&&s| s != newest);
        let statics = self.statics.iter().find(|&&s| s != newest);
        let persistent = self.persistent.iter().find(|&&s| s != newest);
        temporal.or(statics).or(persistent).copied()
    }

    /// Forgets `seq`; returns its class if it was kept. Temporal and persistent messages
    /// only go oldest-first (the front of their queue), statics by key too (a set): no
    /// scan of a long history.
    fn remove(&mut self, seq: u64) -> Option<Class> {
        let entry = self.entries.remove(&seq)?;
        self.bytes -= entry.cost;
        fn remove_oldest(queue: &mut VecDeque<u64>, seq: u64) {
            if queue.front() == Some(&seq) {
                queue.pop_front();
            } else {
                queue.retain(|&s| s != seq);
            }
        }
        match entry.class {
            Class::Temporal => remove_oldest(&mut self.temporal, seq),
            Class::Static => {
                self.statics.remove(&seq);
                if let Some(key) = &entry.static_key
                    && self.static_by_key.get(key) == Some(&seq)
                {
                    self.static_by_key.remove(key);
                }
            }
            Class::Persistent => remove_oldest(&mut self.persistent, seq),
        }
        Some(entry.class)
    }

    /// Bytes kept (bodies plus the per-message allowance).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// A new reader, placed before the oldest kept message.
    pub(crate) fn subscribe(&mut self) -> Cursor {
        let id = self.next_reader;
        self.next_reader += 1;
        Cursor {
            id,
            next: self.entries.keys().next().copied().unwrap_or(self.next_seq),
            live_from: self.next_seq,
        }
    }

    /// The reader's next message, if there is one (otherwise `waker` is woken by the next
    /// push), and how many live messages it skipped because they were evicted or replaced
    /// before it got to them.
    pub(crate) fn next(
        &mut self,
        cursor: &mut Cursor,
        waker: &Waker,
    ) -> (Option<EncodedMessage>, u64) {
        let found = self
            .entries
            .range(cursor.next..)
            .next()
            .map(|(&seq, e)| (seq, e.msg.clone()));
        let upto = found.as_ref().map_or(self.next_seq, |(seq, _)| *seq);
        let missed = upto.saturating_sub(cursor.next.max(cursor.live_from));
        match found {
            Some((seq, msg)) => {
                cursor.next = seq + 1;
                self.waiting.remove(&cursor.id);
                (Some(msg), missed)
            }
            None => {
                cursor.next = upto;
                self.waiting.insert(cursor.id, waker.clone());
                (None, missed)
            }
        }
    }

    /// Forgets a reader that went away.
    pub(crate) fn unsubscribe(&mut self, cursor: &Cursor) {
        self.waiting.remove(&cursor.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Compression, StoreInfo};
    use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};

    fn chunk_msg(
        store: &StoreInfo,
        entity: &str,
        frame: Option<i64>,
        points: usize,
    ) -> EncodedMessage {
        let time = match frame {
            Some(f) => TimePoint::default().with_sequence("frame", f).unwrap(),
            None => TimePoint::default(),
        };
        let chunk = Chunk::from_row(
            EntityPath::parse(entity).unwrap(),
            RowId::new(),
            &time,
            &Points3D::new(vec![[0.0; 3]; points]),
        )
        .unwrap();
        EncodedMessage::arrow_msg(&chunk, store, Compression::Off).unwrap()
    }

    fn cost(m: &EncodedMessage) -> u64 {
        let key = m.summary().and_then(|s| s.static_key());
        m.len() as u64 + ENTRY_OVERHEAD + key.map_or(0, |k| k.len() as u64)
    }

    /// Everything a new reader gets now.
    fn replay(h: &mut History) -> Vec<EncodedMessage> {
        let mut c = h.subscribe();
        let mut out = Vec::new();
        let waker = Waker::noop();
        while let (Some(m), _) = h.next(&mut c, waker) {
            out.push(m);
        }
        h.unsubscribe(&c);
        out
    }

    fn ids(msgs: &[EncodedMessage]) -> Vec<Option<crate::chunk::ChunkId>> {
        msgs.iter()
            .map(|m| m.summary().map(|s| s.chunk_id))
            .collect()
    }

    #[test]
    fn static_data_is_kept_and_the_oldest_temporal_goes_first() {
        let store = StoreInfo::new("a", "r").unwrap();
        let info = EncodedMessage::set_store_info(&store);
        let stat = chunk_msg(&store, "p", None, 100);
        let t: Vec<_> = (0..4)
            .map(|f| chunk_msg(&store, "p", Some(f), 100))
            .collect();
        // Room for the info, the static chunk and two temporal chunks.
        let limit = cost(&info) + cost(&stat) + 2 * cost(&t[0]);
        let mut h = History::new(limit);
        assert_eq!(
            h.push(&info).evicted_temporal + h.push(&stat).evicted_temporal,
            0
        );
        let evicted: u64 = t.iter().map(|m| h.push(m).evicted_temporal).sum();
        assert_eq!(evicted, 2);
        assert!(h.bytes() <= limit);
        let want = vec![
            None,
            Some(stat.summary().unwrap().chunk_id),
            Some(t[2].summary().unwrap().chunk_id),
            Some(t[3].summary().unwrap().chunk_id),
        ];
        assert_eq!(ids(&replay(&mut h)), want);
    }

    #[test]
    fn only_the_latest_static_per_key_is_kept() {
        let store = StoreInfo::new("a", "r").unwrap();
        let mut h = History::new(u64::MAX);
        let first = chunk_msg(&store, "origin", None, 10);
        h.push(&first);
        let mut replaced = 0;
        let mut last = first.clone();
        for _ in 0..50 {
            last = chunk_msg(&store, "origin", None, 10);
            replaced += h.push(&last).replaced_static;
        }
        // Another entity, another store: other keys.
        let other_entity = chunk_msg(&store, "elsewhere", None, 10);
        let other_store = chunk_msg(&StoreInfo::new("a", "r2").unwrap(), "origin", None, 10);
        assert_eq!(h.push(&other_entity).replaced_static, 0);
        assert_eq!(h.push(&other_store).replaced_static, 0);
        assert_eq!(replaced, 50);
        assert_eq!(
            h.bytes(),
            cost(&last) + cost(&other_entity) + cost(&other_store)
        );
        assert_eq!(
            ids(&replay(&mut h)),
            ids(&[last, other_entity, other_store])
        );
    }

    #[test]
    fn statics_then_persistent_messages_are_evicted_beyond_the_limit_but_never_the_newest() {
        let store = StoreInfo::new("a", "r").unwrap();
        let statics: Vec<_> = (0..10)
            .map(|i| chunk_msg(&store, &format!("e{i}"), None, 100))
            .collect();
        let info = EncodedMessage::set_store_info(&store);
        let limit = cost(&info) + 3 * cost(&statics[0]);
        let mut h = History::new(limit);
        h.push(&info);
        let mut evicted = Pushed::default();
        for m in &statics {
            let p = h.push(m);
            evicted.evicted_static += p.evicted_static;
            evicted.evicted_persistent += p.evicted_persistent;
            assert!(p.bytes <= limit, "{p:?}");
        }
        // The oldest statics went; the store info stays while statics can go instead.
        assert_eq!(evicted.evicted_persistent, 0);
        assert_eq!(evicted.evicted_static, 7);
        let mut want = vec![info.clone()];
        want.extend_from_slice(&statics[7..]);
        assert_eq!(ids(&replay(&mut h)), ids(&want));
        // A message larger than the limit is kept alone (statics, then the info, go), until
        // the next one.
        let huge = chunk_msg(&store, "big", Some(1), 10_000);
        let p = h.push(&huge);
        assert_eq!(
            (p.evicted_static, p.evicted_persistent, p.bytes),
            (3, 1, cost(&huge))
        );
        let small = chunk_msg(&store, "small", Some(2), 1);
        let p = h.push(&small);
        assert_eq!((p.evicted_temporal, p.bytes), (1, cost(&small)));
    }

    #[test]
    fn a_reader_replays_then_follows_live_and_counts_what_it_missed() {
        let store = StoreInfo::new("a", "r").unwrap();
        let t: Vec<_> = (0..6)
            .map(|f| chunk_msg(&store, "p", Some(f), 100))
            .collect();
        let mut h = History::new(2 * cost(&t[0]));
        h.push(&t[0]);
        h.push(&t[1]);
        let mut c = h.subscribe();
        let waker = Waker::noop();
        let (m, missed) = h.next(&mut c, waker);
        assert_eq!((ids(&[m.unwrap()]), missed), (ids(&t[0..1]), 0));
        // Three more arrive while the reader is slow: only the last two fit, t[1] and t[2]
        // are evicted.
        for m in &t[2..5] {
            h.push(m);
        }
        // It skips t[1] (pushed before it started: not counted) and t[2] (counted).
        let (m, missed) = h.next(&mut c, waker);
        assert_eq!((ids(&[m.unwrap()]), missed), (ids(&t[3..4]), 1));
        let (m, missed) = h.next(&mut c, waker);
        assert_eq!((ids(&[m.unwrap()]), missed), (ids(&t[4..5]), 0));
        let (m, missed) = h.next(&mut c, waker);
        assert!(m.is_none() && missed == 0);
        assert_eq!(h.waiting.len(), 1);
        h.push(&t[5]);
        assert!(h.waiting.is_empty(), "the push woke the reader");
        let (m, _) = h.next(&mut c, waker);
        assert_eq!(ids(&[m.unwrap()]), ids(&t[5..6]));
        h.unsubscribe(&c);
    }
}
