//! [`FileSink`]: writes a recording to `.rrd` files that the official Rerun tools open.
//!
//! A file is the StreamHeader, the recording's `SetStoreInfo`, the chunks as they arrive,
//! and — when the sink closes cleanly — the End message with the footer manifest and the
//! StreamFooter. A writer that is killed leaves every complete message readable (the
//! official tools read such files with `--check-footers false` / `RrdReader(..).stream()`,
//! and [`decode_rrd`](crate::wire::decode_rrd) reports where the file was cut).
//!
//! # One writer
//!
//! A file has one writer. The sink opens its file without truncating it, takes an exclusive
//! advisory lock on it (`flock(LOCK_EX | LOCK_NB)`), and only then cuts it to zero and starts
//! the backend; it holds the lock until the sink is dropped. A second `FileSink` on the path —
//! in this process or in another — fails with [`FileSinkError::Locked`] and leaves the file
//! alone (before this lock, it truncated the file under the first sink: a corrupt file, or
//! `SIGBUS` under the mmap backend's mapping). So `Recording::set_sinks` with a new sink on
//! the path a running sink writes fails at [`FileSink::create`]; give the new sink another
//! path, or let the old one close first.
//!
//! `flock` locks belong to the open file, so two sinks in one process exclude each other as
//! two processes do. They are advisory: a program that ignores them can still truncate the
//! file. On NFS, Linux emulates `flock` with POSIX record locks, which do not conflict within
//! one process.
//!
//! With rotation the lock covers the base name: the sink locks its first file,
//! `name.00000.rrd`, for its whole life (also after it moved on to later files), and every
//! later file while it writes it. A second rotating sink with the same base fails at that
//! first file, so two sinks never write one series of files; a plain sink on the first file
//! or on the file being written fails too. Later files the sink has finished are not locked
//! any more: they are complete.
//!
//! # Delivery and failures
//!
//! A message counts as delivered when [`write`](Sink::write) accepts it. The pwrite and mmap
//! backends have written it by then; an io_uring write completes later, so the sink tracks
//! which accepted messages are known written (every byte up to their end completed, in file
//! order). When a backend reports a failure — at a later write, a sync, a flush, a rotation
//! or the close — the sink waits for the writes still in flight, cuts the file after the last
//! message known written (a reader finds every message before the cut, as after a crash, and
//! no footer), and returns [`SinkError::IoLost`] with the messages, bytes and rows of every
//! accepted message the file lacks: the engine moves them from delivered to dropped. The
//! message being written when the failure shows is refused (the engine counts it). A file
//! that holds no message after the cut is removed. The sink stops at its first error.
//!
//! The footer is written only once every message of the file is known written, so its
//! manifest never indexes a message that is not in the file.
//!
//! An `fdatasync` error is returned as [`SinkError::Io`] and moves nothing: the messages are
//! in the file as readers see it, and the kernel does not say which pages it failed to write
//! back.
//!
//! # Rotation and replay
//!
//! [`FileSinkOptions::rotate_bytes`] bounds each file's *own* data: what it holds after the
//! StreamHeader and the messages replayed at its start. A file rotates once it holds at least
//! one chunk of logged data of its own (the recording's store info and properties, which a
//! recording sends before any row, are not) and the next message would take its own data
//! past the bound (or once it is [`rotate_interval`](FileSinkOptions::rotate_interval) old),
//! so no file holds the recording's identity alone. Static data larger than
//! the bound therefore does not make every later message start a new file; a file may exceed
//! `rotate_bytes` by what it replays, and by a single message larger than the bound.
//!
//! Only a rotating sink keeps messages: the latest `SetStoreInfo` per store and the latest
//! static chunk per (store, entity, component set), written at the start of every new file
//! so that each file opens alone. Statics are kept within
//! [`max_replay_bytes`](FileSinkOptions::max_replay_bytes) (default
//! [`DEFAULT_MAX_REPLAY_BYTES`], 64 MiB); one that does not fit is written where it arrives,
//! counted ([`FileSinkStats::statics_not_kept`]) and not replayed. A sink that does not
//! rotate keeps nothing.
//!
//! # Finished files
//!
//! [`FileSink::on_finished`] registers a callback that learns of every file the sink is
//! done with — at each rotation, at the close, and when a failure ends a file — as a
//! [`FinishedSegment`]: its path, length, and whether it is complete (End message and
//! footer written) or was cut by a failure (every message before the cut is readable, as
//! after a crash). It runs on the sink's worker thread, after the file is finished and its
//! lock let go, so it must not block: hand the segment to another thread (the
//! [`upload`](crate::upload) module does). A file that a failure left without any message
//! is removed, and reported to no one. A sink dropped without being closed (the engine always
//! closes its sinks) reports nothing for its last file.
//!
//! # The mmap backend's tail
//!
//! The mmap backend grows files in 64 MiB steps, so a killed writer leaves up to 64 MiB of
//! zeros after its last message ([`TruncationReason::UnwrittenTail`](crate::wire::TruncationReason)
//! in spate's decoder; the official decoder logs "corrupt footer" there and stops, after
//! reading every complete message). It writes each message header last, so the zeros
//! always start at a message boundary.

