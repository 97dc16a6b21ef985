//! The receiving side: [`ProxyServer`], the `MessageProxyService` endpoint `spate serve`
//! runs, its `ReadMessages` history, and the [`Relay`] that hands what it receives to
//! sinks (files, forwards); also [`testing::ProxyReceiver`], a minimal receiver for tests
//! and `spate check`. The transport (listening, limits, framing) is [`crate::net`]'s.
//!
//! Network input is untrusted. Every size a client announces is checked against a
//! configured limit before anything is allocated for it, and allocated fallibly; memory is
//! bounded by budgets, not by the clients' good will; and a client can only ever end its
//! own call — no request, stall or panic caused by one client stops the server or another
//! client's call. The limits and what each bounds are listed on [`ProxyServerOptions`].

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

mod history;
mod receiver;
pub mod relay;

pub use relay::{Relay, RelayError, RelayReport};

/// An in-process receiving `MessageProxyService` server, for tests and `spate check`.
#[doc(hidden)]
pub mod testing {
    pub use super::receiver::{ProxyReceiver, Received, ReceiverCounts, ReceiverOptions};
}

use crate::error::ErrorChain;
use crate::net::codec::{
    BodyError, EmptyOk, MessageBody, READ_MESSAGES, WRITE_MESSAGES, grpc_response, response_head,
};
use crate::net::listen::{
    ConnectionEnd, ConnectionLimits, Contained, ServingThread, Watched, serve_connections,
};
use crate::net::request::validate_body;
use crate::net::{Http2Tuning, ServerTls, Token};
use crate::net::{RejectReason, RequestError, split_request};
use crate::stats::SinkStats;
use crate::wire::{DecodeLimits, EncodedMessage};
use history::{Cursor, History, Pushed};

/// Messages whose bytes plus claimed decompressed bytes are at least this large are
/// validated on tokio's blocking pool, so decompressing and decoding them never holds up
/// the threads serving connections.
const BLOCKING_VALIDATION_BYTES: u64 = 256 << 10;

