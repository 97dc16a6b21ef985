//! `rerun+https` and bearer tokens, end to end on 127.0.0.1 with a CA the test makes
//! (rcgen): spate's gRPC sink → `spate serve`'s server ([`ProxyServer`]) under TLS, the
//! catalog client's TLS dial, and what a server requiring a token does with calls that lack
//! it. Certificates are always verified: the clients trust the test's CA explicitly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spate::catalog::{BlockingCatalogClient, CatalogError, CatalogOptions};
use spate::net::{ClientTls, ServerTls, Token};
use spate::server::{ProxyServer, ProxyServerOptions, Relay};
use spate::sink::grpc::GrpcSinkOptions;
use spate::sink::{GrpcSink, MemorySink, MemorySinkHandle};
use spate::wire::MessageKind;
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy};

const LIMIT: Duration = Duration::from_secs(30);

/// A CA, and a server certificate it signed for `127.0.0.1` and `localhost`.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn server(options: ProxyServerOptions) -> (ProxyServer, MemorySinkHandle) {
    let (sink, got) = MemorySink::new();
    let relay = Relay::start(sink.with_policy(SinkPolicy::Block)).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    (ProxyServer::start(addr, relay, options).unwrap(), got)
}

/// Logs `frames` point clouds to `url` through a gRPC sink with `options`; returns whether
/// the shutdown report was complete (every message confirmed by the server), and the
/// chunks sent (kept by a memory sink beside the gRPC sink: the same encoded messages).
fn stream(url: &str, options: GrpcSinkOptions, frames: u32) -> (bool, usize) {
    let sink = GrpcSink::connect_with(url, options.connect_timeout(Duration::from_secs(2)))
        .unwrap()
        .with_policy(SinkPolicy::DropNewest)
        .close_timeout(Duration::from_secs(5));
    let (mirror, sent) = MemorySink::new();
    let rec = Recording::builder("tls")
        .recording_id("tls-rec")
        .sinks((sink, mirror))
        .start()
        .unwrap();
    let e = EntityPath::parse("points").unwrap();
    for f in 0..frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        rec.log(&e, &spate::demo::example_cloud(10_000, f, 0))
            .unwrap();
    }
    rec.log(&e, &Points3D::new(vec![[1.0f32, 2.0, 3.0]]))
        .unwrap();
    let complete = rec
        .shutdown(Instant::now() + Duration::from_secs(8))
        .is_complete();
    (complete, chunks(&sent))
}

fn stream_ok(url: &str, options: GrpcSinkOptions, frames: u32) -> bool {
    stream(url, options, frames).0
}

fn chunks(got: &MemorySinkHandle) -> usize {
    got.messages()
        .iter()
        .filter(|m| m.kind() == MessageKind::ArrowMsg)
        .count()
}

#[test]
fn the_grpc_sink_streams_over_tls_with_a_token_to_a_server_that_requires_both() {
    let ours = pki();
    let tls = ServerTls::from_pem(ours.cert_pem.as_bytes(), ours.key_pem.as_bytes()).unwrap();
    let token = Token::new("fleet-secret");
    let (server, got) = server(ProxyServerOptions::default().tls(tls).token(token.clone()));
    let url = server.url();
    assert!(url.starts_with("rerun+https://127.0.0.1:"), "{url}");

    let trust = ClientTls::from_ca_pem(ours.ca_pem.as_bytes()).unwrap();
    let (complete, sent) = stream(&url, GrpcSinkOptions::default().tls(trust).token(token), 5);
    assert!(complete, "{:#?}", server.counters());
    assert!(sent >= 3, "{sent}");
    assert_eq!(chunks(&got), sent);
    let c = server.counters();
    assert_eq!(
        (c.connections_tls_failed, c.calls_unauthenticated),
        (0, 0),
        "{c:#?}"
    );
    assert!(c.calls_finished >= 1, "{c:#?}");
    assert!(server.shutdown(Instant::now() + LIMIT).relay.is_complete());
}

#[test]
fn a_client_that_does_not_trust_the_server_or_speaks_plain_text_gets_nothing_through() {
    let ours = pki();
    let tls = ServerTls::from_pem(ours.cert_pem.as_bytes(), ours.key_pem.as_bytes()).unwrap();
    let (server, got) = server(ProxyServerOptions::default().tls(tls));
    let https = server.url();

    // Another CA: the server's certificate is not trusted; nothing is sent.
    let stranger = ClientTls::from_ca_pem(pki().ca_pem.as_bytes()).unwrap();
    assert!(!stream_ok(
        &https,
        GrpcSinkOptions::default().tls(stranger),
        1
    ));
    // Plain-text HTTP/2 to a TLS port.
    let http = https.replace("rerun+https://", "rerun+http://");
    assert!(!stream_ok(&http, GrpcSinkOptions::default(), 1));

    assert_eq!(chunks(&got), 0);
    assert!(
        server.wait_until(LIMIT, |c| c.connections_tls_failed >= 2),
        "{:#?}",
        server.counters()
    );
    assert_eq!(server.counters().calls_started, 0);
}