pub(crate) mod backend;
mod replay;
mod segment;
#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;

pub use crate::stats::FileSinkStats;
pub use backend::{IoBackend, UnknownBackend};
pub use replay::FileSinkStatsHandle;

use super::{Sink, SinkError};
use crate::wire::{Compression, EncodedMessage, RrdEncoder};
use replay::Replay;
use segment::{Cost, Segment};

/// When a [`FileSink`] calls `fdatasync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncPolicy {
    /// Never (the kernel writes back when it likes).
    Never,
    /// Once this many bytes were written since the last sync (checked when the next message
    /// arrives, and at every flush).
    EveryBytes(u64),
    /// Once this long has passed since the last sync (checked when the next message arrives,
    /// and at every flush).
    Interval(Duration),
    /// Once, when the file is finished (the default).
    #[default]
    OnClose,
}

/// Default of [`FileSinkOptions::max_replay_bytes`]: 64 MiB.
pub const DEFAULT_MAX_REPLAY_BYTES: u64 = 64 << 20;

/// How a [`FileSink`] writes.
///
/// ```
/// use spate::sink::{FileSinkOptions, IoBackend, SyncPolicy};
/// use std::time::Duration;
/// let opts = FileSinkOptions::default()
///     .backend(IoBackend::Pwrite)
///     .sync(SyncPolicy::EveryBytes(64 << 20))
///     .rotate_bytes(1 << 30)
///     .rotate_interval(Duration::from_secs(600))
///     .max_replay_bytes(16 << 20);
/// assert_eq!(opts.backend, IoBackend::Pwrite);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSinkOptions {
    /// The I/O backend (default [`IoBackend::Auto`]).
    pub backend: IoBackend,
    /// When to sync (default [`SyncPolicy::OnClose`]).
    pub sync: SyncPolicy,
    /// Start a new file once the current one's own data (after its StreamHeader and replayed
    /// messages) would exceed this many bytes (see the [module docs](self)).
    pub rotate_bytes: Option<u64>,
    /// Start a new file once the current one is this old.
    pub rotate_interval: Option<Duration>,
    /// With rotation: most bytes of store infos and static chunks kept to start each new
    /// file with (default [`DEFAULT_MAX_REPLAY_BYTES`]). Statics beyond it are not replayed
    /// (counted in [`FileSinkStats::statics_not_kept`]); store infos are always kept. Unused
    /// without rotation: such a sink keeps nothing.
    pub max_replay_bytes: u64,
}

impl Default for FileSinkOptions {
    fn default() -> Self {
        Self {
            backend: IoBackend::default(),
            sync: SyncPolicy::default(),
            rotate_bytes: None,
            rotate_interval: None,
            max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
        }
    }
}

