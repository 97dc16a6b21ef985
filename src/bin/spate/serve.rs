//! `spate serve`: a Rerun-compatible gRPC endpoint (`MessageProxyService`) that records
//! what the official SDKs (or spate) send to a file and forwards it to other servers,
//! passing every message on as it arrived (no re-encoding).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use spate::catalog::{CatalogOptions, DatasetRegistrar};
use spate::net::{ClientTls, ServerTls, Token};
use spate::server::Relay;
use spate::server::{ProxyServer, ProxyServerOptions};
use spate::sink::grpc::GrpcSinkOptions;
use spate::sink::{FileSink, FileSinkOptions, GrpcSink, IoBackend, SinkExt, SinkPolicy, SinkSpec};
use spate::units::{parse_duration, parse_size};
use spate::upload::{UploadHandle, UploadOptions, Uploader};

use super::Judgement;

pub const LONG_ABOUT: &str = "\
Serve the Rerun gRPC message proxy (rerun+http://HOST:PORT/proxy): official SDKs point
rr.GrpcSink(\"rerun+http://HOST:PORT/proxy\") (or rr.connect_grpc) here. What they send is
written to --save (with rotation) and forwarded to every --forward server without being
re-encoded, and kept for viewers that connect later with ReadMessages, within
--memory-limit: store infos, the latest static chunk per entity and component set, and
temporal data (the oldest temporal data goes first, then the oldest statics).

SIGINT or SIGTERM stops it: the file is finished (End message, footer manifest,
StreamFooter), and a summary is printed on stderr.

With --upload URL (s3://bucket/prefix, configured by the AWS_* environment variables, or
file:///dir), each run writes DIR/NAME-<UTC start>-<pid>[.NNNNN].rrd next to --save
DIR/NAME.rrd, and every finished file is uploaded as PREFIX/<file name> and then deleted
(or moved to DIR/uploaded/ with --keep-local). Files an earlier run left in DIR are uploaded
first. --spool-bytes bounds what waits in DIR: beyond it the oldest waiting files are
deleted (counted, warned). At the stop, uploads get what is left of --shutdown-timeout;
what is not uploaded by then stays in DIR for the next start.
With --register URL --dataset NAME, each uploaded file is then registered into that dataset
of a Rerun catalog (rerun server, Rerun Hub; created if missing) as a layer named after the
file's stem, of the segment named after its recording id; a file is deleted only once it
is uploaded and registered. Registering again after a crash changes nothing.

--tls-cert/--tls-key serve rerun+https; --require-token makes clients send a bearer token.
Forwards and the catalog are dialed with --token (or REDAP_TOKEN), over TLS for
rerun+https URLs, trusting --tls-ca or the system's roots (SSL_CERT_FILE honoured).

The file sink blocks the receivers when it falls behind (nothing is lost; clients are
slowed by HTTP/2 flow control); forwards drop and count when their queue is full, so a slow
viewer never slows the recording.

Clients are untrusted: a request over --max-message-bytes, or whose payload would
decompress past it, ends that client's call before anything is allocated for it; requests
being received and validated share --max-in-flight-bytes; --max-connections,
--max-streams-per-connection, --idle-timeout and --stall-timeout bound what idle or stalled
clients can hold. One client can only end its own call. Memory is bounded by
--memory-limit + --max-in-flight-bytes + --max-message-bytes (decompression) + the sinks'
queues (--queue-bytes each, 64 MiB of relay inbox) + per open connection what HTTP/2 may
buffer (64 MiB window).";

/// Arguments of `spate serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to listen on.
    #[arg(long, default_value_t = 9876)]
    port: u16,
    /// Record everything received to this .rrd file.
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,
    /// Forward everything received to this Rerun gRPC server (repeatable).
    #[arg(long, value_name = "URL")]
    forward: Vec<String>,
    /// Start a new file (PATH.00001.rrd, …) once the current one would exceed SIZE
    /// (e.g. 1GiB, 500MB, 1048576).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    rotate_bytes: Option<u64>,
    /// Start a new file once the current one is this old (e.g. 10m, 30s, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    rotate_interval: Option<Duration>,
    /// File I/O backend: auto, uring, mmap or pwrite.
    #[arg(long, default_value = "auto")]
    backend: IoBackend,
    /// Bytes kept for late ReadMessages readers (store infos, the latest static chunk per
    /// entity and components, temporal chunks; oldest temporal, then static, evicted first).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    memory_limit: u64,
    /// Largest request accepted, and largest payload an LZ4 chunk may decompress to; larger
    /// ones end their call with OUT_OF_RANGE.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    max_message_bytes: u64,
    /// Bytes of requests being received or validated at once, over all clients (a request
    /// waits for room; its client is held back by HTTP/2 flow control).
    #[arg(long, value_name = "SIZE", default_value = "2GiB", value_parser = parse_size)]
    max_in_flight_bytes: u64,
    /// Connections served at once; more wait in the kernel's accept queue.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_connections: usize,
    /// Calls one connection may run at once (HTTP/2 MAX_CONCURRENT_STREAMS).
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_streams_per_connection: u32,
    /// Close a connection that has had no call for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// End a call whose started message gets no further bytes for this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    stall_timeout: Duration,
    /// Queue bound of each sink.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    queue_bytes: u64,
    /// Runtime threads serving connections.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Upload every finished --save file to this object store: s3://bucket/prefix (AWS_*
    /// environment variables) or file:///dir.
    #[arg(long, value_name = "URL", requires = "save")]
    upload: Option<String>,
    /// With --upload: keep uploaded files (moved to DIR/uploaded/) instead of deleting them.
    #[arg(long, requires = "upload")]
    keep_local: bool,
    /// With --upload: most bytes of files waiting for upload, plus the file being written;
    /// beyond it the oldest waiting files are deleted (counted).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, requires = "upload")]
    spool_bytes: Option<u64>,
    /// With --upload: register every uploaded file into --dataset of this Rerun catalog
    /// (rerun+http://HOST:PORT, or rerun+https://), creating the dataset if missing. Each
    /// file is a layer (its file stem) of the segment named after its recording id.
    #[arg(long, value_name = "URL", requires_all = ["upload", "dataset"])]
    register: Option<String>,
    /// With --register: the dataset's name.
    #[arg(long, value_name = "NAME", requires = "register")]
    dataset: Option<String>,
    /// Serve rerun+https with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Trust this PEM CA (instead of the system's roots) for rerun+https --forward servers
    /// and the --register catalog.
    #[arg(long, value_name = "PATH")]
    tls_ca: Option<PathBuf>,
    /// Bearer token sent to --forward servers and the --register catalog (default: the
    /// REDAP_TOKEN environment variable, as the official SDK reads).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SPATE_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Require clients to send this bearer token (`authorization: Bearer TOKEN`); calls
    /// without it end with UNAUTHENTICATED.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SPATE_SERVE_TOKEN",
        hide_env_values = true
    )]
    require_token: Option<String>,
    /// How long to wait for the sinks (and uploads) when stopping.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
}

