//! A FileSink is a file's only writer (an advisory lock, in this process and across
//! processes, rotation included), and what its stats call delivered is exactly what a reader
//! finds in its files, on a full disk too. Statics are kept for replay only with rotation,
//! within a byte bound, and big ones do not make every later message rotate.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use spate::sink::file::rotated_path;
use spate::sink::{FileSink, FileSinkError, FileSinkOptions, IoBackend};
use spate::wire::{
    Compression, DecodedRrd, EncodedMessage, Message, StoreInfo, TruncationReason, decode_rrd,
};
use spate::{
    BatchPolicy, Chunk, EntityPath, ErrorChain, Points3D, Recording, RowId, Sink, SinkExt,
    SinkPolicy, TimePoint,
};

use crate::common::{PREAMBLE_MESSAGES, PROPERTIES_ENTITY, is_properties};
use crate::official::{
    Data, Row, check, check_with, example_rows, log_example_frames, official_python,
    write_expectation,
};

const BACKENDS: [IoBackend; 3] = [IoBackend::Pwrite, IoBackend::Mmap, IoBackend::Uring];

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

fn opts(backend: IoBackend) -> FileSinkOptions {
    FileSinkOptions::default().backend(backend)
}

fn spec(path: &Path, opts: FileSinkOptions) -> spate::SinkSpec {
    FileSink::create(path, opts)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), ErrorChain(&e)))
        .with_policy(SinkPolicy::Block)
}

/// A recording of the points example (`spate_points` / `points-example`) into `sink`, a
/// chunk per row (so a row over 256 KiB is a chunk of the logged memory itself).
fn points_recording(sink: impl Into<spate::SinkSpec>) -> Recording {
    Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(sink.into())
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap()
}

/// This test binary running its `#[ignore]`d child test `test` for `path` and `backend`
/// (see [`child_args`]), stdout piped.
pub fn child(test: &str, path: &Path, backend: IoBackend) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--ignored", "--nocapture"])
        .env("SPATE_CHILD_PATH", path)
        .env("SPATE_CHILD_BACKEND", backend.as_str())
        .stdout(Stdio::piped());
    cmd
}

/// In a child test: the path and backend its parent gave ([`child`]); `None` when the test
/// was run directly (it then does nothing).
pub fn child_args() -> Option<(PathBuf, IoBackend)> {
    let path = std::env::var_os("SPATE_CHILD_PATH")?;
    let backend = std::env::var("SPATE_CHILD_BACKEND").ok()?.parse().ok()?;
    Some((PathBuf::from(path), backend))
}

fn assert_locked(result: Result<FileSink, FileSinkError>, path: &Path, what: &str) {
    match result {
        Err(FileSinkError::Locked { path: p }) => assert_eq!(p, path, "{what}"),
        Err(e) => panic!("{what}: {}", ErrorChain(&e)),
        Ok(_) => panic!("{what}: a second writer opened {}", path.display()),
    }
}

/// Child side of `a_second_writer_in_the_same_process_is_refused`: one recording writes the
/// file; a second sink is created on the same path (as `set_sinks` to the same path would),
/// and the first one carries on writing.
#[test]
#[ignore = "run by a_second_writer_in_the_same_process_is_refused as a child process"]
fn second_writer_child() {
    let Some((path, backend)) = child_args() else {
        return;
    };
    let rec = points_recording(spec(&path, opts(backend)));
    log_example_frames(&rec, 0..3, 20_000, 1);
    rec.flush(deadline()).unwrap();
    // A second sink on the same path, with each backend (as `set_sinks` to the same path
    // would create one): pwrite's truncates the file under the first sink's mapping.
    let mut second = None;
    for other in [IoBackend::Pwrite, IoBackend::Mmap, IoBackend::Uring] {
        match FileSink::create(&path, opts(other)) {
            Err(e) => println!("refused: {}", ErrorChain(&e)),
            Ok(s) => {
                println!("second writer opened ({other})");
                second = Some(s);
            }
        }
    }
    // The first writer keeps writing (with the mmap backend: into its mapping).
    log_example_frames(&rec, 3..6, 20_000, 1);
    rec.flush(deadline()).unwrap();
    if let Some(second) = second {
        rec.set_sinks(second.with_policy(SinkPolicy::Block))
            .unwrap();
    }
    assert!(rec.shutdown(deadline()).is_complete());
    println!("done");
}

