//! A fault-injecting backend for tests: wraps a real backend and makes one chosen write fail
//! the way an io_uring write does — `write` accepts it, its bytes never reach the file, and
//! the error surfaces at the next wait (`wait_all`, `sync_data`, `finish`), after later
//! writes went through.

use std::io;

use bytes::Bytes;

use super::{Backend, IoBackend};

/// Which write of which file fails (see [`Faulty`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The file: 0 for the first, then the rotation index.
    pub(crate) segment: u32,
    /// The write within that file (0 is the StreamHeader).
    pub(crate) write: usize,
}

pub(crate) struct Faulty {
    inner: Box<dyn Backend>,
    fail_write: usize,
    writes: usize,
    /// Offset of the failed write, once it happened.
    failed_at: Option<u64>,
}

impl Faulty {
    pub(crate) fn new(inner: Box<dyn Backend>, fail_write: usize) -> Self {
        Self {
            inner,
            fail_write,
            writes: 0,
            failed_at: None,
        }
    }

    fn check(&self) -> io::Result<()> {
        match self.failed_at {
            None => Ok(()),
            Some(_) => Err(io::Error::from_raw_os_error(
                rustix::io::Errno::IO.raw_os_error(),
            )),
        }
    }
}

impl Backend for Faulty {
    fn write(&mut self, offset: u64, parts: &[Bytes]) -> io::Result<()> {
        let n = self.writes;
        self.writes += 1;
        if n == self.fail_write {
            self.failed_at = Some(offset);
            return Ok(());
        }
        self.inner.write(offset, parts)
    }

    fn wait_all(&mut self) -> io::Result<()> {
        self.inner.wait_all()?;
        self.check()
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.wait_all()?;
        self.inner.sync_data()
    }

    fn finish(&mut self, len: u64, sync: bool) -> io::Result<()> {
        self.wait_all()?;
        self.inner.finish(len, sync)
    }

    fn written_len(&self) -> u64 {
        self.failed_at
            .map_or(u64::MAX, |at| at)
            .min(self.inner.written_len())
    }

    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.inner.cut(len)
    }

    fn kind(&self) -> IoBackend {
        self.inner.kind()
    }
}
