//! The `spate-grpc` thread: dials, runs one `WriteMessages` call per connection, and
//! reconnects with backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_core::Stream;
use http::Uri;
use http::uri::PathAndQuery;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

use super::codec::{WRITE_MESSAGES, WriteCodec};
use super::shared::Shared;
use super::{GrpcBatchPolicy, GrpcSinkError, GrpcSinkOptions, GrpcUrl, Http2Tuning};
use crate::wire::EncodedMessage;

/// What the sink asks of its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// Stream what is written.
    Run,
    /// Finish the call after what is queued (the shared `closing` flag says the same; this
    /// wakes a thread waiting out a backoff).
    Close,
    /// Stop now.
    Cancel,
}

/// Marks the sink closed when the thread ends, however it ends (a panic included).
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        if !g.is_closed() {
            g.abandon_rest();
            g.finish(None);
        }
        drop(g);
        self.0.notify();
    }
}

/// Starts the `spate-grpc` thread.
pub(crate) fn spawn(
    url: GrpcUrl,
    options: GrpcSinkOptions,
    shared: Arc<Shared>,
    control: watch::Receiver<Control>,
) -> std::io::Result<JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("spate-grpc".to_owned())
        .spawn(move || {
            let _guard = ExitGuard(shared.clone());
            rt.block_on(drive(url, options, shared, control));
        })
}

fn wake(shared: &Shared) {
    let w = shared.lock().waker.take();
    if let Some(w) = w {
        w.wake();
    }
    shared.notify();
}

async fn cancelled(control: &mut watch::Receiver<Control>) {
    let _ = control.wait_for(|c| *c == Control::Cancel).await;
}

/// How one connection ended.
enum Outcome {
    /// The call ended with the server's OK response after the sink closed it.
    Closed,
    /// The sink was cancelled.
    Cancelled,
    /// The connection or call failed.
    Lost(GrpcSinkError),
}

async fn drive(
    url: GrpcUrl,
    options: GrpcSinkOptions,
    shared: Arc<Shared>,
    mut control: watch::Receiver<Control>,
) {
    let origin: Uri = match url.origin().parse() {
        Ok(u) => u,
        Err(_) => return, // GrpcUrl::parse admits only valid hosts and ports
    };
    let mut backoff = options.reconnect_min;
    loop {
        if *control.borrow() == Control::Cancel {
            return;
        }
        {
            let mut g = shared.lock();
            if g.drained_for_close() {
                g.finish(Some(Ok(())));
                drop(g);
                shared.notify();
                return;
            }
            g.set_connecting();
        }
        shared.notify();
        let attempt = tokio::select! {
            r = tokio::time::timeout(options.connect_timeout, connect(&url, &options.http2)) => r,
            () = cancelled(&mut control) => return,
        };
        let error = match attempt {
            Ok(Ok((send, conn))) => {
                let generation = shared.lock().begin_connection();
                wake(&shared);
                let sent_before = shared.lock().sent_messages();
                let outcome = run_call(
                    send,
                    conn,
                    origin.clone(),
                    generation,
                    options.batch,
                    &shared,
                    &mut control,
                )
                .await;
                match outcome {
                    Outcome::Closed => {
                        let mut g = shared.lock();
                        g.finish(Some(Ok(())));
                        drop(g);
                        shared.notify();
                        return;
                    }
                    Outcome::Cancelled => return,
                    Outcome::Lost(e) => {
                        let mut g = shared.lock();
                        g.connection_lost(generation, &e);
                        if g.sent_messages() > sent_before {
                            backoff = options.reconnect_min;
                        }
                        if g.drained_for_close() {
                            // Everything was handed over but the call did not end well.
                            g.finish(Some(Err(e)));
                            drop(g);
                            shared.notify();
                            return;
                        }
                        drop(g);
                        shared.notify();
                        None
                    }
                }
            }
            Ok(Err(e)) => Some(e),
            Err(_) => Some(GrpcSinkError::ConnectTimeout {
                url: url.clone(),
                timeout: options.connect_timeout,
            }),
        };
        if let Some(e) = error {
            shared.lock().connect_failed(&e);
            shared.notify();
        }
        // Backoff; a close or cancel cuts it short.
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = control.changed() => {}
        }
        backoff = (backoff * 2).min(options.reconnect_max);
    }
}

