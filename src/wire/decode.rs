//! A validating `.rrd` decoder. Every malformed input gives a typed [`DecodeError`] with
//! the byte offset where it was found; nothing here panics on bad bytes. A file that simply
//! ends early (a crashed writer) is not an error: every complete message is returned along
//! with a [`Truncation`] marker.

use std::collections::{HashSet, TryReserveError};
use std::fmt;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::ArrowError;
use bytes::Bytes;

use super::encode::MessageKind;
use super::proto;
use super::sorbet::{ChunkSchemaError, chunk_from_record_batch};
use crate::chunk::{Chunk, ChunkId, Tuid};
use crate::error::ErrorChain;

/// Largest LZ4 expansion ratio (a raw LZ4 block cannot expand more than ~255×): a claimed
/// `uncompressed_size` above it is a lie whatever the limits.
const MAX_LZ4_RATIO: u64 = 255;

/// What a decoder may allocate from sizes the input claims.
///
/// Every size read from the input is checked before anything is allocated: a message length
/// against what remains of the input, an LZ4 payload's `uncompressed_size` against 255× the
/// payload and against [`max_uncompressed_bytes`](Self::max_uncompressed_bytes). The buffer
/// is then allocated fallibly, so a refused allocation is an error
/// ([`DecodeErrorKind::Allocation`]), never an abort.
///
/// [`decode_rrd`] uses [`DecodeLimits::default`] (files, `spate inspect`); `spate serve`
/// passes its `--max-message-bytes` to [`decode_rrd_with`] /
/// [`EncodedMessage::from_received`](super::EncodedMessage::from_received).
///
/// ```
/// use spate::wire::{DecodeErrorKind, DecodeLimits, decode_rrd_with};
/// let limits = DecodeLimits::default().max_uncompressed_bytes(64 << 20);
/// assert_eq!(limits.max_uncompressed_bytes, 64 << 20);
/// assert_eq!(DecodeLimits::default().max_uncompressed_bytes, 1 << 30);
/// let bad = decode_rrd_with(b"NOPE........", &limits).unwrap_err();
/// assert!(matches!(bad.kind, DecodeErrorKind::NotRrd(_)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Largest decompressed payload (the Arrow IPC bytes of one ArrowMsg or footer manifest)
    /// a decoder allocates: a payload claiming more is refused with
    /// [`DecodeErrorKind::UncompressedOverLimit`] before anything is allocated. Default
    /// 1 GiB, like `spate serve`'s default `--max-message-bytes`.
    pub max_uncompressed_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_uncompressed_bytes: 1 << 30,
        }
    }
}

impl DecodeLimits {
    /// Sets [`max_uncompressed_bytes`](Self::max_uncompressed_bytes).
    pub fn max_uncompressed_bytes(mut self, bytes: u64) -> Self {
        self.max_uncompressed_bytes = bytes;
        self
    }
}

