//! The Rerun 0.41 wire format: protobuf messages, the Arrow chunk schema ("sorbet"),
//! `.rrd` framing with footer, and a validating decoder.
//!
//! Everything here is pure code: bytes in, bytes out, no files or sockets, so it can be
//! unit-tested and fuzzed. The format is specified in `rerun-format.md`; in short:
//!
//! ```text
//! StreamHeader "RRF2" v0.41.0 (12 B)
//! { MessageHeader (kind u64 LE, len u64 LE) + protobuf body }*   SetStoreInfo, ArrowMsg…
//! End message (kind 0) + RrdFooter protobuf (one manifest per recording)
//! StreamFooter (32 B): footer offset, length, xxHash32 (seed 7850921), "RRF2FOOT", 1
//! ```
//!
//! # Zero-copy shape
//!
//! An [`EncodedMessage`] is a list of [`Bytes`](bytes::Bytes) parts: small framing and metadata parts,
//! and — for uncompressed chunks — the chunk's original Arrow buffers (the caller's own
//! `Vec` memory), with IPC padding as separate small parts. A sink writes the parts with
//! vectored I/O; nothing concatenates them.

mod decode;
mod encode;
mod manifest;
pub mod proto;
mod received;
mod rrd;
mod sorbet;

pub use decode::{
    DecodeError, DecodeErrorKind, DecodeInput, DecodeLimits, DecodedMessage, DecodedRrd,
    FooterInfo, FooterProblem, ManifestInfo, ManifestRow, Message, StreamHeader, Truncation,
    TruncationReason, decode_rrd, decode_rrd_with,
};
pub use encode::{
    ChunkSummary, ComponentSummary, Compression, EncodeError, EncodedMessage, MessageKind,
    StoreInfo,
};
pub use rrd::RrdEncoder;
pub use sorbet::{ChunkSchemaError, chunk_from_record_batch, chunk_to_record_batch};

/// The Rerun version spate writes into stream headers and store versions: 0.41.0.
pub const RERUN_VERSION: [u8; 4] = [0, 41, 0, 0];
/// Sorbet (chunk schema) version written in chunk metadata.
pub const SORBET_VERSION: &str = "0.1.4";
/// Seed of the StreamFooter's xxHash32 checksum.
pub const FOOTER_CRC_SEED: u32 = 7_850_921;
