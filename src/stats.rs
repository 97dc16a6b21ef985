//! Counters and latency histograms, readable at any time through `Recording::stats()`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::lane::LaneStats;

/// Sub-buckets per power of two: values are kept to within 1/16 (6.25 %).
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// A lock-free log-linear latency histogram (nanoseconds, 1 ns to ~584 years).
///
/// Recording is one relaxed `fetch_add` plus a `fetch_max`; percentiles are exact to within
/// 6.25 % and the maximum is exact.
///
/// ```
/// use spate::stats::LatencyHistogram;
/// use std::time::Duration;
/// let h = LatencyHistogram::new();
/// for us in 1..=100 {
///     h.record(Duration::from_micros(us));
/// }
/// let s = h.summary();
/// assert_eq!(s.count, 100);
/// assert_eq!(s.max, Duration::from_micros(100));
/// let p50 = s.p50.as_secs_f64() * 1e6;
/// assert!((47.0..=53.5).contains(&p50), "{p50}");
/// ```
pub struct LatencyHistogram {
    counts: Box<[AtomicU64]>,
    max_ns: AtomicU64,
    sum_ns: AtomicU64,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.summary().fmt(f)
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Percentiles of a [`LatencyHistogram`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Samples recorded.
    pub count: u64,
    /// Median (upper bound of its bucket).
    pub p50: Duration,
    /// 99th percentile (upper bound of its bucket).
    pub p99: Duration,
    /// Largest sample (exact).
    pub max: Duration,
    /// Mean (exact).
    pub mean: Duration,
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros(); // >= SUB_BITS
    let shift = msb - SUB_BITS;
    let sub = ((ns >> shift) as usize) & (SUB - 1);
    ((shift as usize + 1) << SUB_BITS) + sub
}

/// Largest value that falls in bucket `b`.
fn bucket_high(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let shift = (b >> SUB_BITS) as u32 - 1;
    let sub = (b & (SUB - 1)) as u64;
    let low = (SUB as u64 + sub) << shift;
    low.saturating_add((1u64 << shift) - 1)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_ns: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Adds one sample.
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Count, p50, p99, max and mean so far.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return LatencySummary::default();
        }
        let max = self.max_ns.load(Ordering::Relaxed);
        let quantile = |q: f64| {
            let rank = ((count as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (b, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_nanos(bucket_high(b).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        LatencySummary {
            count,
            p50: quantile(0.50),
            p99: quantile(0.99),
            max: Duration::from_nanos(max),
            mean: Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed) / count),
        }
    }
}

/// Why a sink dropped messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Its queue was full and its policy is `DropNewest`.
    QueueFull,
    /// The sink failed (I/O error, panic, closed connection…) and stopped accepting messages.
    SinkFailed,
    /// Still queued when shutdown's deadline passed.
    ShutdownDeadline,
}

/// Counters of one sink. Messages are encoded chunks (plus the recording's `SetStoreInfo`);
/// rows are the rows of those chunks.
///
/// For every sink, what was dispatched to it adds up exactly: `messages + dropped()` (and
/// `rows + rows_dropped()`) equals what the engine handed it, once the sink is closed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Unique among the sinks of this process (tells apart two sinks of the same name).
    pub id: u64,
    /// Messages the sink accepted (written / sent).
    pub messages: u64,
    /// Rows of those messages.
    pub rows: u64,
    /// Bytes the sink accepted.
    pub bytes: u64,
    /// Messages dropped because the queue was full (`DropNewest`).
    pub dropped_queue_full: u64,
    /// Messages dropped because the sink failed.
    pub dropped_sink_failed: u64,
    /// Messages still queued when shutdown's deadline passed.
    pub dropped_shutdown_deadline: u64,
    /// Rows of the messages dropped because the queue was full.
    pub rows_dropped_queue_full: u64,
    /// Rows of the messages dropped because the sink failed.
    pub rows_dropped_sink_failed: u64,
    /// Rows of the messages still queued when shutdown's deadline passed.
    pub rows_dropped_shutdown_deadline: u64,
    /// Bytes currently queued for the sink.
    pub queued_bytes: u64,
    /// Most bytes ever queued.
    pub queue_high_water_bytes: u64,
    /// Latency from `log()` of a chunk's oldest row to the sink accepting the chunk.
    pub latency: LatencySummary,
    /// The sink failed (an error or a panic): it takes nothing more.
    pub failed: bool,
    /// Replaced by [`set_sinks`](crate::Recording::set_sinks): it finishes its queue and
    /// closes.
    pub retired: bool,
    /// Why the sink failed, with its causes; for a sink that has not failed, the last
    /// error it reported itself (e.g. a gRPC sink's "connection refused" while it retries).
    pub error: Option<String>,
    /// For a [`GrpcSink`](crate::sink::GrpcSink): its connection state and its own
    /// counters (sent, replayed, dropped while disconnected, reconnects). Note that
    /// `messages`/`bytes` above count what the sink *accepted* into its send buffer;
    /// `grpc.sent_bytes` counts what was handed to HTTP/2.
    pub grpc: Option<GrpcSinkStats>,
    /// For a [`FileSink`](crate::sink::FileSink): its own counters (what it keeps to replay
    /// into rotated files, and the statics that did not fit).
    pub file: Option<FileSinkStats>,
}