/// Issue 12: a second `FileSink` on a path a running sink writes truncated the file under
/// it — SIGBUS with the mmap backend, a corrupt file with the others. Now it is refused, and
/// the first sink's file is whole. Runs in a child process, so a SIGBUS fails this test
/// instead of killing the test binary.
#[test]
fn a_second_writer_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let python = official_python("a_second_writer_in_the_same_process_is_refused");
    for backend in BACKENDS {
        let path = dir.path().join(format!("second-{backend}.rrd"));
        let out = child("file_sink_writer::second_writer_child", &path, backend)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("done"),
            "{backend}: child {:?} (signal {:?})\n{stdout}\n{}",
            out.status,
            out.status.signal(),
            String::from_utf8_lossy(&out.stderr)
        );
        let refused: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("refused: "))
            .collect();
        let expected = format!("another writer holds {}", path.display());
        assert_eq!(refused, [expected.as_str(); 3], "{backend}:\n{stdout}");
        let d = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
        assert!(d.footer.as_ref().is_some_and(|f| f.valid), "{backend}");
        assert_eq!(frames(&d), (0..6).collect::<Vec<_>>(), "{backend}");
        if let Some(py) = &python {
            let expect = write_expectation(
                &path,
                "spate_points",
                "points-example",
                &example_rows(20_000, 6, 1),
            );
            check(py, &path, &expect);
        }
    }
}

/// Child side of `another_process_holding_the_file_is_refused`: holds sinks on the paths it
/// is given until its stdin closes.
#[test]
#[ignore = "run by another_process_holding_the_file_is_refused as a child process"]
fn lock_holder_child() {
    let Some((dir, _)) = child_args() else {
        return;
    };
    let mut sinks: Vec<FileSink> = BACKENDS
        .iter()
        .map(|b| FileSink::create(dir.join(format!("held-{b}.rrd")), opts(*b)).unwrap())
        .collect();
    sinks.push(
        FileSink::create(
            dir.join("held-rotating.rrd"),
            opts(IoBackend::Pwrite).rotate_bytes(1 << 20),
        )
        .unwrap(),
    );
    for s in &mut sinks {
        s.flush(deadline()).unwrap();
    }
    println!("holding");
    std::io::stdout().flush().unwrap();
    // Until the parent closes our stdin (EOF), or it dies.
    let _ = std::io::stdin().lines().count();
    for s in &mut sinks {
        s.close(deadline()).unwrap();
    }
    println!("released");
}

#[test]
fn another_process_holding_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let holder_test = "file_sink_writer::lock_holder_child";
    let mut holder = child(holder_test, dir.path(), IoBackend::Pwrite)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(
        lines.by_ref().map_while(Result::ok).any(|l| l == "holding"),
        "the child exited before holding its files"
    );
    for backend in BACKENDS {
        let path = dir.path().join(format!("held-{backend}.rrd"));
        let before = std::fs::read(&path).unwrap();
        for other in BACKENDS {
            assert_locked(
                FileSink::create(&path, opts(other)),
                &path,
                &format!("{other} over {backend}"),
            );
        }
        // Refused before anything truncated the file.
        assert_eq!(std::fs::read(&path).unwrap(), before, "{backend}");
        assert!(before.starts_with(b"RRF2"), "{backend}");
    }
    let base = dir.path().join("held-rotating.rrd");
    assert_locked(
        FileSink::create(&base, opts(IoBackend::Pwrite).rotate_bytes(1 << 20)),
        &rotated_path(&base, 0),
        "a rotating sink with the same base",
    );
    // The holder lets go: the files can be written again. (Read its output to the end, so
    // that it never writes into a closed pipe.)
    drop(holder.stdin.take());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l == "released"),
        "the child did not release its files: {rest:?}"
    );
    assert!(holder.wait().unwrap().success());
    for backend in BACKENDS {
        let path = dir.path().join(format!("held-{backend}.rrd"));
        let mut sink = FileSink::create(&path, opts(backend)).unwrap();
        sink.close(deadline()).unwrap();
    }
}

