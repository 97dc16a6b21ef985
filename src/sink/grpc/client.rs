//! The `spate-grpc` thread: dials, runs `WriteMessages` calls one after the other on each
//! connection (each ended once it carried its window, or for a flush or a close; its
//! response confirms it), watches for stalls, and reconnects with backoff.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::Uri;
use hyper::body::{Body, Frame};
use hyper::client::conn::http2::SendRequest;
use tokio::sync::watch;
use tokio::task::JoinHandle as TaskHandle;

use super::outbox::{Item, Next, Outbox};
use super::{GrpcBatchPolicy, GrpcSinkError, GrpcSinkOptions};
use crate::net::codec::{Head, WRITE_MESSAGES};
use crate::net::{Endpoint, GrpcUrl, connect};
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
struct ExitGuard(Arc<Outbox>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        let left = (!g.is_closed()).then(|| {
            let left = g.abandon_rest();
            g.finish(None);
            left
        });
        drop(g);
        drop(left);
        self.0.notify();
    }
}

/// Starts the `spate-grpc` thread.
pub(crate) fn spawn(
    url: GrpcUrl,
    options: GrpcSinkOptions,
    shared: Arc<Outbox>,
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

fn wake(shared: &Outbox) {
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
enum CallEnd {
    /// The sink was closing and the server confirmed everything.
    Closed,
    /// The sink was cancelled (or gave up at its close deadline).
    Cancelled,
    /// The connection or a call failed (or stalled).
    Lost(GrpcSinkError),
}

async fn drive(
    url: GrpcUrl,
    options: GrpcSinkOptions,
    shared: Arc<Outbox>,
    mut control: watch::Receiver<Control>,
) {
    let origin: Uri = match url.origin().parse() {
        Ok(u) => u,
        Err(_) => return, // GrpcUrl::parse admits only valid hosts and ports
    };
    let to = Endpoint {
        host: url.host(),
        port: url.port(),
        tls: options.tls.as_ref().filter(|_| url.tls()),
    };
    let target = CallTarget {
        origin,
        authorization: options.token.as_ref().and_then(|t| t.header()),
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
            r = tokio::time::timeout(options.connect_timeout, async {
                connect::<WriteBody>(to, &options.http2)
                    .await
                    .map_err(|source| GrpcSinkError::Connect { url: url.clone(), source })
            }) => r,
            () = cancelled(&mut control) => return,
        };
        let error = match attempt {
            Ok(Ok((send, conn))) => {
                let generation = shared.lock().begin_connection();
                wake(&shared);
                let sent_before = shared.lock().sent_messages();
                let outcome = run_connection(
                    send,
                    conn,
                    &target,
                    generation,
                    &options,
                    &shared,
                    &mut control,
                )
                .await;
                match outcome {
                    CallEnd::Closed => {
                        let mut g = shared.lock();
                        g.finish(Some(Ok(())));
                        drop(g);
                        shared.notify();
                        return;
                    }
                    CallEnd::Cancelled => return,
                    CallEnd::Lost(e) => {
                        let mut g = shared.lock();
                        g.connection_lost(generation, &e);
                        if g.sent_messages() > sent_before {
                            backoff = options.reconnect_min;
                        }
                        if g.drained_for_close() {
                            // Closing, and earlier calls confirmed everything.
                            g.finish(Some(Ok(())));
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

/// The `WriteMessages` request: `POST` with the gRPC headers and a [`WriteBody`].
/// Where every call of the sink goes, and the credentials it carries.
struct CallTarget {
    /// `http(s)://HOST:PORT`.
    origin: Uri,
    /// `Bearer TOKEN`, marked sensitive.
    authorization: Option<http::HeaderValue>,
}

fn write_request(
    target: &CallTarget,
    body: WriteBody,
) -> Result<http::Request<WriteBody>, GrpcSinkError> {
    let origin = &target.origin;
    let mut uri = Uri::builder().path_and_query(WRITE_MESSAGES);
    if let Some(scheme) = origin.scheme() {
        uri = uri.scheme(scheme.clone());
    }
    if let Some(authority) = origin.authority() {
        uri = uri.authority(authority.clone());
    }
    let mut request = http::Request::builder();
    if let Some(authorization) = &target.authorization {
        request = request.header(http::header::AUTHORIZATION, authorization);
    }
    request
        .method(http::Method::POST)
        .uri(uri.build().map_err(|e| GrpcSinkError::Http2(Box::new(e)))?)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .header(
            http::header::USER_AGENT,
            concat!("spate/", env!("CARGO_PKG_VERSION")),
        )
        .body(body)
        .map_err(|e| GrpcSinkError::Http2(Box::new(e)))
}

/// Sends the request and reads the response to its end: the call's outcome is the gRPC
/// status in the trailers (or in the headers of a trailers-only response).
async fn call(
    mut send: SendRequest<WriteBody>,
    request: http::Request<WriteBody>,
) -> Result<(), GrpcSinkError> {
    send.ready()
        .await
        .map_err(|e| GrpcSinkError::Http2(Box::new(e)))?;
    let response = send
        .send_request(request)
        .await
        .map_err(|e| GrpcSinkError::Http2(Box::new(e)))?;
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        return status_result(&status);
    }
    if !response.status().is_success() {
        return Err(GrpcSinkError::Status {
            code: tonic::Code::Unknown as i32,
            code_name: "Unknown",
            message: format!("HTTP status {}", response.status()),
        });
    }
    let mut body = response.into_body();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            // The response message itself (`WriteMessagesResponse` is empty): nothing to read.
            Some(Ok(f)) if f.is_data() => {}
            Some(Ok(f)) => {
                if let Some(status) = f.trailers_ref().and_then(tonic::Status::from_header_map) {
                    return status_result(&status);
                }
            }
            Some(Err(e)) => return Err(GrpcSinkError::Http2(Box::new(e))),
            None => return Err(GrpcSinkError::ConnectionClosed),
        }
    }
}

fn status_result(status: &tonic::Status) -> Result<(), GrpcSinkError> {
    if status.code() == tonic::Code::Ok {
        Ok(())
    } else {
        Err(GrpcSinkError::from_status(status))
    }
}

/// Runs `WriteMessages` calls on one connection, one after the other (so the server sees
/// the messages in order): each call's request stream ends once it carried its window, or
/// for a flush, a close or a writer waiting for room, and the server's OK response after it
/// read the whole stream confirms what the call carried. Ends when the sink is closing and
/// everything is confirmed, or when the connection or a call fails or stalls.
async fn run_connection(
    send: SendRequest<WriteBody>,
    mut conn: TaskHandle<Result<(), hyper::Error>>,
    target: &CallTarget,
    generation: u64,
    options: &GrpcSinkOptions,
    shared: &Arc<Outbox>,
    control: &mut watch::Receiver<Control>,
) -> CallEnd {
    // The messages each confirmed call carried, freed after the outbox is unlocked (and the
    // buffer given back to the outbox by the next confirmation).
    let mut confirmed: VecDeque<Item> = VecDeque::new();
    let outcome = loop {
        // A call is opened only when there is something to send (or a close to confirm).
        tokio::select! {
            biased;
            () = work_ready(shared) => {}
            r = &mut conn => break CallEnd::Lost(connection_error(r)),
            () = cancelled(control) => break CallEnd::Cancelled,
        }
        let begun = {
            let mut g = shared.lock();
            if g.drained_for_close() {
                break CallEnd::Closed;
            }
            g.begin_call(generation)
        };
        let Some(id) = begun else {
            break CallEnd::Cancelled; // the sink gave up this connection (close deadline)
        };
        let body = WriteBody {
            shared: shared.clone(),
            generation,
            call: id,
            batch: options.batch,
            run: Vec::with_capacity(64),
            parts: VecDeque::new(),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        let request = match write_request(target, body) {
            Ok(r) => r,
            Err(e) => break CallEnd::Lost(e),
        };
        let answer = tokio::select! {
            biased;
            r = call(send.clone(), request) => r,
            r = &mut conn => Err(connection_error(r)),
            () = cancelled(control) => break CallEnd::Cancelled,
            e = stalled(shared, options.stall_timeout) => Err(e),
        };
        shared.note_progress();
        let mut g = shared.lock();
        match answer.and_then(|()| g.call_answered(generation, id, &mut confirmed)) {
            Ok(()) => {
                let done = g.drained_for_close();
                drop(g);
                shared.notify();
                confirmed.clear();
                if done {
                    break CallEnd::Closed;
                }
            }
            Err(e) => break CallEnd::Lost(e),
        }
    };
    conn.abort();
    outcome
}

/// Why the connection task ended.
fn connection_error(
    ended: Result<Result<(), hyper::Error>, tokio::task::JoinError>,
) -> GrpcSinkError {
    match ended {
        Ok(Err(e)) => GrpcSinkError::Http2(Box::new(e)),
        _ => GrpcSinkError::ConnectionClosed,
    }
}

/// Resolves when there is something to send or the sink is closing (woken like the
/// request stream: by writes, flushes and closes).
async fn work_ready(shared: &Outbox) {
    std::future::poll_fn(|cx| {
        let mut g = shared.lock();
        if g.wants_call() {
            Poll::Ready(())
        } else {
            g.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    })
    .await;
}

/// Resolves when the connection owed progress (something to send, a frame HTTP/2 has not
/// taken, or an ended call's response) and made none for `timeout`: a server that stopped
/// reading or answering while TCP and HTTP/2 PINGs still say it is there. Checks four
/// times per `timeout`.
async fn stalled(shared: &Outbox, timeout: Duration) -> GrpcSinkError {
    let tick = (timeout / 4).max(Duration::from_millis(10));
    let mut seen = shared.progress();
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let now = Instant::now();
        let progress = shared.progress();
        if progress != seen || !shared.lock().owes_progress() {
            (seen, since) = (progress, now);
        } else if now - since >= timeout {
            return GrpcSinkError::Stalled { after: timeout };
        }
    }
}

/// Messages at least this long go to HTTP/2 as their own parts (zero-copy: h2 writes each
/// large part with a vectored write straight from the chunk's buffers). Shorter messages are
/// copied into one run buffer of up to `max_bytes`, so many small messages become one large
/// write instead of many small frames.
const ZERO_COPY_MIN: usize = 64 * 1024;

/// The request body of one `WriteMessages` call: gRPC length-prefixed messages, each its
/// [`Head`] + the [`EncodedMessage`]'s parts, as HTTP/2 DATA frames; it ends when the
/// outbox says the call should (see `Inner::next_for_call`).
///
/// hyper polls the body for the next frame only when h2 has room for it (flow control and
/// `max_send_buf_size`): each poll is progress for the stall watchdog. Being handed to h2
/// confirms nothing — the call's response does (see the module docs of `grpc`).
pub(crate) struct WriteBody {
    shared: Arc<Outbox>,
    generation: u64,
    call: u64,
    batch: GrpcBatchPolicy,
    /// The messages of the small run being built (empty between runs).
    run: Vec<(Arc<EncodedMessage>, Head)>,
    /// Parts of the current large message not yet handed over.
    parts: VecDeque<Bytes>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl WriteBody {
    /// Waits until a run is due (see `GrpcBatchPolicy`) and releases its first message;
    /// `None` ends the call.
    fn poll_first(&mut self, cx: &mut Context<'_>) -> Poll<Option<(Arc<EncodedMessage>, Head)>> {
        let mut g = self.shared.lock();
        loop {
            let next = g.next_for_call(
                self.generation,
                self.call,
                self.batch.max_delay,
                self.batch.max_bytes as u64,
            );
            match next {
                Next::Message(msg, head) => return Poll::Ready(Some((msg, head))),
                Next::End => return Poll::Ready(None),
                Next::Wait(None) => {
                    g.waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Next::Wait(Some(at)) => {
                    g.waker = Some(cx.waker().clone());
                    self.sleep
                        .as_mut()
                        .reset(tokio::time::Instant::from_std(at));
                    if self.sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Copies `first` and the small messages queued behind it (up to `max_bytes`, within
    /// the call's window) into one buffer: they are released under the outbox's lock, and
    /// copied after it.
    fn small_run(&mut self, first: (Arc<EncodedMessage>, Head)) -> Bytes {
        let framed = |(msg, head): &(Arc<EncodedMessage>, Head)| head.as_slice().len() + msg.len();
        let mut len = framed(&first);
        self.run.push(first);
        let mut g = self.shared.lock();
        while let Some(next) = g.next_small(len, self.batch.max_bytes, ZERO_COPY_MIN) {
            len += framed(&next);
            self.run.push(next);
        }
        drop(g);
        let mut run = BytesMut::with_capacity(len);
        for (msg, head) in self.run.drain(..) {
            run.put_slice(head.as_slice());
            for part in msg.parts() {
                run.put_slice(part);
            }
        }
        run.freeze()
    }
}

impl Body for WriteBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        this.shared.note_progress();
        if let Some(part) = this.parts.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(part))));
        }
        let Some(first) = std::task::ready!(this.poll_first(cx)) else {
            return Poll::Ready(None);
        };
        if first.0.len() < ZERO_COPY_MIN {
            return Poll::Ready(Some(Ok(Frame::data(this.small_run(first)))));
        }
        let (msg, head) = first;
        this.parts
            .extend(msg.parts().iter().filter(|p| !p.is_empty()).cloned());
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
            head.as_slice(),
        )))))
    }
}
