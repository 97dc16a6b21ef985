//! `spate inspect`: runs the binary on the official fixtures, on files written with the
//! library (as `examples/points.rs` does), on a cut-off copy, on garbage and on a missing
//! file, and checks output and exit codes.

#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use cli::json_output;
use predicates::prelude::*;
use serde_json::Value;
use spate::wire::{Compression, EncodedMessage, RrdEncoder, StoreInfo};
use spate::{Chunk, EntityPath, RowId, TimePoint};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/rerun-0.41/"
);

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn spate() -> Command {
    cargo_bin_cmd!("spate")
}

/// Runs `spate inspect --json FILE`, checks the exit code and parses stdout.
fn inspect_json(file: &Path, code: i32) -> Value {
    json_output(spate().arg("inspect").arg("--json").arg(file), code)
}

fn entity<'a>(report: &'a Value, path: &str) -> &'a Value {
    report["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .unwrap_or_else(|| panic!("no entity {path} in {:#}", report["entities"]))
}

fn timeline<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["timelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no timeline {name} in {:#}", report["timelines"]))
}

// ---- official fixtures ---------------------------------------------------------------

#[test]
fn fixture_points3d_human() {
    let file = fixture("points3d_1000x3.rrd");
    spate()
        .arg("inspect")
        .arg(&file)
        .assert()
        .code(0)
        .stderr("")
        .stdout(predicate::str::is_match(r"(?m)^  /points\s+1\s+3\s+3000\s+no\s+Points3D:colors, Points3D:positions, Points3D:radii$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^  /__properties\s+1\s+1\s+1\s+yes\s+RecordingInfo:start_time$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^stream header\s+Rerun 0\.41\.0, LZ4 on").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^  recording\s+fixture_points3d\s+fixture-points3d-0001\s").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^  frame\s+sequence\s+0\s+2\s+1$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^footer\s+present at offset \d+, valid: 1 manifest\(s\), 2 manifest row\(s\)$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^compression\s+lz4, ratio \d+\.\d\d$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^truncation\s+none$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^status\s+ok$").unwrap());
}

#[test]
fn fixture_points3d_json() {
    let file = fixture("points3d_1000x3.rrd");
    let r = inspect_json(&file, 0);
    assert_eq!(r["status"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["size"], std::fs::metadata(&file).unwrap().len());
    assert_eq!(r["streams"].as_array().unwrap().len(), 1);
    assert_eq!(r["streams"][0]["rerun_version"], "0.41.0");
    assert_eq!(
        r["streams"][0]["version_bytes"],
        serde_json::json!([0, 41, 0, 0])
    );
    assert_eq!(r["streams"][0]["lz4"], true);
    assert_eq!(
        r["messages"],
        serde_json::json!({"set_store_info": 2, "arrow_msg": 2, "blueprint_activation_command": 0, "end": 1})
    );

    let recs = r["recordings"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["kind"], "recording");
    assert_eq!(recs[0]["application_id"], "fixture_points3d");
    assert_eq!(recs[0]["recording_id"], "fixture-points3d-0001");
    assert_eq!(recs[0]["set_store_info"], 2);
    assert_eq!(recs[0]["chunks"], 2);
    assert_eq!(recs[0]["source"], "python_sdk");
    assert_eq!(recs[0]["store_version"], "0.41.0");

    assert_eq!(r["entities"].as_array().unwrap().len(), 2);
    let points = entity(&r, "/points");
    assert_eq!(points["chunks"], 1);
    assert_eq!(points["rows"], 3);
    assert_eq!(points["points"], 3000);
    assert_eq!(points["static"], false);
    assert_eq!(points["static_chunks"], 0);
    assert_eq!(
        points["components"],
        serde_json::json!(["Points3D:colors", "Points3D:positions", "Points3D:radii"])
    );
    let props = entity(&r, "/__properties");
    assert_eq!(props["static"], true);
    assert_eq!(props["rows"], 1);

    let frame = timeline(&r, "frame");
    assert_eq!(frame["kind"], "sequence");
    assert_eq!(
        (frame["min"].as_i64(), frame["max"].as_i64()),
        (Some(0), Some(2))
    );
    assert_eq!(frame["min_utc"], Value::Null);
    assert_eq!(frame["chunks"], 1);
    let log_time = timeline(&r, "log_time");
    assert_eq!(log_time["kind"], "timestamp");
    assert!(log_time["min_utc"].as_str().unwrap().ends_with('Z'));

    assert_eq!(
        r["chunks"],
        serde_json::json!({"total": 2, "static": 1, "rows": 4})
    );
    let p = &r["payload"];
    assert_eq!(p["compression"], "lz4");
    assert!(p["ipc_bytes"].as_u64().unwrap() > p["arrow_payload_bytes"].as_u64().unwrap());
    assert!(p["ratio"].as_f64().unwrap() > 1.0);
    // Every message body plus 12 (stream header) + 5 × 16 (message headers) + 32
    // (stream footer) is the whole file.
    assert_eq!(
        p["message_bytes"].as_u64().unwrap() + 12 + 5 * 16 + 32,
        r["size"].as_u64().unwrap()
    );

    let f = &r["footer"];
    assert_eq!(f["present"], true);
    assert_eq!(f["valid"], true);
    assert_eq!(f["problems"], serde_json::json!([]));
    assert_eq!(f["manifests"], 1);
    assert_eq!(f["manifest_rows"], 2);
    assert_eq!(r["truncation"], Value::Null);
}

#[test]
fn fixture_grpc_nofooter() {
    let file = fixture("points3d_grpc_saved_nofooter.rrd");
    spate()
        .arg("inspect")
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::is_match(r"(?m)^footer\s+absent$").unwrap())
        .stdout(predicate::str::contains("status         no footer"))
        .stdout(predicate::str::is_match(r"(?m)^  /points\s+1\s+3\s+600\s+no\s").unwrap());

    let r = inspect_json(&file, 1);
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(r["status"], "no_footer");
    assert_eq!(r["exit_code"], 1);
    assert_eq!(r["footer"]["present"], false);
    assert_eq!(r["messages"]["end"], 0);
    assert_eq!(r["truncation"]["reason_code"], "no_end_message");
    assert_eq!(r["truncation"]["offset"], size);
    assert_eq!(entity(&r, "/points")["points"], 600);
    assert_eq!(r["recordings"][0]["application_id"], "fixture_grpc");
    assert_eq!(r["recordings"][0]["recording_id"], "fixture-grpc-0001");
}

