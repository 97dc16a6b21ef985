//! The `MessageProxyService` messages and the gRPC codecs, without `protoc`.
//!
//! A `WriteMessagesRequest` is `0a <len> LogMsg` and the `LogMsg` is `<tag> <len> body`
//! (tag 1 SetStoreInfo, 2 ArrowMsg, 3 BlueprintActivationCommand), where `body` is exactly
//! the [`EncodedMessage`](crate::wire::EncodedMessage)'s parts. The client (`client.rs`)
//! sends the two small prefixes and then the parts themselves: the payload is neither
//! re-encoded nor copied. The server side decodes requests without copying the body, and
//! writes `ReadMessages` responses as the kept messages' own parts ([`response_head`]),
//! without copying them.

use bytes::{Buf, Bytes};
use hyper::body::Body;
use prost::encoding::{WireType, encode_key, encode_varint};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use super::request::{RequestError, split_request};
use crate::ErrorChain;
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
}
