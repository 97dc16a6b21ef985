//! The faults: a `spate serve --save` child process killed and restarted, a tmpfs emptied of
//! the files nobody has open any more, and a sink that stalls.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spate::wire::{Compression, EncodedMessage, MessageKind, RrdEncoder, decode_rrd};
use spate::{Sink, SinkError, SinkPolicy};

use crate::load::{Dice, ids_of};

/// How long a server may take to listen, and to exit after SIGTERM.
const SERVER_START_LIMIT: Duration = Duration::from_secs(30);
const SERVER_STOP_LIMIT: Duration = Duration::from_secs(30);
/// How long a SIGKILLed process may take to be reaped.
const REAP_LIMIT: Duration = Duration::from_secs(10);

/// Waits for `child` to exit, at most `limit` (polling: `Child` has no timed wait).
fn wait_within(child: &mut Child, limit: Duration) -> anyhow::Result<Option<ExitStatus>> {
    let end = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= end {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Where the servers run and save.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub bin: PathBuf,
    pub port: u16,
    /// `server-NNNN.rrd` and `server-NNNN.log` go here.
    pub dir: PathBuf,
    /// The PID of the live server is written here (for the script's clean-up trap).
    pub pid_file: PathBuf,
}

/// One `spate serve --save` process.
pub struct Server {
    child: Child,
    pub save: PathBuf,
    pub index: u32,
}

impl Server {
    /// Starts server number `index` and waits (bounded) until it says it listens.
    pub fn start(cfg: &ServerConfig, index: u32) -> anyhow::Result<Self> {
        let save = cfg.dir.join(format!("server-{index:04}.rrd"));
        let log_path = cfg.dir.join(format!("server-{index:04}.log"));
        let mut log = File::create(&log_path)?;
        let mut child = Command::new(&cfg.bin)
            .args(["serve", "--bind", "127.0.0.1", "--port"])
            .arg(cfg.port.to_string())
            .arg("--save")
            .arg(&save)
            // Late readers are not part of the soak: keep the history small.
            .args(["--memory-limit", "16MiB", "--threads", "1"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", cfg.bin.display()))?;
        std::fs::write(&cfg.pid_file, child.id().to_string())?;
        let stderr = child.stderr.take().context("server stderr")?;
        let (listening, up) = channel();
        std::thread::Builder::new()
            .name(format!("soak-server-{index}-log"))
            .spawn(move || {
                // Ends at EOF, when the server exits; dropping `listening` then tells a
                // waiting `start` that it died.
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = writeln!(log, "{line}");
                    if line.contains("listening for gRPC") {
                        let _ = listening.send(());
                    }
                }
            })?;
        let mut server = Self { child, save, index };
        match up.recv_timeout(SERVER_START_LIMIT) {
            Ok(()) => Ok(server),
            Err(e) => {
                server.kill()?;
                let why = match e {
                    RecvTimeoutError::Timeout => {
                        format!("not listening after {SERVER_START_LIMIT:?}")
                    }
                    RecvTimeoutError::Disconnected => "exited before listening".to_owned(),
                };
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                bail!("server {index} {why}: {}", log.trim());
            }
        }
    }

    /// SIGKILL, and reap it (bounded).
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill();
        match wait_within(&mut self.child, REAP_LIMIT)? {
            Some(_) => Ok(()),
            None => bail!(
                "server {} not reaped {REAP_LIMIT:?} after SIGKILL",
                self.index
            ),
        }
    }

    /// SIGTERM (the server finishes its file) and wait (bounded); SIGKILL if it does not
    /// exit in time (an error).
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status()?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed");
        }
        match wait_within(&mut self.child, SERVER_STOP_LIMIT)? {
            Some(status) => Ok(status),
            None => {
                self.kill()?;
                bail!(
                    "server {} did not exit within {SERVER_STOP_LIMIT:?} of SIGTERM",
                    self.index
                )
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.kill();
        }
    }
}

/// What the server fault loop did.
#[derive(Debug, Default)]
pub struct ServerFaults {
    pub kills: u64,
    /// Starts that failed (and were retried).
    pub failed_starts: u64,
    /// Every server's save file, in order.
    pub saves: Vec<PathBuf>,
}

