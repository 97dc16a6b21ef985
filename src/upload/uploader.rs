//! The uploader thread and its handle.

use std::collections::VecDeque;
use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::spool::{Series, has_stream_footer};
use super::store::{AttemptError, Target, upload_file};
use super::{
    GivenUpSegment, Registrar, UploadError, UploadOptions, UploadReport, UploadStats,
    UploadedSegment,
};
use crate::error::ErrorChain;
use crate::sink::file::rotated_path;
use crate::sink::{FileSink, FileSinkOptions, FinishedSegment, OnFinished};

/// A StreamHeader's length: a shorter leftover holds nothing.
const STREAM_HEADER_BYTES: u64 = 12;

/// Uploads finished segments to an object store (see the [module docs](super)); configure it,
/// then [`start`](Self::start) it or make a [`file_sink`](Self::file_sink) feeding it.
pub struct Uploader {
    target: Target,
    options: UploadOptions,
    registrar: Option<Box<dyn Registrar>>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader")
            .field("url", &self.target.object_url(""))
            .field("options", &self.options)
            .field("registrar", &self.registrar.is_some())
            .finish()
    }
}

impl Uploader {
    /// An uploader to `url` (`s3://bucket[/prefix]` or `file:///dir`). Configures the store
    /// (installing rustls's ring provider for S3), without making any request.
    ///
    /// ```
    /// use spate::upload::{UploadError, UploadOptions, Uploader};
    /// assert!(Uploader::new("s3://bucket/runs", UploadOptions::default()).is_ok());
    /// assert!(matches!(
    ///     Uploader::new("ftp://x", UploadOptions::default()),
    ///     Err(UploadError::InvalidUrl { .. })
    /// ));
    /// ```
    pub fn new(url: &str, options: UploadOptions) -> Result<Self, UploadError> {
        Self::new_with_env(url, options, &[])
    }

    /// Like [`new`](Self::new), with `env` — pairs of `AWS_*` variable names and values —
    /// read after (so overriding) the process environment. For S3 stores only (`file://`
    /// ignores them); an unknown name is [`UploadError::InvalidUrl`].
    ///
    /// ```
    /// use spate::upload::{UploadOptions, Uploader};
    /// let env = [("AWS_ENDPOINT", "http://127.0.0.1:9000"), ("AWS_ALLOW_HTTP", "true")];
    /// assert!(Uploader::new_with_env("s3://bucket/runs", UploadOptions::default(), &env).is_ok());
    /// ```
    pub fn new_with_env(
        url: &str,
        options: UploadOptions,
        env: &[(&str, &str)],
    ) -> Result<Self, UploadError> {
        Ok(Self {
            target: Target::parse(url, &options, env)?,
            options,
            registrar: None,
        })
    }

    /// Registers every uploaded segment with `registrar` before its local copy goes.
    #[must_use]
    pub fn registrar(mut self, registrar: impl Registrar + 'static) -> Self {
        self.registrar = Some(Box::new(registrar));
        self
    }