impl SinkStats {
    /// Messages dropped by the engine in front of the sink, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_sink_failed + self.dropped_shutdown_deadline
    }

    /// Rows of the messages dropped by the engine in front of the sink.
    pub fn rows_dropped(&self) -> u64 {
        self.rows_dropped_queue_full
            + self.rows_dropped_sink_failed
            + self.rows_dropped_shutdown_deadline
    }

    /// Messages the sink accepted (counted in `messages`) and then gave up itself, without
    /// knowing they arrived: a gRPC sink's drops (beyond its budget while disconnected, or
    /// too large for gRPC), what was left at its close deadline, and what was sent on a
    /// connection that failed before the server confirmed it and was not sent again
    /// ([`GrpcSinkStats::dropped_messages`] + [`GrpcSinkStats::abandoned_messages`] +
    /// [`GrpcSinkStats::lost_messages`]). Zero for sinks without a
    /// [`monitor`](crate::Sink::monitor).
    pub fn dropped_by_sink(&self) -> u64 {
        self.grpc.as_ref().map_or(0, |g| {
            g.dropped_messages + g.abandoned_messages + g.lost_messages
        })
    }

    /// Rows of the [`dropped_by_sink`](Self::dropped_by_sink) messages.
    pub fn rows_dropped_by_sink(&self) -> u64 {
        self.grpc
            .as_ref()
            .map_or(0, |g| g.dropped_rows + g.abandoned_rows + g.lost_rows)
    }

    /// The connection state, for sinks that have one (gRPC).
    pub fn connection(&self) -> Option<ConnectionState> {
        self.grpc.as_ref().map(|g| g.state)
    }

    /// Drop counters by reason: (reason, messages, rows), reasons with drops only.
    pub fn drops(&self) -> impl Iterator<Item = (DropReason, u64, u64)> {
        [
            (
                DropReason::QueueFull,
                self.dropped_queue_full,
                self.rows_dropped_queue_full,
            ),
            (
                DropReason::SinkFailed,
                self.dropped_sink_failed,
                self.rows_dropped_sink_failed,
            ),
            (
                DropReason::ShutdownDeadline,
                self.dropped_shutdown_deadline,
                self.rows_dropped_shutdown_deadline,
            ),
        ]
        .into_iter()
        .filter(|(_, m, _)| *m > 0)
    }
}

impl SinkStats {
    /// Adds `other`'s counters to these (name and id stay this entry's).
    pub(crate) fn absorb(&mut self, other: &SinkStats) {
        if self.grpc.is_some() {
            *self = self.without_monitor();
        }
        self.messages += other.messages;
        self.rows += other.rows;
        self.bytes += other.bytes;
        self.dropped_queue_full += other.dropped_queue_full;
        self.dropped_sink_failed += other.dropped_sink_failed;
        self.dropped_shutdown_deadline += other.dropped_shutdown_deadline;
        self.rows_dropped_queue_full += other.rows_dropped_queue_full;
        self.rows_dropped_sink_failed += other.rows_dropped_sink_failed;
        self.rows_dropped_shutdown_deadline += other.rows_dropped_shutdown_deadline;
        self.queue_high_water_bytes = self
            .queue_high_water_bytes
            .max(other.queue_high_water_bytes);
        self.failed |= other.failed;
        self.retired = true;
        if self.error.is_none() {
            self.error.clone_from(&other.error);
        }
    }

