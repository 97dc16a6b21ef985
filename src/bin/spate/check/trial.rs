//! One run of a scenario through the engine, measured.
//!
//! Phases (times from the start of the load, `t0`):
//! 1. **load**: the sensors log until `duration` (each lidar logs `round(hz × duration)`
//!    clouds at `t0 + k / hz`, each camera `round(fps × duration)` frames, each IMU
//!    `round(hz × duration)` samples in batches);
//! 2. **drain-out**: once every sensor is done, a helper thread calls
//!    [`Recording::flush`] (every lane drained, every batch encoded, every sink flushed)
//!    while the main thread keeps sampling;
//! 3. **hard stop** at `duration + grace`: sensors still logging are stopped and
//!    sampling ends;
//! 4. **shutdown**: closes the sinks (footer, fsync, the gRPC server's acknowledgement)
//!    with a 10 s allowance if every sink had delivered everything, 1 s otherwise.
//!
//! The main thread samples every counter every [`SAMPLE_PERIOD`] for the progress bars,
//! the completion times and the plot.

use std::time::{Duration, Instant};

use spate::server::testing::ReceiverCounts;
use spate::sink::{GrpcSinkStats, SinkReport};
use spate::stats::Stats;
use spate::{Recording, RecordingError, SinkSpec};

use super::generator::{Generator, ProducerResult};
use super::progress::Progress;
use super::sample::{Sample, SinkSample};
use super::scenario::{Scenario, SinkArg};
use super::sinks::{Environment, Probe};

/// How often counters are sampled.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);
/// Sampling period after the load, when completion times are measured.
const DRAIN_SAMPLE_PERIOD: Duration = Duration::from_millis(25);
/// Shutdown allowance when every sink delivered everything (closing files, acks).
const CLOSE_ALLOWANCE: Duration = Duration::from_secs(10);
/// Shutdown allowance when a sink is behind (its backlog is abandoned and counted).
const ABANDON_ALLOWANCE: Duration = Duration::from_secs(1);

/// What one sink did in a run.
#[derive(Debug)]
pub struct SinkRun {
    /// The sink as given.
    pub arg: SinkArg,
    /// The engine's name for it.
    pub name: String,
    /// The engine's report at shutdown.
    pub report: SinkReport,
    /// Bytes delivered at the end (see [`Probe::delivered_bytes`]).
    pub delivered_final: u64,
    /// Rows delivered at the end (see [`Probe::delivered_rows`]).
    pub delivered_rows: u64,
    /// For gRPC sinks, the sink's own counters at the end.
    pub grpc: Option<GrpcSinkStats>,
    /// For the in-process receiver, what the server received in this run.
    pub receiver: Option<ReceiverDelta>,
    /// When it had delivered every byte offered, seconds since the start (None: never,
    /// within the run).
    pub complete_at: Option<f64>,
}

/// What the in-process receiver received during one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReceiverDelta {
    /// `WriteMessagesRequest`s received.
    pub messages: u64,
    /// Their bytes (with the request's own framing).
    pub bytes: u64,
    /// Calls the server answered OK (the sink's close acknowledged).
    pub calls_finished: u64,
}

impl ReceiverDelta {
    fn between(before: ReceiverCounts, after: ReceiverCounts) -> Self {
        Self {
            messages: after.messages.saturating_sub(before.messages),
            bytes: after.bytes.saturating_sub(before.bytes),
            calls_finished: after.calls_finished.saturating_sub(before.calls_finished),
        }
    }
}

/// Everything measured in one run.
#[derive(Debug)]
pub struct RunResult {
    /// The scenario run.
    pub scenario: Scenario,
    /// Counters over time.
    pub samples: Vec<Sample>,
    /// Per sensor thread (lidars, then cameras, then IMUs).
    pub producers: Vec<ProducerResult>,
    /// How the lidars' clouds were made: `shared` or `pooled` (None: no lidar).
    pub cloud_buffers: Option<&'static str>,
    /// When every sensor had logged its whole schedule (None: stopped at the hard stop).
    pub generator_done: Option<f64>,
    /// The end of the measurement window: `duration + grace`, seconds.
    pub window_end: f64,
    /// Bytes of the preamble each sink gets first (`SetStoreInfo`, then the recording's
    /// properties).
    pub hello_bytes: u64,
    /// The engine's counters at shutdown.
    pub stats: Stats,
    /// Per sink.
    pub sinks: Vec<SinkRun>,
    /// How long shutdown (closing the sinks) took, seconds.
    pub shutdown_s: f64,
}

fn sample(
    t0: Instant,
    rec: &Recording,
    probes: &[Probe],
    progress: &Progress,
    expected: u64,
) -> Sample {
    let stats = rec.stats();
    let sinks: Vec<SinkSample> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let s = stats.sinks.get(i).cloned().unwrap_or_default();
            SinkSample {
                delivered: p.delivered_bytes(&s),
                queued: s.queued_bytes,
                latency_count: s.latency.count,
                latency_sum_ns: s.latency.mean.as_nanos() * u128::from(s.latency.count),
            }
        })
        .collect();
    let sample = Sample {
        t: t0.elapsed().as_secs_f64(),
        bytes_encoded: stats.bytes_encoded,
        sinks,
    };
    progress.update(&sample, expected);
    sample
}

