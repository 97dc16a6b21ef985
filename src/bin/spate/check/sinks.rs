//! The sinks of a check, built from [`SinkArg`]s, and how each one's delivery is measured.
//!
//! * file, null, throttle: the engine's per-sink counters (`SinkStats::bytes`), counted
//!   after the sink's `write` returned (for a file: after the backend took the bytes).
//! * gRPC: the sink's own `confirmed_bytes` (sent on a call the server answered OK after
//!   the sink ended it: handed over, not merely sent), read through the
//!   [`GrpcStateHandle`] kept before the sink moved into the recording; for the in-process
//!   receiver also the messages the server actually received.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use spate::server::testing::{ProxyReceiver, ReceiverCounts, ReceiverOptions};
use spate::sink::{
    FileSink, FileSinkOptions, GrpcSink, GrpcSinkOptions, GrpcStateHandle, NullSink, Sink,
    SinkError, SinkSpec,
};
use spate::stats::SinkStats;
use spate::wire::EncodedMessage;

use super::scenario::{Scenario, SinkArg};

/// A null sink that accepts at most `mbps` MB/s: its `write` (on the sink's own worker
/// thread) sleeps until the bytes "fit". A testing aid for a sink that cannot keep up.
#[derive(Debug)]
pub struct ThrottleSink {
    mbps: f64,
    busy_until: Option<Instant>,
}

impl ThrottleSink {
    /// A sink that takes `mbps` MB/s (10^6 bytes per second).
    pub fn new(mbps: f64) -> Self {
        Self {
            mbps,
            busy_until: None,
        }
    }
}

impl Sink for ThrottleSink {
    fn name(&self) -> String {
        format!("throttle:{}MB/s", self.mbps)
    }

    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        let now = Instant::now();
        let cost = Duration::from_secs_f64(msg.len() as f64 / (self.mbps * 1e6));
        let done = self.busy_until.map_or(now, |b| b.max(now)) + cost;
        self.busy_until = Some(done);
        if done > now {
            std::thread::sleep(done - now);
        }
        Ok(())
    }
}

/// How a sink's delivery is read.
pub enum Probe {
    /// The engine's counters (`SinkStats::bytes`).
    Engine,
    /// A gRPC sink's own counters, and the in-process receiver if it is the target.
    Grpc {
        /// The sink's state and counters.
        handle: GrpcStateHandle,
        /// Whether the target is the in-process receiver.
        local: bool,
    },
}

/// One sink of a run, before it is handed to the recording.
pub struct Built {
    /// What it is, as the user named it.
    pub arg: SinkArg,
    /// The sink and its queue settings.
    pub spec: SinkSpec,
    /// How its delivery is read.
    pub probe: Probe,
}

impl Probe {
    /// Bytes delivered so far: for gRPC confirmed by the server, otherwise accepted by the
    /// sink.
    pub fn delivered_bytes(&self, engine: &SinkStats) -> u64 {
        match self {
            Self::Engine => engine.bytes,
            Self::Grpc { handle, .. } => handle.stats().confirmed_bytes,
        }
    }

    /// Rows delivered, read once the sink has closed: for gRPC the rows the sink took less
    /// those it dropped, lost or abandoned (after its close, every other message was
    /// confirmed by the server), otherwise the rows the sink accepted.
    pub fn delivered_rows(&self, engine: &SinkStats) -> u64 {
        match self {
            Self::Engine => engine.rows,
            Self::Grpc { handle, .. } => {
                let g = handle.stats();
                engine
                    .rows
                    .saturating_sub(g.dropped_rows + g.lost_rows + g.abandoned_rows)
            }
        }
    }
}

/// A temporary directory for the default rig's file, removed on drop unless kept.
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    /// Creates `$TMPDIR/spate-check-<pid>-<n>`.
    pub fn create(keep: bool) -> anyhow::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "spate-check-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create a temporary directory {}", path.display()))?;
        Ok(Self { path, keep })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Things shared by the runs of one `spate check` (several with `--find-max`).
pub struct Environment {
    /// The in-process gRPC receiver, started if a sink needs it.
    pub receiver: Option<ProxyReceiver>,
    /// The temporary directory, created if a sink needs it.
    pub temp: Option<TempDir>,
    /// How long a gRPC sink may take to connect before the check fails.
    pub connect_timeout: Duration,
    /// Runs so far that wrote a temporary file: each run gets its own (a file sink given up
    /// on at a run's deadline still holds its file's lock while it finishes).
    temp_files: std::sync::atomic::AtomicUsize,
}