    /// The same counts with what the sink lost itself (its monitor's counters) moved from
    /// accepted to dropped (sink failed), and the monitor dropped: for folding reports.
    pub(crate) fn without_monitor(&self) -> SinkStats {
        let mut s = self.clone();
        if s.grpc.take().is_some() {
            let m = self.dropped_by_sink().min(s.messages);
            let r = self.rows_dropped_by_sink().min(s.rows);
            s.messages -= m;
            s.rows -= r;
            s.dropped_sink_failed += m;
            s.rows_dropped_sink_failed += r;
        }
        s
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::QueueFull => "queue full",
            Self::SinkFailed => "sink failed",
            Self::ShutdownDeadline => "shutdown deadline",
        })
    }
}

/// Bytes as a short human-readable figure (`12.3 MB`).
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl fmt::Display for SinkStats {
    /// One line: `sink file:run.rrd: 120 messages, 4000 rows, 12.3 MB accepted; dropped: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sink {}: {} messages, {} rows, {} accepted",
            self.name,
            self.messages,
            self.rows,
            human_bytes(self.bytes)
        )?;
        let mut drops = self.drops().peekable();
        if drops.peek().is_some() {
            f.write_str("; dropped:")?;
            for (i, (reason, m, r)) in drops.enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{m} messages / {r} rows ({reason})")?;
            }
        }
        let by_sink = self.dropped_by_sink();
        if by_sink > 0 {
            write!(f, "; lost by the sink itself: {by_sink} messages")?;
        }
        if let Some(g) = &self.grpc {
            write!(f, "; connection {}", g.state)?;
        }
        if let Some(fs) = self.file.filter(|fs| fs.statics_not_kept > 0) {
            write!(
                f,
                "; {} statics not kept for replay (over the bound)",
                fs.statics_not_kept
            )?;
        }
        if self.retired {
            f.write_str("; retired")?;
        }
        if self.failed {
            f.write_str("; FAILED")?;
        }
        if let Some(e) = &self.error {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

/// The connection state of a [`GrpcSink`](crate::sink::GrpcSink).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Dialing (first connection or a reconnect attempt).
    Connecting,
    /// The `WriteMessages` call is open.
    Connected,
    /// Not connected; waiting to reconnect.
    Disconnected {
        /// When the connection was lost (or the first attempt failed).
        since: Instant,
    },
    /// Closed (or the sink gave up at a close deadline).
    Closed,
}

impl fmt::Display for ConnectionState {
    /// `connecting`, `connected`, `disconnected for 3.2s`, `closed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Connected => f.write_str("connected"),
            Self::Disconnected { since } => {
                write!(f, "disconnected for {:.1?}", since.elapsed())
            }
            Self::Closed => f.write_str("closed"),
        }
    }
}

impl ConnectionState {
    /// Whether the state is [`ConnectionState::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Self::Disconnected { .. })
    }
}

