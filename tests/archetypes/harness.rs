//! The differential-test harness: the official Rerun 0.41 Python SDK logs a case
//! (`tests/interop/sdk_reference.py`), spate logs the same data, and
//! `tests/interop/compare_rrd.py` requires both files to hold the same logical tables
//! (entities, index columns, component descriptors, Arrow types with nested nullability,
//! values), ignoring RowIds, chunk ids and boundaries, `log_time` values and the recording's
//! start time.
//!
//! A test reads:
//!
//! ```ignore
//! let Some(off) = harness::official("transform3d_matches_the_sdk") else { return };
//! let dir = tempfile::tempdir().unwrap();
//! let sdk = off.sdk_reference("transform3d", dir.path());
//! let spate = dir.path().join("transform3d.spate.rrd");
//! // ... log the case with spate into `spate` ...
//! off.assert_same(&sdk, &spate);
//! ```
//!
//! Every subprocess wait is bounded ([`SCRIPT_LIMIT`], [`RECEIVER_LIMIT`]); a process that
//! overstays is killed by PID and the test fails with its output.

use std::ffi::OsStr;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use spate::sink::{FileSink, FileSinkOptions, GrpcSink, IntoSinks};
use spate::{EntityPath, Recording};

use crate::official::official_python;
use crate::procs::{free_port, poll, rerun_binary, url};

/// The longest a script (`sdk_reference.py`, `compare_rrd.py`) may run before it is killed.
pub const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// The longest the official receiver may take to listen, to finish writing, and to exit.
pub const RECEIVER_LIMIT: Duration = Duration::from_secs(30);

/// How long the receiver's file must stay the same size before it counts as complete.
const QUIET: Duration = Duration::from_millis(300);

/// Files written by [`Official::via_official_grpc`] end in this: `rerun --save` stopped by a
/// signal writes no footer (`rerun-format.md` pitfall 15), so [`Official::compare`] has them
/// verified with `--check-footers false`.
pub const RECEIVED_SUFFIX: &str = ".received.rrd";

/// The official Rerun 0.41 tools of the venv (`.venv-rerun`, or `$SPATE_RERUN_VENV`).
pub struct Official {
    /// The venv's python (has the `rerun` SDK and `pyarrow`).
    python: PathBuf,
    /// The real `rerun` binary (`site-packages/rerun_cli/rerun`, not the Python wrapper).
    rerun: PathBuf,
}

/// The official tools, or `None` after a loud SKIP when they are absent locally; panics in CI
/// (`CI=true`), where the differential tests must run. `test` names the test in the SKIP line.
pub fn official(test: &str) -> Option<Official> {
    let python = official_python(test)?;
    let rerun = rerun_binary(&python);
    Some(Official { python, rerun })
}

/// `tests/interop/NAME` in this repository.
fn interop_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

impl Official {
    /// Runs `sdk_reference.py ARGS…` (bounded by [`SCRIPT_LIMIT`]) and returns its stdout;
    /// panics with its output if it fails. For flags the other methods don't cover
    /// (`--perturb`, `--grpc URL`, `--list`).
    pub fn sdk_script<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.python);
        cmd.arg(interop_script("sdk_reference.py")).args(args);
        let (status, stdout, stderr) = run_bounded(&mut cmd, SCRIPT_LIMIT);
        assert!(
            status.success(),
            "sdk_reference.py failed ({status}):\n{stdout}{stderr}"
        );
        stdout
    }

    /// Runs `sdk_reference.py CASE` into `dir/CASE.sdk.rrd` and returns the path.
    pub fn sdk_reference(&self, case: &str, dir: &Path) -> PathBuf {
        let out = dir.join(format!("{case}.sdk.rrd"));
        self.sdk_script([OsStr::new(case), out.as_os_str()]);
        out
    }

    /// Runs `compare_rrd.py`; panics with its output on a difference. Prints the output on
    /// success too.
    pub fn assert_same(&self, sdk: &Path, spate: &Path) {
        match self.compare(sdk, spate) {
            Ok(out) => println!("{out}"),
            Err(out) => panic!(
                "{} differs from the official SDK's {}:\n{out}",
                spate.display(),
                sdk.display()
            ),
        }
    }

    /// Like [`Official::assert_same`] but returns `Err(output)` instead of panicking on a
    /// difference (exit 1: also when an official tool rejects a file); `Ok(output)` when
    /// equal. Still panics on a tool or usage error (exit 2), which is no verdict.
    pub fn compare(&self, sdk: &Path, spate: &Path) -> Result<String, String> {
        self.compare_ignoring(sdk, spate, &[])
    }

    /// [`Official::compare`] with `--ignore-value C` for each of `components` (their columns
    /// are still compared, their values are not).
    pub fn compare_ignoring(
        &self,
        sdk: &Path,
        spate: &Path,
        components: &[&str],
    ) -> Result<String, String> {
        let mut cmd = Command::new(&self.python);
        cmd.env("SPATE_RERUN_BIN", &self.rerun)
            .arg(interop_script("compare_rrd.py"))
            .arg(sdk)
            .arg(spate);
        for c in components {
            cmd.args(["--ignore-value", c]);
        }
        for p in [sdk, spate] {
            if p.to_string_lossy().ends_with(RECEIVED_SUFFIX) {
                cmd.arg("--no-footer").arg(p);
            }
        }
        let (status, stdout, stderr) = run_bounded(&mut cmd, SCRIPT_LIMIT);
        let out = format!("{stdout}{stderr}");
        match status.code() {
            Some(0) => Ok(out),
            Some(1) => Err(out),
            _ => panic!("compare_rrd.py could not compare ({status}):\n{out}"),
        }
    }

    /// Starts the official receiver (`rerun --save DIR/NAME.received.rrd` on a free
    /// 127.0.0.1 port, as `tests/grpc_official.rs` does), gives `send` the URL
    /// (`rerun+http://127.0.0.1:PORT/proxy`) to stream to, and once `send` has returned waits
    /// (bounded) until the file stops growing, stops the receiver with SIGINT (bounded wait,
    /// SIGKILL by PID on timeout) and returns the file (footer-less; see
    /// [`RECEIVED_SUFFIX`]). The receiver's log is `DIR/NAME.receiver.log`. If `send` panics,
    /// the receiver is killed.
    pub fn via_official_grpc(&self, dir: &Path, name: &str, send: impl FnOnce(&str)) -> PathBuf {
        let file = dir.join(format!("{name}{RECEIVED_SUFFIX}"));
        let log = dir.join(format!("{name}.receiver.log"));
        let mut rx = Receiver::start(&self.rerun, &file, &log);
        send(&url(rx.port));
        rx.wait_until_quiet(&file);
        rx.stop();
        file
    }
}

