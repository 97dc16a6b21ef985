//! The official Rerun 0.41 tools as a test oracle: finding them, writing the expectation
//! files `tests/interop/check_rrd.py` reads, and running it. Shared by the test binaries
//! (`#[path]`-included), so each uses only part of it.
#![allow(dead_code)]

use std::io::Write;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use spate::sink::GrpcSink;
use spate::wire::{Compression, EncodedMessage, RrdEncoder};
use spate::{EntityPath, Recording, SinkExt, SinkPolicy};

/// The venv's python, or None (after a loud SKIP) when the tools are absent outside CI.
pub fn official_python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("SPATE_RERUN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-rerun"));
    let python = venv.join("bin/python");
    if python.exists() && venv.join("bin/rerun").exists() {
        return Some(python);
    }
    let msg = format!(
        "official Rerun tools not found in {} (run .ci/run or see README)",
        venv.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{msg}: interop tests must run in CI");
    }
    eprintln!("\n!!!!!!!! SKIP {test}: {msg} !!!!!!!!\n");
    None
}

pub fn check(python: &Path, rrd: &Path, expect: &Path) {
    check_with(python, rrd, expect, false);
}

/// Like [`check`]; `no_footer` checks a file that was cut (no End message, no footer):
/// `verify --check-footers false` and the streaming readers only.
pub fn check_with(python: &Path, rrd: &Path, expect: &Path, no_footer: bool) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/check_rrd.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(rrd).arg(expect);
    if no_footer {
        cmd.arg("--no-footer");
    }
    let out = cmd.output().expect("run check_rrd.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "official tools rejected {}:\n{text}",
        rrd.display()
    );
    let passes: &[&str] = if no_footer {
        &["OK verify", "OK print", "OK eager"]
    } else {
        &["OK verify", "OK print", "OK eager", "OK lazy"]
    };
    for pass in passes {
        assert!(
            text.contains(pass),
            "checker output lacks {pass:?}:\n{text}"
        );
    }
}

