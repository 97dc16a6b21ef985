//! The io_uring backend: vectored writes (`IORING_OP_WRITEV`) straight from the parts'
//! memory, several in flight, reaped as they complete.
//!
//! # Ownership
//!
//! Every write in flight is an [`Op`] in a slot of [`UringBackend::ops`] (a small slab); the
//! slot's index is the SQE's `user_data`. The `Op` owns clones of the `Bytes` parts it writes
//! (the memory the kernel reads) and the heap-allocated iovec array its SQE points at, and
//! the slot is emptied only after that SQE's completion has been reaped. The backend owns the
//! `File` the SQEs name, and [`Drop`] reaps every op before any field is freed. The one
//! unsafe call, [`push`], is where these promises are handed to the kernel.
//!
//! # Limits
//!
//! At most [`MAX_OPS`] ops and [`MAX_BYTES`] unwritten bytes are in flight (one op larger
//! than the byte budget still goes, alone). A `write` over either limit first waits for
//! completions, so the worker never runs further ahead of the disk than that.
//!
//! # Completions
//!
//! A short write is resubmitted for its remainder (offset and iovecs advanced, a partly
//! written part trimmed at its front); zero bytes written is [`io::ErrorKind::WriteZero`]; a
//! negative result is `io::Error::from_raw_os_error(-res)` (`EINTR` is retried). The first
//! error is kept: it is returned by the next call and by every call after it, and nothing
//! more is submitted — a file with a hole in it cannot be finished correctly.
//!
//! # What is written
//!
//! [`written_len`](Backend::written_len) is the lowest offset any write still lacks: the
//! unwritten rest of every op in flight, and where every failed op stopped. Below it every
//! byte was written by a completed write, so the sink can tell which messages are in the file
//! (ops complete out of order) and where to cut it after a failure.
#![expect(
    unsafe_code,
    reason = "submitting an io_uring SQE: the kernel reads the iovecs, the parts and the file \
              it names until the completion arrives"
)]

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;

use bytes::Bytes;
use io_uring::{IoUring, opcode, squeue, types};
use rustix::io::Errno;

use super::{Backend, IOV_MAX, IoBackend};

/// Most ops in flight at once. Each holds at most one SQE and then one CQE, so the queues
/// below never overflow.
const MAX_OPS: usize = 32;

/// Most unwritten bytes in flight at once (an op larger than this is submitted alone).
const MAX_BYTES: usize = 64 << 20;

/// Submission queue size (the kernel makes the completion queue twice as large); at least
/// [`MAX_OPS`], so every op can be (re)submitted without the queue filling up.
const RING_ENTRIES: u32 = 64;
const _: () = assert!(RING_ENTRIES as usize >= MAX_OPS);

/// One `struct iovec { void *iov_base; size_t iov_len; }`. The address is kept as an
/// integer (its provenance exposed) so that the backend stays `Send`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IoVec {
    base: usize,
    len: usize,
}

// `IoSlice` is ABI-compatible with `iovec` on Unix (its documented guarantee); so is `IoVec`.
const _: () = assert!(
    size_of::<IoVec>() == size_of::<IoSlice<'_>>()
        && align_of::<IoVec>() == align_of::<IoSlice<'_>>()
);

impl IoVec {
    fn of(part: &[u8]) -> Self {
        Self {
            base: part.as_ptr().expose_provenance(),
            len: part.len(),
        }
    }
}

/// Advances `iov[next..]` past `n` written bytes: entries written completely are skipped, a
/// partly written one is trimmed at its front. Returns the new first unwritten entry.
/// `n` must not exceed the bytes left in `iov[next..]`.
fn advance(iov: &mut [IoVec], mut next: usize, mut n: usize) -> usize {
    while n > 0 {
        let v = &mut iov[next];
        if n >= v.len {
            n -= v.len;
            next += 1;
        } else {
            v.base += n;
            v.len -= n;
            n = 0;
        }
    }
    // Skip empty entries, so a resubmission never starts with one.
    while next < iov.len() && iov[next].len == 0 {
        next += 1;
    }
    next
}

