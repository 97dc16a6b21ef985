//! GrpcSink against spate's in-process receiving server on 127.0.0.1: every row arrives
//! and decodes to the logged values; bad URLs are typed errors; a server killed and
//! restarted on the same port gets the store info, the statics and the later rows; drops
//! while the server is down are counted exactly; a close never outlives its deadline;
//! connections cut at chosen points by a proxy (`support/cut_proxy.rs`) lose no message
//! without counting it; a stalled server does not block writes forever; the accounting
//! (confirmed + counted = written) adds up.

#[path = "support/cut_proxy.rs"]
mod cut_proxy;
#[path = "support/messages.rs"]
mod messages;
#[path = "support/preamble.rs"]
mod preamble;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arrow_array::{Array, FixedSizeListArray, Float32Array, UInt32Array};
use spate::net::UrlError;
use spate::server::testing::{ProxyReceiver, Received};
use spate::sink::grpc::{GrpcSinkOptions, OverflowPolicy};
use spate::sink::{ConnectionState, GrpcSink, GrpcSinkError, GrpcSinkStats};
use spate::stats::SinkStats;
use spate::wire::{DecodedRrd, EncodedMessage, MessageKind};
use spate::{BatchPolicy, ChunkId, EntityPath, Recording, RowId, Sink, SinkExt, SinkPolicy};

use cut_proxy::{CutProxy, Plan};
use messages::encoded;
use preamble::{PREAMBLE_MESSAGES, is_properties_msg, logged_chunks, logged_rows};

const LIMIT: Duration = Duration::from_secs(30);

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Fast reconnects for tests.
fn fast() -> GrpcSinkOptions {
    GrpcSinkOptions::default()
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect_timeout(Duration::from_secs(2))
}

const POINTS: u32 = 2_000;
const ENTITIES: u32 = 2;

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

/// A decoded row: entity, frame (`None` for static rows) and its three columns.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    entity: String,
    frame: Option<i64>,
    positions: Vec<f32>,
    colors: Vec<u32>,
    radii: Vec<f32>,
}

/// What `example_cloud(n, f, e)` logged, as a [`Row`].
fn expected(entity: &str, frame: Option<i64>, n: u32, f: u32, e: u32) -> Row {
    let p = (0..n).flat_map(|i| [i as f32 * 0.001, f as f32, e as f32 + (i % 7) as f32 * 0.25]);
    Row {
        entity: entity.to_owned(),
        frame,
        positions: p.collect(),
        colors: (0..n)
            .map(|i| u32::from_be_bytes([(i % 256) as u8, (f % 256) as u8, (e % 256) as u8, 255]))
            .collect(),
        radii: (0..n).map(|i| 0.01 + (i % 10) as f32 * 0.001).collect(),
    }
}

