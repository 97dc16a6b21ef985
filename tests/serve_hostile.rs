//! Hostile clients against `spate serve`, over real gRPC on 127.0.0.1: decompression bombs,
//! lengths above the limit, idle connections and half-open streams, clients vanishing in
//! the middle of a frame, messages that stop arriving, readers that never read, floods of
//! tiny requests. A client can only end its own call: the server never dies, its memory
//! stays within its configured limits, and an honest client recording through it at the
//! same time loses nothing.
//!
//! The limits are first checked one at a time on an in-process [`ProxyServer`] (with its
//! counters); then everything at once against the real `spate serve` binary while the
//! official Python SDK records through it — its memory read from `/proc/PID/status`
//! (VmHWM, the peak resident set), its file checked by the official tools with every value.
//! That test SKIPs loudly without the official tools and fails under CI=true
//! (`tests/support/official.rs`).
//!
//! Every loop is bounded in count and every wait in time; nothing sleeps to synchronise
//! (waits are on counters, statuses and process exits), and no assertion is about timing.

#[path = "support/clients.rs"]
mod clients;
#[path = "support/official.rs"]
mod official;
#[path = "support/procs.rs"]
mod procs;

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clients::{READ, WRITE, grpc_message, grpc_prefix, lz4_bomb, write_request};
use procs::{LIMIT, Server, poll};
use spate::server::Relay;
use spate::server::{ProxyServer, ProxyServerOptions, ServeCounters};
use spate::sink::{MemorySink, MemorySinkHandle};
use spate::wire::{EncodedMessage, MessageKind, decode_rrd};
use spate::{EntityPath, Recording, SinkExt, SinkPolicy};
use tonic::Code;

const MIB: u64 = 1 << 20;

/// A call's end as the client saw it: its gRPC status, or how it broke.
type Outcome = Result<(Code, String), String>;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

/// Runs `f` on a current-thread runtime, failing the test if it takes longer than
/// [`LIMIT`].
fn block<T>(f: impl Future<Output = T>) -> T {
    block_within(LIMIT, f)
}

fn block_within<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    clients::runtime().block_on(async {
        tokio::time::timeout(limit, f)
            .await
            .unwrap_or_else(|_| panic!("not done within {limit:?}"))
    })
}

/// A recording streaming to `url` (lossless, one chunk per log) that keeps what it sent.
fn honest_client(rec_id: &str, url: &str) -> (Recording, MemorySinkHandle) {
    clients::recording("serve_hostile", rec_id, url)
}

/// Logs `frames` of a 2,000-point cloud and shuts down; the recording must be complete.
fn record(rec: Recording, frames: std::ops::Range<u32>) {
    for f in frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        let p = spate::demo::example_cloud(2_000, f, 0);
        rec.log(&EntityPath::parse("points").unwrap(), &p).unwrap();
    }
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
}

fn chunk_bodies(msgs: &[EncodedMessage]) -> Vec<Bytes> {
    let mut v: Vec<Bytes> = msgs
        .iter()
        .filter(|m| m.kind() == MessageKind::ArrowMsg)
        .map(EncodedMessage::to_contiguous)
        .collect();
    v.sort();
    v
}

/// An in-process server recording into memory.
fn serve(opts: ProxyServerOptions) -> (ProxyServer, MemorySinkHandle) {
    let (memory, got) = MemorySink::new();
    let relay = Relay::start(memory.with_policy(SinkPolicy::Block)).unwrap();
    (ProxyServer::start(localhost(), relay, opts).unwrap(), got)
}

/// Shuts `server` down: everything the honest client sent arrived, untouched.
fn shutdown_with_everything(server: ProxyServer, got: &MemorySinkHandle, sent: &MemorySinkHandle) {
    let report = server.shutdown(deadline());
    assert!(report.relay.is_complete(), "{report:#?}");
    assert_eq!(report.counters.connections_open, 0, "{report:#?}");
    assert_eq!(
        chunk_bodies(&got.messages()),
        chunk_bodies(&sent.messages())
    );
}

fn wait(server: &ProxyServer, what: &str, mut cond: impl FnMut(&ServeCounters) -> bool) {
    assert!(
        poll(LIMIT, || cond(&server.counters())),
        "{what}: {:#?}",
        server.counters()
    );
}

