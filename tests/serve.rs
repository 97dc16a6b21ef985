//! `ProxyServer` (what `spate serve` runs) in-process on 127.0.0.1: several clients at once
//! record into one file whose footer has a manifest per recording and whose chunks are the
//! very bytes the clients sent; malformed, unknown, invalid, oversized requests and a
//! client that vanishes each get a status or a counter while another client keeps
//! streaming; ReadMessages replays what is kept (static kept, oldest temporal evicted) and
//! then live messages.

#[path = "support/clients.rs"]
mod clients;
#[path = "support/preamble.rs"]
mod preamble;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use spate::server::Relay;
use spate::server::{ProxyServer, ProxyServerOptions, ServeCounters};
use spate::sink::grpc::read_messages;
use spate::sink::{FileSink, FileSinkOptions, MemorySink, MemorySinkHandle};
use spate::wire::{EncodedMessage, MessageKind, StoreInfo, decode_rrd};
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy};

use preamble::{PREAMBLE_MESSAGES, is_properties_msg};

const LIMIT: Duration = Duration::from_secs(30);
const POINTS: u32 = 2_000;

fn deadline() -> Instant {
    Instant::now() + LIMIT
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn log_frames(rec: &Recording, entity: &str, frames: std::ops::Range<u32>) {
    for f in frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        let p = spate::demo::example_cloud(POINTS, f, 0);
        rec.log(&EntityPath::parse(entity).unwrap(), &p).unwrap();
    }
}

/// A recording streaming to `url` that also keeps what it sent (the same encoded bytes).
fn client(app: &str, rec_id: &str, url: &str) -> (Recording, MemorySinkHandle) {
    clients::recording(app, rec_id, url)
}

fn bodies(msgs: &[EncodedMessage], kind: MessageKind) -> BTreeSet<Bytes> {
    msgs.iter()
        .filter(|m| m.kind() == kind)
        .map(EncodedMessage::to_contiguous)
        .collect()
}

#[test]
fn several_clients_record_into_one_file_bit_exact_with_a_manifest_per_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.rrd");
    let file = FileSink::create(&path, FileSinkOptions::default()).unwrap();
    let relay = Relay::start(file.with_policy(SinkPolicy::Block)).unwrap();
    let server = ProxyServer::start(localhost(), relay, ProxyServerOptions::default()).unwrap();
    let url = server.url();

    let clients: Vec<_> = (0..3)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let (rec, sent) = client("serve_test", &format!("rec-{i}"), &url);
                // A static chunk too: rotation and readers treat it apart.
                let origin = Points3D::new(vec![[0.0, 0.0, i as f32]]);
                rec.log_static(&EntityPath::parse("origin").unwrap(), &origin)
                    .unwrap();
                log_frames(&rec, &format!("points/{i}"), 0..5);
                let report = rec.shutdown(deadline());
                assert!(report.is_complete(), "{report:#?}");
                sent.messages()
            })
        })
        .collect();
    let sent: Vec<EncodedMessage> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    // Each client's close waited for the server's response, sent after every message was
    // passed on.
    let counters = server.counters();
    assert_eq!(counters.calls_finished, 3, "{counters:#?}");
    assert_eq!(counters.messages, sent.len() as u64, "{counters:#?}");
    let report = server.shutdown(deadline());
    assert!(report.relay.is_complete(), "{report:#?}");

    let decoded = decode_rrd(std::fs::read(&path).unwrap()).unwrap();
    assert!(decoded.truncated.is_none(), "{:?}", decoded.truncated);
    let footer = decoded.footer.as_ref().expect("footer");
    assert!(footer.valid, "{:?}", footer.problems);
    let mut stores: Vec<_> = footer.manifests.iter().map(|m| m.store.1.clone()).collect();
    stores.sort();
    assert_eq!(stores, ["rec-0", "rec-1", "rec-2"]);
    for m in &footer.manifests {
        assert_eq!(
            m.rows.len(),
            7,
            "the recording's properties, one static and five temporal chunks"
        );
    }
    // The file's chunks are byte for byte what the clients encoded.
    let bytes = std::fs::read(&path).unwrap();
    let in_file: BTreeSet<Bytes> = decoded
        .messages
        .iter()
        .filter(|m| matches!(m.message, spate::wire::Message::ArrowMsg { .. }))
        .map(|m| {
            let start = (m.offset + 16) as usize;
            Bytes::copy_from_slice(&bytes[start..start + m.len as usize])
        })
        .collect();
    assert_eq!(in_file, bodies(&sent, MessageKind::ArrowMsg));
    assert_eq!(in_file.len(), 3 * 7);
}

