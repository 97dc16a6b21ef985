//! An in-process `MessageProxyService` receiver: a tonic gRPC server (hyper HTTP/2, on its
//! own thread) implementing `WriteMessages`, which records what it receives. For tests,
//! benchmarks (discarding mode) and `spate check`.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use prost::Message as _;
use tonic::server::ClientStreamingService;
use tonic::{Status, Streaming};

use crate::net::Http2Tuning;
use crate::net::WriteMessagesResponse;
use crate::net::codec::{ReceiveCodec, RequestFrame, WRITE_MESSAGES};
use crate::net::listen::{ConnectionLimits, ServingThread, Watched, serve_connections};
use crate::wire::{
    Compression, DecodeError, DecodedRrd, EncodedMessage, MessageKind, RrdEncoder, decode_rrd,
    proto,
};

/// Settings of a [`ProxyReceiver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverOptions {
    /// Keep every received message (default); otherwise only count them (benchmarks).
    pub keep: bool,
    /// HTTP/2 settings advertised to clients (these govern the upload direction).
    pub http2: Http2Tuning,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            keep: true,
            http2: Http2Tuning::default(),
        }
    }
}

impl ReceiverOptions {
    /// Counts messages without keeping them.
    pub fn discarding(mut self) -> Self {
        self.keep = false;
        self
    }

    /// Sets the HTTP/2 settings.
    pub fn http2(mut self, http2: Http2Tuning) -> Self {
        self.http2 = http2;
        self
    }
}

/// One received `WriteMessagesRequest`.
#[derive(Clone, Debug)]
pub struct Received {
    /// Index of the TCP connection it came on (0-based, per receiver).
    pub connection: u64,
    /// Index of the `WriteMessages` call (0-based, per receiver).
    pub call: u64,
    /// The `LogMsg` kind.
    pub kind: MessageKind,
    /// The inner message body, exactly as it would appear in an `.rrd` file.
    pub body: Bytes,
}

impl Received {
    /// The message as a decoded `LogMsg`.
    pub fn log_msg(&self) -> Result<proto::LogMsg, prost::DecodeError> {
        use proto::log_msg::Msg;
        let body = self.body.clone();
        let msg = match self.kind {
            MessageKind::SetStoreInfo => Msg::SetStoreInfo(proto::SetStoreInfo::decode(body)?),
            MessageKind::ArrowMsg => Msg::ArrowMsg(proto::ArrowMsg::decode(body)?),
            MessageKind::BlueprintActivationCommand => {
                Msg::BlueprintActivationCommand(proto::BlueprintActivationCommand::decode(body)?)
            }
            MessageKind::End => return Ok(proto::LogMsg { msg: None }), // never received
        };
        Ok(proto::LogMsg { msg: Some(msg) })
    }

    /// For an ArrowMsg, its `is_static` field.
    pub fn is_static(&self) -> Option<bool> {
        match self.log_msg().ok()?.msg? {
            proto::log_msg::Msg::ArrowMsg(a) => a.is_static,
            _ => None,
        }
    }
}

/// Counters of a [`ProxyReceiver`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverCounts {
    /// TCP connections accepted.
    pub connections: u64,
    /// `WriteMessages` calls started.
    pub calls_started: u64,
    /// Calls that ended with the client closing its stream (answered OK).
    pub calls_finished: u64,
    /// Calls that ended with an error (e.g. the client vanished).
    pub calls_failed: u64,
    /// Messages received.
    pub messages: u64,
    /// Bytes of the received `WriteMessagesRequest`s.
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    counts: ReceiverCounts,
    received: Vec<Received>,
}

type RecvShared = Watched<State>;

/// A receiving `MessageProxyService` server on its own thread (see the module docs).
///
/// ```
/// use spate::server::testing::ProxyReceiver;
/// let server = ProxyReceiver::start("127.0.0.1:0".parse()?)?;
/// assert!(server.url().starts_with("rerun+http://127.0.0.1:"));
/// server.kill();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ProxyReceiver {
    addr: SocketAddr,
    shared: Arc<RecvShared>,
    thread: ServingThread,
}

