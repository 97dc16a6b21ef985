//! gRPC streaming throughput on loopback, for `perf/grpc_sink.sh`: the raw limit of tonic over
//! HTTP/2 and spate's `Recording` → `GrpcSink` path, measured the same way. Each run prints
//! one JSON line on stdout: `{"mode":..,"bytes":..,"seconds":..,"mb_per_s":..}` (`bytes` =
//! point data, or message bytes for `raw`; MB = 10^6 bytes) plus `wire_bytes` /
//! `wire_mb_per_s` and details; diagnostics go to stderr.
//!
//! ```text
//! # a bare tonic client streaming 4 MiB Bytes messages to a bare tonic server that discards
//! perf_grpc_sink raw --bytes 1GB --message 4MiB --http2 spate|hyper
//! # Recording -> GrpcSink -> spate's in-process ProxyReceiver (discarding)
//! perf_grpc_sink inproc --points 1000000 --clouds 50 --http2 spate|hyper
//! # Recording -> GrpcSink -> an external server (e.g. the official `rerun --serve-grpc`)
//! perf_grpc_sink official rerun+http://127.0.0.1:9876/proxy --points 1000000 --clouds 50
//! ```
//!
//! Threads, the same shape in every mode: the client's HTTP/2 connection runs on one
//! current-thread tokio runtime, the in-process server on another thread with its own
//! current-thread runtime (as `GrpcSink`'s `spate-grpc` thread and `ProxyReceiver` do).
//!
//! Timing: the connection is established before the clock starts.
//! - `raw`: from the start of the client-streaming call until its response arrived, i.e. the
//!   server read the whole stream (and counted every byte).
//! - `inproc` / `official`: from the first `log()` until `Recording::shutdown` returned,
//!   i.e. the sink's `close` got the server's `WriteMessagesResponse` after it read the whole
//!   stream. `inproc` also checks the receiver counted every message.
//!
//! `--http2 spate` is `Http2Tuning::default()` (32/64 MiB windows, 1 MiB frames, 8 MiB send
//! buffer), `--http2 hyper` is `Http2Tuning::hyper_defaults()`; both ends use it (for
//! `official` only the client does: the server advertises its own settings).
//!
//! `cpu_seconds` is this process's user + system CPU time over the timed region (all
//! threads, from `/proc/self/stat`, 10 ms ticks), to show how busy the two cores were.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use bytes::{Buf, BufMut, Bytes};
use clap::{Parser, Subcommand, ValueEnum};
use futures_core::Stream;
use http::uri::PathAndQuery;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use spate::net::Http2Tuning;
use spate::server::testing::{ProxyReceiver, ReceiverOptions};
use spate::sink::grpc::{
    ConnectionState, GrpcBatchPolicy, GrpcSink, GrpcSinkOptions, GrpcStateHandle,
};
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::ClientStreamingService;

mod perf_common;
use perf_common::{fill, parse_size};

#[derive(Parser)]
#[command(about = "Raw tonic vs spate GrpcSink throughput on loopback (one JSON line per run)")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// A bare tonic client streaming `Bytes` messages to a bare tonic server that discards
    /// them: the limit of the gRPC stack on this machine.
    Raw {
        /// Total message bytes to stream (suffixes K, M, G, KiB, MiB, GiB).
        #[arg(long, default_value = "1GB", value_parser = parse_size)]
        bytes: u64,
        /// Bytes per message.
        #[arg(long, default_value = "4MiB", value_parser = parse_size)]
        message: u64,
        /// HTTP/2 settings of both ends.
        #[arg(long, value_enum, default_value_t = Tuning::Spate)]
        http2: Tuning,
    },
    /// `Recording` -> `GrpcSink` -> spate's in-process receiving server (discarding).
    Inproc {
        #[command(flatten)]
        load: Load,
        /// HTTP/2 settings of both ends.
        #[arg(long, value_enum, default_value_t = Tuning::Spate)]
        http2: Tuning,
    },
    /// `Recording` -> `GrpcSink` -> an external server.
    Official {
        /// The server, `rerun+http://HOST:PORT/proxy`.
        url: String,
        #[command(flatten)]
        load: Load,
        /// HTTP/2 settings of the client.
        #[arg(long, value_enum, default_value_t = Tuning::Spate)]
        http2: Tuning,
    },
}