/// One call on a new connection: `bytes` pushed as they are, then the end of the stream.
async fn one_call(addr: SocketAddr, bytes: Vec<Bytes>) -> Outcome {
    let mut conn = clients::connect(addr).await;
    let call = conn.call(WRITE).await;
    for b in bytes {
        call.push(b).await;
    }
    call.finish().await
}

fn code(outcome: &Outcome) -> Code {
    outcome
        .as_ref()
        .map_or_else(|e| panic!("no status: {e}"), |(c, _)| *c)
}

// ---- the limits one at a time, in-process ----

#[test]
fn a_message_that_stops_arriving_ends_its_call_and_frees_its_reservation() {
    let (server, got) = serve(
        ProxyServerOptions::default()
            .max_message_bytes(MIB as usize)
            .max_in_flight_bytes(MIB)
            .stall_timeout(Duration::from_millis(500)),
    );
    let addr = server.addr();

    // It announces a message as large as the whole in-flight budget, sends a tenth of it
    // and goes quiet, alive.
    let staller = std::thread::spawn(move || {
        block(async move {
            let mut conn = clients::connect(addr).await;
            let call = conn.call(WRITE).await;
            call.push(grpc_prefix(MIB as u32)).await;
            call.push(vec![0u8; (MIB / 10) as usize]).await;
            call.status().await
        })
    });
    wait(&server, "the staller's reservation", |c| {
        c.in_flight_bytes == MIB
    });

    // An honest client meanwhile: its requests wait for room, then all go through.
    let (rec, sent) = honest_client("after-stall", &server.url());
    record(rec, 0..3);
    let outcome = staller.join().unwrap();
    assert_eq!(code(&outcome), Code::DeadlineExceeded, "{outcome:?}");
    let c = server.counters();
    assert_eq!((c.calls_stalled, c.calls_finished), (1, 1), "{c:#?}");
    assert_eq!(c.in_flight_bytes, 0, "{c:#?}");
    shutdown_with_everything(server, &got, &sent);
}

#[test]
fn idle_connections_are_closed_and_connections_over_the_limit_wait_for_a_slot() {
    let (server, got) = serve(
        ProxyServerOptions::default()
            .max_connections(3)
            .idle_timeout(Duration::from_millis(300)),
    );
    let addr = server.addr();

    // Three connections that never say a word take every slot.
    let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    wait(&server, "three accepted", |c| c.connections == 3);

    // A fourth, honest one waits in the accept queue until the idle ones are closed.
    let (rec, sent) = honest_client("after-idle", &server.url());
    record(rec, 0..2);
    for tcp in &mut idle {
        assert!(
            clients::server_closed(tcp, LIMIT),
            "an idle connection is still open"
        );
    }
    // A connection is counted when its task ends, just after the client sees it closed.
    wait(&server, "three idle closes counted", |c| {
        c.connections_idle_closed >= 3
    });
    let c = server.counters();
    assert!(c.connections >= 4 && c.calls_finished >= 1, "{c:#?}");
    shutdown_with_everything(server, &got, &sent);
}