/// A write in flight: the contents of one slot of [`UringBackend::ops`].
struct Op {
    /// Clones of the parts `iov` points into: they keep that memory alive and unchanged.
    _parts: Vec<Bytes>,
    /// One entry per part, on the heap: the array does not move when the `Op` does, and it
    /// is never resized.
    iov: Box<[IoVec]>,
    /// The first entry not completely written; it may have been trimmed by [`advance`].
    next: usize,
    /// Where in the file `iov[next]` goes.
    offset: u64,
    /// Bytes not written yet.
    remaining: usize,
}

/// What a completion means for its op.
#[derive(Debug)]
enum WriteProgress {
    /// Everything is written.
    Done,
    /// Submit `iov[next..]` at `offset` again (short write, or `EINTR`).
    Again,
    /// The write failed; the op is over.
    Failed(io::Error),
}

impl Op {
    /// An op writing `parts` (non-empty, at most [`IOV_MAX`] of them), concatenated, at
    /// `offset`.
    fn new(offset: u64, parts: Vec<Bytes>) -> Self {
        let iov: Box<[IoVec]> = parts.iter().map(|p| IoVec::of(p)).collect();
        let remaining = parts.iter().map(Bytes::len).sum();
        Self {
            _parts: parts,
            iov,
            next: 0,
            offset,
            remaining,
        }
    }

    /// Takes the result of this op's last submission.
    fn on_result(&mut self, res: i32) -> WriteProgress {
        if res < 0 {
            let errno = res.wrapping_neg();
            return if errno == Errno::INTR.raw_os_error() {
                WriteProgress::Again
            } else {
                WriteProgress::Failed(io::Error::from_raw_os_error(errno))
            };
        }
        let n = res.unsigned_abs() as usize;
        if n == 0 {
            return WriteProgress::Failed(io::Error::new(
                io::ErrorKind::WriteZero,
                "io_uring writev wrote nothing",
            ));
        }
        if n > self.remaining {
            return WriteProgress::Failed(io::Error::other(format!(
                "io_uring writev reported {n} bytes written of {} asked",
                self.remaining
            )));
        }
        self.next = advance(&mut self.iov, self.next, n);
        self.offset += n as u64;
        self.remaining -= n;
        if self.remaining == 0 {
            WriteProgress::Done
        } else {
            WriteProgress::Again
        }
    }
}

/// Pushes `entry` onto `ring`'s submission queue (the caller submits it).
///
/// # Safety
///
/// Everything `entry` names — the iovec array, the memory every iovec describes, and the
/// file descriptor — must stay valid, and the memory unmodified and not freed, until the
/// completion carrying `entry`'s `user_data` has been reaped.
unsafe fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    // SAFETY: the caller guarantees what `SubmissionQueue::push` requires (the entry's
    // buffers are valid for the whole operation), per this function's `# Safety` section.
    unsafe { ring.submission().push(entry) }.map_err(|_| {
        io::Error::new(
            io::ErrorKind::ResourceBusy,
            "io_uring submission queue full",
        )
    })
}

/// Writes through io_uring (see the [module docs](self)).
pub(crate) struct UringBackend {
    ring: IoUring,
    /// The slab: slot `i` holds the op whose SQE carries `user_data == i`, from its first
    /// submission until its last completion has been reaped; `None` is free. Always
    /// [`MAX_OPS`] slots.
    ops: Vec<Option<Op>>,
    /// Occupied slots.
    in_flight: usize,
    /// Bytes the occupied slots have yet to write.
    in_flight_bytes: usize,
    /// The first error of a write; once set, every call returns it and nothing is submitted.
    error: Option<io::Error>,
    /// The lowest offset a failed op did not write.
    failed_at: Option<u64>,
    /// The end of the furthest op submitted.
    submitted_end: u64,
    /// Scratch for reaped completions, `(user_data, result)`.
    reaped: Vec<(u64, i32)>,
    /// Pretends the kernel reports only half (rounded up) of the bytes it wrote, to exercise
    /// short writes (the rest is written again, with the same bytes).
    #[cfg(test)]
    fake_short: bool,
    /// Resubmissions after short writes.
    #[cfg(test)]
    resubmits: usize,
    /// The file every SQE names. Closed only after `Drop::drop` has reaped every op.
    file: File,
}

impl UringBackend {
    /// Whether io_uring works here: creates (and drops) a small ring.
    pub(crate) fn probe() -> io::Result<()> {
        IoUring::new(2).map(drop)
    }

