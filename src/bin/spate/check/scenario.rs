//! What `spate check` runs: the load (producers, cloud size, rate, duration), the engine's
//! policies and the sinks, from command-line flags over a `--scenario` TOML file over the
//! embedded default rig.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;
use spate::LanePolicy;
use spate::sink::{DEFAULT_MAX_QUEUE_BYTES, IoBackend, SinkPolicy, SyncPolicy};

/// Payload bytes of one point: position (3 × f32), color (u32) and radius (f32).
pub const BYTES_PER_POINT: u64 = 20;

/// The default rig: four 128-channel lidars (128 × 2048 points per rotation, 10 Hz).
pub const DEFAULT_PRODUCERS: u32 = 4;
/// Points per cloud of the default rig.
pub const DEFAULT_POINTS: u32 = 128 * 2048;
/// Clouds per second per producer of the default rig.
pub const DEFAULT_HZ: f64 = 10.0;
/// Seconds of load of the default rig.
pub const DEFAULT_DURATION_S: f64 = 10.0;

/// Where one sink of the check writes.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkArg {
    /// `file:PATH`: an `.rrd` file at this path (truncated if it exists).
    File(PathBuf),
    /// The default rig's file: `check.rrd` in a temporary directory.
    TempFile,
    /// `grpc:URL`: a Rerun gRPC server (`rerun+http://HOST:PORT/proxy`).
    Grpc(String),
    /// `grpc`: an in-process receiving server that counts and discards.
    GrpcLocal,
    /// `null`: accepts and discards everything ([`spate::sink::NullSink`]).
    Null,
    /// `throttle:MBPS`: a null sink that accepts at most this many MB/s (a testing aid).
    Throttle(f64),
}

impl SinkArg {
    /// The kind, as in the JSON report: `file`, `grpc`, `null` or `throttle`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::File(_) | Self::TempFile => "file",
            Self::Grpc(_) | Self::GrpcLocal => "grpc",
            Self::Null => "null",
            Self::Throttle(_) => "throttle",
        }
    }
}

impl SinkArg {
    /// A short label before the engine names the sink (progress bars).
    pub fn label(&self) -> String {
        match self {
            Self::File(p) => format!("file:{}", p.display()),
            Self::TempFile => "file (temporary)".to_owned(),
            Self::Grpc(url) => format!("grpc:{url}"),
            Self::GrpcLocal => "grpc (in-process receiver)".to_owned(),
            Self::Null => "null".to_owned(),
            Self::Throttle(r) => format!("throttle:{r}MB/s"),
        }
    }
}

impl FromStr for SinkArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = match s.split_once(':') {
            Some((k, r)) => (k, Some(r)),
            None => (s, None),
        };
        match (kind, rest) {
            ("null", None) => Ok(Self::Null),
            ("grpc", None) => Ok(Self::GrpcLocal),
            ("grpc", Some(url)) if !url.is_empty() => Ok(Self::Grpc(url.to_owned())),
            ("file", Some(path)) if !path.is_empty() => Ok(Self::File(PathBuf::from(path))),
            ("throttle", Some(rate)) => match rate.parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => Ok(Self::Throttle(r)),
                _ => Err(format!(
                    "throttle needs a positive rate in MB/s (throttle:5), not {rate:?}"
                )),
            },
            _ => Err(format!(
                "unknown sink {s:?} (expected file:PATH, grpc, grpc:URL, null or throttle:MBPS)"
            )),
        }
    }
}

/// A `--lane-policy` / `--sink-policy` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyArg {
    /// Wait for room (lossless; a slow sink slows the producers).
    Block,
    /// Drop the newest and count it.
    Drop,
}

impl PolicyArg {
    /// As in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Drop => "drop",
        }
    }
}

/// A `--sync` value: when file sinks call `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncArg {
    /// Once, when the file is finished (the library's default).
    Close,
    /// Never (the page cache decides).
    Never,
    /// After every 64 MiB written.
    Every64m,
}

impl SyncArg {
    /// As in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Never => "never",
            Self::Every64m => "every64m",
        }
    }

    /// The file sink's policy.
    pub fn policy(self) -> SyncPolicy {
        match self {
            Self::Close => SyncPolicy::OnClose,
            Self::Never => SyncPolicy::Never,
            Self::Every64m => SyncPolicy::EveryBytes(64 << 20),
        }
    }
}

