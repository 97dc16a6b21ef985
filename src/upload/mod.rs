//! Uploading finished `.rrd` segments to object storage (feature `upload`).
//!
//! An [`Uploader`] takes the files a [`FileSink`](crate::sink::FileSink) is done with (at each
//! rotation and at the close, through [`FileSink::on_finished`](crate::sink::FileSink::on_finished))
//! and uploads each to an object store named by a URL, as `PREFIX/<file name>`:
//!
//! * `s3://bucket/prefix` — S3 or an S3-compatible server, configured by the standard AWS
//!   environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//!   `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …; `~/.aws` is not read);
//! * `file:///dir` — a local directory (created if missing; no percent escapes in the path).
//!
//! [`Uploader::file_sink`] glues the two: it returns the `FileSink` to give a
//! [`Recording`](crate::Recording) (or `spate serve`'s relay) and an [`UploadHandle`] with the
//! counters, [`wait_idle`](UploadHandle::wait_idle) and [`shutdown`](UploadHandle::shutdown).
//!
//! ```
//! use spate::sink::FileSinkOptions;
//! use spate::upload::{UploadOptions, Uploader};
//! use spate::{EntityPath, Points3D, Recording};
//! use std::time::{Duration, Instant};
//!
//! let spool = tempfile::tempdir()?;
//! let bucket = tempfile::tempdir()?;
//! let url = format!("file://{}", bucket.path().display());
//! let (sink, uploads) = Uploader::new(&url, UploadOptions::default())?
//!     .file_sink(spool.path().join("run.rrd"), FileSinkOptions::default().rotate_bytes(1 << 20))?;
//! let rec = Recording::builder("demo").sinks(sink).start()?;
//! for _ in 0..10 {
//!     rec.log(&EntityPath::parse("lidar")?, &Points3D::new(vec![[1.0, 2.0, 3.0]; 50_000]))?;
//! }
//! let deadline = Instant::now() + Duration::from_secs(30);
//! assert!(rec.shutdown(deadline).is_complete());
//! assert!(uploads.wait_idle(deadline));
//! let report = uploads.shutdown(deadline);
//! assert!(report.stats.uploaded_segments > 1);
//! assert!(report.pending.is_empty());
//! // Uploaded and confirmed: the spool holds no segment any more.
//! assert_eq!(std::fs::read_dir(bucket.path())?.count() as u64, report.stats.uploaded_segments);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a segment travels
//!
//! One uploader thread (with its own current-thread tokio runtime) uploads the segments one at
//! a time, oldest first (but see "A segment that keeps failing"): a multipart upload (`put_multipart`, parts of
//! [`part_bytes`](UploadOptions::part_bytes), at most [`concurrency`](UploadOptions::concurrency)
//! parts in flight), then a `head` of the object whose size must equal the file's. Each
//! request is retried by `object_store` ([`request_retries`](UploadOptions::request_retries));
//! when a segment's upload still fails, the multipart upload is aborted (S3 keeps the parts of
//! an upload that is neither completed nor aborted: give the bucket a lifecycle rule for
//! incomplete multipart uploads, for the uploads of a process killed mid-way) and the whole
//! segment is tried again later (counted in [`UploadStats::failed_attempts`]).
//!
//! With a [`Registrar`], each uploaded segment is then registered (e.g. into a Rerun catalog
//! dataset); a failed registration is tried again later (counted in
//! [`UploadStats::failed_registrations`]) without uploading again.
//!
//! The backoff is the store's (and registrar's), not a segment's: after each failed attempt,
//! whichever segment it was at, the next attempt waits a time that doubles from
//! [`retry_initial`](UploadOptions::retry_initial) up to [`retry_max`](UploadOptions::retry_max);
//! a segment that goes through resets it. A store that is down is therefore tried at that
//! pace, however many segments wait.
//!
//! # A segment that keeps failing
//!
//! One bad segment fails alone: it does not hold up the others.
//!
//! * After a failed attempt the segment goes **behind the others**: the next attempt is at the
//!   next segment in the queue (round-robin, in order of arrival), so a segment the store or
//!   the registrar keeps refusing (e.g. a torn leftover a catalog refuses for its missing
//!   footer) lets every other segment through, one backoff wait per round.
//! * A segment is **given up** after [`give_up_after`](UploadOptions::give_up_after) (default
//!   [`DEFAULT_GIVE_UP_AFTER`]) failed attempts that were its own: a failure reading its file,
//!   or a failure while other segments went through (one completed since its previous
//!   failure). While nothing goes through — the store or the registrar is down — failures
//!   count against no segment, and all wait as long as it takes (the spool bound applies).
//! * A segment is given up **at once** when trying again cannot help: its path is not a
//!   regular file (a directory, a FIFO…), reading it is refused (permission denied), or its
//!   file name is not UTF-8 (the object name would not be its name). A file that is gone is
//!   counted as vanished instead.
//!
//! A given-up segment is counted ([`UploadStats::given_up_segments`], `given_up_bytes`, and
//! its name with the reason in `given_up`), logged as a warning, and not tried again by this
//! run. Its file **stays in the spool**, so the next start tries it again (a leftover, if it
//! is one of the series' files), and it still counts for the spool bound: it is the first
//! thing the bound deletes. [`UploadReport::given_up`] lists the ones still there at the
//! stop. An uploaded segment given up for its registration is in the store, not registered.
//!
//! The local copy is deleted once the upload is confirmed (and the registration succeeded,
//! when there is a registrar: a local catalog may load the file by its path). With
//! [`keep_local`](UploadOptions::keep_local) it is moved to `DIR/uploaded/` instead, so a later
//! start does not upload it again. If that deletion (or move) fails, the file stays where it
//! is, counted in [`UploadStats::unremoved_local`] and warned: a later start uploads (and
//! registers) it again, to the same object — harmless, as registration is idempotent. The
//! spool bound no longer counts it (it is delivered).
//!
//! # The spool and its bound
//!
//! The spool is the directory of the sink's files. Its bytes — the segments waiting for upload
//! or registration plus the file being written — are bounded by
//! [`spool_bytes`](UploadOptions::spool_bytes). When a segment arrives (or an upload attempt
//! ends) and the spool is over the bound, **the oldest waiting segments are deleted**, oldest
//! first, until it fits or none is left to delete: the newest data is kept, as a ring buffer
//! would. Each one is counted ([`UploadStats::dropped_segments`], `dropped_bytes`, and its name
//! in `dropped`) and logged as a warning. A segment is never dropped while one of its upload
//! attempts runs (the bound is checked again when it ends), and the file being written is
//! never touched, so the spool may exceed the bound by the segment being uploaded, or when the
//! file being written alone exceeds it. While the store is unreachable, attempts fail fast and
//! the uploader waits between them, so the drops happen as segments arrive. Segments given up
//! (see above) count too, and are deleted before any waiting segment, oldest first.
//!
//! [`Uploader::file_sink`] warns (once, at the start) when the bound is smaller than a
//! segment (`FileSinkOptions::rotate_bytes`): every finished segment would then be dropped
//! as soon as the next one grows.
//!
//! # Runs, and what an earlier run left
//!
//! `FileSink` truncates its first file, so [`Uploader::file_sink`] never reuses a name: given
//! `DIR/run.rrd`, each run writes `DIR/run-<UTC start, YYYYMMDDTHHMMSSZ>-<pid>.rrd` (with
//! rotation `….00000.rrd`, `….00001.rrd`, …; a `-N` suffix if that name is taken). Object names
//! are the file names, so runs never overwrite each other in the store either.
//!
//! On start it takes a lock on `DIR/.run.upload.lock` (a second uploader of the same series
//! fails with [`UploadError::SpoolLocked`]) and queues, before anything the new run writes,
//! every file of the series' runs — exactly the names above,
//! `DIR/run-<stamp>-<pid>[-N][.NNNNN].rrd`, so not the files of another series such as
//! `DIR/run-left.rrd`'s — (regular files only, sorted by name = by start time) that no live
//! writer holds (`flock`): what an earlier run did not upload. A leftover without a
//! StreamFooter (its writer was killed) is **uploaded as it is**: every complete message in it
//! is readable (the official tools read it with `--check-footers false`), it is counted in
//! [`UploadStats::torn_segments`], and its object is byte-identical to the local file. It is
//! not repaired (a repaired copy would differ from what the writer wrote; a catalog that
//! requires footers may refuse it). A leftover shorter than a StreamHeader holds nothing and
//! is removed (counted in `empty_removed`).
//!
//! # TLS
//!
//! The S3 client uses rustls with the *ring* provider, installed process-wide
//! (`install_default`, an error meaning one is installed already is ignored) before a store is
//! built. A program that installs its own provider first keeps it.