/// The clouds logged by `inproc` and `official`.
#[derive(clap::Args, Clone, Copy)]
struct Load {
    /// Points per cloud (20 bytes each: f32x3 position, u32 color, f32 radius).
    #[arg(long, default_value_t = 1_000_000)]
    points: usize,
    /// Clouds logged (one entity, timeline `frame`).
    #[arg(long, default_value_t = 50)]
    clouds: usize,
    /// `GrpcBatchPolicy::max_bytes` (default: the policy's default, 8 MiB).
    #[arg(long, value_parser = parse_size)]
    batch_bytes: Option<u64>,
    /// Do not fill the loaned buffers in the timed loop (they keep the warm-up values).
    #[arg(long)]
    no_fill: bool,
    /// The producer lane's byte bound (`RecordingBuilder::lane_capacity`).
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    lane_bytes: u64,
    /// The sink's queue bound (`SinkSpec::max_queue_bytes`).
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    queue_bytes: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Tuning {
    /// `Http2Tuning::default()`.
    Spate,
    /// `Http2Tuning::hyper_defaults()`.
    Hyper,
}

impl Tuning {
    fn get(self) -> Http2Tuning {
        match self {
            Self::Spate => Http2Tuning::default(),
            Self::Hyper => Http2Tuning::hyper_defaults(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Spate => "spate",
            Self::Hyper => "hyper",
        }
    }
}

/// Prints the run's JSON line: the common keys first, in this order, then the details.
fn json_line(mode: &str, bytes: u64, wire_bytes: u64, seconds: f64, extra: serde_json::Value) {
    let mut line = format!(
        "{{\"mode\":{},\"bytes\":{bytes},\"seconds\":{seconds},\"mb_per_s\":{},\
         \"wire_bytes\":{wire_bytes},\"wire_mb_per_s\":{}",
        serde_json::Value::from(mode),
        bytes as f64 / seconds / 1e6,
        wire_bytes as f64 / seconds / 1e6,
    );
    if let serde_json::Value::Object(more) = extra {
        for (k, v) in more {
            line.push_str(&format!(",{}:{v}", serde_json::Value::from(k)));
        }
    }
    line.push('}');
    println!("{line}");
}

/// User + system CPU seconds of this process so far (all threads, dead ones included).
fn process_cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (USER_HZ, 100 on Linux x86).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // The command name (field 2) may hold spaces; the fields after it follow its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3, so field N is f[N - 3].
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(14) + ticks(15)) as f64 / 100.0
}

// ---------------------------------------------------------------------------------------
// raw: bare tonic client -> bare tonic server

/// The call's path (any path does: the server routes everything to the discarding service).
const RAW_PATH: &str = "/spate.perf.Discard/Write";

/// Client codec: sends `Bytes` messages, receives an empty response.
#[derive(Clone, Copy)]
struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = BytesEncoder;
    type Decoder = UnitDecoder;

    fn encoder(&mut self) -> BytesEncoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> UnitDecoder {
        UnitDecoder
    }
}

/// Copies a message into tonic's send buffer, as any tonic codec does.
struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.len());
        dst.put_slice(&item);
        Ok(())
    }
}

/// Skips whatever the response holds.
struct UnitDecoder;

impl Decoder for UnitDecoder {
    type Item = ();
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

/// Server codec: receives messages as their lengths (discarding the bytes), sends `()`.
#[derive(Clone, Copy)]
struct DiscardCodec;

impl Codec for DiscardCodec {
    type Encode = ();
    type Decode = usize;
    type Encoder = UnitEncoder;
    type Decoder = LenDecoder;

