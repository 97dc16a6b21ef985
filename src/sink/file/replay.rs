//! What a rotating [`FileSink`](super::FileSink) writes at the start of every new file, so
//! that each file opens alone: the latest `SetStoreInfo` of every store and the latest static
//! chunk per [`ChunkSummary::static_key`](crate::wire::ChunkSummary).

use crate::wire::{EncodedMessage, MessageKind, StoreInfo};

/// The messages kept for replay.
#[derive(Debug, Default)]
pub(super) struct Replay {
    /// The latest `SetStoreInfo` per store (a file may hold several recordings, e.g. from
    /// `spate serve`).
    store_infos: Vec<(Option<StoreInfo>, EncodedMessage)>,
    /// The latest static chunk per key, in the order the keys first appeared.
    statics: Vec<(String, EncodedMessage)>,
}

impl Replay {
    /// Takes `msg` (just written) into the set if it is a store info or a static chunk.
    pub(super) fn keep(&mut self, msg: &EncodedMessage) {
        match msg.kind() {
            MessageKind::SetStoreInfo => {
                let store = msg.store().cloned();
                match self.store_infos.iter_mut().find(|(s, _)| *s == store) {
                    Some(slot) => slot.1 = msg.clone(),
                    None => self.store_infos.push((store, msg.clone())),
                }
            }
            MessageKind::ArrowMsg => {
                if let Some(key) = msg.summary().and_then(|s| s.static_key()) {
                    match self.statics.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = msg.clone(),
                        None => self.statics.push((key, msg.clone())),
                    }
                }
            }
            _ => {}
        }
    }

    /// The messages to start a new file with: store infos first, then statics.
    pub(super) fn messages(&self) -> impl Iterator<Item = &EncodedMessage> {
        self.store_infos
            .iter()
            .map(|(_, m)| m)
            .chain(self.statics.iter().map(|(_, m)| m))
    }
}