/// What outgoing connections (forwards, the catalog) trust, and the token they send.
fn client_security(args: &Args) -> anyhow::Result<(Option<ClientTls>, Option<Token>)> {
    let tls = match &args.tls_ca {
        Some(path) => Some(ClientTls::from_ca_pem_file(path).context("--tls-ca")?),
        None => None,
    };
    let token = args
        .token
        .as_deref()
        .map(Token::new)
        .or_else(Token::from_env);
    if token.as_ref().is_some_and(|t| !t.is_valid()) {
        anyhow::bail!("--token (or REDAP_TOKEN) is not a valid header value (visible ASCII only)");
    }
    Ok((tls, token))
}

fn sinks(args: &Args) -> anyhow::Result<(Vec<SinkSpec>, Option<UploadHandle>)> {
    let (tls, token) = client_security(args)?;
    let mut specs = Vec::new();
    let mut uploads = None;
    if let Some(path) = &args.save {
        let mut opts = FileSinkOptions::default().backend(args.backend);
        if let Some(b) = args.rotate_bytes {
            opts = opts.rotate_bytes(b);
        }
        if let Some(d) = args.rotate_interval {
            opts = opts.rotate_interval(d);
        }
        let file = match &args.upload {
            Some(url) => {
                let mut upload_opts = UploadOptions::default().keep_local(args.keep_local);
                if let Some(b) = args.spool_bytes {
                    upload_opts = upload_opts.spool_bytes(b);
                }
                let mut uploader =
                    Uploader::new(url, upload_opts).with_context(|| format!("--upload {url}"))?;
                if let (Some(catalog), Some(dataset)) = (&args.register, &args.dataset) {
                    let mut options = CatalogOptions::default();
                    options.tls.clone_from(&tls);
                    options.token.clone_from(&token);
                    let registrar = DatasetRegistrar::new(catalog, dataset, options)
                        .with_context(|| format!("--register {catalog}"))?;
                    uploader = uploader.registrar(registrar);
                }
                let (file, handle) = uploader
                    .file_sink(path, opts)
                    .with_context(|| format!("--upload {url}"))?;
                uploads = Some(handle);
                file
            }
            None => FileSink::create(path, opts)?,
        };
        specs.push(
            file.with_policy(SinkPolicy::Block)
                .max_queue_bytes(args.queue_bytes),
        );
    }
    for url in &args.forward {
        let mut options = GrpcSinkOptions::default();
        options.tls.clone_from(&tls);
        options.token.clone_from(&token);
        let sink =
            GrpcSink::connect_with(url, options).with_context(|| format!("--forward {url}"))?;
        specs.push(
            sink.with_policy(SinkPolicy::DropNewest)
                .max_queue_bytes(args.queue_bytes),
        );
    }
    Ok((specs, uploads))
}