#[test]
fn fixture_two_entities_two_timelines() {
    let file = fixture("two_entities_two_timelines.rrd");
    spate()
        .arg("inspect")
        .arg(&file)
        .assert()
        .code(0)
        .stdout(predicate::str::is_match(r"(?m)^  frame\s+sequence\s+0\s+3\s+2$").unwrap())
        .stdout(
            predicate::str::is_match(
                r"(?m)^  sim_time\s+timestamp\s+1700000000000000000\s+1700000000300000000\s+2\s+2023-11-14T22:13:20Z \.\. 2023-11-14T22:13:20\.300Z$",
            )
            .unwrap(),
        )
        .stdout(predicate::str::is_match(r"(?m)^  /world/origin\s+1\s+1\s+1\s+yes\s+Points3D:positions, Points3D:radii$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^status\s+ok$").unwrap());

    let r = inspect_json(&file, 0);
    let frame = timeline(&r, "frame");
    assert_eq!(frame["kind"], "sequence");
    assert_eq!(
        (frame["min"].as_i64(), frame["max"].as_i64()),
        (Some(0), Some(3))
    );
    assert_eq!(frame["chunks"], 2);
    let sim = timeline(&r, "sim_time");
    assert_eq!(sim["kind"], "timestamp");
    assert_eq!(sim["min"].as_i64(), Some(1_700_000_000_000_000_000));
    assert_eq!(sim["max"].as_i64(), Some(1_700_000_000_300_000_000));
    assert_eq!(sim["min_utc"], "2023-11-14T22:13:20Z");
    assert_eq!(sim["max_utc"], "2023-11-14T22:13:20.300Z");
    assert_eq!(sim["chunks"], 2);

    let origin = entity(&r, "/world/origin");
    assert_eq!(origin["static"], true);
    assert_eq!(origin["rows"], 1);
    assert_eq!(origin["points"], 1);
    let lidar = entity(&r, "/world/lidar");
    assert_eq!(
        (lidar["rows"].as_u64(), lidar["points"].as_u64()),
        (Some(4), Some(1200))
    );
    assert_eq!(lidar["static"], false);
    let radar = entity(&r, "/world/radar");
    assert_eq!(
        (radar["rows"].as_u64(), radar["points"].as_u64()),
        (Some(4), Some(200))
    );
    assert!(
        radar["components"]
            .as_array()
            .unwrap()
            .contains(&"Points3D:labels".into())
    );

    assert_eq!(
        r["chunks"],
        serde_json::json!({"total": 4, "static": 2, "rows": 10})
    );
    assert_eq!(r["footer"]["valid"], true);
    assert_eq!(r["footer"]["manifest_rows"], 4);
}