/// What was wrong, without where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The first bytes are not an RRD FourCC.
    #[error("not an RRD stream: expected \"RRF2\", found {0:02x?}")]
    NotRrd([u8; 4]),
    /// `RRF0`/`RRF1`: an RRD from before Rerun 0.23's format.
    #[error("old RRD format {0:?} is not supported (expected RRF2)")]
    OldFormat(String),
    /// The stream was written by a Rerun older than 0.23.
    #[error("RRD written by Rerun {}.{}.{}: versions before 0.23 are incompatible", .0[0], .0[1], .0[2])]
    IncompatibleVersion([u8; 4]),
    /// Stream header compression byte other than 0 or 1.
    #[error("stream header compression flag {0}, expected 0 or 1")]
    BadCompressionFlag(u8),
    /// Serializer other than protobuf (2).
    #[error("stream header serializer {0}, expected 2 (protobuf)")]
    BadSerializer(u8),
    /// Reserved header bytes not zero.
    #[error("stream header reserved bytes {0:02x?}, expected zeros")]
    ReservedBytes([u8; 2]),
    /// A message header kind outside 0..=3.
    #[error("unknown message kind {0}, expected 0..=3")]
    UnknownMessageKind(u64),
    /// Protobuf decoding failed.
    #[error("invalid {message} protobuf")]
    Protobuf {
        /// Which message.
        message: &'static str,
        /// Why.
        #[source]
        source: prost::DecodeError,
    },
    /// A field the format requires is missing.
    #[error("{message} is missing required field {field}")]
    MissingField {
        /// Which message.
        message: &'static str,
        /// Which field.
        field: &'static str,
    },
    /// `ArrowMsg.encoding` is not Arrow IPC.
    #[error("ArrowMsg encoding {0}, expected 1 (Arrow IPC)")]
    UnsupportedEncoding(i32),
    /// Unknown compression enum value.
    #[error("compression {0}, expected 0, 1 or 2")]
    UnknownCompression(i32),
    /// LZ4 decompression failed.
    #[error("LZ4 block decompression failed")]
    Lz4(#[from] lz4_flex::block::DecompressError),
    /// `uncompressed_size` is not what the payload holds, or is impossibly large.
    #[error("uncompressed size: header says {expected} bytes, payload gives {found}")]
    UncompressedSize {
        /// Declared size.
        expected: u64,
        /// Actual (or maximal possible) size.
        found: u64,
    },
    /// An LZ4 payload claims more decompressed bytes than
    /// [`DecodeLimits::max_uncompressed_bytes`] allows; nothing was allocated.
    #[error("LZ4 payload claims {claimed} bytes uncompressed, over the limit of {limit}")]
    UncompressedOverLimit {
        /// The claimed `uncompressed_size`.
        claimed: u64,
        /// The limit.
        limit: u64,
    },
    /// The memory for a payload (within the limits) could not be allocated.
    #[error("cannot allocate {bytes} bytes for a decompressed payload")]
    Allocation {
        /// Bytes asked for.
        bytes: u64,
        /// The allocator's refusal.
        #[source]
        source: TryReserveError,
    },
    /// Arrow IPC decoding failed.
    #[error("Arrow IPC decoding failed")]
    Arrow(#[from] ArrowError),
    /// The Arrow decoder panicked on this input (a bug there, contained here).
    #[error("Arrow IPC decoder failed on malformed input")]
    ArrowPanic,
    /// The IPC stream holds no record batch.
    #[error("Arrow IPC stream has no record batch")]
    NoRecordBatch,
    /// The record batch is not a valid Rerun chunk.
    #[error("invalid chunk")]
    ChunkSchema(#[from] ChunkSchemaError),
    /// `ArrowMsg.chunk_id` differs from the schema's `rerun:id`.
    #[error("ArrowMsg.chunk_id {field} differs from the schema's rerun:id {schema}")]
    ChunkIdMismatch {
        /// The protobuf field.
        field: Tuid,
        /// The schema metadata.
        schema: Tuid,
    },
    /// An End message where only SetStoreInfo, ArrowMsg or BlueprintActivationCommand may
    /// come (a received `LogMsg` has no End).
    #[error("an End message cannot be passed on as a received message")]
    UnexpectedEnd,
    /// After an End message, the 32 bytes are not a StreamFooter.
    #[error("expected a StreamFooter (…RRF2FOOT) after the End message, found {0:02x?}")]
    BadStreamFooter([u8; 8]),
}

/// A malformed input: where (its message), and what (its [`kind`](Self::kind), which is
/// also its [`source`](std::error::Error::source); [`ErrorChain`](crate::ErrorChain) prints
/// both: `at byte 12: unknown message kind 9, expected 0..=3`).
#[derive(Debug, thiserror::Error)]
#[error("at byte {offset}")]
pub struct DecodeError {
    /// Byte offset in the input where the bad structure starts.
    pub offset: u64,
    /// What was wrong.
    #[source]
    pub kind: DecodeErrorKind,
}

fn err<T>(offset: u64, kind: impl Into<DecodeErrorKind>) -> Result<T, DecodeError> {
    Err(DecodeError {
        offset,
        kind: kind.into(),
    })
}

/// A parsed StreamHeader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    /// Byte offset of the header.
    pub offset: u64,
    /// Writer's Rerun version `[major, minor, patch, meta]`.
    pub version: [u8; 4],
    /// The header's LZ4 flag (informational; each message says its own compression).
    pub lz4: bool,
}

/// One decoded message.
#[derive(Clone, Debug)]
pub enum Message {
    /// `SetStoreInfo`.
    SetStoreInfo(proto::SetStoreInfo),
    /// An `ArrowMsg`, decoded into a [`Chunk`].
    ArrowMsg {
        /// The store the chunk belongs to.
        store_id: proto::StoreId,
        /// Payload compression on the wire.
        compression: proto::Compression,
        /// Payload bytes on the wire.
        payload_len: u64,
        /// Arrow IPC bytes (after decompression).
        uncompressed_size: u64,
        /// The `is_static` field, if written.
        is_static_field: Option<bool>,
        /// The chunk.
        chunk: Box<Chunk>,
    },
    /// `BlueprintActivationCommand`.
    BlueprintActivationCommand(proto::BlueprintActivationCommand),
    /// The End message's footer.
    End(proto::RrdFooter),
}

/// A message and where it was.
#[derive(Clone, Debug)]
pub struct DecodedMessage {
    /// Offset of its 16-byte header.
    pub offset: u64,
    /// Body length.
    pub len: u64,
    /// Which stream of a concatenated file (0 for most files).
    pub stream: usize,
    /// The message.
    pub message: Message,
}

/// Where and why the input ended early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Offset of the first incomplete structure; everything before it was decoded.
    pub offset: u64,
    /// What was being read.
    pub reason: TruncationReason,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "truncated at offset {}: {}", self.offset, self.reason)
    }
}

