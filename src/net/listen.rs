//! The serving core of spate's two `MessageProxyService` servers ([`ProxyServer`] and the
//! test receiver): accept TCP connections and serve each over HTTP/2 on its own task, on a
//! thread that stops on request, with counters the handle can wait on.
//!
//! What one connection may hold is bounded here ([`ConnectionLimits`]): how many
//! connections are served at once (beyond that, new ones wait in the kernel's accept
//! queue), how many calls each may run at once (HTTP/2 `MAX_CONCURRENT_STREAMS`), and how
//! long one may stay open with no call (then it is closed with a GOAWAY). Dead peers are
//! found by the HTTP/2 keep-alive PINGs of [`Http2Tuning`]. A panic while serving a call
//! ends that call (`INTERNAL`), not the connection's other calls or the server.
//!
//! [`ProxyServer`]: super::ProxyServer

use std::convert::Infallible;
use std::future::Future;
use std::net::TcpListener as StdListener;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};

use super::{Http2Tuning, ServerTls, Stream};

/// How long a connection closed for being idle gets to finish its GOAWAY exchange.
const GOAWAY_GRACE: Duration = Duration::from_secs(5);

/// How long a client gets to complete its TLS handshake.
const TLS_HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// What one server lets its connections hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    /// Connections served at once; `None`: no limit.
    pub(crate) max_connections: Option<usize>,
    /// Calls (HTTP/2 streams) one connection may run at once; `None`: hyper's default (200).
    pub(crate) max_concurrent_streams: Option<u32>,
    /// A connection with no call for this long is closed; `None`: never.
    pub(crate) idle_timeout: Option<Duration>,
}

impl ConnectionLimits {
    /// No limits beyond hyper's defaults (the test receiver).
    pub(crate) fn none() -> Self {
        Self {
            max_connections: None,
            max_concurrent_streams: None,
            idle_timeout: None,
        }
    }
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectionEnd {
    /// The peer closed it, it broke, or the server stopped.
    Closed,
    /// It had no call for [`ConnectionLimits::idle_timeout`] and was closed.
    Idle,
    /// Its TLS handshake failed or took longer than 10 s.
    TlsFailed,
}

/// Accepts connections on `listener` until `stop` fires (or the listener cannot be
/// registered with the runtime), serving each over HTTP/2 (under TLS with `tls`) with
/// `http2`'s settings on a task of its own, within `limits`. For each accepted connection `accepted` is called once and
/// returns the connection's request handler and what to call when the connection ends
/// (places to count connections and number them).
pub(crate) async fn serve_connections<R, F, E>(
    listener: StdListener,
    http2: &Http2Tuning,
    limits: &ConnectionLimits,
    tls: Option<&ServerTls>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    mut accepted: impl FnMut() -> (R, E),
) where
    R: Fn(http::Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = http::Response<tonic::body::Body>> + Send + 'static,
    E: FnOnce(ConnectionEnd) + Send + 'static,
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
    if let Some(streams) = limits.max_concurrent_streams {
        builder.max_concurrent_streams(streams);
    }
    let slots = limits
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS))));
    let idle_timeout = limits.idle_timeout;
    let acceptor = tls.map(ServerTls::acceptor);
    loop {
        // A free connection slot first: beyond the limit, connections wait in the kernel's
        // accept queue rather than costing anything here.
        let slot = match &slots {
            Some(slots) => tokio::select! {
                _ = &mut stop => return,
                s = slots.clone().acquire_owned() => match s {
                    Ok(s) => Some(s),
                    Err(_) => return, // never closed
                },
            },
            None => None,
        };
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
        let (route, on_end) = accepted();
        let route = Arc::new(route);
        let (calls, calls_rx) = watch::channel(0usize);
        let calls = Arc::new(calls);
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let call = CallGuard::new(calls.clone());
            let response = Contained(Box::pin(route(req)));
            async move {
                let response = response.await.unwrap_or_else(|Panicked| {
                    tonic::Status::internal("the server failed while serving this call").into_http()
                });
                Ok::<_, Infallible>(
                    response.map(|body| tonic::body::Body::new(Tracked { body, _call: call })),
                )
            }
        });
        let (builder, acceptor) = (builder.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _slot = slot;
            // Told how the connection ended even if the task is dropped (server stopping).
            let mut ended = Ended {
                on_end: Some(on_end),
                end: ConnectionEnd::Closed,
            };
            // The TLS handshake runs here, on the connection's own task, so a client that
            // stalls in it holds only its own slot.
            let stream = match acceptor {
                None => Stream::Plain(tcp),
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_LIMIT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => Stream::Server(Box::new(tls)),
                        Ok(Err(_)) | Err(_) => {
                            ended.end = ConnectionEnd::TlsFailed;
                            return;
                        }
                    }
                }
            };
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let idle = async {
                match idle_timeout {
                    Some(limit) => idle_for(calls_rx, limit).await,
                    None => std::future::pending().await,
                }
            };
            let end = tokio::select! {
                _ = conn.as_mut() => ConnectionEnd::Closed,
                () = idle => ConnectionEnd::Idle,
            };
            if end == ConnectionEnd::Idle {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(GOAWAY_GRACE, conn).await;
            }
            ended.end = end;
        });
    }
}