#[test]
fn bad_lengths_flags_and_bombs_end_their_own_call_before_allocating() {
    let (server, got) = serve(ProxyServerOptions::default().max_message_bytes(MIB as usize));
    let addr = server.addr();
    let arrow = |body: &[u8]| grpc_message(&write_request(2, body));
    // An ArrowMsg whose payload field (5) announces 1 GB and holds 3 bytes.
    let lying_field = [0x2a, 0x80, 0x80, 0x80, 0x80, 0x04, 1, 2, 3];
    let cases: Vec<(&str, Vec<Bytes>, Code)> = vec![
        (
            "a gRPC length of 4 GiB",
            vec![grpc_prefix(u32::MAX), Bytes::from_static(b"0123456789")],
            Code::OutOfRange,
        ),
        (
            "gRPC-compressed",
            vec![Bytes::from_static(&[1, 0, 0, 0, 3, 1, 2, 3])],
            Code::Unimplemented,
        ),
        (
            "compression flag 7",
            vec![Bytes::from_static(&[7, 0, 0, 0, 3, 1, 2, 3])],
            Code::InvalidArgument,
        ),
        (
            "a LogMsg length of 2^62",
            vec![grpc_message(&[
                0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
            ])],
            Code::InvalidArgument,
        ),
        (
            "a payload length past the end",
            vec![arrow(&lying_field)],
            Code::InvalidArgument,
        ),
        (
            "half a gRPC prefix",
            vec![Bytes::from_static(&[0, 0])],
            Code::InvalidArgument,
        ),
        (
            "a message cut short",
            vec![grpc_prefix(1000), Bytes::from_static(b"short")],
            Code::InvalidArgument,
        ),
        (
            "an LZ4 bomb within the limit",
            vec![arrow(&lz4_bomb(4096, 255 * 4096))],
            Code::InvalidArgument,
        ),
        (
            "an LZ4 bomb past the limit",
            vec![arrow(&lz4_bomb(8192, 255 * 8192))],
            Code::OutOfRange,
        ),
    ];
    for (what, bytes, want) in cases {
        let outcome = block(one_call(addr, bytes));
        assert_eq!(code(&outcome), want, "{what}: {outcome:?}");
    }
    let c = server.counters();
    assert_eq!(
        (
            c.rejected_oversized,
            c.rejected_malformed,
            c.rejected_invalid,
            c.calls_failed,
            c.calls_rejected,
            c.in_flight_bytes
        ),
        (2, 3, 2, 2, 7, 0),
        "{c:#?}"
    );
    // The server serves on.
    let (rec, sent) = honest_client("after-bad", &server.url());
    record(rec, 0..2);
    shutdown_with_everything(server, &got, &sent);
}

// ---- everything at once, against the real binary, while the official SDK records ----

const POINTS: u32 = 20_000;
const FRAMES: u32 = 10;
const ENTITIES: u32 = 2;

/// The limits the binary runs with, in MiB.
const MAX_MESSAGE_MIB: u64 = 16;
/// Small, so the history evicts while readers that never read hang on.
const MEMORY_LIMIT_MIB: u64 = 2;
const IN_FLIGHT_MIB: u64 = 64;
const QUEUE_MIB: u64 = 64;
const MAX_CONNECTIONS: u64 = 160;
const IDLE_TCP: usize = 64;
const HALF_OPEN_CONNECTIONS: usize = 16;
const HALF_OPEN_STREAMS: usize = 4;
const NON_READING_READERS: usize = 4;
const STALLERS: usize = 4;
/// Rounds a hostile thread plays at most (it stops earlier once the SDK is done, after at
/// least one).
const MAX_ROUNDS: usize = 40;

/// The number before `name` in `spate serve`'s summary (e.g. `" stalled,"`).
fn counter(log: &str, name: &str) -> u64 {
    let at = log
        .find(name)
        .unwrap_or_else(|| panic!("no {name:?} in:\n{log}"));
    let before = log[..at].rsplit([' ', '(']).next().unwrap_or("");
    before
        .parse()
        .unwrap_or_else(|_| panic!("no number before {name:?} in:\n{log}"))
}

/// `VmHWM` / `VmRSS` of a process, in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// A hostile client thread: plays `round` until the honest client is done (at least once,
/// at most [`MAX_ROUNDS`] times) and returns every outcome it saw.
fn hostile<F, Fut>(done: &Arc<AtomicBool>, addr: SocketAddr, round: F) -> JoinHandle<Vec<Outcome>>
where
    F: Fn(SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<Outcome>>,
{
    let done = done.clone();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..MAX_ROUNDS {
            seen.extend(block(round(addr)));
            if done.load(Ordering::Acquire) {
                break;
            }
        }
        seen
    })
}

/// Bombs: a 8 MiB LZ4 payload claiming 255× that (past the 16 MiB limit: refused
/// unallocated), and a 64 KiB one claiming just under 16 MiB (allocated within the
/// decompression budget, then found false).
async fn bombs(addr: SocketAddr) -> Vec<Outcome> {
    let big = (8 * MIB) as usize;
    let within = 255 * 65_000;
    vec![
        one_call(
            addr,
            vec![grpc_message(&write_request(
                2,
                &lz4_bomb(big, 255 * big as u64),
            ))],
        )
        .await,
        one_call(
            addr,
            vec![grpc_message(&write_request(2, &lz4_bomb(65_000, within)))],
        )
        .await,
    ]
}