/// Starts a server, retrying a few times (the port may still be held for a moment).
fn start_with_retries(
    cfg: &ServerConfig,
    index: u32,
    faults: &mut ServerFaults,
) -> anyhow::Result<Server> {
    let mut last = None;
    for _ in 0..10 {
        match Server::start(cfg, index) {
            Ok(s) => {
                faults.saves.push(s.save.clone());
                return Ok(s);
            }
            Err(e) => {
                faults.failed_starts += 1;
                last = Some(e);
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }
    Err(last
        .expect("ten attempts")
        .context("server would not start"))
}

/// Kills the server every `up_ms` (random) and restarts it after `down_ms` (random) until
/// `stop` is signalled (its sender dropped); says on `started` when the first one listens,
/// counts kills in `kills`, and returns with a live server.
pub fn kill_and_restart(
    cfg: &ServerConfig,
    seed: u64,
    up_ms: (u64, u64),
    down_ms: (u64, u64),
    stop: &Receiver<()>,
    kills: &AtomicU64,
    started: &Sender<()>,
) -> anyhow::Result<(Server, ServerFaults)> {
    let mut faults = ServerFaults::default();
    let mut dice = Dice::new(seed ^ 0x5e7e);
    let mut server = start_with_retries(cfg, 0, &mut faults)?;
    let _ = started.send(());
    loop {
        match stop.recv_timeout(dice.millis(up_ms.0, up_ms.1)) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => {
                faults.kills = kills.load(Ordering::Relaxed);
                return Ok((server, faults));
            }
        }
        server.kill()?;
        kills.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(dice.millis(down_ms.0, down_ms.1));
        server = start_with_retries(cfg, server.index + 1, &mut faults)?;
    }
}

/// The small tmpfs the file sinks write to, and the directory its files are moved to.
pub struct Tmpfs {
    pub dir: PathBuf,
    pub out: PathBuf,
}

/// What [`Tmpfs::move_closed`] moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moved {
    pub files: u64,
    pub bytes: u64,
    /// Files left because this process still has them open (a sink still closing).
    pub still_open: u64,
}

/// Paths this process has open (`/proc/self/fd`).
fn open_paths() -> HashSet<PathBuf> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Tmpfs {
    /// Moves every file that no sink has open any more out of the tmpfs (copy + remove:
    /// another file system). The only writers are this process's file sinks, and a sink
    /// never reopens a file it closed, so a file not open now is finished.
    pub fn move_closed(&self) -> anyhow::Result<Moved> {
        let open = open_paths();
        let mut moved = Moved::default();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if open.contains(&path) {
                moved.still_open += 1;
                continue;
            }
            let name = path.file_name().context("file name")?;
            let bytes = std::fs::copy(&path, self.out.join(name))
                .with_context(|| format!("copying {} out of the tmpfs", path.display()))?;
            std::fs::remove_file(&path)?;
            moved.files += 1;
            moved.bytes += bytes;
        }
        Ok(moved)
    }
}

/// What the stalling sinks received (one per generation, all sharing this).
#[derive(Debug, Default)]
pub struct StallLedger {
    /// Row id -> times received.
    pub received: Mutex<HashMap<u64, u32>>,
    /// Rows received, per sink name.
    pub rows_by_sink: Mutex<HashMap<String, u64>>,
    pub stalls: AtomicU64,
    pub stalled_ms: AtomicU64,
    /// Rows that did not decode or did not match their identity.
    pub bad: Mutex<Vec<String>>,
    /// No new stalls once set (the end of the run).
    pub calm: AtomicBool,
}

/// A sink of the soak's own: stalls for random periods, and reads back every row it gets.
pub struct StallSink {
    name: String,
    seed: u64,
    dice: Dice,
    next_stall: Instant,
    ledger: Arc<StallLedger>,
}

impl StallSink {
    pub fn new(generation: u32, seed: u64, ledger: Arc<StallLedger>) -> Self {
        let mut dice = Dice::new(seed ^ u64::from(generation) << 32);
        let next_stall = Instant::now() + dice.millis(1000, 8000);
        Self {
            name: format!("stall-{generation:04}"),
            seed,
            dice,
            next_stall,
            ledger,
        }
    }

    /// Frames `msg` as a one-message `.rrd` stream and decodes it.
    fn read_back(&self, msg: &EncodedMessage) -> Result<Vec<u64>, String> {
        let mut rrd = RrdEncoder::new(Compression::Off);
        let mut bytes = rrd.header().to_vec();
        for part in rrd.frame(msg) {
            bytes.extend_from_slice(&part);
        }
        let decoded = decode_rrd(bytes).map_err(|e| format!("{}: {e}", self.name))?;
        ids_of(&decoded, self.seed, &self.name)
    }
}

impl Sink for StallSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    /// A stall must cost this sink only (counted drops), never the recording.
    fn default_policy(&self) -> SinkPolicy {
        SinkPolicy::DropNewest
    }

    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        let now = Instant::now();
        if now >= self.next_stall && !self.ledger.calm.load(Ordering::Relaxed) {
            let stall = self.dice.millis(300, 3000);
            std::thread::sleep(stall);
            self.ledger.stalls.fetch_add(1, Ordering::Relaxed);
            self.ledger
                .stalled_ms
                .fetch_add(stall.as_millis() as u64, Ordering::Relaxed);
            self.next_stall = Instant::now() + self.dice.millis(3000, 10_000);
        }
        if msg.kind() != MessageKind::ArrowMsg {
            return Ok(());
        }
        match self.read_back(msg) {
            Ok(ids) => {
                *self
                    .ledger
                    .rows_by_sink
                    .lock()
                    .unwrap()
                    .entry(self.name.clone())
                    .or_default() += ids.len() as u64;
                let mut received = self.ledger.received.lock().unwrap();
                for id in ids {
                    *received.entry(id).or_default() += 1;
                }
            }
            Err(e) => self.ledger.bad.lock().unwrap().push(e),
        }
        Ok(())
    }
}

/// A path's file name, for messages.
pub fn short(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
