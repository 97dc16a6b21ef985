//! The HTTP/2 transport shared by spate's gRPC clients and servers: `rerun+http` and
//! `rerun+https` URLs ([`GrpcUrl`]), dialing a tuned HTTP/2 connection ([`Http2Tuning`]),
//! TLS ([`ClientTls`], [`ServerTls`]), bearer tokens ([`Token`], read from [`TOKEN_ENV`]
//! like the official SDK does), the serving core that accepts and bounds connections, and
//! the `MessageProxyService` messages both sides speak (the request decoder
//! [`decode_request`] included).
//!
//! The client sink ([`GrpcSink`](crate::sink::GrpcSink)), the receiving server
//! ([`ProxyServer`](crate::server::ProxyServer)) and the catalog client build on this
//! module; it depends on none of them.

mod auth;
pub(crate) mod codec;
mod connect;
pub(crate) mod listen;
pub(crate) mod request;
mod tls;
mod url;

use std::time::Duration;

pub use auth::{TOKEN_ENV, Token};
pub use codec::{ReadMessagesRequest, ReadMessagesResponse, WriteMessagesResponse};
pub use connect::ConnectError;
pub use request::{RejectReason, RequestError, decode_request, split_request};
pub use tls::{ClientTls, ServerTls, TlsError};
pub use url::{CatalogUrl, DEFAULT_CATALOG_PORT, DEFAULT_PORT, GrpcUrl, UrlError};

pub(crate) use connect::{Endpoint, H2Service, Stream, code_name, connect};

/// HTTP/2 settings of the connection (both ends apply the same in spate's receiver).
///
/// The windows and frame size a side *advertises* govern what the *peer* sends it: for
/// the upload direction the server's settings count (spate's receiver uses these; the
/// official server uses hyper's defaults). The client's own send buffer is
/// `max_send_buf_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Http2Tuning {
    /// Initial stream flow-control window (default 32 MiB).
    pub initial_stream_window: u32,
    /// Initial connection flow-control window (default 64 MiB).
    pub initial_connection_window: u32,
    /// Largest frame accepted (default 1 MiB; HTTP/2 allows 16 KiB ..= 16 MiB - 1).
    pub max_frame_size: u32,
    /// Bytes h2 may buffer per stream before the request body is asked for more (default
    /// 8 MiB).
    pub max_send_buf_size: usize,
    /// HTTP/2 PING interval to detect a dead peer (default 20 s; `None` disables).
    pub keep_alive_interval: Option<Duration>,
    /// How long a PING may go unanswered before the connection counts as lost (20 s).
    pub keep_alive_timeout: Duration,
}

impl Default for Http2Tuning {
    fn default() -> Self {
        Self {
            initial_stream_window: 32 << 20,
            initial_connection_window: 64 << 20,
            max_frame_size: 1 << 20,
            max_send_buf_size: 8 << 20,
            keep_alive_interval: Some(Duration::from_secs(20)),
            keep_alive_timeout: Duration::from_secs(20),
        }
    }
}

impl Http2Tuning {
    /// hyper's own defaults (for comparisons): 2 MiB stream / 5 MiB connection windows,
    /// 16 KiB frames, 1 MiB send buffer.
    pub fn hyper_defaults() -> Self {
        Self {
            initial_stream_window: 2 << 20,
            initial_connection_window: 5 << 20,
            max_frame_size: 16 << 10,
            max_send_buf_size: 1 << 20,
            ..Self::default()
        }
    }

    /// Sets both flow-control windows.
    pub fn windows(mut self, stream: u32, connection: u32) -> Self {
        self.initial_stream_window = stream;
        self.initial_connection_window = connection;
        self
    }

    /// Sets the largest frame accepted (clamped to what HTTP/2 allows).
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.max_frame_size = bytes.clamp(16 << 10, (1 << 24) - 1);
        self
    }

    /// Sets the per-stream send buffer.
    pub fn max_send_buf_size(mut self, bytes: usize) -> Self {
        self.max_send_buf_size = bytes;
        self
    }
}