/// The entity at `path` (test data: always valid).
pub fn entity(path: &str) -> EntityPath {
    EntityPath::parse(path).unwrap()
}

/// Logs `case` into `sinks` as `sdk_reference.py` does (application `spate_diff`, recording
/// `diff-{case}`) and shuts down, checking that nothing was lost.
pub fn record_case(case: &str, sinks: impl IntoSinks, log: &dyn Fn(&Recording)) {
    let rec = Recording::builder("spate_diff")
        .recording_id(format!("diff-{case}"))
        .sinks(sinks)
        .start()
        .unwrap();
    log(&rec);
    let report = rec.shutdown(Instant::now() + Duration::from_secs(60));
    assert!(report.is_complete(), "{case}: {report}");
}

/// The differential test of one case, both ways spate delivers: the SDK's reference file
/// against spate's `FileSink` file, and against what the official gRPC receiver saved from
/// spate's `GrpcSink`.
pub fn same_as_sdk(test: &str, case: &str, log: &dyn Fn(&Recording)) {
    let Some(official) = official(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sdk = official.sdk_reference(case, dir.path());
    let file = dir.path().join(format!("spate-{case}.rrd"));
    record_case(
        case,
        FileSink::create(&file, FileSinkOptions::default()).unwrap(),
        log,
    );
    official.assert_same(&sdk, &file);
    let received = official.via_official_grpc(dir.path(), case, |url| {
        record_case(case, GrpcSink::connect(url).unwrap(), log);
    });
    official.assert_same(&sdk, &received);
}

/// Runs `cmd` with its output captured; kills it (by PID) and panics with its output if it
/// runs longer than `limit`. Returns the exit status, stdout and stderr.
fn run_bounded(cmd: &mut Command, limit: Duration) -> (ExitStatus, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let mut status = None;
    let exited = poll(limit, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        exited,
        "{cmd:?} ran longer than {limit:?}, killed:\n{out}{err}"
    );
    (status.unwrap(), out, err)
}

/// The official `rerun --save FILE` receiver; SIGKILLed (by PID) if dropped while running.
struct Receiver {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Receiver {
    /// Starts `rerun --save file --bind 127.0.0.1 --port P` (P free, output to `log`) and
    /// waits (bounded by [`RECEIVER_LIMIT`]) until it accepts TCP connections.
    fn start(rerun: &Path, file: &Path, log: &Path) -> Self {
        let port = free_port();
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(rerun)
            .arg("--save")
            .arg(file)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", rerun.display()));
        let mut rx = Self {
            child,
            log: log.to_owned(),
            port,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let up = poll(RECEIVER_LIMIT, || {
            if let Some(status) = rx.child.try_wait().unwrap() {
                panic!("the receiver exited early ({status}):\n{}", rx.log_text());
            }
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        assert!(
            up,
            "the receiver is not listening after {RECEIVER_LIMIT:?}:\n{}",
            rx.log_text()
        );
        rx
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded by [`RECEIVER_LIMIT`]) until `file`'s size has not changed for
    /// [`QUIET`]: the sender has flushed, so the receiver holds everything; this gives its
    /// file writer the time to catch up.
    fn wait_until_quiet(&self, file: &Path) {
        let size = || std::fs::metadata(file).map_or(0, |m| m.len());
        let (mut last, mut since) = (size(), Instant::now());
        let quiet = poll(RECEIVER_LIMIT, || {
            let now = size();
            if now != last {
                (last, since) = (now, Instant::now());
            }
            since.elapsed() >= QUIET
        });
        assert!(
            quiet,
            "{} still growing after {RECEIVER_LIMIT:?}:\n{}",
            file.display(),
            self.log_text()
        );
    }

    /// SIGINT by PID, then waits (bounded by [`RECEIVER_LIMIT`]) for the exit; SIGKILLs on
    /// timeout (with a loud warning: what the file holds is then compared as it is).
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        let mut status = None;
        let exited = sent.is_ok_and(|s| s.success())
            && poll(RECEIVER_LIMIT, || {
                status = self.child.try_wait().unwrap();
                status.is_some()
            });
        if exited {
            eprintln!("receiver exited on SIGINT: {}", status.unwrap());
        } else {
            eprintln!(
                "!!!!!!!! the receiver (pid {pid}) did not stop on SIGINT within \
                 {RECEIVER_LIMIT:?}: SIGKILL !!!!!!!!\n{}",
                self.log_text()
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