fn f32s(a: &dyn Array) -> Vec<f32> {
    a.as_any()
        .downcast_ref::<Float32Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// Every logged row of every chunk (the recording's properties left out), keyed by row id
/// (a row sent twice appears once).
fn rows(decoded: &DecodedRrd) -> BTreeMap<RowId, Row> {
    let mut out = BTreeMap::new();
    for chunk in logged_chunks(decoded) {
        let frames = chunk
            .timelines()
            .iter()
            .find(|t| t.timeline().name() == "frame");
        let pos = chunk.component("Points3D:positions").expect("positions");
        let col = chunk.component("Points3D:colors").expect("colors");
        let rad = chunk.component("Points3D:radii").expect("radii");
        for (i, id) in chunk.row_ids().enumerate() {
            let p = pos.list().value(i);
            let p = p.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
            let c = col.list().value(i);
            let row = Row {
                entity: chunk
                    .entity()
                    .to_string()
                    .trim_start_matches('/')
                    .to_owned(),
                frame: frames.map(|t| t.values()[i]),
                positions: f32s(p.values().as_ref()),
                colors: c
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .unwrap()
                    .values()
                    .to_vec(),
                radii: f32s(rad.list().value(i).as_ref()),
            };
            out.insert(id, row);
        }
    }
    out
}

/// `(entity, frame)` of the temporal rows.
fn frames_of(rows: &BTreeMap<RowId, Row>) -> Vec<(String, i64)> {
    let mut v: Vec<_> = rows
        .values()
        .filter_map(|r| Some((r.entity.clone(), r.frame?)))
        .collect();
    v.sort();
    v
}

fn assert_values(rows: &BTreeMap<RowId, Row>) {
    for r in rows.values() {
        let (f, e, n) = match r.frame {
            Some(f) => (
                u32::try_from(f).unwrap(),
                r.entity.trim_start_matches("points/").parse().unwrap(),
                POINTS,
            ),
            None => (0, 9, 3), // the static "config" row
        };
        assert_eq!(
            r,
            &expected(&r.entity, r.frame, n, f, e),
            "{} frame {:?}",
            r.entity,
            r.frame
        );
    }
}

fn kinds(got: &[Received]) -> Vec<MessageKind> {
    got.iter().map(|r| r.kind).collect()
}

#[test]
fn every_row_arrives_and_decodes_to_the_logged_values() {
    let server = ProxyReceiver::start(localhost()).unwrap();
    let sink = GrpcSink::connect(&server.url()).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("grpc_rows")
        .recording_id("grpc-rows-1")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    rec.log_static(
        &EntityPath::parse("config").unwrap(),
        &spate::demo::example_cloud(3, 0, 9),
    )
    .unwrap();
    log_frames(&rec, 0..20);
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");

    let stats = state.stats();
    assert_eq!(stats.state, ConnectionState::Closed);
    assert_eq!(stats.sent_messages, stats.written_messages, "{stats:#?}");
    assert_eq!(
        stats.confirmed_messages, stats.written_messages,
        "{stats:#?}"
    );
    assert_eq!(stats.written_messages, report.sinks[0].stats.messages);
    assert_eq!(
        (
            stats.dropped_messages,
            stats.abandoned_messages,
            stats.reconnects
        ),
        (0, 0, 0)
    );

    let counts = server.counts();
    assert_eq!((counts.calls_started, counts.calls_finished), (1, 1));
    assert_eq!(counts.messages, stats.sent_messages);
    let got = server.received();
    assert_eq!(got[0].kind, MessageKind::SetStoreInfo);
    assert_eq!(
        kinds(&got)
            .iter()
            .filter(|k| **k == MessageKind::SetStoreInfo)
            .count(),
        1
    );

    let decoded = server.decode().unwrap();
    let rows = rows(&decoded);
    assert_eq!(rows.len(), 20 * ENTITIES as usize + 1);
    assert_values(&rows);
    let want: Vec<_> = (0..ENTITIES)
        .flat_map(|e| (0..20).map(move |f| (format!("points/{e}"), f)))
        .collect();
    assert_eq!(frames_of(&rows), want);
    // The store id on the wire is the recording's.
    let Some(spate::wire::Message::SetStoreInfo(info)) =
        decoded.messages.first().map(|m| &m.message)
    else {
        panic!("first message is not SetStoreInfo");
    };
    let id = info.info.as_ref().unwrap().store_id.as_ref().unwrap();
    assert_eq!(id.recording_id, "grpc-rows-1");
}

/// Large messages go out zero-copy, part by part; small ones are coalesced into one buffer.
/// Interleaving both (the two paths alternate, and small messages queue up behind large
/// ones) must keep every row intact and in order.
#[test]
fn large_zero_copy_and_small_coalesced_messages_interleave_intact() {
    let server = ProxyReceiver::start(localhost()).unwrap();
    let sink = GrpcSink::connect_with(&server.url(), fast()).unwrap();
    let rec = Recording::builder("grpc_mixed")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    // 100k points = 2 MB per message (zero-copy path); 10 and 2,000 points stay under the
    // 64 KiB threshold (coalesced path).
    let sizes = |f: u32| match f % 3 {
        0 => 100_000,
        1 => 10,
        _ => 2_000,
    };
    let entity = EntityPath::parse("points/0").unwrap();
    for f in 0..12 {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        rec.log(&entity, &spate::demo::example_cloud(sizes(f), f, 0))
            .unwrap();
    }
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let got = server.received();
    assert_eq!(got[0].kind, MessageKind::SetStoreInfo);
    assert_eq!(
        got.len() as u64,
        PREAMBLE_MESSAGES + 12,
        "the preamble (store info, properties) + one chunk per row"
    );
    let rows = rows(&server.decode().unwrap());
    let logged: Vec<Row> = rows.into_values().collect();
    let want: Vec<Row> = (0..12)
        .map(|f| expected("points/0", Some(i64::from(f)), sizes(f), f, 0))
        .collect();
    assert_eq!(logged.len(), want.len());
    for (got, want) in logged.iter().zip(&want) {
        assert!(got == want, "frame {:?} differs", want.frame);
    }
}

/// Until the first connection attempt has an outcome, the server is not known to be down:
/// a write over the buffer budget waits (back-pressure) instead of dropping as if the sink
/// were disconnected. The attempt is held open by a listener whose accept queue is full,
/// so the kernel ignores the sink's SYN until the connect timeout.
#[test]
fn writes_over_budget_wait_for_the_first_connection_attempt() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let listener = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(localhost()).unwrap();
        socket.listen(0).unwrap()
    });
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue (never accepted); later SYNs are dropped by the kernel.
    let _fillers: Vec<_> = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();

    // Two 200 kB chunks to write directly, over a 64 KiB budget.
    let (memory, got) = spate::MemorySink::new();
    let rec = Recording::builder("grpc_first_attempt")
        .sinks(memory)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let entity = EntityPath::parse("points/0").unwrap();
    for f in 0..2 {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        rec.log(&entity, &spate::demo::example_cloud(10_000, f, 0))
            .unwrap();
    }
    assert!(rec.shutdown(deadline()).is_complete());
    let msgs: Vec<_> = got
        .messages()
        .into_iter()
        .filter(|m| m.kind() == MessageKind::ArrowMsg && !is_properties_msg(m))
        .collect();
    assert_eq!(msgs.len(), 2);

    let url = format!("rerun+http://{addr}/proxy");
    // Once the server is known down, the write over the budget is the one dropped.
    let opts = fast()
        .buffer_bytes(64 * 1024)
        .overflow(OverflowPolicy::DropNewest)
        .connect_timeout(Duration::from_millis(500));
    let mut sink = GrpcSink::connect_with(&url, opts).unwrap();
    let state = sink.state_handle();
    sink.write(&msgs[0]).unwrap(); // fits: nothing held yet
    assert_eq!(state.stats().connect_failures, 0, "{:?}", state.stats());
    sink.write(&msgs[1]).unwrap(); // over budget: waits for the attempt's outcome
    let s = state.stats();
    assert!(
        s.connect_failures >= 1,
        "the write returned while the first attempt was still open: {s:#?}"
    );
    assert_eq!(
        (s.dropped_messages, s.dropped_bytes),
        (1, msgs[1].len() as u64),
        "dropped once the server is known down"
    );
    drop(rt);
}

