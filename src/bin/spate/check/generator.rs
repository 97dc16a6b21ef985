//! The synthetic sensor load: one thread per sensor, logging through the real engine.
//!
//! * a **lidar** logs clouds of `points` points (positions, colors, radii: 20 bytes a
//!   point) at `hz`, to its entities `lidar/E`;
//! * a **camera** logs frames at `fps` to `camera/NAME`: an RGB `Image` of
//!   `width × height × 3` bytes (raw) or an `EncodedImage` of `jpeg_bytes` bytes (jpeg);
//! * an **IMU** sends `batch` samples (six scalars each) per `send_columns` call to
//!   `imu/NAME`, `hz` samples per second, so `hz / batch` calls per second.
//!
//! Frames, and clouds that pass through the engine untouched (at least its pass-through
//! size, 256 KiB by default: 13,108 points), are filled by copying a precomputed template
//! into buffers loaned from the recording's pools (no allocation and no pixel math in the
//! steady state, as a well-behaved driver would do: the generator's cost is a `memcpy`).
//! Smaller clouds, which the drain copies into a batch anyway, are all one cloud built
//! before the clock: logging it again shares its buffers (no allocation, no copy), so a
//! one-point row costs the generator little more than the `log()` itself (its frame number)
//! and the verdict is about the sinks, not the generator.
//!
//! Pacing is by absolute deadlines (`t0 + k / hz`; an IMU's call at the end of its batch's
//! sampling window), computed from the row index, so nothing drifts: a sensor that is late
//! logs its next call at once and the lateness is recorded, so a generator that cannot
//! produce the load on this machine shows in the report instead of silently lowering it.
//! A lidar paces in **wakes**: the clouds due within one [`WAKE_PERIOD`] are logged back
//! to back after one sleep and one clock read, so any rate the machine can generate can be
//! asked for (a million rows a second is a thousand wakes, not a million sleeps); its
//! wall-clock `time` is set once per wake, its `frame` once per cloud.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spate::archetype::{ColorModel, MediaType, Scalars};
use spate::{
    BatchPolicy, EncodedImage, EntityPath, Image, Loan, LoanedPoints, Points3D, Recording,
    RecordingError, TimeColumn, Timeline,
};

use super::scenario::{
    BYTES_PER_IMU_SAMPLE, BYTES_PER_POINT, Camera, CameraEncoding, IMU_VALUES_PER_SAMPLE, Imu,
    Scenario, SensorKind,
};

/// What one sensor thread did.
#[derive(Clone, Debug)]
pub struct ProducerResult {
    /// The kind of sensor.
    pub kind: SensorKind,
    /// Rows handed to the engine (accepted, or dropped by a `drop` lane): clouds, frames or
    /// IMU samples.
    pub rows_logged: u64,
    /// Their payload bytes.
    pub payload_logged: u64,
    /// Largest delay between a wake's deadline and the wake.
    pub max_lateness: Duration,
    /// Time between two wakes of the schedule (`Duration::MAX` when unpaced): being late by
    /// up to one period is on schedule.
    pub period: Duration,
    /// Time spent making and logging rows (from each wake to the end of its calls; sleeps
    /// excluded, `log()` and any wait for a full lane included).
    pub busy: Duration,
    /// When the sensor finished, from the start of the load.
    pub finished_after: Duration,
    /// An unexpected logging error (not the recording closing at the hard stop).
    pub error: Option<String>,
}

impl ProducerResult {
    fn new(kind: SensorKind, period: Duration) -> Self {
        Self {
            kind,
            rows_logged: 0,
            payload_logged: 0,
            max_lateness: Duration::ZERO,
            period,
            busy: Duration::ZERO,
            finished_after: Duration::ZERO,
            error: None,
        }
    }
}

/// How a lidar's clouds are made.
enum Clouds {
    /// One cloud built before the clock, logged every time: a clone shares its buffers, so
    /// a cloud costs no allocation and no copy. For clouds under the engine's pass-through
    /// size, which the drain copies into a batch whatever buffers they came in.
    Shared(Points3D),
    /// The template copied into pooled loans for every cloud, as a driver fills fresh
    /// buffers: for clouds that pass through the engine untouched and are written from
    /// their own memory (one buffer for all would be written cache-hot every time).
    Pooled(Template),
}