/// hyper's HTTP/2 `SendRequest` as the tower service tonic's client wants.
struct H2Service(SendRequest<tonic::body::Body>);

type ResponseFuture = Pin<
    Box<
        dyn Future<Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>>
            + Send
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

type Connection = (
    SendRequest<tonic::body::Body>,
    TaskHandle<Result<(), hyper::Error>>,
);

/// TCP connect and HTTP/2 handshake; the connection is driven by a spawned task.
async fn connect(url: &GrpcUrl, tuning: &Http2Tuning) -> Result<Connection, GrpcSinkError> {
    let tcp = tokio::net::TcpStream::connect((url.host(), url.port()))
        .await
        .map_err(|source| GrpcSinkError::Connect {
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
    let (send, conn) = b
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| GrpcSinkError::Http2(Box::new(e)))?;
    Ok((send, tokio::spawn(conn)))
}

async fn run_call(
    send: SendRequest<tonic::body::Body>,
    mut conn: TaskHandle<Result<(), hyper::Error>>,
    origin: Uri,
    generation: u64,
    batch: GrpcBatchPolicy,
    shared: &Arc<Shared>,
    control: &mut watch::Receiver<Control>,
) -> Outcome {
    let mut grpc = tonic::client::Grpc::with_origin(H2Service(send), origin);
    let stream = RequestStream {
        shared: shared.clone(),
        generation,
        batch,
        run_open: false,
        run_bytes: 0,
        sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
    };
    let codec = WriteCodec {
        buffer_size: batch.max_bytes.min(1 << 20),
    };
    let call = async {
        grpc.ready()
            .await
            .map_err(|e| GrpcSinkError::Http2(Box::new(e)))?;
        grpc.client_streaming(
            tonic::Request::new(stream),
            PathAndQuery::from_static(WRITE_MESSAGES),
            codec,
        )
        .await
        .map_err(|s| GrpcSinkError::from_status(&s))
    };
    let outcome = tokio::select! {
        biased;
        r = call => match r {
            Ok(_) if shared.lock().closing => Outcome::Closed,
            Ok(_) => Outcome::Lost(GrpcSinkError::EndedEarly),
            Err(e) => Outcome::Lost(e),
        },
        r = &mut conn => Outcome::Lost(match r {
            Ok(Err(e)) => GrpcSinkError::Http2(Box::new(e)),
            _ => GrpcSinkError::ConnectionClosed,
        }),
        () = cancelled(control) => Outcome::Cancelled,
    };
    conn.abort();
    outcome
}

/// The request stream of one call. It releases queued messages in runs (see the module
/// docs of `grpc`); tonic encodes a run into one buffer and hands it to HTTP/2 when the
/// stream pauses. Being polled again after a pause means hyper took that buffer: the run is
/// confirmed as sent.
struct RequestStream {
    shared: Arc<Shared>,
    generation: u64,
    batch: GrpcBatchPolicy,
    /// Messages were returned since the last pause.
    run_open: bool,
    run_bytes: usize,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Stream for RequestStream {
    type Item = EncodedMessage;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EncodedMessage>> {
        let this = self.get_mut();
        let mut g = this.shared.lock();
        if g.generation != this.generation {
            return Poll::Ready(None); // the connection was given up; the stream is dropped
        }
        if !this.run_open && g.confirm_inflight() {
            this.shared.notify();
        }
        if this.run_open {
            if this.run_bytes < this.batch.max_bytes
                && let Some(msg) = g.release()
            {
                this.run_bytes += msg.len();
                return Poll::Ready(Some(msg));
            }
            // End of the run: tonic hands its buffer to HTTP/2 and polls again when h2
            // wants more.
            this.run_open = false;
            this.run_bytes = 0;
            return Poll::Pending;
        }
        loop {
            if !g.has_pending() {
                if g.closing {
                    return Poll::Ready(None);
                }
                g.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let now = Instant::now();
            let start_by = g
                .queue
                .front()
                .map_or(now, |i| i.queued_at + this.batch.max_delay);
            let due = !g.replay.is_empty()
                || g.closing
                || g.flushing
                || now >= start_by
                || g.pending_bytes() >= this.batch.max_bytes as u64;
            if due {
                let Some(msg) = g.release() else {
                    continue;
                };
                this.run_open = true;
                this.run_bytes = msg.len();
                return Poll::Ready(Some(msg));
            }
            g.waker = Some(cx.waker().clone());
            this.sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(start_by));
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}
