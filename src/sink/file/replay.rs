//! What a rotating [`FileSink`](super::FileSink) writes at the start of every new file, so
//! that each file opens alone: the latest `SetStoreInfo` of every store and the latest static
//! chunk per [`ChunkSummary::static_key`](crate::wire::ChunkSummary), within a byte bound.

use crate::stats::FileSinkStats;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::{EncodedMessage, MessageKind, StoreInfo};

/// The messages kept for replay, and their bytes.
#[derive(Debug, Default)]
pub(super) struct Replay {
    /// The latest `SetStoreInfo` per store (a file may hold several recordings, e.g. from
    /// `spate serve`). Always kept: a file needs them, and there is one per store.
    store_infos: Vec<(Option<StoreInfo>, EncodedMessage)>,
    /// The latest static chunk per key, in the order the keys first appeared.
    statics: Vec<(String, EncodedMessage)>,
    /// Bytes of every message above.
    bytes: u64,
    counters: Arc<Counters>,
}

/// Counters shared with [`FileSinkStatsHandle`]s.
#[derive(Debug, Default)]
struct Counters {
    replay_messages: AtomicU64,
    replay_bytes: AtomicU64,
    statics_not_kept: AtomicU64,
    statics_not_kept_bytes: AtomicU64,
}

/// A live view of a [`FileSink`](super::FileSink)'s counters, readable from any thread
/// (take it with [`FileSink::stats_handle`](super::FileSink::stats_handle) before the sink
/// moves into a recording).
#[derive(Clone, Debug)]
pub struct FileSinkStatsHandle {
    counters: Arc<Counters>,
}

impl FileSinkStatsHandle {
    /// The counters now.
    pub fn stats(&self) -> FileSinkStats {
        let c = &self.counters;
        let r = Ordering::Relaxed;
        FileSinkStats {
            replay_messages: c.replay_messages.load(r),
            replay_bytes: c.replay_bytes.load(r),
            statics_not_kept: c.statics_not_kept.load(r),
            statics_not_kept_bytes: c.statics_not_kept_bytes.load(r),
        }
    }
}

impl Replay {
    pub(super) fn handle(&self) -> FileSinkStatsHandle {
        FileSinkStatsHandle {
            counters: self.counters.clone(),
        }
    }

    /// Takes `msg` (just written) into the set if it is a store info, or a static chunk that
    /// fits `max_bytes` with the rest; a static that does not fit is counted, and the older
    /// chunk under its key is dropped (replaying it would show stale data as the latest).
    pub(super) fn keep(&mut self, msg: &EncodedMessage, max_bytes: u64) {
        let len = msg.len() as u64;
        match msg.kind() {
            MessageKind::SetStoreInfo => {
                let store = msg.store().cloned();
                match self.store_infos.iter_mut().find(|(s, _)| *s == store) {
                    Some(slot) => {
                        self.bytes -= slot.1.len() as u64;
                        slot.1 = msg.clone();
                    }
                    None => self.store_infos.push((store, msg.clone())),
                }
                self.bytes += len;
            }
            MessageKind::ArrowMsg => {
                let Some(key) = msg.summary().and_then(|s| s.static_key()) else {
                    return;
                };
                let slot = self.statics.iter().position(|(k, _)| *k == key);
                if let Some(i) = slot {
                    self.bytes -= self.statics[i].1.len() as u64;
                }
                match slot {
                    _ if self.bytes + len > max_bytes => {
                        if let Some(i) = slot {
                            self.statics.remove(i);
                        }
                        let c = &self.counters;
                        c.statics_not_kept.fetch_add(1, Ordering::Relaxed);
                        c.statics_not_kept_bytes.fetch_add(len, Ordering::Relaxed);
                    }
                    Some(i) => {
                        self.statics[i].1 = msg.clone();
                        self.bytes += len;
                    }
                    None => {
                        self.statics.push((key, msg.clone()));
                        self.bytes += len;
                    }
                }
            }
            _ => return,
        }
        let c = &self.counters;
        let n = (self.store_infos.len() + self.statics.len()) as u64;
        c.replay_messages.store(n, Ordering::Relaxed);
        c.replay_bytes.store(self.bytes, Ordering::Relaxed);
    }

    /// The messages to start a new file with: store infos first, then statics.
    pub(super) fn messages(&self) -> impl Iterator<Item = &EncodedMessage> {
        self.store_infos
            .iter()
            .map(|(_, m)| m)
            .chain(self.statics.iter().map(|(_, m)| m))
    }
}