impl FileSinkOptions {
    /// Sets the backend.
    pub fn backend(mut self, backend: IoBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets the sync policy.
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    /// Rotates files by size.
    pub fn rotate_bytes(mut self, bytes: u64) -> Self {
        self.rotate_bytes = Some(bytes);
        self
    }

    /// Rotates files by age.
    pub fn rotate_interval(mut self, interval: Duration) -> Self {
        self.rotate_interval = Some(interval);
        self
    }

    /// Bounds the bytes kept to replay into each new file.
    pub fn max_replay_bytes(mut self, bytes: u64) -> Self {
        self.max_replay_bytes = bytes;
        self
    }

    fn rotates(&self) -> bool {
        self.rotate_bytes.is_some() || self.rotate_interval.is_some()
    }
}

/// A file a [`FileSink`] is done with (see "Finished files" in the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinishedSegment {
    /// The file.
    pub path: PathBuf,
    /// Its index in the rotation (0 for a sink that does not rotate).
    pub index: u32,
    /// Its length in bytes, as finished (0 if it could not be read back).
    pub bytes: u64,
    /// `true`: it ends with the End message, footer and StreamFooter. `false`: a failure cut
    /// it after its last message known written (no footer).
    pub complete: bool,
    /// The sink writes no later file: this is the last one (the close, or a failure).
    pub last: bool,
}

/// The callback of [`FileSink::on_finished`].
pub type OnFinished = Arc<dyn Fn(FinishedSegment) + Send + Sync>;

/// Why a [`FileSink`] could not start, or could not start its next file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileSinkError {
    /// Another writer — a `FileSink` in this process or in another — holds the file (see
    /// "One writer" in the [module docs](self)). Nothing was changed.
    #[error("another writer holds {path}")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened, locked or truncated.
    #[error("cannot create {path}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The I/O backend could not start on the file (e.g. io_uring unavailable when asked
    /// for explicitly).
    #[error("cannot start the {backend} backend on {path}")]
    Backend {
        /// The backend asked for.
        backend: IoBackend,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing the stream header failed.
    #[error("cannot write to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl FileSinkError {
    /// As a [`SinkError`] (a rotation that could not start its next file), keeping the
    /// message and the chain.
    fn into_sink_error(self) -> SinkError {
        let kind = match &self {
            Self::Locked { .. } => io::ErrorKind::WouldBlock,
            Self::Create { source, .. }
            | Self::Backend { source, .. }
            | Self::Write { source, .. } => source.kind(),
        };
        SinkError::Io(io::Error::new(kind, self))
    }
}

/// Writes a recording to `.rrd` files (see the [module docs](self)).
///
/// ```
/// use spate::sink::{FileSink, FileSinkOptions};
/// use spate::{EntityPath, Points3D, Recording};
/// use std::time::{Duration, Instant};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cloud.rrd");
/// let rec = Recording::builder("demo")
///     .sinks(FileSink::create(&path, FileSinkOptions::default())?)
///     .start()?;
/// rec.log(&EntityPath::parse("lidar")?, &Points3D::new(vec![[1.0, 2.0, 3.0]; 1000]))?;
/// assert!(rec.shutdown(Instant::now() + Duration::from_secs(10)).is_complete());
///
/// let file = spate::wire::decode_rrd(std::fs::read(&path)?)?;
/// assert!(file.footer.unwrap().valid);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A file has one writer:
///
/// ```
/// use spate::sink::{FileSink, FileSinkError, FileSinkOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cloud.rrd");
/// let first = FileSink::create(&path, FileSinkOptions::default())?;
/// let second = FileSink::create(&path, FileSinkOptions::default());
/// assert!(matches!(second, Err(FileSinkError::Locked { .. })));
/// drop(first);
/// assert!(FileSink::create(&path, FileSinkOptions::default()).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileSink {
    base: PathBuf,
    options: FileSinkOptions,
    /// The file being written; `None` once closed or failed.
    file: Option<Segment>,
    index: u32,
    kind: IoBackend,
    /// Kept only when rotating.
    replay: Replay,
    #[cfg(test)]
    fault: Option<backend::fault::Fault>,
    /// Told of every file the sink is done with.
    on_finished: Option<OnFinished>,
    /// The first file, locked (a second descriptor of its open file, which carries the
    /// lock): no other writer starts on this path, or on this base with rotation, while the
    /// sink lives. Declared last, so it is let go after the file is closed.
    _lock: File,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("base", &self.base)
            .field("backend", &self.kind)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// `dir/name.rrd` → `dir/name.00003.rrd`.
