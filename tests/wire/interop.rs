//! Files written by spate's encoder and by the `points` example pass the **official**
//! Rerun 0.41 tools: `rerun rrd verify` (footer check on), `rerun rrd print -vvv`, and the
//! Python `RrdReader` (`.stream()`, `.stream().collect()` and the manifest-driven
//! `.store()`), every value compared bit-exact by `tests/interop/check_rrd.py`.
//!
//! The tools come from the virtualenv `.venv-rerun` (or `$SPATE_RERUN_VENV`), which
//! `.ci/run` installs. Without it these tests print a loud SKIP — except in CI
//! (`CI=true`), where a missing tool is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use spate::wire::{Compression, EncodedMessage, RrdEncoder, StoreInfo};
use spate::{Chunk, ChunkBuilder, EntityPath, Points3D, RowId, TimePoint};

use crate::official::{
    Data, Row, check, check_points_example, official_python, write_frames_expectation,
};

const APP: &str = "spate_interop";
const REC: &str = "rec-interop-0001";

fn write_rrd(path: &Path, chunks: &[Chunk], compression: Compression) {
    let store = StoreInfo::new(APP, REC).unwrap();
    let mut rrd = RrdEncoder::new(compression);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    rrd.write_header(&mut w).unwrap();
    rrd.write_message(&mut w, &EncodedMessage::set_store_info(&store))
        .unwrap();
    for c in chunks {
        rrd.write_message(
            &mut w,
            &EncodedMessage::arrow_msg(c, &store, compression).unwrap(),
        )
        .unwrap();
    }
    rrd.write_finish(&mut w).unwrap();
}

fn pseudo_random_cloud(n: usize, seed: u64) -> (Vec<[f32; 3]>, Vec<u32>, Vec<f32>) {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 32) as u32
    };
    // Arbitrary bit patterns (finite floats) so a single flipped bit anywhere shows.
    let mut f = move || f32::from_bits(next() & 0xbfff_ffff);
    let p: Vec<[f32; 3]> = (0..n).map(|_| [f(), f(), f()]).collect();
    let c: Vec<u32> = (0..n)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761) ^ seed as u32)
        .collect();
    let r: Vec<f32> = (0..n).map(|i| 0.001 * (i % 1000) as f32 + 0.01).collect();
    (p, c, r)
}

