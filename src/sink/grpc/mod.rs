//! [`GrpcSink`]: streams a recording to a Rerun viewer or server over gRPC
//! (`rerun+http://HOST:PORT/proxy`, the `MessageProxyService/WriteMessages` call;
//! `rerun-format.md` §7).
//!
//! # Design
//!
//! * **Threads.** The sink owns a thread `spate-grpc` running a current-thread tokio
//!   runtime. [`Sink::write`] (on the sink's worker thread) only appends the message to a
//!   queue shared with that thread and wakes it; it never waits on the network, except for
//!   back-pressure when the connection is up and the queue is over its budget (see below).
//! * **Calls.** Each connection is a hyper HTTP/2 connection that spate dials and tunes
//!   itself (tonic supplies the status types; the request body is spate's own). It carries
//!   client-streaming `WriteMessages` calls **one after the other**, so the server sees the
//!   messages in order. Each message is sent as `WriteMessagesRequest{LogMsg{..}}`: a small
//!   head (the gRPC length prefix and the two protobuf prefixes, framed once by
//!   [`Sink::write`]), then the message's parts **as they are** — the payload is neither
//!   re-encoded nor copied: h2 writes each large part to the socket with a vectored write
//!   straight from the chunk's buffers (the caller's `Vec` memory).
//! * **Batching** ([`GrpcBatchPolicy`]). Queued messages are released in runs. Messages
//!   shorter than 64 KiB are coalesced, up to `max_bytes`, into one buffer (one copy of
//!   small data buys one large HTTP/2 write instead of many small frames); larger messages
//!   go out zero-copy, part by part, and messages that queue up while one is being sent
//!   follow at once. `max_delay` can hold a run back to let it grow. [`Sink::flush`] and
//!   [`Sink::close`] release at once.
//!
//! # Delivery: confirmed, re-sent, or counted — never assumed
//!
//! * **"Confirmed"** means: the server answered with OK a `WriteMessages` call that
//!   carried the message, *after the sink ended that call's request stream*. A gRPC server
//!   answers a client-streaming call once it has read the whole stream; the official
//!   server (`re_grpc_server`, `write_messages`) has passed every message on
//!   (`push_message`) before it answers. Nothing weaker counts: a message handed to HTTP/2
//!   (or acknowledged by TCP, which a proxy or a middlebox may do) can still die with the
//!   connection, and HTTP/2 flow-control credit (`WINDOW_UPDATE`) is not a receipt — a
//!   peer may grant credit for data it has not read (window growth, large-message
//!   pre-allocation), and an HTTP/2 proxy grants its own.
//! * **Checkpoints.** So that confirmations come while data flows, a call is ended once
//!   it carried its **window** — half of [`GrpcSinkOptions::buffer_bytes`] — and the next
//!   call starts when the answer came; also when everything queued went out and a flush,
//!   a close or a writer waiting for room wants it confirmed. The messages of the call
//!   stay held against the budget until the answer: the unconfirmed window is bounded in
//!   bytes by the budget. After a connection failed with messages unconfirmed the window
//!   halves (down to 256 KiB), and each confirmed call doubles it back, so connections cut
//!   more often than a window takes do not re-send forever. The cost of a checkpoint is
//!   one round trip with the pipe empty, once per window (e.g. 64 MiB).
//! * **Reconnects.** When the connection or a call fails (or stalls, see
//!   [`GrpcSinkOptions::stall_timeout`]), the thread reconnects with exponential backoff
//!   between [`GrpcSinkOptions::reconnect_min`] and [`GrpcSinkOptions::reconnect_max`].
//!   Every new connection starts with the latest `SetStoreInfo` of every store the sink
//!   carried (one for a recording; several when `spate serve` forwards many) and the latest
//!   static chunk per store, entity and component set (kept like
//!   [`FileSink`](super::FileSink) keeps them for rotated files), then **sends again every
//!   message that was not confirmed**, in order, then goes on with what is queued.
//! * **At least once, deduplicated by chunk id.** A message sent again may already have
//!   reached the server (the cut fell after the server read it, e.g. on the answer's way
//!   back): the server then gets it twice, with the same bytes, so the same chunk id and
//!   the same row ids. What Rerun 0.41 does with that (source: `rerun-io/rerun` at
//!   `b5dbd31`; experiment: `ARCHITECTURE.md`, "gRPC delivery"):
//!   - the **chunk store** (viewer, `EntityDb`, `RrdReader.stream().collect()`) ignores a
//!     chunk id it already holds (`re_chunk_store/src/writes.rs` `insert_chunk_impl`,
//!     l. 316–333: "inserting the same chunk twice has no effect"; l. 347–356 also when
//!     the first copy was compacted into another chunk): the recording is as if it was
//!     sent once;
//!   - **`rerun --save`** appends every message it receives (`entrypoint.rs`
//!     `stream_to_rrd_on_disk`, l. 1787): the file holds both copies, `rerun rrd verify`
//!     accepts it, and a reader's store keeps one;
//!   - **`rerun --serve-grpc`** keeps and replays both (`re_grpc_server` `add_log_msg`,
//!     l. 839, has no deduplication); the viewers that read it keep one;
//!   - the same row ids under a *different* chunk id are *not* deduplicated by the store
//!     (both chunks are kept; a dataframe query shows each row once). spate never does
//!     that: a re-send repeats the encoded message, chunk id included.
//! * **Or counted lost.** A message that was sent but not confirmed and is then given up
//!   — dropped beyond the budget while disconnected, or left at the close deadline — is
//!   counted in [`GrpcSinkStats::lost_messages`] (the server may or may not have it), apart
//!   from messages dropped before they were ever sent ([`GrpcSinkStats::dropped_messages`],
//!   [`GrpcSinkStats::abandoned_messages`]). All three are in
//!   [`SinkStats::dropped_by_sink`](crate::stats::SinkStats::dropped_by_sink), so
//!   [`ShutdownReport::is_complete`](crate::ShutdownReport::is_complete) is true only if
//!   the server confirmed every message. See [`GrpcSinkStats`] for the accounting.
//! * **Too large for gRPC.** A message whose gRPC length (body + protobuf prefixes) does
//!   not fit the 32-bit length prefix (4 GiB) is refused by [`Sink::write`] with
//!   [`GrpcSinkError::MessageTooLarge`] as the sink's last error, counted dropped
//!   ([`GrpcSinkStats::oversized_messages`]); the stream goes on.
//! * **Every wait ends.** [`Sink::flush`] and [`Sink::close`] have deadlines; a connect
//!   attempt has [`GrpcSinkOptions::connect_timeout`]; the back-pressure wait of
//!   [`Sink::write`] ends with room, the sink's end, or the connection's loss — a dead peer
//!   by TCP or HTTP/2 keep-alive PINGs, a peer that is there but takes no data or gives no
//!   answer by [`GrpcSinkOptions::stall_timeout`].
//!
//! # Buffering and state
//!
//! * **Buffering while disconnected** ([`GrpcSinkOptions::buffer_bytes`]). While the sink
//!   is disconnected or reconnecting, messages (those to send again first) queue up to the
//!   byte budget; beyond it the [`OverflowPolicy`] drops messages — by default the
//!   **oldest** (a viewer that comes back wants the latest data) — and counts them
//!   ([`GrpcSinkStats::dropped_messages`], or [`GrpcSinkStats::lost_messages`] for one that
//!   was sent before; the recording's stats show both in
//!   [`SinkStats::dropped_by_sink`](crate::stats::SinkStats::dropped_by_sink)).
//!   `SetStoreInfo` and the latest static chunks are never dropped (they are kept for the
//!   replay anyway). While connected — and during the very first connection attempt, before
//!   the server is known to be down — a full budget blocks [`Sink::write`] instead, so the
//!   sink's own queue fills and its [`SinkPolicy`](super::SinkPolicy) applies.
//! * **State.** [`GrpcSink::state_handle`] gives a cloneable [`GrpcStateHandle`] with the
//!   [`ConnectionState`] and [`GrpcSinkStats`], usable after the sink moved into a
//!   recording.
//!
//! ```no_run
//! use spate::sink::GrpcSink;
//! use spate::{EntityPath, Points3D, Recording};
//! use std::time::{Duration, Instant};
//!
//! let sink = GrpcSink::connect("rerun+http://127.0.0.1:9876/proxy")?;
//! let state = sink.state_handle();
//! let rec = Recording::builder("demo").sinks(sink).start()?;
//! rec.log(&EntityPath::parse("points")?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
//! rec.shutdown(Instant::now() + Duration::from_secs(5));
//! println!("{:?}", state.stats());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod outbox;
mod read;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::stats::{ConnectionState, GrpcSinkStats};
pub use read::{ReadMessagesError, read_messages};