/// Two rotating sinks with one base cannot clobber each other: the first file (`.00000.`)
/// stays locked for the sink's whole life, even after it rotated past it, and the file being
/// written is locked too.
#[test]
fn a_rotating_sink_holds_its_base_for_its_whole_life() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("rot.rrd");
    let rotating = opts(IoBackend::Pwrite).rotate_bytes(300_000);
    let rec = points_recording(spec(&base, rotating));
    // 200 kB a frame: one frame a file, so file 2 is being written.
    log_example_frames(&rec, 0..3, 10_000, 1);
    rec.flush(deadline()).unwrap();
    assert!(rotated_path(&base, 2).exists() && !rotated_path(&base, 3).exists());
    let first = rotated_path(&base, 0);
    let first_bytes = std::fs::read(&first).unwrap();
    assert_locked(
        FileSink::create(&base, rotating),
        &first,
        "a second rotating sink",
    );
    for i in [0, 2] {
        let seg = rotated_path(&base, i);
        assert_locked(
            FileSink::create(&seg, opts(IoBackend::Pwrite)),
            &seg,
            &format!("a plain sink on file {i}"),
        );
    }
    assert_eq!(
        std::fs::read(&first).unwrap(),
        first_bytes,
        "file 0 untouched"
    );
    log_example_frames(&rec, 3..4, 10_000, 1);
    assert!(rec.shutdown(deadline()).is_complete());
    let mut all = Vec::new();
    for i in 0..4 {
        let d = decode_rrd(std::fs::read(rotated_path(&base, i)).unwrap()).unwrap();
        assert!(d.footer.as_ref().is_some_and(|f| f.valid), "file {i}");
        all.extend(frames(&d));
    }
    assert_eq!(all, [0, 1, 2, 3]);
    // Once the sink is gone, its base is free again.
    let mut again = FileSink::create(&base, rotating).unwrap();
    again.close(deadline()).unwrap();
}

/// A rotating sink whose next file another writer holds stops there with that error, and
/// leaves the other writer's file alone.
#[test]
fn a_rotation_into_a_held_file_fails_that_sink_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreInfo::new("held", "next").unwrap();
    for backend in BACKENDS {
        let base = dir.path().join(format!("next-{backend}.rrd"));
        let every_chunk = opts(backend).rotate_interval(Duration::ZERO);
        let mut rotating = FileSink::create(&base, every_chunk).unwrap();
        let next = rotated_path(&base, 1);
        let mut holder = FileSink::create(&next, opts(IoBackend::Pwrite)).unwrap();
        holder.flush(deadline()).unwrap();
        rotating
            .write(&EncodedMessage::set_store_info(&store))
            .unwrap();
        rotating.write(&chunk(&store, 0, 100)).unwrap();
        // The next chunk would start file 1.
        let e = rotating
            .write(&chunk(&store, 1, 100))
            .expect_err("file 1 is held");
        assert_eq!(
            ErrorChain(&e).to_string(),
            format!("I/O error: another writer holds {}", next.display()),
            "{backend}"
        );
        assert_eq!(
            std::fs::read(&next).unwrap().len(),
            12,
            "{backend}: a header only"
        );
        holder.close(deadline()).unwrap();
        let d = decode_rrd(std::fs::read(rotated_path(&base, 0)).unwrap()).unwrap();
        assert!(d.footer.as_ref().is_some_and(|f| f.valid), "{backend}");
        assert_eq!(frames(&d), [0], "{backend}");
    }
}

/// A one-row chunk of `points` points at `frame`.
fn chunk(store: &StoreInfo, frame: i64, points: usize) -> EncodedMessage {
    let time = TimePoint::default().with_sequence("frame", frame).unwrap();
    let cloud = Points3D::new(vec![[frame as f32; 3]; points]);
    let entity = EntityPath::parse("points").unwrap();
    let chunk = Chunk::from_row(entity, RowId::new(), &time, &cloud).unwrap();
    EncodedMessage::arrow_msg(&chunk, store, Compression::Off).unwrap()
}