/// What was cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TruncationReason {
    /// Fewer than 12 bytes for a StreamHeader.
    StreamHeader,
    /// Fewer than 16 bytes for a message header.
    MessageHeader,
    /// A message body shorter than its header says.
    MessageBody {
        /// Bytes the header announced.
        needed: u64,
        /// Bytes that were there.
        available: u64,
    },
    /// The input ended after complete messages but without an End message (no footer).
    NoEndMessage,
    /// Fewer than 32 bytes for the StreamFooter after the End message.
    StreamFooter,
    /// Zero bytes where the next message header should be, and no StreamFooter: space that
    /// a preallocating writer reserved but did not fill (it stopped there).
    UnwrittenTail,
}

impl fmt::Display for TruncationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StreamHeader => f.write_str("incomplete stream header"),
            Self::MessageHeader => f.write_str("incomplete message header"),
            Self::MessageBody { needed, available } => {
                write!(f, "message body needs {needed} bytes, {available} left")
            }
            Self::NoEndMessage => f.write_str("no End message (the writer did not finish)"),
            Self::StreamFooter => f.write_str("incomplete stream footer"),
            Self::UnwrittenTail => {
                f.write_str("zero-filled, never-written space after the last message")
            }
        }
    }
}

/// One manifest row: where a chunk is in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRow {
    /// Entity path.
    pub entity: String,
    /// Chunk id.
    pub chunk_id: ChunkId,
    /// Static chunk.
    pub is_static: bool,
    /// Rows.
    pub num_rows: u64,
    /// Offset of the ArrowMsg body.
    pub byte_offset: u64,
    /// Length of the ArrowMsg body.
    pub byte_size: u64,
    /// IPC bytes before compression.
    pub byte_size_uncompressed: u64,
}

/// One recording's footer manifest.
#[derive(Clone, Debug)]
pub struct ManifestInfo {
    /// `(application_id, recording_id)`.
    pub store: (String, String),
    /// One row per chunk.
    pub rows: Vec<ManifestRow>,
    /// Number of manifest columns.
    pub num_columns: usize,
    /// Number of fields in the recording's sorbet schema.
    pub sorbet_fields: usize,
}

/// Something in a footer that does not match the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FooterProblem {
    /// xxHash32 of the footer bytes is not the StreamFooter's CRC.
    Crc {
        /// CRC in the StreamFooter.
        stored: u32,
        /// CRC computed.
        computed: u32,
    },
    /// StreamFooter's footer offset/length disagree with the End message.
    Location {
        /// Offset stored.
        stored_offset: u64,
        /// Offset of the End body.
        actual_offset: u64,
    },
    /// A manifest could not be decoded.
    Manifest(String),
    /// A manifest row does not point at an ArrowMsg with that chunk id and size.
    DanglingChunk {
        /// The chunk the manifest names.
        chunk_id: ChunkId,
        /// Where it says it is.
        byte_offset: u64,
    },
    /// An ArrowMsg of the stream that no manifest lists.
    UnlistedChunk(ChunkId),
    /// The footer has no manifests although the stream has chunks.
    NoManifests,
}

