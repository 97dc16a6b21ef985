//! The official `rerun server` (a local Rerun catalog) for tests, and the official Python
//! `CatalogClient`'s view of its datasets (`tests/interop/check_catalog.py`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The official `rerun server`, killed on drop.
pub struct RerunServer {
    child: Child,
    pub port: u16,
}

impl RerunServer {
    /// Starts it on a free loopback port and waits (30 s at most) for "Ready".
    pub fn start(python: &Path) -> Self {
        let venv = python.parent().and_then(Path::parent).unwrap();
        // The real binary (not the Python entry point) so that the PID is the server's.
        let binary = std::fs::read_dir(venv.join("lib"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("site-packages/rerun_cli/rerun"))
            .find(|p| p.exists())
            .unwrap_or_else(|| venv.join("bin/rerun"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&binary)
            .args(["server", "--host", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[rerun server] {line}");
                let _ = tx.send(line);
            }
        });
        let server = Self { child, port };
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("Ready for connections") => return server,
                Ok(_) => {}
                Err(e) => panic!("rerun server on port {port} not ready: {e:?}"),
            }
        }
    }

    pub fn url(&self) -> String {
        format!("rerun+http://127.0.0.1:{}", self.port)
    }
}

impl Drop for RerunServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/interop/check_catalog.py` over `datasets`; its JSON.
pub fn python_view(python: &Path, url: &str, datasets: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/check_catalog.py");
    let out = Command::new(python)
        .arg(script)
        .arg(url)
        .args(datasets)
        .env_remove("REDAP_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check_catalog.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("official CatalogClient saw: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}
