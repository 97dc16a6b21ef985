//! Encoder → decoder round trips, the zero-copy shape of encoded messages, and truncation.

use arrow_array::{Array, FixedSizeListArray, Float32Array, UInt32Array};
use bytes::Bytes;
use prost::Message as _;
use spate::wire::{
    Compression, EncodedMessage, Message, RrdEncoder, StoreInfo, TruncationReason, decode_rrd,
    proto,
};
use spate::{Chunk, ChunkBuilder, EntityPath, Points3D, RowId, TimePoint};

fn store() -> StoreInfo {
    StoreInfo::new("spate_test", "rec-round-trip").unwrap()
}

fn cloud(n: usize, seed: u32) -> (Vec<[f32; 3]>, Vec<u32>, Vec<f32>) {
    let p = (0..n)
        .map(|i| [i as f32, seed as f32, -(i as f32) * 0.5])
        .collect();
    let c = (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) ^ seed)
        .collect();
    let r = (0..n).map(|i| 0.01 + i as f32 * 1e-6).collect();
    (p, c, r)
}

fn frame(f: i64) -> TimePoint {
    TimePoint::default().with_sequence("frame", f).unwrap()
}

/// A contiguous reference encoding of the same ArrowMsg, made without spate's part list:
/// arrow's own `StreamWriter` into one buffer, then prost encoding the whole message.
fn contiguous_reference(chunk: &Chunk, store: &StoreInfo) -> Vec<u8> {
    let batch = spate::wire::chunk_to_record_batch(chunk).unwrap();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    let ipc = w.into_inner().unwrap();
    let tuid = |t: spate::Tuid| proto::Tuid {
        time_ns: Some(t.time_ns()),
        inc: Some(t.inc()),
    };
    proto::ArrowMsg {
        store_id: Some(proto::StoreId {
            kind: proto::StoreKind::Recording as i32,
            recording_id: store.recording_id().into(),
            application_id: Some(proto::ApplicationId {
                id: store.application_id().into(),
            }),
        }),
        compression: proto::Compression::None as i32,
        uncompressed_size: ipc.len() as u64,
        encoding: proto::Encoding::ArrowIpc as i32,
        payload: Bytes::from(ipc),
        chunk_id: Some(tuid(chunk.id())),
        is_static: Some(chunk.is_static()),
    }
    .encode_to_vec()
}

#[test]
fn parts_concatenate_to_the_contiguous_encoding() {
    let (p, c, r) = cloud(1234, 7);
    let points = Points3D::new(p)
        .with_colors(c)
        .with_radii(r)
        .with_class_ids(vec![3u16; 1234]);
    let time = frame(5).with_duration_ns("dt", -3).unwrap();
    let chunk = Chunk::from_row(
        EntityPath::parse("a/b").unwrap(),
        RowId::new(),
        &time,
        &points,
    )
    .unwrap();
    let msg = EncodedMessage::arrow_msg(&chunk, &store(), Compression::Off).unwrap();
    assert!(
        msg.parts().len() > 3,
        "expected a list of parts, got {}",
        msg.parts().len()
    );
    assert_eq!(msg.parts().iter().map(Bytes::len).sum::<usize>(), msg.len());
    assert_eq!(
        msg.to_contiguous().as_ref(),
        contiguous_reference(&chunk, &store()).as_slice()
    );
}

#[test]
fn largest_part_of_a_1m_point_message_is_the_callers_vec() {
    let (p, c, r) = cloud(1_000_000, 1);
    let positions_ptr = p.as_ptr().cast::<u8>();
    let colors_ptr = c.as_ptr().cast::<u8>();
    let points = Points3D::new(p).with_colors(c).with_radii(r);
    let chunk = Chunk::from_row(
        EntityPath::parse("big").unwrap(),
        RowId::new(),
        &frame(0),
        &points,
    )
    .unwrap();
    let msg = EncodedMessage::arrow_msg(&chunk, &store(), Compression::Off).unwrap();
    let largest = msg.parts().iter().max_by_key(|p| p.len()).unwrap();
    assert_eq!(largest.len(), 12_000_000);
    assert_eq!(
        largest.as_ptr(),
        positions_ptr,
        "positions part must be the caller's memory"
    );
    assert!(
        msg.parts()
            .iter()
            .any(|p| p.as_ptr() == colors_ptr && p.len() == 4_000_000),
        "colors part must be the caller's memory"
    );
    // Only framing, metadata and padding are new memory: well under 1% of the payload.
    let borrowed: usize = msg
        .parts()
        .iter()
        .filter(|p| p.len() >= 4_000_000)
        .map(Bytes::len)
        .sum();
    assert!(
        msg.len() - borrowed < 10_000,
        "{} bytes outside the caller's buffers",
        msg.len() - borrowed
    );
}