/// Settings of a [`ProxyServer`]: the limits that bound what clients can make it hold.
///
/// # Memory
///
/// What the server holds is bounded by, in total:
///
/// - [`memory_limit`](Self::memory_limit): the history kept for `ReadMessages` readers
///   (store infos, the latest static chunk per entity and component set, temporal chunks;
///   bodies plus a small per-message allowance). A single message larger than the limit is
///   kept alone until the next one arrives.
/// - [`max_in_flight_bytes`](Self::max_in_flight_bytes): requests being received or
///   validated, over all calls. Each request's announced length is reserved before its
///   bytes are read; a request waits for its reservation (its client is held back by HTTP/2
///   flow control) while the other calls go on.
/// - [`max_message_bytes`](Self::max_message_bytes), once more: LZ4 payloads being
///   decompressed for validation, over all calls (each reserves the decompressed size it
///   claims, which is at most this much, before anything is allocated).
/// - the sinks: the relay's inbox (64 MiB) and each sink's queue.
/// - per open connection ([`max_connections`](Self::max_connections) of them): what HTTP/2
///   buffers of a request the server is not reading yet (at most
///   [`http2`](Self::http2)`.initial_connection_window`) plus one frame, and a few KiB of
///   state; per `ReadMessages` reader, the message it is sending (shared with the history
///   unless evicted since).
///
/// # Time
///
/// A client may stay quiet between messages for as long as it likes (the official SDKs
/// keep one call open for a whole recording); a dead peer is found by HTTP/2 keep-alive
/// PINGs ([`Http2Tuning::keep_alive_interval`]). A message that has started arriving must
/// keep arriving ([`stall_timeout`](Self::stall_timeout)), and a connection with no call is
/// closed after [`idle_timeout`](Self::idle_timeout), so neither can pin a budget or a
/// connection slot for ever.
///
/// ```
/// use spate::server::ProxyServerOptions;
/// use std::time::Duration;
/// let o = ProxyServerOptions::default()
///     .max_message_bytes(64 << 20)
///     .memory_limit(0)
///     .max_connections(16)
///     .stall_timeout(Duration::from_secs(5));
/// assert_eq!(o.max_message_bytes, 64 << 20);
/// assert_eq!(o.max_in_flight_bytes, 2 << 30);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyServerOptions {
    /// Largest `WriteMessagesRequest` accepted, and largest payload an LZ4 ArrowMsg may
    /// decompress to (default 1 GiB). Larger ones end their call with `OUT_OF_RANGE`
    /// before anything is allocated for them.
    pub max_message_bytes: usize,
    /// Bytes kept for `ReadMessages` readers (default 1 GiB, like Rerun's
    /// `--server-memory-limit`): beyond it the oldest temporal chunks are evicted first,
    /// then the oldest static chunks, then the oldest store infos and blueprint messages
    /// (each counted in [`ServeCounters`]). A static chunk replaces the kept one of the
    /// same store, entity and component set.
    pub memory_limit: u64,
    /// Bytes of requests being received or validated at once, over all calls (default
    /// 2 GiB, at least one [`max_message_bytes`](Self::max_message_bytes) request).
    pub max_in_flight_bytes: u64,
    /// Connections served at once (default 256); more wait in the kernel's accept queue
    /// until one closes.
    pub max_connections: usize,
    /// Calls one connection may run at once (HTTP/2 `MAX_CONCURRENT_STREAMS`, default 32);
    /// a client opening more is refused by HTTP/2 (`REFUSED_STREAM`).
    pub max_streams_per_connection: u32,
    /// A connection with no call for this long is closed (default 60 s; counted in
    /// [`ServeCounters::connections_idle_closed`]).
    pub idle_timeout: Duration,
    /// A message that has started arriving and gets no further bytes for this long ends
    /// its call with `DEADLINE_EXCEEDED` (default 30 s; counted in
    /// [`ServeCounters::calls_stalled`]).
    pub stall_timeout: Duration,
    /// Runtime worker threads serving connections (default 2).
    pub threads: usize,
    /// HTTP/2 settings advertised to clients (keep-alive PINGs find dead peers).
    pub http2: Http2Tuning,
    /// Serve `rerun+https` (TLS, HTTP/2 by ALPN) with this certificate instead of
    /// plain-text HTTP/2 (default `None`). A client's handshake has 10 s; a failed one
    /// closes its connection (counted in [`ServeCounters::connections_tls_failed`]).
    pub tls: Option<ServerTls>,
    /// Require every call to carry `authorization: Bearer TOKEN` (default `None`: no
    /// auth). Other calls end with `UNAUTHENTICATED` before their body is read (counted in
    /// [`ServeCounters::calls_unauthenticated`]).
    pub token: Option<Token>,
}

impl Default for ProxyServerOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 30,
            memory_limit: 1 << 30,
            max_in_flight_bytes: 2 << 30,
            max_connections: 256,
            max_streams_per_connection: 32,
            idle_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(30),
            threads: 2,
            http2: Http2Tuning::default(),
            tls: None,
            token: None,
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

    /// Sets [`max_in_flight_bytes`](Self::max_in_flight_bytes).
    pub fn max_in_flight_bytes(mut self, bytes: u64) -> Self {
        self.max_in_flight_bytes = bytes;
        self
    }

    /// Sets [`max_connections`](Self::max_connections) (at least 1).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets [`max_streams_per_connection`](Self::max_streams_per_connection) (at least 1).
    pub fn max_streams_per_connection(mut self, streams: u32) -> Self {
        self.max_streams_per_connection = streams.max(1);
        self
    }

    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`stall_timeout`](Self::stall_timeout).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
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

    /// Serves TLS with `tls` (see [`tls`](Self::tls)).
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Requires `token` (see [`token`](Self::token)).
    pub fn token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }

    fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits::default().max_uncompressed_bytes(self.max_message_bytes as u64)
    }
}