/// The settings of a `--scenario` TOML file; every key is optional and a flag given on the
/// command line wins. Unknown keys are refused.
///
/// ```toml
/// producers = 2
/// points = 50000
/// hz = 20.0            # or: rate = 40.0  (MB/s of payload, all producers together);
///                      # hz = 0: unpaced, as fast as the engine accepts
/// duration = 5.0       # seconds
/// entities = 2
/// lane_policy = "block"
/// sink_policy = "drop"
/// queue_bytes = 268435456
/// backend = "auto"
/// sync = "close"
/// grace = 1.0          # seconds
/// sinks = ["file:/tmp/x.rrd", "grpc", "null"]
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Producer threads.
    pub producers: Option<u32>,
    /// Points per cloud.
    pub points: Option<u32>,
    /// Clouds per second per producer.
    pub hz: Option<f64>,
    /// Payload MB/s of all producers together (instead of `hz`).
    pub rate: Option<f64>,
    /// Seconds of load.
    pub duration: Option<f64>,
    /// Entities.
    pub entities: Option<u32>,
    /// Lane policy.
    pub lane_policy: Option<PolicyArg>,
    /// Sink queue policy.
    pub sink_policy: Option<PolicyArg>,
    /// Sink queue bound.
    pub queue_bytes: Option<u64>,
    /// File I/O backend.
    pub backend: Option<String>,
    /// File sync policy.
    pub sync: Option<SyncArg>,
    /// Grace after the load, seconds.
    pub grace: Option<f64>,
    /// Sinks, as on the command line.
    pub sinks: Option<Vec<String>>,
}

impl ScenarioFile {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario {}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().trim().replace('\n', " ")))
            .with_context(|| format!("invalid scenario {}", path.display()))
    }
}

/// The flags of `spate check` that a scenario file can also set (`None`: not given).
#[derive(Debug, Default)]
pub struct Overrides {
    /// `--producers`.
    pub producers: Option<u32>,
    /// `--points`.
    pub points: Option<u32>,
    /// `--hz`.
    pub hz: Option<f64>,
    /// `--rate`.
    pub rate: Option<f64>,
    /// `--duration`.
    pub duration: Option<f64>,
    /// `--entities`.
    pub entities: Option<u32>,
    /// `--lane-policy`.
    pub lane_policy: Option<PolicyArg>,
    /// `--sink-policy`.
    pub sink_policy: Option<PolicyArg>,
    /// `--queue-bytes`.
    pub queue_bytes: Option<u64>,
    /// `--backend`.
    pub backend: Option<IoBackend>,
    /// `--sync`.
    pub sync: Option<SyncArg>,
    /// `--grace`.
    pub grace: Option<f64>,
    /// `--sink` (empty: not given).
    pub sinks: Vec<SinkArg>,
}

/// A fully resolved check.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Producer threads (one simulated sensor each).
    pub producers: u32,
    /// Points per cloud.
    pub points: u32,
    /// Clouds per second per producer.
    pub hz: f64,
    /// How long the load runs.
    pub duration: Duration,
    /// Entities `lidar/0`…, spread over the producers.
    pub entities: u32,
    /// What a full lane does.
    pub lane_policy: PolicyArg,
    /// What a full sink queue does.
    pub sink_policy: PolicyArg,
    /// Each sink's queue bound.
    pub queue_bytes: u64,
    /// File sinks' backend.
    pub backend: IoBackend,
    /// File sinks' sync policy.
    pub sync: SyncArg,
    /// How long after the load every sink may take to deliver the rest (explicit, or
    /// `None` for the default: max(1 s, 10 % of the duration)).
    pub grace: Option<Duration>,
    /// The sinks (a tee when several).
    pub sinks: Vec<SinkArg>,
}

/// Largest cloud accepted (200 MB of payload).
const MAX_POINTS: u32 = 10_000_000;
/// Most producer threads.
const MAX_PRODUCERS: u32 = 256;
/// Longest run.
const MAX_DURATION_S: f64 = 3600.0;
/// Fastest cloud rate per producer.
const MAX_HZ: f64 = 100_000.0;

