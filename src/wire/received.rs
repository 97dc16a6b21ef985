//! Messages received from elsewhere (a gRPC client, a file), validated and passed on as
//! they arrived. Apart from the encoder: this is where decoding meets [`EncodedMessage`].

use std::sync::Arc;

use bytes::Bytes;

use super::decode::{DecodeError, DecodeErrorKind, Message, decode_body};
use super::encode::{ChunkSummary, EncodedMessage, MessageKind, StoreInfo};

impl EncodedMessage {
    /// A message body received from elsewhere — the `LogMsg` of a gRPC
    /// `WriteMessagesRequest` or `ReadMessagesResponse`, `kind` being its oneof field —
    /// passed on **without re-encoding**: the body stays the one part, as it arrived.
    ///
    /// The body is validated first, with the same checks as [`decode_rrd`](super::decode_rrd)
    /// (an ArrowMsg's payload is decompressed if it is LZ4 and decoded as a chunk), and what
    /// a file's footer manifest needs is taken from it ([`summary`](Self::summary), computed
    /// from the decoded chunk, so it is right for compressed payloads too). The decoded
    /// chunk itself is then dropped.
    ///
    /// ```
    /// use spate::wire::{Compression, EncodedMessage, MessageKind, StoreInfo};
    /// use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
    ///
    /// let store = StoreInfo::new("demo", "rec-1")?;
    /// let chunk = Chunk::from_row(EntityPath::parse("points")?, RowId::new(),
    ///     &TimePoint::default().with_sequence("frame", 7)?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
    /// let sent = EncodedMessage::arrow_msg(&chunk, &store, Compression::Lz4)?;
    ///
    /// let got = EncodedMessage::from_received(MessageKind::ArrowMsg, sent.to_contiguous())?;
    /// assert_eq!(got.to_contiguous(), sent.to_contiguous()); // the same bytes
    /// let summary = got.summary().unwrap();
    /// assert_eq!((summary.chunk_id, summary.num_rows), (chunk.id(), 1));
    /// assert_eq!(summary.time_ranges[0].1, Some((7, 7)));
    ///
    /// assert!(EncodedMessage::from_received(MessageKind::ArrowMsg, "junk".into()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_received(kind: MessageKind, body: Bytes) -> Result<Self, DecodeError> {
        if kind == MessageKind::End {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::UnexpectedEnd,
            });
        }
        let mut out = Self::from_body(kind, body.clone());
        match decode_body(kind, body, 0)? {
            Message::SetStoreInfo(m) => {
                let info = m.info.unwrap_or_default();
                let fallback = info.application_id.as_ref().map(|a| a.id.as_str());
                out.store = info
                    .store_id
                    .as_ref()
                    .and_then(|id| StoreInfo::from_proto(id, fallback));
                if out.store.is_none() {
                    return Err(DecodeError {
                        offset: 0,
                        kind: DecodeErrorKind::MissingField {
                            message: "StoreInfo",
                            field: "store_id.application_id",
                        },
                    });
                }
            }
            Message::ArrowMsg {
                store_id,
                uncompressed_size,
                chunk,
                ..
            } => {
                let store = StoreInfo::from_proto(&store_id, None).ok_or(DecodeError {
                    offset: 0,
                    kind: DecodeErrorKind::MissingField {
                        message: "ArrowMsg",
                        field: "store_id.application_id",
                    },
                })?;
                out.summary = Some(Arc::new(ChunkSummary::of(
                    &chunk,
                    &store,
                    uncompressed_size,
                )));
            }
            Message::BlueprintActivationCommand(_) | Message::End(_) => {}
        }
        Ok(out)
    }
}
