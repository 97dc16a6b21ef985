//! `spate check`: runs the binary with small, short loads and checks verdicts, JSON fields
//! and exit codes. Margins are wide on purpose (a null sink at a rate far below what it
//! takes, a throttle far below the offered rate), so a loaded machine does not flip them.

#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/official.rs"]
mod official;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use cli::json_output;
use serde_json::Value;

/// Every run is bounded: a hang fails the test instead of blocking the suite.
const LIMIT: Duration = Duration::from_secs(60);

fn spate() -> Command {
    let mut cmd = cargo_bin_cmd!("spate");
    cmd.timeout(LIMIT);
    cmd
}

/// Runs `spate check --json ARGS`, checks the exit code and parses stdout.
fn check_json(args: &[&str], code: i32) -> Value {
    json_output(spate().arg("check").arg("--json").args(args), code)
}

/// Runs `spate check ARGS` expecting an error: exit 2, one `error:` line, no panic.
fn check_error(args: &[&str]) -> String {
    let out = spate()
        .arg("check")
        .args(args)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// 1 producer x 1000 points x 20 Hz = 0.4 MB/s: thousands of times below a null sink.
const MODEST: &[&str] = &[
    "--producers",
    "1",
    "--points",
    "1000",
    "--hz",
    "20",
    "--duration",
    "1",
];

#[test]
fn null_sink_keeps_up_at_a_modest_rate() {
    let r = check_json(&[MODEST, &["--sink", "null"]].concat(), 0);
    assert_eq!(r["verdict"], "KEEPS_UP");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["scenario"]["producers"], 1);
    assert_eq!(r["scenario"]["points"], 1000);
    assert_eq!(r["scenario"]["bytes_per_point"], 20);
    assert_eq!(r["generator"]["scheduled_clouds"], 20);
    assert_eq!(r["generator"]["logged_clouds"], 20);
    assert_eq!(r["generator"]["lane_dropped_rows"], 0);
    let sinks = r["sinks"].as_array().unwrap();
    assert_eq!(sinks.len(), 1);
    let s = &sinks[0];
    assert_eq!(s["name"], "null");
    assert_eq!(s["kind"], "null");
    assert_eq!(s["verdict"], "KEEPS_UP");
    assert!(s["behind_percent"].is_null());
    assert_eq!(s["dropped"], 0);
    // Measured delivery equals what was offered, byte for byte.
    assert!(u(&s["offered_bytes"]) > 20 * 1000 * 20);
    assert_eq!(s["delivered_bytes"], s["offered_bytes"]);
    assert!(s["closed_cleanly"].as_bool().unwrap());
    let complete = f(&s["complete_s"]);
    assert!(complete <= 2.0, "{complete}");
    assert!(f(&s["achieved_mbps"]) <= f(&s["offered_mbps"]) * 1.0001);
    assert!(u(&s["latency_ms"]["count"]) >= 1);
    assert!(f(&s["latency_ms"]["p50"]) <= f(&s["latency_ms"]["max"]));
    for reason in ["queue_full", "sink_failed", "disconnected", "lane_full"] {
        assert_eq!(s["drops"][reason], 0, "{reason}");
    }
}

/// 10 MB/s offered (1 x 10000 points x 50 Hz) into a sink that takes 0.2 MB/s.
const THROTTLED: &[&str] = &[
    "--producers",
    "1",
    "--points",
    "10000",
    "--hz",
    "50",
    "--duration",
    "1",
    "--sink",
    "throttle:0.2",
];

#[test]
fn throttled_sink_falls_behind() {
    let r = check_json(THROTTLED, 1);
    assert_eq!(r["verdict"], "FALLS_BEHIND");
    assert_eq!(r["exit_code"], 1);
    let s = &r["sinks"][0];
    assert_eq!(s["kind"], "throttle");
    assert_eq!(s["verdict"], "FALLS_BEHIND");
    assert_eq!(s["dropped"], 0);
    assert!(s["complete_s"].is_null());
    let behind = f(&s["behind_percent"]);
    assert!(behind > 50.0 && behind <= 100.0, "{behind}");
    assert!(u(&s["delivered_bytes"]) < u(&s["offered_bytes"]));
    // The human report says the same, with the percentage.
    spate()
        .arg("check")
        .args(THROTTLED)
        .assert()
        .code(1)
        .stdout(
            predicates::str::is_match(
                r"(?m)^verdict: FALLS BEHIND \(throttle:0\.2MB/s FALLS BEHIND by \d+\.\d %\)$",
            )
            .unwrap(),
        );
}

