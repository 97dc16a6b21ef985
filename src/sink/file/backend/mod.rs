//! How a [`FileSink`](super::FileSink) gets bytes into its file.
//!
//! Every backend writes a message's `Bytes` parts straight from their memory (vectored
//! writes; mmap copies into the mapping), at increasing offsets, and keeps whatever it still
//! needs (parts, the file) alive until the kernel is done with it.

#[cfg(test)]
pub(crate) mod fault;
pub(crate) mod mmap;
mod pwrite;
pub(crate) mod uring;

use std::fs::File;
use std::io;

use bytes::Bytes;

/// Which I/O backend a [`FileSink`](super::FileSink) uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IoBackend {
    /// io_uring if the kernel offers it, else pwritev (the fallback is logged once and
    /// visible in the sink's name and stats).
    #[default]
    Auto,
    /// io_uring: vectored writes submitted without blocking, several in flight.
    Uring,
    /// A memory mapping grown in large steps; parts are copied into it.
    Mmap,
    /// `pwritev(2)`: the portable reference.
    Pwrite,
}

impl IoBackend {
    /// `"uring"`, `"mmap"`, `"pwrite"` or `"auto"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Uring => "uring",
            Self::Mmap => "mmap",
            Self::Pwrite => "pwrite",
        }
    }
}

impl std::fmt::Display for IoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`IoBackend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown I/O backend {0:?} (expected auto, uring, mmap or pwrite)")]
pub struct UnknownBackend(pub String);

impl std::str::FromStr for IoBackend {
    type Err = UnknownBackend;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => Self::Auto,
            "uring" | "io_uring" | "io-uring" => Self::Uring,
            "mmap" => Self::Mmap,
            "pwrite" | "pwritev" => Self::Pwrite,
            other => {
                return Err(UnknownBackend(other.to_owned()));
            }
        })
    }
}

/// The contract every backend implements. Calls come from one thread (the sink's worker),
/// in order; offsets are contiguous: each `write` starts where the previous one ended.
pub(crate) trait Backend: Send {
    /// Writes `parts`, concatenated, at `offset`. May return before the bytes reached the
    /// kernel (io_uring) but then keeps the parts alive until they have. An error from an
    /// earlier asynchronous write may be returned by any later call.
    fn write(&mut self, offset: u64, parts: &[Bytes]) -> io::Result<()>;

    /// Returns once every write so far has completed (short writes finished), or the first
    /// error.
    fn wait_all(&mut self) -> io::Result<()>;

    /// `fdatasync` after waiting for every write.
    fn sync_data(&mut self) -> io::Result<()>;

    /// Waits for every write, then makes the file exactly `len` bytes long (mmap grows the
    /// file ahead of the data) and, if `sync`, syncs data. The backend is not used again.
    fn finish(&mut self, len: u64, sync: bool) -> io::Result<()>;

    /// How much of the file is known written: every byte below this offset was written by a
    /// write that completed, whatever happened to the writes after it. Without a failure and
    /// with nothing in flight, the end of the last write.
    fn written_len(&self) -> u64;

    /// After a failure: waits for the writes still in flight (their errors add nothing), then
    /// cuts the file to `len` bytes, without syncing. The backend is not used again.
    fn cut(&mut self, len: u64) -> io::Result<()>;

    /// The backend actually in use.
    fn kind(&self) -> IoBackend;
}

/// Opens the backend for `file` (opened read+write, locked, truncated, positioned at 0). For
/// `Auto`, returns the reason io_uring was not used, if it was not.
pub(crate) fn open(kind: IoBackend, file: File) -> io::Result<(Box<dyn Backend>, Option<String>)> {
    match kind {
        IoBackend::Pwrite => Ok((Box::new(pwrite::PwriteBackend::new(file)), None)),
        IoBackend::Mmap => Ok((Box::new(mmap::MmapBackend::new(file)?), None)),
        IoBackend::Uring => Ok((Box::new(uring::UringBackend::new(file)?), None)),
        IoBackend::Auto => match uring::UringBackend::probe() {
            Ok(()) => Ok((Box::new(uring::UringBackend::new(file)?), None)),
            Err(e) => Ok((
                Box::new(pwrite::PwriteBackend::new(file)),
                Some(format!("io_uring unavailable ({e}); using pwritev")),
            )),
        },
    }
}

/// Sets `file`'s length to `len` if it differs, then syncs data if asked: the end of every
/// backend's `finish`.
pub(crate) fn set_len_and_sync(file: &File, len: u64, sync: bool) -> io::Result<()> {
    if file.metadata()?.len() != len {
        file.set_len(len)?;
    }
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

/// Most iovecs one `pwritev`/`writev` call takes (Linux `IOV_MAX`).
pub(crate) const IOV_MAX: usize = 1024;
