//! Uploads of finished segments (`spate::upload`) against real stores the tests start: a
//! `file://` directory, and moto (an S3-compatible server, from the tools venv) — byte
//! identity, multipart, the official `rerun rrd verify` on a downloaded object, and faults:
//! the store down for a while, 500s on part uploads, `spate serve` killed mid-upload, and the
//! spool bound. Every wait polls with a deadline.

#[path = "support/official.rs"]
mod official;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/rerun_server.rs"]
mod rerun_server;
#[path = "support/s3.rs"]
mod s3;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use procs::{free_port, poll};
use s3::{BUCKET, FaultProxy, Moto, PartFault};
use spate::sink::{FileSinkOptions, GrpcSink};
use spate::upload::{RegisterError, UploadHandle, UploadOptions, UploadedSegment, Uploader};
use spate::{EntityPath, Points3D, Recording};

const LIMIT: Duration = Duration::from_secs(120);

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

/// What a fake registrar saw: object URL → the local file's bytes at registration (before
/// the uploader deleted it).
type Seen = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

fn recording_registrar() -> (
    Seen,
    impl FnMut(&UploadedSegment) -> Result<(), RegisterError> + Send,
) {
    let seen: Seen = Arc::default();
    let to = Arc::clone(&seen);
    let f = move |seg: &UploadedSegment| -> Result<(), RegisterError> {
        let bytes = std::fs::read(&seg.local_path)?;
        assert_eq!(bytes.len() as u64, seg.bytes);
        assert!(
            seg.object_url.ends_with(&format!("{}.rrd", seg.layer)),
            "{seg:?}"
        );
        let old = to.lock().unwrap().insert(seg.object_url.clone(), bytes);
        assert!(old.is_none(), "registered twice: {}", seg.object_url);
        Ok(())
    };
    (seen, f)
}

/// Logs `clouds` clouds of 100,000 points (1.2 MB each) and shuts the recording down.
fn log_clouds(rec: Recording, clouds: usize) {
    let entity = EntityPath::parse("lidar").unwrap();
    for i in 0..clouds {
        rec.set_time_sequence("frame", i as i64).unwrap();
        rec.log(&entity, &Points3D::new(vec![[i as f32, 1.0, 2.0]; 100_000]))
            .unwrap();
    }
    assert!(rec.shutdown(deadline()).is_complete());
}

fn rrd_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rrd") && p.is_file())
        .collect();
    v.sort();
    v
}

