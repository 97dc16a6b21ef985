//! The serving core of spate's two `MessageProxyService` servers ([`ProxyServer`] and the
//! test receiver): accept TCP connections and serve each over HTTP/2 on its own task, on a
//! thread that stops on request, with counters the handle can wait on.
//!
//! [`ProxyServer`]: super::ProxyServer

use std::convert::Infallible;
use std::future::Future;
use std::net::TcpListener as StdListener;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
