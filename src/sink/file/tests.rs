//! The sink's accounting when a write fails the way an io_uring write does (accepted, then
//! reported at the next wait): what the error says it cost is exactly what the file lacks, the
//! file ends at a message boundary, and no footer indexes a message that is not there. Every
//! backend, through the fault-injecting wrapper (`backend/fault.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use super::backend::fault::Fault;
use super::*;
use crate::wire::{DecodedRrd, Message, StoreInfo, TruncationReason, decode_rrd};
use crate::{ChunkBuilder, EntityPath, ErrorChain, Points3D, RowId, TimePoint};

const BACKENDS: [IoBackend; 3] = [IoBackend::Pwrite, IoBackend::Mmap, IoBackend::Uring];

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

fn store() -> StoreInfo {
    StoreInfo::new("faults", "rec").unwrap()
}

/// Chunk `i`: frame `i`, `i % 3 + 1` rows of 2,000 points.
fn chunk(i: i64) -> EncodedMessage {
    let mut b = ChunkBuilder::new(EntityPath::parse("points").unwrap());
    for r in 0..(i % 3 + 1) {
        let time = TimePoint::default().with_sequence("frame", i).unwrap();
        let cloud = Points3D::new(vec![[i as f32, r as f32, 0.5]; 2000]);
        b.push_row(RowId::new(), time, &cloud).unwrap();
    }
    EncodedMessage::arrow_msg(&b.build().unwrap(), &store(), Compression::Off).unwrap()
}

/// What a message costs if lost: (messages, bytes, rows).
fn cost(msgs: &[EncodedMessage]) -> (u64, u64, u64) {
    msgs.iter().fold((0, 0, 0), |(m, b, r), msg| {
        (
            m + 1,
            b + msg.len() as u64,
            r + msg.summary().map_or(0, |s| s.num_rows),
        )
    })
}

fn lost(e: &SinkError) -> (u64, u64, u64) {
    match e {
        SinkError::IoLost {
            lost_messages,
            lost_bytes,
            lost_rows,
            ..
        } => (*lost_messages, *lost_bytes, *lost_rows),
        SinkError::Io(_) => (0, 0, 0),
        other => panic!("not an I/O error: {}", ErrorChain(other)),
    }
}

/// The file as a reader finds it after a failure: no footer, cut at a message boundary.
fn cut_file(path: &Path) -> DecodedRrd {
    let bytes = std::fs::read(path).unwrap();
    // (A StreamFooter behind a hole is invisible to a sequential decoder, not to a reader
    // that starts from the footer.)
    assert!(
        !bytes.ends_with(b"RRF2FOOT\x01\0\0\0"),
        "{}: a StreamFooter after a failed write",
        path.display()
    );
    let d = decode_rrd(bytes).unwrap();
    assert!(
        d.footer.is_none(),
        "{}: a footer after a failed write",
        path.display()
    );
    let t = d.truncated.as_ref().expect("no footer: truncated");
    assert_eq!(
        t.reason,
        TruncationReason::NoEndMessage,
        "{}: not cut at a message boundary",
        path.display()
    );
    assert!(matches!(d.messages[0].message, Message::SetStoreInfo(_)));
    d
}

fn frames(d: &DecodedRrd) -> Vec<i64> {
    d.chunks()
        .flat_map(|c| c.timelines()[0].values().to_vec())
        .collect()
}

fn frames_of(chunks: std::ops::Range<i64>) -> Vec<i64> {
    chunks.flat_map(|i| vec![i; (i % 3 + 1) as usize]).collect()
}

/// Writes the store info and chunks `0..n`, every write accepted.
fn write_all(sink: &mut FileSink, n: i64) -> Vec<EncodedMessage> {
    sink.write(&EncodedMessage::set_store_info(&store()))
        .unwrap();
    let msgs: Vec<EncodedMessage> = (0..n).map(chunk).collect();
    for m in &msgs {
        sink.write(m).unwrap();
    }
    msgs
}

/// Writes are 0: StreamHeader, 1: SetStoreInfo, 2 + i: chunk i.
fn fails_at_chunk(segment: u32, i: usize) -> Fault {
    Fault {
        segment,
        write: 2 + i,
    }
}

/// Writes the store info and chunks `0..n` with chunk `fail` failing, then has `report`
/// surface the failure: its cost is chunks `fail..n` (the failed one never reached the file,
/// the rest lie beyond the hole), and the file ends after chunk `fail - 1`, without footer.
fn failure_reported_by(
    what: &str,
    fail: usize,
    n: i64,
    report: impl Fn(&mut FileSink) -> Result<(), SinkError>,
) {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let path = dir.path().join(format!("{what}-{backend}.rrd"));
        let opts = FileSinkOptions::default().backend(backend);
        let mut sink = FileSink::create_with_fault(&path, opts, fails_at_chunk(0, fail)).unwrap();
        let msgs = write_all(&mut sink, n);
        let e = report(&mut sink).expect_err("the failed write surfaces");
        let chain = ErrorChain(&e).to_string();
        assert_eq!(lost(&e), cost(&msgs[fail..]), "{what}, {backend}: {chain}");
        assert!(chain.contains("Input/output error"), "{chain}");
        // Reported once: closing afterwards costs nothing more.
        if let Err(e) = sink.close(deadline()) {
            assert_eq!(lost(&e), (0, 0, 0), "{what}, {backend}: {}", ErrorChain(&e));
        }
        let d = cut_file(&path);
        assert_eq!(frames(&d), frames_of(0..fail as i64), "{what}, {backend}");
    }
}

