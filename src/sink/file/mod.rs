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
//! # The mmap backend's tail
//!
//! The mmap backend grows files in 64 MiB steps, so a killed writer leaves up to 64 MiB of
//! zeros after its last message ([`TruncationReason::UnwrittenTail`](crate::wire::TruncationReason)
//! in spate's decoder; the official decoder logs "corrupt footer" there and stops, after
//! reading every complete message). It writes each message header last, so the zeros
//! always start at a message boundary.

pub(crate) mod backend;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::fs::FlockOperation;

pub use backend::{IoBackend, UnknownBackend};

use super::{Sink, SinkError};
use crate::wire::{Compression, EncodedMessage, MessageKind, RrdEncoder, StoreInfo};
use backend::Backend;

/// When a [`FileSink`] calls `fdatasync`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncPolicy {
    /// Never (the kernel writes back when it likes).
    Never,
    /// After every this many bytes written.
    EveryBytes(u64),
    /// At most this long after the last sync (checked as messages arrive).
    Interval(Duration),
    /// Once, when the file is finished (the default).
    #[default]
    OnClose,
}

/// How a [`FileSink`] writes.
///
/// ```
/// use spate::sink::{FileSinkOptions, IoBackend, SyncPolicy};
/// use std::time::Duration;
/// let opts = FileSinkOptions::default()
///     .backend(IoBackend::Pwrite)
///     .sync(SyncPolicy::EveryBytes(64 << 20))
///     .rotate_bytes(1 << 30)
///     .rotate_interval(Duration::from_secs(600));
/// assert_eq!(opts.backend, IoBackend::Pwrite);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSinkOptions {
    /// The I/O backend (default [`IoBackend::Auto`]).
    pub backend: IoBackend,
    /// When to sync (default [`SyncPolicy::OnClose`]).
    pub sync: SyncPolicy,
    /// Start a new file once the current one would exceed this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Start a new file once the current one is this old.
    pub rotate_interval: Option<Duration>,
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

    fn rotates(&self) -> bool {
        self.rotate_bytes.is_some() || self.rotate_interval.is_some()
    }
}

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

