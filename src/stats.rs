//! Counters and latency histograms, readable at any time through `Recording::stats()`.

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
    /// The sink failed (I/O error, closed connection…) and stopped accepting messages.
    SinkFailed,
    /// Still queued when shutdown's deadline passed.
    ShutdownDeadline,
}

/// Counters of one sink.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Messages the sink accepted (written / sent).
    pub messages: u64,
    /// Bytes the sink accepted.
    pub bytes: u64,
    /// Messages dropped because the queue was full (`DropNewest`).
    pub dropped_queue_full: u64,
    /// Messages dropped because the sink failed.
    pub dropped_sink_failed: u64,
    /// Messages still queued when shutdown's deadline passed.
    pub dropped_shutdown_deadline: u64,
    /// Bytes currently queued for the sink.
    pub queued_bytes: u64,
    /// Most bytes ever queued.
    pub queue_high_water_bytes: u64,
    /// Latency from `log()` of a chunk's oldest row to the sink accepting the chunk.
    pub latency: LatencySummary,
    /// The sink's last error, if it failed.
    pub error: Option<String>,
    /// For a [`GrpcSink`](crate::sink::GrpcSink): its connection state and its own
    /// counters (sent, replayed, dropped while disconnected, reconnects). Note that
    /// `messages`/`bytes` above count what the sink *accepted* into its send buffer;
    /// `grpc.sent_bytes` counts what was handed to HTTP/2.
    pub grpc: Option<GrpcSinkStats>,
}

impl SinkStats {
    /// All drops, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_sink_failed + self.dropped_shutdown_deadline
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

    /// The connection state, for sinks that have one (gRPC).
    pub fn connection(&self) -> Option<ConnectionState> {
        self.grpc.as_ref().map(|g| g.state)
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
    /// Messages queued, not yet sent on the current connection (re-sends included).
    pub queued_messages: u64,
    /// Messages sent on the current connection, waiting for the server's confirmation.
    pub unconfirmed_messages: u64,
    /// Bytes held against the budget: queued and unconfirmed messages.
    pub queued_bytes: u64,
    /// The last connection or call error, or the last message refused, with its causes.
    pub last_error: Option<String>,
}

/// A snapshot of every counter of a recording.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// One entry per producer thread that has logged.
    pub lanes: Vec<LaneStats>,
    /// One entry per sink.
    pub sinks: Vec<SinkStats>,
    /// Rows the drain has taken from the lanes.
    pub rows_drained: u64,
    /// Chunks built by the batcher (each encoded exactly once).
    pub chunks_encoded: u64,
    /// Arrow payload bytes encoded.
    pub bytes_encoded: u64,
    /// Rows that failed to encode (with the error counted, not panicking).
    pub encode_errors: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

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