impl Clouds {
    /// The clouds of `points` points for a recording whose pass-through size is
    /// `passthrough_bytes`.
    fn new(points: u32, passthrough_bytes: usize) -> Self {
        let template = Template::lidar(points);
        if u64::from(points) * BYTES_PER_POINT < passthrough_bytes as u64 {
            Self::Shared(
                Points3D::new(template.positions)
                    .with_colors(template.colors)
                    .with_radii(template.radii),
            )
        } else {
            Self::Pooled(template)
        }
    }

    /// `shared` or `pooled`, as in the report.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Shared(_) => "shared",
            Self::Pooled(_) => "pooled",
        }
    }

    fn log(&self, rec: &Recording, entity: &EntityPath) -> Result<(), RecordingError> {
        match self {
            Self::Shared(cloud) => rec.log(entity, cloud),
            Self::Pooled(template) => {
                let (positions, colors, radii) = template.loan(rec);
                rec.log(
                    entity,
                    &Points3D::new(positions)
                        .with_colors(colors)
                        .with_radii(radii),
                )
            }
        }
    }
}

/// The engine's pass-through size: rows of at least this many payload bytes are not
/// batched (the recording's batch policy: the live defaults with the environment's
/// overrides).
fn passthrough_bytes() -> usize {
    BatchPolicy::live()
        .with_env()
        .unwrap_or_else(|_| BatchPolicy::live())
        .passthrough_bytes
}

/// One lidar rotation: `channels` rings of points on a sphere shell, colored by channel.
struct Template {
    positions: Vec<[f32; 3]>,
    colors: Vec<u32>,
    radii: Vec<f32>,
}

impl Template {
    fn lidar(points: u32) -> Self {
        const CHANNELS: u32 = 128;
        let columns = points.div_ceil(CHANNELS).max(1);
        let n = points as usize;
        let mut positions = Vec::with_capacity(n);
        let mut colors = Vec::with_capacity(n);
        for i in 0..points {
            let (channel, column) = (i % CHANNELS, i / CHANNELS);
            let azimuth = column as f32 / columns as f32 * std::f32::consts::TAU;
            let elevation = (channel as f32 / CHANNELS as f32 - 0.5) * 0.6;
            let range = 5.0 + 20.0 * ((i.wrapping_mul(2_654_435_761) >> 16) % 1000) as f32 / 1e3;
            positions.push([
                range * elevation.cos() * azimuth.cos(),
                range * elevation.cos() * azimuth.sin(),
                range * elevation.sin(),
            ]);
            let c = (channel * 2) as u8;
            colors.push(u32::from_be_bytes([c, 255 - c, 128, 255]));
        }
        Self {
            positions,
            colors,
            radii: vec![0.02; n],
        }
    }

    /// One cloud's buffers loaned from `rec`'s pools, filled with the template.
    fn loan(&self, rec: &Recording) -> (LoanedPoints, Loan<u32>, Loan<f32>) {
        let n = self.positions.len();
        let mut positions = rec.loan_points(n);
        positions.copy_from_slice(&self.positions);
        let mut colors = rec.loan_u32(n);
        colors.copy_from_slice(&self.colors);
        let mut radii = rec.loan_f32(n);
        radii.copy_from_slice(&self.radii);
        (positions, colors, radii)
    }
}

/// A valid 8 × 8 gray baseline JPEG (159 bytes, written by Pillow): every `jpeg` frame is
/// this picture, padded with comment segments to the camera's `jpeg_bytes`, so a viewer
/// decodes a small gray placeholder instead of failing on noise.
const PLACEHOLDER_JPEG: [u8; 159] = [
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x10, 0x0b, 0x0c, 0x0e, 0x0c, 0x0a, 0x10,
    0x0e, 0x0d, 0x0e, 0x12, 0x11, 0x10, 0x13, 0x18, 0x28, 0x1a, 0x18, 0x16, 0x16, 0x18, 0x31, 0x23,
    0x25, 0x1d, 0x28, 0x3a, 0x33, 0x3d, 0x3c, 0x39, 0x33, 0x38, 0x37, 0x40, 0x48, 0x5c, 0x4e, 0x40,
    0x44, 0x57, 0x45, 0x37, 0x38, 0x50, 0x6d, 0x51, 0x57, 0x5f, 0x62, 0x67, 0x68, 0x67, 0x3e, 0x4d,
    0x71, 0x79, 0x70, 0x64, 0x78, 0x5c, 0x65, 0x67, 0x63, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08,
    0x00, 0x08, 0x01, 0x01, 0x11, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc4, 0x00, 0x14,
    0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0x3f, 0xff, 0xd9,
];
/// Where the comment segments go: after the JFIF APP0 segment.
const PLACEHOLDER_SPLIT: usize = 20;