    /// Writes `file` through a new ring.
    pub(crate) fn new(file: File) -> io::Result<Self> {
        Ok(Self {
            ring: IoUring::new(RING_ENTRIES)?,
            ops: (0..MAX_OPS).map(|_| None).collect(),
            in_flight: 0,
            in_flight_bytes: 0,
            error: None,
            failed_at: None,
            submitted_end: 0,
            reaped: Vec::with_capacity(2 * RING_ENTRIES as usize),
            #[cfg(test)]
            fake_short: false,
            #[cfg(test)]
            resubmits: 0,
            file,
        })
    }

    /// The stored error, if any (a copy: it stays stored).
    fn check(&self) -> io::Result<()> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }),
        }
    }

    fn fail(&mut self, e: io::Error) {
        self.error.get_or_insert(e);
    }

    /// The op in `slot` is over without having written from `op.offset` on: frees the slot
    /// and keeps the error.
    fn fail_op(&mut self, slot: usize, e: io::Error) {
        if let Some(op) = &self.ops[slot] {
            let at = op.offset;
            self.failed_at = Some(self.failed_at.map_or(at, |f| f.min(at)));
        }
        self.release(slot);
        self.fail(e);
    }

    /// Puts `op` in a free slot and submits it, first waiting for completions while the
    /// in-flight limits leave no room.
    fn start(&mut self, op: Op) -> io::Result<()> {
        while self.in_flight == MAX_OPS
            || (self.in_flight > 0 && self.in_flight_bytes + op.remaining > MAX_BYTES)
        {
            self.reap(true)?;
        }
        self.check()?;
        let slot =
            self.ops.iter().position(Option::is_none).ok_or_else(|| {
                io::Error::other("io_uring backend: no free slot below the op limit")
            })?;
        let end = op.offset + op.remaining as u64;
        self.in_flight += 1;
        self.in_flight_bytes += op.remaining;
        self.ops[slot] = Some(op);
        if let Err(e) = self.push_op(slot) {
            // Never reached the kernel: the slot can be freed right away. Later writes would
            // leave a hole: the error sticks like a failed write's.
            self.fail_op(slot, e);
            return self.check();
        }
        self.submitted_end = self.submitted_end.max(end);
        self.enter(0)
    }

    /// Queues an SQE for the unwritten rest of the op in `slot`.
    fn push_op(&mut self, slot: usize) -> io::Result<()> {
        let Some(op) = self.ops[slot].as_ref() else {
            return Err(io::Error::other(
                "io_uring backend: submitting an empty slot",
            ));
        };
        let iov = &op.iov[op.next..];
        let entry = opcode::Writev::new(
            types::Fd(self.file.as_raw_fd()),
            iov.as_ptr().cast(),
            // At most IOV_MAX (`Op::new`).
            iov.len() as u32,
        )
        .offset(op.offset)
        .build()
        .user_data(slot as u64);
        // SAFETY: the SQE names `op.iov[op.next..]` (a boxed slice, never resized, whose heap
        // address does not change when the `Op` moves), the memory of `op._parts` (owned
        // clones of immutable `Bytes`, so it is neither freed nor changed while the `Op`
        // lives; each iovec was built from those clones in `Op::new` and only ever trimmed
        // within them by `advance`), and `self.file`'s descriptor. The op stays in
        // `self.ops[slot]` until the completion with `user_data == slot` is reaped: `reap` is
        // the only place that empties an in-flight slot, and only on that completion;
        // `start` empties it only when this push failed. `Drop` reaps every op (or leaks the
        // slab) before `self.ops` and `self.file` are dropped.
        unsafe { push(&mut self.ring, &entry) }
    }

    /// Empties `slot`, whose op is over.
    fn release(&mut self, slot: usize) {
        if let Some(op) = self.ops[slot].take() {
            self.in_flight -= 1;
            self.in_flight_bytes -= op.remaining;
        }
    }

    /// Submits queued SQEs and waits for `want` completions. Interrupted waits are retried;
    /// when the kernel asks for completions to be reaped first, or is short of memory,
    /// returns early so that the caller reaps and comes back.
    fn enter(&mut self, want: usize) -> io::Result<()> {
        loop {
            match self.ring.submit_and_wait(want) {
                Ok(_) => return Ok(()),
                Err(e) => match Errno::from_io_error(&e) {
                    Some(Errno::INTR) => {}
                    Some(Errno::BUSY | Errno::AGAIN) => {
                        std::thread::yield_now();
                        return Ok(());
                    }
                    _ => return Err(e),
                },
            }
        }
    }

    /// Reaps the completions that have arrived (after waiting for at least one if `wait`):
    /// finished and failed ops leave the slab, short writes are resubmitted. Write errors
    /// are stored (see [`Self::check`]); only a failure to enter the kernel is returned.
    fn reap(&mut self, wait: bool) -> io::Result<()> {
        if wait {
            self.enter(1)?;
        } else if !self.ring.submission().is_empty() {
            // SQEs left over by an `enter` the kernel turned away (`BUSY`/`AGAIN`).
            self.enter(0)?;
        }
        self.reaped.clear();
        self.reaped.extend(
            self.ring
                .completion()
                .map(|cqe| (cqe.user_data(), cqe.result())),
        );
        let mut resubmitted = false;
        for i in 0..self.reaped.len() {
            let (user_data, res) = self.reaped[i];
            #[cfg(test)]
            let res = if self.fake_short && res > 0 {
                res - res / 2
            } else {
                res
            };
            let slot = usize::try_from(user_data).unwrap_or(usize::MAX);
            let Some(op) = self.ops.get_mut(slot).and_then(Option::as_mut) else {
                debug_assert!(
                    false,
                    "io_uring completion for unknown user_data {user_data}"
                );
                continue;
            };
            let before = op.remaining;
            let outcome = op.on_result(res);
            self.in_flight_bytes -= before - op.remaining;
            match outcome {
                WriteProgress::Done => self.release(slot),
                WriteProgress::Failed(e) => self.fail_op(slot, e),
                WriteProgress::Again => match self.push_op(slot) {
                    Ok(()) => {
                        resubmitted = true;
                        #[cfg(test)]
                        {
                            self.resubmits += 1;
                        }
                    }
                    // Not in the kernel any more: the slot can be freed.
                    Err(e) => self.fail_op(slot, e),
                },
            }
        }
        if resubmitted { self.enter(0) } else { Ok(()) }
    }
}

