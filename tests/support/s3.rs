//! moto (an S3-compatible server) for the upload tests: finding it in the tools venv,
//! starting it on a free port, a tiny HTTP/1.1 client to make buckets and read objects
//! (moto checks no signatures), and an HTTP/1.1 proxy that fails or stalls part uploads.
//! `#[path]`-included by `tests/upload.rs`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::procs::{LIMIT, Server, free_port, poll, url};

pub const BUCKET: &str = "spate-test";

/// The tools venv (`$SPATE_RERUN_VENV`, else `./.venv-rerun`).
pub fn venv() -> PathBuf {
    std::env::var_os("SPATE_RERUN_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-rerun"))
}

/// The venv's `moto_server`, or None after a loud SKIP (a failure in CI).
pub fn moto_server(test: &str) -> Option<PathBuf> {
    let bin = venv().join("bin/moto_server");
    if bin.exists() {
        return Some(bin);
    }
    let msg = format!(
        "moto_server not found in {} (run scripts/rerun-tools.sh)",
        venv().display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{msg}: the upload tests must run in CI");
    }
    eprintln!("\n!!!!!!!! SKIP {test}: {msg} !!!!!!!!\n");
    None
}

/// A moto server on 127.0.0.1; killed when dropped.
pub struct Moto {
    pub server: Server,
    bin: PathBuf,
    log: PathBuf,
}

impl Moto {
    /// Starts moto on a free port and creates [`BUCKET`].
    pub fn start(bin: &Path, log: PathBuf) -> Self {
        Self::start_on(bin, free_port(), log)
    }

    /// Starts moto on `port` and creates [`BUCKET`] (moto keeps nothing across restarts).
    pub fn start_on(bin: &Path, port: u16, log: PathBuf) -> Self {
        let p = port.to_string();
        let server = Server::start(bin, &["-H", "127.0.0.1", "-p", &p], port, log.clone());
        let (status, body) = http(port, "PUT", &format!("/{BUCKET}"), &[]);
        assert_eq!(
            status,
            200,
            "create bucket: {}",
            String::from_utf8_lossy(&body)
        );
        Self {
            server,
            bin: bin.to_path_buf(),
            log,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// `AWS_*` settings for this server.
    pub fn env(port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// The object `key` of [`BUCKET`] (None if absent), and its ETag.
    pub fn get(&self, key: &str) -> Option<(Vec<u8>, String)> {
        get_object(self.port(), key)
    }

    /// The keys of [`BUCKET`], sorted.
    pub fn keys(&self) -> Vec<String> {
        list_keys(self.port())
    }
}

pub fn get_object(port: u16, key: &str) -> Option<(Vec<u8>, String)> {
    let (status, head, body) = http_full(port, "GET", &format!("/{BUCKET}/{key}"), &[]);
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "GET {key}: {}", String::from_utf8_lossy(&body));
    let etag = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("etag").then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    Some((body, etag))
}

pub fn list_keys(port: u16) -> Vec<String> {
    let (status, body) = http(
        port,
        "GET",
        &format!("/{BUCKET}?list-type=2&max-keys=1000"),
        &[],
    );
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    let mut keys: Vec<String> = text
        .split("<Key>")
        .skip(1)
        .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_owned()))
        .collect();
    keys.sort();
    keys
}

pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = http_full(port, method, path, body);
    (status, body)
}

/// One HTTP/1.1 request (`Connection: close`): status, response head, body.
pub fn http_full(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let (status, head, len, chunked) = read_head(&mut r).expect("response head");
    let body = read_body(&mut r, len, chunked, true).expect("response body");
    (status, head, body)
}

/// Reads a message head: (status or 0 for a request, the head text, content length, chunked).
fn read_head(r: &mut impl BufRead) -> std::io::Result<(u16, String, Option<usize>, bool)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = None;
    let mut chunked = false;
    for l in head.lines().skip(1) {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok();
            }
            if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    Ok((status, head, len, chunked))
}