impl fmt::Display for FooterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crc { stored, computed } => {
                write!(
                    f,
                    "footer CRC {stored:#010x} stored, {computed:#010x} computed"
                )
            }
            Self::Location {
                stored_offset,
                actual_offset,
            } => write!(
                f,
                "stream footer points at {stored_offset}, footer is at {actual_offset}"
            ),
            Self::Manifest(e) => write!(f, "manifest undecodable: {e}"),
            Self::DanglingChunk {
                chunk_id,
                byte_offset,
            } => write!(
                f,
                "manifest lists chunk {chunk_id} at {byte_offset}, not found there"
            ),
            Self::UnlistedChunk(id) => write!(f, "chunk {id} is missing from the manifest"),
            Self::NoManifests => {
                f.write_str("footer has no manifest although the stream has chunks")
            }
        }
    }
}

/// The footer of one stream, with its cross-checks.
#[derive(Clone, Debug)]
pub struct FooterInfo {
    /// Offset of the End message header.
    pub end_offset: u64,
    /// Decoded manifests.
    pub manifests: Vec<ManifestInfo>,
    /// Problems found; empty means the footer is valid.
    pub problems: Vec<FooterProblem>,
    /// No problems: the random-access readers can trust this footer.
    pub valid: bool,
}

/// Everything decoded from an `.rrd` input.
#[derive(Clone, Debug, Default)]
pub struct DecodedRrd {
    /// One per stream (concatenated files have several).
    pub headers: Vec<StreamHeader>,
    /// Every complete message, in order.
    pub messages: Vec<DecodedMessage>,
    /// The footer of the last stream, if it had one.
    pub footer: Option<FooterInfo>,
    /// Set if the input ended early.
    pub truncated: Option<Truncation>,
    /// Total input length.
    pub input_len: u64,
}

impl DecodedRrd {
    /// The decoded chunks, in file order.
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> {
        self.messages.iter().filter_map(|m| match &m.message {
            Message::ArrowMsg { chunk, .. } => Some(&**chunk),
            _ => None,
        })
    }
}

struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.data[self.pos..self.pos + N]);
        self.pos += N;
        out
    }
}

/// Decodes a whole `.rrd` input with [`DecodeLimits::default`] (see [`decode_rrd_with`]).
///
/// ```
/// use spate::wire::{decode_rrd, DecodeErrorKind};
/// let bad = decode_rrd(b"NOPE........").unwrap_err();
/// assert!(matches!(bad.kind, DecodeErrorKind::NotRrd(_)));
/// assert_eq!(bad.offset, 0);
/// // A cut-off file is not an error: the complete part is returned.
/// let cut = decode_rrd(b"RRF2\x00\x29\x00\x00\x00\x02\x00\x00\x01\x00").unwrap();
/// assert_eq!(cut.truncated.unwrap().offset, 12);
/// ```
pub fn decode_rrd(input: impl Into<DecodeInput>) -> Result<DecodedRrd, DecodeError> {
    decode_rrd_with(input, &DecodeLimits::default())
}

