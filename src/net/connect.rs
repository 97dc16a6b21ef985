//! Dialing: TCP connect and the HTTP/2 handshake, tuned by [`Http2Tuning`].

use hyper::body::Body;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::task::JoinHandle as TaskHandle;

use super::{GrpcUrl, Http2Tuning};

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("cannot connect to {url}")]
    Tcp {
        /// The server.
        url: GrpcUrl,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP/2 handshake failed (the source is a `hyper::Error`).
    #[error("HTTP/2 handshake with {url} failed")]
    Handshake {
        /// The server.
        url: GrpcUrl,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A dialed connection: the request half, and the task driving the connection.
pub(crate) type Connection<B> = (SendRequest<B>, TaskHandle<Result<(), hyper::Error>>);

/// TCP connect and HTTP/2 handshake with `tuning`; the connection is driven by a spawned
/// task. Generic over the request body: the sink sends its own write bodies,
/// `read_messages` tonic's.
pub(crate) async fn connect<B>(
    url: &GrpcUrl,
    tuning: &Http2Tuning,
) -> Result<Connection<B>, ConnectError>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = tokio::net::TcpStream::connect((url.host(), url.port()))
        .await
        .map_err(|source| ConnectError::Tcp {
            url: url.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
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
        b.handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| ConnectError::Handshake {
                url: url.clone(),
                source: Box::new(e),
            })?;
    Ok((send, tokio::spawn(conn)))
}