fn secs(what: &str, s: f64) -> anyhow::Result<Duration> {
    ensure!(
        s.is_finite() && s > 0.0 && s <= MAX_DURATION_S,
        "{what} must be between 0 and {MAX_DURATION_S} seconds, not {s}"
    );
    Ok(Duration::from_secs_f64(s))
}

impl Scenario {
    /// Flags over the scenario file over the default rig; checks every value.
    pub fn resolve(flags: Overrides, file: Option<ScenarioFile>) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let producers = flags
            .producers
            .or(file.producers)
            .unwrap_or(DEFAULT_PRODUCERS);
        ensure!(
            (1..=MAX_PRODUCERS).contains(&producers),
            "producers must be between 1 and {MAX_PRODUCERS}, not {producers}"
        );
        let points = flags.points.or(file.points).unwrap_or(DEFAULT_POINTS);
        ensure!(
            (1..=MAX_POINTS).contains(&points),
            "points must be between 1 and {MAX_POINTS}, not {points}"
        );
        // A flag beats the file; within one source, hz and rate exclude each other.
        let (hz, rate) = if flags.hz.is_some() || flags.rate.is_some() {
            (flags.hz, flags.rate)
        } else {
            (file.hz, file.rate)
        };
        let hz = match (hz, rate) {
            (Some(_), Some(_)) => bail!("give either hz or rate, not both"),
            (Some(hz), None) => hz,
            (None, Some(rate)) => {
                ensure!(
                    rate.is_finite() && rate > 0.0,
                    "rate must be a positive number of MB/s, not {rate}"
                );
                hz_for_rate(rate, producers, points)
            }
            (None, None) => DEFAULT_HZ,
        };
        ensure!(
            hz.is_finite() && (0.0..=MAX_HZ).contains(&hz),
            "hz must be between 0 (unpaced) and {MAX_HZ} clouds per second per producer, not {hz}"
        );
        let duration = secs(
            "duration",
            flags
                .duration
                .or(file.duration)
                .unwrap_or(DEFAULT_DURATION_S),
        )?;
        ensure!(
            hz == 0.0 || hz * duration.as_secs_f64() >= 0.5,
            "at {hz} Hz a {duration:?} run logs no cloud: raise --hz or --duration"
        );
        let entities = flags.entities.or(file.entities).unwrap_or(producers);
        ensure!(
            (1..=1_000_000).contains(&entities),
            "entities must be between 1 and 1000000, not {entities}"
        );
        let backend = match (flags.backend, file.backend) {
            (Some(b), _) => b,
            (None, Some(b)) => b.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
            (None, None) => IoBackend::Auto,
        };
        let grace = match flags.grace.or(file.grace) {
            Some(g) => Some(secs("grace", g)?),
            None => None,
        };
        let sinks = if !flags.sinks.is_empty() {
            flags.sinks
        } else if let Some(list) = file.sinks {
            ensure!(!list.is_empty(), "the scenario's sinks list is empty");
            list.iter()
                .map(|s| s.parse::<SinkArg>().map_err(|e| anyhow::anyhow!("{e}")))
                .collect::<anyhow::Result<_>>()?
        } else {
            vec![SinkArg::TempFile, SinkArg::GrpcLocal]
        };
        let queue_bytes = flags
            .queue_bytes
            .or(file.queue_bytes)
            .unwrap_or(DEFAULT_MAX_QUEUE_BYTES);
        ensure!(queue_bytes > 0, "queue_bytes must be at least 1");
        Ok(Self {
            producers,
            points,
            hz,
            duration,
            entities,
            lane_policy: flags
                .lane_policy
                .or(file.lane_policy)
                .unwrap_or(PolicyArg::Block),
            sink_policy: flags
                .sink_policy
                .or(file.sink_policy)
                .unwrap_or(PolicyArg::Drop),
            queue_bytes,
            backend,
            sync: flags.sync.or(file.sync).unwrap_or(SyncArg::Close),
            grace,
            sinks,
        })
    }

    /// The grace after the load: as given, or max(1 s, 10 % of the duration).
    pub fn grace(&self) -> Duration {
        self.grace
            .unwrap_or_else(|| (self.duration / 10).max(Duration::from_secs(1)))
    }

    /// Whether producers keep a rate (`hz > 0`); unpaced producers (`hz = 0`) log as fast
    /// as the engine accepts for the duration.
    pub fn paced(&self) -> bool {
        self.hz > 0.0
    }

    /// Clouds each paced producer logs (None: unpaced).
    pub fn clouds_per_producer(&self) -> Option<u64> {
        self.paced()
            .then(|| ((self.hz * self.duration.as_secs_f64()).round() as u64).max(1))
    }

    /// Payload bytes of one cloud.
    pub fn cloud_bytes(&self) -> u64 {
        u64::from(self.points) * BYTES_PER_POINT
    }

    /// Offered payload rate of all producers, MB/s (10^6 bytes); 0 when unpaced.
    pub fn payload_mbps(&self) -> f64 {
        f64::from(self.producers) * self.hz * self.cloud_bytes() as f64 / 1e6
    }

    /// Offered points per second of all producers; 0 when unpaced.
    pub fn points_per_s(&self) -> f64 {
        f64::from(self.producers) * self.hz * f64::from(self.points)
    }

    /// The lane policy for the engine.
    pub fn lane_policy(&self) -> LanePolicy {
        match self.lane_policy {
            PolicyArg::Block => LanePolicy::Block,
            PolicyArg::Drop => LanePolicy::DropNewest,
        }
    }

    /// The sink policy for the engine.
    pub fn sink_policy(&self) -> SinkPolicy {
        match self.sink_policy {
            PolicyArg::Block => SinkPolicy::Block,
            PolicyArg::Drop => SinkPolicy::DropNewest,
        }
    }

    /// The same scenario at another payload rate (MB/s), for `--find-max`.
    pub fn at_rate(&self, mbps: f64) -> Self {
        Self {
            hz: hz_for_rate(mbps, self.producers, self.points).min(MAX_HZ),
            ..self.clone()
        }
    }
}

