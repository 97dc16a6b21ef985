//! The `MessageProxyService` messages and the gRPC codecs, without `protoc`.
//!
//! A `WriteMessagesRequest` is `0a <len> LogMsg` and the `LogMsg` is `<tag> <len> body`
//! (tag 1 SetStoreInfo, 2 ArrowMsg, 3 BlueprintActivationCommand), where `body` is exactly
//! the [`EncodedMessage`](crate::wire::EncodedMessage)'s parts. The client (`client.rs`)
//! sends the two small prefixes and then the parts themselves: the payload is neither
//! re-encoded nor copied. The server side decodes requests without copying the body.
//!
//! `spate serve` reads its requests' gRPC framing itself ([`MessageBody`]): a message's
//! announced length is checked against the limit and reserved before its bytes are read,
//! its buffer is allocated fallibly, and a started message that stops arriving ends the
//! call. It writes `ReadMessages` responses as the kept messages' own parts
//! ([`response_head`]), without copying them.

use std::collections::{TryReserveError, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, Incoming};
use prost::encoding::{WireType, encode_key, encode_varint};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::request::{RequestError, split_request};
use crate::error::ErrorChain;
use crate::wire::{MessageKind, proto};

/// `/rerun.sdk_comms.v1alpha1.MessageProxyService/WriteMessages`
pub(crate) const WRITE_MESSAGES: &str =
    "/rerun.sdk_comms.v1alpha1.MessageProxyService/WriteMessages";
/// `/rerun.sdk_comms.v1alpha1.MessageProxyService/ReadMessages`
pub(crate) const READ_MESSAGES: &str = "/rerun.sdk_comms.v1alpha1.MessageProxyService/ReadMessages";

/// `rerun.sdk_comms.v1alpha1.WriteMessagesResponse` (empty).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct WriteMessagesResponse {}

/// `rerun.sdk_comms.v1alpha1.ReadMessagesRequest` (empty).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ReadMessagesRequest {}

/// `rerun.sdk_comms.v1alpha1.ReadMessagesResponse`
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadMessagesResponse {
    /// The message.
    #[prost(message, optional, tag = "1")]
    pub log_msg: Option<proto::LogMsg>,
}

fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

/// The two prefixes of `WriteMessagesRequest{log_msg: LogMsg{<kind>: body}}` for a body of
/// `body_len` bytes; `None` for kinds that have no `LogMsg` field (End).
pub(crate) fn request_prefix(kind: MessageKind, body_len: usize) -> Option<([u8; 32], usize)> {
    let tag = kind.log_msg_tag()?;
    let mut out = [0u8; 32];
    let mut w = &mut out[..];
    let inner_key_len = varint_len(u64::from(tag << 3));
    let log_msg_len = inner_key_len + varint_len(body_len as u64) + body_len;
    encode_key(1, WireType::LengthDelimited, &mut w);
    encode_varint(log_msg_len as u64, &mut w);
    encode_key(tag, WireType::LengthDelimited, &mut w);
    encode_varint(body_len as u64, &mut w);
    let n = 32 - w.len();
    Some((out, n))
}

/// The 5-byte gRPC prefix (uncompressed, length) and the two `LogMsg` prefixes of a
/// `ReadMessagesResponse{log_msg: LogMsg{<kind>: body}}` (the same bytes as a
/// `WriteMessagesRequest`) for a body of `body_len` bytes: sent, then the body's own parts,
/// this is one gRPC message. `None` for kinds with no `LogMsg` field (End) and bodies too
/// long for a gRPC message.
pub(crate) fn response_head(kind: MessageKind, body_len: usize) -> Option<Bytes> {
    let (prefix, n) = request_prefix(kind, body_len)?;
    let len = u32::try_from(n + body_len).ok()?;
    let mut head = Vec::with_capacity(5 + n);
    head.push(0);
    head.extend_from_slice(&len.to_be_bytes());
    head.extend_from_slice(&prefix[..n]);
    Some(head.into())
}

