//! Counters sampled during a run: what the progress bars show and the report and plot are
//! made of.

/// One sink's counters at one sample.
#[derive(Clone, Copy, Debug, Default)]
pub struct SinkSample {
    /// Bytes delivered (see [`Probe::delivered_bytes`](super::sinks::Probe::delivered_bytes)).
    pub delivered: u64,
    /// Bytes in the sink's queue.
    pub queued: u64,
    /// Latency samples so far.
    pub latency_count: u64,
    /// Sum of all latency samples so far, ns (mean × count).
    pub latency_sum_ns: u128,
}

/// Every counter at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// Seconds since the start of the load.
    pub t: f64,
    /// Bytes encoded by the drain (each chunk once, for every sink).
    pub bytes_encoded: u64,
    /// One entry per sink.
    pub sinks: Vec<SinkSample>,
}
