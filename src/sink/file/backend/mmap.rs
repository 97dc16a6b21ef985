//! The mmap backend: the file is grown ahead of the data in large steps, a window of it is
//! mapped `MAP_SHARED`, and each message's parts are copied into the mapping (one copy:
//! that is the nature of this backend).
//!
//! # Growth and remapping
//!
//! The file's allocated length (`cap`) is always a multiple of [`GROW_STEP`] (64 MiB),
//! except for whatever length the file had when the backend took it over. When a write
//! would end past `cap`, the backend
//!
//! 1. unmaps the current window (nothing is flushed: the pages are already in the page
//!    cache and the kernel writes them back like any other dirty page),
//! 2. grows the file to `round_up(end, GROW_STEP)` with `fallocate(2)` (falling back to
//!    `ftruncate(2)` where the file system does not support it), so a message larger than
//!    the step grows the file enough at once,
//! 3. maps the window `[offset, cap)`: from where this write starts to the new end.
//!
//! Writes are contiguous, so the mapping never needs to cover anything before the write
//! that caused the last remap; the window stays about one step long (plus the size of a
//! huge message) however large the file becomes. A fixed step (rather than doubling) keeps
//! the zero padding a crash can leave below 64 MiB.
//!
//! `fallocate` reserves the blocks up front, so a full disk is an `io::Error` from `write`
//! instead of a `SIGBUS` when a page of a sparse hole is first touched. On file systems
//! without `fallocate` (the fallback), a full disk can still raise `SIGBUS`.
//!
//! # One writer
//!
//! A mapping raises `SIGBUS` when its file is truncated under it, so this backend relies on
//! the [`FileSink`](crate::sink::FileSink)'s advisory lock: the sink takes an exclusive
//! `flock` on the file before it truncates or maps it, and holds it for its whole life, so a
//! second spate writer on the path fails instead of cutting the file (see the sink's module
//! docs). A process that ignores advisory locks is outside this contract.
//!
//! # Finish, drop and crashes
//!
//! [`finish`](Backend::finish) unmaps and truncates the file to the true length;
//! [`cut`](Backend::cut) does the same after a failure, without syncing. Dropping the
//! backend without `finish` unmaps and truncates (best effort, errors ignored) to the end of
//! the last write. A process killed outright (`SIGKILL`, power loss) leaves the file at its
//! grown length: every completed write is in the file (the page cache is shared), followed
//! by up to 64 MiB of zeros.

#![expect(
    unsafe_code,
    reason = "memmap2's MmapOptions::map_mut is unsafe: the mapped file must not be truncated \
              or resized by anyone else while mapped (the sink's flock keeps other spate \
              writers out)"
)]

use std::fs::File;
use std::io;

use bytes::Bytes;
use memmap2::{MmapMut, MmapOptions};

use super::{Backend, IoBackend};

/// How much the file grows at a time (and the granularity of its allocated length).
const GROW_STEP: u64 = 64 << 20;

pub(crate) struct MmapBackend {
    /// The mapped window `[win_start, cap)`, or `None` before the first map, after a failed
    /// grow (the next write retries) and after `finish`.
    map: Option<MmapMut>,
    /// File offset of `map[0]`.
    win_start: u64,
    /// The file's current length (grown ahead of the data).
    cap: u64,
    /// The true length: the end of the furthest write (or the file's length when handed
    /// over, if nothing was written past it). `Drop` truncates to it.
    end: u64,
    /// Growth step (a parameter only so tests can use a small one).
    step: u64,
    /// `finish` completed its truncation: `Drop` leaves the file alone.
    finished: bool,
    /// Declared last so it is closed after `map` is unmapped (`Drop` unmaps first anyway).
    file: File,
}

impl MmapBackend {
    /// Takes `file` (a regular file opened read+write) and maps its first step.
    ///
    /// Fails, without panicking, if `file` is not a regular file (a pipe, `/dev/full`, …) or
    /// cannot be grown or mapped (e.g. opened write-only); the file is then truncated back
    /// to its original length (best effort).
    pub(crate) fn new(file: File) -> io::Result<Self> {
        Self::with_step(file, GROW_STEP)
    }

