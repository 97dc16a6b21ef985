//! Decoding a received `WriteMessagesRequest` (or `ReadMessagesResponse`, which has the
//! same shape: field 1 = `LogMsg`) into an [`EncodedMessage`] that passes the body on as it
//! arrived. Untrusted input: every error is typed, nothing panics.

use bytes::{Buf, Bytes};
use prost::encoding::{WireType, decode_key, decode_varint};

use crate::wire::{DecodeError, DecodeErrorKind, DecodeLimits, EncodedMessage, MessageKind};

/// Why a received request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The bytes are not a valid protobuf `WriteMessagesRequest`/`LogMsg`.
    #[error("malformed protobuf")]
    Malformed(#[from] prost::DecodeError),
    /// A length-delimited field runs past the end of the message.
    #[error("a length-delimited field runs past the end of the message")]
    Truncated,
    /// A `LogMsg` message field was not encoded as length-delimited.
    #[error("LogMsg field {0} is not length-delimited")]
    WireType(u32),
    /// The request holds no `LogMsg`, or a `LogMsg` with no message in it.
    #[error("the request holds no LogMsg message")]
    Empty,
    /// The `LogMsg` holds a kind this version does not know (a newer client's message).
    #[error("LogMsg field {0} is not a message kind this server knows")]
    UnknownKind(u32),
    /// The body is not a valid message of its kind (e.g. an ArrowMsg whose payload is not a
    /// Rerun chunk, or decompresses to more than the limits allow).
    #[error("invalid {kind:?}")]
    Invalid {
        /// The `LogMsg` kind.
        kind: MessageKind,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
}

/// What a [`RequestError`] is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// Not valid protobuf (or truncated, or wrong wire types).
    Malformed,
    /// No `LogMsg`, or a kind this server does not know.
    UnknownKind,
    /// A well-formed message of a known kind whose content is invalid.
    InvalidMessage,
    /// A message whose payload decompresses to more than the limit allows.
    Oversized,
    /// A message within the limits whose decompressed payload could not be allocated.
    OutOfMemory,
}

impl RequestError {
    /// The counter this error goes to.
    pub fn reason(&self) -> RejectReason {
        match self {
            Self::Malformed(_) | Self::Truncated | Self::WireType(_) => RejectReason::Malformed,
            Self::Empty | Self::UnknownKind(_) => RejectReason::UnknownKind,
            Self::Invalid { source, .. } => match source.kind {
                DecodeErrorKind::UncompressedOverLimit { .. } => RejectReason::Oversized,
                DecodeErrorKind::Allocation { .. } => RejectReason::OutOfMemory,
                _ => RejectReason::InvalidMessage,
            },
        }
    }
}

fn take_len(buf: &mut Bytes) -> Result<Bytes, RequestError> {
    let len = decode_varint(buf)?;
    if len > buf.remaining() as u64 {
        return Err(RequestError::Truncated);
    }
    Ok(buf.split_to(len as usize))
}

fn skip(wire: WireType, buf: &mut Bytes) -> Result<(), RequestError> {
    Ok(prost::encoding::skip_field(
        wire,
        0,
        buf,
        prost::encoding::DecodeContext::default(),
    )?)
}

/// Splits a `WriteMessagesRequest` into the `LogMsg` kind and its body, without copying
/// (the last occurrence of a field wins, as protobuf merging says).
pub fn split_request(mut buf: Bytes) -> Result<(MessageKind, Bytes), RequestError> {
    let mut log_msg = None;
    while buf.has_remaining() {
        let (field, wire) = decode_key(&mut buf)?;
        if field == 1 {
            if wire != WireType::LengthDelimited {
                return Err(RequestError::WireType(field));
            }
            log_msg = Some(take_len(&mut buf)?);
        } else {
            skip(wire, &mut buf)?;
        }
    }
    let mut inner = log_msg.ok_or(RequestError::Empty)?;
    let mut body = None;
    let mut unknown = None;
    while inner.has_remaining() {
        let (field, wire) = decode_key(&mut inner)?;
        let kind = match field {
            1 => MessageKind::SetStoreInfo,
            2 => MessageKind::ArrowMsg,
            3 => MessageKind::BlueprintActivationCommand,
            _ => {
                skip(wire, &mut inner)?;
                unknown = Some(field);
                continue;
            }
        };
        if wire != WireType::LengthDelimited {
            return Err(RequestError::WireType(field));
        }
        body = Some((kind, take_len(&mut inner)?));
    }
    match (body, unknown) {
        (Some(b), _) => Ok(b),
        (None, Some(field)) => Err(RequestError::UnknownKind(field)),
        (None, None) => Err(RequestError::Empty),
    }
}