#[test]
fn tiny_queue_with_drop_policy_drops() {
    // The throttle holds each 200 kB message for a second; with a one-byte queue every
    // message arriving meanwhile is dropped.
    let args = [THROTTLED, &["--sink-policy", "drop", "--queue-bytes", "1"]].concat();
    let r = check_json(&args, 1);
    assert_eq!(r["verdict"], "DROPPED");
    let s = &r["sinks"][0];
    assert_eq!(s["verdict"], "DROPPED");
    assert!(u(&s["drops"]["queue_full"]) > 10, "{s:#}");
    assert_eq!(s["dropped"], s["drops"]["queue_full"]);
    assert_eq!(
        s["queue_high_water_bytes"].as_u64().map(|b| b > 0),
        Some(true)
    );
}

#[test]
fn tee_of_file_and_null_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("out.rrd");
    let svg = dir.path().join("plot.svg");
    let r = check_json(
        &[
            MODEST,
            &[
                "--sink",
                &format!("file:{}", rrd.display()),
                "--sink",
                "null",
                "--backend",
                "pwrite",
                "--plot",
                svg.to_str().unwrap(),
            ],
        ]
        .concat(),
        0,
    );
    let sinks = r["sinks"].as_array().unwrap();
    assert_eq!(sinks.len(), 2);
    assert_eq!(sinks[0]["kind"], "file");
    assert_eq!(sinks[1]["kind"], "null");
    // A tee: both got the same bytes, and the file holds them (plus framing and footer).
    assert_eq!(sinks[0]["delivered_bytes"], sinks[1]["delivered_bytes"]);
    let file_len = std::fs::metadata(&rrd).unwrap().len();
    assert!(file_len > u(&sinks[0]["delivered_bytes"]), "{file_len}");
    spate().arg("inspect").arg(&rrd).assert().code(0);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg"), "{}", &plot[..plot.len().min(200)]);
    assert!(plot.contains("null"));
    assert!(plot.contains("out.rrd"));
    assert!(plot.contains("KEEPS UP"));
}