/// The placeholder JPEG padded to exactly `len` bytes (at least 163) with COM segments.
fn jpeg_frame(len: usize) -> Vec<u8> {
    /// A COM segment: marker (2), length (2, counting itself), at most 65533 bytes.
    const MAX_SEGMENT: usize = 4 + 65_533;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&PLACEHOLDER_JPEG[..PLACEHOLDER_SPLIT]);
    let mut rest = len.saturating_sub(PLACEHOLDER_JPEG.len());
    while rest > 0 {
        let mut take = rest.min(MAX_SEGMENT);
        if (1..4).contains(&(rest - take)) {
            take -= 4; // leave room for one more whole segment
        }
        let body = take - 4;
        out.extend_from_slice(&[0xff, 0xfe]);
        out.extend_from_slice(&u16::try_from(body + 2).unwrap_or(u16::MAX).to_be_bytes());
        out.resize(out.len() + body, b' ');
        rest -= take;
    }
    out.extend_from_slice(&PLACEHOLDER_JPEG[PLACEHOLDER_SPLIT..]);
    out
}

/// A raw RGB frame: diagonal color bands (a picture, not noise, in the viewer).
fn rgb_frame(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            let v = x.wrapping_add(y);
            out.extend_from_slice(&[(v % 256) as u8, (x % 256) as u8, (y % 256) as u8]);
        }
    }
    out
}

/// One camera's frame, built before the clock starts.
struct Frame {
    camera: Camera,
    bytes: Vec<u8>,
}

impl Frame {
    fn new(camera: &Camera) -> Self {
        let bytes = match camera.encoding {
            CameraEncoding::Raw => rgb_frame(camera.width, camera.height),
            CameraEncoding::Jpeg => jpeg_frame(camera.frame_bytes() as usize),
        };
        debug_assert_eq!(bytes.len() as u64, camera.frame_bytes());
        Self {
            camera: camera.clone(),
            bytes,
        }
    }

    /// One frame's buffer loaned from `rec`'s pool, filled with the template.
    fn loan(&self, rec: &Recording) -> Loan<u8> {
        let mut pixels = rec.loan_u8(self.bytes.len());
        pixels.copy_from_slice(&self.bytes);
        pixels
    }

    fn log(&self, rec: &Recording, entity: &EntityPath) -> Result<(), RecordingError> {
        let pixels = self.loan(rec);
        let c = &self.camera;
        match c.encoding {
            CameraEncoding::Raw => rec.log(
                entity,
                &Image::from_color_model(pixels, [c.width, c.height], ColorModel::Rgb)?,
            ),
            CameraEncoding::Jpeg => rec.log(
                entity,
                &EncodedImage::new(pixels).with_media_type(MediaType::JPEG),
            ),
        }
    }
}

/// One IMU's batch of values, built before the clock starts: `batch` samples of
/// accelerometer (gravity plus a vibration) and gyroscope (a slow yaw) values.
fn imu_values(batch: u32) -> Vec<f64> {
    (0..batch)
        .flat_map(|i| {
            let t = f64::from(i) * 0.01;
            [
                0.2 * (t * 31.0).sin(),
                0.2 * (t * 37.0).cos(),
                9.81 + 0.05 * (t * 53.0).sin(),
                0.01 * t.cos(),
                0.01 * t.sin(),
                0.3,
            ]
        })
        .collect()
}

/// Most clouds or frames per sensor warmed before a run (the pools keep 64 idle buffers
/// each).
const WARM_CALLS_MAX: u64 = 20;
/// A gRPC sink's default send buffer, part of what can be in flight.
const GRPC_BUFFER_BYTES: u64 = 64 << 20;

/// The templates of a run, built before the clock starts.
pub struct Prepared {
    lidar: Option<Arc<Clouds>>,
    frames: Vec<Arc<Frame>>,
    imu_values: Vec<Arc<Vec<f64>>>,
}

impl Prepared {
    /// How the lidars' clouds are made: `shared` or `pooled` (None: no lidar).
    pub fn cloud_buffers(&self) -> Option<&'static str> {
        self.lidar.as_deref().map(Clouds::as_str)
    }
}