/// Counters of a [`GrpcSink`](crate::sink::GrpcSink). Message and byte counts are of the
/// message bodies, without gRPC framing.
///
/// A message is **confirmed** when the server answered OK a `WriteMessages` call that
/// carried it, after the sink had ended that call: the server read the whole call (see the
/// module docs of [`sink::grpc`](crate::sink::grpc)). Every message the sink took is, at
/// any time, in exactly one of: confirmed, dropped, lost, abandoned, queued or
/// unconfirmed —
///
/// `written_messages = confirmed_messages + dropped_messages + lost_messages +
/// abandoned_messages + queued_messages + unconfirmed_messages`
///
/// — and after the sink closed, queued and unconfirmed are zero: every message is
/// confirmed or counted in [`SinkStats::dropped_by_sink`]. `sent_*`, `replayed_messages` and
/// `resent_messages` count transmissions (a message may be sent more than once).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrpcSinkStats {
    /// The state now.
    pub state: ConnectionState,
    /// Successful connections.
    pub connections: u64,
    /// Successful connections after the first.
    pub reconnects: u64,
    /// Failed connect attempts.
    pub connect_failures: u64,
    /// Messages taken by [`Sink::write`](crate::Sink::write) (excluding End messages, which
    /// gRPC has no use for).
    pub written_messages: u64,
    /// Of those, messages the server confirmed (each counted once, however often sent).
    pub confirmed_messages: u64,
    /// Their bytes.
    pub confirmed_bytes: u64,
    /// `WriteMessages` calls the server answered with OK after the sink ended them.
    pub confirmed_calls: u64,
    /// Messages handed to HTTP/2, replays and re-sends included.
    pub sent_messages: u64,
    /// Bytes handed to HTTP/2, replays and re-sends included.
    pub sent_bytes: u64,
    /// `SetStoreInfo` and static chunks sent again at the start of a new connection.
    pub replayed_messages: u64,
    /// Messages sent again on a new connection because the one they were sent on failed
    /// before the server confirmed them. The server may get such a message twice; Rerun's
    /// chunk store keeps one chunk per chunk id (see the module docs of
    /// [`sink::grpc`](crate::sink::grpc)).
    pub resent_messages: u64,
    /// Messages dropped before they were ever sent: beyond the budget while disconnected
    /// ([`OverflowPolicy`](crate::sink::grpc::OverflowPolicy)), or too large for gRPC
    /// (`oversized_messages`).
    pub dropped_messages: u64,
    /// Their bytes.
    pub dropped_bytes: u64,
    /// Their rows (chunks only).
    pub dropped_rows: u64,
    /// Of the dropped messages, those over gRPC's 4 GiB message limit.
    pub oversized_messages: u64,
    /// Messages sent on a connection that failed before the server confirmed them, then
    /// dropped beyond the budget while disconnected or left at the close deadline instead
    /// of being sent again: the server may or may not have them.
    pub lost_messages: u64,
    /// Their bytes.
    pub lost_bytes: u64,
    /// Their rows (chunks only).
    pub lost_rows: u64,
    /// Messages never sent and still queued when a close deadline passed (or the sink was
    /// dropped).
    pub abandoned_messages: u64,
    /// Their rows (chunks only).
    pub abandoned_rows: u64,
    /// Messages queued, not yet sent on the current connection (re-sends included).
    pub queued_messages: u64,
    /// Messages sent on the current connection, waiting for the server's confirmation.
    pub unconfirmed_messages: u64,
    /// Bytes held against the budget: queued and unconfirmed messages.
    pub queued_bytes: u64,
    /// The last connection or call error, or the last message refused, with its causes.
    pub last_error: Option<String>,
    /// Static chunks not kept for replay after a reconnect (over
    /// [`GrpcSinkOptions::max_replay_bytes`](crate::sink::GrpcSinkOptions::max_replay_bytes)):
    /// sent like any message, not replayed.
    pub statics_not_kept: u64,
}

/// A [`FileSink`](crate::sink::FileSink)'s own counters (see [`FileSinkStatsHandle`](crate::sink::FileSinkStatsHandle)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileSinkStats {
    /// Messages kept to start every new file with (store infos and statics; zero without
    /// rotation).
    pub replay_messages: u64,
    /// Their bytes (bounded by [`FileSinkOptions::max_replay_bytes`](crate::sink::FileSinkOptions),
    /// store infos aside).
    pub replay_bytes: u64,
    /// Static chunks that did not fit the bound: written where they arrived, but not
    /// replayed into later files (nor is an older chunk under the same key).
    pub statics_not_kept: u64,
    /// Their bytes.
    pub statics_not_kept_bytes: u64,
}

/// A snapshot of every counter of a recording.
///
/// The counters add up: every row that a `log()` accepted (`rows_logged`) is drained or,
/// after a shutdown that ran out of time, counted in `rows_abandoned`; every drained row is
/// in an encoded chunk or counted in `encode_errors`; and every encoded chunk is accepted or
/// counted dropped, with a reason, by every sink attached at that moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// One entry per producer thread that has logged. Threads that exited and whose rows
    /// were all drained are folded into one entry, `exited threads (N)`.
    pub lanes: Vec<LaneStats>,
    /// One entry per sink: the current ones, then the replaced ones.
    pub sinks: Vec<SinkStats>,
    /// Rows the drain has taken from the lanes.
    pub rows_drained: u64,
    /// Chunks built by the batcher (each encoded exactly once).
    pub chunks_encoded: u64,
    /// Rows of those chunks.
    pub rows_encoded: u64,
    /// Arrow payload bytes encoded.
    pub bytes_encoded: u64,
    /// Rows that could not be built into a chunk or encoded (counted, not panicking).
    pub encode_errors: u64,
    /// Rows still in the lanes or in open batches when a shutdown ran out of time.
    pub rows_abandoned: u64,
}