/// Calls a connection's `on_end` once, when dropped.
struct Ended<E: FnOnce(ConnectionEnd)> {
    on_end: Option<E>,
    end: ConnectionEnd,
}

impl<E: FnOnce(ConnectionEnd)> Drop for Ended<E> {
    fn drop(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.end);
        }
    }
}

/// Resolves once the connection has had no call for `limit` without a break.
async fn idle_for(mut calls: watch::Receiver<usize>, limit: Duration) {
    loop {
        while *calls.borrow_and_update() > 0 {
            if calls.changed().await.is_err() {
                return; // the connection's service is gone: nothing more will run on it
            }
        }
        match tokio::time::timeout(limit, calls.changed()).await {
            Err(_) | Ok(Err(_)) => return,
            Ok(Ok(())) => {}
        }
    }
}

/// Counts one running call on its connection, from the request until its response body is
/// dropped (sent, or the stream reset).
struct CallGuard(Arc<watch::Sender<usize>>);

impl CallGuard {
    fn new(calls: Arc<watch::Sender<usize>>) -> Self {
        calls.send_modify(|n| *n += 1);
        Self(calls)
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that keeps its call counted until it is dropped.
struct Tracked {
    body: tonic::body::Body,
    _call: CallGuard,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A future panicked; it was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Panicked;

/// A future whose panic becomes [`Panicked`] instead of unwinding into the task that runs
/// it (so a panic while serving one call ends that call only).
pub(crate) struct Contained<F>(pub(crate) Pin<Box<F>>);

impl<F: Future> Future for Contained<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        // The future is never polled again after a panic, so no broken state is observed;
        // shared state behind locks is read through poisoning everywhere.
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}

/// State shared between a server's connections and its handle, and the condition variable
/// signalled on every [`update`](Self::update).
#[derive(Debug, Default)]
pub(crate) struct Watched<T> {
    state: Mutex<T>,
    changed: Condvar,
}

impl<T> Watched<T> {
    pub(crate) fn new(state: T) -> Self {
        Self {
            state: Mutex::new(state),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the state and wakes the waiters.
    pub(crate) fn update(&self, f: impl FnOnce(&mut T)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    /// Waits until `cond` holds for the state or `limit` passes; returns whether it held.
    pub(crate) fn wait_until(&self, limit: Duration, mut cond: impl FnMut(&T) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut g = self.lock();
        loop {
            if cond(&g) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .changed
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The thread a server's runtime runs on, and the signal that ends its accept loop.
#[derive(Debug)]
pub(crate) struct ServingThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServingThread {
    /// Starts thread `name` running `run`, which gets the stop signal (for
    /// [`serve_connections`]).
    pub(crate) fn spawn(
        name: &str,
        run: impl FnOnce(tokio::sync::oneshot::Receiver<()>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(stop_rx))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Signals the stop and waits for the thread to end (once; later calls do nothing).
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