pub fn rotated_path(base: &Path, index: u32) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map_or_else(|| "rrd".to_owned(), |e| e.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}.{index:05}.{ext}"))
}

/// Opens `path` for writing and takes its lock, then — only then — truncates it.
fn open_locked(path: &Path) -> Result<File, FileSinkError> {
    let create = |source| FileSinkError::Create {
        path: path.to_path_buf(),
        source,
    };
    // No O_TRUNC: the file may be another writer's (and mapped) until the lock says not.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(create)?;
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(FileSinkError::Locked {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(create(e.into())),
    }
    let meta = file.metadata().map_err(create)?;
    // (A device such as /dev/full cannot be truncated, nor needs to be.)
    if meta.is_file() && meta.len() > 0 {
        file.set_len(0).map_err(create)?;
    }
    Ok(file)
}

/// Removes `path` if it is a regular file: one of the sink's files that holds nothing a
/// reader could open. Best effort.
fn remove_regular_file(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        let _ = std::fs::remove_file(path);
    }
}

impl FileSink {
    /// Creates the file (truncating it, once its lock is taken) and writes its StreamHeader.
    /// With rotation the files are `name.00000.rrd`, `name.00001.rrd`, … next to `path`.
    ///
    /// Fails with [`FileSinkError::Locked`], changing nothing, if another writer holds the
    /// file (see "One writer" in the [module docs](self)).
    pub fn create(path: impl AsRef<Path>, options: FileSinkOptions) -> Result<Self, FileSinkError> {
        let (mut sink, first) = Self::locked(path.as_ref(), options)?;
        sink.file = Some(sink.start_segment(first)?);
        Ok(sink)
    }

    /// Like [`create`](Self::create), with one write failing as described by `fault`.
    #[cfg(test)]
    pub(crate) fn create_with_fault(
        path: impl AsRef<Path>,
        options: FileSinkOptions,
        fault: backend::fault::Fault,
    ) -> Result<Self, FileSinkError> {
        let (mut sink, first) = Self::locked(path.as_ref(), options)?;
        sink.fault = Some(fault);
        sink.file = Some(sink.start_segment(first)?);
        Ok(sink)
    }

    /// The sink holding the lock of its first file, which is returned (locked and empty).
    fn locked(base: &Path, options: FileSinkOptions) -> Result<(Self, File), FileSinkError> {
        let path = if options.rotates() {
            rotated_path(base, 0)
        } else {
            base.to_path_buf()
        };
        let file = open_locked(&path)?;
        let lock = file
            .try_clone()
            .map_err(|source| FileSinkError::Create { path, source })?;
        let sink = Self {
            base: base.to_path_buf(),
            options,
            file: None,
            index: 0,
            kind: options.backend,
            replay: Replay::default(),
            #[cfg(test)]
            fault: None,
            on_finished: None,
            _lock: lock,
        };
        Ok((sink, file))
    }