use crate::net::code_name;
use crate::net::{ClientTls, ConnectError, GrpcUrl, Http2Tuning, TlsError, Token, UrlError};

use super::{Sink, SinkError};
use crate::wire::EncodedMessage;
use outbox::Outbox;

/// The official SDK's default gRPC URL.
pub const DEFAULT_URL: &str = "rerun+http://127.0.0.1:9876/proxy";

/// How queued messages are coalesced into HTTP/2 writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrpcBatchPolicy {
    /// Small messages (under 64 KiB) are coalesced into one HTTP/2 write of up to this many
    /// bytes (a run always holds at least one message; larger messages are sent zero-copy,
    /// each on its own). Default 8 MiB.
    pub max_bytes: usize,
    /// A run starts at the latest this long after its first message was queued, unless it
    /// already holds `max_bytes`. Zero (the default) starts it as soon as the connection can
    /// take it; messages queued meanwhile still coalesce.
    pub max_delay: Duration,
}

impl Default for GrpcBatchPolicy {
    fn default() -> Self {
        Self {
            max_bytes: 8 << 20,
            max_delay: Duration::ZERO,
        }
    }
}

impl GrpcBatchPolicy {
    /// Sets `max_bytes`.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Sets `max_delay`.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }
}

/// What happens to messages beyond [`GrpcSinkOptions::buffer_bytes`] while the sink is not
/// connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OverflowPolicy {
    /// Drop the oldest queued messages to make room (the default).
    #[default]
    DropOldest,
    /// Drop the message being written.
    DropNewest,
}