/// A sink that carries several stores (as `spate serve --forward` does) replays the store
/// info and the static chunk of each of them on a new connection, not just the last store's.
#[test]
fn a_reconnect_replays_every_store_the_sink_carried() {
    // Messages of two recordings, each: SetStoreInfo, the properties (static), a static
    // chunk, a temporal chunk.
    let (a, b) = (
        encoded("store_a", true, 1, 10),
        encoded("store_b", true, 1, 10),
    );
    assert_eq!((a.len(), b.len()), (4, 4));

    let first = ProxyReceiver::start(localhost()).unwrap();
    let addr = first.addr();
    let mut sink = GrpcSink::connect_with(&first.url(), fast()).unwrap();
    let state = sink.state_handle();
    for m in a.iter().chain(&b) {
        sink.write(m).unwrap();
    }
    sink.flush(deadline()).unwrap();
    assert!(first.wait_until(LIMIT, |c| c.messages == 8));
    first.kill();
    assert!(state.wait_until(deadline(), |s| s.state.is_disconnected()));
    let second = ProxyReceiver::start(addr).unwrap();
    assert!(state.wait_until(deadline(), |s| s.reconnects == 1
        && s.state == ConnectionState::Connected));
    sink.close(deadline()).unwrap();

    let got = second.received();
    let app_of = |r: &Received| -> String {
        match r.log_msg().unwrap().msg {
            Some(spate::wire::proto::log_msg::Msg::SetStoreInfo(i)) => {
                i.info.unwrap().store_id.unwrap().application_id.unwrap().id
            }
            Some(spate::wire::proto::log_msg::Msg::ArrowMsg(m)) => {
                m.store_id.unwrap().application_id.unwrap().id
            }
            _ => String::new(),
        }
    };
    let replay: Vec<(MessageKind, Option<bool>, String)> = got
        .iter()
        .map(|r| (r.kind, r.is_static(), app_of(r)))
        .collect();
    assert_eq!(
        replay,
        vec![
            (MessageKind::SetStoreInfo, None, "store_a".to_owned()),
            (MessageKind::SetStoreInfo, None, "store_b".to_owned()),
            // Each store's properties, then its static chunk.
            (MessageKind::ArrowMsg, Some(true), "store_a".to_owned()),
            (MessageKind::ArrowMsg, Some(true), "store_a".to_owned()),
            (MessageKind::ArrowMsg, Some(true), "store_b".to_owned()),
            (MessageKind::ArrowMsg, Some(true), "store_b".to_owned()),
        ],
        "both stores' info and statics, nothing else"
    );
    assert_eq!(state.stats().replayed_messages, 6);
}