    fn with_step(file: File, step: u64) -> io::Result<Self> {
        assert!(step > 0, "growth step must be positive");
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the mmap backend needs a regular file",
            ));
        }
        let len = meta.len();
        let mut backend = Self {
            map: None,
            win_start: len,
            cap: len,
            end: len,
            step,
            finished: false,
            file,
        };
        // Grow and map the first step now, so an unmappable file fails here rather than at
        // the first write. On error `backend` is dropped, which truncates back to `len`.
        backend.remap(len, len + 1)?;
        Ok(backend)
    }

    /// Makes `map` cover `[offset, end)`: unmaps, grows the file if `end > cap`, and maps
    /// `[offset, cap)`.
    fn remap(&mut self, offset: u64, end: u64) -> io::Result<()> {
        // Unmap before touching the file's length: nothing of ours stays mapped while it
        // changes.
        self.map = None;
        if end > self.cap {
            let new_cap = end
                .div_ceil(self.step)
                .checked_mul(self.step)
                .ok_or_else(too_large)?;
            self.grow(new_cap)?;
        }
        let win_len = usize::try_from(self.cap - offset).map_err(|_| too_large())?;
        // SAFETY: `self.file` is a regular file owned by this backend (moved into it in
        // `with_step`, which checked its type); only this backend changes its length, and it
        // does so only while nothing is mapped (`self.map = None` above; in `finish`, `cut`
        // and `Drop` the map is dropped before `set_len`). No other spate writer changes it:
        // the `FileSink` took an exclusive `flock` on the open file `self.file` refers to
        // before it truncated the file and before this backend existed (`open_locked` in
        // `file/mod.rs`); the lock belongs to that open file, so it is held at least while
        // `self.file` is open, which outlives every mapping (field order, and `Drop`). A
        // second `FileSink` on the path — in this process or another — therefore fails with
        // `FileSinkError::Locked` before it truncates anything
        // (`tests/engine/file_sink_writer.rs`: `a_second_writer_in_the_same_process_is_refused`
        // dies of SIGBUS in its child process otherwise).
        // The window `[offset, cap)` lies within the file (`cap` is its length,
        // `offset < end <= cap`), so no page is past EOF. The `MmapMut` is stored in
        // `self.map` and only ever borrowed through `&mut self`, so no other reference
        // aliases the mapped memory. A process that ignores the advisory lock and truncates
        // the file is outside this contract (it would raise SIGBUS, as for any shared
        // mapping).
        let map = unsafe {
            MmapOptions::new()
                .offset(offset)
                .len(win_len)
                .map_mut(&self.file)?
        };
        self.map = Some(map);
        self.win_start = offset;
        Ok(())
    }

    /// Grows the file to `new_cap` bytes, reserving the blocks when the file system can.
    fn grow(&mut self, new_cap: u64) -> io::Result<()> {
        match rustix::fs::fallocate(
            &self.file,
            rustix::fs::FallocateFlags::empty(),
            self.cap,
            new_cap - self.cap,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
                self.file.set_len(new_cap)?;
            }
            Err(e) => return Err(e.into()),
        }
        self.cap = new_cap;
        Ok(())
    }

    /// Unmaps, then truncates the file to `len`.
    fn unmap_and_truncate(&mut self, len: u64) -> io::Result<()> {
        self.map = None;
        self.file.set_len(len)?;
        self.cap = len;
        Ok(())
    }
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        "mmap window does not fit the address space",
    )
}

impl Backend for MmapBackend {
    fn write(&mut self, offset: u64, parts: &[Bytes]) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other("mmap backend written after finish"));
        }
        let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if total == 0 {
            return Ok(());
        }
        let end = offset.checked_add(total).ok_or_else(too_large)?;
        let covered = self.map.is_some() && offset >= self.win_start && end <= self.cap;
        if !covered {
            self.remap(offset, end)?;
        }
        let map = self
            .map
            .as_mut()
            .ok_or_else(|| io::Error::other("mmap window missing"))?;
        // In range: `win_start <= offset` and `end <= cap = win_start + map.len()`.
        let start = usize::try_from(offset - self.win_start).map_err(|_| too_large())?;
        // The first part (a message header) is copied last: if the process dies mid-copy,
        // the header is still zero, which the decoder reads as "the writer stopped here"
        // (an unwritten tail) rather than as a message with a half-written body.
        let first_len = parts[0].len();
        let mut pos = start + first_len;
        for part in &parts[1..] {
            map[pos..pos + part.len()].copy_from_slice(part);
            pos += part.len();
        }
        map[start..start + first_len].copy_from_slice(&parts[0]);
        self.end = self.end.max(end);
        Ok(())
    }

    fn wait_all(&mut self) -> io::Result<()> {
        // Every write is a memcpy into the page cache, done when `write` returned.
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        // msync(MS_SYNC) the current window (untouched pages cost nothing), then fdatasync
        // for earlier windows' pages and the file's length.
        if let Some(map) = &self.map {
            map.flush()?;
        }
        self.file.sync_data()
    }

    fn finish(&mut self, len: u64, sync: bool) -> io::Result<()> {
        if sync && let Some(map) = &self.map {
            map.flush()?;
        }
        self.unmap_and_truncate(len)?;
        self.end = len;
        self.finished = true;
        if sync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn written_len(&self) -> u64 {
        // Every write is complete when it returns, and writes are contiguous.
        self.end
    }

    fn cut(&mut self, len: u64) -> io::Result<()> {
        self.unmap_and_truncate(len)?;
        self.end = len;
        self.finished = true;
        Ok(())
    }

    fn kind(&self) -> IoBackend {
        IoBackend::Mmap
    }
}

