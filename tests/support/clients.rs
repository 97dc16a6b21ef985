//! Clients of the serve tests (`#[path]`-included): spate recordings that keep what they
//! sent, and byte-level gRPC calls for the hostile-client tests — HTTP/2 calls (hyper, or
//! raw bytes on TCP) whose request bodies are whatever bytes the test pushes, when it
//! pushes them (half a prefix, a lying length, nothing at all), and whose end is a gRPC
//! status or a dropped connection. The async parts run on the calling thread's
//! current-thread runtime; every wait is bounded by the caller.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use spate::sink::{GrpcSink, MemorySink, MemorySinkHandle};
use spate::{BatchPolicy, Recording, SinkExt, SinkPolicy};
use tokio::sync::mpsc;

/// A recording streaming to `url` (lossless, one chunk per log) that also keeps what it
/// sent (the same encoded bytes).
pub fn recording(app: &str, rec_id: &str, url: &str) -> (Recording, MemorySinkHandle) {
    let (memory, sent) = MemorySink::new();
    let rec = Recording::builder(app)
        .recording_id(rec_id)
        .batch(BatchPolicy::unbatched())
        .sinks((
            GrpcSink::connect(url)
                .unwrap()
                .with_policy(SinkPolicy::Block),
            memory.with_policy(SinkPolicy::Block),
        ))
        .start()
        .unwrap();
    (rec, sent)
}

pub const WRITE: &str = "/rerun.sdk_comms.v1alpha1.MessageProxyService/WriteMessages";
pub const READ: &str = "/rerun.sdk_comms.v1alpha1.MessageProxyService/ReadMessages";

/// A current-thread runtime for one client thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A request body fed by the test through a channel; dropping the sender ends the stream.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// One HTTP/2 connection (its driver runs on the current runtime until the connection is
/// dropped with [`Conn::vanish`] or the runtime).
pub struct Conn {
    send: SendRequest<ChannelBody>,
    driver: tokio::task::JoinHandle<()>,
}

/// Opens an HTTP/2 connection to `addr`, advertising HTTP/2's default 64 KiB windows (so
/// a response it does not read stops the server's sending early).
pub async fn connect(addr: SocketAddr) -> Conn {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Conn { send, driver }
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Incoming>, hyper::Error>> + Send>>;

/// A call in progress: push request bytes, end the stream, read the status.
pub struct Call {
    tx: Option<mpsc::Sender<Bytes>>,
    response: ResponseFuture,
}

impl Conn {
    /// Starts a call to `path` (the request goes out at once; its body as pushed).
    pub async fn call(&mut self, path: &str) -> Call {
        self.send.ready().await.unwrap();
        let (tx, rx) = mpsc::channel(16);
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://spate{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(ChannelBody(rx))
            .unwrap();
        let response = Box::pin(self.send.send_request(req));
        Call {
            tx: Some(tx),
            response,
        }
    }

    /// Drops the connection without a goodbye (no GOAWAY, no END_STREAM): a client that
    /// vanished.
    pub fn vanish(self) {
        self.driver.abort();
    }
}

impl Call {
    /// Pushes bytes of the request body (any bytes: the test frames them, or not).
    pub async fn push(&self, bytes: impl Into<Bytes>) {
        if let Some(tx) = &self.tx {
            // The server may already have ended the call: then nobody reads.
            let _ = tx.send(bytes.into()).await;
        }
    }

    /// Ends the request stream and waits for the call's gRPC status (code and message);
    /// `Err` if the call broke without one.
    pub async fn finish(mut self) -> Result<(tonic::Code, String), String> {
        self.tx = None;
        self.status().await
    }

    /// Waits for the status without ending the request stream (the server ends the call).
    pub async fn status(self) -> Result<(tonic::Code, String), String> {
        let response = self.response.await.map_err(|e| e.to_string())?;
        if let Some(s) = tonic::Status::from_header_map(response.headers()) {
            return Ok((s.code(), s.message().to_owned()));
        }
        let mut body = response.into_body();
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
            match frame {
                None => return Err("no grpc-status".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(f)) => {
                    if let Ok(trailers) = f.into_trailers() {
                        let s = tonic::Status::from_header_map(&trailers)
                            .ok_or("trailers without grpc-status")?;
                        return Ok((s.code(), s.message().to_owned()));
                    }
                }
            }
        }
    }

    /// Waits for the response headers and returns the response body, unread.
    pub async fn response(self) -> Result<(Option<mpsc::Sender<Bytes>>, Incoming), String> {
        let response = self.response.await.map_err(|e| e.to_string())?;
        Ok((self.tx, response.into_body()))
    }
}

