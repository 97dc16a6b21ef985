//! What `spate check` runs: the load (lidar producers, cloud size, rate, duration; cameras;
//! IMUs), the engine's policies and the sinks, from command-line flags over a `--scenario`
//! TOML file over the embedded default rig.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;
use spate::sink::{DEFAULT_MAX_QUEUE_BYTES, IoBackend, SinkPolicy, SyncPolicy};
use spate::{EntityPath, LanePolicy};

/// Payload bytes of one point: position (3 × f32), color (u32) and radius (f32).
pub const BYTES_PER_POINT: u64 = 20;
/// Values of one IMU sample: accelerometer and gyroscope, x, y, z (one `Scalars` row).
pub const IMU_VALUES_PER_SAMPLE: usize = 6;
/// Payload bytes of one IMU sample: its six `f64` values and its `i64` timestamp.
pub const BYTES_PER_IMU_SAMPLE: u64 = 8 * IMU_VALUES_PER_SAMPLE as u64 + 8;

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

/// The kinds of simulated sensor, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SensorKind {
    /// A lidar: one `Points3D` cloud per call.
    Lidar,
    /// A camera: one `Image` or `EncodedImage` frame per call.
    Camera,
    /// An IMU: `batch` samples per `send_columns` call.
    Imu,
}

impl SensorKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 3] = [Self::Lidar, Self::Camera, Self::Imu];

    /// As in the JSON report: `lidar`, `camera` or `imu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lidar => "lidar",
            Self::Camera => "camera",
            Self::Imu => "imu",
        }
    }

    /// What one row of this kind is, plural: `clouds`, `frames`, `IMU samples`.
    pub fn rows_noun(self) -> &'static str {
        match self {
            Self::Lidar => "clouds",
            Self::Camera => "frames",
            Self::Imu => "IMU samples",
        }
    }
}

/// How a camera's frames are logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraEncoding {
    /// An RGB `Image` of `width × height × 3` bytes.
    Raw,
    /// An `EncodedImage` (`image/jpeg`) of `jpeg_bytes` bytes.
    Jpeg,
}

impl CameraEncoding {
    /// As in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Jpeg => "jpeg",
        }
    }
}

/// A camera as given: a `[[camera]]` table of the scenario file or a `--camera` flag.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Entity `camera/NAME` (default: its index among the cameras).
    pub name: Option<String>,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// `raw` (default) or `jpeg`.
    pub encoding: Option<CameraEncoding>,
    /// Bytes of a `jpeg` frame (default: `width × height × 3 / 10`).
    pub jpeg_bytes: Option<u64>,
}

/// The form of a `--camera` value, for error messages.
pub const CAMERA_FORM: &str =
    "[NAME=]WIDTHxHEIGHT@FPS[:raw|:jpeg[=BYTES]], e.g. 1920x1080@30 or front=1920x1080@30:jpeg";
/// The form of an `--imu` value, for error messages.
pub const IMU_FORM: &str = "[NAME=]HZ[@BATCH], e.g. 1000 or main=1000@100";

impl FromStr for CameraSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = || format!("expected {CAMERA_FORM}, not {s:?}");
        let (main, encoding) = match s.split_once(':') {
            Some((m, e)) => (m, Some(e)),
            None => (s, None),
        };
        let (name, dims) = match main.split_once('=') {
            Some((n, d)) => (Some(n.to_owned()), d),
            None => (None, main),
        };
        let (size, fps) = dims.split_once('@').ok_or_else(form)?;
        let (width, height) = size.split_once('x').ok_or_else(form)?;
        let (encoding, jpeg_bytes) = match encoding {
            None | Some("raw") => (CameraEncoding::Raw, None),
            Some("jpeg") => (CameraEncoding::Jpeg, None),
            Some(e) => match e.strip_prefix("jpeg=") {
                Some(b) => (
                    CameraEncoding::Jpeg,
                    Some(b.parse::<u64>().map_err(|_| form())?),
                ),
                None => return Err(form()),
            },
        };
        let spec = Self {
            name,
            width: width.parse().map_err(|_| form())?,
            height: height.parse().map_err(|_| form())?,
            fps: fps.parse().map_err(|_| form())?,
            encoding: Some(encoding),
            jpeg_bytes,
        };
        spec.to_camera(None)
            .map_err(|e| format!("{e} ({CAMERA_FORM})"))?;
        Ok(spec)
    }
}

