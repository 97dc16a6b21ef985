//! [`ProxyServer`]: the `MessageProxyService` endpoint `spate serve` runs.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use tonic::codec::Codec;
use tonic::server::ClientStreamingService;
use tonic::{Code, Status, Streaming};

use super::Http2Tuning;
use super::codec::{
    EmptyEncoder, READ_MESSAGES, RawDecoder, WRITE_MESSAGES, WriteMessagesResponse, grpc_response,
    response_head,
};
use super::history::{Cursor, History, Pushed};
use super::listen::{ServingThread, Watched, serve_connections};
use super::request::{RejectReason, decode_request};
use crate::ErrorChain;
use crate::sink::{Relay, RelayError, RelayReport};
use crate::stats::SinkStats;
use crate::wire::DecodeLimits;

/// Settings of a [`ProxyServer`].
///
/// ```
/// use spate::sink::grpc::ProxyServerOptions;
/// let o = ProxyServerOptions::default().max_message_bytes(64 << 20).memory_limit(0);
/// assert_eq!(o.max_message_bytes, 64 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyServerOptions {
    /// Largest `WriteMessagesRequest` accepted, and largest payload an LZ4 ArrowMsg may
    /// decompress to (default 1 GiB); larger ones end their call with `OUT_OF_RANGE`,
    /// nothing allocated for the payload.
    pub max_message_bytes: usize,
    /// Bytes kept for `ReadMessages` readers (default 1 GiB, like Rerun's
    /// `--server-memory-limit`): beyond it the oldest temporal chunks are evicted first,
    /// then the oldest static chunks, then the oldest store infos and blueprint messages
    /// (each counted in [`ServeCounters`]). A static chunk replaces the kept one of the
    /// same store, entity and component set. Readers read the history itself, so they add
    /// nothing to it but the message each is sending.
    pub memory_limit: u64,
    /// Runtime worker threads serving connections (default 2).
    pub threads: usize,
    /// HTTP/2 settings advertised to clients.
    pub http2: Http2Tuning,
}

impl Default for ProxyServerOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 30,
            memory_limit: 1 << 30,
            threads: 2,
            http2: Http2Tuning::default(),
        }
    }
}

impl ProxyServerOptions {
    /// Sets [`max_message_bytes`](Self::max_message_bytes).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets [`memory_limit`](Self::memory_limit).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets [`threads`](Self::threads) (at least 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Sets the HTTP/2 settings.
    pub fn http2(mut self, http2: Http2Tuning) -> Self {
        self.http2 = http2;
        self
    }
}

/// Counters of a [`ProxyServer`]; every refused or lost request is counted with a reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeCounters {
    /// TCP connections accepted.
    pub connections: u64,
    /// `WriteMessages` calls started.
    pub calls_started: u64,
    /// Calls the client ended by closing its stream (answered OK).
    pub calls_finished: u64,
    /// Calls that ended because the client vanished or its connection broke.
    pub calls_failed: u64,
    /// Calls ended by the server with an error status (malformed, invalid or oversized
    /// requests).
    pub calls_rejected: u64,
    /// Messages accepted and passed on.
    pub messages: u64,
    /// Bytes of the accepted requests.
    pub bytes: u64,
    /// Requests that were not valid protobuf (call ended with `INVALID_ARGUMENT`).
    pub rejected_malformed: u64,
    /// Requests with no `LogMsg` or an unknown kind (dropped; the call goes on).
    pub rejected_unknown_kind: u64,
    /// Messages of a known kind whose content is invalid (call ended with
    /// `INVALID_ARGUMENT`).
    pub rejected_invalid: u64,
    /// Requests over the size limit, or whose payload would decompress past it (call ended
    /// with `OUT_OF_RANGE`).
    pub rejected_oversized: u64,
    /// Messages accepted while the server was shutting down, not passed on.
    pub dropped_shutting_down: u64,
    /// `ReadMessages` calls started.
    pub read_calls: u64,
    /// Messages handed to `ReadMessages` readers.
    pub read_messages: u64,
    /// Messages live readers missed because they fell behind (evicted or replaced before
    /// they got to them).
    pub read_lagged_messages: u64,
    /// Temporal chunks evicted from the history (memory limit).
    pub history_evicted: u64,
    /// Static chunks evicted from the history (memory limit).
    pub history_evicted_static: u64,
    /// Store infos and blueprint messages evicted from the history (memory limit).
    pub history_evicted_persistent: u64,
    /// Static chunks replaced in the history by a newer one of the same store, entity and
    /// component set.
    pub history_replaced_static: u64,
    /// Bytes kept for readers now.
    pub history_bytes: u64,
}