/// Decodes a received `WriteMessagesRequest` into a message that carries the received body
/// bytes unchanged ([`EncodedMessage::from_received`]: validated within `limits`, with the
/// footer-manifest summary of a chunk).
///
/// ```
/// use spate::net::{decode_request, RejectReason};
/// use spate::wire::{DecodeLimits, EncodedMessage, MessageKind, StoreInfo};
///
/// let info = EncodedMessage::set_store_info(&StoreInfo::new("app", "rec")?);
/// // WriteMessagesRequest{ 1: LogMsg{ 1: SetStoreInfo } }
/// let body = info.to_contiguous();
/// let mut req = vec![0x0a, (body.len() + 2) as u8, 0x0a, body.len() as u8];
/// req.extend_from_slice(&body);
/// let msg = decode_request(req.into(), &DecodeLimits::default())?;
/// assert_eq!(msg.kind(), MessageKind::SetStoreInfo);
/// assert_eq!(msg.to_contiguous(), body);
///
/// let bad = decode_request(vec![0x0a, 0x05, 0x12].into(), &DecodeLimits::default()).unwrap_err();
/// assert_eq!(bad.reason(), RejectReason::Malformed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_request(
    request: Bytes,
    limits: &DecodeLimits,
) -> Result<EncodedMessage, RequestError> {
    let (kind, body) = split_request(request)?;
    validate_body(kind, body, limits)
}

/// The second half of [`decode_request`]: validates a body [`split_request`] split off.
pub(crate) fn validate_body(
    kind: MessageKind,
    body: Bytes,
    limits: &DecodeLimits,
) -> Result<EncodedMessage, RequestError> {
    EncodedMessage::from_received(kind, body, limits)
        .map_err(|source| RequestError::Invalid { kind, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &'static [u8]) -> Result<EncodedMessage, RequestError> {
        decode_request(Bytes::from_static(bytes), &DecodeLimits::default())
    }

    #[test]
    fn unknown_and_empty_kinds_are_told_apart() {
        // LogMsg{ 9: "" }
        let e = decode(&[0x0a, 0x02, 0x4a, 0x00]).unwrap_err();
        assert!(matches!(e, RequestError::UnknownKind(9)), "{e}");
        let e = decode(&[]).unwrap_err();
        assert!(matches!(e, RequestError::Empty), "{e}");
        let e = decode(&[0x10, 0x01]).unwrap_err();
        assert!(matches!(e, RequestError::Empty), "{e}");
        // LogMsg{ 2: varint }
        let e = decode(&[0x0a, 0x02, 0x10, 0x01]).unwrap_err();
        assert!(matches!(e, RequestError::WireType(2)), "{e}");
        // LogMsg{ 2: ArrowMsg "junk" }
        let e = decode(&[0x0a, 0x03, 0x12, 0x01, 0xff]).unwrap_err();
        assert_eq!(e.reason(), RejectReason::InvalidMessage, "{e}");
    }

    #[test]
    fn a_payload_decompressing_past_the_limit_is_oversized() {
        use crate::wire::{Compression, StoreInfo};
        use crate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
        let store = StoreInfo::new("a", "r").unwrap();
        let chunk = Chunk::from_row(
            EntityPath::parse("p").unwrap(),
            RowId::new(),
            &TimePoint::default(),
            &Points3D::new(vec![[0.0; 3]; 1000]),
        )
        .unwrap();
        let body = EncodedMessage::arrow_msg(&chunk, &store, Compression::Lz4)
            .unwrap()
            .to_contiguous();
        let claim = EncodedMessage::claimed_decompressed_bytes(MessageKind::ArrowMsg, &body);
        assert!(claim > 12_000, "{claim}");
        let limits = DecodeLimits::default().max_uncompressed_bytes(claim - 1);
        let e = validate_body(MessageKind::ArrowMsg, body.clone(), &limits).unwrap_err();
        assert_eq!(e.reason(), RejectReason::Oversized, "{e}");
        let limits = DecodeLimits::default().max_uncompressed_bytes(claim);
        assert!(validate_body(MessageKind::ArrowMsg, body, &limits).is_ok());
    }
}