/// Every case the issue lists in one recording: 0, 1 and 1,000,000 points, several
/// entities, a multi-row chunk with optional components, a static chunk, and all three
/// timeline kinds.
fn matrix(compression: Compression, name: &str) {
    let Some(python) = official_python(name) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut chunks = Vec::new();
    let mut rows = Vec::new();
    for (e, n) in [0usize, 1, 1_000_000].into_iter().enumerate() {
        let (p, c, r) = pseudo_random_cloud(n, e as u64 + 11);
        let entity = format!("/cloud/{n}");
        let (frame, sim, dt) = (
            e as i64 + 3,
            1_700_000_000_000_000_000 + e as i64 * 100_000_000,
            -(e as i64) * 7,
        );
        let time = TimePoint::default()
            .with_sequence("frame", frame)
            .and_then(|t| t.with_timestamp_ns("sim_time", sim))
            .and_then(|t| t.with_duration_ns("exposure", dt))
            .unwrap();
        rows.push(Row {
            entity: entity.clone(),
            time: vec![
                ("frame", "sequence", frame),
                ("sim_time", "timestamp", sim),
                ("exposure", "duration", dt),
            ],
            components: vec![
                ("Points3D:positions", Data::F32x3(p.clone())),
                ("Points3D:colors", Data::U32(c.clone())),
                ("Points3D:radii", Data::F32(r.clone())),
            ],
        });
        let pts = Points3D::new(p).with_colors(c).with_radii(r);
        chunks.push(
            Chunk::from_row(
                EntityPath::parse(&entity).unwrap(),
                RowId::new(),
                &time,
                &pts,
            )
            .unwrap(),
        );
    }
    let mut multi = ChunkBuilder::new(EntityPath::parse("world/tracks").unwrap());
    for f in 0..4i64 {
        let p: Vec<[f32; 3]> = (0..5).map(|i| [f as f32, i as f32 * 0.5, -1.25]).collect();
        let labels: Vec<String> = (0..5).map(|i| format!("t{f}_{i}·")).collect();
        let class_ids: Vec<u16> = (0..5).map(|i| (i * 3 + f as u16) % 7).collect();
        let mut comps = vec![
            ("Points3D:positions", Data::F32x3(p.clone())),
            ("Points3D:labels", Data::Utf8(labels.clone())),
            ("Points3D:class_ids", Data::U16(class_ids.clone())),
        ];
        let mut pts = Points3D::new(p)
            .with_labels(&labels)
            .with_class_ids(class_ids);
        if f % 2 == 1 {
            // Only odd rows have colors: the column is null in the even rows.
            comps.push(("Points3D:colors", Data::U32(vec![0x00ff_00ff])));
            pts = pts.with_colors(vec![0x00ff_00ffu32]);
        }
        multi
            .push_row(
                RowId::new(),
                TimePoint::default().with_sequence("frame", f).unwrap(),
                &pts,
            )
            .unwrap();
        rows.push(Row {
            entity: "/world/tracks".into(),
            time: vec![("frame", "sequence", f)],
            components: comps,
        });
    }
    chunks.push(multi.build().unwrap());
    let origin = Points3D::new(vec![[0.0f32, 0.0, 0.0]]).with_radii([0.2f32]);
    chunks.push(
        Chunk::from_row(
            EntityPath::parse("world/origin").unwrap(),
            RowId::new(),
            &TimePoint::default(),
            &origin,
        )
        .unwrap(),
    );
    rows.push(Row {
        entity: "/world/origin".into(),
        time: vec![],
        components: vec![
            ("Points3D:positions", Data::F32x3(vec![[0.0; 3]])),
            ("Points3D:radii", Data::F32(vec![0.2])),
        ],
    });

    let rrd = dir.path().join(format!("{name}.rrd"));
    write_rrd(&rrd, &chunks, compression);
    // Messages framed here: exactly the rows given (no recording preamble, no `log_time`).
    let expect = write_frames_expectation(&rrd, APP, REC, &rows);
    check(&python, &rrd, &expect);
}

#[test]
fn encoder_output_passes_official_tools_uncompressed() {
    matrix(Compression::Off, "matrix_off");
}

#[test]
fn encoder_output_passes_official_tools_lz4() {
    matrix(Compression::Lz4, "matrix_lz4");
}

/// The `points` example binary, built by `cargo test` alongside this test.
fn points_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(Path::parent).unwrap();
    let bin = target.join("examples/points");
    if !bin.exists() {
        // Built separately (own target dir, so no lock on the running build).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop-example");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "--example", "points", "--target-dir"])
            .arg(&dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(st.success());
        return dir.join("debug/examples/points");
    }
    bin
}

#[test]
fn points_example_passes_official_tools() {
    let Some(python) = official_python("points_example") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bin = points_example();
    for (lz4, points, frames, entities) in [(false, 1000u32, 3u32, 2u32), (true, 300_000, 2, 1)] {
        let rrd = dir.path().join(format!("points_{lz4}.rrd"));
        let mut cmd = Command::new(&bin);
        cmd.arg("--out").arg(&rrd);
        for (flag, v) in [
            ("--points", points),
            ("--frames", frames),
            ("--entities", entities),
        ] {
            cmd.arg(flag).arg(v.to_string());
        }
        if lz4 {
            cmd.arg("--lz4");
        }
        assert!(cmd.status().unwrap().success());
        check_points_example(&python, &rrd, points, frames, entities);
    }
}