fn s3_uploader(port: u16, options: UploadOptions) -> Uploader {
    let env = Moto::env(port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Uploader::new_with_env(&format!("s3://{BUCKET}/runs"), options, &env).unwrap()
}

fn wait_idle(h: &UploadHandle) {
    assert!(h.wait_idle(deadline()), "not idle: {:?}", h.stats());
}

mod file_store {
    use super::*;

    /// Rotated segments arrive byte-identical, the local copies go, and the counters are
    /// exact.
    #[test]
    fn rotated_segments_arrive_byte_identical_and_local_copies_go() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let url = format!("file://{}/runs", bucket.path().display());
        let (seen, registrar) = recording_registrar();
        let (sink, uploads) = Uploader::new(&url, UploadOptions::default())
            .unwrap()
            .registrar(registrar)
            .file_sink(
                spool.path().join("run.rrd"),
                FileSinkOptions::default().rotate_bytes(4 << 20),
            )
            .unwrap();
        log_clouds(Recording::builder("up").sinks(sink).start().unwrap(), 20);
        wait_idle(&uploads);
        let report = uploads.shutdown(deadline());
        let st = &report.stats;
        let seen = seen.lock().unwrap().clone();
        assert!(seen.len() >= 5, "{} segments", seen.len());
        assert_eq!(st.uploaded_segments, seen.len() as u64, "{st:?}");
        assert_eq!(st.registered_segments, seen.len() as u64);
        assert_eq!(st.removed_local, seen.len() as u64);
        assert_eq!(
            st.uploaded_bytes,
            seen.values().map(|b| b.len() as u64).sum::<u64>()
        );
        assert_eq!(
            (
                st.failed_attempts,
                st.dropped_segments,
                st.torn_segments,
                st.leftover_segments
            ),
            (0, 0, 0, 0)
        );
        assert_eq!((st.pending_segments, st.pending_bytes), (0, 0));
        assert!(report.pending.is_empty() && report.stopped);
        assert_eq!(report.uploaded, seen.keys().cloned().collect::<Vec<_>>());
        for (url, bytes) in &seen {
            let path = url.strip_prefix("file://").unwrap();
            assert_eq!(&std::fs::read(path).unwrap(), bytes, "{url}");
            let d = spate::wire::decode_rrd(bytes.clone()).unwrap();
            assert!(d.footer.is_some_and(|f| f.valid), "{url}");
        }
        assert!(rrd_files(spool.path()).is_empty(), "local copies left");
    }

    /// With `keep_local`, uploaded files move to `uploaded/`, and a later start does not
    /// upload them again.
    #[test]
    fn keep_local_keeps_uploaded_files_out_of_the_next_run() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let url = format!("file://{}", bucket.path().display());
        let opts = UploadOptions::default().keep_local(true);
        let run = |clouds| {
            let (sink, uploads) = Uploader::new(&url, opts)
                .unwrap()
                .file_sink(
                    spool.path().join("run.rrd"),
                    FileSinkOptions::default().rotate_bytes(4 << 20),
                )
                .unwrap();
            log_clouds(
                Recording::builder("up").sinks(sink).start().unwrap(),
                clouds,
            );
            wait_idle(&uploads);
            uploads.shutdown(deadline())
        };
        let first = run(8);
        assert!(first.stats.uploaded_segments >= 2);
        let kept = rrd_files(&spool.path().join("uploaded"));
        assert_eq!(kept.len() as u64, first.stats.uploaded_segments);
        for k in &kept {
            let object = bucket.path().join(k.file_name().unwrap());
            assert_eq!(std::fs::read(k).unwrap(), std::fs::read(object).unwrap());
        }
        let second = run(1);
        assert_eq!(second.stats.leftover_segments, 0, "{:?}", second.stats);
        assert_eq!(second.stats.uploaded_segments, 1);
        assert_eq!(
            rrd_files(bucket.path()).len() as u64,
            first.stats.uploaded_segments + 1
        );
    }

    /// A second uploader on the same series is refused while the first lives.
    #[test]
    fn one_uploader_per_spool_series() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let url = format!("file://{}", bucket.path().display());
        let make = || {
            Uploader::new(&url, UploadOptions::default())
                .unwrap()
                .file_sink(spool.path().join("run.rrd"), FileSinkOptions::default())
        };
        let (sink, uploads) = make().unwrap();
        assert!(matches!(
            make(),
            Err(spate::upload::UploadError::SpoolLocked { .. })
        ));
        drop(sink);
        uploads.shutdown(deadline());
        drop(uploads);
    }

    /// Store down (uploads fail fast, long backoff) + a spool bound of 2.5 segments: as
    /// segments 2, 3 and 4 arrive, segments 0, 1 and 2 are dropped, oldest first, counted
    /// with bytes and names; 3 and 4 stay pending on disk.
    #[test]
    fn spool_bound_drops_the_oldest_waiting_segments() {
        let spool = tempfile::tempdir().unwrap();
        let size: u64 = 1 << 20;
        let opts = UploadOptions::default()
            .spool_bytes(size * 5 / 2)
            .request_retries(0, Duration::from_secs(5))
            .retry(Duration::from_secs(600), Duration::from_secs(600));
        // Nothing listens on the port just freed: every upload fails at once.
        let uploads = s3_uploader(free_port(), opts).start().unwrap();
        let files: Vec<PathBuf> = (0..5)
            .map(|i| {
                let p = spool.path().join(format!("seg{i}.rrd"));
                std::fs::write(&p, vec![i as u8; size as usize]).unwrap();
                p
            })
            .collect();
        uploads.submit(&files[0]);
        assert!(poll(LIMIT, || uploads.stats().failed_attempts == 1));
        for f in &files[1..] {
            uploads.submit(f);
        }
        assert!(poll(LIMIT, || {
            let st = uploads.stats();
            st.pending_segments + st.dropped_segments == 5
        }));
        let report = uploads.shutdown(deadline());
        let st = &report.stats;
        assert_eq!(st.dropped_segments, 3, "{st:?}");
        assert_eq!(st.dropped_bytes, 3 * size);
        assert_eq!(st.dropped, ["seg0.rrd", "seg1.rrd", "seg2.rrd"]);
        assert_eq!(st.failed_attempts, 1, "one attempt, then the backoff");
        assert_eq!((st.pending_segments, st.pending_bytes), (2, 2 * size));
        assert_eq!(report.pending, files[3..].to_vec());
        assert_eq!(rrd_files(spool.path()), files[3..].to_vec());
        assert_eq!(st.uploaded_segments, 0);
    }

    /// Files an earlier run left — one complete, one torn (no footer), one empty — are
    /// handled first at the next start: uploaded as they are (the torn one counted), the
    /// empty one removed.
    #[test]
    fn leftovers_of_an_earlier_run_go_first() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let url = format!("file://{}", bucket.path().display());
        // A complete file, then the same cut short (a killed writer), then an empty one.
        let complete = spool.path().join("run-20000101T000000Z-1.00000.rrd");
        {
            let rec = Recording::builder("old")
                .sinks(
                    spate::sink::FileSink::create(&complete, FileSinkOptions::default()).unwrap(),
                )
                .start()
                .unwrap();
            log_clouds(rec, 2);
        }
        let bytes = std::fs::read(&complete).unwrap();
        let torn = spool.path().join("run-20000101T000000Z-1.00001.rrd");
        std::fs::write(&torn, &bytes[..bytes.len() - 100]).unwrap();
        let empty = spool.path().join("run-20000101T000000Z-1.00002.rrd");
        std::fs::write(&empty, b"").unwrap();
        // Not of the series: left alone.
        let other = spool.path().join("other.rrd");
        std::fs::write(&other, b"x").unwrap();

        let (sink, uploads) = Uploader::new(&url, UploadOptions::default())
            .unwrap()
            .file_sink(spool.path().join("run.rrd"), FileSinkOptions::default())
            .unwrap();
        log_clouds(Recording::builder("new").sinks(sink).start().unwrap(), 1);
        wait_idle(&uploads);
        let report = uploads.shutdown(deadline());
        let st = &report.stats;
        assert_eq!(st.leftover_segments, 3, "{st:?}");
        assert_eq!(st.empty_removed, 1);
        assert_eq!(st.torn_segments, 1);
        assert_eq!(
            st.uploaded_segments, 3,
            "two leftovers and the new run's file"
        );
        assert!(report.uploaded[0].ends_with("run-20000101T000000Z-1.00000.rrd"));
        assert!(report.uploaded[1].ends_with("run-20000101T000000Z-1.00001.rrd"));
        assert_eq!(
            std::fs::read(bucket.path().join(torn.file_name().unwrap())).unwrap(),
            bytes[..bytes.len() - 100]
        );
        assert_eq!(rrd_files(spool.path()), vec![other]);
    }
}