// ---- files written with the library -------------------------------------------------

/// What `cargo run --example points -- --points N --frames F --entities E [--lz4]` writes.
fn points_file(n: u32, frames: u32, entities: u32, compression: Compression) -> Vec<u8> {
    let store = StoreInfo::new("spate_points", "points-example").unwrap();
    let mut rrd = RrdEncoder::new(compression);
    let mut w = Vec::new();
    rrd.write_header(&mut w).unwrap();
    rrd.write_message(&mut w, &EncodedMessage::set_store_info(&store))
        .unwrap();
    for f in 0..frames {
        let time = TimePoint::default()
            .with_sequence("frame", i64::from(f))
            .unwrap();
        for e in 0..entities {
            let entity = EntityPath::parse(&format!("points/{e}")).unwrap();
            let chunk = Chunk::from_row(
                entity,
                RowId::new(),
                &time,
                &spate::demo::example_cloud(n, f, e),
            )
            .unwrap();
            let msg = EncodedMessage::arrow_msg(&chunk, &store, compression).unwrap();
            rrd.write_message(&mut w, &msg).unwrap();
        }
    }
    rrd.write_finish(&mut w).unwrap();
    w
}

/// Offsets of the message headers of a single-stream `.rrd`, found by walking the framing
/// (independently of the decoder under test).
fn message_offsets(bytes: &[u8]) -> Vec<u64> {
    let mut offsets = Vec::new();
    let mut pos = 12usize;
    while pos + 16 <= bytes.len() {
        offsets.push(pos as u64);
        let kind = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap());
        let len = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().unwrap());
        pos += 16 + len as usize;
        if kind == 0 {
            break; // End: the StreamFooter follows.
        }
    }
    offsets
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn points_example_file() {
    let dir = tempfile::tempdir().unwrap();
    for (compression, name) in [(Compression::Off, "none"), (Compression::Lz4, "lz4")] {
        let bytes = points_file(100, 3, 2, compression);
        let file = write_temp(&dir, &format!("points_{name}.rrd"), &bytes);
        let r = inspect_json(&file, 0);
        assert_eq!(r["status"], "ok", "{name}");
        assert_eq!(r["size"], bytes.len() as u64);
        assert_eq!(r["streams"][0]["rerun_version"], "0.41.0");
        assert_eq!(r["streams"][0]["lz4"], name == "lz4");
        assert_eq!(
            r["messages"],
            serde_json::json!({"set_store_info": 1, "arrow_msg": 6, "blueprint_activation_command": 0, "end": 1})
        );
        let recs = r["recordings"].as_array().unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0]["application_id"], "spate_points");
        assert_eq!(recs[0]["recording_id"], "points-example");
        assert_eq!(recs[0]["set_store_info"], 1);
        assert_eq!(recs[0]["chunks"], 6);
        assert_eq!(recs[0]["rows"], 6);
        assert_eq!(recs[0]["source"], "other");
        assert_eq!(
            recs[0]["source_detail"],
            concat!("spate ", env!("CARGO_PKG_VERSION"))
        );

        assert_eq!(r["entities"].as_array().unwrap().len(), 2);
        for path in ["/points/0", "/points/1"] {
            let e = entity(&r, path);
            assert_eq!(e["chunks"], 3, "{path}");
            assert_eq!(e["rows"], 3, "{path}");
            assert_eq!(e["points"], 300, "{path}");
            assert_eq!(e["static"], false, "{path}");
            assert_eq!(
                e["components"],
                serde_json::json!(["Points3D:colors", "Points3D:positions", "Points3D:radii"])
            );
        }
        assert_eq!(r["timelines"].as_array().unwrap().len(), 1);
        let frame = timeline(&r, "frame");
        assert_eq!(frame["kind"], "sequence");
        assert_eq!(
            (frame["min"].as_i64(), frame["max"].as_i64()),
            (Some(0), Some(2))
        );
        assert_eq!(frame["chunks"], 6);

        assert_eq!(
            r["chunks"],
            serde_json::json!({"total": 6, "static": 0, "rows": 6})
        );
        let p = &r["payload"];
        assert_eq!(
            p["message_bytes"].as_u64().unwrap() + 12 + 8 * 16 + 32,
            bytes.len() as u64
        );
        assert_eq!(p["compression"], name);
        if name == "none" {
            assert_eq!(p["arrow_payload_bytes"], p["ipc_bytes"]);
            assert_eq!(p["ratio"].as_f64(), Some(1.0));
        } else {
            assert!(p["ratio"].as_f64().unwrap() > 1.0);
        }
        assert_eq!(r["footer"]["valid"], true);
        assert_eq!(r["footer"]["manifests"], 1);
        assert_eq!(r["footer"]["manifest_rows"], 6);
        assert_eq!(r["truncation"], Value::Null);
    }
}

