//! The serving core of spate's two `MessageProxyService` servers ([`ProxyServer`] and the
//! test receiver): accept TCP connections and serve each over HTTP/2 on its own task.
//!
//! [`ProxyServer`]: super::ProxyServer

use std::convert::Infallible;
use std::future::Future;
use std::net::TcpListener as StdListener;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::Http2Tuning;

/// Accepts connections on `listener` until `stop` fires (or the listener cannot be
/// registered with the runtime), serving each over HTTP/2 with `http2`'s settings on a task
/// of its own. For each accepted connection `accepted` is called once and returns the
/// connection's request handler (a place to count connections and number them).
pub(crate) async fn serve_connections<R, F>(
    listener: StdListener,
    http2: &Http2Tuning,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    mut accepted: impl FnMut() -> R,
) where
    R: Fn(http::Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = http::Response<tonic::body::Body>> + Send + 'static,
{
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(http2.initial_stream_window)
        .initial_connection_window_size(http2.initial_connection_window)
        .max_frame_size(http2.max_frame_size)
        .max_send_buf_size(http2.max_send_buf_size)
        .keep_alive_interval(http2.keep_alive_interval)
        .keep_alive_timeout(http2.keep_alive_timeout);
    loop {
        let accepted_tcp = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => r,
        };
        let Ok((tcp, _)) = accepted_tcp else {
            // E.g. out of file descriptors: back off briefly instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let route = accepted();
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let response = route(req);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let conn = builder.serve_connection(TokioIo::new(tcp), service);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}