    /// Calls `callback` with every file the sink is done with: at each rotation, at the
    /// close, and when a failure ends a file (see "Finished files" in the
    /// [module docs](self)). It runs on the sink's worker thread and must not block.
    ///
    /// ```
    /// use spate::sink::{FileSink, FileSinkOptions, FinishedSegment};
    /// use spate::{EntityPath, Points3D, Recording};
    /// use std::sync::{Arc, mpsc};
    /// use std::time::{Duration, Instant};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (tx, rx) = mpsc::channel::<FinishedSegment>();
    /// let tx = std::sync::Mutex::new(tx);
    /// let sink = FileSink::create(dir.path().join("run.rrd"), FileSinkOptions::default())?
    ///     .on_finished(Arc::new(move |seg| {
    ///         let _ = tx.lock().unwrap().send(seg);
    ///     }));
    /// let rec = Recording::builder("demo").sinks(sink).start()?;
    /// rec.log(&EntityPath::parse("lidar")?, &Points3D::new(vec![[1.0, 2.0, 3.0]; 10]))?;
    /// assert!(rec.shutdown(Instant::now() + Duration::from_secs(10)).is_complete());
    ///
    /// let seg = rx.try_recv()?;
    /// assert!(seg.complete && seg.last);
    /// assert_eq!(seg.bytes, std::fs::metadata(&seg.path)?.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn on_finished(mut self, callback: OnFinished) -> Self {
        self.on_finished = Some(callback);
        self
    }

    /// Tells the callback that file `index` at `path` is finished (if it is still there: a
    /// failure that left no message removed it).
    fn report_finished(&self, path: PathBuf, index: u32, complete: bool, last: bool) {
        let Some(callback) = &self.on_finished else {
            return;
        };
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            return;
        };
        if !meta.is_file() {
            return;
        }
        callback(FinishedSegment {
            path,
            index,
            bytes: meta.len(),
            complete,
            last,
        });
    }

    /// Finishes `file` (file `self.index`) and reports it.
    fn finish_file(&self, file: Segment, last: bool) -> Result<(), SinkError> {
        let path = file.path.clone();
        let result = file.finish(self.sync_on_close());
        self.report_finished(path, self.index, result.is_ok(), last || result.is_err());
        result
    }

    /// Ends `file` after the write error `e` and reports it (cut, last).
    fn fail_file(&self, file: Segment, e: io::Error) -> SinkError {
        let path = file.path.clone();
        let err = file.fail(e);
        self.report_finished(path, self.index, false, true);
        err
    }

    /// The backend in use (after `Auto` resolved).
    pub fn backend(&self) -> IoBackend {
        self.kind
    }

    /// The file currently written.
    pub fn current_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// A live view of the sink's own counters (what it keeps for replay, and what it could
    /// not keep), readable from any thread after the sink moved into a recording.
    pub fn stats_handle(&self) -> FileSinkStatsHandle {
        self.replay.handle()
    }

    fn segment_path(&self, index: u32) -> PathBuf {
        if self.options.rotates() {
            rotated_path(&self.base, index)
        } else {
            self.base.clone()
        }
    }

    /// Starts the backend on file `self.index` (opened, locked and empty) and writes its
    /// StreamHeader; on failure the file is removed.
    fn start_segment(&mut self, file: File) -> Result<Segment, FileSinkError> {
        let path = self.segment_path(self.index);
        let result = self.start_backend(&path, file).and_then(|backend| {
            Segment::start(path.clone(), backend, RrdEncoder::new(Compression::Off)).map_err(
                |source| FileSinkError::Write {
                    path: path.clone(),
                    source,
                },
            )
        });
        if result.is_err() {
            remove_regular_file(&path);
        }
        result
    }

    fn start_backend(
        &mut self,
        path: &Path,
        file: File,
    ) -> Result<Box<dyn backend::Backend>, FileSinkError> {
        let (backend, fallback) =
            backend::open(self.options.backend, file).map_err(|source| FileSinkError::Backend {
                backend: self.options.backend,
                path: path.to_path_buf(),
                source,
            })?;
        if let Some(reason) = fallback
            && self.kind == IoBackend::Auto
        {
            // Logged once per sink; the sink's name shows the backend in use.
            eprintln!("spate: {}: {reason}", path.display());
        }
        self.kind = backend.kind();
        #[cfg(test)]
        let backend: Box<dyn backend::Backend> = match self.fault {
            Some(f) if f.segment == self.index => {
                Box::new(backend::fault::Faulty::new(backend, f.write))
            }
            _ => backend,
        };
        Ok(backend)
    }

    fn needs_rotation(&self, file: &Segment, next: usize) -> bool {
        let (own_bytes, own_chunks) = file.own();
        if own_chunks == 0 {
            return false;
        }
        let by_size = self
            .options
            .rotate_bytes
            .is_some_and(|max| own_bytes + 16 + next as u64 > max);
        let by_age = self
            .options
            .rotate_interval
            .is_some_and(|d| file.opened_at.elapsed() >= d);
        by_size || by_age
    }

    fn sync_on_close(&self) -> bool {
        self.options.sync != SyncPolicy::Never
    }

    /// Finishes the current file and starts the next one with the replayed messages.
    fn rotate(&mut self) -> Result<(), SinkError> {
        if let Some(old) = self.file.take() {
            self.finish_file(old, false)?;
        }
        self.index = self
            .index
            .checked_add(1)
            .ok_or_else(|| SinkError::Io(io::Error::other("no file index left to rotate to")))?;
        let path = self.segment_path(self.index);
        let mut file = open_locked(&path)
            .and_then(|file| self.start_segment(file))
            .map_err(FileSinkError::into_sink_error)?;
        // Every file opens alone: recording identity and static data first.
        for msg in self.replay.messages() {
            if let Err(e) = file.write(msg, Cost::default()) {
                return Err(self.fail_file(file, e));
            }
        }
        file.end_of_replay();
        self.file = Some(file);
        Ok(())
    }

    /// Waits for every write to the current file. A failure ends the file (cut after its
    /// last message known written) and is returned with what it cost.
    fn settle(&mut self) -> Result<(), SinkError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        if let Err((e, lost)) = file.settle() {
            if let Some(file) = self.file.take() {
                self.report_finished(file.path.clone(), self.index, false, true);
            }
            return Err(lost.into_error(e));
        }
        Ok(())
    }

    /// Syncs the current file if the policy says it is time.
    fn sync_if_due(&mut self) -> Result<(), SinkError> {
        let due = self
            .file
            .as_ref()
            .is_some_and(|file| match self.options.sync {
                SyncPolicy::EveryBytes(n) => file.bytes_since_sync >= n,
                SyncPolicy::Interval(d) => file.last_sync.elapsed() >= d,
                SyncPolicy::Never | SyncPolicy::OnClose => false,
            });
        if !due {
            return Ok(());
        }
        self.settle()?;
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        // Every message is written: an fdatasync error costs no message we can name.
        file.backend.sync_data().map_err(SinkError::Io)?;
        file.bytes_since_sync = 0;
        file.last_sync = Instant::now();
        Ok(())
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("file:{} ({})", self.base.display(), self.kind)
    }

    fn monitor(&self) -> Option<crate::sink::SinkMonitor> {
        Some(crate::sink::SinkMonitor::File(self.stats_handle()))
    }

    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        if self.file.is_none() {
            return Err(SinkError::Closed);
        }
        // A failure found here costs earlier messages; this one is refused, not lost.
        self.sync_if_due()?;
        if self
            .file
            .as_ref()
            .is_some_and(|f| self.needs_rotation(f, msg.len()))
        {
            self.rotate()?;
        }
        let file = self.file.as_mut().ok_or(SinkError::Closed)?;
        if let Err(e) = file.write(msg, Cost::of(msg)) {
            return Err(match self.file.take() {
                Some(file) => self.fail_file(file, e),
                None => SinkError::Io(e),
            });
        }
        if self.options.rotates() {
            self.replay.keep(msg, self.options.max_replay_bytes);
        }
        Ok(())
    }

    fn flush(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        self.settle()?;
        self.sync_if_due()
    }

    fn close(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        match self.file.take() {
            Some(file) => self.finish_file(file, true),
            None => Ok(()),
        }
    }
}