impl Backend for UringBackend {
    fn write(&mut self, offset: u64, parts: &[Bytes]) -> io::Result<()> {
        // Free what has completed already (no waiting), and surface its errors.
        self.reap(false)?;
        self.check()?;
        let mut offset = offset;
        let mut rest = parts.iter().filter(|p| !p.is_empty()).peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Bytes> = rest.by_ref().take(IOV_MAX).cloned().collect();
            let op = Op::new(offset, chunk);
            offset += op.remaining as u64;
            self.start(op)?;
        }
        Ok(())
    }

    fn wait_all(&mut self) -> io::Result<()> {
        while self.in_flight > 0 {
            self.reap(true)?;
        }
        self.check()
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.wait_all()?;
        self.file.sync_data()
    }

    fn finish(&mut self, len: u64, sync: bool) -> io::Result<()> {
        self.wait_all()?;
        super::set_len_and_sync(&self.file, len, sync)
    }

    fn written_len(&self) -> u64 {
        // An op's `offset` is where its unwritten rest starts.
        self.ops
            .iter()
            .flatten()
            .map(|op| op.offset)
            .chain(self.failed_at)
            .fold(self.submitted_end, u64::min)
    }

    fn cut(&mut self, len: u64) -> io::Result<()> {
        while self.in_flight > 0 {
            self.reap(true)?;
        }
        self.file.set_len(len)
    }

    fn kind(&self) -> IoBackend {
        IoBackend::Uring
    }
}

