//! A `ReadMessages` client: reads back what a Rerun gRPC server (the official
//! `rerun --serve-grpc`, or spate's [`ProxyServer`](super::ProxyServer)) holds and
//! streams, as [`EncodedMessage`]s that carry the received bodies unchanged and can be
//! written to a file with a valid footer ([`RrdEncoder`](crate::wire::RrdEncoder)).
//!
//! Servers replay their history and then keep the call open for live messages, so a read
//! needs a stop condition: [`read_messages`] stops when a predicate over what arrived
//! holds, when the server ends the stream, or fails at a deadline.

use std::time::Instant;

use bytes::Bytes;
use http::uri::PathAndQuery;
use prost::Message as _;
use tonic::codec::{Codec, EncodeBuf, Encoder};

use super::GrpcSinkError;
use crate::net::codec::{READ_MESSAGES, RawDecoder};
use crate::net::{
    ClientTls, Endpoint, GrpcUrl, H2Service, Http2Tuning, ReadMessagesRequest, RequestError,
    UrlError, connect, decode_request,
};
use crate::wire::{DecodeLimits, EncodedMessage};

/// Why [`read_messages`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadMessagesError {
    /// The URL is not a `rerun+http://HOST:PORT/proxy` URL.
    #[error("invalid gRPC URL {url:?}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why.
        #[source]
        source: UrlError,
    },
    /// The runtime could not start.
    #[error("cannot start a runtime")]
    Runtime(#[source] std::io::Error),
    /// Connecting or the call failed.
    #[error(transparent)]
    Grpc(#[from] GrpcSinkError),
    /// A received message is malformed or invalid.
    #[error("message {index} of the stream is bad")]
    BadMessage {
        /// Its position in the stream (0-based).
        index: usize,
        /// What was wrong.
        #[source]
        source: RequestError,
    },
    /// The deadline passed before the stop condition held.
    #[error("deadline passed with {received} messages received and the stop condition unmet")]
    Deadline {
        /// Messages received by then.
        received: usize,
    },
}

/// Reads `ReadMessages` from `url` until `done` holds for the messages received so far (it
/// is checked after each one), or the server ends the stream; fails if neither happens by
/// `deadline`.
///
/// What the server sends is untrusted: a response over 1 GiB, or a payload decompressing
/// past 1 GiB ([`DecodeLimits::default`]), is refused before anything is allocated for it.
///
/// ```
/// use spate::sink::grpc::read_messages;
/// use spate::server::{ProxyServer, ProxyServerOptions};
/// use spate::sink::GrpcSink;
/// use spate::server::Relay;
/// use spate::{EntityPath, Points3D, Recording};
/// use std::time::{Duration, Instant};
///
/// let server = ProxyServer::start("127.0.0.1:0".parse()?, Relay::start(())?, ProxyServerOptions::default())?;
/// let rec = Recording::builder("demo").sinks(GrpcSink::connect(&server.url())?).start()?;
/// rec.log(&EntityPath::parse("points")?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
/// rec.shutdown(Instant::now() + Duration::from_secs(10));
///
/// let deadline = Instant::now() + Duration::from_secs(10);
/// let got = read_messages(&server.url(), deadline, |m| {
///     m.iter().filter(|m| m.summary().is_some()).count() == 1
/// })?;
/// assert_eq!(got.len(), 2); // SetStoreInfo + the chunk
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_messages(
    url: &str,
    deadline: Instant,
    mut done: impl FnMut(&[EncodedMessage]) -> bool,
) -> Result<Vec<EncodedMessage>, ReadMessagesError> {
    let parsed = GrpcUrl::parse(url).map_err(|source| ReadMessagesError::InvalidUrl {
        url: url.to_owned(),
        source,
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ReadMessagesError::Runtime)?;
    let limit = deadline.saturating_duration_since(Instant::now());
    let mut got = Vec::new();
    let read = async {
        let tls = match parsed.tls() {
            true => Some(ClientTls::system().map_err(|source| GrpcSinkError::Tls {
                url: parsed.clone(),
                source,
            })?),
            false => None,
        };
        let to = Endpoint {
            host: parsed.host(),
            port: parsed.port(),
            tls: tls.as_ref(),
        };
        let (send, conn) =
            connect(to, &read_tuning())
                .await
                .map_err(|source| GrpcSinkError::Connect {
                    url: parsed.clone(),
                    source,
                })?;
        let origin: http::Uri = parsed
            .origin()
            .parse()
            .map_err(|e| GrpcSinkError::Http2(Box::new(e)))?;
        let limits = DecodeLimits::default();
        let max_message = usize::try_from(limits.max_uncompressed_bytes).unwrap_or(usize::MAX);
        let mut grpc = tonic::client::Grpc::with_origin(H2Service(send), origin)
            .max_decoding_message_size(max_message);
        grpc.ready()
            .await
            .map_err(|e| GrpcSinkError::Http2(Box::new(e)))?;
        let response = grpc
            .server_streaming(
                tonic::Request::new(ReadMessagesRequest {}),
                PathAndQuery::from_static(READ_MESSAGES),
                ResponseCodec,
            )
            .await
            .map_err(|s| GrpcSinkError::from_status(&s))?;
        let mut stream = response.into_inner();
        let result = loop {
            if !got.is_empty() && done(&got) {
                break Ok(());
            }
            match stream.message().await {
                Ok(Some(raw)) => match decode_request(raw, &limits) {
                    Ok(m) => got.push(m),
                    Err(source) => {
                        break Err(ReadMessagesError::BadMessage {
                            index: got.len(),
                            source,
                        });
                    }
                },
                Ok(None) => break Ok(()),
                Err(s) => break Err(GrpcSinkError::from_status(&s).into()),
            }
        };
        conn.abort();
        result
    };
    let outcome = rt.block_on(async { tokio::time::timeout(limit, read).await });
    match outcome {
        Ok(Ok(())) => Ok(got),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(ReadMessagesError::Deadline {
            received: got.len(),
        }),
    }
}

/// Sends the empty `ReadMessagesRequest`; receives each response's raw bytes.
#[derive(Clone, Copy, Debug)]
struct ResponseCodec;

#[derive(Debug)]
struct RequestEncoder;

impl Encoder for RequestEncoder {
    type Item = ReadMessagesRequest;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        r: ReadMessagesRequest,
        dst: &mut EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        r.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Codec for ResponseCodec {
    type Encode = ReadMessagesRequest;
    type Decode = Bytes;
    type Encoder = RequestEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RequestEncoder {
        RequestEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// The HTTP/2 settings of `read_messages`' connection: large receive windows (the history
/// may be big), hyper's own send buffer, no keep-alive PINGs.
fn read_tuning() -> Http2Tuning {
    Http2Tuning {
        max_send_buf_size: Http2Tuning::hyper_defaults().max_send_buf_size,
        keep_alive_interval: None,
        ..Http2Tuning::default()
    }
}