    fn encoder(&mut self) -> UnitEncoder {
        UnitEncoder
    }

    fn decoder(&mut self) -> LenDecoder {
        LenDecoder
    }
}

/// Writes an empty message.
struct UnitEncoder;

impl Encoder for UnitEncoder {
    type Item = ();
    type Error = Status;

    fn encode(&mut self, (): (), _: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

/// Drops a received message, keeping its length.
struct LenDecoder;

impl Decoder for LenDecoder {
    type Item = usize;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, Status> {
        let len = src.remaining();
        src.advance(len);
        Ok(Some(len))
    }
}

/// The discarding client-streaming service: counts messages and bytes.
#[derive(Clone)]
struct Discard {
    bytes: Arc<AtomicU64>,
    messages: Arc<AtomicU64>,
}

type DiscardFuture = Pin<Box<dyn Future<Output = Result<tonic::Response<()>, Status>> + Send>>;

impl ClientStreamingService<usize> for Discard {
    type Response = ();
    type Future = DiscardFuture;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<usize>>) -> DiscardFuture {
        let this = self.clone();
        Box::pin(async move {
            let mut stream = request.into_inner();
            while let Some(len) = stream.message().await? {
                // Relaxed: read by the client only after the call's response arrived.
                this.bytes.fetch_add(len as u64, Ordering::Relaxed);
                this.messages.fetch_add(1, Ordering::Relaxed);
            }
            Ok(tonic::Response::new(()))
        })
    }
}

/// Serves the discarding service on `listener` until `stop` fires.
async fn raw_server(
    listener: std::net::TcpListener,
    tuning: Http2Tuning,
    service: Discard,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(tuning.initial_stream_window)
        .initial_connection_window_size(tuning.initial_connection_window)
        .max_frame_size(tuning.max_frame_size)
        .max_send_buf_size(tuning.max_send_buf_size);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut stop => return Ok(()),
            r = listener.accept() => r?,
        };
        tcp.set_nodelay(true)?;
        let svc = service.clone();
        let handler = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let svc = svc.clone();
            async move {
                let mut grpc =
                    tonic::server::Grpc::new(DiscardCodec).max_decoding_message_size(usize::MAX);
                Ok::<_, Infallible>(grpc.client_streaming(svc, req).await)
            }
        });
        let conn = builder.serve_connection(TokioIo::new(tcp), handler);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// hyper's HTTP/2 `SendRequest` as the tower service tonic's client wants.
struct H2Service(SendRequest<tonic::body::Body>);

type H2Future =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, hyper::Error>> + Send + 'static>>;

impl tower_service::Service<http::Request<tonic::body::Body>> for H2Service {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = H2Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> H2Future {
        Box::pin(self.0.send_request(req))
    }
}

/// Yields the same message (a refcount clone) `left` times, always ready.
struct Repeat {
    message: Bytes,
    left: u64,
}

impl Stream for Repeat {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        this.left -= 1;
        Poll::Ready(Some(this.message.clone()))
    }
}

/// Connects, then times one client-streaming call of `count` messages.
async fn raw_client(
    addr: SocketAddr,
    tuning: Http2Tuning,
    message: Bytes,
    count: u64,
) -> anyhow::Result<(f64, f64)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut b = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .initial_stream_window_size(tuning.initial_stream_window)
        .initial_connection_window_size(tuning.initial_connection_window)
        .max_frame_size(tuning.max_frame_size)
        .max_send_buf_size(tuning.max_send_buf_size);
    let (send, conn) = b.handshake(TokioIo::new(tcp)).await?;
    let conn = tokio::spawn(conn);
    let origin: http::Uri = format!("http://{addr}").parse()?;
    let mut grpc = tonic::client::Grpc::with_origin(H2Service(send), origin);
    grpc.ready().await?;

    let cpu = process_cpu_seconds();
    let start = Instant::now();
    grpc.client_streaming(
        tonic::Request::new(Repeat {
            message,
            left: count,
        }),
        PathAndQuery::from_static(RAW_PATH),
        BytesCodec,
    )
    .await?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu;
    drop(grpc);
    conn.abort();
    Ok((seconds, cpu))
}

