//! One file being written: its backend, its framing, and which of its messages are known to
//! be in it.
//!
//! Every message framed into the file is *pending* until the backend says every byte up to
//! its end was written ([`Backend::written_len`]); then it is *confirmed*, and the file can be
//! cut after it. Messages the sink accepted carry their [`Cost`]; the StreamHeader and the
//! replayed messages cost nothing (the replayed ones were counted where first written). When a
//! write fails — whenever the backend says so — [`Segment::fail`] waits for what is in flight,
//! cuts the file after its last confirmed message, and returns an error carrying the cost of
//! every accepted message that is not in the file. The footer is written only after every
//! message was confirmed, so it never indexes a message that is not there.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;

use super::backend::Backend;
use crate::sink::SinkError;
use crate::wire::{EncodedMessage, MessageKind, RrdEncoder};

/// What losing some accepted messages costs: what the engine moves from delivered to dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cost {
    pub(super) messages: u64,
    pub(super) bytes: u64,
    /// Rows of the chunks among them.
    pub(super) rows: u64,
}

impl Cost {
    /// One accepted message.
    pub(super) fn of(msg: &EncodedMessage) -> Self {
        Self {
            messages: 1,
            bytes: msg.len() as u64,
            rows: msg.summary().map_or(0, |s| s.num_rows),
        }
    }

    fn add(self, other: Self) -> Self {
        Self {
            messages: self.messages + other.messages,
            bytes: self.bytes + other.bytes,
            rows: self.rows + other.rows,
        }
    }

    /// The error `e`, with what it cost.
    pub(super) fn into_error(self, e: io::Error) -> SinkError {
        if self.messages == 0 {
            SinkError::Io(e)
        } else {
            SinkError::IoLost {
                source: e,
                lost_messages: self.messages,
                lost_bytes: self.bytes,
                lost_rows: self.rows,
            }
        }
    }
}

/// A message framed into the file, not yet known to be written.
#[derive(Debug)]
struct Pending {
    /// Its end in the file.
    end: u64,
    cost: Cost,
}

/// One file being written (see the [module docs](self)).
pub(super) struct Segment {
    pub(super) path: PathBuf,
    pub(super) backend: Box<dyn Backend>,
    rrd: RrdEncoder,
    /// The end of the StreamHeader.
    header_end: u64,
    /// Where the file's own data starts: after the StreamHeader and the replayed messages.
    own_start: u64,
    /// Chunks of logged data written as the file's own data ([`is_data`]).
    own_chunks: u64,
    /// Messages framed and not yet confirmed, in file order.
    pending: VecDeque<Pending>,
    /// The end of the last message confirmed written: a message boundary.
    confirmed_end: u64,
    pub(super) bytes_since_sync: u64,
    pub(super) last_sync: Instant,
    pub(super) opened_at: Instant,
}

/// Whether `msg` is a chunk of logged data, as opposed to what identifies the recording: its
/// `SetStoreInfo`, and its properties (chunks at Rerun-reserved paths, `/__properties…`),
/// which a recording sends before any row. A file holding only those has no data of its own.
fn is_data(msg: &EncodedMessage) -> bool {
    msg.kind() == MessageKind::ArrowMsg && !msg.summary().is_some_and(|s| s.entity.is_reserved())
}

impl Segment {
    /// Writes the StreamHeader through `backend`.
    pub(super) fn start(
        path: PathBuf,
        mut backend: Box<dyn Backend>,
        mut rrd: RrdEncoder,
    ) -> io::Result<Self> {
        let header = rrd.header();
        backend.write(0, &[header])?;
        let header_end = rrd.offset();
        let now = Instant::now();
        let mut seg = Self {
            path,
            backend,
            rrd,
            header_end,
            own_start: header_end,
            own_chunks: 0,
            pending: VecDeque::from([Pending {
                end: header_end,
                cost: Cost::default(),
            }]),
            confirmed_end: 0,
            bytes_since_sync: 0,
            last_sync: now,
            opened_at: now,
        };
        seg.confirm();
        Ok(seg)
    }

    /// Frames and writes `msg`; `cost` is what losing it would cost (zero for a replay). On
    /// an error the message is not pending: the caller decides what it cost.
    pub(super) fn write(&mut self, msg: &EncodedMessage, cost: Cost) -> io::Result<()> {
        let offset = self.rrd.offset();
        let parts: Vec<Bytes> = self.rrd.frame(msg);
        self.backend.write(offset, &parts)?;
        let end = self.rrd.offset();
        self.bytes_since_sync += end - offset;
        if cost.messages > 0 && is_data(msg) {
            self.own_chunks += 1;
        }
        self.pending.push_back(Pending { end, cost });
        self.confirm();
        Ok(())
    }

    /// Marks the replayed messages written so far as not the file's own data.
    pub(super) fn end_of_replay(&mut self) {
        self.own_start = self.rrd.offset();
    }

    /// The file's own data so far (what `rotate_bytes` bounds), and its chunks.
    pub(super) fn own(&self) -> (u64, u64) {
        (self.rrd.offset() - self.own_start, self.own_chunks)
    }

    /// Confirms the pending messages the backend has written completely.
    fn confirm(&mut self) {
        let written = self.backend.written_len();
        while let Some(p) = self.pending.front()
            && p.end <= written
        {
            self.confirmed_end = p.end;
            self.pending.pop_front();
        }
    }

    /// Waits for every write; a failure ends the file ([`fail`](Self::fail)) and is returned
    /// with its cost.
    pub(super) fn settle(&mut self) -> Result<(), (io::Error, Cost)> {
        match self.backend.wait_all() {
            Ok(()) => {
                self.confirm();
                Ok(())
            }
            Err(e) => Err((e, self.end_after_failure())),
        }
    }

    /// A write failed with `e`: the file ends after its last confirmed message. Returns the
    /// error with the cost of every accepted message the file lacks.
    pub(super) fn fail(mut self, e: io::Error) -> SinkError {
        self.end_after_failure().into_error(e)
    }

    /// Waits for the writes in flight, cuts the file after its last confirmed message (and
    /// removes it if that leaves no message), and returns the cost of the rest.
    fn end_after_failure(&mut self) -> Cost {
        // Their own errors add nothing: the first one is what we report.
        let _ = self.backend.wait_all();
        self.confirm();
        let lost = self
            .pending
            .drain(..)
            .fold(Cost::default(), |sum, p| sum.add(p.cost));
        // Best effort: if the cut fails, a reader still finds every confirmed message and
        // then a message cut short.
        let _ = self.backend.cut(self.confirmed_end);
        if self.confirmed_end <= self.header_end {
            // Not even one message: no reader would open it.
            super::remove_regular_file(&self.path);
        }
        lost
    }

    /// Finishes the file: once every message is confirmed, the End message with the footer
    /// and the StreamFooter, then the backend's `finish` (true length, sync if `sync`).
    pub(super) fn finish(mut self, sync: bool) -> Result<(), SinkError> {
        if let Err((e, lost)) = self.settle() {
            return Err(lost.into_error(e));
        }
        let end = self.rrd.offset();
        let footer = match self.rrd.finish() {
            Ok(parts) => parts,
            Err(e) => return Err(self.fail(io::Error::other(e))),
        };
        // Every message is confirmed: a failure now costs only the footer, which the cut
        // removes again.
        if let Err(e) = self
            .backend
            .write(end, &footer)
            .and_then(|()| self.backend.wait_all())
        {
            return Err(self.fail(e));
        }
        self.backend
            .finish(self.rrd.offset(), sync)
            .map_err(SinkError::Io)
    }
}
