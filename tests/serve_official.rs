//! `spate serve` as a process, against the official Rerun 0.41 tools: SIGTERM finishes the
//! file (End, footer manifest, StreamFooter) and `rerun rrd verify` (footers checked) and
//! the Python readers find every value; the official Python SDK's `rr.GrpcSink` records
//! into `spate serve --save` with every value intact; `--forward` feeds the official
//! `rerun --serve-grpc`, read back with `ReadMessages`.
//!
//! Official-tool checks SKIP loudly without the venv and fail under CI=true
//! (`tests/support/official.rs`).

#[path = "support/official.rs"]
mod official;
#[path = "support/procs.rs"]
mod procs;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use official::{
    check, check_points_example, example_rows, official_python, write_expectation, write_rrd,
};
use procs::{LIMIT, Server, poll};
use spate::sink::grpc::read_messages;
use spate::wire::{EncodedMessage, decode_rrd};

const POINTS: u32 = 20_000;
const ENTITIES: u32 = 2;
const FRAMES: u32 = 3;

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

/// The points example streamed with spate's GrpcSink to `url` (lossless), closed.
fn stream_points_example(url: &str) {
    official::stream_points_example(url, POINTS, FRAMES, ENTITIES, LIMIT);
}

/// Temporal rows decodable from a (possibly growing) file; 0 if unreadable.
fn temporal_rows(path: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    decode_rrd(bytes).map_or(0, |d| {
        d.chunks()
            .filter(|c| !c.is_static())
            .map(|c| c.num_rows())
            .sum()
    })
}

fn temporal_rows_of(msgs: &[EncodedMessage]) -> u64 {
    msgs.iter()
        .filter_map(|m| m.summary())
        .filter(|s| !s.is_static)
        .map(|s| s.num_rows)
        .sum()
}

#[test]
fn sigterm_finishes_the_file_and_the_official_tools_read_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.rrd");
    let p = path.to_str().unwrap();
    let mut server = Server::spate_serve(&["--save", p], dir.path().join("serve.log"));
    stream_points_example(&server.url());
    // The client's close was acknowledged after the server passed every message on.
    let status = server.signal_and_wait("TERM");
    let log = server.log_text();
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("SIGTERM, finishing"), "{log}");
    assert!(log.contains("closed cleanly: true"), "{log}");

    let decoded = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
    assert!(decoded.truncated.is_none(), "{:?}", decoded.truncated);
    assert!(
        decoded.footer.as_ref().is_some_and(|f| f.valid),
        "{:?}",
        decoded.footer
    );
    assert_eq!(temporal_rows(&path), (FRAMES * ENTITIES) as usize);

    let Some(python) =
        official_python("sigterm_finishes_the_file_and_the_official_tools_read_every_value")
    else {
        return;
    };
    check_points_example(&python, &path, POINTS, FRAMES, ENTITIES);
}

#[test]
fn official_python_sdk_records_into_spate_serve_with_every_value_intact() {
    let Some(python) =
        official_python("official_python_sdk_records_into_spate_serve_with_every_value_intact")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from_python.rrd");
    let mut server = Server::spate_serve(
        &["--save", path.to_str().unwrap()],
        dir.path().join("serve.log"),
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_points.py");
    let out = Command::new(&python)
        .arg(script)
        .args([&server.url(), "spate_serve_py", "py-rec"])
        .args([POINTS, FRAMES, ENTITIES].map(|n| n.to_string()))
        .output()
        .expect("run send_points.py");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The SDK's flush only says the bytes left it; wait until the file has them.
    let rows = (FRAMES * ENTITIES) as usize;
    assert!(
        poll(LIMIT, || temporal_rows(&path) == rows),
        "{} of {rows} rows saved:\n{}",
        temporal_rows(&path),
        server.log_text()
    );
    let status = server.signal_and_wait("INT");
    assert!(status.success(), "{status}:\n{}", server.log_text());
    eprintln!("{}", server.log_text());
    let decoded = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
    assert!(
        decoded.footer.as_ref().is_some_and(|f| f.valid),
        "{:?}",
        decoded.footer
    );

    // The official SDK writes what a spate recording does besides the rows: its properties
    // row and `log_time` on every temporal row.
    let expect = write_expectation(
        &path,
        "spate_serve_py",
        "py-rec",
        &example_rows(POINTS, FRAMES, ENTITIES),
    );
    check(&python, &path, &expect);
}

#[test]
fn forward_feeds_the_official_serve_grpc_read_back_with_every_value() {
    let Some(python) =
        official_python("forward_feeds_the_official_serve_grpc_read_back_with_every_value")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let official = Server::official_serve_grpc(&python, dir.path().join("official.log"));
    let saved = dir.path().join("saved.rrd");
    let mut server = Server::spate_serve(
        &[
            "--forward",
            &official.url(),
            "--save",
            saved.to_str().unwrap(),
        ],
        dir.path().join("serve.log"),
    );
    stream_points_example(&server.url());

    let rows = u64::from(FRAMES * ENTITIES);
    let read = read_messages(&official.url(), deadline(), |m| temporal_rows_of(m) == rows)
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nspate:\n{}\nofficial:\n{}",
                server.log_text(),
                official.log_text()
            )
        });
    let back = dir.path().join("read_back.rrd");
    write_rrd(&back, &read);
    let status = server.signal_and_wait("TERM");
    assert!(status.success(), "{status}:\n{}", server.log_text());
    // What came back through the official server is what spate serve wrote.
    let chunks = |p: &Path| -> Vec<Vec<u8>> {
        let bytes = std::fs::read(p).unwrap();
        let mut v: Vec<Vec<u8>> = decode_rrd(bytes.clone())
            .unwrap()
            .messages
            .iter()
            .filter(|m| matches!(m.message, spate::wire::Message::ArrowMsg { .. }))
            .map(|m| bytes[(m.offset + 16) as usize..][..m.len as usize].to_vec())
            .collect();
        v.sort();
        v
    };
    assert_eq!(chunks(&back), chunks(&saved));

    check_points_example(&python, &back, POINTS, FRAMES, ENTITIES);
}