impl ProxyReceiver {
    /// Listens on `addr` (e.g. `127.0.0.1:0`, or a port used before: the socket is bound
    /// with `SO_REUSEADDR`), keeping what it receives.
    pub fn start(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, ReceiverOptions::default())
    }

    /// Listens on `addr` with `options`.
    pub fn start_with(addr: SocketAddr, options: ReceiverOptions) -> std::io::Result<Self> {
        let listener = StdListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = Arc::new(RecvShared::default());
        let s = shared.clone();
        let thread = ServingThread::spawn("spate-grpc-recv", move |stop| {
            rt.block_on(accept_loop(listener, s, options, stop));
            // Dropping the runtime drops every connection: clients see them fail.
            drop(rt);
        })?;
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

    /// `rerun+http://ADDR/proxy`.
    pub fn url(&self) -> String {
        format!("rerun+http://{}/proxy", self.addr)
    }

    /// The counters now.
    pub fn counts(&self) -> ReceiverCounts {
        self.shared.lock().counts
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Waits until `cond` holds for the counters or `limit` passes; returns whether it held.
    pub fn wait_until(
        &self,
        limit: Duration,
        mut cond: impl FnMut(&ReceiverCounts) -> bool,
    ) -> bool {
        self.shared.wait_until(limit, |s| cond(&s.counts))
    }

    /// What was received, framed as an `.rrd` stream (StreamHeader and messages; no footer,
    /// as on the gRPC path).
    pub fn to_rrd_bytes(&self) -> Vec<u8> {
        let mut rrd = RrdEncoder::new(Compression::Off);
        let mut out = rrd.header().to_vec();
        for r in &self.shared.lock().received {
            let msg = EncodedMessage::from_body(r.kind, r.body.clone());
            for p in rrd.frame(&msg) {
                out.extend_from_slice(&p);
            }
        }
        out
    }

    /// Decodes what was received with spate's validating decoder.
    pub fn decode(&self) -> Result<DecodedRrd, DecodeError> {
        decode_rrd(self.to_rrd_bytes())
    }

    /// Stops at once: the listener and every connection are closed without a goodbye, as
    /// if the process was killed.
    pub fn kill(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.thread.stop();
    }
}

impl Drop for ProxyReceiver {
    fn drop(&mut self) {
        self.stop_now();
    }
}

async fn accept_loop(
    listener: StdListener,
    shared: Arc<RecvShared>,
    options: ReceiverOptions,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    // No keep-alive PINGs from the receiver (hyper's default).
    let http2 = Http2Tuning {
        keep_alive_interval: None,
        ..options.http2
    };
    let keep = options.keep;
    let mut next_connection = 0u64;
    // A receiver for tests and benchmarks: no limits beyond hyper's defaults.
    serve_connections(
        listener,
        &http2,
        &ConnectionLimits::none(),
        None,
        stop,
        || {
            let connection = next_connection;
            next_connection += 1;
            shared.update(|s| s.counts.connections += 1);
            let s = shared.clone();
            (move |req| route(req, s.clone(), connection, keep), |_| {})
        },
    )
    .await;
}

async fn route(
    req: http::Request<Incoming>,
    shared: Arc<RecvShared>,
    connection: u64,
    keep: bool,
) -> http::Response<tonic::body::Body> {
    if req.uri().path() == WRITE_MESSAGES {
        let mut grpc =
            tonic::server::Grpc::new(ReceiveCodec { keep }).max_decoding_message_size(usize::MAX);
        grpc.client_streaming(WriteService { shared, connection }, req)
            .await
    } else {
        Status::unimplemented(format!("{} is not served here", req.uri().path())).into_http()
    }
}

struct WriteService {
    shared: Arc<RecvShared>,
    connection: u64,
}

type WriteFuture =
    Pin<Box<dyn Future<Output = Result<tonic::Response<WriteMessagesResponse>, Status>> + Send>>;

impl ClientStreamingService<RequestFrame> for WriteService {
    type Response = WriteMessagesResponse;
    type Future = WriteFuture;

    fn call(&mut self, request: tonic::Request<Streaming<RequestFrame>>) -> Self::Future {
        let shared = self.shared.clone();
        let connection = self.connection;
        Box::pin(async move {
            let mut call = 0;
            shared.update(|s| {
                call = s.counts.calls_started;
                s.counts.calls_started += 1;
            });
            let mut stream = request.into_inner();
            loop {
                match stream.message().await {
                    Ok(Some(frame)) => shared.update(|s| {
                        s.counts.messages += 1;
                        s.counts.bytes += frame.len as u64;
                        if let Some((kind, body)) = frame.body {
                            s.received.push(Received {
                                connection,
                                call,
                                kind,
                                body,
                            });
                        }
                    }),
                    Ok(None) => break,
                    Err(status) => {
                        shared.update(|s| s.counts.calls_failed += 1);
                        return Err(status);
                    }
                }
            }
            shared.update(|s| s.counts.calls_finished += 1);
            Ok(tonic::Response::new(WriteMessagesResponse {}))
        })
    }
}