// ---- raw gRPC calls, for requests spate's own client would never send ----

/// hyper's HTTP/2 `SendRequest` as tonic's client service.
struct H2(SendRequest<tonic::body::Body>);

type RespFuture = Pin<
    Box<dyn Future<Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>> + Send>,
>;

impl tower_service::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = RespFuture;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }
    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// Sends each `Bytes` as one gRPC message, as is.
#[derive(Clone, Copy)]
struct RawCodec;
struct RawEnc;
struct SkipDec;

impl tonic::codec::Encoder for RawEnc {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        b: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&b);
        Ok(())
    }
}

impl tonic::codec::Decoder for SkipDec {
    type Item = ();
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawEnc;
    type Decoder = SkipDec;
    fn encoder(&mut self) -> RawEnc {
        RawEnc
    }
    fn decoder(&mut self) -> SkipDec {
        SkipDec
    }
}

/// The requests, then either the end of the stream or (with `hang`) nothing more.
struct Requests {
    items: std::collections::VecDeque<Bytes>,
    hang: bool,
}

impl futures_core::Stream for Requests {
    type Item = Bytes;
    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.items.pop_front() {
            Some(b) => Poll::Ready(Some(b)),
            None if self.hang => Poll::Pending,
            None => Poll::Ready(None),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn open(addr: SocketAddr) -> tonic::client::Grpc<H2> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let origin: http::Uri = format!("http://{addr}").parse().unwrap();
    tonic::client::Grpc::with_origin(H2(send), origin)
}

const WRITE: &str = "/rerun.sdk_comms.v1alpha1.MessageProxyService/WriteMessages";

/// One `WriteMessages` call with these requests; its status.
fn raw_call(addr: SocketAddr, requests: Vec<Bytes>) -> tonic::Status {
    runtime().block_on(async {
        let mut grpc = open(addr).await;
        grpc.ready().await.unwrap();
        let stream = Requests {
            items: requests.into(),
            hang: false,
        };
        match grpc
            .client_streaming(
                tonic::Request::new(stream),
                PathAndQuery::from_static(WRITE),
                RawCodec,
            )
            .await
        {
            Ok(_) => tonic::Status::ok(""),
            Err(s) => s,
        }
    })
}

/// `WriteMessagesRequest{LogMsg{tag: body}}`.
fn request(tag: u8, body: &[u8]) -> Bytes {
    clients::write_request(tag, body)
}

fn wait(server: &ProxyServer, what: &str, cond: impl FnMut(&ServeCounters) -> bool) {
    assert!(
        server.wait_until(LIMIT, cond),
        "{what}: {:#?}",
        server.counters()
    );
}

#[test]
fn bad_requests_get_a_status_or_a_counter_while_another_client_keeps_streaming() {
    let (memory, got) = MemorySink::new();
    let relay = Relay::start(memory.with_policy(SinkPolicy::Block)).unwrap();
    let opts = ProxyServerOptions::default().max_message_bytes(256 << 10);
    let server = ProxyServer::start(localhost(), relay, opts).unwrap();
    let addr = server.addr();

    // A well-behaved client streams all along.
    let good_url = server.url();
    let (start_tx, start_rx) = std::sync::mpsc::channel::<()>();
    let good = std::thread::spawn(move || {
        let (rec, sent) = client("serve_test", "good", &good_url);
        log_frames(&rec, "points/good", 0..3);
        rec.flush(deadline()).unwrap();
        start_rx.recv().unwrap(); // the bad clients had their turn
        log_frames(&rec, "points/good", 3..6);
        let report = rec.shutdown(deadline());
        assert!(report.is_complete(), "{report:#?}");
        sent.messages()
    });
    wait(&server, "good client's first frames", |c| {
        c.messages >= PREAMBLE_MESSAGES + 3
    });

    // Malformed protobuf: the call ends with INVALID_ARGUMENT.
    let status = raw_call(addr, vec![Bytes::from_static(&[0x0a, 0x05, 0x12])]);
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("runs past the end"), "{status:?}");