/// Counters of a [`ProxyServer`]; every refused or lost request is counted with a reason.
///
/// Every started call ends in exactly one of `calls_finished`, `calls_failed`,
/// `calls_rejected`, `calls_stalled` and `calls_panicked`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeCounters {
    /// TCP connections accepted.
    pub connections: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Connections closed because they had no call for the idle timeout.
    pub connections_idle_closed: u64,
    /// Connections closed because their TLS handshake failed or took over 10 s.
    pub connections_tls_failed: u64,
    /// Calls (of any kind) refused with `UNAUTHENTICATED`: no bearer token, or the wrong
    /// one, while [`ProxyServerOptions::token`] is set.
    pub calls_unauthenticated: u64,
    /// `WriteMessages` calls started.
    pub calls_started: u64,
    /// Calls the client ended by closing its stream (answered OK).
    pub calls_finished: u64,
    /// Calls that ended because the client vanished, its connection broke, or it ended its
    /// stream inside a message.
    pub calls_failed: u64,
    /// Calls ended by the server with an error status (malformed, invalid or oversized
    /// requests, or the server shutting down).
    pub calls_rejected: u64,
    /// Calls ended because a started message stopped arriving (stall timeout).
    pub calls_stalled: u64,
    /// Calls ended because serving them panicked (a bug; contained to the call).
    pub calls_panicked: u64,
    /// Calls the client ended whose messages the recording's sinks did not write (a sink
    /// failed, or not within the stall timeout): answered UNAVAILABLE, so the client does
    /// not count them as delivered. Also counted in `calls_failed`.
    pub calls_unsaved: u64,
    /// Messages accepted and passed on.
    pub messages: u64,
    /// Bytes of the accepted requests.
    pub bytes: u64,
    /// Requests that were not valid gRPC framing or protobuf (call ended with
    /// `INVALID_ARGUMENT`, or `UNIMPLEMENTED` for gRPC-compressed messages).
    pub rejected_malformed: u64,
    /// Requests with no `LogMsg` or an unknown kind (dropped; the call goes on).
    pub rejected_unknown_kind: u64,
    /// Messages of a known kind whose content is invalid (call ended with
    /// `INVALID_ARGUMENT`).
    pub rejected_invalid: u64,
    /// Requests over the size limit, or whose payload would decompress past it (call
    /// ended with `OUT_OF_RANGE`, nothing allocated for them).
    pub rejected_oversized: u64,
    /// Requests within the limits whose memory could not be allocated (call ended with
    /// `RESOURCE_EXHAUSTED`).
    pub rejected_out_of_memory: u64,
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
    /// Bytes reserved now for requests being received or validated.
    pub in_flight_bytes: u64,
}

/// A budget of bytes shared by every call, counted in KiB permits of a fair semaphore: a
/// reservation waits for its turn, and an oversized one takes the whole budget.
#[derive(Debug)]
struct ByteBudget {
    permits: Arc<Semaphore>,
    total_kib: u32,
}