mod spool;
mod store;
mod uploader;

use std::path::PathBuf;
use std::time::Duration;

pub use uploader::{UploadHandle, Uploader};

/// How an [`Uploader`] uploads (see the [module docs](self)).
///
/// ```
/// use spate::upload::UploadOptions;
/// use std::time::Duration;
/// let opts = UploadOptions::default()
///     .keep_local(true)
///     .spool_bytes(4 << 30)
///     .part_bytes(16 << 20)
///     .concurrency(8)
///     .retry(Duration::from_millis(200), Duration::from_secs(10));
/// assert_eq!(opts.part_bytes, 16 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadOptions {
    /// Keep each uploaded file (moved to `DIR/uploaded/`) instead of deleting it.
    pub keep_local: bool,
    /// Most bytes of segments waiting in the spool, plus the file being written (default
    /// 8 GiB; see "The spool and its bound").
    pub spool_bytes: u64,
    /// Size of each multipart part (default 8 MiB; S3 needs at least 5 MiB for all but the
    /// last part, so smaller values are raised to 5 MiB).
    pub part_bytes: usize,
    /// Parts uploaded at once (default 4; at least 1).
    pub concurrency: usize,
    /// Retries of each request by `object_store`, before the segment's attempt fails
    /// (default 3).
    pub request_retries: usize,
    /// Longest time `object_store` spends retrying one request (default 60 s).
    pub request_retry_timeout: Duration,
    /// First wait before a failed segment is tried again (default 500 ms); doubles per
    /// consecutive failure.
    pub retry_initial: Duration,
    /// Longest wait between two attempts (default 30 s).
    pub retry_max: Duration,
    /// Failed attempts of a segment's own (see "A segment that keeps failing" in the
    /// [module docs](self)) after which it is given up (default [`DEFAULT_GIVE_UP_AFTER`];
    /// at least 1; `u32::MAX` in effect never gives up).
    pub give_up_after: u32,
}