/// Clouds per second per producer for a total payload rate in MB/s.
pub fn hz_for_rate(mbps: f64, producers: u32, points: u32) -> f64 {
    mbps * 1e6 / (f64::from(producers) * f64::from(points) * BYTES_PER_POINT as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_args_parse() {
        assert_eq!("null".parse(), Ok(SinkArg::Null));
        assert_eq!("grpc".parse(), Ok(SinkArg::GrpcLocal));
        assert_eq!(
            "grpc:rerun+http://127.0.0.1:9876/proxy".parse(),
            Ok(SinkArg::Grpc("rerun+http://127.0.0.1:9876/proxy".into()))
        );
        assert_eq!(
            "file:/tmp/a:b.rrd".parse(),
            Ok(SinkArg::File("/tmp/a:b.rrd".into()))
        );
        assert_eq!("throttle:2.5".parse(), Ok(SinkArg::Throttle(2.5)));
        for bad in [
            "",
            "nul",
            "file",
            "file:",
            "throttle:0",
            "throttle:x",
            "null:1",
        ] {
            assert!(bad.parse::<SinkArg>().is_err(), "{bad}");
        }
    }

    #[test]
    fn default_rig_and_precedence() {
        let s = Scenario::resolve(Overrides::default(), None).unwrap();
        assert_eq!((s.producers, s.points, s.hz), (4, 262_144, 10.0));
        assert_eq!(s.sinks, vec![SinkArg::TempFile, SinkArg::GrpcLocal]);
        assert_eq!(s.grace(), Duration::from_secs(1));
        assert_eq!(s.clouds_per_producer(), Some(100));
        let file: ScenarioFile =
            toml::from_str("producers = 2\nrate = 10.0\nsinks = [\"null\"]").unwrap();
        let flags = Overrides {
            points: Some(1000),
            ..Overrides::default()
        };
        let s = Scenario::resolve(flags, Some(file)).unwrap();
        assert_eq!((s.producers, s.points), (2, 1000));
        assert!((s.payload_mbps() - 10.0).abs() < 1e-9);
        assert!(toml::from_str::<ScenarioFile>("prodcers = 2").is_err());
        let both = Overrides {
            hz: Some(1.0),
            rate: Some(1.0),
            ..Overrides::default()
        };
        assert!(Scenario::resolve(both, None).is_err());
    }
}
