//! The synthetic sensor load: one thread per sensor, logging through the real engine.
//!
//! * a **lidar** logs clouds of `points` points (positions, colors, radii: 20 bytes a
//!   point) at `hz`, to its entities `lidar/E`;
//! * a **camera** logs frames at `fps` to `camera/NAME`: an RGB `Image` of
//!   `width × height × 3` bytes (raw) or an `EncodedImage` of `jpeg_bytes` bytes (jpeg);
//! * an **IMU** sends `batch` samples (six scalars each) per `send_columns` call to
//!   `imu/NAME`, `hz` samples per second, so `hz / batch` calls per second.
//!
//! Clouds and frames are filled by copying a precomputed template into buffers loaned from
//! the recording's pools (no allocation and no pixel math in the steady state, as a
//! well-behaved driver would do: the generator's cost is a `memcpy`). Pacing is by absolute
//! deadlines (`t0 + k / hz`; an IMU's call at the end of its batch's sampling window): a
//! sensor that is late logs its next call at once and the lateness is recorded, so a
//! generator that cannot produce the load on this machine shows in the report instead of
//! silently lowering it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spate::archetype::{ColorModel, MediaType, Scalars};
use spate::{
    EncodedImage, EntityPath, Image, Loan, LoanedPoints, Points3D, Recording, RecordingError,
    TimeColumn, Timeline,
};

use super::scenario::{
    BYTES_PER_IMU_SAMPLE, Camera, CameraEncoding, IMU_VALUES_PER_SAMPLE, Imu, Scenario, SensorKind,
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
    /// Largest delay between a call's deadline and the call.
    pub max_lateness: Duration,
    /// Time between two calls of the schedule (`Duration::MAX` when unpaced).
    pub period: Duration,
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
            finished_after: Duration::ZERO,
            error: None,
        }
    }
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
    lidar: Option<Arc<Template>>,
    frames: Vec<Arc<Frame>>,
    imu_values: Vec<Arc<Vec<f64>>>,
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
            .then(|| Arc::new(Template::lidar(scenario.points)));
        if let Some(template) = &lidar {
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
        if let Some(template) = &prepared.lidar {
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
                let (rec, template, stop) = (rec.clone(), template.clone(), stop.clone());
                let pace = match scenario.clouds_per_producer() {
                    Some(clouds) => Pace::every(clouds, scenario.hz),
                    None => Pace::Unpaced {
                        until: t0 + scenario.duration,
                    },
                };
                let cloud_bytes = scenario.cloud_bytes();
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("lidar-{p}"))
                        .spawn(move || {
                            produce(SensorKind::Lidar, pace, t0, &stop, |k, _, _| {
                                rec.set_time_sequence(
                                    "frame",
                                    i64::try_from(k).unwrap_or(i64::MAX),
                                )?;
                                rec.set_timestamp("time", wall_clock_ns())?;
                                let (positions, colors, radii) = template.loan(&rec);
                                let cloud = Points3D::new(positions)
                                    .with_colors(colors)
                                    .with_radii(radii);
                                rec.log(&entities[(k as usize) % entities.len()], &cloud)?;
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
                        produce(SensorKind::Camera, pace, t0, &stop, |k, _, _| {
                            rec.set_time_sequence("frame", i64::try_from(k).unwrap_or(i64::MAX))?;
                            rec.set_timestamp("time", wall_clock_ns())?;
                            frame.log(&rec, &entity)?;
                            Ok(frame.bytes.len() as u64)
                        })
                    })?,
            );
        }
        // Sample i of an IMU is at `t0 + i / hz` on the wall clock.
        let wall_t0 = wall_clock_ns() - i64::try_from(t0.elapsed().as_nanos()).unwrap_or(0);
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
                        produce(SensorKind::Imu, pace, t0, &stop, |_, first, rows| {
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

/// How a sensor paces its calls.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// `rows` rows at `hz` rows per second, `per_call` rows per call; call k holds rows
    /// `k × per_call ..` and is due when its first row is (clouds, frames:
    /// `per_call = 1`), or, with `at_batch_end`, when its last row has been sampled (IMU
    /// batches: `t0 + min((k + 1) × per_call, rows) / hz`).
    Paced {
        /// Rows in all.
        rows: u64,
        /// Rows per call.
        per_call: u64,
        /// Rows per second.
        hz: f64,
        /// Whether a call is due at the end of its rows' sampling window.
        at_batch_end: bool,
    },
    /// One row per call, as fast as the engine accepts, until this moment.
    Unpaced {
        /// When to stop.
        until: Instant,
    },
}

impl Pace {
    /// `rows` single-row calls at `hz`, call k at `t0 + k / hz`.
    fn every(rows: u64, hz: f64) -> Self {
        Self::Paced {
            rows,
            per_call: 1,
            hz,
            at_batch_end: false,
        }
    }

    /// An IMU's batches.
    fn batches(imu: &Imu, duration: Duration) -> Self {
        Self::Paced {
            rows: imu.samples(duration),
            per_call: u64::from(imu.batch),
            hz: imu.hz,
            at_batch_end: true,
        }
    }

    /// Time between two calls.
    fn period(self) -> Duration {
        match self {
            Self::Paced { per_call, hz, .. } => Duration::from_secs_f64(per_call as f64 / hz),
            Self::Unpaced { .. } => Duration::MAX,
        }
    }
}

/// Runs one sensor's schedule: `call(k, first_row, rows)` logs call k and returns its
/// payload bytes.
fn produce(
    kind: SensorKind,
    pace: Pace,
    t0: Instant,
    stop: &AtomicBool,
    mut call: impl FnMut(u64, u64, u64) -> Result<u64, RecordingError>,
) -> ProducerResult {
    let mut result = ProducerResult::new(kind, pace.period());
    for k in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (first, rows) = match pace {
            Pace::Paced {
                rows,
                per_call,
                hz,
                at_batch_end,
            } => {
                let first = k * per_call;
                if first >= rows {
                    break;
                }
                let n = per_call.min(rows - first);
                let due_row = if at_batch_end { first + n } else { first };
                let deadline = t0 + Duration::from_secs_f64(due_row as f64 / hz);
                let now = Instant::now();
                if now < deadline {
                    std::thread::sleep(deadline - now);
                } else {
                    result.max_lateness = result.max_lateness.max(now - deadline);
                }
                (first, n)
            }
            Pace::Unpaced { until } => {
                if Instant::now() >= until {
                    break;
                }
                (k, 1)
            }
        };
        match call(k, first, rows) {
            Ok(payload) => {
                result.rows_logged += rows;
                result.payload_logged += payload;
            }
            // The hard stop shut the recording while this sensor waited for a full lane.
            Err(RecordingError::Closed) => break,
            Err(e) => {
                result.error = Some(e.to_string());
                break;
            }
        }
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
        let r = produce(SensorKind::Imu, pace, t0, &stop, |k, first, rows| {
            calls.push((k, first, rows, t0.elapsed()));
            Ok(rows)
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
}