/// Largest camera frame (raw or encoded) accepted.
const MAX_FRAME_BYTES: u64 = 256 << 20;
/// Smallest `jpeg` frame: the placeholder JPEG the frames start with fits.
pub const MIN_JPEG_BYTES: u64 = 1024;
/// Fastest camera.
const MAX_FPS: f64 = 1000.0;
/// Fastest IMU, samples per second.
const MAX_IMU_HZ: f64 = 1_000_000.0;
/// Most `send_columns` calls per second of one IMU.
const MAX_IMU_CALLS_PER_S: f64 = 100_000.0;
/// Largest IMU batch.
const MAX_IMU_BATCH: u32 = 1_000_000;

/// A sensor's name: one entity path part.
fn check_name(kind: &str, name: &str) -> Result<(), String> {
    let valid = !name.contains('/') && EntityPath::parse(&format!("{kind}/{name}")).is_ok();
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{kind} name {name:?} is not one entity path part (letters, digits, _ - .)"
        ))
    }
}

impl CameraSpec {
    /// Checks every value; `index` (its place in the list; None: a flag being parsed)
    /// names a camera without a name.
    pub fn to_camera(&self, index: Option<usize>) -> Result<Camera, String> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| index.unwrap_or(0).to_string());
        check_name("camera", &name)?;
        let what = match (&self.name, index) {
            (Some(n), _) => format!("camera {n:?}"),
            (None, Some(i)) => format!("camera {i}"),
            (None, None) => "camera".to_owned(),
        };
        if !(1..=65_536).contains(&self.width) || !(1..=65_536).contains(&self.height) {
            return Err(format!(
                "{what}: width and height must be between 1 and 65536, not {}x{}",
                self.width, self.height
            ));
        }
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= MAX_FPS) {
            return Err(format!(
                "{what}: fps must be above 0 and at most {MAX_FPS}, not {}",
                self.fps
            ));
        }
        let encoding = self.encoding.unwrap_or(CameraEncoding::Raw);
        let raw_bytes = u64::from(self.width) * u64::from(self.height) * 3;
        let jpeg_bytes = match (encoding, self.jpeg_bytes) {
            (CameraEncoding::Raw, Some(_)) => {
                return Err(format!("{what}: jpeg_bytes needs encoding = \"jpeg\""));
            }
            (CameraEncoding::Raw, None) => 0,
            (CameraEncoding::Jpeg, Some(b)) => b,
            (CameraEncoding::Jpeg, None) => (raw_bytes / 10).max(MIN_JPEG_BYTES),
        };
        let camera = Camera {
            name,
            width: self.width,
            height: self.height,
            fps: self.fps,
            encoding,
            jpeg_bytes,
        };
        if encoding == CameraEncoding::Jpeg && jpeg_bytes < MIN_JPEG_BYTES {
            return Err(format!(
                "{what}: jpeg_bytes must be at least {MIN_JPEG_BYTES}, not {jpeg_bytes}"
            ));
        }
        if camera.frame_bytes() > MAX_FRAME_BYTES {
            return Err(format!(
                "{what}: a frame of {} bytes is over the {MAX_FRAME_BYTES} bytes accepted",
                camera.frame_bytes()
            ));
        }
        Ok(camera)
    }
}

/// One simulated camera, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    /// Entity `camera/NAME`.
    pub name: String,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Raw RGB or JPEG.
    pub encoding: CameraEncoding,
    /// Bytes of an encoded frame (0 for raw).
    pub jpeg_bytes: u64,
}

impl Camera {
    /// Its entity path.
    pub fn entity(&self) -> String {
        format!("camera/{}", self.name)
    }

    /// Payload bytes of one frame: `width × height × 3` raw, `jpeg_bytes` encoded.
    pub fn frame_bytes(&self) -> u64 {
        match self.encoding {
            CameraEncoding::Raw => u64::from(self.width) * u64::from(self.height) * 3,
            CameraEncoding::Jpeg => self.jpeg_bytes,
        }
    }

