//! FileSink: every backend writes files the official tools accept, byte-identical for the
//! same input; rotation; sync policies; a full disk; a writer killed mid-stream.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use spate::sink::{FileSink, FileSinkOptions, IoBackend, SyncPolicy};
use spate::wire::{TruncationReason, decode_rrd};
use spate::{
    BatchPolicy, EntityPath, ErrorChain, MemorySink, Points3D, Recording, SinkExt, SinkPolicy,
};

use crate::common::{PREAMBLE_MESSAGES, is_properties, logged_chunks, logged_rows};
use crate::file_sink_writer::{SmallFs, child, child_args};
use crate::official::{check, check_with, example_rows, official_python, write_expectation};

const BACKENDS: [IoBackend; 3] = [IoBackend::Pwrite, IoBackend::Mmap, IoBackend::Uring];

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

fn file(path: &Path, backend: IoBackend, opts: FileSinkOptions) -> spate::SinkSpec {
    FileSink::create(path, opts.backend(backend))
        .unwrap_or_else(|e| panic!("{backend}: {e}"))
        .with_policy(SinkPolicy::Block)
}

/// Logs the `points` example's data contract (so `example_rows` is the expectation).
fn log_example(rec: &Recording, points: u32, frames: u32, entities: u32) {
    for f in 0..frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        for e in 0..entities {
            let p = spate::demo::example_cloud(points, f, e);
            rec.log(&EntityPath::parse(&format!("points/{e}")).unwrap(), &p)
                .unwrap();
        }
    }
}

#[test]
fn every_backend_writes_the_same_bytes_and_the_official_tools_accept_them() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = BACKENDS
        .iter()
        .map(|b| dir.path().join(format!("{b}.rrd")))
        .collect();
    // One recording teeing into the three backends: the same encoded messages reach each.
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(
            BACKENDS
                .iter()
                .zip(&paths)
                .map(|(b, p)| file(p, *b, FileSinkOptions::default()))
                .collect::<Vec<_>>(),
        )
        .start()
        .unwrap();
    log_example(&rec, 50_000, 4, 2);
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(
        report.stats.chunks_encoded,
        report.sinks[0].stats.messages - PREAMBLE_MESSAGES,
        "encoded once for all sinks"
    );
    let bytes: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for (b, other) in BACKENDS.iter().zip(&bytes).skip(1) {
        assert!(
            other == &bytes[0],
            "{b} differs from pwrite ({} vs {} bytes)",
            other.len(),
            bytes[0].len()
        );
    }
    let decoded = decode_rrd(bytes[0].clone()).unwrap();
    assert!(decoded.footer.as_ref().unwrap().valid);
    let Some(python) = official_python("file_sink_backends") else {
        return;
    };
    for p in &paths {
        let expect = write_expectation(
            p,
            "spate_points",
            "points-example",
            &example_rows(50_000, 4, 2),
        );
        check(&python, p, &expect);
    }
}

#[test]
fn rotated_files_each_open_alone() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("rot.rrd");
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(file(
            &base,
            IoBackend::Pwrite,
            FileSinkOptions::default().rotate_bytes(300_000),
        ))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let origin = EntityPath::parse("origin").unwrap();
    rec.log_static(
        &origin,
        &Points3D::new(vec![[0.0f32; 3]]).with_radii([0.5f32]),
    )
    .unwrap();
    log_example(&rec, 10_000, 6, 1); // 6 rows of 200 kB: one per file
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let files: Vec<PathBuf> = (0..6)
        .map(|i| spate::sink::file::rotated_path(&base, i))
        .collect();
    assert!(files.iter().all(|f| f.exists()), "{files:?}");
    assert!(!spate::sink::file::rotated_path(&base, 6).exists());
    assert_eq!(files[0].file_name().unwrap(), "rot.00000.rrd");
    let python = official_python("rotated_files_each_open_alone");
    for (i, f) in files.iter().enumerate() {
        let d = decode_rrd(std::fs::read(f).unwrap()).unwrap();
        assert!(
            d.footer.as_ref().is_some_and(|f| f.valid),
            "{}",
            f.display()
        );
        assert!(matches!(
            d.messages[0].message,
            spate::wire::Message::SetStoreInfo(_)
        ));
        let statics = d
            .chunks()
            .filter(|c| c.is_static() && c.entity().as_str() == "/origin")
            .count();
        assert_eq!(statics, 1, "file {i} repeats the static data");
        let properties = d.chunks().filter(|c| is_properties(c)).count();
        assert_eq!(properties, 1, "file {i} repeats the recording's properties");
        let frames: Vec<i64> = d
            .chunks()
            .filter(|c| !c.is_static())
            .flat_map(|c| c.timelines()[0].values().to_vec())
            .collect();
        assert_eq!(frames, [i as i64], "file {i}");
        if let Some(py) = &python {
            let mut rows = example_rows(10_000, 6, 1);
            let mut row = rows.swap_remove(i);
            row.time = vec![("frame", "sequence", i as i64)];
            let static_row = crate::official::Row {
                entity: "/origin".into(),
                time: vec![],
                components: vec![
                    (
                        "Points3D:positions",
                        crate::official::Data::F32x3(vec![[0.0; 3]]),
                    ),
                    ("Points3D:radii", crate::official::Data::F32(vec![0.5])),
                ],
            };
            let expect = write_expectation(f, "spate_points", "points-example", &[static_row, row]);
            check(py, f, &expect);
        }
    }
}

