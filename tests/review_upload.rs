//! Adversarial review of `spate::upload` (issue 16). Each test is one finding; a failing
//! test is an open bug (see the commit message of the commit that added it).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spate::sink::FileSinkOptions;
use spate::upload::{RegisterError, UploadOptions, UploadedSegment, Uploader};

fn deadline(secs: u64) -> Instant {
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
    assert!(uploads_a.wait_idle(deadline(20)));
    drop(sink_a);
    let report = uploads_a.shutdown(deadline(20));
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
    let report = uploads.shutdown(deadline(10));
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
    let idle = uploads.wait_idle(deadline(10));
    let report = uploads.shutdown(deadline(10));
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
    let report = uploads.shutdown(deadline(10));
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
    let report = uploads.shutdown(deadline(10));
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
    assert!(uploads.wait_idle(deadline(10)));
    let report = uploads.shutdown(deadline(10));
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
    assert!(uploads.wait_idle(deadline(10)));
    let st = uploads.shutdown(deadline(10)).stats;
    assert_eq!(
        (st.uploaded_segments, st.removed_local, st.unremoved_local),
        (1, 0, 1),
        "{st:?}"
    );
    assert!(p.exists());
}