#[test]
fn a_failure_reported_at_close_costs_exactly_the_messages_the_file_lacks() {
    failure_reported_by("close", 2, 6, |sink| sink.close(deadline()));
}

#[test]
fn a_failure_reported_at_flush_costs_exactly_the_messages_the_file_lacks() {
    failure_reported_by("flush", 4, 7, |sink| sink.flush(deadline()));
}

/// A sink on `base` that starts a new file for every chunk after the first of a file.
fn rotating_every_chunk(base: &Path, backend: IoBackend, fault: Fault) -> FileSink {
    let opts = FileSinkOptions::default()
        .backend(backend)
        .rotate_interval(Duration::ZERO);
    FileSink::create_with_fault(base, opts, fault).unwrap()
}

#[test]
fn a_failure_reported_at_rotation_is_counted_and_leaves_no_footer() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let base = dir.path().join(format!("rot-{backend}.rrd"));
        let mut sink = rotating_every_chunk(&base, backend, fails_at_chunk(0, 0));
        sink.write(&EncodedMessage::set_store_info(&store()))
            .unwrap();
        let first = chunk(0);
        sink.write(&first).unwrap();
        // The next chunk finishes file 0 first, and learns that chunk 0 never got there.
        let e = sink
            .write(&chunk(1))
            .expect_err("the failed write surfaces");
        assert_eq!(
            lost(&e),
            cost(std::slice::from_ref(&first)),
            "{backend}: {}",
            ErrorChain(&e)
        );
        let _ = sink.close(deadline());
        let d = cut_file(&rotated_path(&base, 0));
        assert!(frames(&d).is_empty(), "{backend}");
        assert!(
            !rotated_path(&base, 1).exists(),
            "{backend}: rotated after a failure"
        );
    }
}

#[test]
fn a_file_that_holds_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    // File 1's StreamHeader fails: the file holds nothing a reader could open.
    let fault = Fault {
        segment: 1,
        write: 0,
    };
    for backend in BACKENDS {
        let base = dir.path().join(format!("empty-{backend}.rrd"));
        let mut sink = rotating_every_chunk(&base, backend, fault);
        let msgs = write_all(&mut sink, 2);
        let e = sink
            .close(deadline())
            .expect_err("the failed write surfaces");
        assert_eq!(lost(&e), cost(&msgs[1..]), "{backend}: {}", ErrorChain(&e));
        assert!(!rotated_path(&base, 1).exists(), "{backend}");
        let d = decode_rrd(std::fs::read(rotated_path(&base, 0)).unwrap()).unwrap();
        assert!(d.footer.as_ref().is_some_and(|f| f.valid), "{backend}");
        assert_eq!(frames(&d), frames_of(0..1), "{backend}");
    }
}

/// A sync finds the failure before the next message is written: that message is refused
/// (the engine counts it), and only the earlier ones are in the error's cost.
#[test]
fn a_failure_found_by_a_sync_costs_the_earlier_messages_only() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let path = dir.path().join(format!("sync-{backend}.rrd"));
        let opts = FileSinkOptions::default()
            .backend(backend)
            .sync(SyncPolicy::EveryBytes(1));
        let mut sink = FileSink::create_with_fault(&path, opts, fails_at_chunk(0, 1)).unwrap();
        let msgs = write_all(&mut sink, 2);
        let e = sink
            .write(&chunk(2))
            .expect_err("the failed write surfaces");
        assert_eq!(lost(&e), cost(&msgs[1..]), "{backend}: {}", ErrorChain(&e));
        let _ = sink.close(deadline());
        let d = cut_file(&path);
        assert_eq!(frames(&d), frames_of(0..1), "{backend}");
    }
}