impl Stats {
    /// Rows logged and accepted by the lanes.
    pub fn rows_logged(&self) -> u64 {
        self.lanes.iter().map(|l| l.rows_pushed).sum()
    }

    /// Rows dropped by full lanes.
    pub fn rows_dropped(&self) -> u64 {
        self.lanes.iter().map(|l| l.rows_dropped).sum()
    }
}

impl fmt::Display for Stats {
    /// One line for the lanes' totals, one per lane, one for the drain, one per sink.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "lanes: {} rows logged, {} dropped (lane full)",
            self.rows_logged(),
            self.rows_dropped()
        )?;
        for l in &self.lanes {
            writeln!(
                f,
                "  lane {}: {} rows, {} dropped, high water {} rows / {}",
                l.thread,
                l.rows_pushed,
                l.rows_dropped,
                l.high_water_rows,
                human_bytes(l.high_water_bytes)
            )?;
        }
        write!(
            f,
            "drain: {} rows drained, {} chunks ({} rows, {}) encoded, {} rows failed to encode",
            self.rows_drained,
            self.chunks_encoded,
            self.rows_encoded,
            human_bytes(self.bytes_encoded),
            self.encode_errors
        )?;
        if self.rows_abandoned > 0 {
            write!(
                f,
                ", {} rows abandoned at the deadline",
                self.rows_abandoned
            )?;
        }
        for s in &self.sinks {
            write!(f, "\n  {s}")?;
        }
        Ok(())
    }
}

/// What a sink delivered, at shutdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a report says what was not delivered"]
pub struct SinkReport {
    /// The sink's counters at the end.
    pub stats: SinkStats,
    /// Whether it closed cleanly (no failure) before its deadline.
    pub closed_cleanly: bool,
    /// Its close deadline passed before it finished: what it still held is counted in
    /// `dropped_shutdown_deadline`.
    pub timed_out: bool,
}

impl SinkReport {
    /// Closed cleanly, in time, and lost nothing.
    pub fn is_complete(&self) -> bool {
        self.closed_cleanly
            && !self.timed_out
            && self.stats.dropped() == 0
            && self.stats.dropped_by_sink() == 0
    }
}

impl fmt::Display for SinkReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.timed_out {
            "TIMED OUT"
        } else if self.closed_cleanly {
            "closed"
        } else {
            "NOT CLOSED CLEANLY"
        };
        write!(f, "[{state}] {}", self.stats)
    }
}

/// Everything logged and delivered, at shutdown.
///
/// A report is `#[must_use]`: ignoring what was not delivered is a decision to write down.
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let rec = spate::Recording::builder("demo").start().unwrap();
/// rec.shutdown(std::time::Instant::now()); // error: unused `ShutdownReport`
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a report says what was not delivered; check is_complete()"]
pub struct ShutdownReport {
    /// The engine itself ran out of time: rows were left in lanes or batches
    /// (`stats.rows_abandoned`), or the drain did not answer. A sink that missed its own
    /// close deadline says so in its [`SinkReport::timed_out`] instead.
    pub timed_out: bool,
    /// Final counters (`stats.sinks` holds the same sink counters as `sinks`).
    pub stats: Stats,
    /// One report per sink (current and replaced ones).
    pub sinks: Vec<SinkReport>,
}

impl ShutdownReport {
    /// Rows logged (accepted by lanes).
    pub fn rows_logged(&self) -> u64 {
        self.stats.rows_logged()
    }

    /// Whether every row logged reached every sink: nothing dropped anywhere (lanes,
    /// encoding, sink queues, inside the sinks), nothing abandoned, every sink closed
    /// cleanly in time.
    pub fn is_complete(&self) -> bool {
        !self.timed_out
            && self.stats.rows_dropped() == 0
            && self.stats.encode_errors == 0
            && self.stats.rows_abandoned == 0
            && self.sinks.iter().all(SinkReport::is_complete)
    }
}

impl fmt::Display for ShutdownReport {
    /// A verdict line, then one line per lane and per sink.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            writeln!(
                f,
                "complete: {} rows logged, every sink got everything",
                self.rows_logged()
            )?;
        } else {
            writeln!(
                f,
                "INCOMPLETE{}: {} rows logged",
                if self.timed_out { " (timed out)" } else { "" },
                self.rows_logged()
            )?;
        }
        let mut stats = self.stats.clone();
        stats.sinks.clear();
        write!(f, "{stats}")?;
        for s in &self.sinks {
            write!(f, "\n  {s}")?;
        }
        Ok(())
    }
}