#[test]
fn scenario_file_sets_the_load_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("s.toml");
    std::fs::write(
        &toml,
        "producers = 2\npoints = 500\nhz = 10.0\nduration = 0.5\nentities = 3\nsinks = [\"null\"]\n",
    )
    .unwrap();
    let r = check_json(
        &["--scenario", toml.to_str().unwrap(), "--points", "700"],
        0,
    );
    assert_eq!(r["scenario"]["producers"], 2);
    assert_eq!(r["scenario"]["points"], 700);
    assert_eq!(r["scenario"]["entities"], 3);
    assert_eq!(f(&r["scenario"]["duration_s"]), 0.5);
    assert_eq!(r["generator"]["scheduled_clouds"], 10);
    assert_eq!(r["sinks"][0]["name"], "null");

    std::fs::write(&toml, "producers = 2\nprodcers = 3\n").unwrap();
    let err = check_error(&["--scenario", toml.to_str().unwrap()]);
    assert!(
        err.contains("invalid scenario") && err.contains("prodcers"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn in_process_grpc_receiver_confirms_delivery() {
    let r = check_json(&[MODEST, &["--sink", "grpc"]].concat(), 0);
    let s = &r["sinks"][0];
    assert_eq!(s["kind"], "grpc");
    assert_eq!(s["verdict"], "KEEPS_UP");
    // Every message the sink sent was received, and the stream's close acknowledged.
    assert_eq!(s["receiver"]["messages"], s["grpc_sent_messages"]);
    assert_eq!(s["receiver"]["calls_finished"], 1);
    assert_eq!(s["delivered_bytes"], s["offered_bytes"]);
}

#[test]
fn default_rig_runs_short() {
    // The default rig (four lidars, file in a temporary directory + in-process gRPC),
    // shortened to a fraction of a second; whether this machine keeps up is not asserted.
    let out = spate()
        .args(["check", "--json", "--duration", "0.3"])
        .assert()
        .get_output()
        .clone();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "{code:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["scenario"]["producers"], 4);
    assert_eq!(r["scenario"]["points"], 262_144);
    assert_eq!(r["scenario"]["hz"], 10.0);
    let sinks = r["sinks"].as_array().unwrap();
    let kinds: Vec<&str> = sinks.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["file", "grpc"]);
    // The temporary file is gone afterwards.
    let name = sinks[0]["name"].as_str().unwrap();
    let path = name
        .strip_prefix("file:")
        .and_then(|p| p.rsplit_once(" (").map(|(p, _)| p))
        .unwrap();
    assert!(!Path::new(path).exists(), "{path}");
    assert!(!Path::new(path).parent().unwrap().exists(), "{path}");
}

#[test]
fn find_max_brackets_a_throttled_sink() {
    // A 2 MB/s throttle, searched from 0.5 MB/s: 0.5, 1, 2 keep up (with 0.25 s of
    // grace after 0.5 s of load a 2 MB/s sink takes up to ~2.5 MB/s), 4 does not.
    let r = check_json(
        &[
            "--find-max",
            "--sink",
            "throttle:2",
            "--producers",
            "1",
            "--points",
            "1000",
            "--rate",
            "0.5",
            "--trial-duration",
            "0.5",
            "--max-trials",
            "4",
        ],
        0,
    );
    assert_eq!(r["mode"], "find_max");
    let s = &r["sinks"][0];
    let max = f(&s["max_sustained_mbps"]);
    assert!((0.49..=2.01).contains(&max), "{s:#}");
    let failing = f(&s["first_failing_mbps"]);
    assert!(failing > max && failing <= 4.01, "{s:#}");
    assert!(s["trials"].as_array().unwrap().len() <= 4);
    assert_eq!(s["trials"][0]["verdict"], "KEEPS_UP");
}

#[test]
fn one_point_rows_far_above_the_old_hz_cap() {
    // 500,000 one-point rows a second (five times the old cap of --hz) for 10 ms: paced in
    // wakes of 500 rows, every row logged once, one shared cloud for all.
    let r = check_json(
        &[
            "--producers",
            "1",
            "--points",
            "1",
            "--hz",
            "500000",
            "--duration",
            "10ms",
            "--sink",
            "null",
        ],
        0,
    );
    assert_eq!(r["scenario"]["hz"], 500_000.0);
    let g = &r["generator"];
    assert_eq!(g["scheduled_clouds"], 5000);
    assert_eq!(g["logged_clouds"], 5000);
    assert_eq!(g["cloud_buffers"], "shared");
    let lidar = &r["load"]["lidar"];
    assert_eq!(lidar["rows_per_s"], 500_000.0);
    assert!(f(&lidar["busy_ns_per_row"]) > 0.0, "{lidar}");
    let s = &r["sinks"][0];
    assert_eq!(s["verdict"], "KEEPS_UP");
    assert_eq!(s["delivered_rows"], 5000);
    assert!(
        (f(&s["offered_rows_per_s"]) - 500_000.0).abs() < 1e-6,
        "{s}"
    );
    let achieved = f(&s["achieved_rows_per_s"]);
    assert!(achieved > 0.0 && achieved <= 500_000.0 * 1.0001, "{s}");
}

#[test]
fn find_max_takes_one_point_rows_past_the_old_hz_cap() {
    // One trial of 50 ms at 150,000 one-point rows/s (over the old cap of 100,000) into a
    // null sink: 7500 rows.
    let r = check_json(
        &[
            "--find-max",
            "--sink",
            "null",
            "--producers",
            "1",
            "--points",
            "1",
            "--hz",
            "150000",
            "--trial-duration",
            "50ms",
            "--max-trials",
            "1",
        ],
        0,
    );
    let s = &r["sinks"][0];
    assert_eq!(s["trials"][0]["verdict"], "KEEPS_UP", "{s:#}");
    assert_eq!(s["trials"][0]["offered_rows_per_s"], 150_000.0);
    assert_eq!(s["max_sustained_rows_per_s"], 150_000.0);
    assert!((f(&s["max_sustained_mbps"]) - 3.0).abs() < 1e-9, "{s:#}");
    assert!(s["probe_rows_per_s"].is_null());
}

#[test]
fn find_max_on_an_unpaced_scenario_starts_from_a_probe() {
    // hz = 0, as perf/scenarios/*-rows-*.toml: an unpaced probe measures where to start.
    let out = spate()
        .args(["check", "--json", "--find-max", "--sink", "null"])
        .args(["--producers", "1", "--points", "1", "--hz", "0"])
        .args(["--trial-duration", "50ms", "--max-trials", "1"])
        .assert()
        .get_output()
        .clone();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(r["start_mbps"].is_null());
    let s = &r["sinks"][0];
    let probe = f(&s["probe_rows_per_s"]);
    assert!(probe > 0.0, "{s:#}");
    // The first trial offers what the probe logged.
    let first = f(&s["trials"][0]["offered_rows_per_s"]);
    assert!((first / probe - 1.0).abs() < 1e-9, "{s:#}");
    assert!(
        (f(&s["start_mbps"]) - probe * 20.0 / 1e6).abs() < 1e-9,
        "{s:#}"
    );
    assert_eq!(s["trials"].as_array().unwrap().len(), 1);
}

#[test]
fn find_max_trials_take_their_own_grace_not_the_scenario_files() {
    // perf/scenarios/*-rows-*.toml give grace = 30 for their 1 s runs: after 50 ms trials
    // it would let any rate "keep up". A --grace flag still applies.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.toml");
    std::fs::write(
        &path,
        "producers = 1\npoints = 1\nhz = 1000\nduration = 1.0\ngrace = 30.0\nsinks = [\"null\"]\n",
    )
    .unwrap();
    let scenario = path.to_str().unwrap();
    let common = [
        "--find-max",
        "--trial-duration",
        "50ms",
        "--max-trials",
        "1",
    ];
    let r = check_json(&[&["--scenario", scenario][..], &common].concat(), 0);
    assert_eq!(r["grace_s"], 0.25);
    let r = check_json(
        &[&["--scenario", scenario, "--grace", "400ms"][..], &common].concat(),
        0,
    );
    assert_eq!(r["grace_s"], 0.4);
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--producers", "zero"][..],
        &["--sink", "bogus:x"],
        &["--sink", "throttle:-1"],
        &["--hz", "5", "--rate", "5"],
        &["--lane-policy", "sometimes"],
        &["--backend", "floppy"],
        &["--no-such-flag"],
        &["--duration", "-1"],
    ] {
        check_error(args);
    }
    for args in [
        &["--producers", "0"][..],
        &["--duration", "0"],
        &["--hz", "2e9"],
        &["--hz", "inf"],
        &["--points", "0", "--sink", "null"],
        &["--connect-timeout", "0"],
    ] {
        let err = check_error(args);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

/// One parser for sizes and durations: flags and scenario files take `500ms`, `2m`, `64MiB`,
/// `1GB` as well as plain numbers, and a value that does not parse names its flag.
#[test]
fn durations_and_sizes_take_units_in_flags_and_scenario_files() {
    let r = check_json(
        &[
            "--producers",
            "1",
            "--points",
            "100",
            "--hz",
            "10",
            "--duration",
            "500ms",
            "--grace",
            "1s",
            "--queue-bytes",
            "64MiB",
            "--sink",
            "null",
        ],
        0,
    );
    assert_eq!(f(&r["scenario"]["duration_s"]), 0.5);
    assert_eq!(f(&r["scenario"]["grace_s"]), 1.0);
    assert_eq!(u(&r["scenario"]["queue_bytes"]), 64 << 20);
    assert_eq!(r["generator"]["scheduled_clouds"], 5);

    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("s.toml");
    std::fs::write(
        &toml,
        "producers = 1\npoints = 100\nhz = 10.0\nduration = \"0.5s\"\ngrace = 2\n\
         queue_bytes = \"1MB\"\nsinks = [\"null\"]\n",
    )
    .unwrap();
    let r = check_json(&["--scenario", toml.to_str().unwrap()], 0);
    assert_eq!(f(&r["scenario"]["duration_s"]), 0.5);
    assert_eq!(f(&r["scenario"]["grace_s"]), 2.0);
    assert_eq!(u(&r["scenario"]["queue_bytes"]), 1_000_000);

    for (flag, value) in [
        ("--duration", "10x"),
        ("--grace", "soon"),
        ("--queue-bytes", "lots"),
        ("--trial-duration", "1d"),
        ("--connect-timeout", "3 weeks"),
    ] {
        let err = check_error(&[flag, value]);
        assert!(err.contains(flag), "{flag}: {err}");
        assert!(err.contains("e.g."), "{flag}: the accepted forms: {err}");
    }
    std::fs::write(&toml, "duration = \"forever\"\n").unwrap();
    let err = check_error(&["--scenario", toml.to_str().unwrap()]);
    assert!(
        err.contains("forever") && err.contains("not a duration"),
        "{err}"
    );
}

#[test]
fn unwritable_path_exits_2() {
    let err = check_error(&[MODEST, &["--sink", "file:/nonexistent-spate-dir/sub/x.rrd"]].concat());
    assert!(
        err.contains("cannot create /nonexistent-spate-dir/sub/x.rrd"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = check_error(
        &[
            MODEST,
            &["--sink", "null", "--plot", "/nonexistent-spate-dir/p.svg"],
        ]
        .concat(),
    );
    assert!(
        err.contains("cannot create /nonexistent-spate-dir/p.svg"),
        "{err}"
    );
}

#[test]
fn unreachable_grpc_server_exits_2_quickly() {
    // A port that was just bound and closed: nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("grpc:rerun+http://127.0.0.1:{port}/proxy");
    let started = std::time::Instant::now();
    let err = check_error(&[MODEST, &["--sink", &url, "--connect-timeout", "1"]].concat());
    assert!(
        err.contains(&format!(
            "cannot connect to rerun+http://127.0.0.1:{port}/proxy within 1.0 s"
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let err = check_error(&[MODEST, &["--sink", "grpc:http://nope"]].concat());
    assert!(err.contains("invalid gRPC URL"), "{err}");
}

#[test]
fn help_documents_verdicts_and_exit_codes() {
    spate()
        .args(["check", "--help"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains("KEEPS UP"))
        .stdout(predicates::str::contains("FALLS BEHIND"))
        .stdout(predicates::str::contains("DROPPED"))
        .stdout(predicates::str::contains("Exit codes:"))
        .stdout(predicates::str::contains("behind_percent"))
        .stdout(predicates::str::contains("--camera"))
        .stdout(predicates::str::contains("[NAME=]HZ[@BATCH]"))
        .stdout(predicates::str::contains("[[camera]]"))
        .stdout(predicates::str::contains("delivered_rows"));
    spate()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("check: a sink falls behind"));
}

#[test]
fn unpaced_load_is_what_was_logged() {
    // hz = 0 (as perf/ uses it): producers log as fast as the engine accepts.
    let out = spate()
        .args(["check", "--json", "--hz", "0", "--points", "1000"])
        .args(["--producers", "1", "--duration", "0.3", "--sink", "null"])
        .assert()
        .get_output()
        .clone();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["scenario"]["hz"], 0.0);
    let logged = u(&r["generator"]["logged_clouds"]);
    assert!(logged > 0);
    assert_eq!(u(&r["generator"]["scheduled_clouds"]), logged);
    let s = &r["sinks"][0];
    assert!(u(&s["offered_bytes"]) >= logged * 1000 * 20);
    // Lossless by default for a null sink: everything logged reaches it in the end.
    assert_eq!(s["dropped"], 0);
}

/// Runs `spate inspect --json FILE` and returns its entities by path.
fn inspect_entities(rrd: &Path) -> std::collections::BTreeMap<String, Value> {
    let r = json_output(spate().args(["inspect", "--json"]).arg(rrd), 0);
    r["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_owned(), e.clone()))
        .collect()
}

fn components(entity: &Value) -> Vec<&str> {
    entity["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect()
}

#[test]
fn cameras_and_an_imu_without_lidars_into_a_file() {
    // No producers key and sensors given: no lidar. Rows: front round(20 x 0.5) = 10
    // frames, jpeg round(10 x 0.5) = 5 frames, the IMU round(1000 x 0.5) = 500 samples in
    // batches of 64 (seven full calls and one of 52).
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("rig.rrd");
    let toml = dir.path().join("rig.toml");
    std::fs::write(
        &toml,
        format!(
            r#"duration = 0.5
sinks = ["file:{}"]

[[camera]]
name = "front"
width = 64
height = 48
fps = 20

[[camera]]
name = "jpeg"
width = 640
height = 480
fps = 10
encoding = "jpeg"
jpeg_bytes = 2000

[[imu]]
name = "main"
hz = 1000
batch = 64
"#,
            rrd.display()
        ),
    )
    .unwrap();
    let r = check_json(&["--scenario", toml.to_str().unwrap()], 0);
    let sc = &r["scenario"];
    assert_eq!(sc["producers"], 0);
    assert_eq!(sc["cameras"][0]["entity"], "camera/front");
    assert_eq!(sc["cameras"][0]["encoding"], "raw");
    assert_eq!(sc["cameras"][0]["frame_bytes"], 64 * 48 * 3);
    assert_eq!(sc["cameras"][1]["encoding"], "jpeg");
    assert_eq!(sc["cameras"][1]["frame_bytes"], 2000);
    assert_eq!(sc["imus"][0]["entity"], "imu/main");
    assert_eq!(sc["imus"][0]["batch"], 64);

    let load = &r["load"];
    assert_eq!(load["lidar"]["sensors"], 0);
    assert_eq!(load["lidar"]["scheduled_rows"], 0);
    assert_eq!(load["camera"]["sensors"], 2);
    assert_eq!(load["camera"]["scheduled_rows"], 15);
    assert_eq!(load["camera"]["logged_rows"], 15);
    assert_eq!(
        load["camera"]["logged_payload_bytes"],
        10 * 64 * 48 * 3 + 5 * 2000
    );
    assert_eq!(f(&load["camera"]["rows_per_s"]), 30.0);
    let camera_mbps = (20.0 * 9216.0 + 10.0 * 2000.0) / 1e6;
    assert!((f(&load["camera"]["payload_mbps"]) - camera_mbps).abs() < 1e-9);
    assert_eq!(load["imu"]["scheduled_rows"], 500);
    assert_eq!(load["imu"]["logged_rows"], 500);
    assert_eq!(load["imu"]["logged_payload_bytes"], 500 * 56);
    assert_eq!(f(&load["imu"]["rows_per_s"]), 1000.0);
    assert_eq!(load["total"]["sensors"], 3);
    assert_eq!(load["total"]["scheduled_rows"], 515);
    assert_eq!(r["generator"]["scheduled_rows"], 515);
    assert_eq!(r["generator"]["logged_rows"], 515);
    assert_eq!(r["generator"]["logged_clouds"], 0);

    // Every row of every sensor reached the file, and nothing else.
    let s = &r["sinks"][0];
    assert_eq!(s["kind"], "file");
    assert_eq!(s["verdict"], "KEEPS_UP");
    assert_eq!(s["offered_rows"], 515);
    assert_eq!(s["delivered_rows"], 515);
    assert_eq!(s["delivered_bytes"], s["offered_bytes"]);
    assert!(u(&s["offered_bytes"]) > 10 * 9216 + 5 * 2000 + 500 * 56);

    // The file holds the frames as Image and EncodedImage rows and the IMU as Scalars
    // rows, one chunk per send_columns call.
    let entities = inspect_entities(&rrd);
    let paths: Vec<&str> = entities.keys().map(String::as_str).collect();
    assert!(!paths.iter().any(|p| p.starts_with("/lidar")), "{paths:?}");
    let front = &entities["/camera/front"];
    assert_eq!(front["rows"], 10);
    assert_eq!(components(front), ["Image:buffer", "Image:format"]);
    let jpeg = &entities["/camera/jpeg"];
    assert_eq!(jpeg["rows"], 5);
    assert_eq!(
        components(jpeg),
        ["EncodedImage:blob", "EncodedImage:media_type"]
    );
    let imu = &entities["/imu/main"];
    assert_eq!(imu["rows"], 500);
    assert_eq!(imu["chunks"], 8);
    assert_eq!(components(imu), ["Scalars:scalars"]);

    // The official tools accept the file.
    if let Some(python) = official::official_python("cameras_and_an_imu_without_lidars_into_a_file")
    {
        let out = std::process::Command::new(python.parent().unwrap().join("rerun"))
            .args(["rrd", "verify"])
            .arg(&rrd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rerun rrd verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn camera_and_imu_flags_add_to_lidars() {
    // Flags only: a lidar (1 x 100 points x 10 Hz), a raw camera and a jpeg camera (named
    // by index and by NAME=), an IMU with the default batch (hz / 10) and one with its own.
    let r = check_json(
        &[
            "--producers",
            "1",
            "--points",
            "100",
            "--hz",
            "10",
            "--duration",
            "0.5",
            "--camera",
            "32x24@10",
            "--camera",
            "side=32x24@10:jpeg=1500",
            "--imu",
            "200",
            "--imu",
            "fast=400@40",
            "--sink",
            "null",
        ],
        0,
    );
    let sc = &r["scenario"];
    let entities: Vec<&str> = sc["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .chain(sc["imus"].as_array().unwrap())
        .map(|s| s["entity"].as_str().unwrap())
        .collect();
    assert_eq!(entities, ["camera/0", "camera/side", "imu/0", "imu/fast"]);
    assert_eq!(sc["cameras"][1]["frame_bytes"], 1500);
    assert_eq!(sc["imus"][0]["batch"], 20);
    assert_eq!(sc["imus"][1]["batch"], 40);
    let load = &r["load"];
    assert_eq!(load["lidar"]["logged_rows"], 5);
    assert_eq!(load["camera"]["logged_rows"], 10);
    assert_eq!(load["imu"]["logged_rows"], 100 + 200);
    let s = &r["sinks"][0];
    assert_eq!(s["offered_rows"], 315);
    assert_eq!(s["delivered_rows"], 315);
    // The table keeps the lidars' points/s and names every kind of sensor.
    spate()
        .args(["check", "--quiet", "--duration", "0.5", "--sink", "null"])
        .args(["--producers", "1", "--points", "100", "--hz", "10"])
        .args(["--camera", "32x24@10", "--imu", "200"])
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "5 of 5 clouds, 5 of 5 frames, 100 of 100 IMU samples logged",
        ))
        .stdout(predicates::str::contains(
            "imu        1 x 200 Hz in send_columns calls of 20 samples",
        ))
        .stdout(predicates::str::contains("achieved pts/s"))
        .stdout(predicates::str::contains("(110 of 110 rows, "));
}

#[test]
fn sensor_flag_errors_name_the_flag_and_the_form() {
    for (args, expect) in [
        (&["--camera", "1920x1080"][..], "WIDTHxHEIGHT@FPS"),
        (&["--camera", "1920x1080@30:png"], "WIDTHxHEIGHT@FPS"),
        (
            &["--camera", "0x1080@30"],
            "width and height must be between",
        ),
        (&["--camera", "64x48@0"], "fps must be above 0"),
        (
            &["--camera", "64x48@30:jpeg=10"],
            "jpeg_bytes must be at least",
        ),
        (&["--camera", "a/b=64x48@30"], "not one entity path part"),
        (&["--imu", "fast"], "[NAME=]HZ[@BATCH]"),
        (&["--imu", "1000@0"], "batch must be between 1"),
        (&["--imu", "0"], "hz must be above 0"),
    ] {
        let err = check_error(args);
        let flag = args[0];
        assert!(
            err.contains(&format!("'{flag} <SPEC>'")) && err.contains(expect),
            "{args:?}: {err}"
        );
    }
    // Errors of the whole scenario: one line each.
    for (args, expect) in [
        (
            &["--camera", "64x48@30", "--points", "1000"][..],
            "points set the lidars, but this scenario has none",
        ),
        (
            &["--camera", "a=64x48@30", "--camera", "a=32x24@30"],
            "two cameras are named \"a\"",
        ),
        (&["--imu", "1@1", "--duration", "0.1"], "logs no sample"),
        (
            &["--camera", "64x48@30", "--find-max"],
            "--find-max scales the lidar rate",
        ),
        (&["--producers", "0"], "no sensor"),
    ] {
        let err = check_error(args);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn scenario_sensor_tables_refuse_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("s.toml");
    std::fs::write(&toml, "[[camera]]\nwidth = 64\nheight = 48\nfsp = 30\n").unwrap();
    let err = check_error(&["--scenario", toml.to_str().unwrap()]);
    assert!(
        err.contains("invalid scenario") && err.contains("fsp"),
        "{err}"
    );
    std::fs::write(
        &toml,
        "[[camera]]\nwidth = 64\nheight = 48\nfps = 30\nencoding = \"png\"\n",
    )
    .unwrap();
    let err = check_error(&["--scenario", toml.to_str().unwrap()]);
    assert!(err.contains("png"), "{err}");
}
