//! Inputs that once crashed (or could crash) the decoder, plus hand-made malformed inputs:
//! `decode_rrd` must return on each of them without panicking, never decompress past its
//! limits, and what it returns must be self-consistent. Crashes found by `fuzz/` go into
//! `tests/data/fuzz-regressions/`.

use std::path::Path;

use spate::wire::{
    Compression, DecodeErrorKind, DecodeLimits, EncodedMessage, Message, RrdEncoder, StoreInfo,
    decode_rrd, decode_rrd_with,
};
use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};

/// Decodes `input` with the default limits and with tight ones (those of the fuzz
/// targets) and checks the results' invariants (the same as the fuzz targets'). Returns
/// `Ok(truncation offset)` or `Err(error offset)` of the default decode.
fn check(name: &str, input: &[u8]) -> Result<Option<u64>, u64> {
    let tight = DecodeLimits::default().max_uncompressed_bytes(1 << 20);
    let _ = check_with(name, input, &tight);
    check_with(name, input, &DecodeLimits::default())
}

fn check_with(name: &str, input: &[u8], limits: &DecodeLimits) -> Result<Option<u64>, u64> {
    let len = input.len() as u64;
    let rrd = match decode_rrd_with(input, limits) {
        Ok(rrd) => rrd,
        Err(e) => {
            assert!(
                e.offset <= len,
                "{name}: error offset {} > {len}: {e}",
                e.offset
            );
            assert!(!e.to_string().is_empty());
            return Err(e.offset);
        }
    };
    assert_eq!(rrd.input_len, len, "{name}");
    for m in &rrd.messages {
        assert!(
            m.offset + 16 + m.len <= len,
            "{name}: message at {} past end",
            m.offset
        );
        if let Message::ArrowMsg {
            compression: spate::wire::proto::Compression::Lz4,
            uncompressed_size,
            ..
        } = m.message
        {
            assert!(
                uncompressed_size <= limits.max_uncompressed_bytes,
                "{name}: decompressed {uncompressed_size} bytes past the limit"
            );
        }
    }
    for chunk in rrd.chunks() {
        let rows = chunk.num_rows();
        assert_eq!(chunk.row_ids().count(), rows, "{name}");
        for t in chunk.timelines() {
            assert_eq!(
                t.values().len(),
                rows,
                "{name}: timeline {}",
                t.timeline().name()
            );
        }
        let _ = spate::wire::chunk_to_record_batch(chunk);
    }
    if let Some(f) = &rrd.footer {
        assert_eq!(f.valid, f.problems.is_empty(), "{name}");
        let _ = f.problems.iter().map(ToString::to_string).count();
    }
    let t = rrd.truncated.map(|t| {
        assert!(
            t.offset <= len,
            "{name}: truncation offset {} > {len}",
            t.offset
        );
        assert!(!t.to_string().is_empty());
        t.offset
    });
    Ok(t)
}

#[test]
fn fuzz_regression_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let (mut n, mut failed) = (0, Vec::new());
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let path = entry.expect("readable directory entry").path();
        if path.is_file() {
            let name = path.display().to_string();
            let input = std::fs::read(&path).expect("readable file");
            // Keep going after a panic so the failure lists every bad file.
            match std::panic::catch_unwind(|| check(&name, &input)) {
                Ok(outcome) => {
                    eprintln!("{name}: {outcome:?} (Ok(truncation) / Err(error offset))")
                }
                Err(_) => failed.push(name),
            }
            n += 1;
        }
    }
    assert!(failed.is_empty(), "decode_rrd panicked on {failed:#?}");
    // The directory ships hand-made inputs (`hand-*.bin`), so this is never vacuous in-tree.
    if dir.exists() {
        assert!(n > 0, "{} holds no files", dir.display());
    }
}

/// A small valid recording: two entities × two frames, one chunk per row, with footer.
fn valid_rrd(compression: Compression) -> Vec<u8> {
    let store = StoreInfo::new("fuzz_regressions", "rec").unwrap();
    let mut out = Vec::new();
    let mut rrd = RrdEncoder::new(compression);
    rrd.write_header(&mut out).unwrap();
    rrd.write_message(&mut out, &EncodedMessage::set_store_info(&store))
        .unwrap();
    for f in 0..2 {
        let time = TimePoint::default().with_sequence("frame", f).unwrap();
        for e in 0..2 {
            let points = Points3D::new(vec![[f as f32, e as f32, 0.5]; 5]).with_radii(vec![0.1; 5]);
            let entity = EntityPath::parse(&format!("points/{e}")).unwrap();
            let chunk = Chunk::from_row(entity, RowId::new(), &time, &points).unwrap();
            let msg = EncodedMessage::arrow_msg(&chunk, &store, compression).unwrap();
            rrd.write_message(&mut out, &msg).unwrap();
        }
    }
    rrd.write_finish(&mut out).unwrap();
    out
}