#[test]
fn truncated_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = points_file(100, 3, 2, Compression::Off);
    let cut = bytes.len() / 2;
    let offsets = message_offsets(&bytes);
    // The message that straddles the cut: everything before it is complete.
    let expected = *offsets.iter().rev().find(|&&o| o <= cut as u64).unwrap();
    let complete_chunks = offsets.iter().filter(|&&o| o < expected).count() as u64 - 1;
    let file = write_temp(&dir, "cut.rrd", &bytes[..cut]);

    spate()
        .arg("inspect")
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "truncation     truncated at offset {expected}: message body needs"
        )))
        .stdout(predicate::str::is_match(r"(?m)^footer\s+absent$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^status\s+truncated").unwrap());

    let r = inspect_json(&file, 1);
    assert_eq!(r["status"], "truncated");
    assert_eq!(r["exit_code"], 1);
    assert_eq!(r["size"], cut as u64);
    assert_eq!(r["truncation"]["offset"], expected);
    assert_eq!(r["truncation"]["reason_code"], "message_body");
    assert_eq!(r["footer"]["present"], false);
    assert_eq!(r["chunks"]["total"], complete_chunks);
}

#[test]
fn cut_before_the_end_message_is_no_footer() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = points_file(10, 2, 1, Compression::Off);
    let end = *message_offsets(&bytes).last().unwrap();
    let file = write_temp(&dir, "noend.rrd", &bytes[..end as usize]);
    let r = inspect_json(&file, 1);
    assert_eq!(r["status"], "no_footer");
    assert_eq!(r["truncation"]["reason_code"], "no_end_message");
    assert_eq!(r["truncation"]["offset"], end);
    assert_eq!(r["chunks"]["total"], 2);
}

#[test]
fn corrupt_footer_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = points_file(10, 2, 1, Compression::Off);
    // Flip a bit of the stored CRC (bytes 16..20 of the 32-byte StreamFooter).
    let crc_at = bytes.len() - 32 + 16;
    bytes[crc_at] ^= 1;
    let file = write_temp(&dir, "badcrc.rrd", &bytes);
    spate()
        .arg("inspect")
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("INVALID"))
        .stdout(predicate::str::contains("footer problem"));
    let r = inspect_json(&file, 1);
    assert_eq!(r["status"], "invalid_footer");
    assert_eq!(r["footer"]["present"], true);
    assert_eq!(r["footer"]["valid"], false);
    let problems = r["footer"]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].as_str().unwrap().contains("CRC"),
        "{problems:?}"
    );
}

// ---- errors -------------------------------------------------------------------------

#[test]
fn garbage_is_a_decode_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_temp(&dir, "garbage.rrd", b"this is not an rrd file at all\n");
    for json in [false, true] {
        let mut cmd = spate();
        cmd.arg("inspect").arg(&file);
        if json {
            cmd.arg("--json");
        }
        cmd.assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "error: at byte 0: not an RRD stream",
            ))
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn bad_message_is_a_decode_error_with_offset() {
    // A valid file whose first message kind is overwritten with 9: a frame error at 12.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = points_file(10, 1, 1, Compression::Off);
    bytes[12] = 9;
    let file = write_temp(&dir, "badkind.rrd", &bytes);
    spate()
        .args(["inspect"])
        .arg(&file)
        .assert()
        .code(2)
        .stdout("")
        .stderr("error: at byte 12: unknown message kind 9, expected 0..=3\n");
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("does-not-exist.rrd");
    let out = spate()
        .arg("inspect")
        .arg(&file)
        .assert()
        .code(2)
        .stdout("")
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: cannot read "), "{stderr}");
    assert!(stderr.contains("does-not-exist.rrd"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    spate().arg("inspect").assert().code(2);
    spate().arg("no-such-subcommand").assert().code(2);
    spate().assert().code(2);
    spate()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Exit codes:"));
    spate()
        .args(["inspect", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains("manifest_rows"))
        .stdout(predicate::str::contains("reason_code"));
}
