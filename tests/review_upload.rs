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
}
