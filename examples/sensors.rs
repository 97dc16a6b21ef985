//! A deterministic multi-sensor rig: camera (raw, JPEG, depth), pose, log lines and an IMU.
//!
//! ```text
//! cargo run --release --example sensors -- [--out FILE] [--grpc URL] [--frames F] [--lz4]
//! ```
//!
//! Other tools check this recording from outside the repository, so its contents are a
//! contract. Application id `spate_sensors`, recording id `sensors-example`; timeline
//! `frame` (sequence) = f for every per-frame row, f in 0..F (default 10):
//!
//! - `camera/front`: `Pinhole`, static, image_from_camera = row-major
//!   [[500, 0, 320], [0, 500, 240], [0, 0, 1]], resolution [640, 480];
//! - `camera/front/image`: `Image`, 64 wide × 48 high, RGB, u8, row-major height × width × 3;
//!   pixel (x, y) = [(x + f) % 256, (y + f) % 256, (x·y + f) % 256];
//! - `camera/front/jpeg`: `EncodedImage`, media type `image/jpeg`, bytes `FF D8` + ASCII
//!   `spate-frame-{f}` + `FF D9` (opaque; nothing decodes them);
//! - `camera/front/depth`: `DepthImage`, 32 × 24, u16, value (x, y) = 1000 + x + 100·y + f,
//!   meter = 1000;
//! - `world/robot`: `Transform3D`, translation [0.5·f, 0, 0], quaternion (x, y, z, w) =
//!   [0, 0, sin(0.05·f), cos(0.05·f)], computed in f64 and stored as f32;
//! - `log`: `TextLog`, text `frame {f}`, level `INFO`;
//! - `imu/accel`: `Scalars` on timeline `imu_time` (timestamp, ns) only: for every frame f and
//!   k in 0..10, time 1_700_000_000_000_000_000 + f·10_000_000 + k·1_000_000 and value
//!   sin(0.01·(10·f + k)) as f64 — all 10·F samples sent in one `send_columns` call after
//!   the frame loop.
//!
//! Every temporal row also carries the automatic `log_time` timeline, and the recording its
//! `RecordingInfo` properties (start time), as the official SDK writes them.
//! `--out` and `--grpc` together are a tee: each chunk is encoded once for both.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use spate::archetype::{
    ColorModel, DepthImage, EncodedImage, Image, MediaType, Pinhole, Scalars, TextLog,
    TextLogLevel, Transform3D,
};
use spate::sink::{FileSink, FileSinkOptions, GrpcSink};
use spate::wire::Compression;
use spate::{
    EntityPath, Recording, SinkExt, SinkPolicy, SinkSpec, TimeColumn, TimeError, Timeline,
};

#[derive(Parser)]
#[command(about = "Write a deterministic multi-sensor recording (camera, depth, pose, log, IMU)")]
struct Args {
    /// Output `.rrd` file.
    #[arg(long, required_unless_present = "grpc")]
    out: Option<PathBuf>,
    /// Also (or only) stream to a Rerun gRPC endpoint, e.g. `rerun+http://127.0.0.1:9876/proxy`.
    #[arg(long)]
    grpc: Option<String>,
    /// Frames.
    #[arg(long, default_value_t = 10)]
    frames: u32,
    /// LZ4-compress chunk payloads.
    #[arg(long)]
    lz4: bool,
}

/// First IMU sample time: 2023-11-14T22:13:20Z, in ns since the Unix epoch.
const IMU_T0_NS: i64 = 1_700_000_000_000_000_000;
/// IMU samples per frame.
const IMU_PER_FRAME: i64 = 10;

/// Frame `f` of the RGB camera: 48 rows × 64 columns × RGB.
fn rgb_frame(f: u32) -> Vec<u8> {
    let (w, h) = (64u32, 48u32);
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            pixels.extend([(x + f) % 256, (y + f) % 256, (x * y + f) % 256].map(|c| c as u8));
        }
    }
    pixels
}

/// Frame `f` of the depth camera: 24 rows × 32 columns of millimetres.
fn depth_frame(f: u32) -> Vec<u16> {
    let (w, h) = (32u32, 24u32);
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (1000 + x + 100 * y + f) as u16))
        .collect()
}