/// The server's options from the flags (the TLS files read, the token checked).
fn server_options(args: &Args) -> anyhow::Result<ProxyServerOptions> {
    let options = ProxyServerOptions::default()
        .max_message_bytes(usize::try_from(args.max_message_bytes).unwrap_or(usize::MAX))
        .memory_limit(args.memory_limit)
        .max_in_flight_bytes(args.max_in_flight_bytes)
        .max_connections(args.max_connections)
        .max_streams_per_connection(args.max_streams_per_connection)
        .idle_timeout(args.idle_timeout)
        .stall_timeout(args.stall_timeout)
        .threads(args.threads);
    let options = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            options.tls(ServerTls::from_pem_files(cert, key).context("--tls-cert/--tls-key")?)
        }
        _ => options,
    };
    let options = match args.require_token.as_deref().map(Token::new) {
        Some(t) if !t.is_valid() => anyhow::bail!("--require-token is not a valid header value"),
        Some(t) => options.token(t),
        None => options,
    };
    Ok(options)
}

/// Waits for SIGINT or SIGTERM; returns the signal's name.
fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        })
    })
}

pub fn run(args: &Args) -> anyhow::Result<Judgement> {
    let addr = SocketAddr::new(args.bind, args.port);
    // Every flag is checked before anything starts (no spool file, no uploader lock, no
    // leftover upload for a run that then refuses a bad PEM).
    let options = server_options(args)?;
    let (specs, uploads) = sinks(args)?;
    let relay = Relay::start(specs).context("starting the sinks")?;
    // Install the signal handlers before announcing that we listen, so a signal sent right
    // after the announcement is not lost.
    let (signal_tx, signal_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("spate-signals".to_owned())
        .spawn(move || {
            let _ = signal_tx.send(wait_for_signal());
        })?;
    let server = ProxyServer::start(addr, relay, options)?;
    eprintln!(
        "spate serve: listening for gRPC connections on {} ({})",
        server.addr(),
        server.url()
    );
    let signal = signal_rx
        .recv()
        .context("signal thread ended")?
        .context("installing signal handlers")?;
    eprintln!("spate serve: {signal}, finishing");
    let deadline = Instant::now() + args.shutdown_timeout;
    let report = server.shutdown(deadline);
    let c = &report.counters;
    eprintln!(
        "spate serve: {} connections ({} closed idle, {} failed TLS), {} unauthenticated \
         calls, {} calls ({} finished, {} failed, {} rejected, {} stalled, {} panicked), {} \
         messages, {} bytes received",
        c.connections,
        c.connections_idle_closed,
        c.connections_tls_failed,
        c.calls_unauthenticated,
        c.calls_started,
        c.calls_finished,
        c.calls_failed,
        c.calls_rejected,
        c.calls_stalled,
        c.calls_panicked,
        c.messages,
        c.bytes
    );
    eprintln!(
        "spate serve: refused: {} malformed, {} unknown kind, {} invalid, {} oversized, \
         {} out of memory; readers: {} calls, {} messages, {} missed; history: {} bytes, \
         evicted {} temporal, {} static, {} persistent, {} statics replaced",
        c.rejected_malformed,
        c.rejected_unknown_kind,
        c.rejected_invalid,
        c.rejected_oversized,
        c.rejected_out_of_memory,
        c.read_calls,
        c.read_messages,
        c.read_lagged_messages,
        c.history_bytes,
        c.history_evicted,
        c.history_evicted_static,
        c.history_evicted_persistent,
        c.history_replaced_static
    );
    for s in &report.relay.sinks {
        let st = &s.stats;
        eprintln!(
            "spate serve: sink {}: {} messages, {} bytes, dropped {} (queue full) {} (failed) \
             {} (deadline), closed cleanly: {}{}",
            st.name,
            st.messages,
            st.bytes,
            st.dropped_queue_full,
            st.dropped_sink_failed,
            st.dropped_shutdown_deadline,
            s.closed_cleanly,
            st.error
                .as_deref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default()
        );
    }
    let mut uploads_clean = true;
    if let Some(uploads) = uploads {
        // The file sink has closed: its last file is queued. Uploads get what is left of the
        // shutdown timeout; the rest stays in the spool for the next start.
        let idle = uploads.wait_idle(deadline);
        let up = uploads.shutdown(deadline);
        let st = &up.stats;
        eprintln!(
            "spate serve: upload: {} segments ({} bytes, {} parts) uploaded, {} registered, \
             {} failed attempts ({} aborted), {} leftovers from earlier runs ({} torn), \
             {} pending ({} bytes) left in the spool, {} dropped ({} bytes) by --spool-bytes, \
             {} given up ({} bytes, left in the spool), {} uploaded but not removed{}",
            st.uploaded_segments,
            st.uploaded_bytes,
            st.uploaded_parts,
            st.registered_segments,
            st.failed_attempts,
            st.aborted_uploads,
            st.leftover_segments,
            st.torn_segments,
            up.pending.len(),
            st.pending_bytes,
            st.dropped_segments,
            st.dropped_bytes,
            st.given_up_segments,
            st.given_up_bytes,
            st.unremoved_local,
            st.last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
        for name in &st.dropped {
            eprintln!("spate serve: upload: dropped {name}");
        }
        for path in &up.pending {
            eprintln!("spate serve: upload: pending {}", path.display());
        }
        for g in &st.given_up {
            eprintln!("spate serve: upload: gave up {}: {}", g.name, g.reason);
        }
        uploads_clean =
            idle && up.pending.is_empty() && st.dropped_segments == 0 && st.given_up_segments == 0;
    }
    Ok(if report.relay.is_complete() && uploads_clean {
        Judgement::Clean
    } else {
        Judgement::Problems
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1XB").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("-1s").is_err());
    }
}
