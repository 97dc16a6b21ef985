//! Dialing: TCP connect, TLS for `rerun+https` ([`ClientTls`]), and the HTTP/2 handshake
//! tuned by [`Http2Tuning`]; and [`Stream`], the plain-or-TLS socket both sides serve on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::Body;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle as TaskHandle;

use super::{ClientTls, Http2Tuning, TlsError};

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("TCP connect to {addr} failed")]
    Tcp {
        /// `HOST:PORT`.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No TLS configuration could be made (e.g. no system roots).
    #[error("no TLS configuration for {addr}")]
    TlsConfig {
        /// `HOST:PORT`.
        addr: String,
        /// Why.
        #[source]
        source: TlsError,
    },
    /// The TLS handshake failed: e.g. the server's certificate is not trusted or does not
    /// name the host, or the server does not speak TLS.
    #[error("TLS handshake with {addr} failed")]
    Tls {
        /// `HOST:PORT`.
        addr: String,
        /// Why (rustls' error, inside an I/O error).
        #[source]
        source: io::Error,
    },
    /// The server did not agree to HTTP/2 over TLS (ALPN `h2`).
    #[error("{addr} did not negotiate HTTP/2 (ALPN h2) over TLS")]
    NoHttp2 {
        /// `HOST:PORT`.
        addr: String,
    },
    /// The HTTP/2 handshake failed (the source is a `hyper::Error`).
    #[error("HTTP/2 handshake with {addr} failed")]
    Handshake {
        /// `HOST:PORT`.
        addr: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where to dial: host (a DNS name or an IP address, IPv6 without brackets), port, and the
/// TLS trust when the URL asked for TLS (`rerun+https`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Endpoint<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    /// `Some` for TLS; `None` for plain-text HTTP/2 (h2c).
    pub(crate) tls: Option<&'a ClientTls>,
}

impl Endpoint<'_> {
    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A dialed connection: the request half, and the task driving the connection.
pub(crate) type Connection<B> = (SendRequest<B>, TaskHandle<Result<(), hyper::Error>>);

/// TCP connect, TLS when asked, and the HTTP/2 handshake with `tuning`; the connection is
/// driven by a spawned task. Generic over the request body: the sink sends its own write
/// bodies, the other clients tonic's.
pub(crate) async fn connect<B>(
    to: Endpoint<'_>,
    tuning: &Http2Tuning,
) -> Result<Connection<B>, ConnectError>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let addr = to.addr();
    let tcp = TcpStream::connect((to.host, to.port))
        .await
        .map_err(|source| ConnectError::Tcp {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let stream = match to.tls {
        None => Stream::Plain(tcp),
        Some(tls) => {
            let name =
                ServerName::try_from(to.host.to_owned()).map_err(|e| ConnectError::TlsConfig {
                    addr: addr.clone(),
                    source: TlsError::Config(e.to_string()),
                })?;
            let tls_stream =
                tls.connector()
                    .connect(name, tcp)
                    .await
                    .map_err(|source| ConnectError::Tls {
                        addr: addr.clone(),
                        source,
                    })?;
            if tls_stream.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(ConnectError::NoHttp2 { addr });
            }
            Stream::Client(Box::new(tls_stream))
        }
    };
    let mut b = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .initial_stream_window_size(tuning.initial_stream_window)
        .initial_connection_window_size(tuning.initial_connection_window)
        .max_frame_size(tuning.max_frame_size)
        .max_send_buf_size(tuning.max_send_buf_size)
        .keep_alive_interval(tuning.keep_alive_interval)
        .keep_alive_timeout(tuning.keep_alive_timeout)
        .keep_alive_while_idle(true);
    let (send, conn) =
        b.handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ConnectError::Handshake {
                addr,
                source: Box::new(e),
            })?;
    Ok((send, tokio::spawn(conn)))
}

/// A TCP socket, plain or under TLS (client or server side). Vectored writes pass through,
/// so large messages still go out without being gathered into one buffer first.
pub(crate) enum Stream {
    /// Plain-text HTTP/2.
    Plain(TcpStream),
    /// A client's TLS session.
    Client(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// A server's TLS session.
    Server(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => $e,
            Stream::Client($s) => $e,
            Stream::Server($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Client(s) => s.is_write_vectored(),
            Stream::Server(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}

/// hyper's HTTP/2 `SendRequest` as the tower service tonic's client wants.
pub(crate) struct H2Service(pub(crate) SendRequest<tonic::body::Body>);

type ResponseFuture = Pin<
    Box<
        dyn std::future::Future<
                Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>,
            > + Send
            + 'static,
    >,
>;

impl tower_service::Service<http::Request<tonic::body::Body>> for H2Service {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// The name of a gRPC status code (`Unavailable`, …), for errors that print it.
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "Ok",
        C::Cancelled => "Cancelled",
        C::Unknown => "Unknown",
        C::InvalidArgument => "InvalidArgument",
        C::DeadlineExceeded => "DeadlineExceeded",
        C::NotFound => "NotFound",
        C::AlreadyExists => "AlreadyExists",
        C::PermissionDenied => "PermissionDenied",
        C::ResourceExhausted => "ResourceExhausted",
        C::FailedPrecondition => "FailedPrecondition",
        C::Aborted => "Aborted",
        C::OutOfRange => "OutOfRange",
        C::Unimplemented => "Unimplemented",
        C::Internal => "Internal",
        C::Unavailable => "Unavailable",
        C::DataLoss => "DataLoss",
        C::Unauthenticated => "Unauthenticated",
    }
}