    /// Starts the uploader thread with nothing queued: give it segments with
    /// [`UploadHandle::submit`] or [`UploadHandle::on_finished`].
    ///
    /// ```
    /// use spate::upload::{UploadOptions, Uploader};
    /// use std::time::{Duration, Instant};
    ///
    /// let bucket = tempfile::tempdir()?;
    /// let spool = tempfile::tempdir()?;
    /// let file = spool.path().join("a.rrd");
    /// std::fs::write(&file, b"not checked: any file uploads")?;
    /// let uploads = Uploader::new(&format!("file://{}", bucket.path().display()), UploadOptions::default())?
    ///     .start()?;
    /// uploads.submit(&file);
    /// assert!(uploads.wait_idle(Instant::now() + Duration::from_secs(10)));
    /// assert_eq!(std::fs::read(bucket.path().join("a.rrd"))?, b"not checked: any file uploads");
    /// assert!(!file.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(self) -> Result<UploadHandle, UploadError> {
        self.spawn(Vec::new(), None, None)
    }

    /// A [`FileSink`] for a new run of the series `path` (`DIR/STEM.rrd` → files
    /// `DIR/STEM-<UTC start>-<pid>[.NNNNN].rrd`), and the handle of this uploader, which
    /// uploads first what earlier runs left in `DIR`, then each file the sink finishes (see
    /// "Runs, and what an earlier run left" in the [module docs](super)).
    ///
    /// Fails with [`UploadError::SpoolLocked`] while another uploader serves the series.
    pub fn file_sink(
        self,
        path: impl AsRef<Path>,
        options: FileSinkOptions,
    ) -> Result<(FileSink, UploadHandle), UploadError> {
        if let Some(rotate) = options.rotate_bytes
            && self.options.spool_bytes < rotate
        {
            log::warn!(
                "spate upload: the spool bound ({} bytes) is smaller than a segment (rotation at \
                 {rotate} bytes): finished segments will be dropped before they are uploaded",
                self.options.spool_bytes
            );
        }
        let series = Series::new(path.as_ref())?;
        let lock = series.lock()?;
        let leftovers = series.leftovers()?;
        let rotates = options.rotate_bytes.is_some() || options.rotate_interval.is_some();
        let base = series.new_run(rotates);
        let sink = FileSink::create(&base, options)?;
        let writer = Writer {
            base,
            rotates,
            next_index: Some(0),
        };
        let handle = self.spawn(leftovers, Some(writer), Some(lock))?;
        let sink = sink.on_finished(handle.on_finished());
        Ok((sink, handle))
    }

    fn spawn(
        self,
        leftovers: Vec<PathBuf>,
        writer: Option<Writer>,
        lock: Option<File>,
    ) -> Result<UploadHandle, UploadError> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(UploadError::Thread)?;
        let mut worker = Worker {
            target: self.target,
            options: self.options,
            registrar: self.registrar,
            shared: Arc::clone(&shared),
            rx,
            queue: VecDeque::new(),
            given_up: Vec::new(),
            next_seq: 0,
            cursor: None,
            completed: 0,
            writer,
            failures: 0,
            next_try: Instant::now(),
            runtime,
            lock,
        };
        for path in leftovers {
            worker.add_leftover(path);
        }
        worker.publish();
        std::thread::Builder::new()
            .name("spate-upload".to_owned())
            .spawn(move || worker.run())
            .map_err(UploadError::Thread)?;
        Ok(UploadHandle { tx, shared })
    }
}

/// What the handle sends the thread.
enum Command {
    Segment(FinishedSegment),
    Stop,
}

/// State the thread publishes for the handles.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// Segments handed over (by the hook or `submit`); the thread counts what it took.
    submitted: AtomicU64,
}

#[derive(Default)]
struct State {
    stats: UploadStats,
    uploaded: Vec<String>,
    pending: Vec<PathBuf>,
    given_up: Vec<PathBuf>,
    /// Segments the thread took from the channel.
    received: u64,
    /// An attempt is running (or the queue holds segments).
    busy: bool,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A handle on a running [`Uploader`]: counters, waits, and the stop. Cloneable; every wait
/// takes a deadline.
#[derive(Clone)]
pub struct UploadHandle {
    tx: Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for UploadHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadHandle").finish_non_exhaustive()
    }
}

impl UploadHandle {
    /// A callback for [`FileSink::on_finished`] that queues each finished file here (it
    /// never blocks the sink).
    pub fn on_finished(&self) -> OnFinished {
        let handle = self.clone();
        Arc::new(move |seg| handle.send(seg))
    }

    /// Queues the file at `path` for upload, as a complete segment (whatever it holds).
    pub fn submit(&self, path: impl AsRef<Path>) {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        self.send(FinishedSegment {
            path,
            index: 0,
            bytes,
            complete: true,
            last: false,
        });
    }