mod s3_store {
    use super::*;

    /// Objects are byte-identical to the local segments, a segment over 5 MiB goes in
    /// several parts, and a downloaded object passes the official `rerun rrd verify`.
    #[test]
    fn objects_are_byte_identical_multipart_and_pass_rerun_verify() {
        let Some(bin) = s3::moto_server("s3 upload") else {
            return;
        };
        let logs = tempfile::tempdir().unwrap();
        let moto = Moto::start(&bin, logs.path().join("moto.log"));
        let spool = tempfile::tempdir().unwrap();
        let (seen, registrar) = recording_registrar();
        let opts = UploadOptions::default().part_bytes(5 << 20).concurrency(2);
        let (sink, uploads) = s3_uploader(moto.port(), opts)
            .registrar(registrar)
            .file_sink(
                spool.path().join("run.rrd"),
                FileSinkOptions::default().rotate_bytes(12 << 20),
            )
            .unwrap();
        log_clouds(Recording::builder("up").sinks(sink).start().unwrap(), 14);
        wait_idle(&uploads);
        let report = uploads.shutdown(deadline());
        let st = &report.stats;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{st:?}");
        assert_eq!(st.uploaded_segments, 2);
        assert_eq!(st.failed_attempts, 0, "{st:?}");
        let keys = moto.keys();
        assert_eq!(keys.len(), 2, "{keys:?}");
        let mut multipart = 0;
        for (url, local) in &seen {
            let key = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
            assert!(key.starts_with("runs/run-"), "{key}");
            let (object, etag) = moto.get(key).expect("object");
            assert_eq!(&object, local, "{key}");
            let parts = (local.len() as u64).div_ceil(5 << 20);
            if parts > 1 {
                multipart += 1;
                assert!(etag.contains(&format!("-{parts}")), "{key}: ETag {etag}");
            }
        }
        assert_eq!(multipart, 1, "the first segment is over 5 MiB");
        assert!(st.uploaded_parts >= 4, "{st:?}");
        assert!(rrd_files(spool.path()).is_empty());

        let rerun = s3::venv().join("bin/rerun");
        if !rerun.exists() {
            eprintln!("!!!!!!!! SKIP rrd verify: no rerun in the venv !!!!!!!!");
            assert!(std::env::var("CI").is_err(), "rerun missing in CI");
            return;
        }
        for key in &keys {
            let file = logs.path().join(key.replace('/', "_"));
            std::fs::write(&file, moto.get(key).unwrap().0).unwrap();
            let out = Command::new(&rerun)
                .args(["rrd", "verify"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "rerun rrd verify {key}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// moto killed: segments pile up in the spool, attempts fail and are counted; moto back
    /// on the same port: everything is uploaded, byte-identical, nothing lost.
    #[test]
    fn store_down_for_a_while_then_everything_arrives() {
        let Some(bin) = s3::moto_server("s3 down") else {
            return;
        };
        let logs = tempfile::tempdir().unwrap();
        let mut moto = Moto::start(&bin, logs.path().join("moto1.log"));
        let port = moto.port();
        moto.server.kill();
        let spool = tempfile::tempdir().unwrap();
        let (seen, registrar) = recording_registrar();
        let opts = UploadOptions::default()
            .request_retries(0, Duration::from_secs(5))
            .retry(Duration::from_millis(50), Duration::from_millis(400));
        let (sink, uploads) = s3_uploader(port, opts)
            .registrar(registrar)
            .file_sink(
                spool.path().join("run.rrd"),
                FileSinkOptions::default().rotate_bytes(2 << 20),
            )
            .unwrap();
        log_clouds(Recording::builder("up").sinks(sink).start().unwrap(), 10);
        assert!(poll(LIMIT, || uploads.stats().failed_attempts >= 3));
        let waiting = rrd_files(spool.path());
        assert!(waiting.len() >= 4, "{waiting:?}");
        assert_eq!(uploads.stats().uploaded_segments, 0);
        let local: BTreeMap<String, Vec<u8>> = waiting
            .iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(p).unwrap(),
                )
            })
            .collect();

        let moto = Moto::start_on(&bin, port, logs.path().join("moto2.log"));
        wait_idle(&uploads);
        let report = uploads.shutdown(deadline());
        let st = &report.stats;
        assert_eq!(st.uploaded_segments, local.len() as u64, "{st:?}");
        assert_eq!(st.dropped_segments, 0);
        assert!(st.failed_attempts >= 3);
        // A store that is down is no segment's fault: nothing is given up.
        assert_eq!(st.given_up_segments, 0, "{st:?}");
        assert!(report.given_up.is_empty());
        assert_eq!(seen.lock().unwrap().len(), local.len());
        let keys = moto.keys();
        assert_eq!(keys.len(), local.len());
        for (name, bytes) in &local {
            let (object, _) = moto.get(&format!("runs/{name}")).expect(name);
            assert_eq!(&object, bytes, "{name}");
        }
        assert!(rrd_files(spool.path()).is_empty());
    }

    /// 500s on the first part uploads: without per-request retries each fails its attempt
    /// (counted, the multipart upload aborted) and the segment retry succeeds; with
    /// object_store's retries they never reach the segment level. Objects are identical.
    #[test]
    fn part_upload_500s_are_retried_and_counted() {
        let Some(bin) = s3::moto_server("s3 500s") else {
            return;
        };
        let logs = tempfile::tempdir().unwrap();
        let moto = Moto::start(&bin, logs.path().join("moto.log"));
        let spool = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(12u32 << 20))
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        for (retries, name) in [(0usize, "a.rrd"), (3, "b.rrd")] {
            let proxy = FaultProxy::start(moto.port(), PartFault::Fail(2));
            let opts = UploadOptions::default()
                .part_bytes(5 << 20)
                .concurrency(1)
                .request_retries(retries, Duration::from_secs(30))
                .retry(Duration::from_millis(20), Duration::from_millis(100));
            let uploads = s3_uploader(proxy.port, opts).start().unwrap();
            let file = spool.path().join(name);
            std::fs::write(&file, &data).unwrap();
            uploads.submit(&file);
            wait_idle(&uploads);
            let st = uploads.shutdown(deadline()).stats;
            assert_eq!(proxy.failed.load(std::sync::atomic::Ordering::Acquire), 2);
            assert_eq!(st.uploaded_segments, 1, "{st:?}");
            if retries == 0 {
                assert_eq!((st.failed_attempts, st.aborted_uploads), (2, 2), "{st:?}");
                assert_eq!(
                    proxy.aborts_seen.load(std::sync::atomic::Ordering::Acquire),
                    2
                );
            } else {
                assert_eq!((st.failed_attempts, st.aborted_uploads), (0, 0), "{st:?}");
            }
            let (object, etag) = moto.get(&format!("runs/{name}")).unwrap();
            assert!(object == data, "{name} differs");
            assert!(etag.contains("-3"), "{etag}");
        }
    }