impl Environment {
    /// Starts what `sinks` need.
    pub fn new(sinks: &[SinkArg], keep: bool, connect_timeout: Duration) -> anyhow::Result<Self> {
        let receiver = if sinks.contains(&SinkArg::GrpcLocal) {
            let opts = ReceiverOptions::default().discarding();
            let addr = "127.0.0.1:0".parse().context("loopback address")?;
            Some(
                ProxyReceiver::start_with(addr, opts)
                    .context("cannot start the in-process gRPC receiver")?,
            )
        } else {
            None
        };
        let temp = if sinks.contains(&SinkArg::TempFile) {
            Some(TempDir::create(keep)?)
        } else {
            None
        };
        Ok(Self {
            receiver,
            temp,
            connect_timeout,
            temp_files: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The in-process receiver's counters (zero without one).
    pub fn receiver_counts(&self) -> ReceiverCounts {
        self.receiver
            .as_ref()
            .map(ProxyReceiver::counts)
            .unwrap_or_default()
    }

    /// Builds the sink for `arg` with the scenario's queue settings. gRPC sinks are
    /// connected before this returns: one that does not connect within the connect timeout
    /// is an error.
    pub fn build(&self, arg: &SinkArg, scenario: &Scenario) -> anyhow::Result<Built> {
        let spec = |sink: SinkSpec| {
            sink.policy(scenario.sink_policy())
                .max_queue_bytes(scenario.queue_bytes)
        };
        let file = |path: &Path| -> anyhow::Result<SinkSpec> {
            let opts = FileSinkOptions::default()
                .backend(scenario.backend)
                .sync(scenario.sync.policy());
            Ok(spec(SinkSpec::new(FileSink::create(path, opts)?)))
        };
        let (spec, probe) = match arg {
            SinkArg::File(path) => (file(path)?, Probe::Engine),
            SinkArg::TempFile => {
                let dir = self.temp.as_ref().context("no temporary directory")?;
                let n = self
                    .temp_files
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = |n: usize| match n {
                    0 => "check.rrd".to_owned(),
                    n => format!("check-{n}.rrd"),
                };
                if n > 0 {
                    // The previous run's file (its writer, if still finishing, keeps the
                    // unlinked file until it closes): only the last run's file stays.
                    let _ = std::fs::remove_file(dir.path().join(name(n - 1)));
                }
                (file(&dir.path().join(name(n)))?, Probe::Engine)
            }
            SinkArg::Null => (spec(SinkSpec::new(NullSink)), Probe::Engine),
            SinkArg::Throttle(mbps) => {
                (spec(SinkSpec::new(ThrottleSink::new(*mbps))), Probe::Engine)
            }
            SinkArg::Grpc(url) => {
                let (sink, probe) = self.grpc(url, false)?;
                (spec(SinkSpec::new(sink)), probe)
            }
            SinkArg::GrpcLocal => {
                let url = self
                    .receiver
                    .as_ref()
                    .context("the in-process receiver is not running")?
                    .url();
                let (sink, probe) = self.grpc(&url, true)?;
                (spec(SinkSpec::new(sink)), probe)
            }
        };
        Ok(Built {
            arg: arg.clone(),
            spec,
            probe,
        })
    }

    fn grpc(&self, url: &str, local: bool) -> anyhow::Result<(GrpcSink, Probe)> {
        let opts = GrpcSinkOptions::default().connect_timeout(self.connect_timeout);
        let sink = GrpcSink::connect_with(url, opts)?;
        let handle = sink.state_handle();
        // The sink reconnects forever by design; a capacity check against a server that
        // is not there is an error, not a verdict.
        let deadline = Instant::now() + self.connect_timeout;
        if !handle.wait_until(deadline, |s| s.connections > 0) {
            let why = handle
                .stats()
                .last_error
                .map_or_else(String::new, |e| format!(" ({e})"));
            anyhow::bail!(
                "cannot connect to {url} within {:.1} s{why}",
                self.connect_timeout.as_secs_f64()
            );
        }
        Ok((sink, Probe::Grpc { handle, local }))
    }
}