    /// Frames logged in `duration`: `round(fps × duration)`.
    pub fn frames(&self, duration: Duration) -> u64 {
        (self.fps * duration.as_secs_f64()).round() as u64
    }
}

/// An IMU as given: an `[[imu]]` table of the scenario file or an `--imu` flag.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImuSpec {
    /// Entity `imu/NAME` (default: its index among the IMUs).
    pub name: Option<String>,
    /// Samples per second.
    pub hz: f64,
    /// Samples per `send_columns` call (default: a tenth of a second's, at least 1).
    pub batch: Option<u32>,
}

impl FromStr for ImuSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = || format!("expected {IMU_FORM}, not {s:?}");
        let (name, rest) = match s.split_once('=') {
            Some((n, r)) => (Some(n.to_owned()), r),
            None => (None, s),
        };
        let (hz, batch) = match rest.split_once('@') {
            Some((h, b)) => (h, Some(b.parse::<u32>().map_err(|_| form())?)),
            None => (rest, None),
        };
        let spec = Self {
            name,
            hz: hz.parse().map_err(|_| form())?,
            batch,
        };
        spec.to_imu(None).map_err(|e| format!("{e} ({IMU_FORM})"))?;
        Ok(spec)
    }
}

impl ImuSpec {
    /// Checks every value; `index` (its place in the list; None: a flag being parsed)
    /// names an IMU without a name.
    pub fn to_imu(&self, index: Option<usize>) -> Result<Imu, String> {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| index.unwrap_or(0).to_string());
        check_name("imu", &name)?;
        let what = match (&self.name, index) {
            (Some(n), _) => format!("imu {n:?}"),
            (None, Some(i)) => format!("imu {i}"),
            (None, None) => "imu".to_owned(),
        };
        if !(self.hz.is_finite() && self.hz > 0.0 && self.hz <= MAX_IMU_HZ) {
            return Err(format!(
                "{what}: hz must be above 0 and at most {MAX_IMU_HZ} samples per second, not {}",
                self.hz
            ));
        }
        let batch = self
            .batch
            .unwrap_or_else(|| ((self.hz / 10.0).floor() as u32).max(1));
        if !(1..=MAX_IMU_BATCH).contains(&batch) {
            return Err(format!(
                "{what}: batch must be between 1 and {MAX_IMU_BATCH} samples, not {batch}"
            ));
        }
        if self.hz / f64::from(batch) > MAX_IMU_CALLS_PER_S {
            return Err(format!(
                "{what}: {} Hz in batches of {batch} is over {MAX_IMU_CALLS_PER_S} send_columns calls per second: raise batch",
                self.hz
            ));
        }
        Ok(Imu {
            name,
            hz: self.hz,
            batch,
        })
    }
}

/// One simulated IMU, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Imu {
    /// Entity `imu/NAME`.
    pub name: String,
    /// Samples per second.
    pub hz: f64,
    /// Samples per `send_columns` call.
    pub batch: u32,
}

impl Imu {
    /// Its entity path.
    pub fn entity(&self) -> String {
        format!("imu/{}", self.name)
    }

    /// Samples logged in `duration`: `round(hz × duration)`.
    pub fn samples(&self, duration: Duration) -> u64 {
        (self.hz * duration.as_secs_f64()).round() as u64
    }
}

/// The offered load of one sensor kind.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KindLoad {
    /// Sensors (threads) of this kind.
    pub sensors: u32,
    /// Rows (clouds, frames, IMU samples) the schedule holds; None: unpaced lidar.
    pub scheduled_rows: Option<u64>,
    /// Their payload bytes; None: unpaced lidar.
    pub scheduled_payload: Option<u64>,
    /// Rows per second; 0 when unpaced.
    pub rows_per_s: f64,
    /// Payload MB/s (10^6 bytes); 0 when unpaced.
    pub payload_mbps: f64,
}

