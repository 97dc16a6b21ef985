//! The portable reference backend: `pwritev(2)` straight from the parts' memory.

use std::fs::File;
use std::io::{self, IoSlice};

use bytes::Bytes;

use super::{Backend, IOV_MAX, IoBackend};

pub(crate) struct PwriteBackend {
    file: File,
    /// The end of the last write that succeeded (writes are contiguous and synchronous).
    written: u64,
}

impl PwriteBackend {
    pub(crate) fn new(file: File) -> Self {
        Self { file, written: 0 }
    }
}

/// Writes all of `parts` at `offset` with `pwritev`, resubmitting after short writes.
pub(crate) fn pwritev_all(file: &File, mut offset: u64, parts: &[Bytes]) -> io::Result<()> {
    // (part index, bytes of that part already written)
    let (mut idx, mut skip) = (0usize, 0usize);
    loop {
        while idx < parts.len() && parts[idx].len() == skip {
            idx += 1;
            skip = 0;
        }
        if idx == parts.len() {
            return Ok(());
        }
        let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity((parts.len() - idx).min(IOV_MAX));
        iov.push(IoSlice::new(&parts[idx][skip..]));
        iov.extend(
            parts[idx + 1..]
                .iter()
                .take(IOV_MAX - 1)
                .map(|p| IoSlice::new(p)),
        );
        let n = match rustix::io::pwritev(file, &iov, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "pwritev wrote nothing",
                ));
            }
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        offset += n as u64;
        // Advance past what was written.
        let mut left = n;
        while left > 0 && idx < parts.len() {
            let rest = parts[idx].len() - skip;
            if left >= rest {
                left -= rest;
                idx += 1;
                skip = 0;
            } else {
                skip += left;
                left = 0;
            }
        }
    }
}

impl Backend for PwriteBackend {
    fn write(&mut self, offset: u64, parts: &[Bytes]) -> io::Result<()> {
        pwritev_all(&self.file, offset, parts)?;
        self.written = offset + parts.iter().map(|p| p.len() as u64).sum::<u64>();
        Ok(())
    }

    fn wait_all(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn finish(&mut self, len: u64, sync: bool) -> io::Result<()> {
        super::set_len_and_sync(&self.file, len, sync)
    }

    fn written_len(&self) -> u64 {
        self.written
    }

    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn kind(&self) -> IoBackend {
        IoBackend::Pwrite
    }
}