    /// `spate serve --upload` killed while its uploads hang: the files it left (the one
    /// being written cut short) are uploaded at the next start, byte-identical, each once.
    #[test]
    fn serve_killed_mid_upload_uploads_the_rest_at_the_next_start() {
        let Some(bin) = s3::moto_server("serve killed") else {
            return;
        };
        let logs = tempfile::tempdir().unwrap();
        let moto = Moto::start(&bin, logs.path().join("moto.log"));
        let stall = FaultProxy::start(moto.port(), PartFault::Stall);
        let spool = tempfile::tempdir().unwrap();
        let save = spool.path().join("run.rrd");
        let save_arg = save.to_str().unwrap().to_owned();
        let url = format!("s3://{BUCKET}/runs");
        let serve = |upload_port: u16, log: &str| {
            let port = free_port();
            let p = port.to_string();
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_spate"));
            cmd.args([
                "serve",
                "--bind",
                "127.0.0.1",
                "--port",
                &p,
                "--save",
                &save_arg,
                "--rotate-bytes",
                "2MiB",
                "--backend",
                "pwrite",
                "--upload",
                &url,
                "--shutdown-timeout",
                "60s",
            ]);
            for (k, v) in Moto::env(upload_port) {
                cmd.env(k, v);
            }
            s3::Child::start(cmd, port, logs.path().join(log))
        };
        let mut first = serve(stall.port, "serve1.log");
        {
            let rec = Recording::builder("fleet")
                .sinks(GrpcSink::connect(&first.url()).unwrap())
                .start()
                .unwrap();
            log_clouds(rec, 8);
        }
        // Uploads are stuck (parts never answered) while files pile up.
        assert!(poll(LIMIT, || {
            stall.parts_seen.load(std::sync::atomic::Ordering::Acquire) >= 1
                && rrd_files(spool.path()).len() >= 3
        }));
        first.kill();
        let left: BTreeMap<String, Vec<u8>> = rrd_files(spool.path())
            .iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(p).unwrap(),
                )
            })
            .collect();
        assert!(moto.keys().is_empty(), "nothing completed before the kill");

        let mut second = serve(moto.port(), "serve2.log");
        let status = second.signal_and_wait("TERM");
        let log = second.log_text();
        assert!(status.success(), "{log}");
        assert!(
            log.contains(&format!(
                "{} leftovers from earlier runs (1 torn)",
                left.len()
            )),
            "{log}"
        );
        let keys = moto.keys();
        // The earlier run's files, and the new run's one file.
        assert_eq!(keys.len(), left.len() + 1, "{keys:?}");
        for (name, bytes) in &left {
            let (object, _) = moto.get(&format!("runs/{name}")).expect(name);
            assert!(&object == bytes, "{name} differs");
        }
        assert!(rrd_files(spool.path()).is_empty(), "{log}");
    }
}