/// Decodes a whole `.rrd` input, allocating no more than `limits` allow from the sizes it
/// claims.
pub fn decode_rrd_with(
    input: impl Into<DecodeInput>,
    limits: &DecodeLimits,
) -> Result<DecodedRrd, DecodeError> {
    let data = input.into().0;
    let mut r = Reader {
        data: &data,
        pos: 0,
    };
    let mut out = DecodedRrd {
        input_len: data.len() as u64,
        ..Default::default()
    };
    let mut stream = 0;
    'streams: loop {
        let start = r.pos as u64;
        if r.remaining() < 12 {
            out.truncated = Some(Truncation {
                offset: start,
                reason: TruncationReason::StreamHeader,
            });
            return Ok(out);
        }
        out.headers.push(read_stream_header(&mut r)?);
        let first_message = out.messages.len();
        loop {
            let offset = r.pos as u64;
            if r.remaining() == 0 {
                out.truncated = Some(Truncation {
                    offset,
                    reason: TruncationReason::NoEndMessage,
                });
                return Ok(out);
            }
            if r.remaining() < 16 {
                out.truncated = Some(Truncation {
                    offset,
                    reason: TruncationReason::MessageHeader,
                });
                return Ok(out);
            }
            let kind_code = u64::from_le_bytes(r.take());
            let len = u64::from_le_bytes(r.take());
            // 16 zero bytes not followed by a StreamFooter: space a preallocating writer
            // (the mmap backend) reserved but never filled, i.e. where it stopped.
            if kind_code == 0 && len == 0 {
                let rest = &data[r.pos..];
                if rest.len() < 32 || &rest[20..28] != b"RRF2FOOT" {
                    out.truncated = Some(Truncation {
                        offset,
                        reason: TruncationReason::UnwrittenTail,
                    });
                    return Ok(out);
                }
            }
            let Some(kind) = MessageKind::from_code(kind_code) else {
                return err(offset, DecodeErrorKind::UnknownMessageKind(kind_code));
            };
            let available = r.remaining() as u64;
            if len > available {
                out.truncated = Some(Truncation {
                    offset,
                    reason: TruncationReason::MessageBody {
                        needed: len,
                        available,
                    },
                });
                return Ok(out);
            }
            let body = data.slice(r.pos..r.pos + len as usize);
            let body_offset = r.pos as u64;
            r.pos += len as usize;
            let message = decode_body(kind, body.clone(), body_offset, limits)?;
            let is_end = matches!(message, Message::End(_));
            out.messages.push(DecodedMessage {
                offset,
                len,
                stream,
                message,
            });
            if is_end {
                if r.remaining() < 32 {
                    out.truncated = Some(Truncation {
                        offset: r.pos as u64,
                        reason: TruncationReason::StreamFooter,
                    });
                    return Ok(out);
                }
                let footer_at = r.pos as u64;
                let tail: [u8; 32] = r.take();
                let magic: [u8; 8] = tail[20..28].try_into().unwrap_or_default();
                if &magic != b"RRF2FOOT" {
                    return err(footer_at + 20, DecodeErrorKind::BadStreamFooter(magic));
                }
                out.footer = Some(check_footer(
                    &tail,
                    &body,
                    body_offset,
                    offset,
                    &out.messages[first_message..],
                    limits,
                ));
                stream += 1;
                if r.remaining() == 0 {
                    return Ok(out);
                }
                continue 'streams;
            }
        }
    }
}

/// Input to [`decode_rrd`]: `Bytes` (zero-copy), or anything byte-like (copied once).
#[derive(Clone, Debug)]
pub struct DecodeInput(Bytes);

impl From<Bytes> for DecodeInput {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}
impl From<Vec<u8>> for DecodeInput {
    fn from(b: Vec<u8>) -> Self {
        Self(Bytes::from(b))
    }
}
impl From<&[u8]> for DecodeInput {
    fn from(b: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(b))
    }
}
impl From<&Vec<u8>> for DecodeInput {
    fn from(b: &Vec<u8>) -> Self {
        Self(Bytes::copy_from_slice(b))
    }
}
impl<const N: usize> From<&[u8; N]> for DecodeInput {
    fn from(b: &[u8; N]) -> Self {
        Self(Bytes::copy_from_slice(b))
    }
}

fn read_stream_header(r: &mut Reader<'_>) -> Result<StreamHeader, DecodeError> {
    let offset = r.pos as u64;
    let fourcc: [u8; 4] = r.take();
    let version: [u8; 4] = r.take();
    let options: [u8; 4] = r.take();
    match &fourcc {
        b"RRF2" => {}
        b"RRF0" | b"RRF1" => {
            return err(
                offset,
                DecodeErrorKind::OldFormat(String::from_utf8_lossy(&fourcc).into()),
            );
        }
        _ => return err(offset, DecodeErrorKind::NotRrd(fourcc)),
    }
    if (version[0], version[1]) < (0, 23) {
        return err(offset + 4, DecodeErrorKind::IncompatibleVersion(version));
    }
    if options[0] > 1 {
        return err(offset + 8, DecodeErrorKind::BadCompressionFlag(options[0]));
    }
    if options[1] != 2 {
        return err(offset + 9, DecodeErrorKind::BadSerializer(options[1]));
    }
    if options[2..] != [0, 0] {
        return err(
            offset + 10,
            DecodeErrorKind::ReservedBytes([options[2], options[3]]),
        );
    }
    Ok(StreamHeader {
        offset,
        version,
        lz4: options[0] == 1,
    })
}

