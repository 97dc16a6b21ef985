//! The sensors example (`examples/sensors.rs`) against the official SDK writing the same
//! contract (`sdk_reference.py sensors`): into a file, through the official gRPC receiver,
//! and as a compressed tee; the recording properties; and the automatic `log_time`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use spate::sink::{FileSink, FileSinkOptions};
use spate::wire::{DecodedRrd, decode_rrd};
use spate::{EntityPath, MemorySink, Points3D, Recording, SinkExt, SinkPolicy, TextLog, TimePoint};

use crate::harness;

/// The example's binary, built by `cargo test` beside this test binary.
fn sensors_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(Path::parent).unwrap();
    let bin = debug.join("examples").join("sensors");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds the examples; run `cargo build --example sensors`)",
        bin.display()
    );
    bin
}

fn run_example(args: &[&str]) {
    let out = Command::new(sensors_example()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "sensors {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_sensors_example_writes_what_the_sdk_writes() {
    let Some(official) = harness::official("the_sensors_example_writes_what_the_sdk_writes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sdk = official.sdk_reference("sensors", dir.path());
    let ours = dir.path().join("sensors.rrd");
    run_example(&["--out", ours.to_str().unwrap()]);
    official.assert_same(&sdk, &ours);
}

/// `--out` and `--grpc` with `--lz4`: the file and what the official receiver saved both
/// hold the SDK's data (one encoding for both sinks).
#[test]
fn the_sensors_example_as_a_compressed_tee_reaches_file_and_official_receiver() {
    let Some(official) = harness::official(
        "the_sensors_example_as_a_compressed_tee_reaches_file_and_official_receiver",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sdk = official.sdk_reference("sensors", dir.path());
    let file = dir.path().join("tee.rrd");
    let received = official.via_official_grpc(dir.path(), "sensors", |url| {
        run_example(&["--out", file.to_str().unwrap(), "--grpc", url, "--lz4"]);
    });
    official.assert_same(&sdk, &file);
    official.assert_same(&sdk, &received);
}

/// The recording's name and start time, as `rr.send_recording_name` and `rr.init` write them.
#[test]
fn recording_properties_are_what_the_sdk_writes() {
    let Some(official) = harness::official("recording_properties_are_what_the_sdk_writes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sdk = official.sdk_reference("properties", dir.path());
    let ours = dir.path().join("spate-properties.rrd");
    let file = FileSink::create(&ours, FileSinkOptions::default())
        .unwrap()
        .with_policy(SinkPolicy::Block);
    let rec = Recording::builder("spate_diff")
        .recording_id("diff-properties")
        .recording_name("diff run")
        .sinks(file)
        .start()
        .unwrap();
    rec.set_time_sequence("frame", 0).unwrap();
    rec.log(
        &EntityPath::parse("p").unwrap(),
        &Points3D::new(vec![[1.0f32, 2.0, 3.0]]),
    )
    .unwrap();
    assert!(
        rec.shutdown(Instant::now() + Duration::from_secs(30))
            .is_complete()
    );
    official.assert_same(&sdk, &ours);
}

/// The times each row of `entity` was decoded with: (timeline names, static).
fn timelines_of(
    rec: Recording,
    received: &spate::MemorySinkHandle,
    entity: &str,
) -> Vec<Vec<String>> {
    shut_down_and_decode(rec, received)
        .chunks()
        .filter(|c| c.entity().to_string() == entity)
        .flat_map(|c| {
            let names: Vec<String> = c
                .timelines()
                .iter()
                .map(|t| t.timeline().name().to_owned())
                .collect();
            std::iter::repeat_n(names, c.num_rows())
        })
        .collect()
}

/// Shuts `rec` down (nothing may be lost) and decodes what the memory sink received.
fn shut_down_and_decode(rec: Recording, received: &spate::MemorySinkHandle) -> DecodedRrd {
    assert!(
        rec.shutdown(Instant::now() + Duration::from_secs(30))
            .is_complete()
    );
    received.decode().unwrap()
}

/// The first chunk of `entity` (e.g. `/log`).
fn chunk_of<'a>(decoded: &'a DecodedRrd, entity: &str) -> &'a spate::Chunk {
    decoded
        .chunks()
        .find(|c| c.entity().to_string() == entity)
        .unwrap_or_else(|| panic!("no chunk of {entity}"))
}

/// A row logged before any time was set is temporal (on `log_time`), as with the SDK: Rerun
/// would otherwise read it as static, and each new row would replace the previous one.
#[test]
fn rows_logged_without_a_time_stay_temporal() {
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("t").sinks(sink).start().unwrap();
    let e = EntityPath::parse("log").unwrap();
    let before = std::time::SystemTime::now();
    for i in 0..3 {
        rec.log(&e, &TextLog::new(format!("line {i}"))).unwrap();
    }
    rec.set_time_sequence("frame", 7).unwrap();
    rec.log(&e, &TextLog::new("framed")).unwrap();
    rec.log_static(&e, &TextLog::new("static")).unwrap();
    rec.log_at(
        &TimePoint::default().with_sequence("step", 1).unwrap(),
        &e,
        &TextLog::new("at"),
    )
    .unwrap();
    let rows = timelines_of(rec, &received, "/log");
    let rows: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    let mut sorted = rows.clone();
    sorted.sort();
    let mut expected = vec![
        vec!["log_time"],
        vec!["log_time"],
        vec!["log_time"],
        vec!["frame", "log_time"],
        vec![],
        vec!["log_time", "step"],
    ];
    expected.sort();
    assert_eq!(sorted, expected, "{rows:?}");

    // log_time is the wall clock at the call.
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("t").sinks(sink).start().unwrap();
    rec.log(&e, &TextLog::new("now")).unwrap();
    let decoded = shut_down_and_decode(rec, &received);
    let t = chunk_of(&decoded, "/log")
        .timelines()
        .iter()
        .find(|t| t.timeline().name() == "log_time")
        .unwrap();
    let at = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let v = t.values()[0];
    assert!(v >= at && v < at + 60_000_000_000, "log_time {v} vs {at}");
}

/// Turned off, rows without a time are static again, and set times come alone.
#[test]
fn log_time_can_be_turned_off() {
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("t")
        .log_time(false)
        .sinks(sink)
        .start()
        .unwrap();
    let e = EntityPath::parse("log").unwrap();
    rec.log(&e, &TextLog::new("static now")).unwrap();
    rec.set_time_sequence("frame", 1).unwrap();
    rec.log(&e, &TextLog::new("framed")).unwrap();
    let mut rows = timelines_of(rec, &received, "/log");
    rows.sort();
    assert_eq!(rows, vec![vec![], vec!["frame".to_owned()]]);
}

/// A user timeline called `log_time` wins over the automatic one (no duplicate column).
#[test]
fn a_user_log_time_is_kept() {
    let (sink, received) = MemorySink::new();
    let rec = Recording::builder("t").sinks(sink).start().unwrap();
    let e = EntityPath::parse("log").unwrap();
    rec.set_timestamp("log_time", 42).unwrap();
    rec.log(&e, &TextLog::new("mine")).unwrap();
    let decoded = shut_down_and_decode(rec, &received);
    let chunk = chunk_of(&decoded, "/log");
    assert_eq!(chunk.timelines().len(), 1);
    assert_eq!(chunk.timelines()[0].values(), &[42]);
}

/// The example's file is readable by spate's own decoder too, with the IMU as one chunk of
/// every sample (one `send_columns` call).
#[test]
fn the_imu_of_the_sensors_example_is_one_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("sensors.rrd");
    run_example(&["--out", ours.to_str().unwrap(), "--frames", "25"]);
    let decoded = decode_rrd(std::fs::read(&ours).unwrap()).unwrap();
    let imu: Vec<_> = decoded
        .chunks()
        .filter(|c| c.entity().to_string() == "/imu/accel")
        .collect();
    assert_eq!(imu.len(), 1);
    assert_eq!(imu[0].num_rows(), 250);
    let names: Vec<&str> = imu[0]
        .timelines()
        .iter()
        .map(|t| t.timeline().name())
        .collect();
    assert_eq!(names, ["imu_time"]);
}

/// The largest part of the last message `sink` got: (address, length).
fn largest_part(got: &spate::MemorySinkHandle) -> (usize, usize) {
    let messages = got.messages();
    messages
        .last()
        .unwrap()
        .parts()
        .iter()
        .map(|p| (p.as_ptr() as usize, p.len()))
        .max_by_key(|&(_, len)| len)
        .unwrap()
}

/// Camera frames (owned, loaned, u16 depth) and a columnar IMU batch reach the sink at the
/// address the caller's buffer had: no copy between `log` / `send_columns` and the sink.
#[test]
fn large_sensor_buffers_reach_the_sink_without_a_copy() {
    use spate::archetype::{ColorModel, DepthImage, Image, Scalars};
    use spate::{TimeColumn, Timeline};
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("zero_copy").sinks(sink).start().unwrap();
    let flush = || {
        rec.flush(Instant::now() + Duration::from_secs(30)).unwrap();
    };
    let camera = EntityPath::parse("camera").unwrap();

    let pixels = vec![7u8; 1920 * 1080 * 3];
    let ptr = pixels.as_ptr() as usize;
    rec.log(
        &camera,
        &Image::from_color_model(pixels, [1920, 1080], ColorModel::Rgb).unwrap(),
    )
    .unwrap();
    flush();
    assert_eq!(largest_part(&got), (ptr, 1920 * 1080 * 3), "owned pixels");

    let mut loaned = rec.loan_u8(1920 * 1080 * 4);
    loaned.fill(9);
    let ptr = loaned.as_ptr() as usize;
    rec.log(
        &camera,
        &Image::from_color_model(loaned, [1920, 1080], ColorModel::Rgba).unwrap(),
    )
    .unwrap();
    flush();
    assert_eq!(largest_part(&got), (ptr, 1920 * 1080 * 4), "loaned pixels");

    let depth: Vec<u16> = (0..1280 * 720).map(|i| i as u16).collect();
    let ptr = depth.as_ptr() as usize;
    rec.log(
        &EntityPath::parse("depth").unwrap(),
        &DepthImage::new(depth, [1280, 720]).unwrap(),
    )
    .unwrap();
    flush();
    assert_eq!(
        largest_part(&got),
        (ptr, 1280 * 720 * 2),
        "u16 depth as bytes"
    );

    let values: Vec<f64> = (0..1_000_000).map(f64::from).collect();
    let ptr = values.as_ptr() as usize;
    let times: Vec<i64> = (0..1_000_000).collect();
    rec.send_columns(
        &EntityPath::parse("imu").unwrap(),
        vec![TimeColumn::new(
            Timeline::sequence("sample").unwrap(),
            times,
        )],
        Scalars::columns(values).unwrap(),
    )
    .unwrap();
    flush();
    // (The largest part is the 16 MB RowId column.)
    let messages = got.messages();
    let parts: Vec<(usize, usize)> = messages
        .last()
        .unwrap()
        .parts()
        .iter()
        .map(|p| (p.as_ptr() as usize, p.len()))
        .collect();
    assert!(
        parts.contains(&(ptr, 8_000_000)),
        "IMU values travelled without a copy: {parts:?}"
    );
    let report = rec.shutdown(Instant::now() + Duration::from_secs(30));
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.rows_logged(), 3 + 1_000_000);
}