const HEADER: &[u8; 12] = b"RRF2\x00\x29\x00\x00\x01\x02\x00\x00";

fn with_header(rest: &[u8]) -> Vec<u8> {
    [HEADER.as_slice(), rest].concat()
}

#[test]
fn hand_made_malformed_inputs() {
    let huge_len = [2u64.to_le_bytes(), (u64::MAX - 7).to_le_bytes()].concat();
    let mut garbage = Vec::with_capacity(4096);
    let mut x = 0x2545_f491_4f6c_dd1d_u64; // xorshift: same "random" bytes on every run
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        garbage.push(x as u8);
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("fourcc only", b"RRF2".to_vec()),
        ("bare header", HEADER.to_vec()),
        (
            "old format",
            b"RRF1\x00\x10\x00\x00\x00\x02\x00\x00".to_vec(),
        ),
        (
            "bad flags",
            b"RRF2\x00\x29\x00\x00\x07\x09\x01\x01".to_vec(),
        ),
        ("half a message header", with_header(&[2, 0, 0, 0])),
        ("huge message length", with_header(&huge_len)),
        ("unknown message kind", with_header(&[9; 16])),
        ("garbage after header", with_header(&garbage)),
        ("garbage", garbage.clone()),
    ];
    for (name, input) in &cases {
        let _ = check(name, input);
    }
    // Too short for a header, or complete messages then an early end: truncations, not errors.
    for (name, input) in &cases[..3] {
        assert!(check(name, input).unwrap().is_some(), "{name}");
    }
    let r = decode_rrd(with_header(&huge_len)).expect("a too-long message is a truncation");
    assert!(r.truncated.unwrap().offset <= 12 + 16);
}

/// `hand-lz4-bomb-within-ratio.bin`: an 8 KiB LZ4 payload (not LZ4 at all) claiming
/// 255 × 8 KiB. Within the limits the claim is allocated and found false; under a tighter
/// limit it is refused before anything is allocated.
#[test]
fn the_small_lz4_bomb_is_refused_under_a_tight_limit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let input = std::fs::read(dir.join("hand-lz4-bomb-within-ratio.bin")).unwrap();
    let e = decode_rrd(input.as_slice()).unwrap_err();
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::Lz4(_) | DecodeErrorKind::UncompressedSize { .. }
        ),
        "{e:?}"
    );
    let tight = DecodeLimits::default().max_uncompressed_bytes(1 << 20);
    let e = decode_rrd_with(input.as_slice(), &tight).unwrap_err();
    assert!(
        matches!(
            e.kind,
            DecodeErrorKind::UncompressedOverLimit { claimed, limit }
                if claimed == 255 * 8192 && limit == 1 << 20
        ),
        "{e:?}"
    );
}

#[test]
fn truncated_and_bit_flipped_valid_files() {
    for compression in [Compression::Off, Compression::Lz4] {
        let file = valid_rrd(compression);
        let full = decode_rrd(file.as_slice()).expect("valid file decodes");
        assert!(full.truncated.is_none(), "{compression:?}");
        assert!(
            full.footer.as_ref().is_some_and(|f| f.valid),
            "{compression:?}"
        );

        // Every prefix is a crashed writer: Ok, with a truncation marker inside the input.
        let step = (file.len() / 400).max(1);
        let mut cuts: Vec<usize> = (0..file.len()).step_by(step).collect();
        cuts.extend(full.messages.iter().flat_map(|m| {
            let o = m.offset as usize;
            [o, o + 1, o + 15, o + 16, o + 17]
        }));
        cuts.extend(file.len().saturating_sub(40)..file.len());
        for cut in cuts.into_iter().filter(|&c| c < file.len()) {
            let name = format!("{compression:?} cut at {cut}");
            let t = check(&name, &file[..cut]).unwrap_or_else(|o| panic!("{name}: error at {o}"));
            assert!(t.is_some_and(|t| t <= cut as u64), "{name}: {t:?}");
        }

        // One byte flipped: any result but a panic, with offsets inside the input.
        let step = (file.len() / 300).max(1);
        for pos in (0..file.len())
            .step_by(step)
            .chain(file.len() - 32..file.len())
        {
            for mask in [0x01, 0x80, 0xff] {
                let mut bad = file.clone();
                bad[pos] ^= mask;
                let _ = check(&format!("{compression:?} byte {pos} ^ {mask:#x}"), &bad);
            }
        }
    }
}