/// A component's expected values, as the checker's `dtype`s.
pub enum Data {
    F32x3(Vec<[f32; 3]>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    U16(Vec<u16>),
    /// This many `i64` scalars, each within the range (a wall-clock value, e.g. a start time).
    I64Within(usize, RangeInclusive<i64>),
    Utf8(Vec<String>),
}

/// One expected row.
pub struct Row {
    pub entity: String,
    pub time: Vec<(&'static str, &'static str, i64)>,
    pub components: Vec<(&'static str, Data)>,
}

/// Where a recording's properties are, and the one every recording has (its start time).
pub const PROPERTIES_ENTITY: &str = "/__properties";
pub const START_TIME: &str = "RecordingInfo:start_time";

/// How long before the expectation is written the rows of the file may have been logged (and
/// the recording started): wall-clock values are checked to lie within this window.
pub const WALL_CLOCK_WINDOW: Duration = Duration::from_secs(3600);

/// What a file holds besides the rows a test logged.
#[derive(Clone, Copy, Debug)]
pub struct Extras {
    /// The recording's properties row (static, at [`PROPERTIES_ENTITY`]: its start time,
    /// within the wall-clock window, and no name).
    pub properties: bool,
    /// `log_time` on every temporal row: a timestamp within the wall-clock window (its values
    /// are when each row was logged, so only their presence, kind and window are checked).
    pub log_time: bool,
}

impl Extras {
    /// What a recording (spate's `Recording`, or the official SDK) writes: both.
    pub const RECORDING: Self = Self {
        properties: true,
        log_time: true,
    };
    /// Messages framed by a test itself: nothing but its rows.
    pub const NONE: Self = Self {
        properties: false,
        log_time: false,
    };
}

/// The last [`WALL_CLOCK_WINDOW`] up to now, in ns since the Unix epoch.
fn wall_clock_window() -> RangeInclusive<i64> {
    let ns =
        |t: SystemTime| i64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap();
    let now = SystemTime::now();
    ns(now - WALL_CLOCK_WINDOW)..=ns(now)
}

/// The properties row of an unnamed recording started within the wall-clock window.
pub fn properties_row() -> Row {
    Row {
        entity: PROPERTIES_ENTITY.into(),
        time: vec![],
        components: vec![(START_TIME, Data::I64Within(1, wall_clock_window()))],
    }
}

/// Writes `EXPECT.json` (+ a side `.bin` file for numeric data) next to `rrd`, for the file
/// of a recording that logged `rows`: those, plus the recording's properties row and
/// `log_time` on every temporal row ([`Extras::RECORDING`]).
pub fn write_expectation(rrd: &Path, app: &str, recording: &str, rows: &[Row]) -> PathBuf {
    write_expectation_with(rrd, app, recording, rows, Extras::RECORDING)
}

/// Like [`write_expectation`], for a file of messages a test framed itself: exactly `rows`.
pub fn write_frames_expectation(rrd: &Path, app: &str, recording: &str, rows: &[Row]) -> PathBuf {
    write_expectation_with(rrd, app, recording, rows, Extras::NONE)
}

/// Writes `EXPECT.json` (+ a side `.bin` file for numeric data) next to `rrd`: `rows` and
/// what `extras` adds to them.
pub fn write_expectation_with(
    rrd: &Path,
    app: &str,
    recording: &str,
    rows: &[Row],
    extras: Extras,
) -> PathBuf {
    let properties = extras.properties.then(properties_row);
    let json_path = rrd.with_extension("expect.json");
    let bin_name = rrd
        .with_extension("expect.bin")
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut bin =
        std::io::BufWriter::new(std::fs::File::create(rrd.with_file_name(&bin_name)).unwrap());
    let mut offset = 0u64;
    let mut put = |bytes: &[u8], dtype: &str, count: usize| -> Value {
        bin.write_all(bytes).unwrap();
        let v = json!({"dtype": dtype, "file": bin_name, "offset": offset, "count": count});
        offset += bytes.len() as u64;
        v
    };
    let rows: Vec<Value> = properties
        .iter()
        .chain(rows)
        .map(|r| {
            let time: serde_json::Map<String, Value> = r
                .time
                .iter()
                .map(|(name, kind, v)| ((*name).to_owned(), json!({"kind": kind, "value": v})))
                .collect();
            let comps: serde_json::Map<String, Value> = r
                .components
                .iter()
                .map(|(name, d)| {
                    let v = match d {
                        Data::F32x3(v) => put(bytemuck::cast_slice(v), "f32x3", v.len()),
                        Data::U32(v) => put(bytemuck::cast_slice(v), "u32", v.len()),
                        Data::F32(v) => put(bytemuck::cast_slice(v), "f32", v.len()),
                        Data::U16(v) => put(bytemuck::cast_slice(v), "u16", v.len()),
                        Data::I64Within(count, range) => json!({
                            "dtype": "i64",
                            "count": count,
                            "range": [range.start(), range.end()],
                        }),
                        Data::Utf8(v) => json!({"dtype": "utf8", "values": v}),
                    };
                    ((*name).to_owned(), v)
                })
                .collect();
            json!({"entity": r.entity, "static": r.time.is_empty(), "time": time, "components": comps})
        })
        .collect();
    bin.flush().unwrap();
    let mut doc = json!({"application_id": app, "recording_id": recording, "rows": rows});
    if extras.log_time {
        let window = wall_clock_window();
        doc["wall_clock_timelines"] = json!({
            spate::LOG_TIME: {"kind": "timestamp", "min": window.start(), "max": window.end()}
        });
    }
    std::fs::write(&json_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    json_path
}

/// The example's data contract, written out independently of the example's code.
pub fn example_rows(points: u32, frames: u32, entities: u32) -> Vec<Row> {
    let mut rows = Vec::new();
    for f in 0..frames {
        for e in 0..entities {
            let pos = (0..points)
                .map(|i| [i as f32 * 0.001, f as f32, e as f32 + (i % 7) as f32 * 0.25])
                .collect();
            let col = (0..points)
                .map(|i| (i % 256) << 24 | (f % 256) << 16 | (e % 256) << 8 | 255)
                .collect();
            let rad = (0..points)
                .map(|i| 0.01 + (i % 10) as f32 * 0.001)
                .collect();
            rows.push(Row {
                entity: format!("/points/{e}"),
                time: vec![("frame", "sequence", i64::from(f))],
                components: vec![
                    ("Points3D:positions", Data::F32x3(pos)),
                    ("Points3D:colors", Data::U32(col)),
                    ("Points3D:radii", Data::F32(rad)),
                ],
            });
        }
    }
    rows
}

/// Checks `rrd` with the official tools against the points example (app `spate_points`,
/// recording `points-example`, [`example_rows`]).
pub fn check_points_example(python: &Path, rrd: &Path, points: u32, frames: u32, entities: u32) {
    let expect = write_expectation(
        rrd,
        "spate_points",
        "points-example",
        &example_rows(points, frames, entities),
    );
    check(python, rrd, &expect);
}

/// Logs frames `frames` of the points example (`entities` clouds of `points` points a
/// frame, `spate::demo::example_cloud`): what [`example_rows`] expects.
pub fn log_example_frames(rec: &Recording, frames: Range<u32>, points: u32, entities: u32) {
    for f in frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        for e in 0..entities {
            let p = spate::demo::example_cloud(points, f, e);
            rec.log(&EntityPath::parse(&format!("points/{e}")).unwrap(), &p)
                .unwrap();
        }
    }
}

/// The points example (app `spate_points`, recording `points-example`) streamed with
/// spate's GrpcSink to `url` (lossless), shut down within `limit` and complete.
pub fn stream_points_example(url: &str, points: u32, frames: u32, entities: u32, limit: Duration) {
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(
            GrpcSink::connect(url)
                .unwrap()
                .with_policy(SinkPolicy::Block),
        )
        .start()
        .unwrap();
    log_example_frames(&rec, 0..frames, points, entities);
    let report = rec.shutdown(Instant::now() + limit);
    assert!(report.is_complete(), "{report:#?}");
}

/// Frames `msgs` into an `.rrd` file at `path` with spate's encoder (footer from their
/// summaries); returns the bytes written.
pub fn write_rrd(path: &Path, msgs: &[EncodedMessage]) -> Vec<u8> {
    let mut rrd = RrdEncoder::new(Compression::Off);
    let mut out = Vec::new();
    rrd.write_header(&mut out).unwrap();
    for m in msgs {
        rrd.write_message(&mut out, m).unwrap();
    }
    rrd.write_finish(&mut out).unwrap();
    std::fs::write(path, &out).unwrap();
    out
}