/// Runs `scenario` against freshly built sinks; an error means the check could not run.
pub fn run(
    scenario: &Scenario,
    env: &Environment,
    progress_enabled: bool,
) -> anyhow::Result<RunResult> {
    let mut specs: Vec<SinkSpec> = Vec::new();
    let mut probes = Vec::new();
    let mut args = Vec::new();
    for arg in &scenario.sinks {
        let built = env.build(arg, scenario)?;
        specs.push(built.spec);
        probes.push(built.probe);
        args.push(built.arg);
    }
    let receiver_before = env.receiver_counts();
    let rec = Recording::builder("spate_check")
        .lane_policy(scenario.lane_policy())
        .sinks(specs)
        .start()?;
    let hello_bytes = rec.preamble().iter().map(|m| m.len() as u64).sum();
    let labels: Vec<String> = args.iter().map(SinkArg::label).collect();
    // What every sink should receive, estimated up front for the progress bars only.
    let expected = scenario.scheduled_payload();
    let progress = Progress::new(progress_enabled, scenario, &labels, expected);

    let prepared = Generator::prepare(&rec, scenario);
    let t0 = Instant::now();
    let generator = Generator::start(&rec, scenario, &prepared, t0)?;
    let window = scenario.duration + scenario.grace();
    let hard_stop = t0 + window;
    let mut samples = Vec::new();
    let mut generator_done = None;
    let mut flush: Option<std::thread::JoinHandle<Result<(), RecordingError>>> = None;
    let mut next = t0;
    loop {
        // Checked before sampling, so the last sample sees everything the flush confirmed.
        let flushed = flush.as_ref().is_some_and(|f| f.is_finished());
        samples.push(sample(t0, &rec, &probes, &progress, expected));
        let now = Instant::now();
        if flushed {
            break;
        }
        if flush.is_none() && generator.is_finished() {
            generator_done = Some(t0.elapsed().as_secs_f64());
            let r = rec.clone();
            flush = Some(
                std::thread::Builder::new()
                    .name("check-flush".to_owned())
                    .spawn(move || r.flush(hard_stop))?,
            );
        }
        if now >= hard_stop {
            generator.stop();
            break;
        }
        next += if flush.is_some() {
            DRAIN_SAMPLE_PERIOD
        } else {
            SAMPLE_PERIOD
        };
        next = next.max(now);
        std::thread::sleep(next.min(hard_stop).saturating_duration_since(now));
    }

    // Everything offered is known once the recording stopped; completion times come from
    // the samples taken before the hard stop.
    let all_delivered_before = |offered: u64, i: usize| {
        samples
            .iter()
            .find(|s| s.sinks[i].delivered >= offered)
            .map(|s| s.t)
    };
    let stats_now = rec.stats();
    let offered_now = hello_bytes + stats_now.bytes_encoded;
    let flushed = flush
        .as_ref()
        .is_some_and(|f| f.is_finished())
        .then_some(());
    let every_sink_done = flushed.is_some()
        && (0..probes.len()).all(|i| all_delivered_before(offered_now, i).is_some());
    let allowance = if every_sink_done {
        CLOSE_ALLOWANCE
    } else {
        ABANDON_ALLOWANCE
    };
    progress.finish();
    let shutdown_start = Instant::now();
    let report = rec.shutdown(shutdown_start + allowance);
    let shutdown_s = shutdown_start.elapsed().as_secs_f64();
    if let Some(f) = flush {
        let _ = f.join();
    }
    let producers = generator.join();
    let receiver_after = env.receiver_counts();

    let offered = hello_bytes + report.stats.bytes_encoded;
    let mut sinks = Vec::with_capacity(args.len());
    for (i, (arg, probe)) in args.into_iter().zip(&probes).enumerate() {
        let sink_report = report.sinks.get(i).cloned().unwrap_or_default();
        let delivered_final = probe.delivered_bytes(&sink_report.stats);
        let delivered_rows = probe.delivered_rows(&sink_report.stats);
        let (grpc, receiver) = match probe {
            Probe::Engine => (None, None),
            Probe::Grpc { handle, local } => (
                Some(handle.stats()),
                local.then(|| ReceiverDelta::between(receiver_before, receiver_after)),
            ),
        };
        sinks.push(SinkRun {
            name: sink_report.stats.name.clone(),
            arg,
            report: sink_report,
            delivered_final,
            delivered_rows,
            grpc,
            receiver,
            complete_at: all_delivered_before(offered, i),
        });
    }
    Ok(RunResult {
        scenario: scenario.clone(),
        samples,
        producers,
        cloud_buffers: prepared.cloud_buffers(),
        generator_done,
        window_end: window.as_secs_f64(),
        hello_bytes,
        stats: report.stats,
        sinks,
        shutdown_s,
    })
}