fn write_file(chunks: &[Chunk], compression: Compression) -> Vec<u8> {
    let mut rrd = RrdEncoder::new(compression);
    let mut out = Vec::new();
    rrd.write_header(&mut out).unwrap();
    rrd.write_message(&mut out, &EncodedMessage::set_store_info(&store()))
        .unwrap();
    for c in chunks {
        rrd.write_message(
            &mut out,
            &EncodedMessage::arrow_msg(c, &store(), compression).unwrap(),
        )
        .unwrap();
    }
    rrd.write_finish(&mut out).unwrap();
    assert_eq!(rrd.offset(), out.len() as u64);
    out
}

fn sample_chunks() -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (i, n) in [0usize, 1, 1000].into_iter().enumerate() {
        let (p, c, r) = cloud(n, i as u32);
        let pts = Points3D::new(p).with_colors(c).with_radii(r);
        let t = frame(i as i64)
            .with_timestamp_ns("sim", 1_700_000_000_000_000_000 + i as i64)
            .unwrap()
            .with_duration_ns("dt", 10 * i as i64)
            .unwrap();
        chunks.push(
            Chunk::from_row(
                EntityPath::parse(&format!("e/{i}")).unwrap(),
                RowId::new(),
                &t,
                &pts,
            )
            .unwrap(),
        );
    }
    let mut b = ChunkBuilder::new(EntityPath::parse("multi").unwrap());
    for f in 0..4 {
        let pts = Points3D::new(vec![[f as f32; 3]; 3]).with_labels(["x", "yy", "zzz"]);
        let pts = if f % 2 == 0 {
            pts.with_colors(vec![f as u32; 3])
        } else {
            pts
        };
        b.push_row(RowId::new(), frame(f), &pts).unwrap();
    }
    chunks.push(b.build().unwrap());
    let origin = Points3D::new(vec![[0.0; 3]]).with_radii([0.2]);
    chunks.push(
        Chunk::from_row(
            EntityPath::parse("origin").unwrap(),
            RowId::new(),
            &TimePoint::default(),
            &origin,
        )
        .unwrap(),
    );
    chunks
}

fn positions(chunk: &Chunk, row: usize) -> Vec<f32> {
    let v = chunk
        .component("Points3D:positions")
        .unwrap()
        .list()
        .value(row);
    let fsl = v.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    fsl.values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap()
        .values()
        .to_vec()
}

#[test]
fn every_value_survives_a_round_trip_with_and_without_lz4() {
    for compression in [Compression::Off, Compression::Lz4] {
        let chunks = sample_chunks();
        let file = write_file(&chunks, compression);
        let rrd = decode_rrd(file).unwrap();
        assert!(rrd.truncated.is_none());
        let footer = rrd.footer.as_ref().unwrap();
        assert!(footer.valid, "{compression:?}: {:?}", footer.problems);
        assert_eq!(footer.manifests[0].rows.len(), chunks.len());
        let got: Vec<_> = rrd.chunks().collect();
        assert_eq!(got.len(), chunks.len());
        for (a, b) in chunks.iter().zip(&got) {
            assert_eq!(a.id(), b.id());
            assert_eq!(a.entity(), b.entity());
            assert_eq!(
                a.row_ids().collect::<Vec<_>>(),
                b.row_ids().collect::<Vec<_>>()
            );
            assert_eq!(a.is_static(), b.is_static());
            for (ta, tb) in a.timelines().iter().zip(b.timelines()) {
                assert_eq!(ta.timeline(), tb.timeline());
                assert_eq!(ta.values(), tb.values());
            }
            assert_eq!(a.components().len(), b.components().len());
            for (ca, cb) in a.components().iter().zip(b.components()) {
                assert_eq!(ca.descriptor(), cb.descriptor());
                assert_eq!(
                    ca.list(),
                    cb.list(),
                    "{} {}",
                    a.entity(),
                    ca.descriptor().component
                );
            }
            for row in 0..a.num_rows() {
                assert_eq!(positions(a, row), positions(b, row));
            }
        }
        let multi = got
            .iter()
            .find(|c| c.entity().as_str() == "/multi")
            .unwrap();
        let colors = multi.component("Points3D:colors").unwrap().list();
        assert_eq!((colors.is_null(1), colors.is_null(2)), (true, false));
        let c2 = colors.value(2);
        assert_eq!(
            c2.as_any()
                .downcast_ref::<UInt32Array>()
                .unwrap()
                .values()
                .as_ref(),
            &[2, 2, 2]
        );
        for m in &rrd.messages {
            if let Message::ArrowMsg {
                compression: c,
                is_static_field,
                chunk,
                ..
            } = &m.message
            {
                let want = if compression == Compression::Lz4 {
                    proto::Compression::Lz4
                } else {
                    proto::Compression::None
                };
                assert_eq!(*c, want);
                assert_eq!(*is_static_field, Some(chunk.is_static()));
            }
        }
    }
}