/// The whole gateway as the issue asks for it: `spate serve --save … --rotate-bytes …
/// --upload file://… --register rerun+http://… --dataset NAME` in front of the official
/// `rerun server`, fed by a spate client; the official Python `CatalogClient` then sees one
/// segment named after the recording, one layer per uploaded file, and every row once.
mod gateway {
    use super::*;
    use rerun_server::{RerunServer, python_view};

    #[test]
    fn serve_uploads_and_registers_rotated_files_that_the_official_catalog_client_reads_back() {
        let Some(python) = official::official_python(
            "serve_uploads_and_registers_rotated_files_that_the_official_catalog_client_reads_back",
        ) else {
            return;
        };
        let catalog = RerunServer::start(&python);
        let (spool, store, logs) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let dataset = format!("fleet-{}", std::process::id());
        let rec_id = format!("robot-7-{}", std::process::id());
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spate"));
        cmd.args(["serve", "--bind", "127.0.0.1", "--port", &port.to_string()])
            .arg("--save")
            .arg(spool.path().join("run.rrd"))
            .args(["--rotate-bytes", "256KiB", "--backend", "pwrite"])
            .arg("--upload")
            .arg(format!("file://{}", store.path().display()))
            .args(["--register", &catalog.url(), "--dataset", &dataset])
            .args(["--shutdown-timeout", "60s"])
            .env_remove("REDAP_TOKEN");
        let mut serve = s3::Child::start(cmd, port, logs.path().join("serve.log"));

        let frames = 200u32;
        // One chunk per frame (no batching), so that the files rotate.
        let rec = Recording::builder("fleet")
            .recording_id(rec_id.clone())
            .batch(spate::BatchPolicy::unbatched())
            .sinks(GrpcSink::connect(&serve.url()).unwrap())
            .start()
            .unwrap();
        let points = EntityPath::parse("points").unwrap();
        for f in 0..frames {
            rec.set_time_sequence("frame", i64::from(f)).unwrap();
            rec.log(&points, &Points3D::new(vec![[f as f32, 1.0, 2.0]; 500]))
                .unwrap();
        }
        assert!(rec.shutdown(deadline()).is_complete());
        let status = serve.signal_and_wait("INT");
        let log = serve.log_text();
        assert!(status.success(), "{log}");

        let objects = rrd_files(store.path());
        assert!(
            objects.len() >= 3,
            "rotation made several files: {objects:?}\n{log}"
        );
        assert!(
            rrd_files(spool.path()).is_empty(),
            "uploaded and registered, then deleted: {log}"
        );
        assert!(
            log.contains(&format!("{n} registered", n = objects.len())),
            "{log}"
        );

        let view = python_view(&python, &catalog.url(), &[&dataset]);
        let d = &view[dataset.as_str()];
        assert_eq!(d["segment_ids"], serde_json::json!([rec_id]), "{d}");
        let mut layers: Vec<serde_json::Value> = objects
            .iter()
            .map(|p| serde_json::json!([rec_id, p.file_stem().unwrap().to_string_lossy()]))
            .collect();
        layers.sort_by_key(|v| v.to_string());
        assert_eq!(d["layers"], serde_json::Value::Array(layers));
        let rows = d["rows"].as_array().unwrap();
        let got: Vec<(i64, f64, usize)> = rows
            .iter()
            .map(|r| {
                let pts = r[2].as_array().unwrap();
                (
                    r[1].as_i64().unwrap(),
                    pts[0][0].as_f64().unwrap(),
                    pts.len(),
                )
            })
            .collect();
        let want: Vec<(i64, f64, usize)> = (0..frames)
            .map(|f| (i64::from(f), f64::from(f), 500))
            .collect();
        assert_eq!(got, want, "every row exactly once, with its points");
    }
}