/// Default of [`UploadOptions::give_up_after`]: 5 failed attempts of its own.
pub const DEFAULT_GIVE_UP_AFTER: u32 = 5;

/// Default of [`UploadOptions::spool_bytes`]: 8 GiB.
pub const DEFAULT_SPOOL_BYTES: u64 = 8 << 30;
/// The smallest multipart part S3 accepts (but for the last): 5 MiB.
pub const MIN_PART_BYTES: usize = 5 << 20;

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            keep_local: false,
            spool_bytes: DEFAULT_SPOOL_BYTES,
            part_bytes: 8 << 20,
            concurrency: 4,
            request_retries: 3,
            request_retry_timeout: Duration::from_secs(60),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            give_up_after: DEFAULT_GIVE_UP_AFTER,
        }
    }
}

impl UploadOptions {
    /// Keeps uploaded files (in `DIR/uploaded/`).
    pub fn keep_local(mut self, keep: bool) -> Self {
        self.keep_local = keep;
        self
    }

    /// Bounds the spool.
    pub fn spool_bytes(mut self, bytes: u64) -> Self {
        self.spool_bytes = bytes;
        self
    }

    /// Sets the part size (at least [`MIN_PART_BYTES`]).
    pub fn part_bytes(mut self, bytes: usize) -> Self {
        self.part_bytes = bytes.max(MIN_PART_BYTES);
        self
    }

    /// Sets how many parts are uploaded at once (at least 1).
    pub fn concurrency(mut self, parts: usize) -> Self {
        self.concurrency = parts.max(1);
        self
    }

    /// Sets `object_store`'s per-request retries and their time limit.
    pub fn request_retries(mut self, retries: usize, timeout: Duration) -> Self {
        self.request_retries = retries;
        self.request_retry_timeout = timeout;
        self
    }

    /// Sets the backoff between attempts at a segment.
    pub fn retry(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_initial = initial;
        self.retry_max = max.max(initial);
        self
    }

    /// Sets after how many failed attempts of its own a segment is given up (at least 1).
    pub fn give_up_after(mut self, attempts: u32) -> Self {
        self.give_up_after = attempts.max(1);
        self
    }
}

/// An uploaded segment, as a [`Registrar`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadedSegment {
    /// The object: `s3://bucket/prefix/name.rrd` or `file:///dir/name.rrd`.
    pub object_url: String,
    /// The local file (still there while the registrar runs).
    pub local_path: PathBuf,
    /// Its length.
    pub bytes: u64,
    /// A layer name for it: the file stem (`run-20261201T120000Z-42.00003`).
    pub layer: String,
    /// It ends with a footer (see "Runs, and what an earlier run left").
    pub complete: bool,
}

/// The error a [`Registrar`] returns.
pub type RegisterError = Box<dyn std::error::Error + Send + Sync>;

/// Registers each uploaded segment somewhere (e.g. a Rerun catalog dataset); runs on the
/// uploader thread, outside its async runtime, so it may block (a failure is retried with
/// backoff; see the [module docs](self)). A closure is a registrar:
///
/// ```
/// use spate::upload::{RegisterError, Registrar, UploadedSegment};
/// fn takes(_: impl Registrar) {}
/// takes(|seg: &UploadedSegment| -> Result<(), RegisterError> {
///     println!("{} ({} bytes)", seg.object_url, seg.bytes);
///     Ok(())
/// });
/// ```
pub trait Registrar: Send {
    /// Registers `segment`. Must be idempotent: after a crash a segment may be registered
    /// again.
    fn register(&mut self, segment: &UploadedSegment) -> Result<(), RegisterError>;
}