fn pb<M: prost::Message + Default>(
    message: &'static str,
    body: Bytes,
    offset: u64,
) -> Result<M, DecodeError> {
    M::decode(body).or_else(|source| err(offset, DecodeErrorKind::Protobuf { message, source }))
}

fn missing<T>(offset: u64, message: &'static str, field: &'static str) -> Result<T, DecodeError> {
    err(offset, DecodeErrorKind::MissingField { message, field })
}

fn check_store_id(
    id: Option<&proto::StoreId>,
    offset: u64,
    message: &'static str,
) -> Result<(), DecodeError> {
    match id {
        None => missing(offset, message, "store_id"),
        Some(s) if s.application_id.as_ref().is_none_or(|a| a.id.is_empty()) => {
            missing(offset, message, "store_id.application_id")
        }
        Some(_) => Ok(()),
    }
}

fn tuid(t: Option<proto::Tuid>) -> Option<Tuid> {
    let t = t?;
    Some(Tuid::from_parts(t.time_ns?, t.inc?))
}

pub(crate) fn decode_body(
    kind: MessageKind,
    body: Bytes,
    offset: u64,
    limits: &DecodeLimits,
) -> Result<Message, DecodeError> {
    Ok(match kind {
        MessageKind::SetStoreInfo => {
            let m: proto::SetStoreInfo = pb("SetStoreInfo", body, offset)?;
            if tuid(m.row_id).is_none() {
                return missing(offset, "SetStoreInfo", "row_id");
            }
            let Some(info) = &m.info else {
                return missing(offset, "SetStoreInfo", "info");
            };
            if info.store_id.is_none() {
                return missing(offset, "StoreInfo", "store_id");
            }
            if info.store_source.is_none() {
                return missing(offset, "StoreInfo", "store_source");
            }
            Message::SetStoreInfo(m)
        }
        MessageKind::ArrowMsg => decode_arrow_msg(body, offset, limits)?,
        MessageKind::BlueprintActivationCommand => {
            Message::BlueprintActivationCommand(pb("BlueprintActivationCommand", body, offset)?)
        }
        MessageKind::End => Message::End(pb("RrdFooter", body, offset)?),
    })
}

/// Decodes the first record batch of an Arrow IPC stream.
pub(crate) fn decode_ipc(payload: Bytes, offset: u64) -> Result<RecordBatch, DecodeError> {
    // arrow-ipc validates what it reads, but it is not written to be fed hostile bytes;
    // contain any panic there as a typed error (fuzzing still sees it: it aborts on panic).
    let result = std::panic::catch_unwind(move || -> Result<Option<RecordBatch>, ArrowError> {
        let mut decoder = StreamDecoder::new();
        let mut buf = arrow_buffer::Buffer::from(payload);
        while !buf.is_empty() {
            if let Some(batch) = decoder.decode(&mut buf)? {
                return Ok(Some(batch));
            }
        }
        Ok(None)
    });
    match result {
        Ok(Ok(Some(batch))) => Ok(batch),
        Ok(Ok(None)) => err(offset, DecodeErrorKind::NoRecordBatch),
        Ok(Err(e)) => err(offset, e),
        Err(_) => err(offset, DecodeErrorKind::ArrowPanic),
    }
}

/// Decompresses (if needed) a payload of `uncompressed_size` bytes: the claimed size is
/// checked against the LZ4 ratio and `limits` before the buffer is (fallibly) allocated.
fn payload_bytes(
    compression: i32,
    payload: Bytes,
    uncompressed_size: u64,
    limits: &DecodeLimits,
    offset: u64,
) -> Result<(proto::Compression, Bytes), DecodeError> {
    let compression = proto::Compression::try_from(compression)
        .or_else(|_| err(offset, DecodeErrorKind::UnknownCompression(compression)))?;
    match compression {
        proto::Compression::Unspecified | proto::Compression::None => Ok((compression, payload)),
        proto::Compression::Lz4 => {
            let max = (payload.len() as u64)
                .saturating_mul(MAX_LZ4_RATIO)
                .saturating_add(16);
            if uncompressed_size > max {
                return err(
                    offset,
                    DecodeErrorKind::UncompressedSize {
                        expected: uncompressed_size,
                        found: max,
                    },
                );
            }
            let over_limit = DecodeErrorKind::UncompressedOverLimit {
                claimed: uncompressed_size,
                limit: limits.max_uncompressed_bytes,
            };
            if uncompressed_size > limits.max_uncompressed_bytes {
                return err(offset, over_limit);
            }
            let Ok(len) = usize::try_from(uncompressed_size) else {
                return err(offset, over_limit);
            };
            let mut buf = Vec::new();
            buf.try_reserve_exact(len).or_else(|source| {
                err(
                    offset,
                    DecodeErrorKind::Allocation {
                        bytes: uncompressed_size,
                        source,
                    },
                )
            })?;
            buf.resize(len, 0);
            let n =
                lz4_flex::block::decompress_into(&payload, &mut buf).or_else(|e| err(offset, e))?;
            if n as u64 != uncompressed_size {
                return err(
                    offset,
                    DecodeErrorKind::UncompressedSize {
                        expected: uncompressed_size,
                        found: n as u64,
                    },
                );
            }
            Ok((compression, Bytes::from(buf)))
        }
    }
}