/// The settings of a `--scenario` TOML file; every key is optional and a flag given on the
/// command line wins. Unknown keys are refused.
///
/// ```toml
/// producers = 2
/// points = 50000
/// hz = 20.0            # or: rate = 40.0  (MB/s of payload, all producers together);
///                      # hz = 0: unpaced, as fast as the engine accepts
/// duration = "5s"     # or seconds: 5.0
/// entities = 2
/// lane_policy = "block"
/// sink_policy = "drop"
/// queue_bytes = "256MiB"   # or bytes: 268435456
/// backend = "auto"
/// sync = "close"
/// grace = "1s"         # or seconds: 1.0
/// sinks = ["file:/tmp/x.rrd", "grpc", "null"]
///
/// [[camera]]           # one thread per camera, entity camera/NAME
/// name = "front"
/// width = 1920
/// height = 1080
/// fps = 30
/// encoding = "jpeg"    # or "raw" (the default): an RGB Image of width × height × 3 bytes
/// jpeg_bytes = 200000  # default: width × height × 3 / 10
///
/// [[imu]]              # one thread per IMU, entity imu/NAME
/// name = "main"
/// hz = 1000            # samples per second
/// batch = 100          # samples per send_columns call (default: hz / 10)
/// ```
///
/// Without `producers`, the four lidars of the default rig run only when the scenario has
/// no camera and no IMU; with one, lidars run only if `producers` says so.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Lidar producer threads.
    pub producers: Option<u32>,
    /// Points per cloud.
    pub points: Option<u32>,
    /// Clouds per second per producer.
    pub hz: Option<f64>,
    /// Payload MB/s of all producers together (instead of `hz`).
    pub rate: Option<f64>,
    /// How long the load runs: seconds, or a duration string (`"10s"`, `"2m"`).
    #[serde(default, deserialize_with = "seconds")]
    pub duration: Option<f64>,
    /// Entities.
    pub entities: Option<u32>,
    /// Lane policy.
    pub lane_policy: Option<PolicyArg>,
    /// Sink queue policy.
    pub sink_policy: Option<PolicyArg>,
    /// Sink queue bound: bytes, or a size string (`"256MiB"`).
    #[serde(default, deserialize_with = "bytes")]
    pub queue_bytes: Option<u64>,
    /// File I/O backend.
    pub backend: Option<String>,
    /// File sync policy.
    pub sync: Option<SyncArg>,
    /// Grace after the load: seconds, or a duration string.
    #[serde(default, deserialize_with = "seconds")]
    pub grace: Option<f64>,
    /// Sinks, as on the command line.
    pub sinks: Option<Vec<String>>,
    /// `[[camera]]` tables.
    pub camera: Option<Vec<CameraSpec>>,
    /// `[[imu]]` tables.
    pub imu: Option<Vec<ImuSpec>>,
}

/// A number, or a string in the units the command line takes (`spate::units`).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

/// Seconds from `duration = 5.0` or `duration = "500ms"`.
fn seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) => Ok(Some(n)),
        NumberOrText::Text(t) => spate::units::parse_seconds(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// Bytes from `queue_bytes = 268435456` or `queue_bytes = "256MiB"`.
fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) if n >= 0.0 && n.fract() == 0.0 && n < u64::MAX as f64 => {
            Ok(Some(n as u64))
        }
        NumberOrText::Number(n) => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of bytes"
        ))),
        NumberOrText::Text(t) => spate::units::parse_size(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
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
    /// `--camera` (empty: not given).
    pub cameras: Vec<CameraSpec>,
    /// `--imu` (empty: not given).
    pub imus: Vec<ImuSpec>,
}

/// A fully resolved check.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Lidar producer threads (one simulated lidar each; 0: no lidar).
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
    /// Cameras, one thread each.
    pub cameras: Vec<Camera>,
    /// IMUs, one thread each.
    pub imus: Vec<Imu>,
}