impl ByteBudget {
    fn new(bytes: u64) -> Self {
        let total_kib = bytes
            .div_ceil(1024)
            .clamp(1, u64::from(u32::MAX).min(Semaphore::MAX_PERMITS as u64))
            as u32;
        Self {
            permits: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits until `bytes` (at most the whole budget) are free and takes them until the
    /// returned permit is dropped.
    async fn reserve(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        if bytes == 0 {
            return None;
        }
        let kib = bytes.div_ceil(1024).min(u64::from(self.total_kib)) as u32;
        // The semaphore is never closed.
        self.permits.clone().acquire_many_owned(kib).await.ok()
    }

    fn in_use(&self) -> u64 {
        let free = self.permits.available_permits() as u64;
        u64::from(self.total_kib).saturating_sub(free) * 1024
    }
}

struct ServerShared {
    counts: Watched<ServeCounters>,
    history: Mutex<History>,
    relay: Relay,
    options: ProxyServerOptions,
    /// Requests being received or validated.
    in_flight: ByteBudget,
    /// Payloads being decompressed for validation.
    decompressing: ByteBudget,
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
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The runtime, the threads or the sinks could not start.
    #[error("cannot start the server")]
    Start(#[source] std::io::Error),
    /// [`ProxyServerOptions::token`] is empty or not a valid header value: it would let
    /// in clients sending an empty credential, or nobody.
    #[error("the required bearer token is empty or not a valid header value")]
    InvalidToken,
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
/// [`GrpcSink`](crate::sink::GrpcSink) — stream `WriteMessages` to it; what they send is passed,
/// **without re-encoding**, to a [`Relay`] of sinks (a [`FileSink`](crate::sink::FileSink),
/// [`GrpcSink`](crate::sink::GrpcSink)s forwarding elsewhere, …) and kept for `ReadMessages`
/// readers (late viewers) within a memory limit.
///
/// # What it does with each request
///
/// 1. The request's gRPC length is checked against
///    [`ProxyServerOptions::max_message_bytes`] (`OUT_OF_RANGE`, counted in
///    [`ServeCounters::rejected_oversized`]) and reserved from
///    [`ProxyServerOptions::max_in_flight_bytes`] before its bytes are read into a buffer
///    of exactly that size (allocated fallibly).
/// 2. The `LogMsg` is split off without copying and the body is validated (an ArrowMsg's
///    chunk is decoded — LZ4 payloads decompressed, within the same size limit — to take
///    the footer manifest's summary from it; the decoded copy is then dropped). Malformed
///    protobuf and invalid messages end that call with `INVALID_ARGUMENT` and are counted;
///    a `LogMsg` kind this version does not know (or an empty one) is dropped and counted,
///    and the call goes on. Other clients are not affected by either.
/// 3. The message (its body the very bytes received) is kept for readers and sent to the
///    relay, which hands it to every sink with that sink's queue and policy. If the relay's
///    inbox is full the call waits, which stops reading from that client (HTTP/2 flow
///    control pushes back on it).
///
/// A client that vanishes mid-stream ends its call with an error
/// ([`ServeCounters::calls_failed`]); the messages it sent completely are kept. One that
/// stops in the middle of a message is ended after
/// [`ProxyServerOptions::stall_timeout`].
///
/// # Several clients, several recordings
///
/// Any number of `WriteMessages` calls may run at once (within
/// [`ProxyServerOptions::max_connections`] and
/// [`ProxyServerOptions::max_streams_per_connection`]); each call's messages stay in order.
/// Messages of different recordings (store ids) go to the same sinks: a
/// [`FileSink`](crate::sink::FileSink) writes them into one file with one footer manifest
/// per recording (as Rerun's own files with several recordings do) and replays every
/// recording's `SetStoreInfo` and static chunks into rotated files.
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
/// use spate::server::{ProxyServer, ProxyServerOptions};
/// use spate::sink::{GrpcSink, MemorySink, SinkPolicy, SinkExt};
/// use spate::server::Relay;
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
/// // The recording's preamble (SetStoreInfo, its properties), then one chunk.
/// assert_eq!(report.counters.messages, 3);
/// assert_eq!(got.decode()?.chunks().count(), 2);
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
        if options.token.as_ref().is_some_and(|t| !t.is_valid()) {
            return Err(ServeError::InvalidToken);
        }
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
        let max_message = options.max_message_bytes as u64;
        let shared = Arc::new(ServerShared {
            counts: Watched::new(ServeCounters::default()),
            history: Mutex::new(History::new(options.memory_limit)),
            relay,
            in_flight: ByteBudget::new(options.max_in_flight_bytes.max(max_message)),
            options,
            decompressing: ByteBudget::new(max_message),
        });
        let s = shared.clone();
        let thread = ServingThread::spawn("spate-serve-accept", move |stop| {
            rt.block_on(accept_loop(listener, s, stop));
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

    /// `rerun+http://ADDR/proxy` (`rerun+https` when serving TLS; `127.0.0.1` for an
    /// unspecified bind address).
    pub fn url(&self) -> String {
        let mut a = self.addr;
        if a.ip().is_unspecified() {
            a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let scheme = if self.shared.options.tls.is_some() {
            "rerun+https"
        } else {
            "rerun+http"
        };
        format!("{scheme}://{a}/proxy")
    }

    /// The counters now.
    pub fn counters(&self) -> ServeCounters {
        let mut c = *self.shared.counts.lock();
        c.in_flight_bytes = self.shared.in_flight.in_use();
        c
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
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    let options = &shared.options;
    let limits = ConnectionLimits {
        max_connections: Some(options.max_connections),
        max_concurrent_streams: Some(options.max_streams_per_connection),
        idle_timeout: Some(options.idle_timeout),
    };
    let tls = options.tls.clone();
    serve_connections(
        listener,
        &options.http2,
        &limits,
        tls.as_ref(),
        stop,
        || {
            shared.update(|c| {
                c.connections += 1;
                c.connections_open += 1;
            });
            let s = shared.clone();
            let route = move |req| route(req, s.clone());
            let s = shared.clone();
            let on_end = move |end| {
                s.update(|c| {
                    c.connections_open -= 1;
                    match end {
                        ConnectionEnd::Idle => c.connections_idle_closed += 1,
                        ConnectionEnd::TlsFailed => c.connections_tls_failed += 1,
                        ConnectionEnd::Closed => {}
                    }
                });
            };
            (route, on_end)
        },
    )
    .await;
}

async fn route(
    req: http::Request<Incoming>,
    shared: Arc<ServerShared>,
) -> http::Response<tonic::body::Body> {
    if let Some(token) = &shared.options.token
        && !token.authorizes(req.headers())
    {
        shared.update(|c| c.calls_unauthenticated += 1);
        return Status::unauthenticated("missing or wrong bearer token").into_http();
    }
    match req.uri().path() {
        WRITE_MESSAGES => write_messages(req.into_body(), &shared).await,
        READ_MESSAGES => read_messages(shared),
        path => Status::unimplemented(format!("{path} is not served here")).into_http(),
    }
}

// ---- WriteMessages ----

/// How a `WriteMessages` call ended; each is one counter of [`ServeCounters`].
#[derive(Debug)]
enum CallEnd {
    /// The client closed its stream: OK.
    Finished,
    /// The server refused a request (or is shutting down).
    Rejected(Status),
    /// The client vanished, its connection broke, or it ended inside a message.
    Failed(Status),
    /// A started message stopped arriving.
    Stalled(Status),
    /// Serving the call panicked.
    Panicked,
}

async fn write_messages(
    body: Incoming,
    shared: &ServerShared,
) -> http::Response<tonic::body::Body> {
    shared.update(|c| c.calls_started += 1);
    let end = Contained(Box::pin(receive(shared, body)))
        .await
        .unwrap_or(CallEnd::Panicked);
    shared.update(|c| match &end {
        CallEnd::Finished => c.calls_finished += 1,
        CallEnd::Rejected(_) => c.calls_rejected += 1,
        CallEnd::Failed(_) => c.calls_failed += 1,
        CallEnd::Stalled(_) => c.calls_stalled += 1,
        CallEnd::Panicked => c.calls_panicked += 1,
    });
    match end {
        CallEnd::Finished => grpc_response(EmptyOk::default()),
        CallEnd::Rejected(s) | CallEnd::Failed(s) | CallEnd::Stalled(s) => s.into_http(),
        CallEnd::Panicked => {
            Status::internal("the server failed while serving this call").into_http()
        }
    }
}

/// Reads one call to its end: each message's length checked and reserved, its bytes read,
/// split, validated, kept and passed on.
async fn receive(shared: &ServerShared, body: Incoming) -> CallEnd {
    let options = &shared.options;
    let mut body = MessageBody::new(body, options.stall_timeout);
    loop {
        let (flag, len) = match body.next_prefix().await {
            Ok(Some(prefix)) => prefix,
            // The client ended its stream: answer OK only once the recording's sinks wrote
            // what it sent (its "confirmed" means "saved": a server killed after the answer
            // loses nothing the client counts as delivered).
            Ok(None) => {
                let deadline = std::time::Instant::now() + options.stall_timeout;
                return match shared.relay.confirm(deadline).await {
                    Ok(()) => CallEnd::Finished,
                    Err(why) => {
                        shared.update(|c| c.calls_unsaved += 1);
                        CallEnd::Failed(Status::unavailable(format!(
                            "the messages of this call were not saved: {why}"
                        )))
                    }
                };
            }
            Err(e) => return body_error(shared, &e),
        };
        if flag != 0 {
            shared.update(|c| c.rejected_malformed += 1);
            return CallEnd::Rejected(if flag == 1 {
                Status::unimplemented(
                    "gRPC message compression is not supported (ArrowMsg payloads carry their \
                     own LZ4)",
                )
            } else {
                Status::invalid_argument(format!("gRPC compression flag {flag}, expected 0"))
            });
        }
        let len = len as usize;
        if len > options.max_message_bytes {
            shared.update(|c| c.rejected_oversized += 1);
            return CallEnd::Rejected(Status::out_of_range(format!(
                "a request of {len} bytes is over the limit of {} bytes",
                options.max_message_bytes
            )));
        }
        let _reserved = shared.in_flight.reserve(len as u64).await;
        let raw = match body.read_message(len).await {
            Ok(raw) => raw,
            Err(e) => return body_error(shared, &e),
        };
        let msg = match validate(shared, raw).await {
            Ok(Some(msg)) => msg,
            Ok(None) => continue, // an unknown kind, dropped and counted
            Err(end) => return end,
        };
        let pushed = shared.history().push(&msg);
        let sent = shared.relay.send(msg).await;
        shared.update(|c| {
            add_pushed(c, &pushed);
            match &sent {
                Ok(()) => {
                    c.messages += 1;
                    c.bytes += len as u64;
                }
                Err(_) => c.dropped_shutting_down += 1,
            }
        });
        if let Err(RelayError::Closed(_) | RelayError::Full(_)) = sent {
            return CallEnd::Rejected(Status::unavailable("the server is shutting down"));
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

fn body_error(shared: &ServerShared, e: &BodyError) -> CallEnd {
    let text = ErrorChain(e).to_string();
    match e {
        BodyError::Transport(_) => CallEnd::Failed(Status::cancelled(text)),
        BodyError::EndedInside => CallEnd::Failed(Status::invalid_argument(text)),
        BodyError::Stalled(_) => CallEnd::Stalled(Status::deadline_exceeded(text)),
        BodyError::Allocation { .. } => {
            shared.update(|c| c.rejected_out_of_memory += 1);
            CallEnd::Rejected(Status::resource_exhausted(text))
        }
    }
}

/// Splits and validates one request: `Ok(None)` for a request to drop (no or unknown
/// `LogMsg` kind, counted), `Err` for one that ends the call (counted).
async fn validate(shared: &ServerShared, raw: Bytes) -> Result<Option<EncodedMessage>, CallEnd> {
    let limits = shared.options.decode_limits();
    let result = match split_request(raw) {
        Ok((kind, body)) => {
            // What decompressing it will allocate, within the limit (a claim past the limit
            // is refused before allocating, so it needs no room).
            let claim = EncodedMessage::claimed_decompressed_bytes(kind, &body);
            let claim = if claim <= limits.max_uncompressed_bytes {
                claim
            } else {
                0
            };
            let _decompressing = shared.decompressing.reserve(claim).await;
            if body.len() as u64 + claim < BLOCKING_VALIDATION_BYTES {
                std::panic::catch_unwind(AssertUnwindSafe(|| validate_body(kind, body, &limits)))
                    .map_err(|_| CallEnd::Panicked)?
            } else {
                match tokio::task::spawn_blocking(move || validate_body(kind, body, &limits)).await
                {
                    Ok(result) => result,
                    Err(e) if e.is_panic() => return Err(CallEnd::Panicked),
                    Err(_) => {
                        return Err(CallEnd::Rejected(Status::unavailable(
                            "the server is shutting down",
                        )));
                    }
                }
            }
        }
        Err(e) => Err(e),
    };
    let e = match result {
        Ok(msg) => return Ok(Some(msg)),
        Err(e) => e,
    };
    let reason = e.reason();
    shared.update(|c| match reason {
        RejectReason::Malformed => c.rejected_malformed += 1,
        RejectReason::UnknownKind => c.rejected_unknown_kind += 1,
        RejectReason::Oversized => c.rejected_oversized += 1,
        RejectReason::OutOfMemory => c.rejected_out_of_memory += 1,
        _ => c.rejected_invalid += 1,
    });
    let text = request_error(&e);
    let status = match reason {
        RejectReason::UnknownKind => return Ok(None),
        RejectReason::Oversized => Status::out_of_range(text),
        RejectReason::OutOfMemory => Status::resource_exhausted(text),
        _ => Status::invalid_argument(text),
    };
    Err(CallEnd::Rejected(status))
}

fn request_error(e: &RequestError) -> String {
    format!("bad WriteMessagesRequest: {}", ErrorChain(e))
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
