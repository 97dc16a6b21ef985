//! What a [`ProxyServer`](super::ProxyServer) keeps for late `ReadMessages` readers, with
//! Rerun's rule (`rerun-format.md` §7.3): store infos, blueprint messages and static chunks
//! are kept; temporal chunks go oldest-first once the total is over the memory limit.

use std::collections::VecDeque;

use tokio::sync::broadcast;

use crate::wire::{EncodedMessage, MessageKind};

/// The kept messages and the live feed, behind the server's lock (so a new reader gets
/// the history and then every later message, with no gap and no repeat).
#[derive(Debug)]
pub(crate) struct History {
    persistent: Vec<EncodedMessage>,
    statics: Vec<EncodedMessage>,
    temporal: VecDeque<EncodedMessage>,
    bytes: u64,
    limit: u64,
    live: broadcast::Sender<EncodedMessage>,
}

impl History {
    /// Keeps temporal chunks up to `limit` bytes in total; live readers may fall behind by
    /// `lag_messages` messages before they miss some.
    pub(crate) fn new(limit: u64, lag_messages: usize) -> Self {
        Self {
            persistent: Vec::new(),
            statics: Vec::new(),
            temporal: VecDeque::new(),
            bytes: 0,
            limit,
            live: broadcast::channel(lag_messages.max(1)).0,
        }
    }

    /// Keeps `msg`, feeds it to the live readers, and returns how many temporal chunks were
    /// evicted to stay within the limit.
    pub(crate) fn push(&mut self, msg: &EncodedMessage) -> u64 {
        let len = msg.len() as u64;
        let blueprint = msg.store().is_some_and(|s| s.is_blueprint());
        match msg.kind() {
            MessageKind::ArrowMsg if !blueprint => {
                if msg.summary().is_some_and(|s| s.is_static) {
                    self.statics.push(msg.clone());
                } else {
                    self.temporal.push_back(msg.clone());
                }
            }
            _ => self.persistent.push(msg.clone()),
        }
        self.bytes += len;
        let mut evicted = 0;
        while self.bytes > self.limit {
            let Some(old) = self.temporal.pop_front() else {
                break;
            };
            self.bytes -= old.len() as u64;
            evicted += 1;
        }
        // No reader listening is fine.
        let _ = self.live.send(msg.clone());
        evicted
    }

    /// Bytes kept.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The kept messages (store infos and blueprint messages, then static, then temporal
    /// chunks, as Rerun replays them) and a receiver of every message pushed after.
    pub(crate) fn subscribe(&self) -> (Vec<EncodedMessage>, broadcast::Receiver<EncodedMessage>) {
        let backlog = self
            .persistent
            .iter()
            .chain(&self.statics)
            .chain(&self.temporal)
            .cloned()
            .collect();
        (backlog, self.live.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Compression, StoreInfo};
    use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};

    fn chunk_msg(store: &StoreInfo, frame: Option<i64>, points: usize) -> EncodedMessage {
        let time = match frame {
            Some(f) => TimePoint::default().with_sequence("frame", f).unwrap(),
            None => TimePoint::default(),
        };
        let chunk = Chunk::from_row(
            EntityPath::parse("p").unwrap(),
            RowId::new(),
            &time,
            &Points3D::new(vec![[0.0; 3]; points]),
        )
        .unwrap();
        EncodedMessage::arrow_msg(&chunk, store, Compression::Off).unwrap()
    }

    #[test]
    fn static_data_is_kept_and_the_oldest_temporal_goes_first() {
        let store = StoreInfo::new("a", "r").unwrap();
        let info = EncodedMessage::set_store_info(&store);
        let stat = chunk_msg(&store, None, 100);
        let t: Vec<_> = (0..4).map(|f| chunk_msg(&store, Some(f), 100)).collect();
        // Room for the info, the static chunk and two temporal chunks.
        let limit = (info.len() + stat.len() + 2 * t[0].len()) as u64;
        let mut h = History::new(limit, 16);
        let (_, mut live) = h.subscribe();
        assert_eq!(h.push(&info) + h.push(&stat), 0);
        let evicted: u64 = t.iter().map(|m| h.push(m)).sum();
        assert_eq!(evicted, 2);
        assert!(h.bytes() <= limit);
        let (kept, _) = h.subscribe();
        let ids: Vec<_> = kept
            .iter()
            .map(|m| m.summary().map(|s| s.chunk_id))
            .collect();
        let want = vec![
            None,
            Some(stat.summary().unwrap().chunk_id),
            Some(t[2].summary().unwrap().chunk_id),
            Some(t[3].summary().unwrap().chunk_id),
        ];
        assert_eq!(ids, want);
        // The live reader saw all six.
        let mut n = 0;
        while live.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 6);
    }
}