/// What was lost since the previous [`flush`](crate::Recording::flush): the error a flush
/// returns when anything was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Losses {
    /// Rows dropped by full lanes (`LanePolicy::DropNewest`).
    pub rows_dropped_lane_full: u64,
    /// Rows that failed to encode.
    pub rows_encode_failed: u64,
    /// Sinks that dropped messages or failed.
    pub sinks: Vec<SinkLoss>,
}

/// One sink's part of [`Losses`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkLoss {
    /// The sink's name.
    pub name: String,
    /// Messages dropped in front of the sink or lost by it.
    pub messages: u64,
    /// Their rows.
    pub rows: u64,
    /// The reasons, most first.
    pub reasons: Vec<DropReason>,
    /// The sink failed since the previous flush (or its flush failed): why.
    pub failure: Option<String>,
}

impl Losses {
    /// Nothing lost.
    pub fn is_empty(&self) -> bool {
        self.rows_dropped_lane_full == 0 && self.rows_encode_failed == 0 && self.sinks.is_empty()
    }

    /// What `now` lost since `before` (both snapshots of one recording, `before` older).
    pub(crate) fn between(before: &Stats, now: &Stats) -> Self {
        let mut out = Self {
            rows_dropped_lane_full: now.rows_dropped().saturating_sub(before.rows_dropped()),
            rows_encode_failed: now.encode_errors.saturating_sub(before.encode_errors),
            sinks: Vec::new(),
        };
        // Replaced sinks fold into one entry (id 0) once there are many: a sink listed
        // before and gone now was folded, and what it had lost then is not new.
        let folded_since = {
            let mut f: Option<SinkStats> = None;
            for o in &before.sinks {
                if o.id != 0 && !now.sinks.iter().any(|s| s.id == o.id) {
                    match &mut f {
                        Some(f) => f.absorb(&o.without_monitor()),
                        None => f = Some(o.without_monitor()),
                    }
                }
            }
            f
        };
        let folded_before = match (before.sinks.iter().find(|o| o.id == 0), &folded_since) {
            (Some(b), Some(f)) => {
                let mut b = b.clone();
                b.absorb(f);
                Some(b)
            }
            (Some(b), None) => Some(b.clone()),
            (None, f) => f.clone(),
        };
        for s in &now.sinks {
            let old = if s.id == 0 {
                folded_before.as_ref()
            } else {
                before.sinks.iter().find(|o| o.id == s.id)
            };
            let d = |f: fn(&SinkStats) -> u64| f(s).saturating_sub(old.map_or(0, f));
            let mut reasons: Vec<(u64, DropReason)> = vec![
                (d(|x| x.dropped_queue_full), DropReason::QueueFull),
                (
                    d(|x| x.dropped_sink_failed) + d(SinkStats::dropped_by_sink),
                    DropReason::SinkFailed,
                ),
                (
                    d(|x| x.dropped_shutdown_deadline),
                    DropReason::ShutdownDeadline,
                ),
            ];
            reasons.retain(|(n, _)| *n > 0);
            reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
            let messages = d(SinkStats::dropped) + d(SinkStats::dropped_by_sink);
            let rows = d(SinkStats::rows_dropped) + d(SinkStats::rows_dropped_by_sink);
            let newly_failed = s.failed && !old.is_some_and(|o| o.failed);
            if messages > 0 || newly_failed {
                out.sinks.push(SinkLoss {
                    name: s.name.clone(),
                    messages,
                    rows,
                    reasons: reasons.into_iter().map(|(_, r)| r).collect(),
                    failure: if newly_failed { s.error.clone() } else { None },
                });
            }
        }
        out
    }
}

