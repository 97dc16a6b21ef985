//! [`FileSink`]: writes a recording to `.rrd` files that the official Rerun tools open.
//!
//! A file is the StreamHeader, the recording's `SetStoreInfo`, the chunks as they arrive,
//! and — when the sink closes cleanly — the End message with the footer manifest and the
//! StreamFooter. A writer that is killed leaves every complete message readable (the
//! official tools read such files with `--check-footers false` / `RrdReader(..).stream()`,
//! and [`decode_rrd`](crate::wire::decode_rrd) reports where the file was cut).
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

/// Why a [`FileSink`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileSinkError {
    /// The file could not be created.
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
    /// Creates the file (truncating it) and writes its StreamHeader. With rotation the files
    /// are `name.00000.rrd`, `name.00001.rrd`, … next to `path`.
    pub fn create(path: impl AsRef<Path>, options: FileSinkOptions) -> Result<Self, FileSinkError> {
        let base = path.as_ref().to_path_buf();
        let mut sink = Self {
            base,
            options,
            file: None,
            index: 0,
            kind: options.backend,
            store_infos: Vec::new(),
            statics: Vec::new(),
            unconfirmed: (0, 0),
        };
        sink.file = Some(sink.open_file(0)?);
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

    fn open_file(&mut self, index: u32) -> Result<OpenFile, FileSinkError> {
        let path = if self.options.rotates() {
            rotated_path(&self.base, index)
        } else {
            self.base.clone()
        };
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|source| FileSinkError::Create {
                path: path.clone(),
                source,
            })?;
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
        let mut file = self.open_file(self.index).map_err(|e| match e {
            FileSinkError::Create { source, .. }
            | FileSinkError::Backend { source, .. }
            | FileSinkError::Write { source, .. } => SinkError::Io(source),
        })?;
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
