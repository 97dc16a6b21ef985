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

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use official::{check_with, example_rows, official_python, write_expectation};
use spate::sink::grpc::GrpcSinkOptions;
use spate::sink::{ConnectionState, GrpcSink};
use spate::wire::decode_rrd;
use spate::{EntityPath, Recording, SinkExt, SinkPolicy};

const LIMIT: Duration = Duration::from_secs(30);
const POINTS: u32 = 20_000;
const ENTITIES: u32 = 2;

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real server binary (not the `rerun` wrapper script).
fn rerun_binary(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import rerun_cli,os;print(os.path.dirname(rerun_cli.__file__))",
        ])
        .output()
        .expect("run the venv python");
    assert!(out.status.success(), "{out:?}");
    let dir = String::from_utf8(out.stdout).unwrap();
    let bin = Path::new(dir.trim()).join("rerun");
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// A running `rerun --save`; killed (SIGKILL, by PID) when dropped.
struct Receiver {
    child: Child,
    log: PathBuf,
}

impl Receiver {
    /// Starts it and waits (bounded) until it accepts TCP connections on `port`.
    fn start(bin: &Path, save: &Path, port: u16) -> Self {
        let log = save.with_extension("log");
        let out = File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("--save")
            .arg(save)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start rerun_cli/rerun");
        let mut rx = Self { child, log };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = poll(LIMIT, || {
            if let Some(status) = rx.child.try_wait().unwrap() {
                panic!("receiver exited early ({status}):\n{}", rx.log_text());
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(
            up,
            "receiver not listening after {LIMIT:?}:\n{}",
            rx.log_text()
        );
        rx
    }

    /// Waits (bounded) until `file` holds `rows` rows; fails with the receiver's log.
    fn wait_for_rows(&self, file: &Path, rows: usize, when: &str) {
        assert!(
            poll(LIMIT, || rows_in(file) == rows),
            "{} of {rows} rows saved {when}:\n{}",
            rows_in(file),
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGINT, then waits (bounded) for it to exit.
    fn interrupt(&mut self) {
        let st = Command::new("kill")
            .args(["-INT", &self.pid()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -INT failed");
        let mut status = None;
        let exited = poll(Duration::from_secs(20), || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            exited,
            "receiver ignored SIGINT for 20 s:\n{}",
            self.log_text()
        );
        eprintln!("receiver exited on SIGINT: {}", status.unwrap());
    }

    /// SIGKILL, then waits for it to exit.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Temporal rows decodable from the (possibly still growing) file, 0 if unreadable.
fn rows_in(path: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    decode_rrd(bytes).map_or(0, |d| d.chunks().map(|c| c.num_rows()).sum())
}

fn log_frames(rec: &Recording, frames: std::ops::Range<u32>) {
    for f in frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        for e in 0..ENTITIES {
            let p = spate::demo::example_cloud(POINTS, f, e);
            rec.log(&EntityPath::parse(&format!("points/{e}")).unwrap(), &p)
                .unwrap();
        }
    }
}

fn url(port: u16) -> String {
    format!("rerun+http://127.0.0.1:{port}/proxy")
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
    let mut rx = Receiver::start(&bin, &got, port);

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
    rx.wait_for_rows(&got, rows, "after the stream closed");
    rx.interrupt();

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
    let mut first = Receiver::start(&bin, &first_file, port);

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
    first.wait_for_rows(&first_file, per_run, "before the kill");

    // Kill it mid-stream (the WriteMessages call is still open).
    first.kill();
    assert!(
        state.wait_until(deadline(), |s| s.state.is_disconnected()),
        "{:?}",
        state.stats()
    );
    let mut second = Receiver::start(&bin, &second_file, port);
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

    second.wait_for_rows(&second_file, per_run, "after the restart");
    second.interrupt();

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