impl fmt::Display for Losses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.rows_dropped_lane_full > 0 {
            parts.push(format!(
                "{} rows dropped by full lanes",
                self.rows_dropped_lane_full
            ));
        }
        if self.rows_encode_failed > 0 {
            parts.push(format!("{} rows failed to encode", self.rows_encode_failed));
        }
        for s in &self.sinks {
            let mut p = format!(
                "sink {}: {} messages / {} rows lost",
                s.name, s.messages, s.rows
            );
            if !s.reasons.is_empty() {
                let r: Vec<String> = s.reasons.iter().map(ToString::to_string).collect();
                p.push_str(&format!(" ({})", r.join(", ")));
            }
            if let Some(e) = &s.failure {
                p.push_str(&format!(", failed: {e}"));
            }
            parts.push(p);
        }
        write!(f, "{}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_states_read_as_words() {
        assert_eq!(ConnectionState::Connected.to_string(), "connected");
        assert_eq!(ConnectionState::Closed.to_string(), "closed");
        let since = Instant::now() - Duration::from_secs(3);
        let text = ConnectionState::Disconnected { since }.to_string();
        assert!(text.starts_with("disconnected for 3."), "{text}");
    }

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in (0..100_000u64).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket_of(ns);
            assert!(b >= last && b < BUCKETS, "{ns}");
            last = b;
            let hi = bucket_high(b);
            assert!(hi >= ns, "{ns} -> {b} hi {hi}");
            assert!(hi - ns <= ns / 16 + 1, "{ns} hi {hi}");
        }
    }

    fn sink(id: u64) -> SinkStats {
        SinkStats {
            name: format!("s{id}"),
            id,
            messages: 10,
            rows: 10,
            ..SinkStats::default()
        }
    }

    fn clean_report() -> ShutdownReport {
        ShutdownReport {
            timed_out: false,
            stats: Stats {
                rows_drained: 10,
                rows_encoded: 10,
                ..Stats::default()
            },
            sinks: vec![SinkReport {
                stats: sink(1),
                closed_cleanly: true,
                timed_out: false,
            }],
        }
    }

    /// Regression (issue 12 item 6): rows that failed to encode never reached any sink, so
    /// a report with encode errors is not complete.
    #[test]
    fn encode_errors_and_abandoned_rows_make_a_report_incomplete() {
        assert!(clean_report().is_complete());
        let mut r = clean_report();
        r.stats.encode_errors = 1;
        assert!(!r.is_complete());
        let mut r = clean_report();
        r.stats.rows_abandoned = 1;
        assert!(!r.is_complete());
        let mut r = clean_report();
        r.sinks[0].timed_out = true;
        assert!(!r.is_complete());
        assert!(r.to_string().starts_with("INCOMPLETE"), "{r}");
    }

    #[test]
    fn losses_are_what_moved_since_the_earlier_snapshot() {
        let before = Stats {
            sinks: vec![sink(1), sink(2)],
            ..Stats::default()
        };
        let mut now = before.clone();
        assert!(Losses::between(&before, &now).is_empty());
        now.sinks[1].dropped_queue_full = 3;
        now.sinks[1].rows_dropped_queue_full = 30;
        now.sinks[0].failed = true;
        now.sinks[0].error = Some("disk full".into());
        now.encode_errors = 2;
        let l = Losses::between(&before, &now);
        assert_eq!(l.rows_encode_failed, 2);
        assert_eq!(l.sinks.len(), 2, "{l:?}");
        let s1 = l.sinks.iter().find(|s| s.name == "s1").unwrap();
        assert_eq!((s1.messages, s1.failure.as_deref()), (0, Some("disk full")));
        let s2 = l.sinks.iter().find(|s| s.name == "s2").unwrap();
        assert_eq!((s2.messages, s2.rows), (3, 30));
        assert_eq!(s2.reasons, [DropReason::QueueFull]);
        let text = l.to_string();
        assert!(
            text.contains("sink s2: 3 messages / 30 rows lost (queue full)"),
            "{text}"
        );
        // A sink that appeared after `before` counts from zero.
        now.sinks.push(SinkStats {
            dropped_sink_failed: 1,
            rows_dropped_sink_failed: 4,
            ..sink(3)
        });
        assert_eq!(Losses::between(&before, &now).sinks.len(), 3);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let h = LatencyHistogram::new();
        for i in 0..990 {
            h.record(Duration::from_nanos(1000 + i % 7));
        }
        for _ in 0..10 {
            h.record(Duration::from_millis(5));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!(s.p50 >= Duration::from_nanos(1000) && s.p50 <= Duration::from_nanos(1070));
        assert!(s.p99 <= Duration::from_nanos(1070), "{:?}", s.p99);
        assert_eq!(s.max, Duration::from_millis(5));
        assert_eq!(LatencyHistogram::new().summary().count, 0);
    }
}