/// The sensor threads of one run.
pub struct Generator {
    threads: Vec<JoinHandle<ProducerResult>>,
    stop: Arc<AtomicBool>,
}

fn wall_clock_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Generator {
    /// Builds the templates (a lidar scan, each camera's frame, each IMU's batch of values)
    /// and warms the recording's buffer pools with as many clouds and frames as can be in
    /// flight (lanes + a sink queue + a gRPC sink's buffer, at most [`WARM_CALLS_MAX`] per
    /// sensor): a running driver's buffers are warm, while fresh process memory costs page
    /// faults (and, on VMs that hand free memory back to the host, host faults) on first
    /// touch, which would make short runs measure the allocator instead of the sinks.
    /// Called before the clock starts.
    pub fn prepare(rec: &Recording, scenario: &Scenario) -> Prepared {
        let threads =
            (scenario.producers as usize + scenario.cameras.len() + scenario.imus.len()).max(1);
        let in_flight = spate::DEFAULT_LANE_CAPACITY_BYTES * threads as u64
            + scenario.queue_bytes
            + GRPC_BUFFER_BYTES;
        let warm_calls = |bytes: u64| -> usize {
            (in_flight / bytes.max(1) / threads as u64 + 2).min(WARM_CALLS_MAX) as usize
        };
        let lidar = scenario
            .has_lidar()
            .then(|| Arc::new(Clouds::new(scenario.points, passthrough_bytes())));
        if let Some(Clouds::Pooled(template)) = lidar.as_deref() {
            let loans: Vec<_> = (0..warm_calls(scenario.cloud_bytes())
                * scenario.producers as usize)
                .map(|_| template.loan(rec))
                .collect();
            drop(loans); // back to the pools, touched
        }
        let frames: Vec<Arc<Frame>> = scenario
            .cameras
            .iter()
            .map(|c| Arc::new(Frame::new(c)))
            .collect();
        let loans: Vec<Loan<u8>> = frames
            .iter()
            .flat_map(|f| (0..warm_calls(f.camera.frame_bytes())).map(|_| f.loan(rec)))
            .collect();
        drop(loans);
        let imu_values = scenario
            .imus
            .iter()
            .map(|m| Arc::new(imu_values(m.batch)))
            .collect();
        Prepared {
            lidar,
            frames,
            imu_values,
        }
    }

    /// Starts one thread per sensor of `scenario` logging into `rec`, paced from `t0`.
    pub fn start(
        rec: &Recording,
        scenario: &Scenario,
        prepared: &Prepared,
        t0: Instant,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let n = scenario.producers;
        // Row i of a sensor due at `t0 + i / hz` is at `wall_t0 + i / hz` on the wall clock;
        // a wake at instant `w` is at `wall_t0 + (w - t0)`.
        let wall_t0 = wall_clock_ns() - i64::try_from(t0.elapsed().as_nanos()).unwrap_or(0);
        if let Some(clouds) = &prepared.lidar {
            for p in 0..n {
                // Entities `lidar/e` go to producer e % n; a producer with none (fewer
                // entities than producers) shares entity p % entities.
                let mut entities: Vec<EntityPath> = (p..scenario.entities)
                    .step_by(n as usize)
                    .map(|e| EntityPath::parse(&format!("lidar/{e}")))
                    .collect::<Result<_, _>>()?;
                if entities.is_empty() {
                    entities.push(EntityPath::parse(&format!(
                        "lidar/{}",
                        p % scenario.entities
                    ))?);
                }
                let (rec, clouds, stop) = (rec.clone(), clouds.clone(), stop.clone());
                let cloud_bytes = scenario.cloud_bytes();
                let pace = match scenario.clouds_per_producer() {
                    Some(rows) => Pace::rows(rows, scenario.hz),
                    None => Pace::unpaced(t0 + scenario.duration, cloud_bytes),
                };
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("lidar-{p}"))
                        .spawn(move || {
                            produce(SensorKind::Lidar, pace, t0, &stop, |call| {
                                if let Some(woke) = call.woke_at {
                                    let since = woke.saturating_duration_since(t0).as_nanos();
                                    let ns = i64::try_from(since).unwrap_or(i64::MAX);
                                    rec.set_timestamp("time", wall_t0.saturating_add(ns))?;
                                }
                                let k = call.index;
                                rec.set_time_sequence(
                                    "frame",
                                    i64::try_from(k).unwrap_or(i64::MAX),
                                )?;
                                clouds
                                    .log(&rec, &entities[(k % entities.len() as u64) as usize])?;
                                Ok(cloud_bytes)
                            })
                        })?,
                );
            }
        }
        for frame in &prepared.frames {
            let camera = &frame.camera;
            let entity = EntityPath::parse(&camera.entity())?;
            let pace = Pace::every(camera.frames(scenario.duration), camera.fps);
            let (rec, frame, stop) = (rec.clone(), frame.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("camera-{}", camera.name))
                    .spawn(move || {
                        produce(SensorKind::Camera, pace, t0, &stop, |call| {
                            let k = call.index;
                            rec.set_time_sequence("frame", i64::try_from(k).unwrap_or(i64::MAX))?;
                            rec.set_timestamp("time", wall_clock_ns())?;
                            frame.log(&rec, &entity)?;
                            Ok(frame.bytes.len() as u64)
                        })
                    })?,
            );
        }
        for (imu, values) in scenario.imus.iter().zip(&prepared.imu_values) {
            let entity = EntityPath::parse(&imu.entity())?;
            let timeline = Timeline::timestamp("time")?;
            let pace = Pace::batches(imu, scenario.duration);
            let (rec, values, stop) = (rec.clone(), values.clone(), stop.clone());
            let ns_per_sample = 1e9 / imu.hz;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("imu-{}", imu.name))
                    .spawn(move || {
                        produce(SensorKind::Imu, pace, t0, &stop, |call| {
                            let (first, rows) = (call.first_row, call.rows);
                            let times: Vec<i64> = (first..first + rows)
                                .map(|i| wall_t0 + (i as f64 * ns_per_sample) as i64)
                                .collect();
                            let values = values[..rows as usize * IMU_VALUES_PER_SAMPLE].to_vec();
                            rec.send_columns(
                                &entity,
                                vec![TimeColumn::new(timeline.clone(), times)],
                                Scalars::columns_of(values, IMU_VALUES_PER_SAMPLE)?,
                            )?;
                            Ok(rows * BYTES_PER_IMU_SAMPLE)
                        })
                    })?,
            );
        }
        Ok(Self { threads, stop })
    }

    /// Whether every sensor logged all its schedule (or stopped).
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Asks the sensors to stop before their next call.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the sensors (call after [`stop`](Self::stop) or once finished; a sensor
    /// blocked in a full lane returns when the recording shuts down).
    pub fn join(self) -> Vec<ProducerResult> {
        self.threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| ProducerResult {
                    error: Some("sensor thread panicked".to_owned()),
                    ..ProducerResult::new(SensorKind::Lidar, Duration::MAX)
                })
            })
            .collect()
    }
}