/// Lengths above the limit: a gRPC length of 4 GiB, a LogMsg announcing 2^62 bytes.
async fn lengths(addr: SocketAddr) -> Vec<Outcome> {
    vec![
        one_call(addr, vec![grpc_prefix(u32::MAX), Bytes::from_static(b"x")]).await,
        one_call(
            addr,
            vec![grpc_message(&[
                0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40,
            ])],
        )
        .await,
    ]
}

/// Clients vanishing mid-frame (raw TCP, so the bytes surely left): inside a DATA frame of
/// a 1 MiB message, inside a gRPC prefix, inside the HTTP/2 preface's first frame; and one
/// (hyper) whose connection is dropped at an arbitrary point. They see no status; each of
/// the first two is a call the server counts as failed if its HTTP/2 layer handed it over
/// before the connection broke.
async fn vanishers(addr: SocketAddr) -> Vec<Outcome> {
    let mut mid_data = clients::h2_call_start(WRITE);
    let mut first = grpc_prefix(MIB as u32).to_vec();
    first.resize(16 << 10, 7);
    mid_data.extend_from_slice(&clients::h2_data(&first));
    mid_data.extend_from_slice(&clients::h2_data(&[7; 16 << 10]));
    // Half a DATA frame: its header announces 16 KiB, 100 bytes follow.
    mid_data.extend_from_slice(&clients::h2_data(&[7; 16 << 10])[..9 + 100]);
    let mut mid_prefix = clients::h2_call_start(WRITE);
    mid_prefix.extend_from_slice(&clients::h2_data(&[0, 0]));
    let mid_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00".to_vec();
    let mut seen = Vec::new();
    for (bytes, counted) in [(mid_data, true), (mid_prefix, true), (mid_preface, false)] {
        send_and_vanish(addr, &bytes);
        if counted {
            seen.push(Err("vanished".to_owned()));
        }
    }
    let mut conn = clients::connect(addr).await;
    let call = conn.call(WRITE).await;
    call.push(grpc_prefix(MIB as u32)).await;
    call.push(vec![7u8; 300 << 10]).await;
    conn.vanish();
    seen
}

/// Writes `bytes`, half-closes, and waits (bounded) for the server to close its side.
fn send_and_vanish(addr: SocketAddr, bytes: &[u8]) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(bytes).unwrap();
    tcp.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        clients::server_closed(&mut tcp, LIMIT),
        "the server kept a half-closed connection open"
    );
}

/// A flood of tiny requests: 5,000 of an unknown LogMsg kind in one call (dropped, the
/// call goes on), then 50 calls of one malformed 3-byte request each on one connection.
async fn flood(addr: SocketAddr) -> Vec<Outcome> {
    let tiny = grpc_message(&write_request(9, b"x"));
    let batch: Vec<u8> = tiny
        .iter()
        .copied()
        .cycle()
        .take(tiny.len() * 500)
        .collect();
    let mut conn = clients::connect(addr).await;
    let call = conn.call(WRITE).await;
    for _ in 0..10 {
        call.push(batch.clone()).await;
    }
    let mut seen = vec![call.finish().await];
    for _ in 0..50 {
        let call = conn.call(WRITE).await;
        call.push(grpc_message(&[0x0a, 0x05, 0x12])).await;
        seen.push(call.finish().await);
    }
    seen
}

/// Messages that stop arriving: 4 MiB announced, 1 MiB sent, then silence (alive), until
/// the server's stall timeout ends the call.
async fn stallers(addr: SocketAddr) -> Vec<Outcome> {
    let mut calls = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..STALLERS {
        let mut conn = clients::connect(addr).await;
        let call = conn.call(WRITE).await;
        call.push(grpc_prefix((4 * MIB) as u32)).await;
        call.push(vec![1u8; MIB as usize]).await;
        calls.push(call);
        conns.push(conn);
    }
    let mut seen = Vec::new();
    for call in calls {
        seen.push(call.status().await);
    }
    seen
}

