//! `.rrd` stream framing: StreamHeader, message headers, End message with the footer
//! manifest, and the StreamFooter.

use std::io::{self, Write};

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message as _;

use super::encode::{Compression, EncodeError, EncodedMessage, MessageKind};
use super::manifest::{ManifestBuilder, ManifestEntry};
use super::proto;

/// Frames encoded messages into an `.rrd` stream and builds the footer.
///
/// Pure bookkeeping: it returns the bytes to write (as parts) and tracks the stream offset
/// so that the footer manifest can point at every chunk. Write every part it returns, in
/// order, to one file.
///
/// ```
/// use spate::wire::{Compression, EncodedMessage, RrdEncoder, StoreInfo, decode_rrd};
/// use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
///
/// let store = StoreInfo::new("demo", "rec-1")?;
/// let chunk = Chunk::from_row(EntityPath::parse("points")?, RowId::new(),
///     &TimePoint::default().with_sequence("frame", 0)?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
///
/// let mut rrd = RrdEncoder::new(Compression::Off);
/// let mut file = Vec::new();
/// rrd.write_header(&mut file)?;
/// rrd.write_message(&mut file, &EncodedMessage::set_store_info(&store))?;
/// rrd.write_message(&mut file, &EncodedMessage::arrow_msg(&chunk, &store, Compression::Off)?)?;
/// rrd.write_finish(&mut file)?;
///
/// let decoded = decode_rrd(&file)?;
/// assert_eq!(decoded.chunks().count(), 1);
/// assert!(decoded.footer.as_ref().unwrap().valid);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RrdEncoder {
    compression: Compression,
    offset: u64,
    manifests: Vec<ManifestBuilder>,
    finished: bool,
}

/// The 12-byte StreamHeader.
pub(crate) fn stream_header(compression: Compression) -> [u8; 12] {
    let v = super::RERUN_VERSION;
    let c = u8::from(compression == Compression::Lz4);
    [b'R', b'R', b'F', b'2', v[0], v[1], v[2], v[3], c, 2, 0, 0]
}

fn message_header(kind: MessageKind, len: u64) -> Bytes {
    let mut h = BytesMut::with_capacity(16);
    h.put_u64_le(kind.code());
    h.put_u64_le(len);
    h.freeze()
}

impl RrdEncoder {
    /// A new stream; `compression` only sets the StreamHeader flag (each message says its
    /// own compression), so pass what the chunks will use.
    pub fn new(compression: Compression) -> Self {
        Self {
            compression,
            offset: 0,
            manifests: Vec::new(),
            finished: false,
        }
    }

    /// Bytes framed so far (the file offset of the next part).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The StreamHeader; write it first.
    pub fn header(&mut self) -> Bytes {
        self.offset += 12;
        Bytes::copy_from_slice(&stream_header(self.compression))
    }

    /// Frames `msg`: appends its 16-byte header and its parts to `out`, and records ArrowMsgs
    /// for the footer manifest.
    pub fn frame_into(&mut self, msg: &EncodedMessage, out: &mut Vec<Bytes>) {
        let len = msg.len() as u64;
        out.push(message_header(msg.kind(), len));
        out.extend(msg.parts().iter().cloned());
        let body_offset = self.offset + 16;
        self.offset = body_offset + len;
        if let Some(summary) = msg.summary() {
            let idx = match self
                .manifests
                .iter()
                .position(|m| *m.store() == summary.store)
            {
                Some(i) => i,
                None => {
                    self.manifests
                        .push(ManifestBuilder::new(summary.store.clone()));
                    self.manifests.len() - 1
                }
            };
            self.manifests[idx].push(ManifestEntry {
                summary: summary.clone(),
                byte_offset: body_offset,
                byte_size: len,
            });
        }
    }

    /// Frames `msg` and returns the parts to write.
    pub fn frame(&mut self, msg: &EncodedMessage) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(msg.parts().len() + 1);
        self.frame_into(msg, &mut out);
        out
    }

    /// The End message (footer with one manifest per recording) and the StreamFooter.
    /// After this the stream is complete; further messages would start a new stream.
    pub fn finish(&mut self) -> Result<Vec<Bytes>, EncodeError> {
        let footer = proto::RrdFooter {
            manifests: self
                .manifests
                .iter()
                .map(ManifestBuilder::build)
                .collect::<Result<_, _>>()?,
        }
        .encode_to_vec();
        let end = EncodedMessage::from_body(MessageKind::End, Bytes::from(footer));
        let footer_start = self.offset + 16;
        let mut parts = self.frame(&end);
        let crc = xxhash_rust::xxh32::xxh32(&end.to_contiguous(), super::FOOTER_CRC_SEED);
        let mut tail = BytesMut::with_capacity(32);
        tail.put_u64_le(footer_start);
        tail.put_u64_le(end.len() as u64);
        tail.put_u32_le(crc);
        tail.put_slice(b"RRF2FOOT");
        tail.put_u32_le(1);
        self.offset += 32;
        parts.push(tail.freeze());
        self.finished = true;
        Ok(parts)
    }

    /// Writes the StreamHeader to `w`.
    pub fn write_header(&mut self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.header())
    }

    /// Frames and writes `msg` to `w`.
    pub fn write_message(&mut self, w: &mut impl Write, msg: &EncodedMessage) -> io::Result<()> {
        write_parts(w, &self.frame(msg))
    }

    /// Writes the End message and StreamFooter to `w`.
    pub fn write_finish(&mut self, w: &mut impl Write) -> io::Result<()> {
        let parts = self.finish().map_err(io::Error::other)?;
        write_parts(w, &parts)
    }
}

/// Writes parts in order (each with `write_all`).
pub(crate) fn write_parts(w: &mut impl Write, parts: &[Bytes]) -> io::Result<()> {
    for p in parts {
        w.write_all(p)?;
    }
    Ok(())
}
