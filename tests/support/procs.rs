//! Child processes for the serve tests: `spate serve` and the official `rerun` binary,
//! started directly (not through the Python wrapper, `rerun-format.md` pitfall 14),
//! signalled and killed by PID, with every wait bounded.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const LIMIT: Duration = Duration::from_secs(60);

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn url(port: u16) -> String {
    format!("rerun+http://127.0.0.1:{port}/proxy")
}

/// The real `rerun` binary of the venv whose python is `python`.
pub fn rerun_binary(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args([
            "-c",
            "import rerun_cli,os;print(os.path.dirname(rerun_cli.__file__))",
        ])
        .output()
        .expect("run the venv python");
    assert!(out.status.success(), "{out:?}");
    let dir = String::from_utf8(out.stdout).unwrap();
    let bin = Path::new(dir.trim()).join("rerun");
    assert!(bin.exists(), "{} missing", bin.display());
    bin
}

/// A server process listening on 127.0.0.1:`port`; SIGKILLed when dropped.
pub struct Server {
    child: Child,
    log: PathBuf,
    pub port: u16,
}

impl Server {
    /// Starts `bin args…` (output to `log`) and waits (bounded by [`LIMIT`]) until it
    /// accepts TCP connections on `port`.
    pub fn start(bin: &Path, args: &[&str], port: u16, log: PathBuf) -> Self {
        Self::start_within(bin, args, port, log, LIMIT)
    }

    /// [`Server::start`], waiting at most `limit` for it to listen.
    pub fn start_within(
        bin: &Path,
        args: &[&str],
        port: u16,
        log: PathBuf,
        limit: Duration,
    ) -> Self {
        let out = File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let mut s = Self { child, log, port };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = poll(limit, || {
            if let Some(status) = s.child.try_wait().unwrap() {
                panic!(
                    "{} exited early ({status}):\n{}",
                    bin.display(),
                    s.log_text()
                );
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(up, "not listening after {limit:?}:\n{}", s.log_text());
        s
    }

    /// `spate serve --bind 127.0.0.1 --port P extra…`.
    pub fn spate_serve(extra: &[&str], log: PathBuf) -> Self {
        let port = free_port();
        let p = port.to_string();
        let mut args = vec!["serve", "--bind", "127.0.0.1", "--port", &p];
        args.extend_from_slice(extra);
        Self::start(Path::new(env!("CARGO_BIN_EXE_spate")), &args, port, log)
    }

    /// The official headless server `rerun --serve-grpc`.
    pub fn official_serve_grpc(python: &Path, log: PathBuf) -> Self {
        let port = free_port();
        let p = port.to_string();
        Self::start(
            &rerun_binary(python),
            &["--serve-grpc", "--bind", "127.0.0.1", "--port", &p],
            port,
            log,
        )
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    /// The process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (e.g. "TERM") by PID and waits (bounded by [`LIMIT`]) for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        self.signal_and_wait_within(signal, LIMIT)
    }

    /// [`Server::signal_and_wait`], waiting at most `limit` for the exit.
    pub fn signal_and_wait_within(&mut self, signal: &str, limit: Duration) -> ExitStatus {
        let st = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "kill -{signal} failed");
        let mut status = None;
        let exited = poll(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        assert!(
            exited,
            "ignored SIG{signal} for {limit:?}:\n{}",
            self.log_text()
        );
        status.unwrap()
    }

    /// SIGKILL, then waits for the exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