    // A well-formed ArrowMsg field whose body is no chunk: INVALID_ARGUMENT.
    let status = raw_call(addr, vec![request(2, b"\xff\xff")]);
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    // An unknown LogMsg kind (a newer client) is dropped and counted; the call goes on and
    // its next, valid message is taken.
    let info = EncodedMessage::set_store_info(&StoreInfo::new("serve_test", "odd").unwrap());
    let status = raw_call(
        addr,
        vec![request(9, b"future"), request(1, &info.to_contiguous())],
    );
    assert_eq!(status.code(), tonic::Code::Ok, "{status:?}");

    // Oversized: OUT_OF_RANGE before the server buffers it.
    let big = request(2, &vec![0u8; 300 << 10]);
    let status = raw_call(addr, vec![big]);
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");

    // A client that vanishes mid-call: one message, then its connection is dropped.
    let before = server.counters().messages;
    let info2 = EncodedMessage::set_store_info(&StoreInfo::new("serve_test", "gone").unwrap());
    {
        let rt = runtime();
        rt.block_on(async {
            let mut grpc = open(addr).await;
            grpc.ready().await.unwrap();
            let stream = Requests {
                items: vec![request(1, &info2.to_contiguous())].into(),
                hang: true,
            };
            let call = grpc.client_streaming(
                tonic::Request::new(stream),
                PathAndQuery::from_static(WRITE),
                RawCodec,
            );
            tokio::select! {
                _ = call => panic!("the call cannot end: its stream never does"),
                () = async {
                    while server.counters().messages < before + 1 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                } => {}
                () = tokio::time::sleep(LIMIT) => panic!("message never arrived"),
            }
        });
        // Dropping the runtime drops the connection without ending the call.
    }
    wait(&server, "vanished client counted", |c| c.calls_failed == 1);

    start_tx.send(()).unwrap();
    let sent = good.join().unwrap();
    let c = server.counters();
    assert_eq!(
        (
            c.rejected_malformed,
            c.rejected_invalid,
            c.rejected_unknown_kind,
            c.rejected_oversized,
            c.calls_failed,
            c.calls_rejected
        ),
        (1, 1, 1, 1, 1, 3),
        "{c:#?}"
    );
    let report = server.shutdown(deadline());
    assert!(report.relay.is_complete(), "{report:#?}");
    // Everything the good client sent arrived, untouched.
    let received = got.messages();
    assert_eq!(
        bodies(&received, MessageKind::ArrowMsg),
        bodies(&sent, MessageKind::ArrowMsg)
    );
    // Its properties and six frames.
    assert_eq!(bodies(&sent, MessageKind::ArrowMsg).len(), 1 + 6);
    let infos = bodies(&received, MessageKind::SetStoreInfo);
    assert!(infos.contains(&info.to_contiguous()) && infos.contains(&info2.to_contiguous()));
}

