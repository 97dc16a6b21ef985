//! io_uring backend (being written).
use std::fs::File;
use std::io;

use bytes::Bytes;

use super::{Backend, IoBackend};

pub(crate) struct UringBackend {
    inner: super::pwrite::PwriteBackend,
}

impl UringBackend {
    pub(crate) fn probe() -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring backend not built yet",
        ))
    }
    pub(crate) fn new(_file: File) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring backend not built yet",
        ))
    }
}

impl Backend for UringBackend {
    fn write(&mut self, offset: u64, parts: &[Bytes]) -> io::Result<()> {
        self.inner.write(offset, parts)
    }
    fn wait_all(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn finish(&mut self, len: u64, sync: bool) -> io::Result<()> {
        self.inner.finish(len, sync)
    }
    fn kind(&self) -> IoBackend {
        IoBackend::Uring
    }
}