impl Drop for UringBackend {
    /// Waits for every op in flight (finishing short writes) before anything is freed.
    fn drop(&mut self) {
        while self.in_flight > 0 {
            if self.reap(true).is_err() {
                // The kernel cannot be waited on: leak the ops' buffers and iovecs rather
                // than free memory it may still read. (Ops it has taken hold their own
                // reference to the file; SQEs it has not taken die with the ring.)
                std::mem::forget(std::mem::take(&mut self.ops));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::super::pwrite::PwriteBackend;
    use super::*;

    /// xorshift64*: deterministic sizes and contents.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            let mut v = Vec::with_capacity(len + 8);
            while v.len() < len {
                v.extend_from_slice(&self.next().to_le_bytes());
            }
            v.truncate(len);
            v
        }

        /// `base` to `base + spread - 1` random bytes.
        fn part(&mut self, base: usize, spread: usize) -> Bytes {
            let len = base + self.below(spread);
            Bytes::from(self.bytes(len))
        }
    }

    /// Messages whose parts have odd sizes: empty parts, parts sharing one buffer, one
    /// message of 1500 parts (two SQEs), one of 3000 mostly empty parts, more messages than
    /// `MAX_OPS`, and four of 21 MB (more than the byte budget together).
    fn messages() -> Vec<Vec<Bytes>> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let shared = Bytes::from(rng.bytes(1 << 20));
        let mut msgs = Vec::new();
        for i in 0..400 {
            let n = match i {
                7 => 1500,
                8 => 3000,
                _ => 1 + rng.below(12),
            };
            let mut parts = Vec::with_capacity(n + 3);
            for _ in 0..n {
                let part = match rng.below(if i == 8 { 2 } else { 5 }) {
                    0 => Bytes::new(),
                    1 => rng.part(0, 17),
                    2 => {
                        let start = rng.below(1 << 19);
                        shared.slice(start..start + rng.below(1 << 16))
                    }
                    _ => rng.part(0, 5000),
                };
                parts.push(part);
            }
            if i % 100 == 3 {
                for _ in 0..3 {
                    let big = rng.part(7_000_003, 4096);
                    parts.insert(rng.below(parts.len() + 1), big);
                }
            }
            msgs.push(parts);
        }
        msgs
    }

    fn concat(msgs: &[Vec<Bytes>]) -> Vec<u8> {
        msgs.iter()
            .flatten()
            .flat_map(|p| p.iter().copied())
            .collect()
    }

    /// Writes `msgs` at contiguous offsets and finishes; returns the file's bytes.
    fn write_messages(
        backend: &mut dyn Backend,
        path: &std::path::Path,
        msgs: &[Vec<Bytes>],
    ) -> Vec<u8> {
        let mut offset = 0;
        for m in msgs {
            backend.write(offset, m).unwrap();
            offset += m.iter().map(|p| p.len() as u64).sum::<u64>();
        }
        backend.finish(offset, true).unwrap();
        std::fs::read(path).unwrap()
    }

    fn temp_file() -> (tempfile::NamedTempFile, File) {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let file = tmp.reopen().unwrap();
        (tmp, file)
    }