impl<F> Registrar for F
where
    F: FnMut(&UploadedSegment) -> Result<(), RegisterError> + Send,
{
    fn register(&mut self, segment: &UploadedSegment) -> Result<(), RegisterError> {
        self(segment)
    }
}

/// Registers each uploaded segment into the dataset as its own layer (its file stem, see
/// [`crate::catalog`]): the object's URL (`s3://…` for Rerun Hub, `file://…` for a local
/// `rerun server`, which loads `file://` URIs only), with
/// [`OnDuplicate::Skip`](crate::catalog::OnDuplicate::Skip) by default, so registering a
/// segment again after a crash changes nothing.
impl Registrar for crate::catalog::DatasetRegistrar {
    fn register(&mut self, segment: &UploadedSegment) -> Result<(), RegisterError> {
        self.register_one(&segment.object_url, &segment.layer)?;
        Ok(())
    }
}

/// An uploader's counters (see [`UploadHandle::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadStats {
    /// Segments uploaded and confirmed (`head` size equal to the file's).
    pub uploaded_segments: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Multipart parts of those uploads.
    pub uploaded_parts: u64,
    /// Segments registered (with a registrar).
    pub registered_segments: u64,
    /// Upload attempts that failed (each is tried again after a backoff).
    pub failed_attempts: u64,
    /// Multipart uploads aborted after a failure.
    pub aborted_uploads: u64,
    /// Registrations that failed (each is tried again after a backoff).
    pub failed_registrations: u64,
    /// Segments deleted by the spool bound before being uploaded (or registered).
    pub dropped_segments: u64,
    /// Their bytes.
    pub dropped_bytes: u64,
    /// Their file names, oldest first.
    pub dropped: Vec<String>,
    /// Segments found in the spool at start, left by an earlier run.
    pub leftover_segments: u64,
    /// Segments uploaded without a footer (a writer killed, or cut by a failure).
    pub torn_segments: u64,
    /// Leftovers too short to hold a StreamHeader, removed.
    pub empty_removed: u64,
    /// Segments whose local file disappeared before they were uploaded.
    pub vanished_segments: u64,
    /// Segments given up (not uploaded, or uploaded but not registered), their files left in
    /// the spool (see "A segment that keeps failing" in the [module docs](self)).
    pub given_up_segments: u64,
    /// Their bytes (0 for a path that is not a regular file).
    pub given_up_bytes: u64,
    /// Each one with its reason, in the order given up.
    pub given_up: Vec<GivenUpSegment>,
    /// Local files deleted (or moved, with `keep_local`) after upload.
    pub removed_local: u64,
    /// Uploaded (and registered) segments whose local file could not be deleted (or moved
    /// to `uploaded/`, with `keep_local`): still in the spool, a later start uploads them
    /// again.
    pub unremoved_local: u64,
    /// Segments waiting (or being uploaded) now.
    pub pending_segments: u64,
    /// Their bytes.
    pub pending_bytes: u64,
    /// The latest failure, with its causes.
    pub last_error: Option<String>,
}

/// A segment the uploader gave up (see [`UploadStats::given_up`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GivenUpSegment {
    /// Its file name.
    pub name: String,
    /// Why: the last error, and how many attempts failed.
    pub reason: String,
}

/// What an uploader did, at [`UploadHandle::shutdown`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadReport {
    /// The counters.
    pub stats: UploadStats,
    /// The objects uploaded, in order.
    pub uploaded: Vec<String>,
    /// Segments still in the spool (a later start uploads them).
    pub pending: Vec<PathBuf>,
    /// Segments given up by this run whose files are still in the spool (a later start
    /// tries them again, if they are the series' files); not in `pending`.
    pub given_up: Vec<PathBuf>,
    /// The uploader thread stopped before the deadline (otherwise it finishes its attempt in
    /// flight and stops on its own).
    pub stopped: bool,
}

/// Why an [`Uploader`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The store URL is not `s3://bucket[/prefix]` or `file:///absolute/dir`.
    #[error("invalid store URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The store could not be configured.
    #[error("cannot configure the store {url}")]
    Store {
        /// The URL.
        url: String,
        /// Why.
        source: object_store::Error,
    },
    /// A directory (spool, or `file://` target) could not be created or read.
    #[error("cannot use the directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another uploader holds this spool series (its lock file is named).
    #[error("another uploader holds {path}")]
    SpoolLocked {
        /// The lock file.
        path: PathBuf,
    },
    /// The file sink could not start.
    #[error("cannot start the file sink")]
    Sink(#[from] crate::sink::FileSinkError),
    /// The uploader thread or its runtime could not start.
    #[error("cannot start the uploader thread")]
    Thread(#[source] std::io::Error),
}
