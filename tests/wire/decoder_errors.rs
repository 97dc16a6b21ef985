//! Malformed inputs give typed errors with the right byte offset, never a panic.

use bytes::{BufMut, BytesMut};
use prost::Message as _;
use spate::wire::{
    Compression, DecodeErrorKind, EncodedMessage, RrdEncoder, StoreInfo, decode_rrd, proto,
};
use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};

const HEADER: [u8; 12] = *b"RRF2\x00\x29\x00\x00\x00\x02\x00\x00";
/// Body errors point at the body: after the 12-byte stream header and 16-byte message header.
const BODY: u64 = 28;

fn framed(kind: u64, body: &[u8]) -> Vec<u8> {
    let mut v = HEADER.to_vec();
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(&(body.len() as u64).to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn kind_at(input: &[u8]) -> (u64, DecodeErrorKind) {
    let e = decode_rrd(input).expect_err("input must be rejected");
    (e.offset, e.kind)
}

#[test]
fn stream_header_errors() {
    assert!(matches!(
        kind_at(b"PK\x03\x04........"),
        (0, DecodeErrorKind::NotRrd(_))
    ));
    assert!(matches!(
        kind_at(b"RRF1\x00\x29\x00\x00\x00\x02\x00\x00"),
        (0, DecodeErrorKind::OldFormat(_))
    ));
    assert!(matches!(
        kind_at(b"RRF2\x00\x16\x00\x00\x00\x02\x00\x00"),
        (4, DecodeErrorKind::IncompatibleVersion([0, 22, 0, 0]))
    ));
    assert!(matches!(
        kind_at(b"RRF2\x00\x29\x00\x00\x05\x02\x00\x00"),
        (8, DecodeErrorKind::BadCompressionFlag(5))
    ));
    assert!(matches!(
        kind_at(b"RRF2\x00\x29\x00\x00\x00\x01\x00\x00"),
        (9, DecodeErrorKind::BadSerializer(1))
    ));
    assert!(matches!(
        kind_at(b"RRF2\x00\x29\x00\x00\x00\x02\x00\x07"),
        (10, DecodeErrorKind::ReservedBytes([0, 7]))
    ));
}

#[test]
fn message_level_errors_carry_the_message_offset() {
    assert!(matches!(
        kind_at(&framed(9, b"")),
        (12, DecodeErrorKind::UnknownMessageKind(9))
    ));
    assert!(matches!(
        kind_at(&framed(2, b"\xff\xff\xff")),
        (
            BODY,
            DecodeErrorKind::Protobuf {
                message: "ArrowMsg",
                ..
            }
        )
    ));
    let no_source = proto::SetStoreInfo {
        row_id: Some(proto::Tuid {
            time_ns: Some(1),
            inc: Some(2),
        }),
        info: Some(proto::StoreInfo {
            store_id: Some(proto::StoreId::default()),
            ..Default::default()
        }),
    };
    assert!(matches!(
        kind_at(&framed(1, &no_source.encode_to_vec())),
        (
            BODY,
            DecodeErrorKind::MissingField {
                field: "store_source",
                ..
            }
        )
    ));
}

fn chunk_msg(compression: Compression) -> (Chunk, proto::ArrowMsg) {
    let store = StoreInfo::new("app", "rec").unwrap();
    let chunk = Chunk::from_row(
        EntityPath::parse("p").unwrap(),
        RowId::new(),
        &TimePoint::default().with_sequence("frame", 1).unwrap(),
        &Points3D::new(vec![[1.0f32, 2.0, 3.0]; 100]),
    )
    .unwrap();
    let body = EncodedMessage::arrow_msg(&chunk, &store, compression)
        .unwrap()
        .to_contiguous();
    (chunk, proto::ArrowMsg::decode(body).unwrap())
}

#[test]
fn arrow_msg_errors() {
    let (_, good) = chunk_msg(Compression::Off);
    assert!(decode_rrd(framed(2, &good.encode_to_vec())).is_ok());

    let mut m = good.clone();
    m.chunk_id = None;
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (
            BODY,
            DecodeErrorKind::MissingField {
                field: "chunk_id",
                ..
            }
        )
    ));

    let mut m = good.clone();
    m.chunk_id = Some(proto::Tuid {
        time_ns: Some(1),
        inc: Some(1),
    });
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (BODY, DecodeErrorKind::ChunkIdMismatch { .. })
    ));

    let mut m = good.clone();
    m.store_id.as_mut().unwrap().application_id = None;
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (BODY, DecodeErrorKind::MissingField { .. })
    ));

    let mut m = good.clone();
    m.encoding = 0;
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (BODY, DecodeErrorKind::UnsupportedEncoding(0))
    ));

    let mut m = good.clone();
    m.compression = 9;
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (BODY, DecodeErrorKind::UnknownCompression(9))
    ));

    let mut m = good.clone();
    m.payload = m.payload.slice(..m.payload.len() / 2);
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (
            BODY,
            DecodeErrorKind::Arrow(_) | DecodeErrorKind::NoRecordBatch
        )
    ));

    let (_, lz4) = chunk_msg(Compression::Lz4);
    let mut m = lz4.clone();
    m.uncompressed_size = u64::MAX / 2;
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (BODY, DecodeErrorKind::UncompressedSize { .. })
    ));
    let mut m = lz4.clone();
    m.uncompressed_size += 1;
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (
            BODY,
            DecodeErrorKind::UncompressedSize { .. } | DecodeErrorKind::Lz4(_)
        )
    ));
    let mut m = lz4;
    m.payload = bytes::Bytes::from_static(&[0xff; 40]);
    assert!(matches!(
        kind_at(&framed(2, &m.encode_to_vec())),
        (
            BODY,
            DecodeErrorKind::Lz4(_) | DecodeErrorKind::UncompressedSize { .. }
        )
    ));
}