/// A gRPC message: the 5-byte prefix (uncompressed, `payload.len()`) and the payload.
pub fn grpc_message(payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(5 + payload.len());
    v.push(0);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v.into()
}

/// A gRPC prefix announcing `len` bytes (which may never come).
pub fn grpc_prefix(len: u32) -> Bytes {
    let mut v = vec![0];
    v.extend_from_slice(&len.to_be_bytes());
    v.into()
}

/// `WriteMessagesRequest{LogMsg{tag: body}}`.
pub fn write_request(tag: u8, body: &[u8]) -> Bytes {
    let mut inner = Vec::new();
    prost::encoding::encode_key(
        u32::from(tag),
        prost::encoding::WireType::LengthDelimited,
        &mut inner,
    );
    prost::encoding::encode_varint(body.len() as u64, &mut inner);
    inner.extend_from_slice(body);
    let mut out = vec![0x0a];
    prost::encoding::encode_varint(inner.len() as u64, &mut out);
    out.extend_from_slice(&inner);
    out.into()
}

/// An ArrowMsg whose `payload_len`-byte LZ4 payload claims `claimed` bytes uncompressed
/// (255 × `payload_len` at most passes the LZ4 ratio check).
pub fn lz4_bomb(payload_len: usize, claimed: u64) -> Vec<u8> {
    use prost::Message as _;
    use spate::wire::proto;
    proto::ArrowMsg {
        store_id: Some(proto::StoreId {
            kind: proto::StoreKind::Recording as i32,
            recording_id: "bomb".into(),
            application_id: Some(proto::ApplicationId { id: "bomb".into() }),
        }),
        compression: proto::Compression::Lz4 as i32,
        uncompressed_size: claimed,
        encoding: proto::Encoding::ArrowIpc as i32,
        payload: vec![0u8; payload_len].into(),
        chunk_id: Some(proto::Tuid {
            time_ns: Some(1),
            inc: Some(1),
        }),
        is_static: Some(false),
    }
    .encode_to_vec()
}

/// The first bytes a raw HTTP/2 client sends for one call to `path` on stream 1: the
/// connection preface, an empty SETTINGS frame and the call's HEADERS (HPACK without
/// Huffman or indexing). Then [`h2_data`] frames, within the 64 KiB a client may send
/// before it has seen the server's settings.
pub fn h2_call_start(path: &str) -> Vec<u8> {
    fn literal(out: &mut Vec<u8>, s: &[u8]) {
        assert!(s.len() < 127);
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http (static table)
    block.push(0x04); // :path, literal value
    literal(&mut block, path.as_bytes());
    block.push(0x01); // :authority
    literal(&mut block, b"127.0.0.1");
    block.extend_from_slice(&[0x0f, 0x10]); // content-type (static index 31)
    literal(&mut block, b"application/grpc");
    block.push(0x00); // te: trailers, literal name
    literal(&mut block, b"te");
    literal(&mut block, b"trailers");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&h2_frame(0x4, 0, 0, &[])); // SETTINGS
    out.extend_from_slice(&h2_frame(0x1, 0x4, 1, &block)); // HEADERS, END_HEADERS
    out
}

/// A DATA frame of stream 1.
pub fn h2_data(payload: &[u8]) -> Vec<u8> {
    h2_frame(0x0, 0, 1, payload)
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads (bounded in count, each read bounded by `limit`) until the server closed the
/// connection: EOF or a reset. Whatever it sent before (SETTINGS, GOAWAY) is skipped.
pub fn server_closed(tcp: &mut std::net::TcpStream, limit: std::time::Duration) -> bool {
    use std::io::Read;
    tcp.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    (0..64).any(|_| match tcp.read(&mut buf) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    })
}
