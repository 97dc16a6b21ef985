//! GrpcSink against the official Rerun 0.41 receiver (`rerun_cli/rerun --save FILE`):
//! the file it writes passes `rerun rrd verify`/`print` and the Python readers with every
//! value bit-exact; after the receiver is killed and restarted on the same port, rows
//! logged after the restart arrive in the new file.
//!
//! `rerun --save` stopped by a signal writes no footer (`rerun-format.md` pitfall 15), so
//! the files are checked as footer-less. The `rerun` console script is a Python wrapper
//! (pitfall 14): the real binary is started directly and signalled by PID.

#[path = "support/official.rs"]
mod official;
#[path = "support/procs.rs"]
mod procs;

use std::path::Path;
use std::time::{Duration, Instant};

use official::{check_with, example_rows, log_example_frames, official_python, write_expectation};
use procs::{Server, free_port, poll, rerun_binary, url};
use spate::sink::grpc::GrpcSinkOptions;
use spate::sink::{ConnectionState, GrpcSink};
use spate::wire::decode_rrd;
use spate::{Recording, SinkExt, SinkPolicy};

const LIMIT: Duration = Duration::from_secs(30);
const POINTS: u32 = 20_000;
const ENTITIES: u32 = 2;

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

/// Starts the official `rerun --save save` on `port` (log next to `save`), waiting at most
/// [`LIMIT`] for it to listen; SIGKILLed when dropped.
fn start_receiver(bin: &Path, save: &Path, port: u16) -> Server {
    let p = port.to_string();
    let args = [
        "--save",
        save.to_str().unwrap(),
        "--bind",
        "127.0.0.1",
        "--port",
        &p,
    ];
    Server::start_within(bin, &args, port, save.with_extension("log"), LIMIT)
}

/// Waits (bounded) until `file` holds `rows` rows; fails with the receiver's log.
fn wait_for_rows(rx: &Server, file: &Path, rows: usize, when: &str) {
    assert!(
        poll(LIMIT, || rows_in(file) == rows),
        "{} of {rows} rows saved {when}:\n{}",
        rows_in(file),
        rx.log_text()
    );
}

/// SIGINT, then waits (bounded, 20 s) for the receiver to exit.
fn interrupt(rx: &mut Server) {
    let status = rx.signal_and_wait_within("INT", Duration::from_secs(20));
    eprintln!("receiver exited on SIGINT: {status}");
}

/// Temporal rows decodable from the (possibly still growing) file, 0 if unreadable.
fn rows_in(path: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    decode_rrd(bytes).map_or(0, |d| d.chunks().map(|c| c.num_rows()).sum())
}

fn log_frames(rec: &Recording, frames: std::ops::Range<u32>) {
    log_example_frames(rec, frames, POINTS, ENTITIES);
}

#[test]
fn official_receiver_saves_the_points_example_bit_exact() {
    let Some(python) = official_python("official_receiver_saves_the_points_example_bit_exact")
    else {
        return;
    };
    let bin = rerun_binary(&python);
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("got.rrd");
    let port = free_port();
    let mut rx = start_receiver(&bin, &got, port);

    let sink = GrpcSink::connect(&url(port)).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    log_frames(&rec, 0..3);
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let stats = state.stats();
    assert_eq!(stats.state, ConnectionState::Closed);
    assert_eq!(stats.sent_messages, stats.written_messages, "{stats:#?}");
    assert_eq!((stats.dropped_messages, stats.reconnects), (0, 0));

    // The server acknowledged the stream; its file writer may still be behind.
    let rows = 3 * ENTITIES as usize;
    wait_for_rows(&rx, &got, rows, "after the stream closed");
    interrupt(&mut rx);

    let decoded = decode_rrd(std::fs::read(&got).unwrap()).unwrap();
    eprintln!(
        "saved: {} bytes, {} messages, {} chunks, footer {}, truncated {:?}",
        decoded.input_len,
        decoded.messages.len(),
        decoded.chunks().count(),
        decoded.footer.is_some(),
        decoded.truncated
    );
    assert_eq!(decoded.chunks().map(|c| c.num_rows()).sum::<usize>(), rows);

    let expect = write_expectation(
        &got,
        "spate_points",
        "points-example",
        &example_rows(POINTS, 3, ENTITIES),
    );
    check_with(&python, &got, &expect, true);
}

#[test]
fn rows_logged_after_the_official_receiver_restarts_arrive_in_the_new_file() {
    let Some(python) =
        official_python("rows_logged_after_the_official_receiver_restarts_arrive_in_the_new_file")
    else {
        return;
    };
    let bin = rerun_binary(&python);
    let dir = tempfile::tempdir().unwrap();
    let (first_file, second_file) = (dir.path().join("first.rrd"), dir.path().join("second.rrd"));
    let port = free_port();
    let mut first = start_receiver(&bin, &first_file, port);

    let opts = GrpcSinkOptions::default()
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect_timeout(Duration::from_secs(2));
    let sink = GrpcSink::connect_with(&url(port), opts).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    log_frames(&rec, 0..3);
    rec.flush(deadline()).unwrap();
    let per_run = 3 * ENTITIES as usize;
    wait_for_rows(&first, &first_file, per_run, "before the kill");

    // Kill it mid-stream (the WriteMessages call is still open).
    first.kill();
    assert!(
        state.wait_until(deadline(), |s| s.state.is_disconnected()),
        "{:?}",
        state.stats()
    );
    let mut second = start_receiver(&bin, &second_file, port);
    assert!(
        state.wait_until(deadline(), |s| s.state == ConnectionState::Connected
            && s.reconnects == 1),
        "{:?}",
        state.stats()
    );
    log_frames(&rec, 3..6);
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let stats = state.stats();
    assert_eq!(
        (stats.dropped_messages, stats.abandoned_messages),
        (0, 0),
        "{stats:#?}"
    );

    wait_for_rows(&second, &second_file, per_run, "after the restart");
    interrupt(&mut second);

    let decoded = decode_rrd(std::fs::read(&second_file).unwrap()).unwrap();
    let mut frames: Vec<(String, i64)> = decoded
        .chunks()
        .flat_map(|c| {
            let t = c
                .timelines()
                .iter()
                .find(|t| t.timeline().name() == "frame")
                .expect("frame timeline");
            let entity = c.entity().to_string().trim_start_matches('/').to_owned();
            t.values()
                .iter()
                .map(move |v| (entity.clone(), *v))
                .collect::<Vec<_>>()
        })
        .collect();
    frames.sort();
    let want: Vec<_> = (0..ENTITIES)
        .flat_map(|e| (3..6).map(move |f| (format!("points/{e}"), f)))
        .collect();
    assert_eq!(frames, want, "only the rows logged after the restart");

    let rows: Vec<_> = example_rows(POINTS, 6, ENTITIES)
        .into_iter()
        .filter(|r| r.time[0].2 >= 3)
        .collect();
    let expect = write_expectation(&second_file, "spate_points", "points-example", &rows);
    check_with(&python, &second_file, &expect, true);
}