/// A lidar wakes at most this often: the clouds due within one period are logged back to
/// back after one sleep (and one clock read), so a rate far above what sleeping can pace
/// costs a sleep per wake, not per row.
pub const WAKE_PERIOD: Duration = Duration::from_millis(1);
/// Most calls per wake (a paced wake at more than [`MAX_CALLS_PER_WAKE`] calls per
/// [`WAKE_PERIOD`] is shorter than the period; the stop flag is read once per wake).
const MAX_CALLS_PER_WAKE: u64 = 1024;
/// An unpaced lidar reads the clock (its end) once per this many payload bytes of clouds.
const UNPACED_WAKE_BYTES: u64 = 64 << 10;

/// How a sensor paces its calls.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// `rows` rows at `hz` rows per second, `per_call` rows per call; call k holds rows
    /// `k × per_call ..` and is due when its first row is (clouds, frames:
    /// `per_call = 1`), or, with `at_batch_end`, when its last row has been sampled (IMU
    /// batches: `t0 + min((k + 1) × per_call, rows) / hz`). Calls are made in wakes of
    /// `calls_per_wake`: a wake is due when its first call is.
    Paced {
        /// Rows in all.
        rows: u64,
        /// Rows per call.
        per_call: u64,
        /// Rows per second.
        hz: f64,
        /// Whether a call is due at the end of its rows' sampling window.
        at_batch_end: bool,
        /// Calls per wake.
        calls_per_wake: u64,
    },
    /// One row per call, as fast as the engine accepts, until this moment (read once per
    /// wake of `calls_per_wake` calls).
    Unpaced {
        /// When to stop.
        until: Instant,
        /// Calls per wake.
        calls_per_wake: u64,
    },
}