/// The recording's properties (the static `/__properties` chunk a recording sends right
/// after its store info) are not a file's own data: a file that holds only them does not
/// rotate, by age or before a chunk larger than `rotate_bytes`, so no file holds the
/// recording's identity alone; every file replays them. Before, they counted as the first
/// file's own chunk: that file rotated before the first logged chunk and held nothing else.
#[test]
fn the_recordings_properties_alone_do_not_make_a_file_rotate() {
    let properties = crate::drain::RecordingProperties {
        start_time: std::time::SystemTime::now(),
        name: Some("rotation".into()),
    }
    .chunk()
    .unwrap();
    let properties = EncodedMessage::arrow_msg(&properties, &store(), Compression::Off).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let by_age = FileSinkOptions::default().rotate_interval(Duration::ZERO);
    // Each chunk (24 kB and more) is larger than the bound on its own.
    let by_size = FileSinkOptions::default().rotate_bytes(1_000);
    for (what, opts) in [("age", by_age), ("size", by_size)] {
        for backend in BACKENDS {
            let base = dir.path().join(format!("props-{what}-{backend}.rrd"));
            let mut sink = FileSink::create(&base, opts.backend(backend)).unwrap();
            sink.write(&EncodedMessage::set_store_info(&store()))
                .unwrap();
            sink.write(&properties).unwrap();
            for i in 0..2 {
                sink.write(&chunk(i)).unwrap();
            }
            sink.close(deadline()).unwrap();
            for i in 0..2 {
                let d = decode_rrd(std::fs::read(rotated_path(&base, i)).unwrap()).unwrap();
                assert!(
                    d.footer.as_ref().is_some_and(|f| f.valid),
                    "{what}, {backend}"
                );
                let entities: Vec<&str> = d.chunks().map(|c| c.entity().as_str()).collect();
                assert_eq!(
                    entities,
                    ["/__properties", "/points"],
                    "{what}, {backend}: file {i}"
                );
                let frames: Vec<i64> = d
                    .chunks()
                    .filter(|c| !c.is_static())
                    .flat_map(|c| c.timelines()[0].values().to_vec())
                    .collect();
                assert_eq!(
                    frames,
                    frames_of(i64::from(i)..i64::from(i) + 1),
                    "{what}, {backend}: file {i}"
                );
            }
            assert!(!rotated_path(&base, 2).exists(), "{what}, {backend}");
        }
    }
}

/// A sink whose finished files are collected, in the order reported.
fn collecting(
    sink: FileSink,
) -> (
    FileSink,
    std::sync::Arc<std::sync::Mutex<Vec<FinishedSegment>>>,
) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let to = std::sync::Arc::clone(&seen);
    let sink = sink.on_finished(std::sync::Arc::new(move |seg| to.lock().unwrap().push(seg)));
    (sink, seen)
}

/// Rotation reports each file as it finishes, in order, complete and with its true length;
/// the close reports the last one.
#[test]
fn every_finished_file_is_reported_in_order_and_the_close_reports_the_last() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let base = dir.path().join(format!("hook-{backend}.rrd"));
        let opts = FileSinkOptions::default()
            .backend(backend)
            .rotate_interval(Duration::ZERO);
        let (mut sink, seen) = collecting(FileSink::create(&base, opts).unwrap());
        // Store info + 4 chunks: one chunk per file, so files 0..=3.
        write_all(&mut sink, 4);
        let before_close = seen.lock().unwrap().clone();
        assert_eq!(before_close.len(), 3, "{backend}: three rotations");
        sink.close(deadline()).unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 4, "{backend}: {seen:?}");
        for (i, seg) in seen.iter().enumerate() {
            assert_eq!(seg.index, i as u32, "{backend}");
            assert_eq!(seg.path, rotated_path(&base, i as u32), "{backend}");
            assert!(seg.complete, "{backend}: {seg:?}");
            assert_eq!(seg.last, i == 3, "{backend}: {seg:?}");
            assert_eq!(seg.bytes, std::fs::metadata(&seg.path).unwrap().len());
            let d = decode_rrd(std::fs::read(&seg.path).unwrap()).unwrap();
            assert!(d.footer.is_some_and(|f| f.valid), "{backend}: file {i}");
        }
    }
}

/// A failure reports the file it cut as incomplete and last; a file it emptied (and
/// removed) is not reported.
#[test]
fn a_file_cut_by_a_failure_is_reported_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let base = dir.path().join(format!("cut-{backend}.rrd"));
        let sink = FileSink::create_with_fault(
            &base,
            FileSinkOptions::default().backend(backend),
            fails_at_chunk(0, 2),
        )
        .unwrap();
        let (mut sink, seen) = collecting(sink);
        write_all(&mut sink, 6);
        let _ = sink.close(deadline());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{backend}: {seen:?}");
        assert!(!seen[0].complete && seen[0].last, "{backend}: {seen:?}");
        assert_eq!(seen[0].bytes, std::fs::metadata(&base).unwrap().len());
        cut_file(&base);

        // File 1's StreamHeader fails and the file is removed: only file 0 is reported.
        let base = dir.path().join(format!("gone-{backend}.rrd"));
        let opts = FileSinkOptions::default()
            .backend(backend)
            .rotate_interval(Duration::ZERO);
        let fault = Fault {
            segment: 1,
            write: 0,
        };
        let (mut sink, seen) = collecting(FileSink::create_with_fault(&base, opts, fault).unwrap());
        write_all(&mut sink, 2);
        let _ = sink.close(deadline());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{backend}: {seen:?}");
        assert!(
            seen[0].complete && seen[0].index == 0,
            "{backend}: {seen:?}"
        );
    }
}