/// The "JPEG" of frame `f`: SOI, an ASCII tag, EOI.
fn jpeg_frame(f: u32) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8];
    bytes.extend_from_slice(format!("spate-frame-{f}").as_bytes());
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// Every IMU sample of `frames` frames: (times, values).
fn imu_samples(frames: u32) -> (Vec<i64>, Vec<f64>) {
    let n = frames as usize * IMU_PER_FRAME as usize;
    let mut times = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for f in 0..i64::from(frames) {
        for k in 0..IMU_PER_FRAME {
            times.push(IMU_T0_NS + f * 10_000_000 + k * 1_000_000);
            values.push((0.01 * (IMU_PER_FRAME * f + k) as f64).sin());
        }
    }
    (times, values)
}

fn entity(path: &str) -> anyhow::Result<EntityPath> {
    Ok(EntityPath::parse(path)?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let compression = if args.lz4 {
        Compression::Lz4
    } else {
        Compression::Off
    };
    let mut sinks: Vec<SinkSpec> = Vec::new();
    if let Some(out) = &args.out {
        let sink = FileSink::create(out, FileSinkOptions::default())
            .with_context(|| format!("creating {}", out.display()))?;
        sinks.push(sink.with_policy(SinkPolicy::Block));
    }
    if let Some(url) = &args.grpc {
        let sink = GrpcSink::connect(url).with_context(|| format!("connecting to {url}"))?;
        sinks.push(sink.with_policy(SinkPolicy::Block));
    }
    let rec = Recording::builder("spate_sensors")
        .recording_id("sensors-example")
        .compression(compression)
        .sinks(sinks)
        .start()?;

    let camera = entity("camera/front")?;
    let image = entity("camera/front/image")?;
    let jpeg = entity("camera/front/jpeg")?;
    let depth = entity("camera/front/depth")?;
    let robot = entity("world/robot")?;
    let log = entity("log")?;
    let imu = entity("imu/accel")?;

    let start = Instant::now();
    rec.log_static(
        &camera,
        &Pinhole::new([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
            .with_resolution([640.0, 480.0]),
    )?;
    for f in 0..args.frames {
        rec.set_time_sequence("frame", i64::from(f))?;
        // Owned buffers: the chunk's Arrow arrays are these allocations (no copy).
        rec.log(
            &image,
            &Image::from_color_model(rgb_frame(f), [64, 48], ColorModel::Rgb)?,
        )?;
        rec.log(
            &jpeg,
            &EncodedImage::new(jpeg_frame(f)).with_media_type(MediaType::JPEG),
        )?;
        rec.log(
            &depth,
            &DepthImage::new(depth_frame(f), [32, 24])?.with_meter(1000.0),
        )?;
        let half_angle = 0.05 * f64::from(f);
        rec.log(
            &robot,
            &Transform3D::new()
                .with_translation([(0.5 * f64::from(f)) as f32, 0.0, 0.0])
                .with_quaternion([0.0, 0.0, half_angle.sin() as f32, half_angle.cos() as f32]),
        )?;
        rec.log(
            &log,
            &TextLog::new(format!("frame {f}")).with_level(TextLogLevel::Info),
        )?;
    }
    // The IMU: every sample in one call, one chunk, on its own timeline only.
    let (times, values) = imu_samples(args.frames);
    let imu_time = Timeline::timestamp("imu_time").map_err(|e: TimeError| anyhow::anyhow!(e))?;
    rec.send_columns(
        &imu,
        vec![TimeColumn::new(imu_time, times)],
        Scalars::columns(values)?,
    )?;

    let report = rec.shutdown(Instant::now() + Duration::from_secs(60));
    anyhow::ensure!(
        report.is_complete(),
        "not everything was delivered: {report:#?}"
    );
    for sink in &report.sinks {
        eprintln!(
            "{}: {} messages, {} bytes",
            sink.stats.name, sink.stats.messages, sink.stats.bytes
        );
    }
    eprintln!(
        "{} frames: {} rows in {} chunks in {:.2?}",
        args.frames,
        report.rows_logged(),
        report.stats.chunks_encoded,
        start.elapsed()
    );
    Ok(())
}