fn frames(d: &DecodedRrd) -> Vec<i64> {
    d.chunks()
        .filter(|c| !c.is_static())
        .flat_map(|c| c.timelines()[0].values().to_vec())
        .collect()
}

/// A tmpfs of `size` under `dir` that fills up: needs root (or CAP_SYS_ADMIN); `None`, after
/// a loud note, elsewhere. (The accounting after a failed write is also covered everywhere
/// by the fault-injecting unit tests in `src/sink/file/tests.rs`.)
pub struct SmallFs(pub PathBuf);

impl SmallFs {
    pub fn mount(dir: &Path, size: &str) -> Option<Self> {
        let mnt = dir.join(format!("fs-{size}"));
        std::fs::create_dir_all(&mnt).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("\n!!!!!!!! SKIP full-disk case: cannot mount a tmpfs here !!!!!!!!\n");
            return None;
        }
        Some(Self(mnt))
    }

    /// A tmpfs that `backend` fills up with a few files of 200 kB: 1 MiB, or 65 MiB for the
    /// mmap backend, which reserves 64 MiB per file (room for one file at a time).
    fn fillable_by(dir: &Path, backend: IoBackend) -> Option<Self> {
        let size = if backend == IoBackend::Mmap {
            "65m"
        } else {
            "1m"
        };
        Self::mount(dir, size)
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 12: with rotation on a disk that fills up, the messages the sink calls delivered
/// are exactly the ones its files hold (a loss the io_uring backend learns of while
/// finishing a file used to stay counted as delivered); every file is whole or cut at a
/// message boundary without a footer, and the official tools accept each.
#[test]
fn on_a_full_disk_delivered_is_what_the_files_hold() {
    let dir = tempfile::tempdir().unwrap();
    let python = official_python("on_a_full_disk_delivered_is_what_the_files_hold");
    for backend in BACKENDS {
        let Some(fs) = SmallFs::fillable_by(dir.path(), backend) else {
            return;
        };
        let base = fs.0.join(format!("full-{backend}.rrd"));
        // 200 kB frames, one a file.
        let rec = points_recording(spec(&base, opts(backend).rotate_bytes(300_000)));
        let frames_logged = 40;
        log_example_frames(&rec, 0..frames_logged, 10_000, 1);
        let report = rec.shutdown(deadline());
        let s = &report.sinks[0].stats;
        assert!(
            s.error.is_some(),
            "{backend}: the disk never filled: {s:#?}"
        );
        assert_eq!(
            s.messages + s.dropped(),
            PREAMBLE_MESSAGES + u64::from(frames_logged),
            "{backend}: {s:#?}"
        );
        let mut found = Vec::new();
        // The preamble delivered (SetStoreInfo and the properties, in file 0; later files
        // replay them, which is not a delivery).
        let mut preamble = 0;
        for i in 0.. {
            let f = rotated_path(&base, i);
            if !f.exists() {
                assert!(!rotated_path(&base, i + 1).exists(), "{backend}: a gap");
                break;
            }
            let bytes = std::fs::read(&f).unwrap();
            let d = decode_rrd(bytes).unwrap_or_else(|e| panic!("{backend} file {i}: {e}"));
            let whole = d.footer.as_ref().is_some_and(|f| f.valid);
            if !whole {
                let t = d.truncated.as_ref().unwrap();
                assert_eq!(
                    t.reason,
                    TruncationReason::NoEndMessage,
                    "{backend} file {i}"
                );
            }
            if i == 0 {
                preamble += usize::from(matches!(d.messages[0].message, Message::SetStoreInfo(_)));
                preamble += d.chunks().filter(|c| is_properties(c)).count();
            }
            let in_file = frames(&d);
            if let Some(py) = &python {
                let rows: Vec<Row> = in_file
                    .iter()
                    .map(|&f| example_rows(10_000, f as u32 + 1, 1).swap_remove(f as usize))
                    .collect();
                // The full file system has no room for the expectation: check a copy.
                let copy = dir.path().join(format!("copy-{backend}-{i}.rrd"));
                std::fs::copy(&f, &copy).unwrap();
                let expect = write_expectation(&copy, "spate_points", "points-example", &rows);
                check_with(py, &copy, &expect, !whole);
            }
            found.extend(in_file);
        }
        assert_eq!(
            s.messages,
            (preamble + found.len()) as u64,
            "{backend}: delivered vs what the files hold ({found:?}): {s:#?}"
        );
        assert_eq!(
            found,
            (0..found.len() as i64).collect::<Vec<_>>(),
            "{backend}"
        );
    }
}

/// Issue 12: a static larger than `rotate_bytes` used to count as the file's own data in
/// every file it was replayed into, so each later message started a new file.
#[test]
fn statics_larger_than_rotate_bytes_do_not_rotate_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let python = official_python("statics_larger_than_rotate_bytes_do_not_rotate_every_message");
    for backend in BACKENDS {
        let base = dir.path().join(format!("big-static-{backend}.rrd"));
        let rec = points_recording(spec(&base, opts(backend).rotate_bytes(300_000)));
        // 480 kB of static data, then six 20 kB frames.
        let map = Points3D::new(vec![[1.0f32, 2.0, 3.0]; 40_000]);
        rec.log_static(&EntityPath::parse("map").unwrap(), &map)
            .unwrap();
        log_example_frames(&rec, 0..6, 1_000, 1);
        assert!(rec.shutdown(deadline()).is_complete());
        // File 0 holds the static; the first frame moves on to file 1, which holds the
        // replayed properties and static, and every frame.
        assert!(rotated_path(&base, 1).exists(), "{backend}");
        assert!(!rotated_path(&base, 2).exists(), "{backend}: rotated again");
        let d = decode_rrd(std::fs::read(rotated_path(&base, 1)).unwrap()).unwrap();
        assert!(d.footer.as_ref().is_some_and(|f| f.valid), "{backend}");
        let statics: Vec<&str> = d
            .chunks()
            .filter(|c| c.is_static())
            .map(|c| c.entity().as_str())
            .collect();
        assert_eq!(statics, [PROPERTIES_ENTITY, "/map"], "{backend}");
        assert_eq!(frames(&d), (0..6).collect::<Vec<_>>(), "{backend}");
        if let Some(py) = &python {
            let f = rotated_path(&base, 1);
            let mut rows = vec![Row {
                entity: "/map".into(),
                time: vec![],
                components: vec![(
                    "Points3D:positions",
                    Data::F32x3(vec![[1.0, 2.0, 3.0]; 40_000]),
                )],
            }];
            rows.extend(example_rows(1_000, 6, 1));
            let expect = write_expectation(&f, "spate_points", "points-example", &rows);
            check(py, &f, &expect);
        }
    }
}