/// How a [`GrpcSink`] connects, batches, buffers and reconnects.
///
/// ```
/// use spate::sink::grpc::{GrpcBatchPolicy, GrpcSinkOptions};
/// use std::time::Duration;
/// let opts = GrpcSinkOptions::default()
///     .batch(GrpcBatchPolicy::default().max_bytes(4 << 20))
///     .buffer_bytes(64 << 20)
///     .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(2));
/// assert_eq!(opts.buffer_bytes, 64 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GrpcSinkOptions {
    /// Batching of HTTP/2 writes.
    pub batch: GrpcBatchPolicy,
    /// Byte budget of messages not yet confirmed by the server (default 128 MiB): queued
    /// ones and those a call carried whose response has not come. The buffer while
    /// disconnected, and the back-pressure point while connected. A call is ended for
    /// confirmation once it carried half of it (see the [module docs](self)).
    pub buffer_bytes: u64,
    /// What to drop beyond the budget while disconnected.
    pub overflow: OverflowPolicy,
    /// Bytes of store infos and latest statics kept to replay after a reconnect (default
    /// 64 MiB; they are never dropped while kept, so they may hold the buffer this far past
    /// `buffer_bytes`). A static that does not fit is sent like any message but not
    /// replayed, counted in [`GrpcSinkStats::statics_not_kept`].
    pub max_replay_bytes: u64,
    /// First reconnect delay (default 100 ms); doubles per failed attempt …
    pub reconnect_min: Duration,
    /// … up to this (default 5 s).
    pub reconnect_max: Duration,
    /// Limit for one TCP connect + HTTP/2 handshake (default 5 s).
    pub connect_timeout: Duration,
    /// How long a connection may owe progress without making any — data waiting that
    /// HTTP/2 does not take (the server stopped reading), or an ended call without its
    /// response — before it counts as failed and is dialed again (default 30 s). Bounds the
    /// back-pressure wait of [`Sink::write`] against a server that is there but stuck.
    pub stall_timeout: Duration,
    /// HTTP/2 settings.
    pub http2: Http2Tuning,
    /// What a `rerun+https` connection trusts; `None` (the default): the system's roots
    /// (honouring `SSL_CERT_FILE` / `SSL_CERT_DIR`). Unused for `rerun+http`.
    pub tls: Option<ClientTls>,
    /// The bearer token sent with every call (`authorization: Bearer TOKEN`); `None` (the
    /// default): the value of [`TOKEN_ENV`](crate::net::TOKEN_ENV) when the sink starts, if
    /// set.
    pub token: Option<Token>,
}

impl Default for GrpcSinkOptions {
    fn default() -> Self {
        Self {
            batch: GrpcBatchPolicy::default(),
            buffer_bytes: 128 << 20,
            overflow: OverflowPolicy::default(),
            max_replay_bytes: 64 << 20,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(30),
            http2: Http2Tuning::default(),
            tls: None,
            token: None,
        }
    }
}