fn finished_file() -> Vec<u8> {
    let store = StoreInfo::new("app", "rec").unwrap();
    let (chunk, _) = chunk_msg(Compression::Off);
    let mut rrd = RrdEncoder::new(Compression::Off);
    let mut out = Vec::new();
    rrd.write_header(&mut out).unwrap();
    rrd.write_message(
        &mut out,
        &EncodedMessage::arrow_msg(&chunk, &store, Compression::Off).unwrap(),
    )
    .unwrap();
    rrd.write_finish(&mut out).unwrap();
    out
}

#[test]
fn footer_damage_is_reported_not_trusted() {
    let good = finished_file();
    assert!(decode_rrd(good.clone()).unwrap().footer.unwrap().valid);

    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 16] ^= 1;
    let footer = decode_rrd(bad_crc).unwrap().footer.unwrap();
    assert!(!footer.valid);
    assert!(
        footer
            .problems
            .iter()
            .any(|p| p.to_string().contains("CRC")),
        "{:?}",
        footer.problems
    );

    let mut bad_magic = good.clone();
    bad_magic[n - 10] = b'X';
    assert!(
        matches!(kind_at(&bad_magic), (o, DecodeErrorKind::BadStreamFooter(_)) if o == n as u64 - 12)
    );

    // A manifest that points at the wrong offset is a dangling chunk.
    let rrd = decode_rrd(good.clone()).unwrap();
    let spate::wire::Message::End(mut footer) = rrd.messages.last().unwrap().message.clone() else {
        panic!()
    };
    let manifest = footer.manifests.remove(0);
    let empty = proto::RrdFooter { manifests: vec![] }.encode_to_vec();
    let end_at = rrd.messages.last().unwrap().offset as usize;
    let mut no_manifest = good[..end_at].to_vec();
    no_manifest.put_u64_le(0);
    no_manifest.put_u64_le(empty.len() as u64);
    let mut tail = BytesMut::new();
    tail.put_u64_le(end_at as u64 + 16);
    tail.put_u64_le(0);
    tail.put_u32_le(xxhash_rust::xxh32::xxh32(&[], 7_850_921));
    tail.put_slice(b"RRF2FOOT");
    tail.put_u32_le(1);
    no_manifest.extend_from_slice(&tail);
    let f = decode_rrd(no_manifest).unwrap().footer.unwrap();
    assert!(!f.valid);
    assert!(
        f.problems
            .iter()
            .any(|p| matches!(p, spate::wire::FooterProblem::NoManifests)),
        "{:?}",
        f.problems
    );
    assert!(manifest.data.is_some());
}