fn decode_arrow_msg(
    body: Bytes,
    offset: u64,
    limits: &DecodeLimits,
) -> Result<Message, DecodeError> {
    let m: proto::ArrowMsg = pb("ArrowMsg", body, offset)?;
    check_store_id(m.store_id.as_ref(), offset, "ArrowMsg")?;
    if m.encoding != proto::Encoding::ArrowIpc as i32 {
        return err(offset, DecodeErrorKind::UnsupportedEncoding(m.encoding));
    }
    let Some(field_id) = tuid(m.chunk_id) else {
        return missing(offset, "ArrowMsg", "chunk_id");
    };
    let payload_len = m.payload.len() as u64;
    let (compression, ipc) = payload_bytes(
        m.compression,
        m.payload,
        m.uncompressed_size,
        limits,
        offset,
    )?;
    let uncompressed_size = ipc.len() as u64;
    let batch = decode_ipc(ipc, offset)?;
    let chunk = chunk_from_record_batch(&batch).or_else(|e| err(offset, e))?;
    if chunk.id() != field_id {
        return err(
            offset,
            DecodeErrorKind::ChunkIdMismatch {
                field: field_id,
                schema: chunk.id(),
            },
        );
    }
    Ok(Message::ArrowMsg {
        store_id: m.store_id.unwrap_or_default(),
        compression,
        payload_len,
        uncompressed_size,
        is_static_field: m.is_static,
        chunk: Box::new(chunk),
    })
}

fn decode_manifest(m: &proto::RrdManifest, limits: &DecodeLimits) -> Result<ManifestInfo, String> {
    use arrow_array::{Array, BooleanArray, FixedSizeBinaryArray, StringArray, UInt64Array};
    let store = m.store_id.as_ref().ok_or("no store_id")?;
    let schema = m
        .sorbet_schema
        .as_ref()
        .and_then(|s| s.arrow_schema.clone())
        .ok_or("no sorbet_schema")?;
    // Same containment as `decode_ipc`: arrow-ipc can panic on hostile bytes.
    let sorbet_fields = std::panic::catch_unwind(move || {
        let mut d = StreamDecoder::new();
        let mut buf = arrow_buffer::Buffer::from(schema);
        d.decode(&mut buf)
            .map(|_| d.schema().map_or(0, |s| s.fields().len()))
    })
    .map_err(|_| DecodeErrorKind::ArrowPanic.to_string())?
    .map_err(|e| ErrorChain(&e).to_string())?;
    if m.sorbet_schema_sha256
        .as_ref()
        .is_none_or(|h| h.len() != 32)
    {
        return Err("sorbet_schema_sha256 is not 32 bytes".into());
    }
    let data = m.data.as_ref().ok_or("no data")?;
    if data.encoder_version != proto::EncoderVersion::V0 as i32 {
        return Err(format!(
            "encoder_version {}, expected 1",
            data.encoder_version
        ));
    }
    let payload = data.payload.clone().ok_or("no data payload")?;
    let (_, ipc) = payload_bytes(data.compression, payload, data.uncompressed_size, limits, 0)
        .map_err(|e| ErrorChain(&e.kind).to_string())?;
    let batch = decode_ipc(ipc, 0).map_err(|e| ErrorChain(&e.kind).to_string())?;
    fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
        b.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>())
            .ok_or_else(|| format!("manifest column {name:?} missing or mistyped"))
    }
    let entity = col::<StringArray>(&batch, "chunk_entity_path")?;
    let ids = col::<FixedSizeBinaryArray>(&batch, "chunk_id")?;
    let is_static = col::<BooleanArray>(&batch, "chunk_is_static")?;
    let nrows = col::<UInt64Array>(&batch, "chunk_num_rows")?;
    let off = col::<UInt64Array>(&batch, "chunk_byte_offset")?;
    let size = col::<UInt64Array>(&batch, "chunk_byte_size")?;
    let usize_ = col::<UInt64Array>(&batch, "chunk_byte_size_uncompressed")?;
    if ids.value_length() != 16 {
        return Err("chunk_id is not 16 bytes".into());
    }
    let rows = (0..batch.num_rows())
        .map(|i| ManifestRow {
            entity: entity.value(i).to_owned(),
            chunk_id: Tuid::from_be_bytes(ids.value(i).try_into().unwrap_or_default()),
            is_static: is_static.value(i),
            num_rows: nrows.value(i),
            byte_offset: off.value(i),
            byte_size: size.value(i),
            byte_size_uncompressed: usize_.value(i),
        })
        .collect();
    Ok(ManifestInfo {
        store: (
            store
                .application_id
                .as_ref()
                .map(|a| a.id.clone())
                .unwrap_or_default(),
            store.recording_id.clone(),
        ),
        rows,
        num_columns: batch.num_columns(),
        sorbet_fields,
    })
}

