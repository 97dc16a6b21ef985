//! Adversarial review of bearer tokens on `ProxyServer` (issue 16).

use std::net::SocketAddr;
use std::time::Duration;

use spate::net::Token;
use spate::server::{ProxyServer, ProxyServerOptions, Relay};
use spate::sink::MemorySink;
use spate::{SinkExt, SinkPolicy};

const READ_MESSAGES: &str = "/rerun.sdk_comms.v1alpha1.MessageProxyService/ReadMessages";

/// One raw HTTP/2 gRPC call to `path` with `authorization` (if any); the `grpc-status` of
/// the response headers (a trailers-only refusal carries it there), or "" for a call that
/// was let through (its status comes later, in trailers).
fn call(addr: SocketAddr, path: &str, authorization: Option<&str>) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake::<_, http_body_util_empty::Empty>(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(a) = authorization {
            req = req.header("authorization", http::HeaderValue::from_str(a).unwrap());
        }
        let resp = tokio::time::timeout(
            Duration::from_secs(10),
            send.send_request(req.body(http_body_util_empty::Empty).unwrap()),
        )
        .await
        .expect("no response within 10 s")
        .unwrap();
        resp.headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    })
}

/// An empty request body (no extra crate needed).
mod http_body_util_empty {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Empty;

    impl hyper::body::Body for Empty {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
            Poll::Ready(None)
        }
        fn is_end_stream(&self) -> bool {
            true
        }
    }
}

fn server(options: ProxyServerOptions) -> ProxyServer {
    let (sink, _got) = MemorySink::new();
    let relay = Relay::start(sink.with_policy(SinkPolicy::Block)).unwrap();
    ProxyServer::start("127.0.0.1:0".parse().unwrap(), relay, options).unwrap()
}

/// Sanity: the raw call is refused without a token and let through with the right one.
#[test]
fn raw_calls_see_the_token_check() {
    let srv = server(ProxyServerOptions::default().token(Token::new("s3cret")));
    assert_eq!(call(srv.addr(), READ_MESSAGES, None), "16");
    assert_eq!(call(srv.addr(), READ_MESSAGES, Some("Bearer wrong")), "16");
    assert_eq!(call(srv.addr(), READ_MESSAGES, Some("Bearer s3cret")), "");
}

/// Finding: `ProxyServerOptions::token` takes any `Token`, and `ProxyServer::start` does not
/// check it (only the CLI does). An empty (or all-whitespace) token — e.g. from an unset
/// environment variable, `Token::new(env::var(..).unwrap_or_default())` — makes a server
/// that "requires a token" but lets in any client that sends `authorization: Bearer `
/// (an empty token compares equal to an empty configured one). It should refuse to start
/// (or refuse every call), never authorize an empty credential.
#[test]
fn an_empty_required_token_never_authorizes_an_empty_credential() {
    for configured in ["", "   "] {
        let srv = server(ProxyServerOptions::default().token(Token::new(configured)));
        let status = call(srv.addr(), READ_MESSAGES, Some("Bearer "));
        assert_eq!(
            status, "16",
            "a server requiring the token {configured:?} let `authorization: Bearer ` in"
        );
        assert!(srv.counters().calls_unauthenticated >= 1);
    }
}