#[test]
fn read_messages_replays_static_and_the_newest_temporal_then_streams_live() {
    // Room for the preamble (store info, properties), the static chunk and about two clouds.
    let cloud = u64::from(POINTS) * 20;
    let opts = ProxyServerOptions::default().memory_limit(2 * cloud + cloud / 2 + 4096);
    let server = ProxyServer::start(localhost(), Relay::start(()).unwrap(), opts).unwrap();
    let (rec, sent) = client("serve_test", "late", &server.url());
    rec.log_static(
        &EntityPath::parse("origin").unwrap(),
        &Points3D::new(vec![[1.0, 2.0, 3.0]]),
    )
    .unwrap();
    log_frames(&rec, "points/0", 0..6);
    rec.flush(deadline()).unwrap();
    // The preamble, the static chunk and six frames.
    wait(&server, "all sent", |c| {
        c.messages == PREAMBLE_MESSAGES + 1 + 6
    });
    let c = server.counters();
    assert_eq!(c.history_evicted, 4, "{c:#?}");

    let sent_now = sent.messages();
    let chunks = |m: &[EncodedMessage]| m.iter().filter(|m| m.summary().is_some()).count();
    let kept = read_messages(&server.url(), deadline(), |m| chunks(m) == 4).unwrap();
    let ids = |m: &[EncodedMessage]| -> Vec<Bytes> {
        m.iter().map(EncodedMessage::to_contiguous).collect()
    };
    // Store info, properties, static chunk, then the two newest frames.
    assert!(is_properties_msg(&sent_now[1]));
    let want: Vec<Bytes> = [0, 1, 2, 7, 8]
        .iter()
        .map(|&i| sent_now[i].to_contiguous())
        .collect();
    assert_eq!(ids(&kept), want);

    // A live reader: history first, then what is logged after it caught up. (The history
    // is its backlog: a reader slower than the writers misses what is evicted before it
    // gets there, counted in read_lagged_messages.)
    let url = server.url();
    let reader =
        std::thread::spawn(move || read_messages(&url, deadline(), |m| chunks(m) == 6).unwrap());
    wait(&server, "reader caught up", |c| {
        c.read_calls == 2 && c.read_messages == 2 * 5
    });
    log_frames(&rec, "points/0", 6..8);
    let live = reader.join().unwrap();
    assert!(rec.shutdown(deadline()).is_complete());
    let all = sent.messages();
    let want: Vec<Bytes> = [0, 1, 2, 7, 8, 9, 10]
        .iter()
        .map(|&i| all[i].to_contiguous())
        .collect();
    assert_eq!(ids(&live), want);
    // Summaries were derived from the received bytes.
    let frames: Vec<_> = live
        .iter()
        .filter_map(|m| m.summary())
        .map(|s| s.time_ranges.first().and_then(|t| t.1))
        .collect();
    assert_eq!(
        frames,
        [
            None,
            None,
            Some((4, 4)),
            Some((5, 5)),
            Some((6, 6)),
            Some((7, 7))
        ]
    );
    drop(server);
}

/// The reproduced crash: one ArrowMsg whose 100 MB LZ4 payload claims 255× that
/// uncompressed made the server allocate 25.5 GB and abort. It now ends that call with
/// OUT_OF_RANGE, nothing allocated, and the server serves on.
#[test]
fn an_lz4_bomb_ends_its_own_call_and_the_server_serves_on() {
    let (memory, got) = MemorySink::new();
    let relay = Relay::start(memory.with_policy(SinkPolicy::Block)).unwrap();
    let server = ProxyServer::start(localhost(), relay, ProxyServerOptions::default()).unwrap();
    let payload = 100 << 20;
    let bomb = clients::lz4_bomb(payload, 255 * payload as u64);
    let status = raw_call(server.addr(), vec![request(2, &bomb)]);
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("over the limit"), "{status:?}");
    let c = server.counters();
    assert_eq!((c.rejected_oversized, c.calls_rejected), (1, 1), "{c:#?}");
    assert_eq!(c.in_flight_bytes, 0, "{c:#?}");
    // Another client records as usual.
    let (rec, sent) = client("serve_test", "after-bomb", &server.url());
    log_frames(&rec, "points/0", 0..2);
    assert!(rec.shutdown(deadline()).is_complete());
    let report = server.shutdown(deadline());
    assert!(report.relay.is_complete(), "{report:#?}");
    assert_eq!(
        bodies(&got.messages(), MessageKind::ArrowMsg),
        bodies(&sent.messages(), MessageKind::ArrowMsg)
    );
}