/// One call of a sensor's schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Call {
    /// The call's index, from 0.
    index: u64,
    /// Its first row's index.
    first_row: u64,
    /// Rows it holds.
    rows: u64,
    /// For the first call of a wake, when the sensor woke (its deadline, or later when
    /// late); None for the others.
    woke_at: Option<Instant>,
}

impl Pace {
    /// `rows` single-row calls at `hz`, call k at `t0 + k / hz`, in wakes of the calls due
    /// within one [`WAKE_PERIOD`] (at least 1, at most [`MAX_CALLS_PER_WAKE`]).
    fn rows(rows: u64, hz: f64) -> Self {
        let due_per_wake = (hz * WAKE_PERIOD.as_secs_f64()).floor() as u64;
        Self::Paced {
            rows,
            per_call: 1,
            hz,
            at_batch_end: false,
            calls_per_wake: due_per_wake.clamp(1, MAX_CALLS_PER_WAKE),
        }
    }

    /// `rows` single-row calls at `hz`, one call per wake (frames).
    fn every(rows: u64, hz: f64) -> Self {
        Self::Paced {
            rows,
            per_call: 1,
            hz,
            at_batch_end: false,
            calls_per_wake: 1,
        }
    }

    /// An IMU's batches, one call per wake (each call when its last sample is due).
    fn batches(imu: &Imu, duration: Duration) -> Self {
        Self::Paced {
            rows: imu.samples(duration),
            per_call: u64::from(imu.batch),
            hz: imu.hz,
            at_batch_end: true,
            calls_per_wake: 1,
        }
    }

    /// Single-row calls of `call_bytes` each until `until`, the clock read once per
    /// [`UNPACED_WAKE_BYTES`] (at least every call, at most every
    /// [`MAX_CALLS_PER_WAKE`]).
    fn unpaced(until: Instant, call_bytes: u64) -> Self {
        Self::Unpaced {
            until,
            calls_per_wake: (UNPACED_WAKE_BYTES / call_bytes.max(1)).clamp(1, MAX_CALLS_PER_WAKE),
        }
    }

    /// Time between two wakes.
    fn period(self) -> Duration {
        match self {
            Self::Paced {
                per_call,
                hz,
                calls_per_wake,
                ..
            } => Duration::from_secs_f64((calls_per_wake * per_call) as f64 / hz),
            Self::Unpaced { .. } => Duration::MAX,
        }
    }

    /// Calls per wake.
    fn calls_per_wake(self) -> u64 {
        match self {
            Self::Paced { calls_per_wake, .. } | Self::Unpaced { calls_per_wake, .. } => {
                calls_per_wake
            }
        }
    }

    /// Call k's first row and rows (None: past the end of the schedule).
    fn call(self, k: u64) -> Option<(u64, u64)> {
        match self {
            Self::Paced { rows, per_call, .. } => {
                let first = k.checked_mul(per_call).filter(|f| *f < rows)?;
                Some((first, per_call.min(rows - first)))
            }
            Self::Unpaced { .. } => Some((k, 1)),
        }
    }

    /// When the call whose rows start at `first` (and hold `rows`) is due, after `t0`:
    /// computed from the row index, never by adding periods, so nothing drifts.
    fn due(self, first: u64, rows: u64) -> Duration {
        match self {
            Self::Paced {
                hz, at_batch_end, ..
            } => {
                let row = if at_batch_end { first + rows } else { first };
                Duration::from_secs_f64(row as f64 / hz)
            }
            Self::Unpaced { .. } => Duration::ZERO,
        }
    }
}