fn raw(bytes: u64, message: u64, http2: Tuning) -> anyhow::Result<()> {
    let tuning = http2.get();
    let msg_len = usize::try_from(message.max(1))?;
    let count = bytes.div_ceil(msg_len as u64).max(1);
    // Pre-touched, non-zero.
    let message = Bytes::from(
        (0..msg_len)
            .map(|i| (i % 251) as u8 + 1)
            .collect::<Vec<u8>>(),
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let service = Discard {
        bytes: Arc::default(),
        messages: Arc::default(),
    };
    let (stop, stop_rx) = tokio::sync::oneshot::channel();
    let server_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let svc = service.clone();
    let server = std::thread::Builder::new()
        .name("raw-grpc-server".to_owned())
        .spawn(move || server_rt.block_on(raw_server(listener, tuning, svc, stop_rx)))?;

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = client_rt.block_on(raw_client(addr, tuning, message, count));
    let _ = stop.send(());
    let served = server
        .join()
        .map_err(|_| anyhow::anyhow!("server thread panicked"))?;
    let (seconds, cpu) = result?;
    served?;

    let got = service.bytes.load(Ordering::Relaxed);
    let got_messages = service.messages.load(Ordering::Relaxed);
    let sent = count * msg_len as u64;
    ensure!(
        got == sent && got_messages == count,
        "server counted {got} bytes in {got_messages} messages, expected {sent} in {count}"
    );
    json_line(
        "raw",
        sent,
        sent + 5 * count, // + the gRPC frame headers
        seconds,
        serde_json::json!({
            "http2": http2.name(),
            "message_bytes": msg_len,
            "messages": count,
            "cpu_seconds": cpu,
        }),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// inproc / official: Recording -> GrpcSink

/// What one `Recording` -> `GrpcSink` run measured.
struct SpateRun {
    seconds: f64,
    flush_seconds: f64,
    cpu_seconds: f64,
    state: GrpcStateHandle,
    warm: usize,
}

/// Logs the clouds through a `GrpcSink` to `url` and times it (see the module docs).
fn spate_run(url: &str, load: Load, tuning: Http2Tuning) -> anyhow::Result<SpateRun> {
    let mut batch = GrpcBatchPolicy::default();
    if let Some(b) = load.batch_bytes {
        batch = batch.max_bytes(usize::try_from(b)?);
    }
    let sink = GrpcSink::connect_with(url, GrpcSinkOptions::default().http2(tuning).batch(batch))?;
    let state = sink.state_handle();
    let rec = Recording::builder("spate_perf")
        .recording_id("perf-grpc-sink")
        // Lossless: every cloud must reach the server.
        .sinks(
            sink.with_policy(SinkPolicy::Block)
                .max_queue_bytes(load.queue_bytes),
        )
        .lane_capacity(load.lane_bytes)
        .start()?;
    let entity = EntityPath::parse("lidar")?;
    let connected = state.wait_until(Instant::now() + Duration::from_secs(10), |s| {
        s.state == ConnectionState::Connected
    });
    ensure!(connected, "not connected to {url}: {:?}", state.stats());

    // Warm the pools with what can be in flight: lane + sink queue + the sink's byte budget
    // (128 MiB) + h2's send buffer, plus a few; the pools keep at most 32 clouds' worth.
    let cloud_bytes = (load.points as u64 * 20).max(1);
    let budget = load.lane_bytes + load.queue_bytes + (128 << 20) + (8 << 20);
    let warm = load.clouds.min((budget / cloud_bytes) as usize + 3).min(32);
    {
        let mut held = Vec::with_capacity(warm);
        for f in 0..warm {
            let mut p = rec.loan_points(load.points);
            let mut c = rec.loan_u32(load.points);
            let mut r = rec.loan_f32(load.points);
            fill(&mut p, &mut c, &mut r, f);
            held.push((p, c, r));
        }
    }

    let cpu = process_cpu_seconds();
    let start = Instant::now();
    for f in 0..load.clouds {
        rec.set_time_sequence("frame", f as i64)?;
        let mut p = rec.loan_points(load.points);
        let mut c = rec.loan_u32(load.points);
        let mut r = rec.loan_f32(load.points);
        if !load.no_fill {
            fill(&mut p, &mut c, &mut r, f);
        }
        rec.log(&entity, &Points3D::new(p).with_colors(c).with_radii(r))?;
    }
    rec.flush(Instant::now() + Duration::from_secs(600))?;
    let flush_seconds = start.elapsed().as_secs_f64();
    let report = rec.shutdown(Instant::now() + Duration::from_secs(600));
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu;
    if !report.is_complete() {
        bail!("not everything reached the server: {report:#?}");
    }
    Ok(SpateRun {
        seconds,
        flush_seconds,
        cpu_seconds,
        state,
        warm,
    })
}

fn spate_details(load: Load, tuning: Tuning, run: &SpateRun) -> serde_json::Value {
    let s = run.state.stats();
    serde_json::json!({
        "http2": tuning.name(),
        "points": load.points,
        "clouds": load.clouds,
        "batch_bytes": load.batch_bytes.unwrap_or(GrpcBatchPolicy::default().max_bytes as u64),
        "fill": !load.no_fill,
        "warm_clouds": run.warm,
        "flush_seconds": run.flush_seconds,
        "cpu_seconds": run.cpu_seconds,
        "sent_messages": s.sent_messages,
        "connections": s.connections,
    })
}

fn inproc(load: Load, http2: Tuning) -> anyhow::Result<()> {
    let tuning = http2.get();
    let server = ProxyReceiver::start_with(
        "127.0.0.1:0".parse()?,
        ReceiverOptions::default().discarding().http2(tuning),
    )?;
    let run = spate_run(&server.url(), load, tuning)?;
    let stats = run.state.stats();
    let counts = server.counts();
    // The sink's close waited for the server's response, so the counts are final; every
    // call the server finished confirmed its messages.
    ensure!(
        counts.calls_finished == stats.confirmed_calls && counts.messages == stats.sent_messages,
        "the receiver counted {counts:?}, the sink sent {stats:?}"
    );
    let mut details = spate_details(load, http2, &run);
    details["receiver_bytes"] = counts.bytes.into();
    json_line(
        "inproc",
        (load.points * 20 * load.clouds) as u64,
        // The received requests (bodies + protobuf prefixes) + the gRPC frame headers.
        counts.bytes + 5 * counts.messages,
        run.seconds,
        details,
    );
    server.kill();
    Ok(())
}

fn official(url: &str, load: Load, http2: Tuning) -> anyhow::Result<()> {
    let run = spate_run(url, load, http2.get()).with_context(|| format!("streaming to {url}"))?;
    let stats = run.state.stats();
    json_line(
        "official",
        (load.points * 20 * load.clouds) as u64,
        // The message bodies + ~10 B of protobuf prefixes and 5 B of gRPC framing each.
        stats.sent_bytes + 15 * stats.sent_messages,
        run.seconds,
        spate_details(load, http2, &run),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Args::parse().mode {
        Mode::Raw {
            bytes,
            message,
            http2,
        } => raw(bytes, message, http2),
        Mode::Inproc { load, http2 } => inproc(load, http2),
        Mode::Official { url, load, http2 } => official(&url, load, http2),
    }
}