    fn send(&self, seg: FinishedSegment) {
        self.shared.submitted.fetch_add(1, Ordering::AcqRel);
        if self.tx.send(Command::Segment(seg)).is_err() {
            // The thread has stopped: the file stays in the spool for a later start.
            self.shared.submitted.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// The counters now.
    pub fn stats(&self) -> UploadStats {
        self.shared.lock().stats.clone()
    }

    /// Waits until every segment handed over so far is uploaded (and registered), dropped or
    /// given up, or the uploader stopped; `false` if `deadline` came first.
    pub fn wait_idle(&self, deadline: Instant) -> bool {
        let mut state = self.shared.lock();
        loop {
            let handed = self.shared.submitted.load(Ordering::Acquire);
            if state.stopped || (!state.busy && state.received >= handed) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // Woken by every change; bounded so a hand-over racing the check is seen.
            let wait = (deadline - now).min(Duration::from_millis(100));
            state = self
                .shared
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the uploader once its attempt in flight ends (not starting another), waiting
    /// until `deadline` for that, and reports what it did. What is not uploaded stays in the
    /// spool for the next start. Later calls report again.
    pub fn shutdown(&self, deadline: Instant) -> UploadReport {
        let _ = self.tx.send(Command::Stop);
        let mut state = self.shared.lock();
        while !state.stopped {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        UploadReport {
            stats: state.stats.clone(),
            uploaded: state.uploaded.clone(),
            pending: state.pending.clone(),
            given_up: state.given_up.clone(),
            stopped: state.stopped,
        }
    }
}

/// The sink writing into the spool, followed to count its current file.
struct Writer {
    base: PathBuf,
    rotates: bool,
    /// The file being written; `None` once the sink wrote its last file.
    next_index: Option<u32>,
}

impl Writer {
    fn current_bytes(&self) -> u64 {
        let Some(index) = self.next_index else {
            return 0;
        };
        let path = if self.rotates {
            rotated_path(&self.base, index)
        } else {
            self.base.clone()
        };
        std::fs::metadata(path).map_or(0, |m| m.len())
    }
}

/// A segment in the spool.
struct Entry {
    /// Order of arrival (the queue is sorted by it).
    seq: u64,
    path: PathBuf,
    name: String,
    bytes: u64,
    complete: bool,
    /// Its upload is confirmed (waiting for registration).
    uploaded: bool,
    /// Failed attempts.
    attempts: u32,
    /// Failed attempts of its own (see "A segment that keeps failing").
    strikes: u32,
    /// `Worker::completed` at its arrival or its latest failure.
    completed_mark: u64,
}

struct Worker {
    target: Target,
    options: UploadOptions,
    registrar: Option<Box<dyn Registrar>>,
    shared: Arc<Shared>,
    rx: Receiver<Command>,
    /// Segments to upload (or register), in order of arrival.
    queue: VecDeque<Entry>,
    /// Segments given up whose files are left in the spool (the bound counts them).
    given_up: Vec<Entry>,
    next_seq: u64,
    /// `seq` of the segment tried last: the next attempt is at the next one (round-robin).
    cursor: Option<u64>,
    /// Segments done (uploaded, registered), for telling whose failure a failure is.
    completed: u64,
    writer: Option<Writer>,
    /// Consecutive failed attempts (upload or registration, at any segment) since one went
    /// through: the store's backoff.
    failures: u32,
    next_try: Instant,
    runtime: tokio::runtime::Runtime,
    /// The series lock, let go when the thread ends (before it says it stopped).
    lock: Option<File>,
}

/// How long the idle thread sleeps between looks at the writer's file (for the bound).
const IDLE_TICK: Duration = Duration::from_millis(500);

impl Worker {
    fn add_leftover(&mut self, path: PathBuf) {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return;
        };
        let mut st = self.shared.lock();
        st.stats.leftover_segments += 1;
        if meta.len() <= STREAM_HEADER_BYTES {
            if std::fs::remove_file(&path).is_ok() {
                st.stats.empty_removed += 1;
            }
            return;
        }
        drop(st);
        let complete = has_stream_footer(&path);
        self.push(path, meta.len(), complete);
    }

    fn push(&mut self, path: PathBuf, bytes: u64, complete: bool) {
        let file_name = path.file_name().unwrap_or_default();
        let name = file_name.to_string_lossy().into_owned();
        let utf8 = file_name.to_str().is_some();
        let entry = Entry {
            seq: self.next_seq,
            path,
            name,
            bytes,
            complete,
            uploaded: false,
            attempts: 0,
            strikes: 0,
            completed_mark: self.completed,
        };
        self.next_seq += 1;
        if utf8 {
            self.queue.push_back(entry);
        } else {
            self.give_up(entry, "its file name is not UTF-8".to_owned());
        }
    }

    /// Gives `entry` up (see the module docs): counted, warned, its file left in the spool.
    fn give_up(&mut self, mut entry: Entry, reason: String) {
        // Only a regular file is left for the bound to count (and delete).
        let len = std::fs::metadata(&entry.path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        entry.bytes = len.unwrap_or(0);
        log::warn!(
            "spate upload: gave up {} ({} bytes, left in the spool): {reason}",
            entry.path.display(),
            entry.bytes
        );
        let mut st = self.shared.lock();
        st.stats.given_up_segments += 1;
        st.stats.given_up_bytes += entry.bytes;
        st.stats.last_error = Some(format!("gave up {}: {reason}", entry.name));
        st.stats.given_up.push(GivenUpSegment {
            name: entry.name.clone(),
            reason,
        });
        drop(st);
        if len.is_some() {
            self.given_up.push(entry);
        }
    }

    fn receive(&mut self, seg: FinishedSegment) {
        {
            // Busy from the moment it is taken, so `wait_idle` never sees it in neither place.
            let mut st = self.shared.lock();
            st.received += 1;
            st.busy = true;
        }
        if let Some(w) = &mut self.writer
            && seg.path
                == (if w.rotates {
                    rotated_path(&w.base, seg.index)
                } else {
                    w.base.clone()
                })
        {
            w.next_index = if seg.last {
                None
            } else {
                seg.index.checked_add(1)
            };
        }
        if seg.path.as_os_str().is_empty() || seg.path.file_name().is_none() {
            return;
        }
        self.push(seg.path, seg.bytes, seg.complete);
        self.enforce_bound();
    }

    /// Drops the oldest segments while the spool is over its bound (see the module docs).
    fn enforce_bound(&mut self) {
        let writing = self.writer.as_ref().map_or(0, Writer::current_bytes);
        let mut total = writing
            + self.queue.iter().map(|e| e.bytes).sum::<u64>()
            + self.given_up.iter().map(|e| e.bytes).sum::<u64>();
        while total > self.options.spool_bytes {
            // Given-up segments first (this run tries them no more), then the oldest waiting.
            let oldest = if self.given_up.is_empty() {
                self.queue.pop_front()
            } else {
                Some(self.given_up.remove(0))
            };
            let Some(oldest) = oldest else {
                break;
            };
            total -= oldest.bytes;
            let _ = std::fs::remove_file(&oldest.path);
            log::warn!(
                "spate upload: spool over {} bytes: dropped {} ({} bytes, not {})",
                self.options.spool_bytes,
                oldest.path.display(),
                oldest.bytes,
                if oldest.uploaded {
                    "registered"
                } else {
                    "uploaded"
                }
            );
            let mut st = self.shared.lock();
            st.stats.dropped_segments += 1;
            st.stats.dropped_bytes += oldest.bytes;
            st.stats.dropped.push(oldest.name);
            // The backoff stays: it is the store's, not the dropped segment's (a store that
            // is down gets no extra attempt because a segment was dropped).
        }
    }

    /// Copies the queue into the shared state and wakes the waiters.
    fn publish(&self) {
        let mut st = self.shared.lock();
        st.pending = self.queue.iter().map(|e| e.path.clone()).collect();
        st.stats.pending_segments = self.queue.len() as u64;
        st.stats.pending_bytes = self.queue.iter().map(|e| e.bytes).sum();
        st.given_up = self.given_up.iter().map(|e| e.path.clone()).collect();
        st.busy = !self.queue.is_empty();
        drop(st);
        self.shared.changed.notify_all();
    }

    fn run(mut self) {
        let mut stopping = false;
        let mut disconnected = false;
        while !stopping {
            // Take everything handed over; wait only when there is nothing to do now.
            let wait = if self.queue.is_empty() {
                IDLE_TICK
            } else {
                self.next_try.saturating_duration_since(Instant::now())
            };
            let first = if disconnected {
                if self.queue.is_empty() {
                    break;
                }
                std::thread::sleep(wait);
                None
            } else {
                match self.rx.recv_timeout(wait) {
                    Ok(cmd) => Some(cmd),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => {
                        disconnected = true;
                        None
                    }
                }
            };
            let mut next = first;
            while let Some(cmd) = next {
                match cmd {
                    Command::Segment(seg) => self.receive(seg),
                    Command::Stop => stopping = true,
                }
                next = self.rx.try_recv().ok();
            }
            self.enforce_bound();
            self.publish();
            if stopping || self.queue.is_empty() || Instant::now() < self.next_try {
                continue;
            }
            self.step();
            self.enforce_bound();
            self.publish();
        }
        drop(self.lock.take());
        let mut st = self.shared.lock();
        st.stopped = true;
        st.pending = self.queue.iter().map(|e| e.path.clone()).collect();
        st.given_up = self.given_up.iter().map(|e| e.path.clone()).collect();
        drop(st);
        self.shared.changed.notify_all();
    }

    /// The segment to try next: the first after the one tried last, in order of arrival
    /// (round-robin: one that failed goes behind the others).
    fn next_index(&self) -> Option<usize> {
        if self.queue.is_empty() {
            return None;
        }
        let after = self
            .cursor
            .and_then(|c| self.queue.iter().position(|e| e.seq > c));
        Some(after.unwrap_or(0))
    }

    /// A failed attempt at `queue[idx]`: given up if final or out of attempts (see the module
    /// docs), else tried again after the others; the store's backoff grows unless final.
    fn failed(&mut self, idx: usize, error: String, is_final: bool, own: bool) {
        let completed = self.completed;
        let Some(entry) = self.queue.get_mut(idx) else {
            return;
        };
        entry.attempts = entry.attempts.saturating_add(1);
        if own || completed > entry.completed_mark {
            entry.strikes = entry.strikes.saturating_add(1);
        }
        entry.completed_mark = completed;
        let attempts = entry.attempts;
        if (is_final || entry.strikes >= self.options.give_up_after.max(1))
            && let Some(entry) = self.queue.remove(idx)
        {
            let reason = if is_final {
                error
            } else {
                format!("{attempts} failed attempts, the last: {error}")
            };
            self.give_up(entry, reason);
        }
        if !is_final {
            // The next attempt, at whichever segment, waits: the store's backoff.
            self.back_off();
        }
    }

    /// One attempt at the next segment (see `next_index`): upload (unless done), register,
    /// remove.
    fn step(&mut self) {
        let Some(idx) = self.next_index() else {
            return;
        };
        let head = &self.queue[idx];
        self.cursor = Some(head.seq);
        let (path, name, complete, uploaded) = (
            head.path.clone(),
            head.name.clone(),
            head.complete,
            head.uploaded,
        );
        if !uploaded {
            let result =
                self.runtime
                    .block_on(upload_file(&self.target, &path, &name, &self.options));
            match result {
                Ok(done) => {
                    let mut st = self.shared.lock();
                    st.stats.uploaded_segments += 1;
                    st.stats.uploaded_bytes += done.bytes;
                    st.stats.uploaded_parts += done.parts;
                    if !complete {
                        st.stats.torn_segments += 1;
                    }
                    st.uploaded.push(self.target.object_url(&name));
                    drop(st);
                    if let Some(head) = self.queue.get_mut(idx) {
                        head.uploaded = true;
                        head.bytes = done.bytes;
                    }
                }
                Err(AttemptError::Vanished) => {
                    // Not the store's failure: its backoff stays as it is.
                    self.queue.remove(idx);
                    self.shared.lock().stats.vanished_segments += 1;
                    return;
                }
                Err(e) => {
                    let error = ErrorChain(&e).to_string();
                    let mut st = self.shared.lock();
                    st.stats.failed_attempts += 1;
                    if matches!(e, AttemptError::Store { aborted: true, .. }) {
                        st.stats.aborted_uploads += 1;
                    }
                    st.stats.last_error = Some(format!("{name}: {error}"));
                    drop(st);
                    self.failed(idx, error, e.is_final(), e.is_local());
                    return;
                }
            }
        }
        if let Some(registrar) = &mut self.registrar {
            let bytes = self.queue.get(idx).map_or(0, |e| e.bytes);
            let seg = UploadedSegment {
                object_url: self.target.object_url(&name),
                local_path: path.clone(),
                bytes,
                layer: Path::new(&name)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                complete,
            };
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| registrar.register(&seg)));
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(ErrorChain(&*e).to_string()),
                Err(_) => Some("the registrar panicked".to_owned()),
            };
            if let Some(error) = error {
                let mut st = self.shared.lock();
                st.stats.failed_registrations += 1;
                st.stats.last_error = Some(format!("registering {name}: {error}"));
                drop(st);
                self.failed(idx, format!("registering: {error}"), false, false);
                return;
            }
            self.shared.lock().stats.registered_segments += 1;
        }
        self.queue.remove(idx);
        self.completed += 1;
        self.failures = 0;
        self.next_try = Instant::now();
        match self.remove_local(&path) {
            Ok(()) => self.shared.lock().stats.removed_local += 1,
            Err(e) => {
                let what = if self.options.keep_local {
                    "move to uploaded/"
                } else {
                    "delete"
                };
                log::warn!(
                    "spate upload: cannot {what} the uploaded {} (a later start uploads it \
                     again): {e}",
                    path.display()
                );
                let mut st = self.shared.lock();
                st.stats.unremoved_local += 1;
                st.stats.last_error = Some(format!("cannot {what} {name}: {e}"));
            }
        }
    }

    /// Deletes the uploaded file, or moves it to `uploaded/` with `keep_local`.
    fn remove_local(&self, path: &Path) -> std::io::Result<()> {
        if !self.options.keep_local {
            return std::fs::remove_file(path);
        }
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a file path",
            ));
        };
        let kept = dir.join("uploaded");
        std::fs::create_dir_all(&kept)?;
        std::fs::rename(path, kept.join(name))
    }

    fn back_off(&mut self) {
        let shift = self.failures.min(20);
        let delay = self
            .options
            .retry_initial
            .saturating_mul(1u32 << shift)
            .min(self.options.retry_max);
        self.failures = self.failures.saturating_add(1);
        // (A `retry_max` past the end of time waits a day at a time.)
        let now = Instant::now();
        self.next_try = now
            .checked_add(delay)
            .unwrap_or_else(|| now + Duration::from_secs(86_400));
    }
}