/// Logs a static cloud from the recording's pool and returns how many f32 allocations have
/// come back to the pool once everything was written (the sink kept no reference).
fn static_from_pool_returned(rec: &Recording, entity: &str, points: usize) -> u64 {
    let before = rec.pool_stats().0.returned;
    let mut cloud = rec.loan_points(points);
    cloud.fill([0.25, 0.5, 0.75]);
    rec.log_static(&EntityPath::parse(entity).unwrap(), &Points3D::new(cloud))
        .unwrap();
    rec.flush(deadline()).unwrap();
    rec.pool_stats().0.returned - before
}

/// Issue 12: a sink that does not rotate keeps no statics (it only needs them to start a
/// new file).
#[test]
fn without_rotation_no_static_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    for backend in BACKENDS {
        let path = dir.path().join(format!("keep-{backend}.rrd"));
        let rec = points_recording(spec(&path, opts(backend)));
        assert_eq!(
            static_from_pool_returned(&rec, "map", 100_000),
            1,
            "{backend}: the sink still holds the static cloud"
        );
        assert!(rec.shutdown(deadline()).is_complete());
    }
}

/// With rotation, statics are kept within `max_replay_bytes`: one that does not fit is
/// counted, not kept and not replayed; one that fits is replayed into every new file.
#[test]
fn with_rotation_kept_statics_are_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let python = official_python("with_rotation_kept_statics_are_bounded_in_bytes");
    for backend in BACKENDS {
        let base = dir.path().join(format!("bound-{backend}.rrd"));
        let sink = FileSink::create(
            &base,
            opts(backend)
                .rotate_bytes(300_000)
                .max_replay_bytes(1_000_000),
        )
        .unwrap();
        let stats = sink.stats_handle();
        let rec = points_recording(sink.with_policy(SinkPolicy::Block));
        // (Both clouds are over 256 KiB, so their chunks are the loaned memory itself.)
        // 1.2 MB: over the bound, so not kept (its memory goes back to the pool).
        assert_eq!(
            static_from_pool_returned(&rec, "map", 100_000),
            1,
            "{backend}"
        );
        let s = stats.stats();
        assert_eq!(s.statics_not_kept, 1, "{backend}: {s:?}");
        assert!(s.statics_not_kept_bytes > 1_200_000, "{backend}: {s:?}");
        // 300 kB: kept (held by the sink, so not back in the pool), and replayed.
        assert_eq!(
            static_from_pool_returned(&rec, "origin", 25_000),
            0,
            "{backend}"
        );
        let s = stats.stats();
        assert_eq!(s.statics_not_kept, 1, "{backend}: {s:?}");
        assert_eq!(
            s.replay_messages,
            PREAMBLE_MESSAGES + 1,
            "{backend}: store info, properties and origin: {s:?}"
        );
        assert!(
            s.replay_bytes > 300_000 && s.replay_bytes < 1_000_000,
            "{backend}: {s:?}"
        );
        log_example_frames(&rec, 0..3, 10_000, 1);
        assert!(rec.shutdown(deadline()).is_complete());
        // File 0: the store info, the properties and the big static; file 1: "origin" (its
        // own data); files 2 to 4: the replayed store info, properties and "origin", then one
        // frame each.
        assert!(!rotated_path(&base, 5).exists(), "{backend}");
        for i in 1..5u32 {
            let f = rotated_path(&base, i);
            let d = decode_rrd(std::fs::read(&f).unwrap()).unwrap();
            assert!(
                d.footer.as_ref().is_some_and(|f| f.valid),
                "{backend} file {i}"
            );
            let statics: Vec<String> = d
                .chunks()
                .filter(|c| c.is_static())
                .map(|c| c.entity().to_string())
                .collect();
            assert_eq!(
                statics,
                [PROPERTIES_ENTITY, "/origin"],
                "{backend} file {i}"
            );
            let expect_frames: Vec<i64> = (i > 1).then(|| i64::from(i) - 2).into_iter().collect();
            assert_eq!(frames(&d), expect_frames, "{backend} file {i}");
            if let Some(py) = &python {
                let mut rows = vec![Row {
                    entity: "/origin".into(),
                    time: vec![],
                    components: vec![(
                        "Points3D:positions",
                        Data::F32x3(vec![[0.25, 0.5, 0.75]; 25_000]),
                    )],
                }];
                let all = example_rows(10_000, 3, 1);
                rows.extend(
                    all.into_iter()
                        .skip((i as usize).saturating_sub(2))
                        .take(usize::from(i > 1)),
                );
                let expect = write_expectation(&f, "spate_points", "points-example", &rows);
                check(py, &f, &expect);
            }
        }
    }
}

/// A full disk's error names its cause: the chain a sink's error prints (`ErrorChain`).
#[test]
fn a_full_disk_error_names_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreInfo::new("full", "cause").unwrap();
    for backend in BACKENDS {
        let Some(fs) = SmallFs::fillable_by(dir.path(), backend) else {
            return;
        };
        let mut sink = FileSink::create(fs.0.join("cause.rrd"), opts(backend)).unwrap();
        let mut error = sink.write(&EncodedMessage::set_store_info(&store)).err();
        // 1.2 MB a chunk: the disk is full within 60 (65 MiB), or 1 (1 MiB).
        for f in 0..60 {
            if error.is_some() {
                break;
            }
            error = sink.write(&chunk(&store, f, 100_000)).err();
        }
        let e = error
            .or_else(|| sink.close(deadline()).err())
            .expect("the disk filled up");
        let chain = ErrorChain(&e).to_string();
        assert!(
            chain.contains("No space left on device"),
            "{backend}: {chain}"
        );
    }
}