#[test]
fn bad_urls_are_typed_errors() {
    let cases: [(&str, UrlError); 5] = [
        (
            "http://127.0.0.1:9876/proxy",
            UrlError::UnsupportedScheme("http".into()),
        ),
        (
            "rerun+https://127.0.0.1:9876/catalog",
            UrlError::NotProxyEndpoint("/catalog".into()),
        ),
        (
            "rerun+http://127.0.0.1:9876/",
            UrlError::NotProxyEndpoint("/".into()),
        ),
        (
            "rerun+http://127.0.0.1:notaport/proxy",
            UrlError::InvalidPort("notaport".into()),
        ),
        ("127.0.0.1:9876", UrlError::MissingScheme),
    ];
    for (url, want) in cases {
        match GrpcSink::connect(url) {
            Err(GrpcSinkError::InvalidUrl { url: u, reason }) => {
                assert_eq!((u.as_str(), reason), (url, want));
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // The default URL is valid (connecting happens in the background).
    let sink = GrpcSink::connect(spate::sink::grpc::DEFAULT_URL).unwrap();
    assert_eq!(sink.url().to_string(), spate::sink::grpc::DEFAULT_URL);
}

/// A lossless recording into `sink` that batches nothing and has logged one static chunk
/// (`/config`), which every reconnect must replay.
fn one_row_per_chunk_with_static_config(app: &str, sink: GrpcSink) -> Recording {
    let rec = Recording::builder(app)
        .batch(BatchPolicy::unbatched())
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    rec.log_static(
        &EntityPath::parse("config").unwrap(),
        &spate::demo::example_cloud(3, 0, 9),
    )
    .unwrap();
    rec
}

#[test]
fn reconnects_after_the_server_restarts_and_replays_store_info_and_statics() {
    let first = ProxyReceiver::start(localhost()).unwrap();
    let addr = first.addr();
    let sink = GrpcSink::connect_with(&first.url(), fast()).unwrap();
    let state = sink.state_handle();
    let rec = one_row_per_chunk_with_static_config("grpc_restart", sink);
    log_frames(&rec, 0..5);
    rec.flush(deadline()).unwrap();
    let s = state.stats();
    assert_eq!(
        (s.sent_messages, s.queued_messages),
        (s.written_messages, 0)
    );
    assert!(first.wait_until(LIMIT, |c| c.messages == s.sent_messages));
    // The recording's stats carry the sink's connection state and counters too.
    let sink_stats = &rec.stats().sinks[0];
    assert_eq!(sink_stats.connection(), Some(ConnectionState::Connected));
    assert_eq!(
        sink_stats.grpc.as_ref().map(|g| g.sent_messages),
        Some(s.sent_messages)
    );

    // Kill the server while the call is open.
    first.kill();
    assert!(
        state.wait_until(deadline(), |s| s.state.is_disconnected()),
        "{:?}",
        state.stats()
    );
    assert!(
        rec.stats().sinks[0]
            .connection()
            .is_some_and(|c| c.is_disconnected() || c == ConnectionState::Connecting),
        "{:?}",
        rec.stats().sinks[0]
    );
    log_frames(&rec, 5..10); // buffered while down

    let second = ProxyReceiver::start(addr).unwrap();
    assert!(
        state.wait_until(deadline(), |s| s.state == ConnectionState::Connected
            && s.reconnects == 1),
        "{:?}",
        state.stats()
    );
    log_frames(&rec, 10..15);
    let report = rec.shutdown(deadline());
    assert!(report.is_complete(), "{report:#?}");
    let stats = state.stats();
    assert_eq!(stats.state, ConnectionState::Closed);
    assert_eq!(report.sinks[0].stats.grpc.as_ref(), Some(&stats));
    assert_eq!(
        (stats.dropped_messages, stats.abandoned_messages),
        (0, 0),
        "{stats:#?}"
    );
    assert_eq!(
        stats.replayed_messages, 3,
        "store info, the properties and the static chunk"
    );
    // The flush before the kill had everything confirmed: nothing to send again.
    assert_eq!(
        (stats.confirmed_messages, stats.resent_messages),
        (stats.written_messages, 0),
        "{stats:#?}"
    );
    assert!(stats.last_error.is_some());

    // The new connection starts with the store info, then the static chunks: the
    // properties and `/config`.
    let got = second.received();
    assert_eq!(got[0].kind, MessageKind::SetStoreInfo);
    for r in &got[1..3] {
        assert_eq!((r.kind, r.is_static()), (MessageKind::ArrowMsg, Some(true)));
    }
    assert!(got[3..].iter().all(|r| r.is_static() == Some(false)));
    assert_eq!(second.counts().calls_finished, 1);

    let rows = rows(&second.decode().unwrap());
    assert_values(&rows);
    let want: Vec<_> = (0..ENTITIES)
        .flat_map(|e| (5..15).map(move |f| (format!("points/{e}"), f)))
        .collect();
    assert_eq!(frames_of(&rows), want, "rows logged while down and after");
    assert!(
        rows.values()
            .any(|r| r.entity == "config" && r.frame.is_none())
    );
}

#[test]
fn a_server_killed_while_data_flows_is_reconnected_without_duplicates() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    let first = ProxyReceiver::start(localhost()).unwrap();
    let addr = first.addr();
    let sink = GrpcSink::connect_with(&first.url(), fast()).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("grpc_kill_streaming")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    let stop = AtomicBool::new(false);
    let logged = AtomicU32::new(0);
    let entity = EntityPath::parse("points/0").unwrap();
    let (second, resumed_at) = std::thread::scope(|s| {
        s.spawn(|| {
            for f in 0..100_000u32 {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                rec.set_time_sequence("frame", i64::from(f)).unwrap();
                rec.log(&entity, &spate::demo::example_cloud(POINTS, f, 0))
                    .unwrap();
                logged.store(f + 1, Ordering::Release);
            }
        });
        let stopped = || {
            stop.store(true, Ordering::Release);
        };
        if !first.wait_until(LIMIT, |c| c.messages >= 20) {
            stopped();
            panic!("first server got {:?}", first.counts());
        }
        first.kill(); // while the producer keeps logging
        if !state.wait_until(deadline(), |s| s.state.is_disconnected()) {
            stopped();
            panic!("{:?}", state.stats());
        }
        let second = ProxyReceiver::start(addr).unwrap();
        if !state.wait_until(deadline(), |s| s.state == ConnectionState::Connected) {
            stopped();
            panic!("{:?}", state.stats());
        }
        let resumed_at = logged.load(Ordering::Acquire);
        let got_more = second.wait_until(LIMIT, |c| c.messages >= 20);
        stopped();
        assert!(got_more, "{:?}", second.counts());
        (second, resumed_at)
    });
    let report = rec.shutdown(deadline());
    assert!(report.sinks[0].closed_cleanly, "{report:#?}");
    let total = logged.load(Ordering::Acquire);
    let stats = state.stats();
    assert_eq!(stats.reconnects, 1, "{stats:#?}");

    let got = second.received();
    assert_eq!(got[0].kind, MessageKind::SetStoreInfo);
    // No row twice on the new connection: what the first one did not confirm is sent again
    // once.
    let decoded = second.decode().unwrap();
    let n_rows: usize = logged_rows(&decoded);
    let rows = rows(&decoded);
    assert_eq!(rows.len(), n_rows, "a row arrived twice");
    assert_values(&rows);
    // Everything logged after the reconnection arrived.
    let frames: std::collections::BTreeSet<i64> = rows.values().filter_map(|r| r.frame).collect();
    for f in i64::from(resumed_at)..i64::from(total) {
        assert!(
            frames.contains(&f),
            "frame {f} of {total} (resumed at {resumed_at}) missing"
        );
    }
}

#[test]
fn drops_while_disconnected_are_counted_exactly() {
    for policy in [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest] {
        drops_with(policy);
    }
}

fn drops_with(policy: OverflowPolicy) {
    let first = ProxyReceiver::start(localhost()).unwrap();
    let addr = first.addr();
    // ~40 KB per row: the budget holds a few rows.
    let sink = GrpcSink::connect_with(&first.url(), fast().buffer_bytes(200_000).overflow(policy))
        .unwrap();
    let state = sink.state_handle();
    let rec = one_row_per_chunk_with_static_config("grpc_drops", sink);
    log_frames(&rec, 0..3);
    rec.flush(deadline()).unwrap();
    let sent = state.stats().sent_messages;
    assert!(first.wait_until(LIMIT, |c| c.messages == sent));
    let before = first.decode().unwrap();
    first.kill();
    assert!(state.wait_until(deadline(), |s| s.state.is_disconnected()));

    log_frames(&rec, 3..33); // 60 rows, ~2.4 MB, against a 200 kB budget
    // The preamble (store info, properties), the static, the rows.
    let logged_messages = PREAMBLE_MESSAGES + 1 + u64::from(33 * ENTITIES);
    assert!(
        state.wait_until(deadline(), |s| s.written_messages == logged_messages),
        "{:?}",
        state.stats()
    );
    let s = state.stats();
    assert!(
        s.dropped_messages > 0 && s.queued_bytes <= 200_000,
        "{s:#?}"
    );

    let second = ProxyReceiver::start(addr).unwrap();
    // The flush delivers what is left, and says what was dropped while disconnected.
    match rec.flush(deadline()) {
        Err(spate::RecordingError::Lost(losses)) => {
            let [sink] = &losses.sinks[..] else {
                panic!("{losses:?}")
            };
            assert_eq!(sink.messages, state.stats().dropped_messages, "{losses}");
        }
        other => panic!("the flush must report the drops: {other:?}"),
    }
    let report = rec.shutdown(deadline());
    assert!(report.sinks[0].closed_cleanly, "{report:#?}");
    let stats = state.stats();
    assert_eq!(stats.abandoned_messages, 0);
    assert_eq!(
        stats.dropped_messages, stats.dropped_rows,
        "one row per chunk"
    );

    let mut all = rows(&before);
    all.extend(rows(&second.decode().unwrap()));
    assert_values(&all);
    let delivered = frames_of(&all);
    let logged = u64::from(33 * ENTITIES);
    assert_eq!(
        delivered.len() as u64 + stats.dropped_rows,
        logged,
        "{policy:?}: delivered + dropped == logged ({stats:#?})"
    );
    // Which ones were dropped: the oldest or the newest of the frames logged while down.
    let down: Vec<i64> = delivered
        .iter()
        .filter(|(e, f)| e == "points/0" && *f >= 3)
        .map(|(_, f)| *f)
        .collect();
    assert!(!down.is_empty());
    match policy {
        OverflowPolicy::DropOldest => assert_eq!(*down.last().unwrap(), 32, "{down:?}"),
        OverflowPolicy::DropNewest => assert_eq!(down[0], 3, "{down:?}"),
    }
    assert!(
        down.windows(2).all(|w| w[1] == w[0] + 1),
        "a contiguous run survives: {down:?}"
    );
}

#[test]
fn close_gives_up_at_its_deadline_and_counts_what_is_left() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind(localhost())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sink =
        GrpcSink::connect_with(&format!("rerun+http://127.0.0.1:{port}/proxy"), fast()).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("grpc_nobody")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    log_frames(&rec, 0..2);
    let limit = Duration::from_millis(500);
    let start = Instant::now();
    let report = rec.shutdown(start + limit);
    let took = start.elapsed();
    assert!(took < limit + Duration::from_secs(2), "took {took:?}");
    assert!(!report.sinks[0].closed_cleanly);
    assert!(
        state.wait_until(deadline(), |s| s.state == ConnectionState::Closed),
        "{:?}",
        state.stats()
    );
    let s = state.stats();
    assert_eq!(s.sent_messages, 0);
    assert!(s.connect_failures >= 1, "{s:#?}");
    assert_eq!(
        s.abandoned_messages + s.dropped_messages,
        s.written_messages,
        "{s:#?}"
    );
    assert!(s.written_messages >= 2);
}

/// Checks that nothing was lost silently by a closed sink that took `msgs` and streamed
/// to `server`: every message is confirmed or counted in `SinkStats::dropped_by_sink`,
/// every chunk `server` lacks is among the counted ones (a chunk received twice counts
/// once, as in Rerun's chunk store, which ignores a chunk id it already holds), and
/// `server` has at least the confirmed chunks. Returns the number counted.
fn assert_confirmed_or_counted(
    stats: &GrpcSinkStats,
    msgs: &[EncodedMessage],
    server: &ProxyReceiver,
) -> u64 {
    let want: BTreeSet<ChunkId> = msgs
        .iter()
        .filter_map(|m| Some(m.summary()?.chunk_id))
        .collect();
    let got: BTreeSet<ChunkId> = server.decode().unwrap().chunks().map(|c| c.id()).collect();
    let counted = {
        let mut s = SinkStats::default();
        s.grpc = Some(stats.clone());
        s.dropped_by_sink()
    };
    assert_eq!(stats.written_messages, msgs.len() as u64, "{stats:#?}");
    assert_eq!(
        stats.confirmed_messages + counted,
        stats.written_messages,
        "confirmed + counted = written: {stats:#?}"
    );
    assert_eq!((stats.queued_messages, stats.unconfirmed_messages), (0, 0));
    assert!(got.is_subset(&want), "the server got chunks never written");
    let missing = want.difference(&got).count() as u64;
    assert!(
        missing <= counted,
        "{missing} chunks never arrived, {counted} counted: {stats:#?}"
    );
    let not_chunks = (msgs.len() - want.len()) as u64;
    assert!(
        got.len() as u64 >= stats.confirmed_messages.saturating_sub(not_chunks),
        "confirmed chunks missing: {stats:#?}"
    );
    counted
}

/// A proxy to `server` whose first connection follows `first` and every later one `then`.
fn proxy_to(server: &ProxyReceiver, first: Plan, then: Plan) -> CutProxy {
    CutProxy::start(server.addr(), move |n| if n == 0 { first } else { then })
}

/// Connections cut at chosen points of the stream — mid-message after 1.5 MB, just before
/// the server's first response reaches the sink, after 300 kB — lose nothing: what the
/// server had not confirmed is sent again on the next connection, so every chunk arrives
/// (some twice; the receiver, like Rerun's store, keeps one per chunk id) and nothing is
/// counted lost.
#[test]
fn connections_cut_mid_stream_lose_no_message() {
    let server = ProxyReceiver::start(localhost()).unwrap();
    let proxy = CutProxy::start(server.addr(), |n| match n {
        0 => Plan::UpstreamBytes(1_500_000),
        1 => Plan::FirstResponse,
        2 => Plan::UpstreamBytes(300_000),
        _ => Plan::Pass,
    });
    // 60 chunks of 100 kB: the 8 MiB budget holds them all while the sink reconnects, and
    // calls end (for confirmation) every 4 MiB at most.
    let msgs = encoded("grpc_cuts", true, 60, 5_000);
    let mut sink = GrpcSink::connect_with(&proxy.url(), fast().buffer_bytes(8 << 20)).unwrap();
    let state = sink.state_handle();
    for m in &msgs {
        sink.write(m).unwrap();
    }
    let closed = sink.close(deadline());
    let stats = state.stats();
    assert!(closed.is_ok(), "{closed:?}: {stats:#?}");
    assert_eq!(proxy.cuts(), 3, "every planned cut happened: {stats:#?}");
    assert_eq!(
        assert_confirmed_or_counted(&stats, &msgs, &server),
        0,
        "nothing counted lost: {stats:#?}"
    );
    // Some were confirmed only after being sent again.
    assert!(stats.resent_messages > 0, "{stats:#?}");
    // The server finished one call more than the sink saw confirmed: the one whose
    // response the proxy withheld.
    let counts = server.counts();
    assert_eq!(
        counts.calls_finished,
        stats.confirmed_calls + 1,
        "{counts:?} {stats:#?}"
    );
}

/// A connection cut mid-stream to a server that never comes back: at the close deadline
/// every message the sink accepted is confirmed or counted (dropped, abandoned or lost),
/// every chunk the receiver lacks is among the counted ones, and the receiver has at least
/// the confirmed ones.
#[test]
fn a_cut_for_good_counts_every_unconfirmed_message() {
    let server = ProxyReceiver::start(localhost()).unwrap();
    let proxy = proxy_to(&server, Plan::UpstreamBytes(2_500_000), Plan::Refuse);
    // 60 chunks of 100 kB against a 2 MiB budget: calls are confirmed before the cut, and
    // the budget overflows while the server is away.
    let msgs = encoded("grpc_cut_for_good", true, 60, 5_000);
    let mut sink = GrpcSink::connect_with(&proxy.url(), fast().buffer_bytes(2 << 20)).unwrap();
    let state = sink.state_handle();
    for m in &msgs {
        sink.write(m).unwrap();
    }
    // Woken by the sink's reconnect attempts.
    assert!(
        state.wait_until(deadline(), |_| proxy.connections() >= 2),
        "{:?}",
        state.stats()
    );
    let closed = sink.close(Instant::now() + Duration::from_millis(500));
    let stats = state.stats();
    assert!(closed.is_err(), "{stats:#?}");
    assert!(proxy.cuts() >= 2, "{stats:#?}");
    assert_confirmed_or_counted(&stats, &msgs, &server);
    assert!(
        stats.confirmed_messages > 0 && stats.lost_messages > 0,
        "the cut fell after a confirmed call and before the next one: {stats:#?}"
    );
}

/// A server that stops reading while TCP says it is there: the sink's writes, waiting for
/// room in its budget, do not wait forever — after `stall_timeout` without progress the
/// connection counts as failed, what it had not confirmed is sent again on a new one, and
/// every message is confirmed or counted.
#[test]
fn a_stalled_server_is_given_up_after_the_stall_timeout() {
    let server = ProxyReceiver::start(localhost()).unwrap();
    let proxy = proxy_to(&server, Plan::Stall(300_000), Plan::Pass);
    let msgs = encoded("grpc_stall", true, 60, 5_000);
    let opts = fast()
        .buffer_bytes(2 << 20)
        .stall_timeout(Duration::from_millis(300));
    let mut sink = GrpcSink::connect_with(&proxy.url(), opts).unwrap();
    let state = sink.state_handle();
    let to_write = msgs.clone();
    let writer = std::thread::spawn(move || {
        for m in &to_write {
            sink.write(m).unwrap();
        }
        sink
    });
    // The writes block on the stalled connection until it is given up (a bounded wait:
    // a writer still blocked fails the test instead of hanging it).
    assert!(
        state.wait_until(deadline(), |s| s.written_messages == msgs.len() as u64),
        "writes still blocked: {:?}",
        state.stats()
    );
    let mut sink = writer.join().unwrap();
    sink.close(deadline()).unwrap();
    let stats = state.stats();
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no progress")),
        "{stats:#?}"
    );
    assert!(stats.reconnects >= 1, "{stats:#?}");
    assert_confirmed_or_counted(&stats, &msgs, &server);
}

