//! Whole-file fuzzing of `spate::wire::decode_rrd_with`: it must never panic, never
//! decompress past its limits, and what it returns must be self-consistent. On success every
//! decoded chunk is walked so that the accessors and the re-encoding path run on
//! fuzzer-made data too.
#![no_main]

use std::hint::black_box;

use arrow_array::Array;
use libfuzzer_sys::fuzz_target;
use spate::wire::{Message, chunk_to_record_batch, decode_rrd_with};

mod common;

fuzz_target!(|data: &[u8]| {
    common::contain_arrow_panics();
    let len = data.len() as u64;
    let limits = common::limits();
    let rrd = match decode_rrd_with(data, &limits) {
        Ok(rrd) => rrd,
        Err(e) => {
            assert!(
                e.offset <= len,
                "error offset {} past end {len}: {e}",
                e.offset
            );
            black_box(e.to_string());
            return;
        }
    };
    assert_eq!(rrd.input_len, len);
    if let Some(t) = &rrd.truncated {
        assert!(
            t.offset <= len,
            "truncation offset {} past end {len}",
            t.offset
        );
        black_box(t.to_string());
    }
    for m in &rrd.messages {
        assert!(
            m.offset + 16 + m.len <= len,
            "message at {} runs past the end",
            m.offset
        );
        match &m.message {
            Message::ArrowMsg {
                compression,
                uncompressed_size,
                ..
            } => assert!(
                *compression != spate::wire::proto::Compression::Lz4
                    || *uncompressed_size <= limits.max_uncompressed_bytes,
                "decompressed {uncompressed_size} bytes past the limit"
            ),
            other => {
                black_box(format!("{other:?}"));
            }
        }
    }
    for chunk in rrd.chunks() {
        let rows = chunk.num_rows();
        black_box((
            chunk.id().to_string(),
            chunk.entity().to_string(),
            chunk.is_static(),
        ));
        assert_eq!(chunk.row_ids().count(), rows);
        for t in chunk.timelines() {
            assert_eq!(t.values().len(), rows, "timeline {}", t.timeline().name());
            black_box((t.range(), t.is_sorted()));
        }
        for c in chunk.components() {
            black_box((
                c.descriptor().field_name(),
                c.descriptor().archetype_short_name(),
            ));
            assert_eq!(
                c.list().len(),
                rows,
                "component {}",
                c.descriptor().component
            );
            let n: usize = (0..rows).map(|i| c.list().value_length(i) as usize).sum();
            black_box((n, c.num_instances()));
        }
        black_box(chunk.heap_size_bytes());
        let _ = black_box(chunk_to_record_batch(chunk));
    }
    if let Some(f) = &rrd.footer {
        assert_eq!(f.valid, f.problems.is_empty());
        for p in &f.problems {
            black_box(p.to_string());
        }
        black_box(format!("{:?}", f.manifests));
    }
});