#[test]
fn read_messages_keeps_only_the_latest_static_per_entity_and_component_set() {
    let server = ProxyServer::start(
        localhost(),
        Relay::start(()).unwrap(),
        ProxyServerOptions::default(),
    )
    .unwrap();
    let (rec, sent) = client("serve_test", "statics", &server.url());
    let origin = EntityPath::parse("origin").unwrap();
    for i in 0..50 {
        rec.log_static(&origin, &Points3D::new(vec![[i as f32; 3]; 1000]))
            .unwrap();
    }
    rec.flush(deadline()).unwrap();
    wait(&server, "all sent", |c| {
        c.messages == PREAMBLE_MESSAGES + 50
    });
    let last = sent.messages().last().unwrap().to_contiguous();
    let one_static = last.len() as u64;
    let kept = read_messages(&server.url(), deadline(), |m| {
        m.last().is_some_and(|m| m.to_contiguous() == last)
    })
    .unwrap();
    // (The recording's properties, a static of another entity, are kept too.)
    assert_eq!(kept.iter().filter(|m| is_properties_msg(m)).count(), 1);
    let statics: Vec<_> = kept
        .iter()
        .filter(|m| m.summary().is_some() && !is_properties_msg(m))
        .collect();
    assert_eq!(statics.len(), 1, "only the latest static is replayed");
    assert_eq!(statics[0].to_contiguous(), last);
    let c = server.counters();
    assert!(
        c.history_bytes < 2 * one_static,
        "history holds {} bytes for one {one_static}-byte static: {c:#?}",
        c.history_bytes
    );
    assert_eq!(c.history_replaced_static, 49, "{c:#?}");
    assert!(rec.shutdown(deadline()).is_complete());
}

/// A sink whose writes wait until the test opens its gate.
struct Gated(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl spate::Sink for Gated {
    fn name(&self) -> String {
        "gated".into()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), spate::SinkError> {
        let (open, cv) = &*self.0;
        let mut g = open.lock().unwrap();
        let started = Instant::now();
        while !*g && started.elapsed() < LIMIT {
            g = cv.wait_timeout(g, LIMIT).unwrap().0;
        }
        Ok(())
    }
}

/// Regression (issue 12 item 7, found by the soak): the server answered a client's call as
/// soon as the messages were in its relay's queue, so a server killed right after lost
/// messages the client counted as confirmed. Now the answer waits for the recording's
/// (`Block`) sinks to have written them.
#[test]
fn a_call_is_confirmed_only_once_the_recording_sinks_wrote_it() {
    let gate = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let relay = Relay::start(Gated(gate.clone()).with_policy(SinkPolicy::Block)).unwrap();
    let server = ProxyServer::start(localhost(), relay, ProxyServerOptions::default()).unwrap();
    let sink = spate::sink::GrpcSink::connect(&server.url()).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("confirm")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .start()
        .unwrap();
    log_frames(&rec, "points", 0..2);
    // The server holds the messages, its sink has not written them: nothing is confirmed.
    let early = rec.flush(Instant::now() + Duration::from_millis(700));
    assert!(
        matches!(early, Err(spate::RecordingError::Deadline("flush"))),
        "{early:?}"
    );
    assert_eq!(state.stats().confirmed_messages, 0, "{:#?}", state.stats());
    {
        let (open, cv) = &*gate;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
    rec.flush(deadline()).expect("confirmed once written");
    let s = state.stats();
    assert!(s.written_messages >= 2, "{s:#?}");
    assert_eq!(s.confirmed_messages, s.written_messages, "{s:#?}");
    assert!(rec.shutdown(deadline()).is_complete());
    let report = server.shutdown(deadline());
    assert!(report.relay.is_complete(), "{report:?}");
}