/// `content-type: application/grpc`.
pub(crate) fn grpc_response<B>(body: B) -> http::Response<tonic::body::Body>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut response = http::Response::new(tonic::body::Body::new(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// The body of an OK answer to a client-streaming call whose response message is empty
/// (`WriteMessagesResponse{}`): one empty gRPC message, then the `grpc-status: 0` trailers.
#[derive(Debug, Default)]
pub(crate) struct EmptyOk {
    sent: u8,
}

impl Body for EmptyOk {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.sent += 1;
        Poll::Ready(match self.sent {
            1 => Some(Ok(Frame::data(Bytes::from_static(&[0; 5])))),
            2 => {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                Some(Ok(Frame::trailers(trailers)))
            }
            _ => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= 2
    }
}

/// Why a message could not be read from a request body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The connection broke or the client reset its stream.
    #[error("the request stream broke")]
    Transport(#[source] hyper::Error),
    /// The client ended its stream in the middle of a message.
    #[error("the request ended inside a message")]
    EndedInside,
    /// A started message got no further bytes for the stall timeout.
    #[error("no bytes of a started message for {0:?}")]
    Stalled(Duration),
    /// The buffer of a message within the limit could not be allocated.
    #[error("cannot allocate {bytes} bytes for a request")]
    Allocation {
        /// Its length.
        bytes: usize,
        /// The allocator's refusal.
        #[source]
        source: TryReserveError,
    },
}

/// The gRPC messages of a request body (the client's stream of a call), read as the server
/// asks for them: [`next_prefix`](Self::next_prefix) waits as long as it takes for a
/// message to start (a client may be quiet between messages), then every further read of
/// that message must come within `stall` ([`BodyError::Stalled`]). Frames are read only
/// when bytes are needed, so at most one HTTP/2 DATA frame beyond the current message is
/// held here; the rest waits in HTTP/2 flow control.
#[derive(Debug)]
pub(crate) struct MessageBody {
    body: Incoming,
    chunks: VecDeque<Bytes>,
    buffered: usize,
    stall: Duration,
}

impl MessageBody {
    pub(crate) fn new(body: Incoming, stall: Duration) -> Self {
        Self {
            body,
            chunks: VecDeque::new(),
            buffered: 0,
            stall,
        }
    }

    /// The next message's gRPC prefix: its compression flag and announced length; `None`
    /// when the client ends its stream between messages.
    pub(crate) async fn next_prefix(&mut self) -> Result<Option<(u8, u32)>, BodyError> {
        while self.buffered < 5 {
            let started = self.buffered > 0;
            if !self.fill(started).await? {
                return if started {
                    Err(BodyError::EndedInside)
                } else {
                    Ok(None)
                };
            }
        }
        let mut prefix = [0u8; 5];
        self.copy_out(&mut prefix);
        let [flag, len @ ..] = prefix;
        Ok(Some((flag, u32::from_be_bytes(len))))
    }

    /// The `len` bytes of the message whose prefix was just read, in one buffer of exactly
    /// that size, allocated (fallibly) before anything is copied into it.
    pub(crate) async fn read_message(&mut self, len: usize) -> Result<Bytes, BodyError> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(len)
            .map_err(|source| BodyError::Allocation { bytes: len, source })?;
        while buf.len() < len {
            if self.chunks.is_empty() && !self.fill(true).await? {
                return Err(BodyError::EndedInside);
            }
            let Some(chunk) = self.chunks.front_mut() else {
                continue;
            };
            let n = chunk.len().min(len - buf.len());
            buf.extend_from_slice(&chunk[..n]);
            chunk.advance(n);
            self.buffered -= n;
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
        }
        Ok(buf.into())
    }

    /// Fills `out` from the buffered chunks (the caller made sure there are enough).
    fn copy_out(&mut self, out: &mut [u8]) {
        let mut filled = 0;
        while filled < out.len() {
            let Some(chunk) = self.chunks.front_mut() else {
                return;
            };
            let n = chunk.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&chunk[..n]);
            chunk.advance(n);
            self.buffered -= n;
            filled += n;
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    /// Reads the next DATA frame (trailers are skipped); `false` at the end of the stream.
    /// `started`: a message is under way, so the wait is bounded by the stall timeout.
    async fn fill(&mut self, started: bool) -> Result<bool, BodyError> {
        loop {
            let next = std::future::poll_fn(|cx| Pin::new(&mut self.body).poll_frame(cx));
            let frame = if started {
                tokio::time::timeout(self.stall, next)
                    .await
                    .map_err(|_| BodyError::Stalled(self.stall))?
            } else {
                next.await
            };
            match frame {
                None => return Ok(false),
                Some(Err(e)) => return Err(BodyError::Transport(e)),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && !data.is_empty()
                    {
                        self.buffered += data.len();
                        self.chunks.push_back(data);
                        return Ok(true);
                    }
                }
            }
        }
    }
}

/// A received `WriteMessagesRequest`: the `LogMsg` kind and the inner body bytes (as they
/// would appear in an `.rrd` file), or `None` when the request held no `LogMsg`.
#[derive(Clone, Debug)]
pub(crate) struct RequestFrame {
    /// Length of the whole request.
    pub(crate) len: usize,
    /// Kind and body (absent when the receiver discards bodies or the request was empty).
    pub(crate) body: Option<(MessageKind, Bytes)>,
}

/// Parses a `WriteMessagesRequest` without copying the body: [`split_request`] (the
/// parser `spate serve` uses), except that a request with no `LogMsg`, or only `LogMsg`
/// kinds this version does not know (a newer client's), is `None` rather than an error.
pub(crate) fn parse_request(buf: Bytes) -> Result<Option<(MessageKind, Bytes)>, RequestError> {
    match split_request(buf) {
        Ok(body) => Ok(Some(body)),
        Err(RequestError::Empty | RequestError::UnknownKind(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Server codec: receives `WriteMessagesRequest`s as [`RequestFrame`]s, sends the empty
/// response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReceiveCodec {
    /// Keep the bodies (otherwise only lengths are reported).
    pub(crate) keep: bool,
}

impl Codec for ReceiveCodec {
    type Encode = WriteMessagesResponse;
    type Decode = RequestFrame;
    type Encoder = EmptyEncoder;
    type Decoder = ReceiveDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        EmptyEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ReceiveDecoder { keep: self.keep }
    }
}

#[derive(Debug)]
pub(crate) struct EmptyEncoder;

impl Encoder for EmptyEncoder {
    type Item = WriteMessagesResponse;
    type Error = Status;

    fn encode(&mut self, _: WriteMessagesResponse, _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

/// Decodes each gRPC message as its raw bytes, splitting tonic's buffer (no copy): the
/// `WriteMessagesRequest`s `spate serve` validates itself, the `ReadMessagesResponse`s
/// `read_messages` does.
#[derive(Debug)]
pub(crate) struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

#[derive(Debug)]
pub(crate) struct ReceiveDecoder {
    keep: bool,
}

impl Decoder for ReceiveDecoder {
    type Item = RequestFrame;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<RequestFrame>, Status> {
        let len = src.remaining();
        if !self.keep {
            src.advance(len);
            return Ok(Some(RequestFrame { len, body: None }));
        }
        let bytes = src.copy_to_bytes(len); // splits tonic's buffer: no copy
        let body = parse_request(bytes).map_err(|e| {
            Status::invalid_argument(format!("bad WriteMessagesRequest: {}", ErrorChain(&e)))
        })?;
        Ok(Some(RequestFrame { len, body }))
    }
}

/// The framing of one message, computed once when the sink takes it: the 5-byte gRPC
/// header (not compressed, big-endian `u32` length) and the two protobuf prefixes of its
/// `WriteMessagesRequest{LogMsg{..}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    bytes: [u8; 5 + 32],
    len: u8,
}

impl Head {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Frames a `kind` body of `body_len` bytes as one gRPC message ([`Head`]). `None` for
/// kinds gRPC does not carry (End); `Err(message length)` when the message would not fit
/// gRPC's 32-bit length prefix (4 GiB − 1 bytes, prefixes included).
pub(crate) fn frame_head(kind: MessageKind, body_len: usize) -> Option<Result<Head, u64>> {
    let (prefix, n) = request_prefix(kind, body_len)?;
    let message_len = n as u64 + body_len as u64;
    let Ok(len) = u32::try_from(message_len) else {
        return Some(Err(message_len));
    };
    let mut bytes = [0; 5 + 32];
    bytes[1..5].copy_from_slice(&len.to_be_bytes());
    bytes[5..5 + n].copy_from_slice(&prefix[..n]);
    Some(Ok(Head {
        bytes,
        len: (5 + n) as u8,
    }))
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use prost::encoding::{decode_key, decode_varint};

    use super::*;
    use crate::wire::{EncodedMessage, StoreInfo};

    #[test]
    fn prefix_plus_parts_is_the_prost_encoding() {
        let store = StoreInfo::new("app", "rec").unwrap();
        let msg = EncodedMessage::set_store_info(&store);
        let (prefix, n) = request_prefix(msg.kind(), msg.len()).unwrap();
        let mut ours = prefix[..n].to_vec();
        ours.extend_from_slice(&msg.to_contiguous());
        let info = proto::SetStoreInfo::decode(msg.to_contiguous()).unwrap();
        let theirs = proto::WriteMessagesRequest {
            log_msg: Some(proto::LogMsg {
                msg: Some(proto::log_msg::Msg::SetStoreInfo(info)),
            }),
        }
        .encode_to_vec();
        assert_eq!(ours, theirs);
        let (kind, body) = parse_request(Bytes::from(ours)).unwrap().unwrap();
        assert_eq!(kind, MessageKind::SetStoreInfo);
        assert_eq!(body, msg.to_contiguous());
        assert!(request_prefix(MessageKind::End, 3).is_none());
    }

    #[test]
    fn large_bodies_get_long_varints() {
        for len in [0usize, 127, 128, 16_383, 16_384, 300 << 20] {
            let (prefix, n) = request_prefix(MessageKind::ArrowMsg, len).unwrap();
            let mut b = Bytes::copy_from_slice(&prefix[..n]);
            let (f, w) = decode_key(&mut b).unwrap();
            assert_eq!((f, w), (1, WireType::LengthDelimited));
            let outer = decode_varint(&mut b).unwrap() as usize;
            let (f, _) = decode_key(&mut b).unwrap();
            assert_eq!(f, 2);
            let inner = decode_varint(&mut b).unwrap() as usize;
            assert_eq!(inner, len);
            assert_eq!(outer, n - 1 - varint_len(outer as u64) + len);
        }
    }

    /// The gRPC message length `head` announces.
    fn announced(head: &Head) -> u64 {
        let b = head.as_slice();
        u64::from(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
    }

    #[test]
    fn framing_announces_the_true_length_up_to_the_4_gib_limit() {
        for len in [0usize, 1, 127, 128, 1 << 20, 300 << 20] {
            let head = frame_head(MessageKind::ArrowMsg, len).unwrap().unwrap();
            let (prefix, n) = request_prefix(MessageKind::ArrowMsg, len).unwrap();
            assert_eq!(head.as_slice()[0], 0, "not compressed");
            assert_eq!(&head.as_slice()[5..], &prefix[..n]);
            assert_eq!(announced(&head), (n + len) as u64);
        }
        // The largest body that fits: prefixes + body = u32::MAX exactly.
        let max = u32::MAX as usize;
        let (_, n) = request_prefix(MessageKind::ArrowMsg, max).unwrap();
        let largest = max - n;
        assert_eq!(request_prefix(MessageKind::ArrowMsg, largest).unwrap().1, n);
        let head = frame_head(MessageKind::ArrowMsg, largest).unwrap().unwrap();
        assert_eq!(announced(&head), u64::from(u32::MAX));
        match frame_head(MessageKind::ArrowMsg, largest + 1) {
            Some(Err(len)) => assert_eq!(len, u64::from(u32::MAX) + 1),
            other => panic!("{other:?}"),
        }
        for kind in [
            MessageKind::SetStoreInfo,
            MessageKind::ArrowMsg,
            MessageKind::BlueprintActivationCommand,
        ] {
            assert!(
                matches!(frame_head(kind, 5 << 30), Some(Err(_))),
                "{kind:?}"
            );
        }
        assert!(frame_head(MessageKind::End, 3).is_none(), "End is not sent");
    }
}