/// Hostile spools and segments (from an adversarial review): another series' files, a
/// segment the registrar keeps refusing, a path that can never be read, non-UTF-8 names, a
/// failed `keep_local` move. One bad segment fails alone, counted; nothing else waits on it.
mod hostile {
    use std::sync::atomic::{AtomicU64, Ordering};

    use spate::upload::{RegisterError, UploadOptions, UploadedSegment, Uploader};

    use super::*;

    fn deadline_in(secs: u64) -> Instant {
        Instant::now() + Duration::from_secs(secs)
    }

    /// A file with a StreamHeader-sized prefix and a StreamFooter: "complete" to the uploader.
    fn complete_rrd(path: &Path) {
        let mut v = vec![0u8; 64];
        v.extend_from_slice(b"RRF2FOOT");
        v.extend_from_slice(&1u32.to_le_bytes());
        std::fs::write(path, v).unwrap();
    }

    /// A file without footer: a torn leftover.
    fn torn_rrd(path: &Path) {
        std::fs::write(path, vec![7u8; 64]).unwrap();
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".rrd"))
            .collect();
        v.sort();
        v
    }

    /// Finding: the leftover scan of series `DIR/run.rrd` matches every `DIR/run-*.rrd`, which
    /// includes every file of another series in the same directory whose stem starts with
    /// `run-` (e.g. `DIR/run-left.rrd` → `run-left-<stamp>-<pid>.rrd`). That series has its
    /// own lock (`.run-left.upload.lock`), so both uploaders run at once; the `run` uploader
    /// takes the other series' finished files, uploads them to *its* store and deletes them.
    #[test]
    fn leftover_scan_does_not_take_another_series_files() {
        let spool = tempfile::tempdir().unwrap();
        let bucket_a = tempfile::tempdir().unwrap();
        // A finished file of series `DIR/run-left.rrd` (pending: e.g. its store was down
        // when that gateway stopped, and it will upload it at its next start).
        let foreign = spool
            .path()
            .join("run-left-20260101T000000Z-4242.00000.rrd");
        complete_rrd(&foreign);

        let (sink_a, uploads_a) = Uploader::new(
            &format!("file://{}", bucket_a.path().display()),
            UploadOptions::default(),
        )
        .unwrap()
        .file_sink(spool.path().join("run.rrd"), FileSinkOptions::default())
        .unwrap();
        assert!(uploads_a.wait_idle(deadline_in(20)));
        drop(sink_a);
        let report = uploads_a.shutdown(deadline_in(20));
        assert_eq!(
            report.stats.leftover_segments, 0,
            "series `run` took another series' file as its leftover: {:?}",
            report.uploaded
        );
        assert!(
            foreign.exists(),
            "series `run` deleted series `run-left`'s pending file; uploaded to the wrong store: {:?}",
            files(bucket_a.path())
        );
    }

    /// Finding: a segment whose registration keeps failing (e.g. a torn leftover: Rerun Hub
    /// registers only files with a valid footer, and `DatasetRegistrar` registers torn
    /// leftovers like any other) blocks every segment behind it: the queue is strictly
    /// head-of-line, retried with backoff forever, so nothing else is uploaded until the spool
    /// bound (8 GiB by default) drops the poisoned head. One bad file stops the whole gateway's
    /// uploads ("a failing sink fails alone" does not hold within the queue).
    #[test]
    fn a_segment_the_registrar_refuses_does_not_block_the_others() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        // A torn leftover of an earlier (killed) run of the series.
        torn_rrd(&spool.path().join("run-20250101T000000Z-1.rrd"));
        let registered = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&registered);
        // A catalog that, like Hub, refuses files without a footer.
        let registrar = move |seg: &UploadedSegment| -> Result<(), RegisterError> {
            if !seg.complete {
                return Err("the catalog refuses a file without a footer".into());
            }
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        let (sink, uploads) = Uploader::new(
            &format!("file://{}", bucket.path().display()),
            UploadOptions::default().retry(Duration::from_millis(50), Duration::from_millis(200)),
        )
        .unwrap()
        .registrar(registrar)
        .file_sink(spool.path().join("run.rrd"), FileSinkOptions::default())
        .unwrap();
        // Ten complete segments handed over after it.
        for i in 0..10 {
            let p = spool.path().join(format!("other-{i}.rrd"));
            complete_rrd(&p);
            uploads.submit(&p);
        }
        let got = spate_poll(Duration::from_secs(10), || {
            registered.load(Ordering::SeqCst) == 10
        });
        drop(sink);
        let report = uploads.shutdown(deadline_in(10));
        let torn = spool.path().join("run-20250101T000000Z-1.rrd");
        assert!(
            report.pending.contains(&torn) || report.given_up.contains(&torn),
            "the refused segment is still accounted for: {report:?}"
        );
        assert!(
            got,
            "one refused segment blocked the {} others: registered {}, stats {:?}",
            10,
            registered.load(Ordering::SeqCst),
            report.stats
        );
    }

    fn spate_poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        cond()
    }

    /// Finding (same head-of-line root cause, reached by caller input): a path that can never
    /// be read — here a directory handed to `submit` (`File::open` succeeds on a directory, the
    /// read fails with EISDIR, an `AttemptError::Read`, retried forever) — stops every segment
    /// submitted after it. Only `NotFound` is treated as final (`vanished`).
    #[test]
    fn an_unreadable_submission_does_not_block_the_others() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let uploads = Uploader::new(
            &format!("file://{}", bucket.path().display()),
            UploadOptions::default().retry(Duration::from_millis(50), Duration::from_millis(200)),
        )
        .unwrap()
        .start()
        .unwrap();
        let dir = spool.path().join("not-a-file.rrd");
        std::fs::create_dir(&dir).unwrap();
        uploads.submit(&dir);
        let good = spool.path().join("good.rrd");
        complete_rrd(&good);
        uploads.submit(&good);
        let idle = uploads.wait_idle(deadline_in(10));
        let report = uploads.shutdown(deadline_in(10));
        assert!(
            bucket.path().join("good.rrd").exists(),
            "a directory submitted first blocked the good segment (idle {idle}): {:?}",
            report.stats
        );
        // Given up at once (not a regular file), counted with its reason, without a retry.
        let st = &report.stats;
        assert_eq!((st.given_up_segments, st.given_up_bytes), (1, 0), "{st:?}");
        assert_eq!(st.given_up[0].name, "not-a-file.rrd");
        assert!(
            st.given_up[0].reason.contains("not a regular file"),
            "{st:?}"
        );
        assert_eq!(st.failed_attempts, 1, "{st:?}");
        assert!(report.given_up.is_empty() && report.pending.is_empty());
        assert!(dir.is_dir(), "the directory is left alone");
    }

    /// The segment the registrar keeps refusing is given up after `give_up_after` failures
    /// while others went through; its file stays in the spool (listed, counted by the bound).
    #[test]
    fn a_refused_segment_is_given_up_and_left_in_the_spool() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let torn = spool.path().join("run-20250101T000000Z-1.rrd");
        torn_rrd(&torn);
        let registrar = |seg: &UploadedSegment| -> Result<(), RegisterError> {
            if seg.complete {
                Ok(())
            } else {
                Err("no footer".into())
            }
        };
        let (sink, uploads) = Uploader::new(
            &format!("file://{}", bucket.path().display()),
            UploadOptions::default()
                .retry(Duration::from_millis(10), Duration::from_millis(50))
                .give_up_after(2),
        )
        .unwrap()
        .registrar(registrar)
        .file_sink(spool.path().join("run.rrd"), FileSinkOptions::default())
        .unwrap();
        // Rounds of good segments: each round that one goes through is a strike against it.
        for i in 0..6 {
            let p = spool.path().join(format!("other-{i}.rrd"));
            complete_rrd(&p);
            uploads.submit(&p);
            assert!(spate_poll(Duration::from_secs(10), || {
                uploads.stats().registered_segments > i
            }));
            if uploads.stats().given_up_segments == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(sink);
        let report = uploads.shutdown(deadline_in(10));
        let st = &report.stats;
        assert_eq!(st.given_up_segments, 1, "{st:?}");
        assert_eq!(st.given_up_bytes, 64);
        assert_eq!(st.given_up[0].name, "run-20250101T000000Z-1.rrd");
        assert!(st.given_up[0].reason.contains("no footer"), "{st:?}");
        assert_eq!(report.given_up, vec![torn.clone()]);
        assert!(torn.exists(), "left in the spool for the next start");
        assert!(!report.pending.contains(&torn));
    }

    /// While the store is down (nothing goes through), no segment is given up however often
    /// it fails: they all wait.
    #[test]
    fn nothing_is_given_up_while_nothing_goes_through() {
        let spool = tempfile::tempdir().unwrap();
        let refusals = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&refusals);
        // A registrar that is "down": refuses everything.
        let registrar = move |_: &UploadedSegment| -> Result<(), RegisterError> {
            count.fetch_add(1, Ordering::SeqCst);
            Err("catalog unreachable".into())
        };
        let bucket = tempfile::tempdir().unwrap();
        let uploads = Uploader::new(
            &format!("file://{}", bucket.path().display()),
            UploadOptions::default()
                .retry(Duration::from_millis(1), Duration::from_millis(5))
                .give_up_after(1),
        )
        .unwrap()
        .registrar(registrar)
        .start()
        .unwrap();
        for i in 0..3 {
            let p = spool.path().join(format!("s{i}.rrd"));
            complete_rrd(&p);
            uploads.submit(&p);
        }
        assert!(spate_poll(Duration::from_secs(10), || {
            refusals.load(Ordering::SeqCst) >= 30
        }));
        let report = uploads.shutdown(deadline_in(10));
        assert_eq!(report.stats.given_up_segments, 0, "{:?}", report.stats);
        assert_eq!(report.pending.len(), 3);
    }

    /// A leftover whose name is not UTF-8 (but reads as the series' lossily) is given up,
    /// counted, not skipped unseen.
    #[test]
    fn a_non_utf8_leftover_is_counted() {
        use std::os::unix::ffi::OsStrExt as _;
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        let odd = spool.path().join(std::ffi::OsStr::from_bytes(
            b"r\xffn-20250101T000000Z-1.rrd",
        ));
        complete_rrd(&odd);
        let (sink, uploads) = Uploader::new(
            &format!("file://{}", bucket.path().display()),
            UploadOptions::default(),
        )
        .unwrap()
        .file_sink(
            spool
                .path()
                .join(std::ffi::OsStr::from_bytes(b"r\xffn.rrd")),
            FileSinkOptions::default(),
        )
        .unwrap();
        drop(sink);
        assert!(uploads.wait_idle(deadline_in(10)));
        let report = uploads.shutdown(deadline_in(10));
        let st = &report.stats;
        assert_eq!(
            (st.leftover_segments, st.given_up_segments),
            (1, 1),
            "{st:?}"
        );
        assert!(st.given_up[0].reason.contains("UTF-8"), "{st:?}");
        assert_eq!(report.given_up, vec![odd.clone()]);
        assert!(odd.exists());
    }

    /// With `keep_local`, a move into `uploaded/` that fails is counted (the file stays).
    #[test]
    fn a_failed_keep_local_move_is_counted() {
        let spool = tempfile::tempdir().unwrap();
        let bucket = tempfile::tempdir().unwrap();
        // `uploaded` is a file: the directory cannot be made.
        std::fs::write(spool.path().join("uploaded"), b"in the way").unwrap();
        let uploads = Uploader::new(
            &format!("file://{}", bucket.path().display()),
            UploadOptions::default().keep_local(true),
        )
        .unwrap()
        .start()
        .unwrap();
        let p = spool.path().join("a.rrd");
        complete_rrd(&p);
        uploads.submit(&p);
        assert!(uploads.wait_idle(deadline_in(10)));
        let st = uploads.shutdown(deadline_in(10)).stats;
        assert_eq!(
            (st.uploaded_segments, st.removed_local, st.unremoved_local),
            (1, 0, 1),
            "{st:?}"
        );
        assert!(p.exists());
    }
}