struct ServerShared {
    counts: Watched<ServeCounters>,
    history: Mutex<History>,
    relay: Relay,
    /// What validating a request may allocate: an LZ4 payload decompresses to at most
    /// `max_message_bytes`.
    limits: DecodeLimits,
}

impl ServerShared {
    fn update(&self, f: impl FnOnce(&mut ServeCounters)) {
        self.counts.update(f);
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a [`ProxyServer`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime, the threads or the sinks could not start.
    #[error("cannot start the server: {0}")]
    Start(#[source] std::io::Error),
}

/// What a [`ProxyServer`] did, at shutdown.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// The server's counters at the end.
    pub counters: ServeCounters,
    /// What the sinks delivered.
    pub relay: RelayReport,
}

/// A Rerun-compatible `MessageProxyService` endpoint (what `spate serve`
/// runs). Clients — the official SDKs' `rr.GrpcSink(...)`, spate's
/// [`GrpcSink`](super::GrpcSink) — stream `WriteMessages` to it; what they send is passed,
/// **without re-encoding**, to a [`Relay`] of sinks (a [`FileSink`](crate::sink::FileSink),
/// [`GrpcSink`](super::GrpcSink)s forwarding elsewhere, …) and kept for `ReadMessages`
/// readers (late viewers) within a memory limit.
///
/// # What it does with each request
///
/// 1. tonic refuses a request larger than [`ProxyServerOptions::max_message_bytes`]
///    (`OUT_OF_RANGE`, counted in [`ServeCounters::rejected_oversized`]) before buffering it.
/// 2. [`decode_request`] splits the `LogMsg` off without copying and validates the body
///    (an ArrowMsg's chunk is decoded — LZ4 payloads decompressed — to take the footer
///    manifest's summary from it; the decoded copy is then dropped). Malformed protobuf and
///    invalid messages end that call with `INVALID_ARGUMENT` and are counted; a `LogMsg`
///    kind this version does not know (or an empty one) is dropped and counted, and the
///    call goes on. Other clients are not affected by either.
/// 3. The message (its body the very bytes received) is kept for readers and sent to the
///    relay, which hands it to every sink with that sink's queue and policy. If the relay's
///    inbox is full the call waits, which stops reading from that client (HTTP/2 flow
///    control pushes back on it).
///
/// A client that vanishes mid-stream ends its call with an error
/// ([`ServeCounters::calls_failed`]); the messages it sent completely are kept.
///
/// # Several clients, several recordings
///
/// Any number of `WriteMessages` calls may run at once, on any number of connections;
/// each call's messages stay in order. Messages of different recordings (store ids) go to
/// the same sinks: a [`FileSink`](crate::sink::FileSink) writes them into one file with one
/// footer manifest per recording (as Rerun's own files with several recordings do) and
/// replays every recording's `SetStoreInfo` and static chunks into rotated files.
///
/// # Readers
///
/// A `ReadMessages` call replays what is kept, in arrival order, then streams what arrives
/// (see [`ProxyServerOptions::memory_limit`]); its responses are the kept messages' own
/// bytes. A slow reader never slows the writers: it misses what was evicted before it got
/// there ([`ServeCounters::read_lagged_messages`]).
///
/// # Example
///
///
/// ```
/// use spate::sink::grpc::{ProxyServer, ProxyServerOptions};
/// use spate::sink::{GrpcSink, MemorySink, Relay, SinkPolicy, SinkExt};
/// use spate::{EntityPath, Points3D, Recording};
/// use std::time::{Duration, Instant};
///
/// let (memory, got) = MemorySink::new();
/// let relay = Relay::start(memory.with_policy(SinkPolicy::Block))?;
/// let server = ProxyServer::start("127.0.0.1:0".parse()?, relay, ProxyServerOptions::default())?;
///
/// let rec = Recording::builder("demo").sinks(GrpcSink::connect(&server.url())?).start()?;
/// rec.log(&EntityPath::parse("points")?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
/// rec.shutdown(Instant::now() + Duration::from_secs(10));
///
/// assert!(server.wait_until(Duration::from_secs(10), |c| c.calls_finished == 1));
/// let report = server.shutdown(Instant::now() + Duration::from_secs(10));
/// assert_eq!(report.counters.messages, 2); // SetStoreInfo + one chunk
/// assert_eq!(got.decode()?.chunks().count(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ProxyServer {
    addr: SocketAddr,
    shared: Arc<ServerShared>,
    thread: ServingThread,
}

impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("addr", &self.addr)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl ProxyServer {
    /// Listens on `addr` and passes what it receives to `relay`.
    pub fn start(
        addr: SocketAddr,
        relay: Relay,
        options: ProxyServerOptions,
    ) -> Result<Self, ServeError> {
        let listener =
            StdListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
        listener.set_nonblocking(true).map_err(ServeError::Start)?;
        let addr = listener.local_addr().map_err(ServeError::Start)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name("spate-serve")
            .enable_all()
            .build()
            .map_err(ServeError::Start)?;
        let shared = Arc::new(ServerShared {
            counts: Watched::new(ServeCounters::default()),
            history: Mutex::new(History::new(options.memory_limit)),
            relay,
            limits: DecodeLimits::default()
                .max_uncompressed_bytes(options.max_message_bytes as u64),
        });
        let s = shared.clone();
        let thread = ServingThread::spawn("spate-serve-accept", move |stop| {
            rt.block_on(accept_loop(listener, s, options, stop));
            // Ends every connection and call.
            rt.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(ServeError::Start)?;
        Ok(Self {
            addr,
            shared,
            thread,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `rerun+http://ADDR/proxy` (with `127.0.0.1` for an unspecified bind address).
    pub fn url(&self) -> String {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("rerun+http://{a}/proxy")
    }

    /// The counters now.
    pub fn counters(&self) -> ServeCounters {
        *self.shared.counts.lock()
    }

    /// The sinks' counters now.
    pub fn sink_stats(&self) -> Vec<SinkStats> {
        self.shared.relay.stats()
    }

    /// Waits until `cond` holds for the counters or `limit` passes; returns whether it held.
    pub fn wait_until(&self, limit: Duration, cond: impl FnMut(&ServeCounters) -> bool) -> bool {
        self.shared.counts.wait_until(limit, cond)
    }

    /// Stops listening, ends every call (clients see their connections close), then passes
    /// on what was received and closes the sinks (a file gets its footer), waiting at most
    /// until `deadline`.
    pub fn shutdown(mut self, deadline: Instant) -> ServeReport {
        self.stop_serving();
        let relay = self.shared.relay.shutdown(deadline);
        ServeReport {
            counters: self.counters(),
            relay,
        }
    }

    fn stop_serving(&mut self) {
        self.thread.stop();
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.stop_serving();
        // The relay closes its sinks when the last reference goes.
    }
}

async fn accept_loop(
    listener: StdListener,
    shared: Arc<ServerShared>,
    options: ProxyServerOptions,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let max = options.max_message_bytes;
    serve_connections(listener, &options.http2, stop, || {
        shared.update(|c| c.connections += 1);
        let s = shared.clone();
        move |req| route(req, s.clone(), max)
    })
    .await;
}

async fn route(
    req: http::Request<Incoming>,
    shared: Arc<ServerShared>,
    max_message_bytes: usize,
) -> http::Response<tonic::body::Body> {
    match req.uri().path() {
        WRITE_MESSAGES => {
            let mut grpc = tonic::server::Grpc::new(RawRequestCodec)
                .max_decoding_message_size(max_message_bytes);
            grpc.client_streaming(WriteService { shared }, req).await
        }
        READ_MESSAGES => read_messages(shared),
        path => Status::unimplemented(format!("{path} is not served here")).into_http(),
    }
}

// ---- WriteMessages ----

/// Receives each `WriteMessagesRequest` as its raw bytes (decoded by the service, which
/// counts what it refuses), sends the empty response.
#[derive(Clone, Copy, Debug)]
struct RawRequestCodec;

impl Codec for RawRequestCodec {
    type Encode = WriteMessagesResponse;
    type Decode = Bytes;
    type Encoder = EmptyEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> EmptyEncoder {
        EmptyEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

struct WriteService {
    shared: Arc<ServerShared>,
}

type WriteFuture =
    Pin<Box<dyn Future<Output = Result<tonic::Response<WriteMessagesResponse>, Status>> + Send>>;

impl ClientStreamingService<Bytes> for WriteService {
    type Response = WriteMessagesResponse;
    type Future = WriteFuture;

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.update(|c| c.calls_started += 1);
            let result = receive(&shared, request.into_inner()).await;
            shared.update(|c| match &result {
                Ok(()) => c.calls_finished += 1,
                Err((status, true)) if status.code() == Code::OutOfRange => {
                    c.rejected_oversized += 1;
                    c.calls_rejected += 1;
                }
                Err((_, true)) => c.calls_failed += 1,
                Err((_, false)) => c.calls_rejected += 1,
            });
            result
                .map(|()| tonic::Response::new(WriteMessagesResponse {}))
                .map_err(|(s, _)| s)
        })
    }
}

/// Reads one call to its end. An error says whether it came from the transport / tonic
/// (`true`) or from the server refusing a request (`false`).
async fn receive(
    shared: &ServerShared,
    mut stream: Streaming<Bytes>,
) -> Result<(), (Status, bool)> {
    loop {
        let raw = match stream.message().await {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok(()),
            Err(status) => return Err((status, true)),
        };
        let len = raw.len() as u64;
        let msg = match decode_request(raw, &shared.limits) {
            Ok(msg) => msg,
            Err(e) => {
                let reason = e.reason();
                shared.update(|c| match reason {
                    RejectReason::Malformed => c.rejected_malformed += 1,
                    RejectReason::UnknownKind => c.rejected_unknown_kind += 1,
                    RejectReason::Oversized => c.rejected_oversized += 1,
                    _ => c.rejected_invalid += 1,
                });
                let text = format!("bad WriteMessagesRequest: {}", ErrorChain(&e));
                let status = match reason {
                    RejectReason::UnknownKind => continue,
                    RejectReason::Oversized => Status::out_of_range(text),
                    RejectReason::OutOfMemory => Status::resource_exhausted(text),
                    _ => Status::invalid_argument(text),
                };
                return Err((status, false));
            }
        };
        let pushed = shared.history().push(&msg);
        let sent = shared.relay.send(msg).await;
        shared.update(|c| {
            add_pushed(c, &pushed);
            match &sent {
                Ok(()) => {
                    c.messages += 1;
                    c.bytes += len;
                }
                Err(_) => c.dropped_shutting_down += 1,
            }
        });
        if let Err(RelayError::Closed(_) | RelayError::Full(_)) = sent {
            return Err((Status::unavailable("the server is shutting down"), false));
        }
    }
}

fn add_pushed(c: &mut ServeCounters, p: &Pushed) {
    c.history_evicted += p.evicted_temporal;
    c.history_evicted_static += p.evicted_static;
    c.history_evicted_persistent += p.evicted_persistent;
    c.history_replaced_static += p.replaced_static;
    c.history_bytes = p.bytes;
}

// ---- ReadMessages ----

/// Starts a `ReadMessages` call: its response streams the history from a new cursor. The
/// request (an empty `ReadMessagesRequest`) is not read.
fn read_messages(shared: Arc<ServerShared>) -> http::Response<tonic::body::Body> {
    shared.update(|c| c.read_calls += 1);
    let cursor = shared.history().subscribe();
    grpc_response(HistoryReader {
        shared,
        cursor,
        parts: VecDeque::new(),
    })
}

/// A `ReadMessages` response body: each kept message as one gRPC message — a small head,
/// then the message's own parts (no copy). It is asked for more only when HTTP/2 can send,
/// so a reader that does not read holds at most the message it is on.
struct HistoryReader {
    shared: Arc<ServerShared>,
    cursor: Cursor,
    parts: VecDeque<Bytes>,
}

impl Body for HistoryReader {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if let Some(part) = this.parts.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
            let (msg, missed) = this.shared.history().next(&mut this.cursor, cx.waker());
            if missed > 0 {
                this.shared.update(|c| c.read_lagged_messages += missed);
            }
            let Some(msg) = msg else {
                return Poll::Pending;
            };
            // Kept messages always have a LogMsg kind and fit a gRPC message.
            if let Some(head) = response_head(msg.kind(), msg.len()) {
                this.parts.push_back(head);
                this.parts.extend(msg.parts().iter().cloned());
                this.shared.update(|c| c.read_messages += 1);
            }
        }
    }
}

impl Drop for HistoryReader {
    fn drop(&mut self) {
        self.shared.history().unsubscribe(&self.cursor);
    }
}