impl Drop for MmapBackend {
    fn drop(&mut self) {
        // Not finished (an error, a panic, a sink dropped without close): unmap, then cut
        // the zero padding grown ahead so the file ends after the last complete write.
        // Best effort: there is no one to report an error to.
        if !self.finished && self.cap != self.end {
            let _ = self.unmap_and_truncate(self.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::path::Path;

    use super::super::pwrite::PwriteBackend;
    use super::*;

    fn open_rw(path: &Path) -> File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap()
    }

    /// Deterministic messages: odd part sizes, empty parts, empty messages, and (with
    /// `huge`) one message larger than `huge` bytes.
    fn messages(huge: usize) -> Vec<Vec<Bytes>> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut msgs = Vec::new();
        for m in 0..300 {
            let nparts = (next() % 7) as usize;
            let mut parts = Vec::with_capacity(nparts + 1);
            for p in 0..nparts {
                let len = match next() % 5 {
                    0 => 0,
                    1 => (next() % 17) as usize,
                    2 => 4096 + (next() % 3) as usize - 1,
                    _ => (next() % 20_000) as usize,
                };
                let byte = (m * 7 + p) as u8 | 1;
                parts.push(Bytes::from(
                    (0..len)
                        .map(|i| byte.wrapping_add(i as u8))
                        .collect::<Vec<u8>>(),
                ));
            }
            if m == 150 {
                // Bigger than the growth step, between two small parts.
                parts.push(Bytes::from_static(b"abc"));
                parts.push(Bytes::from(
                    (0..huge).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
                ));
                parts.push(Bytes::from_static(b"de"));
            }
            msgs.push(parts);
        }
        msgs
    }

    /// Writes `msgs` at contiguous offsets starting at 0; returns the expected bytes.
    fn write_all(backend: &mut dyn Backend, msgs: &[Vec<Bytes>]) -> Vec<u8> {
        let mut expected = Vec::new();
        for parts in msgs {
            backend.write(expected.len() as u64, parts).unwrap();
            for p in parts {
                expected.extend_from_slice(p);
            }
        }
        expected
    }

    fn check_roundtrip(step: u64, huge: usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.rrd");
        let mut backend = MmapBackend::with_step(open_rw(&path), step).unwrap();
        let msgs = messages(huge);
        let expected = write_all(&mut backend, &msgs);
        assert!(expected.len() as u64 > step, "test must cross a step");
        backend.wait_all().unwrap();
        backend.sync_data().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() >= expected.len() as u64);
        backend.finish(expected.len() as u64, true).unwrap();
        assert!(
            backend
                .write(expected.len() as u64, &[Bytes::from_static(b"x")])
                .is_err()
        );
        drop(backend);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "file differs from the concatenated parts");
    }

    #[test]
    fn mmap_roundtrip_small_step() {
        // Step of 3 pages + 1 byte: unaligned window offsets, many remaps.
        check_roundtrip(3 * 4096 + 1, 200_000);
    }

    #[test]
    fn mmap_roundtrip_default_step() {
        check_roundtrip(GROW_STEP, (GROW_STEP + GROW_STEP / 2 + 3) as usize);
    }

    #[test]
    fn mmap_matches_pwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (pm, pp) = (dir.path().join("m.rrd"), dir.path().join("p.rrd"));
        let msgs = messages(300_000);
        let mut m = MmapBackend::with_step(open_rw(&pm), 64 << 10).unwrap();
        let mut p = PwriteBackend::new(open_rw(&pp));
        let em = write_all(&mut m, &msgs);
        let ep = write_all(&mut p, &msgs);
        assert_eq!(em, ep);
        m.finish(em.len() as u64, false).unwrap();
        p.finish(ep.len() as u64, false).unwrap();
        assert_eq!(m.kind(), IoBackend::Mmap);
        let (bm, bp) = (std::fs::read(&pm).unwrap(), std::fs::read(&pp).unwrap());
        assert_eq!(bm.len(), bp.len());
        assert!(bm == bp, "mmap and pwrite files differ");
    }

    #[test]
    fn mmap_new_rejects_unmappable() {
        // A character device.
        if let Ok(full) = OpenOptions::new().read(true).write(true).open("/dev/full") {
            assert!(MmapBackend::new(full).is_err());
        }
        // A pipe.
        let (_reader, writer) = std::io::pipe().unwrap();
        assert!(MmapBackend::new(File::from(std::os::fd::OwnedFd::from(writer))).is_err());
        // A regular file opened write-only: MAP_SHARED + PROT_WRITE needs read access. The
        // file is truncated back to its original (empty) length.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wo.rrd");
        let wo = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        assert!(MmapBackend::new(wo).is_err());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn mmap_new_grows_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.rrd");
        let backend = MmapBackend::new(open_rw(&path)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), GROW_STEP);
        drop(backend);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn mmap_drop_without_finish_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.rrd");
        let mut backend = MmapBackend::with_step(open_rw(&path), 64 << 10).unwrap();
        let expected = write_all(&mut backend, &messages(100_000));
        assert!(std::fs::metadata(&path).unwrap().len() > expected.len() as u64);
        drop(backend);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }
}