/// Throughput to the discarding receiver, with spate's HTTP/2 tuning and with hyper's
/// defaults. Run: `cargo test --release --test grpc_sink throughput -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, not a check"]
fn throughput_to_the_discarding_receiver() {
    use spate::net::Http2Tuning;
    use spate::server::testing::ReceiverOptions;
    use spate::sink::grpc::GrpcBatchPolicy;

    let clouds: u32 = std::env::var("SPATE_GRPC_CLOUDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    for points in [1_000_000u32, 100_000] {
        let n = clouds * (1_000_000 / points).min(10);
        let cloud = spate::demo::example_cloud(points, 0, 0);
        for (name, tuning, delay) in [
            ("spate tuning", Http2Tuning::default(), Duration::ZERO),
            (
                "spate tuning, 2 ms delay",
                Http2Tuning::default(),
                Duration::from_millis(2),
            ),
            (
                "hyper defaults",
                Http2Tuning::hyper_defaults(),
                Duration::ZERO,
            ),
        ] {
            let server = ProxyReceiver::start_with(
                localhost(),
                ReceiverOptions::default().discarding().http2(tuning),
            )
            .unwrap();
            let opts = GrpcSinkOptions::default()
                .http2(tuning)
                .batch(GrpcBatchPolicy::default().max_delay(delay));
            let sink = GrpcSink::connect_with(&server.url(), opts).unwrap();
            let state = sink.state_handle();
            let rec = Recording::builder("grpc_throughput")
                .sinks(sink.with_policy(SinkPolicy::Block))
                .start()
                .unwrap();
            let entity = EntityPath::parse("lidar").unwrap();
            let start = Instant::now();
            for f in 0..n {
                rec.set_time_sequence("frame", i64::from(f)).unwrap();
                rec.log(&entity, &cloud).unwrap();
            }
            let report = rec.shutdown(deadline());
            let secs = start.elapsed().as_secs_f64();
            assert!(report.is_complete(), "{report:#?}");
            let s = state.stats();
            assert_eq!(server.counts().messages, s.sent_messages);
            assert_eq!(s.dropped_messages, 0, "{s:#?}");
            println!(
                "{points:>9} points x {n:>4}, {name:<26}: {:>7.1} MB in {secs:.2} s = {:>6.0} MB/s",
                s.sent_bytes as f64 / 1e6,
                s.sent_bytes as f64 / 1e6 / secs
            );
        }
    }
}