    #[test]
    fn writes_exactly_the_concatenation() {
        let msgs = messages();
        let expected = concat(&msgs);
        assert!(msgs.iter().any(|m| m.len() > IOV_MAX));
        assert!(expected.len() > MAX_BYTES, "exercise the byte budget");
        let (tmp, file) = temp_file();
        let mut backend = UringBackend::new(file).unwrap();
        let got = write_messages(&mut backend, tmp.path(), &msgs);
        assert_eq!(backend.in_flight, 0);
        assert_eq!(backend.written_len(), expected.len() as u64);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "file differs from the concatenated parts");
    }

    #[test]
    fn same_file_as_pwrite() {
        let msgs = messages();
        let (uring_tmp, file) = temp_file();
        let by_uring = write_messages(
            &mut UringBackend::new(file).unwrap(),
            uring_tmp.path(),
            &msgs,
        );
        let (pwrite_tmp, file) = temp_file();
        let by_pwrite = write_messages(&mut PwriteBackend::new(file), pwrite_tmp.path(), &msgs);
        assert_eq!(by_uring.len(), by_pwrite.len());
        assert!(by_uring == by_pwrite, "uring and pwrite files differ");
    }

    #[test]
    fn finish_sets_the_length() {
        let (tmp, file) = temp_file();
        let mut backend = UringBackend::new(file).unwrap();
        backend
            .write(0, &[Bytes::from_static(b"0123456789")])
            .unwrap();
        backend.finish(4, false).unwrap();
        assert_eq!(std::fs::read(tmp.path()).unwrap(), b"0123");
        assert_eq!(backend.kind(), IoBackend::Uring);
    }

    #[test]
    fn io_error_is_returned_and_sticks() {
        let file = OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut backend = UringBackend::new(file).unwrap();
        let parts = [Bytes::from(vec![7u8; 4096]), Bytes::from_static(b"tail")];
        let err = backend
            .write(0, &parts)
            .and_then(|()| backend.wait_all())
            .expect_err("writing to /dev/full must fail");
        assert_eq!(
            err.raw_os_error(),
            Some(Errno::NOSPC.raw_os_error()),
            "{err}"
        );
        // Later calls keep failing, and nothing more is submitted.
        let again = backend.write(4100, &parts).expect_err("the error sticks");
        assert_eq!(again.raw_os_error(), Some(Errno::NOSPC.raw_os_error()));
        assert_eq!(backend.in_flight, 0);
        assert!(backend.wait_all().is_err());
        // Nothing was written.
        assert_eq!(backend.written_len(), 0);
        assert!(backend.finish(8200, true).is_err());
    }

    /// Every byte below `written_len` is in the file, while writes are in flight too; once
    /// they completed, it is the end of the last write.
    #[test]
    fn written_len_is_a_written_prefix() {
        let (tmp, file) = temp_file();
        let mut backend = UringBackend::new(file).unwrap();
        let part = Bytes::from(vec![3u8; 1 << 20]);
        let mut offset = 0;
        for _ in 0..8 {
            backend.write(offset, std::slice::from_ref(&part)).unwrap();
            offset += part.len() as u64;
            let written = backend.written_len();
            assert!(written <= offset);
            let got = std::fs::read(tmp.path()).unwrap();
            assert!(got.len() as u64 >= written);
            assert!(got[..written as usize].iter().all(|&b| b == 3));
        }
        backend.wait_all().unwrap();
        assert_eq!(backend.written_len(), offset);
        backend.cut(offset / 2).unwrap();
        assert_eq!(std::fs::metadata(tmp.path()).unwrap().len(), offset / 2);
    }

    /// A part whose drop is counted.
    struct Counted(Vec<u8>, Arc<AtomicUsize>);

    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn drop_with_writes_in_flight_keeps_buffers_until_completion() {
        const PART: usize = 8 << 20;
        const PARTS: usize = 17; // 17 writes of 12 MiB
        let dropped = Arc::new(AtomicUsize::new(0));
        let (tmp, file) = temp_file();
        let mut backend = UringBackend::new(file).unwrap();
        let mut offset = 0;
        for i in 0..PARTS {
            // The backend holds the only other reference: this one goes at the end of the
            // iteration, while the write may still be in flight.
            let part = Bytes::from_owner(Counted(vec![i as u8; PART], dropped.clone()));
            backend
                .write(offset, &[part.clone(), part.slice(..PART / 2)])
                .unwrap();
            offset += (PART + PART / 2) as u64;
            assert!(backend.in_flight_bytes <= MAX_BYTES, "over the byte budget");
        }
        assert!(backend.in_flight > 0, "nothing in flight to drop");
        drop(backend);
        // Drop waited for every write: all bytes are in the file, every buffer freed.
        assert_eq!(dropped.load(Ordering::SeqCst), PARTS);
        let got = std::fs::read(tmp.path()).unwrap();
        assert_eq!(got.len() as u64, offset);
        for (i, chunk) in got.chunks(PART + PART / 2).enumerate() {
            assert!(chunk.iter().all(|&b| b == i as u8), "message {i} corrupted");
        }
    }

    #[test]
    fn advance_skips_and_trims() {
        let mut iov = [
            IoVec { base: 100, len: 10 },
            IoVec { base: 200, len: 5 },
            IoVec { base: 300, len: 0 },
            IoVec { base: 400, len: 7 },
        ];
        assert_eq!(advance(&mut iov, 0, 0), 0);
        assert_eq!(advance(&mut iov, 0, 3), 0);
        assert_eq!(iov[0], IoVec { base: 103, len: 7 });
        // Ends exactly at an entry's end; the empty entry after it is skipped too.
        assert_eq!(advance(&mut iov, 0, 12), 3);
        assert_eq!(iov[3], IoVec { base: 400, len: 7 });
        assert_eq!(advance(&mut iov, 3, 6), 3);
        assert_eq!(iov[3], IoVec { base: 406, len: 1 });
        assert_eq!(advance(&mut iov, 3, 1), 4);
    }

    /// Feeds an op every possible sequence of one-byte-then-`step` short writes and checks
    /// that what is left to submit is exactly the unwritten tail of the concatenation.
    #[test]
    fn short_writes_leave_exactly_the_tail() {
        let parts: Vec<Bytes> = [3usize, 1, 8, 2, 5]
            .iter()
            .enumerate()
            .map(|(i, &n)| Bytes::from(vec![i as u8; n]))
            .collect();
        let total: usize = parts.iter().map(Bytes::len).sum();
        // The address of every byte, in order.
        let addrs: Vec<usize> = parts
            .iter()
            .flat_map(|p| (0..p.len()).map(|k| p.as_ptr().expose_provenance() + k))
            .collect();
        for step in 1..=total {
            let mut op = Op::new(1000, parts.clone());
            let mut written = 0;
            loop {
                let n = step.min(total - written);
                let outcome = op.on_result(n as i32);
                written += n;
                assert_eq!(op.offset, 1000 + written as u64);
                assert_eq!(op.remaining, total - written);
                let tail: Vec<usize> = op.iov[op.next..]
                    .iter()
                    .flat_map(|v| (0..v.len).map(|k| v.base + k))
                    .collect();
                assert_eq!(tail, addrs[written..], "step {step}, after {written} bytes");
                match outcome {
                    WriteProgress::Again => assert!(written < total),
                    WriteProgress::Done => break,
                    WriteProgress::Failed(e) => panic!("{e}"),
                }
            }
        }
        let mut op = Op::new(0, parts.clone());
        assert!(
            matches!(op.on_result(0), WriteProgress::Failed(e) if e.kind() == io::ErrorKind::WriteZero)
        );
        let mut op = Op::new(0, parts.clone());
        let eintr = -Errno::INTR.raw_os_error();
        assert!(matches!(op.on_result(eintr), WriteProgress::Again));
        assert_eq!(op.remaining, total);
        let mut op = Op::new(0, parts);
        let eio = -Errno::IO.raw_os_error();
        assert!(
            matches!(op.on_result(eio), WriteProgress::Failed(e) if e.raw_os_error() == Some(-eio))
        );
    }

    /// End to end through the ring: every completion is taken as a short write of half the
    /// bytes, so every op is resubmitted several times, mostly from the middle of a part.
    #[test]
    fn short_writes_are_resubmitted_through_the_ring() {
        let msgs: Vec<Vec<Bytes>> = messages().into_iter().take(50).collect();
        let expected = concat(&msgs);
        let (tmp, file) = temp_file();
        let mut backend = UringBackend::new(file).unwrap();
        backend.fake_short = true;
        let got = write_messages(&mut backend, tmp.path(), &msgs);
        assert!(
            backend.resubmits > 4 * msgs.len(),
            "only {} resubmits",
            backend.resubmits
        );
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "file differs after short writes");
    }

    /// A real short write: the kernel caps one writev at `MAX_RW_COUNT` (2 GiB - 4 KiB), so
    /// 2 GiB + 64 MiB of parts (one 64 MiB buffer, repeated) come back short. Writes 2 GiB.
    #[test]
    #[ignore = "writes 2 GiB"]
    fn kernel_short_write_is_resubmitted() {
        let part = Bytes::from(
            (0..64 << 20)
                .map(|i: usize| (i % 251) as u8)
                .collect::<Vec<u8>>(),
        );
        let parts = vec![part.clone(); 33];
        let (tmp, file) = temp_file();
        let mut backend = UringBackend::new(file).unwrap();
        backend.write(0, &parts).unwrap();
        let len = 33 * part.len() as u64;
        backend.finish(len, false).unwrap();
        assert!(backend.resubmits >= 1, "no short write seen");
        let got = std::fs::read(tmp.path()).unwrap();
        assert_eq!(got.len() as u64, len);
        for (k, chunk) in got.chunks(part.len()).enumerate() {
            assert!(chunk == &part[..], "copy {k} differs");
        }
    }
}