/// Runs one sensor's schedule: `call` logs one call and returns its payload bytes.
fn produce(
    kind: SensorKind,
    pace: Pace,
    t0: Instant,
    stop: &AtomicBool,
    mut call: impl FnMut(Call) -> Result<u64, RecordingError>,
) -> ProducerResult {
    let mut result = ProducerResult::new(kind, pace.period());
    let mut now = Instant::now();
    let mut k = 0u64;
    let mut ended = false;
    while !ended && !stop.load(Ordering::Relaxed) {
        let Some((first, rows)) = pace.call(k) else {
            break;
        };
        match pace {
            Pace::Paced { .. } => {
                let deadline = t0 + pace.due(first, rows);
                if now < deadline {
                    std::thread::sleep(deadline - now);
                    now = Instant::now();
                } else {
                    result.max_lateness = result.max_lateness.max(now - deadline);
                }
            }
            Pace::Unpaced { until, .. } if now >= until => break,
            Pace::Unpaced { .. } => {}
        }
        let woke = now;
        for i in 0..pace.calls_per_wake() {
            let Some((first_row, rows)) = pace.call(k) else {
                break;
            };
            let this = Call {
                index: k,
                first_row,
                rows,
                woke_at: (i == 0).then_some(woke),
            };
            match call(this) {
                Ok(payload) => {
                    result.rows_logged += rows;
                    result.payload_logged += payload;
                    k += 1;
                }
                // The hard stop shut the recording while this sensor waited for a full lane.
                Err(RecordingError::Closed) => ended = true,
                Err(e) => {
                    result.error = Some(e.to_string());
                    ended = true;
                }
            }
            if ended {
                break;
            }
        }
        now = Instant::now();
        result.busy += now - woke;
    }
    result.finished_after = t0.elapsed();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_frames_have_the_size_asked_and_stay_one_jpeg() {
        for len in [163, 1024, 65_536 + 159, 65_537 + 159 + 3, 622_080, 1 << 20] {
            let f = jpeg_frame(len);
            assert_eq!(f.len(), len, "{len}");
            assert_eq!(&f[..2], &[0xff, 0xd8]);
            assert_eq!(&f[f.len() - 2..], &[0xff, 0xd9]);
            // Walk the segments up to the frame header: every padding segment is a whole
            // COM segment.
            let mut at = PLACEHOLDER_SPLIT;
            while f[at..at + 2] == [0xff, 0xfe] {
                at += 2 + usize::from(u16::from_be_bytes([f[at + 2], f[at + 3]]));
            }
            assert_eq!(&f[at..], &PLACEHOLDER_JPEG[PLACEHOLDER_SPLIT..], "{len}");
        }
    }

    #[test]
    fn imu_batches_are_due_when_sampled() {
        let imu = Imu {
            name: "m".into(),
            hz: 10_000.0,
            batch: 300,
        };
        let pace = Pace::batches(&imu, Duration::from_millis(100));
        assert_eq!(pace.period(), Duration::from_millis(30));
        let t0 = Instant::now();
        let stop = AtomicBool::new(false);
        let mut calls = Vec::new();
        let r = produce(SensorKind::Imu, pace, t0, &stop, |c| {
            calls.push((c.index, c.first_row, c.rows, t0.elapsed()));
            Ok(c.rows)
        });
        // 1000 samples in batches of 300: 300, 300, 300, 100, due at 30, 60, 90, 100 ms.
        let shape: Vec<_> = calls.iter().map(|c| (c.0, c.1, c.2)).collect();
        assert_eq!(
            shape,
            [(0, 0, 300), (1, 300, 300), (2, 600, 300), (3, 900, 100)]
        );
        for (c, due) in calls.iter().zip([30, 60, 90, 100]) {
            assert!(c.3 >= Duration::from_millis(due), "{c:?}");
        }
        assert_eq!(r.rows_logged, 1000);
        assert_eq!(r.payload_logged, 1000);
    }

    #[test]
    fn wakes_are_sized_by_the_rate() {
        // Clouds at 10 Hz wake per cloud; a million rows a second wake every millisecond
        // (1000 rows); beyond 1024 rows a millisecond, wakes come more often.
        for (hz, calls, period) in [
            (10.0, 1, Duration::from_millis(100)),
            (1e6, 1000, WAKE_PERIOD),
            (4e6, MAX_CALLS_PER_WAKE, Duration::from_micros(256)),
        ] {
            let pace = Pace::rows(1, hz);
            assert_eq!(
                (pace.calls_per_wake(), pace.period()),
                (calls, period),
                "{hz}"
            );
        }
        // Unpaced: the clock is read once per 64 KiB of clouds, at most every 1024 clouds.
        let until = Instant::now();
        for (bytes, calls) in [(20, MAX_CALLS_PER_WAKE), (20_000, 3), (5_242_880, 1)] {
            let pace = Pace::unpaced(until, bytes);
            assert_eq!(pace.calls_per_wake(), calls, "{bytes}");
        }
    }

    #[test]
    fn deadlines_come_from_the_row_index_and_do_not_drift() {
        // Adding a rounded period (333,333,333 ns at 3 Hz) three billion times would be a
        // second short; the deadline of row 3e9 is exactly 1e9 s.
        let pace = Pace::rows(u64::MAX, 3.0);
        assert_eq!(
            pace.due(3_000_000_000, 1),
            Duration::from_secs(1_000_000_000)
        );
        let pace = Pace::rows(u64::MAX, 1e6);
        assert_eq!(pace.due(10_000_000, 1), Duration::from_secs(10));
        assert_eq!(
            pace.due(1_000_000_001, 1),
            Duration::from_micros(1_000_000_001)
        );
    }

    #[test]
    fn rows_are_paced_in_wakes_and_every_row_is_logged_once() {
        // 100,000 rows at 10^6 rows/s: 100 wakes of 1000 rows, 0.1 s.
        let pace = Pace::rows(100_000, 1e6);
        let t0 = Instant::now();
        let stop = AtomicBool::new(false);
        let mut calls: Vec<Call> = Vec::new();
        let r = produce(SensorKind::Lidar, pace, t0, &stop, |c| {
            calls.push(c);
            Ok(20)
        });
        assert_eq!((r.rows_logged, r.payload_logged), (100_000, 2_000_000));
        assert_eq!(r.period, WAKE_PERIOD);
        assert!(r.error.is_none());
        for (i, c) in calls.iter().enumerate() {
            assert_eq!(
                (c.index, c.first_row, c.rows),
                (i as u64, i as u64, 1),
                "{c:?}"
            );
            // A wake starts every 1000 rows, never before its first row is due.
            assert_eq!(c.woke_at.is_some(), i % 1000 == 0, "{c:?}");
            if let Some(w) = c.woke_at {
                assert!(w >= t0 + pace.due(c.first_row, 1), "{c:?}");
            }
        }
        assert_eq!(calls.len(), 100_000);
        assert!(
            r.busy > Duration::ZERO && r.busy <= r.finished_after,
            "{r:?}"
        );
    }

    #[test]
    fn an_unpaced_sensor_stops_at_a_wake_boundary_after_its_end() {
        let pace = Pace::unpaced(Instant::now() + Duration::from_millis(20), 20);
        let stop = AtomicBool::new(false);
        let mut wakes = 0;
        let r = produce(SensorKind::Lidar, pace, Instant::now(), &stop, |c| {
            wakes += u64::from(c.woke_at.is_some());
            Ok(20)
        });
        assert!(r.rows_logged > 0);
        assert_eq!(r.rows_logged, wakes * MAX_CALLS_PER_WAKE);
        assert_eq!(r.period, Duration::MAX);
    }

    #[test]
    fn a_closed_recording_or_the_stop_flag_ends_a_schedule() {
        let pace = Pace::rows(1_000_000, 1e9);
        let stop = AtomicBool::new(false);
        let r = produce(SensorKind::Lidar, pace, Instant::now(), &stop, |c| {
            if c.index == 1500 {
                Err(RecordingError::Closed)
            } else {
                Ok(1)
            }
        });
        assert_eq!(r.rows_logged, 1500);
        assert!(r.error.is_none());
        stop.store(true, Ordering::Relaxed);
        let r = produce(SensorKind::Lidar, pace, Instant::now(), &stop, |_| Ok(1));
        assert_eq!(r.rows_logged, 0);
    }

    #[test]
    fn clouds_under_the_pass_through_size_share_one_cloud() {
        let passthrough = BatchPolicy::live().passthrough_bytes;
        assert_eq!(passthrough, 256 * 1024);
        assert_eq!(Clouds::new(1, passthrough).as_str(), "shared");
        assert_eq!(Clouds::new(13_107, passthrough).as_str(), "shared");
        assert_eq!(Clouds::new(13_108, passthrough).as_str(), "pooled");
        // Logged three times, the shared cloud is three rows of the template's points.
        let (sink, received) = spate::MemorySink::new();
        let rec = Recording::builder("shared").sinks(sink).start().unwrap();
        let clouds = Clouds::new(2, passthrough);
        let entity = EntityPath::parse("lidar/0").unwrap();
        for frame in 0..3 {
            rec.set_time_sequence("frame", frame).unwrap();
            clouds.log(&rec, &entity).unwrap();
        }
        let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
        assert_eq!(report.rows_logged(), 3);
        let decoded = received.decode().unwrap();
        let rows: usize = decoded
            .chunks()
            .filter(|c| c.entity().to_string() == "/lidar/0")
            .map(|c| c.num_rows())
            .sum();
        assert_eq!(rows, 3);
    }
}