/// Largest cloud accepted (200 MB of payload).
const MAX_POINTS: u32 = 10_000_000;
/// Most producer threads.
const MAX_PRODUCERS: u32 = 256;
/// Longest run.
const MAX_DURATION_S: f64 = 3600.0;
/// Fastest cloud rate per producer accepted: a cloud a nanosecond, beyond what any machine
/// logs (a producer that cannot keep its rate is reported BEHIND SCHEDULE; `hz = 0` asks for
/// as fast as the engine accepts). The bound only keeps the schedule's row counts far inside
/// `u64` (at most 256 × 3600 × 10^9 rows).
pub const MAX_HZ: f64 = 1e9;
/// Largest lidar payload rate accepted, MB/s (1 TB/s; like [`MAX_HZ`], beyond any machine):
/// keeps the schedule's byte counts inside `u64` (at most 3.6 × 10^15 bytes).
const MAX_PAYLOAD_MBPS: f64 = 1e6;

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
        let duration = secs(
            "duration",
            flags
                .duration
                .or(file.duration)
                .unwrap_or(DEFAULT_DURATION_S),
        )?;
        // Flags replace the file's list, as --sink does.
        let cameras = if flags.cameras.is_empty() {
            file.camera.unwrap_or_default()
        } else {
            flags.cameras
        };
        let imus = if flags.imus.is_empty() {
            file.imu.unwrap_or_default()
        } else {
            flags.imus
        };
        let cameras: Vec<Camera> = cameras
            .iter()
            .enumerate()
            .map(|(i, c)| c.to_camera(Some(i)))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let imus: Vec<Imu> = imus
            .iter()
            .enumerate()
            .map(|(i, c)| c.to_imu(Some(i)))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (i, c) in cameras.iter().enumerate() {
            ensure!(
                !cameras[..i].iter().any(|o| o.name == c.name),
                "two cameras are named {:?}: give each its own name",
                c.name
            );
            ensure!(
                c.frames(duration) >= 1,
                "at {} fps a {duration:?} run logs no frame of camera {:?}: raise fps or duration",
                c.fps,
                c.name
            );
        }
        for (i, m) in imus.iter().enumerate() {
            ensure!(
                !imus[..i].iter().any(|o| o.name == m.name),
                "two IMUs are named {:?}: give each its own name",
                m.name
            );
            ensure!(
                m.samples(duration) >= 1,
                "at {} Hz a {duration:?} run logs no sample of IMU {:?}: raise hz or duration",
                m.hz,
                m.name
            );
        }
        // The default rig's lidars only when no other sensor is given.
        let default_producers = if cameras.is_empty() && imus.is_empty() {
            DEFAULT_PRODUCERS
        } else {
            0
        };
        let producers = flags
            .producers
            .or(file.producers)
            .unwrap_or(default_producers);
        ensure!(
            producers <= MAX_PRODUCERS,
            "producers must be between 0 and {MAX_PRODUCERS}, not {producers}"
        );
        let threads = producers as usize + cameras.len() + imus.len();
        ensure!(
            threads >= 1,
            "no sensor: give lidar producers (at least 1), a camera or an IMU"
        );
        ensure!(
            threads <= MAX_PRODUCERS as usize,
            "at most {MAX_PRODUCERS} sensors (lidars, cameras and IMUs together), not {threads}"
        );
        if producers == 0 {
            let lidar_keys: Vec<&str> = [
                ("points", flags.points.or(file.points).is_some()),
                ("hz", flags.hz.or(file.hz).is_some()),
                ("rate", flags.rate.or(file.rate).is_some()),
                ("entities", flags.entities.or(file.entities).is_some()),
            ]
            .iter()
            .filter(|(_, given)| *given)
            .map(|(k, _)| *k)
            .collect();
            ensure!(
                lidar_keys.is_empty(),
                "{} set the lidars, but this scenario has none (producers = 0): set producers",
                lidar_keys.join(", ")
            );
        }
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
            "hz must be between 0 (unpaced: as fast as the engine accepts) and {MAX_HZ:e} clouds \
             per second per producer, not {hz}"
        );
        let mbps = f64::from(producers) * hz * f64::from(points) * BYTES_PER_POINT as f64 / 1e6;
        ensure!(
            mbps <= MAX_PAYLOAD_MBPS,
            "{producers} producers x {points} points x {hz} Hz is {mbps:e} MB/s of payload, over \
             the {MAX_PAYLOAD_MBPS:e} MB/s accepted (hz = 0: as fast as the engine accepts)"
        );
        ensure!(
            producers == 0 || hz == 0.0 || hz * duration.as_secs_f64() >= 0.5,
            "at {hz} Hz a {duration:?} run logs no cloud: raise --hz or --duration"
        );
        let entities = if producers == 0 {
            0
        } else {
            flags.entities.or(file.entities).unwrap_or(producers)
        };
        ensure!(
            producers == 0 || (1..=1_000_000).contains(&entities),
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
            cameras,
            imus,
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

    /// Offered payload rate of all lidar producers, MB/s (10^6 bytes); 0 when unpaced.
    pub fn payload_mbps(&self) -> f64 {
        f64::from(self.producers) * self.hz * self.cloud_bytes() as f64 / 1e6
    }

    /// Offered points per second of all lidar producers; 0 when unpaced.
    pub fn points_per_s(&self) -> f64 {
        f64::from(self.producers) * self.hz * f64::from(self.points)
    }

    /// Whether the scenario has lidars (`producers > 0`).
    pub fn has_lidar(&self) -> bool {
        self.producers > 0
    }

    /// Whether the scenario has sensors other than lidars.
    pub fn has_other_sensors(&self) -> bool {
        !self.cameras.is_empty() || !self.imus.is_empty()
    }

    /// The offered load of one kind of sensor.
    pub fn load(&self, kind: SensorKind) -> KindLoad {
        let t = self.duration;
        match kind {
            SensorKind::Lidar => {
                let rows = self
                    .clouds_per_producer()
                    .map(|c| c * u64::from(self.producers));
                KindLoad {
                    sensors: self.producers,
                    scheduled_rows: rows,
                    scheduled_payload: rows.map(|r| r * self.cloud_bytes()),
                    rows_per_s: f64::from(self.producers) * self.hz,
                    payload_mbps: self.payload_mbps(),
                }
            }
            SensorKind::Camera => {
                let rows = self.cameras.iter().map(|c| c.frames(t)).sum();
                KindLoad {
                    sensors: self.cameras.len() as u32,
                    scheduled_rows: Some(rows),
                    scheduled_payload: Some(
                        self.cameras
                            .iter()
                            .map(|c| c.frames(t) * c.frame_bytes())
                            .sum(),
                    ),
                    rows_per_s: self.cameras.iter().map(|c| c.fps).sum(),
                    payload_mbps: self
                        .cameras
                        .iter()
                        .map(|c| c.fps * c.frame_bytes() as f64 / 1e6)
                        .sum(),
                }
            }
            SensorKind::Imu => {
                let rows: u64 = self.imus.iter().map(|m| m.samples(t)).sum();
                let hz: f64 = self.imus.iter().map(|m| m.hz).sum();
                KindLoad {
                    sensors: self.imus.len() as u32,
                    scheduled_rows: Some(rows),
                    scheduled_payload: Some(rows * BYTES_PER_IMU_SAMPLE),
                    rows_per_s: hz,
                    payload_mbps: hz * BYTES_PER_IMU_SAMPLE as f64 / 1e6,
                }
            }
        }
    }

    /// Payload bytes the schedule holds, every sensor (an unpaced lidar counts none).
    pub fn scheduled_payload(&self) -> u64 {
        SensorKind::ALL
            .iter()
            .filter_map(|k| self.load(*k).scheduled_payload)
            .sum()
    }

    /// Payload MB/s of the cameras and IMUs: what `--find-max` keeps as it is.
    pub fn fixed_payload_mbps(&self) -> f64 {
        self.load(SensorKind::Camera).payload_mbps + self.load(SensorKind::Imu).payload_mbps
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
            hz: hz_for_rate(mbps.min(MAX_PAYLOAD_MBPS), self.producers, self.points).min(MAX_HZ),
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

    #[test]
    fn hz_is_not_capped_at_what_sleeping_can_pace() {
        let one_point = |hz: Option<f64>, rate: Option<f64>| Overrides {
            producers: Some(2),
            points: Some(1),
            hz,
            rate,
            sinks: vec![SinkArg::Null],
            ..Overrides::default()
        };
        // A million one-point rows a second per producer (ten times the old cap), by hz
        // or by rate.
        let s = Scenario::resolve(one_point(Some(1e6), None), None).unwrap();
        assert_eq!(s.clouds_per_producer(), Some(10_000_000));
        assert_eq!(s.load(SensorKind::Lidar).scheduled_rows, Some(20_000_000));
        assert_eq!(s.load(SensorKind::Lidar).rows_per_s, 2e6);
        let s = Scenario::resolve(one_point(None, Some(40.0)), None).unwrap();
        assert_eq!(s.hz, 1e6);
        // find-max's rates are not clamped either.
        assert_eq!(s.at_rate(400.0).hz, 1e7);
        assert_eq!(
            Scenario::resolve(one_point(Some(MAX_HZ), None), None)
                .unwrap()
                .hz,
            MAX_HZ
        );
        for bad in [MAX_HZ * 2.0, f64::INFINITY, f64::NAN, -1.0] {
            let err = Scenario::resolve(one_point(Some(bad), None), None).unwrap_err();
            assert!(
                err.to_string().contains("hz must be between 0"),
                "{bad}: {err}"
            );
        }
        // 10 M points a cloud at a million clouds a second: 200 TB/s is refused.
        let flags = Overrides {
            points: Some(10_000_000),
            ..one_point(Some(1e6), None)
        };
        let err = Scenario::resolve(flags, None).unwrap_err();
        assert!(err.to_string().contains("MB/s of payload, over"), "{err}");
    }

    #[test]
    fn camera_and_imu_flags_parse() {
        let c: CameraSpec = "1920x1080@30".parse().unwrap();
        let cam = c.to_camera(Some(2)).unwrap();
        assert_eq!(
            (cam.name.as_str(), cam.width, cam.height, cam.fps),
            ("2", 1920, 1080, 30.0)
        );
        assert_eq!(cam.encoding, CameraEncoding::Raw);
        assert_eq!(cam.frame_bytes(), 1920 * 1080 * 3);
        assert_eq!(cam.entity(), "camera/2");
        let c: CameraSpec = "front=1920x1080@29.97:jpeg".parse().unwrap();
        let cam = c.to_camera(Some(0)).unwrap();
        assert_eq!(cam.name, "front");
        assert_eq!(cam.encoding, CameraEncoding::Jpeg);
        assert_eq!(cam.frame_bytes(), 1920 * 1080 * 3 / 10);
        assert_eq!(cam.frames(Duration::from_secs(10)), 300);
        let c: CameraSpec = "640x480@15:jpeg=5000".parse().unwrap();
        assert_eq!(c.to_camera(None).unwrap().frame_bytes(), 5000);
        // A tiny jpeg camera gets at least the smallest frame.
        let c: CameraSpec = "8x8@1:jpeg".parse().unwrap();
        assert_eq!(c.to_camera(None).unwrap().frame_bytes(), MIN_JPEG_BYTES);
        for bad in [
            "",
            "1920x1080",
            "1920@30",
            "x1080@30",
            "1920x1080@",
            "1920x1080@30:",
            "1920x1080@30:png",
            "1920x1080@30:jpeg=",
            "1920x1080@30:raw=5",
            "0x1080@30",
            "1920x1080@0",
            "1920x1080@-1",
            "1920x1080@nan",
            "1920x1080@2000",
            "20000x20000@1",
            "a/b=1x1@1",
            "=1x1@1",
            "1x1@1:jpeg=100",
        ] {
            let err = bad.parse::<CameraSpec>().unwrap_err();
            assert!(err.contains("WIDTHxHEIGHT@FPS"), "{bad}: {err}");
        }
        let m: ImuSpec = "1000".parse().unwrap();
        let imu = m.to_imu(Some(1)).unwrap();
        assert_eq!((imu.name.as_str(), imu.hz, imu.batch), ("1", 1000.0, 100));
        assert_eq!(imu.entity(), "imu/1");
        assert_eq!(imu.samples(Duration::from_millis(2500)), 2500);
        let m: ImuSpec = "main=400@7".parse().unwrap();
        let imu = m.to_imu(Some(0)).unwrap();
        assert_eq!((imu.name.as_str(), imu.batch), ("main", 7));
        // Slower than 10 Hz: one sample per call.
        let m: ImuSpec = "5".parse().unwrap();
        assert_eq!(m.to_imu(None).unwrap().batch, 1);
        for bad in [
            "",
            "x",
            "0",
            "-1",
            "1000@",
            "1000@0",
            "1000@x",
            "1000000@1",
            "a/b=1",
        ] {
            let err = bad.parse::<ImuSpec>().unwrap_err();
            assert!(err.contains("HZ[@BATCH]"), "{bad}: {err}");
        }
    }

    #[test]
    fn lidars_default_only_without_other_sensors() {
        let camera: CameraSpec = "64x48@30".parse().unwrap();
        let imu: ImuSpec = "100".parse().unwrap();
        // A camera alone: no lidar.
        let flags = Overrides {
            cameras: vec![camera.clone()],
            ..Overrides::default()
        };
        let s = Scenario::resolve(flags, None).unwrap();
        assert_eq!((s.producers, s.entities), (0, 0));
        assert!(!s.has_lidar() && s.has_other_sensors());
        let lidar = s.load(SensorKind::Lidar);
        assert_eq!((lidar.sensors, lidar.scheduled_rows), (0, Some(0)));
        assert_eq!(lidar.payload_mbps, 0.0);
        assert_eq!(s.load(SensorKind::Camera).scheduled_rows, Some(300));
        assert_eq!(s.scheduled_payload(), 300 * 64 * 48 * 3);
        // With producers given, both.
        let flags = Overrides {
            producers: Some(2),
            imus: vec![imu.clone()],
            ..Overrides::default()
        };
        let s = Scenario::resolve(flags, None).unwrap();
        assert_eq!((s.producers, s.points, s.entities), (2, DEFAULT_POINTS, 2));
        assert_eq!(s.load(SensorKind::Imu).scheduled_rows, Some(1000));
        assert_eq!(
            s.load(SensorKind::Imu).scheduled_payload,
            Some(1000 * BYTES_PER_IMU_SAMPLE)
        );
        assert!((s.fixed_payload_mbps() - 100.0 * 56.0 / 1e6).abs() < 1e-12);
        // Flags replace the file's tables; the file's tables count without flags.
        let file: ScenarioFile = toml::from_str(
            "[[camera]]\nname = \"a\"\nwidth = 4\nheight = 4\nfps = 10\n\
             [[camera]]\nwidth = 4\nheight = 4\nfps = 10\nencoding = \"jpeg\"\n\
             [[imu]]\nhz = 50\nbatch = 5\n",
        )
        .unwrap();
        let s = Scenario::resolve(Overrides::default(), Some(file)).unwrap();
        let names: Vec<&str> = s.cameras.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "1"]);
        assert_eq!((s.imus.len(), s.imus[0].batch), (1, 5));
        let file: ScenarioFile =
            toml::from_str("[[camera]]\nwidth = 4\nheight = 4\nfps = 10\n").unwrap();
        let flags = Overrides {
            imus: vec![imu],
            cameras: vec![camera],
            ..Overrides::default()
        };
        let s = Scenario::resolve(flags, Some(file)).unwrap();
        assert_eq!((s.cameras.len(), s.cameras[0].width), (1, 64));
        // Lidar settings without lidars, no sensor at all, a camera named twice.
        let file: ScenarioFile =
            toml::from_str("producers = 0\nhz = 5.0\n[[imu]]\nhz = 10\n").unwrap();
        let err = Scenario::resolve(Overrides::default(), Some(file)).unwrap_err();
        assert!(err.to_string().contains("hz set the lidars"), "{err}");
        let none = Overrides {
            producers: Some(0),
            ..Overrides::default()
        };
        assert!(Scenario::resolve(none, None).is_err());
        let twice: ScenarioFile = toml::from_str(
            "[[camera]]\nname = \"x\"\nwidth = 4\nheight = 4\nfps = 10\n\
             [[camera]]\nname = \"x\"\nwidth = 4\nheight = 4\nfps = 10\n",
        )
        .unwrap();
        assert!(Scenario::resolve(Overrides::default(), Some(twice)).is_err());
        assert!(toml::from_str::<ScenarioFile>("[[imu]]\nhz = 1\nbatsh = 2\n").is_err());
    }
}