fn check_footer(
    tail: &[u8; 32],
    body: &Bytes,
    body_offset: u64,
    end_offset: u64,
    stream: &[DecodedMessage],
    limits: &DecodeLimits,
) -> FooterInfo {
    let mut problems = Vec::new();
    let word =
        |r: std::ops::Range<usize>| u64::from_le_bytes(tail[r].try_into().unwrap_or_default());
    let (stored_offset, stored_len) = (word(0..8), word(8..16));
    let stored_crc = u32::from_le_bytes(tail[16..20].try_into().unwrap_or_default());
    if stored_offset != body_offset || stored_len != body.len() as u64 {
        problems.push(FooterProblem::Location {
            stored_offset,
            actual_offset: body_offset,
        });
    }
    let computed = xxhash_rust::xxh32::xxh32(body, super::FOOTER_CRC_SEED);
    if computed != stored_crc {
        problems.push(FooterProblem::Crc {
            stored: stored_crc,
            computed,
        });
    }
    let footer = match stream.last().map(|m| &m.message) {
        Some(Message::End(f)) => f.clone(),
        _ => proto::RrdFooter::default(),
    };
    let mut manifests = Vec::new();
    for m in &footer.manifests {
        match decode_manifest(m, limits) {
            Ok(info) => manifests.push(info),
            Err(e) => problems.push(FooterProblem::Manifest(e)),
        }
    }
    // Sets, not nested scans: a hostile footer listing many rows stays linear.
    let chunks: Vec<(u64, u64, ChunkId)> = stream
        .iter()
        .filter_map(|m| match &m.message {
            Message::ArrowMsg { chunk, .. } => Some((m.offset + 16, m.len, chunk.id())),
            _ => None,
        })
        .collect();
    if footer.manifests.is_empty() && !chunks.is_empty() {
        problems.push(FooterProblem::NoManifests);
    }
    let present: HashSet<(u64, u64, ChunkId)> = chunks.iter().copied().collect();
    let listed: Vec<&ManifestRow> = manifests.iter().flat_map(|m| &m.rows).collect();
    for row in &listed {
        if !present.contains(&(row.byte_offset, row.byte_size, row.chunk_id)) {
            problems.push(FooterProblem::DanglingChunk {
                chunk_id: row.chunk_id,
                byte_offset: row.byte_offset,
            });
        }
    }
    if !footer.manifests.is_empty() {
        let listed_ids: HashSet<ChunkId> = listed.iter().map(|r| r.chunk_id).collect();
        for &(_, _, id) in &chunks {
            if !listed_ids.contains(&id) {
                problems.push(FooterProblem::UnlistedChunk(id));
            }
        }
    }
    FooterInfo {
        end_offset,
        manifests,
        valid: problems.is_empty(),
        problems,
    }
}
