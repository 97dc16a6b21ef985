//! Messages received from elsewhere (a gRPC client, a file), validated and passed on as
//! they arrived. Apart from the encoder: this is where decoding meets [`EncodedMessage`].

use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;

use super::decode::{DecodeError, DecodeErrorKind, DecodeLimits, Message, decode_body};
use super::encode::{ChunkSummary, EncodedMessage, MessageKind, StoreInfo};
use super::proto;

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
    /// The body is untrusted: nothing is allocated from a size it claims beyond `limits`
    /// (an LZ4 payload claiming more than
    /// [`max_uncompressed_bytes`](DecodeLimits::max_uncompressed_bytes) is refused before
    /// decompression), and nothing panics.
    ///
    /// ```
    /// use spate::wire::{Compression, DecodeLimits, EncodedMessage, MessageKind, StoreInfo};
    /// use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
    ///
    /// let store = StoreInfo::new("demo", "rec-1")?;
    /// let chunk = Chunk::from_row(EntityPath::parse("points")?, RowId::new(),
    ///     &TimePoint::default().with_sequence("frame", 7)?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
    /// let sent = EncodedMessage::arrow_msg(&chunk, &store, Compression::Lz4)?;
    ///
    /// let limits = DecodeLimits::default();
    /// let got = EncodedMessage::from_received(MessageKind::ArrowMsg, sent.to_contiguous(), &limits)?;
    /// assert_eq!(got.to_contiguous(), sent.to_contiguous()); // the same bytes
    /// let summary = got.summary().unwrap();
    /// assert_eq!((summary.chunk_id, summary.num_rows), (chunk.id(), 1));
    /// assert_eq!(summary.time_ranges[0].1, Some((7, 7)));
    ///
    /// assert!(EncodedMessage::from_received(MessageKind::ArrowMsg, "junk".into(), &limits).is_err());
    ///
    /// // A payload that decompresses to more than the limit is refused, unallocated.
    /// let small = DecodeLimits::default().max_uncompressed_bytes(8);
    /// assert!(EncodedMessage::from_received(MessageKind::ArrowMsg, sent.to_contiguous(), &small).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_received(
        kind: MessageKind,
        body: Bytes,
        limits: &DecodeLimits,
    ) -> Result<Self, DecodeError> {
        if kind == MessageKind::End {
            return Err(DecodeError {
                offset: 0,
                kind: DecodeErrorKind::UnexpectedEnd,
            });
        }
        let mut out = Self::from_body(kind, body.clone());
        match decode_body(kind, body, 0, limits)? {
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

    /// The bytes validating `body` with [`from_received`](Self::from_received) will allocate
    /// to decompress it, as the body claims (an LZ4 ArrowMsg's `uncompressed_size`; 0 for
    /// everything else, and for bodies that do not parse). A server reserves this much of a
    /// memory budget before validating; `from_received` checks the claim against its limits.
    ///
    /// ```
    /// use spate::wire::{Compression, EncodedMessage, MessageKind, StoreInfo};
    /// use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
    ///
    /// let store = StoreInfo::new("demo", "rec-1")?;
    /// let chunk = Chunk::from_row(EntityPath::parse("points")?, RowId::new(),
    ///     &TimePoint::default(), &Points3D::new(vec![[1.0, 2.0, 3.0]; 100]))?;
    /// let lz4 = EncodedMessage::arrow_msg(&chunk, &store, Compression::Lz4)?.to_contiguous();
    /// assert!(EncodedMessage::claimed_decompressed_bytes(MessageKind::ArrowMsg, &lz4) > 1200);
    /// let plain = EncodedMessage::arrow_msg(&chunk, &store, Compression::Off)?.to_contiguous();
    /// assert_eq!(EncodedMessage::claimed_decompressed_bytes(MessageKind::ArrowMsg, &plain), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn claimed_decompressed_bytes(kind: MessageKind, body: &Bytes) -> u64 {
        if kind != MessageKind::ArrowMsg {
            return 0;
        }
        // Decoding a `Bytes` payload field slices the body: no copy.
        match proto::ArrowMsg::decode(body.clone()) {
            Ok(m) if m.compression == proto::Compression::Lz4 as i32 => m.uncompressed_size,
            _ => 0,
        }
    }
}