#[test]
fn a_cut_file_returns_every_complete_message_and_the_cut_offset() {
    let chunks = sample_chunks();
    let file = write_file(&chunks, Compression::Off);
    let full = decode_rrd(file.clone()).unwrap();
    let boundaries: Vec<u64> = full.messages.iter().map(|m| m.offset).collect();
    // Cut at every message start, one byte into every header and body, and in the footer.
    let mut cuts: Vec<u64> = vec![0, 5, 12];
    for &b in &boundaries {
        cuts.extend([b, b + 1, b + 16, b + 17]);
    }
    cuts.extend([file.len() as u64 - 1, file.len() as u64 - 31]);
    for cut in cuts {
        let cut = cut.min(file.len() as u64 - 1);
        let rrd = decode_rrd(&file[..cut as usize]).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let t = rrd
            .truncated
            .as_ref()
            .unwrap_or_else(|| panic!("cut at {cut} not reported"));
        assert!(t.offset <= cut, "cut {cut}: reported {t}");
        let complete = boundaries
            .iter()
            .zip(&full.messages)
            .filter(|(_, m)| m.offset + 16 + m.len <= cut)
            .count();
        assert_eq!(rrd.messages.len(), complete, "cut at {cut}");
        if cut >= 12 && rrd.messages.len() < full.messages.len() {
            let next = full.messages[rrd.messages.len()].offset;
            assert_eq!(t.offset, next, "cut at {cut}: {t}");
        }
    }
    let no_end = &file[..full.messages.last().unwrap().offset as usize];
    let rrd = decode_rrd(no_end).unwrap();
    assert_eq!(
        rrd.truncated.as_ref().unwrap().reason,
        TruncationReason::NoEndMessage
    );
    assert_eq!(rrd.chunks().count(), chunks.len());
}

#[test]
fn footer_manifest_points_at_every_chunk_body() {
    let chunks = sample_chunks();
    let file = write_file(&chunks, Compression::Lz4);
    let rrd = decode_rrd(file.clone()).unwrap();
    let manifest = &rrd.footer.as_ref().unwrap().manifests[0];
    assert_eq!(
        manifest.store,
        ("spate_test".to_owned(), "rec-round-trip".to_owned())
    );
    for (row, chunk) in manifest.rows.iter().zip(&chunks) {
        assert_eq!(row.chunk_id, chunk.id());
        assert_eq!(row.is_static, chunk.is_static());
        assert_eq!(row.num_rows, chunk.num_rows() as u64);
        let body = &file[row.byte_offset as usize..(row.byte_offset + row.byte_size) as usize];
        let msg = proto::ArrowMsg::decode(body).unwrap();
        assert_eq!(msg.chunk_id.unwrap().time_ns, Some(chunk.id().time_ns()));
        assert_eq!(msg.uncompressed_size, row.byte_size_uncompressed);
    }
    // StreamFooter: xxHash32 (seed 7850921) of the footer bytes it points at.
    let tail = &file[file.len() - 32..];
    let start = u64::from_le_bytes(tail[0..8].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(tail[8..16].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(tail[16..20].try_into().unwrap());
    assert_eq!(
        crc,
        xxhash_rust::xxh32::xxh32(&file[start..start + len], 7_850_921)
    );
    assert_eq!(&tail[20..], b"RRF2FOOT\x01\x00\x00\x00");
}

#[test]
fn a_zero_filled_tail_is_where_a_preallocating_writer_stopped() {
    let chunks = sample_chunks();
    let file = write_file(&chunks, Compression::Off);
    let full = decode_rrd(file.clone()).unwrap();
    let end_at = full.messages.last().unwrap().offset as usize;
    let mut padded = file[..end_at].to_vec();
    padded.extend(std::iter::repeat_n(0u8, 64 * 1024));
    let rrd = decode_rrd(padded).unwrap();
    let t = rrd.truncated.as_ref().unwrap();
    assert_eq!(
        (t.offset, &t.reason),
        (end_at as u64, &TruncationReason::UnwrittenTail)
    );
    assert_eq!(rrd.chunks().count(), chunks.len());
    // A header zeroed but a body partly written after it (the mmap backend writes the header
    // last) is the same case.
    let mut partial = file[..end_at].to_vec();
    partial.extend([0u8; 16]);
    partial.extend([7u8; 100]);
    let rrd = decode_rrd(partial).unwrap();
    assert_eq!(
        rrd.truncated.unwrap().reason,
        TruncationReason::UnwrittenTail
    );
}