impl GrpcSinkOptions {
    /// Sets the batch policy.
    pub fn batch(mut self, batch: GrpcBatchPolicy) -> Self {
        self.batch = batch;
        self
    }

    /// Sets the byte budget.
    pub fn buffer_bytes(mut self, bytes: u64) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Sets the bound of what is kept for replay after a reconnect.
    pub fn max_replay_bytes(mut self, bytes: u64) -> Self {
        self.max_replay_bytes = bytes;
        self
    }

    /// Sets the overflow policy.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// Sets the reconnect backoff bounds.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the stall timeout (at least 10 ms).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// Sets the HTTP/2 settings.
    pub fn http2(mut self, http2: Http2Tuning) -> Self {
        self.http2 = http2;
        self
    }

    /// Sets what a `rerun+https` connection trusts.
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the bearer token.
    pub fn token(mut self, token: Token) -> Self {
        self.token = Some(token);
        self
    }
}

/// Why a [`GrpcSink`] could not start, or what went wrong with its connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcSinkError {
    /// The URL is not a `rerun+http://HOST:PORT/proxy` URL.
    #[error("invalid gRPC URL {url:?}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it was refused.
        #[source]
        reason: UrlError,
    },
    /// The `spate-grpc` thread or its runtime could not start.
    #[error("cannot start the gRPC thread")]
    Spawn(#[source] std::io::Error),
    /// TCP connect, the TLS handshake or the HTTP/2 handshake failed.
    #[error("cannot connect to {url}")]
    Connect {
        /// The server.
        url: GrpcUrl,
        /// Why.
        #[source]
        source: ConnectError,
    },
    /// No TLS configuration for a `rerun+https` URL (e.g. the system has no roots).
    #[error("no TLS configuration for {url}")]
    Tls {
        /// The server.
        url: GrpcUrl,
        /// Why.
        #[source]
        source: TlsError,
    },
    /// The bearer token cannot be sent in a header (it is not printed).
    #[error("the bearer token is not a valid header value (visible ASCII only)")]
    InvalidToken,
    /// TCP connect + HTTP/2 handshake took longer than the connect timeout.
    #[error("connecting to {url} timed out after {timeout:?}")]
    ConnectTimeout {
        /// The server.
        url: GrpcUrl,
        /// The limit.
        timeout: Duration,
    },
    /// The HTTP/2 connection failed (the source is a `hyper::Error`).
    #[error("HTTP/2 connection failed")]
    Http2(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server ended the call with a gRPC status other than OK.
    #[error("server returned gRPC status {code} ({code_name}): {message}")]
    Status {
        /// The numeric gRPC status code.
        code: i32,
        /// Its name (e.g. `Unavailable`).
        code_name: &'static str,
        /// The status message.
        message: String,
    },
    /// The server closed the HTTP/2 connection.
    #[error("the server closed the connection")]
    ConnectionClosed,
    /// The server answered a `WriteMessages` call with OK before the sink ended it: what
    /// the call carried is not confirmed (it is sent again on the next connection).
    #[error("server ended the WriteMessages call early")]
    EndedEarly,
    /// A message is too large for one gRPC message, whose length prefix is 32 bits: with
    /// its protobuf prefixes it must stay under 4 GiB. The sink drops it (counted in
    /// [`GrpcSinkStats::dropped_messages`] and [`GrpcSinkStats::oversized_messages`]).
    #[error("a {len}-byte gRPC message is over the 4 GiB gRPC limit")]
    MessageTooLarge {
        /// The gRPC message's length (the body and its protobuf prefixes).
        len: u64,
    },
    /// The connection owed progress (data to send, or a call's response) and made none for
    /// [`GrpcSinkOptions::stall_timeout`]: it is dropped and dialed again.
    #[error("the connection made no progress for {after:?}")]
    Stalled {
        /// The limit.
        after: Duration,
    },
}

impl GrpcSinkError {
    pub(crate) fn from_status(s: &tonic::Status) -> Self {
        Self::Status {
            code: s.code() as i32,
            code_name: code_name(s.code()),
            message: s.message().to_owned(),
        }
    }
}

/// A cloneable view of a [`GrpcSink`]'s state and counters.
#[derive(Clone)]
pub struct GrpcStateHandle {
    shared: Arc<Outbox>,
}

impl std::fmt::Debug for GrpcStateHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcStateHandle")
            .field("state", &self.state())
            .finish()
    }
}