#[test]
fn hostile_clients_neither_stop_spate_serve_nor_the_official_sdk_recording() {
    let Some(python) = official::official_python(
        "hostile_clients_neither_stop_spate_serve_nor_the_official_sdk_recording",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.rrd");
    let mib = |n: u64| format!("{n}MiB");
    let mut server = Server::spate_serve(
        &[
            "--save",
            path.to_str().unwrap(),
            "--max-message-bytes",
            &mib(MAX_MESSAGE_MIB),
            "--memory-limit",
            &mib(MEMORY_LIMIT_MIB),
            "--max-in-flight-bytes",
            &mib(IN_FLIGHT_MIB),
            "--queue-bytes",
            &mib(QUEUE_MIB),
            "--max-connections",
            &MAX_CONNECTIONS.to_string(),
            "--max-streams-per-connection",
            "8",
            "--stall-timeout",
            "2s",
        ],
        dir.path().join("serve.log"),
    );
    let pid = server.pid();
    let baseline_kib = status_kib(pid, "VmRSS");
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();

    // Held from before the SDK starts until after it is done: connections that never say
    // a word, WriteMessages calls that never send a byte, readers that never read.
    let idle_tcp: Vec<TcpStream> = (0..IDLE_TCP)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let holders = std::thread::spawn(move || {
        block_within(5 * LIMIT, async move {
            let mut conns = Vec::new();
            let mut calls = Vec::new();
            for _ in 0..HALF_OPEN_CONNECTIONS {
                let mut conn = clients::connect(addr).await;
                for _ in 0..HALF_OPEN_STREAMS {
                    calls.push(conn.call(WRITE).await);
                }
                conns.push(conn);
            }
            let mut readers = Vec::new();
            for _ in 0..NON_READING_READERS {
                let mut conn = clients::connect(addr).await;
                let call = conn.call(READ).await;
                call.push(grpc_message(&[])).await;
                readers.push((call.response().await.unwrap(), conn));
            }
            ready_tx.send(()).unwrap();
            let _ = release_rx.await;
            // Still served after all that: each half-open call ends cleanly when its
            // client ends it.
            let mut seen = Vec::new();
            for call in calls {
                seen.push(call.finish().await);
            }
            drop(readers);
            seen
        })
    });
    ready_rx.recv_timeout(LIMIT).expect("holders ready");

    // The honest client: the official Python SDK.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/send_points.py");
    let sdk_log = dir.path().join("sdk.log");
    let log_file = std::fs::File::create(&sdk_log).unwrap();
    let mut sdk = Command::new(&python)
        .arg(script)
        .args([&server.url(), "spate_hostile_py", "py-rec"])
        .args([POINTS, FRAMES, ENTITIES].map(|n| n.to_string()))
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .stdin(Stdio::null())
        .spawn()
        .expect("start send_points.py");

    // The attackers, while it records.
    let done = Arc::new(AtomicBool::new(false));
    let attackers: Vec<(&str, JoinHandle<Vec<Outcome>>)> = vec![
        ("bombs", hostile(&done, addr, bombs)),
        ("bombs", hostile(&done, addr, bombs)),
        ("lengths", hostile(&done, addr, lengths)),
        ("vanishers", hostile(&done, addr, vanishers)),
        ("flood", hostile(&done, addr, flood)),
        ("stallers", hostile(&done, addr, stallers)),
    ];
    let mut sdk_status = None;
    let exited = poll(2 * LIMIT, || {
        sdk_status = sdk.try_wait().unwrap();
        sdk_status.is_some()
    });
    if !exited {
        let _ = sdk.kill();
    }
    done.store(true, Ordering::Release);
    let sdk_text = std::fs::read_to_string(&sdk_log).unwrap_or_default();
    assert!(
        sdk_status.is_some_and(|s| s.success()),
        "the SDK failed ({sdk_status:?}):\n{sdk_text}\nserver:\n{}",
        server.log_text()
    );

    let mut by_code: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for (name, t) in attackers {
        for outcome in t.join().expect("attacker thread") {
            let key = match &outcome {
                Ok((c, _)) => format!("{c:?}"),
                Err(e) => format!("broken: {e}"),
            };
            *by_code.entry((name, key)).or_default() += 1;
        }
    }
    eprintln!("attackers saw: {by_code:#?}");
    // Each attack got its own call ended, with the status it deserved.
    let got = |name: &str, code: &str| by_code.get(&(name, code.to_owned())).copied();
    assert!(got("bombs", "OutOfRange").is_some() && got("bombs", "InvalidArgument").is_some());
    assert!(got("lengths", "OutOfRange").is_some() && got("lengths", "InvalidArgument").is_some());
    assert!(got("flood", "Ok").is_some() && got("flood", "InvalidArgument").is_some());
    assert!(got("stallers", "DeadlineExceeded").is_some());
    for ((name, code), n) in &by_code {
        let expected = match *name {
            "bombs" | "lengths" => ["OutOfRange", "InvalidArgument"].contains(&code.as_str()),
            "flood" => ["Ok", "InvalidArgument"].contains(&code.as_str()),
            "stallers" => code == "DeadlineExceeded",
            "vanishers" => code == "broken: vanished",
            _ => false,
        };
        assert!(expected, "{name}: {n} × {code}");
    }

    // The SDK's flush only says the bytes left it; wait until the file has them.
    let rows = (FRAMES * ENTITIES) as usize;
    let temporal_rows = || {
        std::fs::read(&path)
            .ok()
            .and_then(|b| decode_rrd(b).ok())
            .map_or(0, |d| {
                d.chunks()
                    .filter(|c| !c.is_static())
                    .map(|c| c.num_rows())
                    .sum::<usize>()
            })
    };
    assert!(
        poll(LIMIT, || temporal_rows() == rows),
        "{} of {rows} rows saved:\n{}",
        temporal_rows(),
        server.log_text()
    );

    // Memory: the peak resident set against what the configured limits allow.
    let peak_kib = status_kib(pid, "VmHWM");
    let now_kib = status_kib(pid, "VmRSS");
    let h2_window_mib = 64; // Http2Tuning::default().initial_connection_window
    let terms: Vec<(&str, u64)> = vec![
        ("baseline (VmRSS at start)", baseline_kib / 1024 + 1),
        ("--memory-limit (history)", MEMORY_LIMIT_MIB),
        ("--max-in-flight-bytes", IN_FLIGHT_MIB),
        ("--max-message-bytes (decompression)", MAX_MESSAGE_MIB),
        ("--queue-bytes (file sink queue)", QUEUE_MIB),
        ("relay inbox", 64),
        ("file backend in flight", 64),
        (
            "HTTP/2 data not yet read: the SDK's window + what attackers send unread",
            h2_window_mib + 2 * 9 + STALLERS as u64 + 2,
        ),
        (
            "readers' messages (one each, at most --max-message-bytes)",
            NON_READING_READERS as u64 * MAX_MESSAGE_MIB,
        ),
        ("per connection state (64 KiB each)", MAX_CONNECTIONS / 16),
    ];
    let bound_mib: u64 = terms.iter().map(|t| t.1).sum();
    eprintln!(
        "spate serve memory: baseline {} KiB, peak (VmHWM) {peak_kib} KiB, now (VmRSS) \
         {now_kib} KiB; bound {bound_mib} MiB = {terms:#?}",
        baseline_kib
    );
    assert!(
        peak_kib <= bound_mib * 1024,
        "peak {peak_kib} KiB over the {bound_mib} MiB the limits allow"
    );

    release_tx.send(()).unwrap();
    let half_open = holders.join().expect("holder thread");
    assert_eq!(half_open.len(), HALF_OPEN_CONNECTIONS * HALF_OPEN_STREAMS);
    for outcome in &half_open {
        assert_eq!(code(outcome), Code::Ok, "{outcome:?}");
    }
    drop(idle_tcp);

    let status = server.signal_and_wait("TERM");
    let log = server.log_text();
    eprintln!("{log}");
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("closed cleanly: true"), "{log}");
    // The server counted what the attackers saw.
    let n = |name: &str| {
        by_code
            .get(&(name, "OutOfRange".to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(counter(&log, " panicked)"), 0, "{log}");
    assert_eq!(
        counter(&log, " stalled,"),
        got("stallers", "DeadlineExceeded").unwrap_or(0) as u64,
        "{log}"
    );
    assert!(
        counter(&log, " oversized,") >= (n("bombs") + n("lengths")) as u64,
        "{log}"
    );
    assert_eq!(
        counter(&log, " unknown kind,"),
        5_000 * got("flood", "Ok").unwrap_or(0) as u64,
        "{log}"
    );

    let decoded = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
    assert!(
        decoded.footer.as_ref().is_some_and(|f| f.valid),
        "{:?}",
        decoded.footer
    );
    // The official SDK writes what a spate recording does besides the rows: its properties
    // row and `log_time` on every temporal row.
    let expect = official::write_expectation(
        &path,
        "spate_hostile_py",
        "py-rec",
        &official::example_rows(POINTS, FRAMES, ENTITIES),
    );
    official::check(&python, &path, &expect);
}