/// Reads a body: by length, chunked (de-chunked), or (a response without either) to EOF.
fn read_body(
    r: &mut impl BufRead,
    len: Option<usize>,
    chunked: bool,
    to_eof: bool,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if to_eof {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// What the proxy does to part uploads (`PUT …partNumber=…`).
#[derive(Clone, Copy, Debug)]
pub enum PartFault {
    /// Answer 500 to the first N.
    Fail(u64),
    /// Never answer any (the connection is held until the proxy is dropped).
    Stall,
}

/// An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream`: one request per connection
/// (`Connection: close` both ways), counting what it saw.
pub struct FaultProxy {
    pub port: u16,
    pub parts_seen: Arc<AtomicU64>,
    pub failed: Arc<AtomicU64>,
    pub aborts_seen: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl FaultProxy {
    pub fn start(upstream: u16, fault: PartFault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Self {
            port,
            parts_seen: Arc::default(),
            failed: Arc::default(),
            aborts_seen: Arc::default(),
            stop: Arc::default(),
            held: Arc::default(),
        };
        let (parts, failed, aborts, stop, held) = (
            Arc::clone(&p.parts_seen),
            Arc::clone(&p.failed),
            Arc::clone(&p.aborts_seen),
            Arc::clone(&p.stop),
            Arc::clone(&p.held),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (parts, failed, aborts, held) = (
                    Arc::clone(&parts),
                    Arc::clone(&failed),
                    Arc::clone(&aborts),
                    Arc::clone(&held),
                );
                std::thread::spawn(move || {
                    let _ = serve_one(conn, upstream, fault, &parts, &failed, &aborts, &held);
                });
            }
        });
        p
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn serve_one(
    client: TcpStream,
    upstream: u16,
    fault: PartFault,
    parts: &AtomicU64,
    failed: &AtomicU64,
    aborts: &AtomicU64,
    held: &Mutex<Vec<TcpStream>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut r = BufReader::new(client.try_clone()?);
    let (_, head, len, chunked) = read_head(&mut r)?;
    let body = read_body(&mut r, len, chunked, false)?;
    let request_line = head.lines().next().unwrap_or_default().to_owned();
    let is_part = request_line.starts_with("PUT ") && request_line.contains("partNumber=");
    if request_line.starts_with("DELETE ") && request_line.contains("uploadId=") {
        aborts.fetch_add(1, Ordering::AcqRel);
    }
    let mut client = client;
    if is_part {
        let n = parts.fetch_add(1, Ordering::AcqRel);
        match fault {
            PartFault::Fail(max) if n < max => {
                failed.fetch_add(1, Ordering::AcqRel);
                let msg = b"<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>injected</Message></Error>";
                write!(
                    client,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    msg.len()
                )?;
                client.write_all(msg)?;
                return Ok(());
            }
            PartFault::Stall => {
                held.lock().unwrap().push(client);
                return Ok(());
            }
            PartFault::Fail(_) => {}
        }
    }
    // Forward with `Connection: close` (no chunked request bodies: they were de-chunked).
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut out = without_framing(&head);
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    let mut ur = BufReader::new(up);
    let (_, rhead, rlen, rchunked) = read_head(&mut ur)?;
    let rbody = if request_line.starts_with("HEAD ") {
        Vec::new()
    } else {
        read_body(&mut ur, rlen, rchunked, rlen.is_none() && !rchunked)?
    };
    let mut resp = without_framing(&rhead);
    // A HEAD's Content-Length is the object's size, with no body.
    if request_line.starts_with("HEAD ") {
        if let Some(n) = rlen {
            resp.push_str(&format!("Content-Length: {n}\r\n"));
        }
    } else {
        resp.push_str(&format!("Content-Length: {}\r\n", rbody.len()));
    }
    resp.push_str("Connection: close\r\n\r\n");
    client.write_all(resp.as_bytes())?;
    client.write_all(&rbody)?;
    Ok(())
}

/// An HTTP/1.1 head without its framing headers (`Connection`, `Content-Length`,
/// `Transfer-Encoding`), each line ending in CRLF: the proxy sets its own framing.
fn without_framing(head: &str) -> String {
    let mut out = String::new();
    for (i, line) in head.lines().enumerate() {
        let lower = line.to_ascii_lowercase();
        if i > 0
            && (lower.starts_with("connection:")
                || lower.starts_with("content-length:")
                || lower.starts_with("transfer-encoding:"))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// A child process (e.g. `spate serve`) listening on 127.0.0.1:`port`; SIGKILLed when dropped.
pub struct Child {
    child: std::process::Child,
    log: PathBuf,
    pub port: u16,
}

impl Child {
    /// Starts `cmd` (output to `log`) and waits until it accepts TCP connections on `port`.
    pub fn start(mut cmd: std::process::Command, port: u16, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start the child");
        let mut c = Self { child, log, port };
        let up = poll(LIMIT, || {
            if let Some(status) = c.child.try_wait().unwrap() {
                panic!("exited early ({status}):\n{}", c.log_text());
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "not listening:\n{}", c.log_text());
        c
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIG`signal` by PID and waits (bounded) for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> std::process::ExitStatus {
        let st = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let mut status = None;
        let exited = poll(LIMIT, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(exited, "ignored SIG{signal}:\n{}", self.log_text());
        status.unwrap()
    }

    /// SIGKILL, then waits for the exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}