impl GrpcStateHandle {
    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.shared.lock().state
    }

    /// The counters now.
    pub fn stats(&self) -> GrpcSinkStats {
        self.shared.lock().stats()
    }

    /// Waits until `cond` holds for the counters, or `deadline` passes; returns whether it
    /// held. Woken by every state change, hand-over and drop (no polling).
    pub fn wait_until(
        &self,
        deadline: Instant,
        mut cond: impl FnMut(&GrpcSinkStats) -> bool,
    ) -> bool {
        let mut g = self.shared.lock();
        loop {
            if cond(&g.stats()) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.shared.wait(g, deadline - now);
        }
    }
}

/// Streams a recording to a Rerun gRPC endpoint (see the [module docs](self)).
pub struct GrpcSink {
    url: GrpcUrl,
    shared: Arc<Outbox>,
    /// The messages a write takes out of the outbox, freed after its lock is released
    /// (kept empty between writes, for its capacity).
    dead: Vec<outbox::Item>,
    control: tokio::sync::watch::Sender<client::Control>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GrpcSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcSink")
            .field("url", &self.url)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl GrpcSink {
    /// Starts streaming to `url` with default options. Connecting happens in the
    /// background: an unreachable server is not an error here (messages are buffered and
    /// the sink keeps reconnecting); an invalid URL is.
    pub fn connect(url: &str) -> Result<Self, GrpcSinkError> {
        Self::connect_with(url, GrpcSinkOptions::default())
    }

    /// Starts streaming to `url` with `options`.
    pub fn connect_with(url: &str, options: GrpcSinkOptions) -> Result<Self, GrpcSinkError> {
        let parsed = GrpcUrl::parse(url).map_err(|reason| GrpcSinkError::InvalidUrl {
            url: url.to_owned(),
            reason,
        })?;
        let mut options = options;
        if parsed.tls() && options.tls.is_none() {
            let tls = ClientTls::system().map_err(|source| GrpcSinkError::Tls {
                url: parsed.clone(),
                source,
            })?;
            options.tls = Some(tls);
        }
        options.token = options.token.or_else(Token::from_env);
        if options.token.as_ref().is_some_and(|t| !t.is_valid()) {
            return Err(GrpcSinkError::InvalidToken);
        }
        let shared = Arc::new(Outbox::new(&options));
        let (control, rx) = tokio::sync::watch::channel(client::Control::Run);
        let thread = client::spawn(parsed.clone(), options, shared.clone(), rx)
            .map_err(GrpcSinkError::Spawn)?;
        Ok(Self {
            url: parsed,
            shared,
            dead: Vec::new(),
            control,
            thread: Some(thread),
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &GrpcUrl {
        &self.url
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.shared.lock().state
    }

    /// The counters now.
    pub fn stats(&self) -> GrpcSinkStats {
        self.shared.lock().stats()
    }

    /// A cloneable handle on the state and counters (keep it before handing the sink to a
    /// recording).
    pub fn state_handle(&self) -> GrpcStateHandle {
        GrpcStateHandle {
            shared: self.shared.clone(),
        }
    }
}

impl Sink for GrpcSink {
    fn name(&self) -> String {
        format!("grpc:{}", self.url)
    }

    /// A live view: a slow or absent viewer must not stall the producers (drops are
    /// counted); give it [`SinkPolicy::Block`](crate::SinkPolicy::Block) to record losslessly.
    fn default_policy(&self) -> super::SinkPolicy {
        super::SinkPolicy::DropNewest
    }

    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        self.shared.push(msg, &mut self.dead)
    }

    /// The connection state and counters, shown in [`SinkStats::grpc`](crate::stats::SinkStats::grpc).
    fn monitor(&self) -> Option<super::SinkMonitor> {
        Some(super::SinkMonitor::Grpc(self.state_handle()))
    }

    /// Ends the current call once everything written so far went out and waits until the
    /// server confirmed every message written so far (or the sink counted it dropped or
    /// lost), or `deadline`. Returns `Ok` at the deadline too: the messages stay queued
    /// for the (re)connection, and the counters tell what is still pending — an error would
    /// stop the sink for good, and reconnecting is the point of this sink.
    /// Waits until the server confirmed everything written so far (or it was counted as
    /// dropped or lost); [`SinkError::Deadline`] if `deadline` came first (the sink carries
    /// on: a flush deadline is not a failure).
    fn flush(&mut self, deadline: Instant) -> Result<(), SinkError> {
        if self.shared.flush(deadline) {
            Ok(())
        } else {
            Err(SinkError::Deadline)
        }
    }

    /// Ends the `WriteMessages` call after everything queued and waits for the server's
    /// response, reconnecting (and sending again what was not confirmed) if needed, until
    /// `deadline`. At the deadline what is left is counted — lost if it was sent, abandoned
    /// if not — and [`SinkError::Deadline`] is returned.
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let _ = self.control.send(client::Control::Close);
        let result = self.shared.close(deadline);
        if result.is_err() {
            let _ = self.control.send(client::Control::Cancel);
        }
        if let Some(t) = self.thread.take_if(|t| t.is_finished()) {
            let _ = t.join();
        }
        result
    }
}

impl Drop for GrpcSink {
    fn drop(&mut self) {
        // Without a close: stop the thread; it counts what is left as abandoned.
        let _ = self.control.send(client::Control::Cancel);
        if let Some(t) = self.thread.take_if(|t| t.is_finished()) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::ErrorChain;
    use crate::wire::{MessageKind, StoreInfo};

    fn io(message: &str) -> std::io::Error {
        std::io::Error::other(message.to_owned())
    }

    #[test]
    fn an_error_chain_prints_each_cause_once() {
        let url = GrpcUrl::parse("rerun+http://127.0.0.1:1/proxy").unwrap();
        let cases: Vec<(GrpcSinkError, &str)> = vec![
            (
                GrpcSink::connect("http://127.0.0.1:1/proxy").unwrap_err(),
                "invalid gRPC URL \"http://127.0.0.1:1/proxy\": unsupported scheme \"http\" \
                 (expected rerun+http or rerun+https)",
            ),
            (
                GrpcSinkError::Spawn(io("no threads left")),
                "cannot start the gRPC thread: no threads left",
            ),
            (
                GrpcSinkError::Connect {
                    url,
                    source: ConnectError::Tcp {
                        addr: "127.0.0.1:1".into(),
                        source: io("connection refused"),
                    },
                },
                "cannot connect to rerun+http://127.0.0.1:1/proxy: TCP connect to 127.0.0.1:1 \
                 failed: connection refused",
            ),
            (
                GrpcSinkError::Http2(Box::new(io("connection reset"))),
                "HTTP/2 connection failed: connection reset",
            ),
            (
                GrpcSinkError::MessageTooLarge { len: 5 << 30 },
                "a 5368709120-byte gRPC message is over the 4 GiB gRPC limit",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(ErrorChain(&e).to_string(), want);
            if let Some(source) = e.source() {
                assert!(
                    !e.to_string().contains(&source.to_string()),
                    "{e} repeats its cause"
                );
            }
            // As the error of a failed close, still once.
            let sink = SinkError::Other(Box::new(e));
            assert_eq!(ErrorChain(&sink).to_string(), want);
        }
    }

    /// A message over 4 GiB (an untouched anonymous mapping: no memory used) is refused
    /// without sending anything of it; the messages around it arrive.
    #[test]
    fn a_message_over_4_gib_is_dropped_and_the_stream_goes_on() {
        let server =
            crate::server::testing::ProxyReceiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut sink = GrpcSink::connect(&server.url()).unwrap();
        let map = memmap2::MmapOptions::new()
            .len(5 << 30)
            .no_reserve_swap()
            .map_anon()
            .expect("reserve address space");
        let huge = EncodedMessage::from_body(MessageKind::ArrowMsg, bytes::Bytes::from_owner(map));
        let info = EncodedMessage::set_store_info(&StoreInfo::new("app", "rec").unwrap());
        sink.write(&info).unwrap();
        sink.write(&huge).unwrap();
        sink.write(&info).unwrap();
        sink.close(Instant::now() + Duration::from_secs(30))
            .unwrap();
        let s = sink.stats();
        assert_eq!(
            (s.written_messages, s.confirmed_messages, s.dropped_messages),
            (3, 2, 1)
        );
        assert_eq!(s.oversized_messages, 1);
        let got = server.received();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|r| r.kind == MessageKind::SetStoreInfo));
        assert!(
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("over the 4 GiB gRPC limit")),
            "{s:?}"
        );
        let stats = crate::stats::SinkStats {
            grpc: Some(s),
            ..Default::default()
        };
        assert_eq!(stats.dropped_by_sink(), 1);
    }
}