#[test]
fn a_server_requiring_a_token_refuses_calls_without_it_or_with_another() {
    let (server, got) = server(ProxyServerOptions::default().token(Token::new("right")));
    let url = server.url();
    assert!(!stream_ok(&url, GrpcSinkOptions::default(), 1));
    assert!(!stream_ok(
        &url,
        GrpcSinkOptions::default().token(Token::new("wrong")),
        1
    ));
    assert_eq!(chunks(&got), 0);
    let c = server.counters();
    assert!(c.calls_unauthenticated >= 2, "{c:#?}");
    assert_eq!(c.calls_started, 0, "no call's body is read: {c:#?}");
    // The right token goes through on the same server.
    let right = GrpcSinkOptions::default().token(Token::new("right"));
    let (complete, sent) = stream(&url, right, 1);
    assert!(complete);
    assert_eq!(chunks(&got), sent);
}

#[test]
fn an_empty_required_token_is_refused_at_start() {
    for empty in ["", "  ", "two\nlines"] {
        let (sink, _got) = MemorySink::new();
        let relay = Relay::start(sink.with_policy(SinkPolicy::Block)).unwrap();
        let options = ProxyServerOptions::default().token(Token::new(empty));
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let err = ProxyServer::start(addr, relay, options).unwrap_err();
        assert!(
            matches!(err, spate::server::ServeError::InvalidToken),
            "{empty:?}: {err:?}"
        );
    }
}

#[test]
fn the_catalog_client_dials_tls_and_verifies_the_server() {
    let ours = pki();
    let tls = ServerTls::from_pem(ours.cert_pem.as_bytes(), ours.key_pem.as_bytes()).unwrap();
    let (server, _got) = server(ProxyServerOptions::default().tls(tls));
    let catalog_url = format!("rerun+https://{}", server.addr());
    let quick = || CatalogOptions::default().connect_timeout(Duration::from_secs(5));

    // Trusted: the TLS + HTTP/2 connection works, and the proxy server answers the catalog
    // call it does not serve with a gRPC status (not a transport error).
    let trust = ClientTls::from_ca_pem(ours.ca_pem.as_bytes()).unwrap();
    let client = BlockingCatalogClient::connect(&catalog_url, quick().tls(trust)).unwrap();
    match client.find_dataset("x") {
        Err(CatalogError::Status { code_name, .. }) => assert_eq!(code_name, "Unimplemented"),
        other => panic!("expected UNIMPLEMENTED from the proxy server, got {other:?}"),
    }
    // Not trusted: the dial fails.
    let stranger = ClientTls::from_ca_pem(pki().ca_pem.as_bytes()).unwrap();
    let err = BlockingCatalogClient::connect(&catalog_url, quick().tls(stranger)).unwrap_err();
    assert!(matches!(err, CatalogError::Connect { .. }), "{err:?}");
    assert!(
        spate::ErrorChain(&err)
            .to_string()
            .contains("TLS handshake"),
        "{}",
        spate::ErrorChain(&err)
    );
}

#[test]
fn bad_pem_is_a_typed_error() {
    use spate::net::TlsError;
    let ours = pki();
    assert!(matches!(
        ServerTls::from_pem(ours.cert_pem.as_bytes(), b"nothing"),
        Err(TlsError::NoKey { .. })
    ));
    assert!(matches!(
        ServerTls::from_pem(b"", ours.key_pem.as_bytes()),
        Err(TlsError::NoCertificate { .. })
    ));
    // A key that is not the certificate's.
    let other = pki_key();
    assert!(matches!(
        ServerTls::from_pem(ours.cert_pem.as_bytes(), other.as_bytes()),
        Err(TlsError::Config(_))
    ));
    assert!(matches!(
        ClientTls::from_ca_pem_file("/nonexistent/ca.pem"),
        Err(TlsError::Read { .. })
    ));
}

fn pki_key() -> String {
    rcgen::KeyPair::generate().unwrap().serialize_pem()
}

/// The gRPC sink reads `REDAP_TOKEN` (as the official SDK does) when no token is given: a
/// child process with the variable set streams to a server requiring that token. (Setting the
/// variable in this process would race the other tests' threads.)
#[test]
fn the_grpc_sink_sends_the_token_from_redap_token() {
    let (server, got) = server(ProxyServerOptions::default().token(Token::new("env-secret")));
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "redap_token_child", "--nocapture"])
        .env("REDAP_TOKEN", "env-secret")
        .env("SPATE_TLS_CHILD_URL", server.url())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("child sent"), "the child ran: {text}");
    assert!(!text.contains("env-secret"), "the token leaked: {text}");
    assert!(chunks(&got) > 0);
    assert_eq!(server.counters().calls_unauthenticated, 0);
}

/// The child of `the_grpc_sink_sends_the_token_from_redap_token` (does nothing alone).
#[test]
fn redap_token_child() {
    let Ok(url) = std::env::var("SPATE_TLS_CHILD_URL") else {
        return;
    };
    let options = GrpcSinkOptions::default();
    println!("{options:?}");
    let (complete, sent) = stream(&url, options, 1);
    assert!(complete);
    println!("child sent {sent} chunks");
}