#[test]
fn sync_policies_write_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    for (i, sync) in [
        SyncPolicy::Never,
        SyncPolicy::EveryBytes(100_000),
        SyncPolicy::Interval(Duration::ZERO),
        SyncPolicy::OnClose,
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("sync{i}.rrd"));
        let rec = Recording::builder("sync")
            .sinks(file(
                &path,
                IoBackend::Pwrite,
                FileSinkOptions::default().sync(sync),
            ))
            .start()
            .unwrap();
        log_example(&rec, 20_000, 3, 1);
        assert!(rec.shutdown(deadline()).is_complete());
        let d = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
        assert!(d.footer.as_ref().unwrap().valid, "{sync:?}");
        assert_eq!(logged_rows(&d), 3);
    }
}

#[test]
fn a_full_disk_fails_that_sink_alone() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 MiB tmpfs that fills up (root only; elsewhere /dev/full, which fails at once).
    let fs = SmallFs::mount(dir.path(), "1m");
    for backend in BACKENDS {
        let path = match &fs {
            Some(fs) => fs.0.join(format!("full-{backend}.rrd")),
            None => PathBuf::from("/dev/full"),
        };
        let full = match FileSink::create(&path, FileSinkOptions::default().backend(backend)) {
            Ok(s) => s,
            // /dev/full cannot even take the header (or be mapped), and the mmap backend
            // reserves 64 MiB up front: a typed error at creation is the honest answer.
            Err(e) => {
                let enospc = matches!(&e, spate::sink::FileSinkError::Backend { source, .. }
                    | spate::sink::FileSinkError::Write { source, .. }
                    if source.raw_os_error() == Some(28));
                assert!(
                    fs.is_none() || (backend == IoBackend::Mmap && enospc),
                    "{backend}: {}",
                    ErrorChain(&e)
                );
                continue;
            }
        };
        let (memory, got) = MemorySink::new();
        let rec = Recording::builder("full")
            .sinks((
                full.with_policy(SinkPolicy::Block),
                memory.with_policy(SinkPolicy::Block),
            ))
            .batch(BatchPolicy::unbatched())
            .start()
            .unwrap();
        let e = EntityPath::parse("p").unwrap();
        for f in 0..20 {
            rec.set_time_sequence("frame", f).unwrap();
            // 120 kB per row: the 1 MiB filesystem fills after a few rows.
            rec.log(&e, &Points3D::new(vec![[f as f32; 3]; 10_000]))
                .unwrap();
        }
        let report = rec.shutdown(deadline());
        let [file_sink, mem] = &report.sinks[..] else {
            panic!()
        };
        // (The engine keeps the error's own message; that its cause is ENOSPC is checked
        // where the sink returns it: file_sink_writer::a_full_disk_error_names_its_cause.)
        assert!(file_sink.stats.error.is_some(), "{backend}: {file_sink:#?}");
        assert!(
            file_sink.stats.dropped_sink_failed > 0,
            "{backend}: undelivered messages are counted"
        );
        assert_eq!(
            file_sink.stats.messages + file_sink.stats.dropped(),
            PREAMBLE_MESSAGES + 20,
            "{backend}: {file_sink:#?}"
        );
        assert_eq!(
            mem.stats.messages,
            PREAMBLE_MESSAGES + 20,
            "{backend}: the other sink carries on"
        );
        assert_eq!(got.len() as u64, PREAMBLE_MESSAGES + 20);
        if fs.is_some() {
            // Delivered is what the file holds: it ends after its last complete message.
            let d = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(
                d.messages.len() as u64,
                file_sink.stats.messages,
                "{backend}: {file_sink:#?}"
            );
            let t = d.truncated.as_ref().map(|t| &t.reason);
            assert_eq!(t, Some(&TruncationReason::NoEndMessage), "{backend}");
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Child side of the crash test: logs until killed.
#[test]
#[ignore = "run by killed_writer_leaves_a_readable_file as a child process"]
fn crash_child() {
    let Some((path, backend)) = child_args() else {
        return;
    };
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(file(&path, backend, FileSinkOptions::default()))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("points/0").unwrap();
    for f in 0.. {
        rec.set_time_sequence("frame", f).unwrap();
        let pos: Vec<[f32; 3]> = (0..5000)
            .map(|i| [i as f32 * 0.001, f as f32, (i % 7) as f32 * 0.25])
            .collect();
        rec.log(&e, &Points3D::new(pos)).unwrap();
        if f % 10 == 0 {
            rec.flush(deadline()).unwrap();
            // Tells the parent how far the file is (it reads our stdout).
            println!("flushed {f}");
        }
    }
}

#[test]
fn killed_writer_leaves_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let python = official_python("killed_writer_leaves_a_readable_file");
    for backend in BACKENDS {
        let path = dir.path().join(format!("crash-{backend}.rrd"));
        let mut child = child("file_sink::crash_child", &path, backend)
            .spawn()
            .unwrap();
        // Wait until the child has flushed 50 rows (it says so on stdout; EOF means it
        // died), then SIGKILL it while it keeps writing.
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let progressed = std::io::BufRead::lines(stdout)
            .map_while(Result::ok)
            .any(|l| {
                l.strip_prefix("flushed ")
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n >= 50)
            });
        assert!(progressed, "{backend}: child exited before writing 50 rows");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let d = decode_rrd(bytes.clone()).unwrap_or_else(|e| panic!("{backend}: {e}"));
        let t = d
            .truncated
            .as_ref()
            .expect("a killed writer leaves no footer");
        assert!(
            matches!(
                t.reason,
                TruncationReason::NoEndMessage
                    | TruncationReason::MessageBody { .. }
                    | TruncationReason::MessageHeader
                    | TruncationReason::UnwrittenTail
            ),
            "{backend}: {t}"
        );
        let rows = logged_rows(&d);
        assert!(rows >= 50, "{backend}: {rows} complete rows");
        eprintln!(
            "{backend}: {} bytes, {rows} complete rows, {t}",
            bytes.len()
        );
        if let Some(py) = &python {
            // The official readers take every complete message: cut at the decoder's mark and
            // compare the values of those rows.
            let cut = dir.path().join(format!("crash-{backend}-complete.rrd"));
            std::fs::write(&cut, &bytes[..t.offset as usize]).unwrap();
            let frames: Vec<i64> = logged_chunks(&d)
                .flat_map(|c| c.timelines()[0].values().to_vec())
                .collect();
            let expect_rows: Vec<crate::official::Row> = frames
                .iter()
                .map(|&f| crate::official::Row {
                    entity: "/points/0".into(),
                    time: vec![("frame", "sequence", f)],
                    components: vec![(
                        "Points3D:positions",
                        crate::official::Data::F32x3(
                            (0..5000)
                                .map(|i| [i as f32 * 0.001, f as f32, (i % 7) as f32 * 0.25])
                                .collect(),
                        ),
                    )],
                })
                .collect();
            let expect = write_expectation(&cut, "spate_points", "points-example", &expect_rows);
            check_with(py, &cut, &expect, true);
            // The file exactly as the kill left it (possibly mid-message, or with the mmap
            // backend's zero-filled tail, which the official decoder logs as a corrupt
            // footer and stops at) passes verify without footer checks.
            let out = std::process::Command::new(py.parent().unwrap().join("rerun"))
                .args(["rrd", "verify", "--check-footers", "false"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{backend}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn rotation_by_age_and_auto_backend_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("age.rrd");
    // An interval of zero: every chunk after the first in a file starts a new file.
    let sink = FileSink::create(
        &base,
        FileSinkOptions::default().rotate_interval(Duration::ZERO),
    )
    .unwrap();
    // Auto resolves to a concrete backend (io_uring where the kernel has it, as here).
    assert_ne!(sink.backend(), IoBackend::Auto);
    let rec = Recording::builder("age")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    log_example(&rec, 100, 3, 1);
    assert!(rec.shutdown(deadline()).is_complete());
    for i in 0..3 {
        let f = spate::sink::file::rotated_path(&base, i);
        let d = decode_rrd(std::fs::read(&f).unwrap()).unwrap();
        assert!(d.footer.as_ref().unwrap().valid, "{}", f.display());
        assert_eq!(logged_chunks(&d).count(), 1, "{}", f.display());
        // Every file opens alone: the recording's properties first.
        assert!(is_properties(d.chunks().next().unwrap()), "{}", f.display());
    }
    assert!(!spate::sink::file::rotated_path(&base, 3).exists());
}