struct OpenFile {
    path: PathBuf,
    backend: Box<dyn Backend>,
    rrd: RrdEncoder,
    bytes_since_sync: u64,
    last_sync: Instant,
    opened_at: Instant,
    chunks: u64,
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
    file: Option<OpenFile>,
    index: u32,
    kind: IoBackend,
    /// The latest `SetStoreInfo` per store (a file may hold several recordings, e.g. from
    /// `spate serve`), replayed into every rotated file.
    store_infos: Vec<(Option<StoreInfo>, EncodedMessage)>,
    /// The latest static chunk per (store, entity, components), replayed into every rotated
    /// file.
    statics: Vec<(String, EncodedMessage)>,
    /// Messages (and bytes) handed to an asynchronous backend and not yet confirmed by a
    /// completed `wait_all`: what an error surfacing later has cost.
    unconfirmed: (u64, u64),
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

fn io_err(e: io::Error) -> SinkError {
    SinkError::Io(e)
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

impl FileSink {
    /// An error, with the messages it cost that were accepted earlier (asynchronous backend).
    fn lost(&mut self, e: io::Error) -> SinkError {
        let (lost_messages, lost_bytes) = std::mem::take(&mut self.unconfirmed);
        if lost_messages == 0 {
            SinkError::Io(e)
        } else {
            SinkError::IoLost {
                source: e,
                lost_messages,
                lost_bytes,
                lost_rows: 0,
            }
        }
    }

    /// After waiting for the backend: either everything accepted is confirmed, or the
    /// error reports what it cost.
    fn settle(&mut self, result: io::Result<()>) -> Result<(), SinkError> {
        match result {
            Ok(()) => {
                self.unconfirmed = (0, 0);
                Ok(())
            }
            Err(e) => Err(self.lost(e)),
        }
    }
}

impl FileSink {
    /// Creates the file (truncating it, once its lock is taken) and writes its StreamHeader.
    /// With rotation the files are `name.00000.rrd`, `name.00001.rrd`, … next to `path`.
    ///
    /// Fails with [`FileSinkError::Locked`], changing nothing, if another writer holds the
    /// file (see "One writer" in the [module docs](self)).
    pub fn create(path: impl AsRef<Path>, options: FileSinkOptions) -> Result<Self, FileSinkError> {
        let base = path.as_ref().to_path_buf();
        let first = if options.rotates() {
            rotated_path(&base, 0)
        } else {
            base.clone()
        };
        let file = open_locked(&first)?;
        let lock = file.try_clone().map_err(|source| FileSinkError::Create {
            path: first.clone(),
            source,
        })?;
        let mut sink = Self {
            base,
            options,
            file: None,
            index: 0,
            kind: options.backend,
            store_infos: Vec::new(),
            statics: Vec::new(),
            unconfirmed: (0, 0),
            _lock: lock,
        };
        sink.file = Some(sink.open_file(first, file)?);
        Ok(sink)
    }

    /// The backend in use (after `Auto` resolved).
    pub fn backend(&self) -> IoBackend {
        self.kind
    }

    /// The file currently written.
    pub fn current_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    /// Starts the backend on `file` (opened, locked and empty) and writes its StreamHeader.
    fn open_file(&mut self, path: PathBuf, file: File) -> Result<OpenFile, FileSinkError> {
        let (mut backend, fallback) =
            backend::open(self.options.backend, file).map_err(|source| FileSinkError::Backend {
                backend: self.options.backend,
                path: path.clone(),
                source,
            })?;
        if let Some(reason) = fallback
            && self.kind == IoBackend::Auto
        {
            // Logged once per sink; the sink's name shows the backend in use.
            eprintln!("spate: {}: {reason}", path.display());
        }
        self.kind = backend.kind();
        let mut rrd = RrdEncoder::new(Compression::Off);
        let header = rrd.header();
        backend
            .write(0, &[header])
            .map_err(|source| FileSinkError::Write {
                path: path.clone(),
                source,
            })?;
        let now = Instant::now();
        Ok(OpenFile {
            path,
            backend,
            rrd,
            bytes_since_sync: 0,
            last_sync: now,
            opened_at: now,
            chunks: 0,
        })
    }

    fn write_framed(file: &mut OpenFile, msg: &EncodedMessage) -> io::Result<()> {
        let offset = file.rrd.offset();
        let parts: Vec<Bytes> = file.rrd.frame(msg);
        file.backend.write(offset, &parts)?;
        file.bytes_since_sync += file.rrd.offset() - offset;
        if msg.kind() == MessageKind::ArrowMsg {
            file.chunks += 1;
        }
        Ok(())
    }

    fn finish_file(&self, mut file: OpenFile) -> io::Result<()> {
        let offset = file.rrd.offset();
        let parts = file.rrd.finish().map_err(io::Error::other)?;
        file.backend.write(offset, &parts)?;
        file.backend
            .finish(file.rrd.offset(), self.options.sync != SyncPolicy::Never)
    }

    fn needs_rotation(&self, file: &OpenFile, next: usize) -> bool {
        if file.chunks == 0 {
            return false;
        }
        let by_size = self
            .options
            .rotate_bytes
            .is_some_and(|max| file.rrd.offset() + 16 + next as u64 > max);
        let by_age = self
            .options
            .rotate_interval
            .is_some_and(|d| file.opened_at.elapsed() >= d);
        by_size || by_age
    }

    fn rotate(&mut self) -> Result<(), SinkError> {
        if let Some(old) = self.file.take() {
            self.finish_file(old).map_err(io_err)?;
        }
        self.index += 1;
        let path = rotated_path(&self.base, self.index);
        let mut file = open_locked(&path)
            .and_then(|file| self.open_file(path, file))
            .map_err(FileSinkError::into_sink_error)?;
        // Every file opens alone: recording identity and static data first.
        for (_, info) in &self.store_infos {
            Self::write_framed(&mut file, info).map_err(io_err)?;
        }
        for (_, m) in &self.statics {
            Self::write_framed(&mut file, m).map_err(io_err)?;
        }
        self.file = Some(file);
        Ok(())
    }

    fn maybe_sync(&mut self) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let due = match self.options.sync {
            SyncPolicy::EveryBytes(n) => file.bytes_since_sync >= n,
            SyncPolicy::Interval(d) => file.last_sync.elapsed() >= d,
            SyncPolicy::Never | SyncPolicy::OnClose => false,
        };
        if due {
            file.backend.sync_data()?;
            file.bytes_since_sync = 0;
            file.last_sync = Instant::now();
            // sync_data waited for every write: all accepted so far is confirmed.
            self.unconfirmed = (0, 0);
        }
        Ok(())
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("file:{} ({})", self.base.display(), self.kind)
    }

    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        match msg.kind() {
            MessageKind::SetStoreInfo => {
                let store = msg.store().cloned();
                match self.store_infos.iter_mut().find(|(s, _)| *s == store) {
                    Some(slot) => slot.1 = msg.clone(),
                    None => self.store_infos.push((store, msg.clone())),
                }
            }
            MessageKind::ArrowMsg => {
                if let Some(key) = msg.summary().and_then(|s| s.static_key()) {
                    match self.statics.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = msg.clone(),
                        None => self.statics.push((key, msg.clone())),
                    }
                }
            }
            _ => {}
        }
        if self
            .file
            .as_ref()
            .is_some_and(|f| self.needs_rotation(f, msg.len()))
        {
            self.rotate()?;
        }
        let file = self.file.as_mut().ok_or(SinkError::Closed)?;
        let asynchronous = file.backend.kind() == IoBackend::Uring;
        if let Err(e) = Self::write_framed(file, msg) {
            return Err(self.lost(e));
        }
        if asynchronous {
            self.unconfirmed.0 += 1;
            self.unconfirmed.1 += msg.len() as u64;
        }
        match self.maybe_sync() {
            Ok(()) => Ok(()),
            Err(e) => Err(self.lost(e)),
        }
    }

    fn flush(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        let result = match self.file.as_mut() {
            Some(f) => f.backend.wait_all(),
            None => Ok(()),
        };
        self.settle(result)
    }

    fn close(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        let result = match self.file.take() {
            Some(f) => self.finish_file(f),
            None => Ok(()),
        };
        self.settle(result)
    }
}
