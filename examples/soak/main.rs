//! The fault-injection soak (issue 12): logs for N minutes from several threads into one
//! recording with three sinks at once while the sinks' world breaks, then checks that every
//! row is accounted for. Run it through `scripts/soak.sh`, which mounts the tmpfs, builds in
//! release, and runs the official `rerun rrd verify` on every file this leaves behind.
//!
//! ```text
//! soak --minutes 10 --out DIR --tmpfs MOUNTPOINT [--spate target/release/spate] [--seed S]
//! ```
//!
//! The sinks, replaced together by `Recording::set_sinks` whenever the file sink fails (the
//! call replaces the whole set, so each generation is a fresh file sink, a fresh gRPC sink to
//! the same server and a fresh stalling sink):
//!
//! 1. `FileSink` (rotating every `--rotate-mib`) on a small tmpfs that fills up: the sink
//!    fails with ENOSPC and counts its losses; the closed files are moved to `DIR/file/` and
//!    the next generation starts. The I/O backend cycles through io_uring, pwritev and mmap.
//! 2. `GrpcSink` with `SinkPolicy::Block` to a `spate serve --save` child that is SIGKILLed
//!    every 2–6 s and restarted on the same port 0.1–1.5 s later (`DIR/server/`). `Block`,
//!    because the claim under test is the sink's own: while the server is down it buffers
//!    and counts what it drops, and what it had sent over a connection that died is either
//!    sent again or counted.
//! 3. A stalling sink of the soak's own (`SinkPolicy::DropNewest`, 4 MiB queue) that sleeps
//!    0.3–3 s every 3–10 s and decodes every row it receives.
//!
//! At the end it reads every file back with `spate::wire::decode_rrd`, checks each row
//! against its identity (see `load.rs`), does the accounting (`check.rs`), prints the
//! numbers, and writes `DIR/soak.json` and `DIR/files.tsv` (each file with how
//! `rerun rrd verify` must check it, and why). Exit code: 0 when everything adds up, 1 when
//! anything does not, 2 when the soak itself could not run.

mod check;
mod faults;
mod load;

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::json;
use spate::sink::{FileSink, FileSinkOptions, GrpcSink, GrpcSinkOptions, IoBackend};
use spate::stats::SinkStats;
use spate::{Recording, Sink, SinkPolicy, SinkSpec};

use check::{Generation, VerifyMode};
use faults::{ServerConfig, StallLedger, StallSink, Tmpfs};

#[derive(Parser)]
#[command(
    about = "Fault-injection soak: file sink on a filling tmpfs, gRPC to a server killed \
                   and restarted, a stalling sink; checks that every row is accounted for"
)]
struct Args {
    /// How long to log.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Output directory (file segments, server saves, logs, soak.json, files.tsv).
    #[arg(long)]
    out: PathBuf,
    /// The small tmpfs the file sinks write to (mounted by the caller, empty).
    #[arg(long)]
    tmpfs: PathBuf,
    /// The `spate` binary to run `spate serve` from (default: next to this example's
    /// directory, i.e. target/release/spate).
    #[arg(long)]
    spate: Option<PathBuf>,
    /// Seed of the load and the fault schedule (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// File sink rotation size in MiB.
    #[arg(long, default_value_t = 16)]
    rotate_mib: u64,
    /// Also replace the sinks every this many seconds even when the file sink is fine
    /// (exercises `set_sinks` under load, and the report folding the oldest of more than 64
    /// replaced sinks).
    #[arg(long)]
    swap_every: Option<f64>,
}

/// How long the shutdown may take (the gRPC sink's close waits for the server's answer).
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(60);
/// How far past its deadline a call may return before it counts as a hang.
const SLACK: Duration = Duration::from_secs(5);
/// How long a `set_sinks` may take.
const SET_SINKS_LIMIT: Duration = Duration::from_secs(20);
/// How long producers may take to return once told to stop.
const PRODUCER_STOP_LIMIT: Duration = Duration::from_secs(60);
/// How long the server fault loop may take to stop (a restart in progress may retry).
const SERVER_LOOP_LIMIT: Duration = Duration::from_secs(360);
const BACKENDS: [IoBackend; 3] = [IoBackend::Auto, IoBackend::Pwrite, IoBackend::Mmap];

struct Soak {
    args: Args,
    seed: u64,
    url: String,
    tmpfs: Tmpfs,
    ledger: Arc<StallLedger>,
    generations: Vec<Generation>,
    /// Why each file sink failed (the tmpfs fills), with the time into the run.
    fills: Vec<String>,
    /// Generations started by `--swap-every`.
    swaps: u64,
    moved: faults::Moved,
    set_sinks_errors: Vec<String>,
    /// The latest counters seen of every sink, by id (see `check::resolve_sinks`).
    captured: BTreeMap<u64, SinkStats>,
    started: Instant,
}

impl Soak {
    /// A fresh file sink (retrying while the tmpfs is still full: a sink that is closing
    /// holds its last file until it is done), gRPC sink and stalling sink.
    fn sinks(&mut self) -> anyhow::Result<(Vec<SinkSpec>, Generation)> {
        let index = self.generations.len() as u32;
        let stem = format!("gen-{index:04}");
        let base = self.tmpfs.dir.join(format!("{stem}.rrd"));
        let options = FileSinkOptions::default()
            .backend(BACKENDS[index as usize % BACKENDS.len()])
            .rotate_bytes(self.args.rotate_mib << 20);
        let mut attempt = 0;
        let file = loop {
            match FileSink::create(&base, options) {
                Ok(f) => break f,
                Err(e) if attempt < 25 => {
                    attempt += 1;
                    eprintln!("soak: {stem}: {e}; emptying the tmpfs again");
                    std::thread::sleep(Duration::from_millis(200));
                    self.empty_tmpfs()?;
                }
                Err(e) => {
                    return Err(e).context(
                        "no room for a new file sink (a tmpfs too small for the mmap \
                         backend's 64 MiB preallocation?)",
                    );
                }
            }
        };
        let generation = Generation {
            index,
            stem,
            backend: file.backend().to_string(),
            file_sink: file.name(),
            attached: false,
        };
        let grpc = GrpcSink::connect_with(
            &self.url,
            GrpcSinkOptions::default()
                .buffer_bytes(64 << 20)
                .reconnect_backoff(Duration::from_millis(50), Duration::from_secs(1)),
        )?;
        let stall = StallSink::new(index, self.seed, self.ledger.clone());
        let specs = vec![
            SinkSpec::new(file).max_queue_bytes(64 << 20),
            SinkSpec::new(grpc)
                .policy(SinkPolicy::Block)
                .max_queue_bytes(32 << 20),
            SinkSpec::new(stall).max_queue_bytes(4 << 20),
        ];
        Ok((specs, generation))
    }

    fn empty_tmpfs(&mut self) -> anyhow::Result<faults::Moved> {
        let m = self.tmpfs.move_closed()?;
        self.moved.files += m.files;
        self.moved.bytes += m.bytes;
        Ok(m)
    }

    /// Empties the tmpfs and attaches a new generation; `fill` says why the file sink
    /// failed (`None`: a scheduled swap).
    fn next_generation(&mut self, rec: &Recording, fill: Option<&str>) -> anyhow::Result<()> {
        let at = self.started.elapsed().as_secs_f64();
        match fill {
            Some(why) => self.fills.push(format!("{at:.1}s: {why}")),
            None => self.swaps += 1,
        }
        self.empty_tmpfs()?;
        let (specs, mut generation) = self.sinks()?;
        match rec.set_sinks_by(specs, Instant::now() + SET_SINKS_LIMIT) {
            Ok(()) => generation.attached = true,
            Err(e) => self
                .set_sinks_errors
                .push(format!("{at:.1}s: generation {}: {e}", generation.index)),
        }
        self.generations.push(generation);
        Ok(())
    }

    /// The current generation's file sink has failed: why.
    fn file_sink_failure(&mut self, rec: &Recording) -> Option<String> {
        let stats = rec.stats();
        for s in &stats.sinks {
            if !s.name.starts_with("earlier sinks (") {
                self.captured.insert(s.id, s.clone());
            }
        }
        let current = self.generations.iter().rev().find(|g| g.attached)?;
        stats
            .sinks
            .iter()
            .find(|s| s.name == current.file_sink && s.failed)
            .map(|s| s.error.clone().unwrap_or_else(|| "failed".to_owned()))
    }
}

/// Collects producers' results until all are in or `limit` passes; true if all are in.
fn collect_within(
    rx: &std::sync::mpsc::Receiver<(u8, load::Produced)>,
    produced: &mut [Option<load::Produced>],
    limit: Duration,
) -> bool {
    let end = Instant::now() + limit;
    while produced.iter().any(Option::is_none) {
        match rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok((t, p)) => produced[usize::from(t)] = Some(p),
            Err(_) => return false,
        }
    }
    true
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn default_spate() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot find the target directory")?;
    Ok(dir.join("spate"))
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let file_dir = args.out.join("file");
    let server_dir = args.out.join("server");
    std::fs::create_dir_all(&file_dir)?;
    std::fs::create_dir_all(&server_dir)?;
    if std::fs::read_dir(&args.tmpfs)?.next().is_some() {
        bail!("{} is not empty", args.tmpfs.display());
    }
    let port = free_port()?;
    let server_cfg = ServerConfig {
        bin: match &args.spate {
            Some(p) => p.clone(),
            None => default_spate()?,
        },
        port,
        dir: server_dir,
        pid_file: args.out.join("server.pid"),
    };
    let minutes = args.minutes;
    println!(
        "soak: {minutes} min, seed {seed}, server port {port}, tmpfs {}, out {}",
        args.tmpfs.display(),
        args.out.display()
    );
    let mut soak = Soak {
        url: format!("rerun+http://127.0.0.1:{port}/proxy"),
        tmpfs: Tmpfs {
            dir: args.tmpfs.clone(),
            out: file_dir.clone(),
        },
        args,
        seed,
        ledger: Arc::new(StallLedger::default()),
        generations: Vec::new(),
        fills: Vec::new(),
        swaps: 0,
        moved: faults::Moved::default(),
        set_sinks_errors: Vec::new(),
        captured: BTreeMap::new(),
        started: Instant::now(),
    };

    // The server first (the first gRPC sink then connects at once), killed and restarted
    // from its own thread until told to stop.
    let (stop_server, server_stop_rx) = channel::<()>();
    let (server_up_tx, server_up) = channel();
    let kills = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (server_done_tx, server_done) = channel();
    {
        let (cfg, k) = (server_cfg.clone(), kills.clone());
        std::thread::Builder::new()
            .name("soak-server-faults".to_owned())
            .spawn(move || {
                let _ = server_done_tx.send(faults::kill_and_restart(
                    &cfg,
                    seed,
                    (2000, 6000),
                    (100, 1500),
                    &server_stop_rx,
                    &k,
                    &server_up_tx,
                ));
            })?;
    }
    server_up
        .recv_timeout(Duration::from_secs(60))
        .context("the first server did not start")?;

    let (specs, mut first) = soak.sinks()?;
    let rec = Recording::builder("spate-soak")
        .recording_id(format!("soak-{seed:016x}"))
        .sinks(specs)
        .start()?;
    first.attached = true;
    soak.generations.push(first);
    soak.started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let (produced_tx, produced_rx) = channel();
    for t in 0..load::THREADS as u8 {
        let (rec, stop, done) = (rec.clone(), stop.clone(), produced_tx.clone());
        std::thread::Builder::new()
            .name(format!("soak-producer-{t}"))
            .spawn(move || {
                let _ = done.send((t, load::produce(&rec, t, seed, &stop)));
            })?;
    }
    drop(produced_tx);

    let run_for = Duration::from_secs_f64(minutes * 60.0);
    let mut next_progress = Instant::now() + Duration::from_secs(15);
    let swap_every = soak.args.swap_every.map(Duration::from_secs_f64);
    let mut next_swap = swap_every.map(|d| Instant::now() + d);
    while soak.started.elapsed() < run_for {
        // Paces the fault detection; the check does not depend on it.
        std::thread::sleep(Duration::from_millis(100));
        if let Some(why) = soak.file_sink_failure(&rec) {
            soak.next_generation(&rec, Some(&why))?;
        } else if let Some(at) = next_swap.filter(|at| Instant::now() >= *at) {
            soak.next_generation(&rec, None)?;
            next_swap = swap_every.map(|d| at + d);
        }
        if Instant::now() >= next_progress {
            next_progress += Duration::from_secs(15);
            let st = rec.stats();
            println!(
                "  [{:>5.0}s] {} rows logged, {} generations ({} fills), {} server kills, {} stalls",
                soak.started.elapsed().as_secs_f64(),
                st.rows_logged(),
                soak.generations.len(),
                soak.fills.len(),
                kills.load(Ordering::Relaxed),
                soak.ledger.stalls.load(Ordering::Relaxed)
            );
            let _ = std::io::stdout().flush();
        }
    }
    let logged_for = soak.started.elapsed();

    // Stop the load, then the faults, then shut down with a deadline.
    let mut failures: Vec<String> = Vec::new();
    stop.store(true, Ordering::Relaxed);
    let mut produced: Vec<Option<load::Produced>> = (0..load::THREADS).map(|_| None).collect();
    if !collect_within(&produced_rx, &mut produced, PRODUCER_STOP_LIMIT) {
        failures.push(format!(
            "producers still in log() {PRODUCER_STOP_LIMIT:?} after being told to stop"
        ));
    }
    soak.ledger.calm.store(true, Ordering::Relaxed);
    drop(stop_server);
    let (mut server, server_faults) = server_done
        .recv_timeout(SERVER_LOOP_LIMIT)
        .context("the server fault loop did not stop")??;
    soak.file_sink_failure(&rec);
    let shutdown_started = Instant::now();
    let report = rec.shutdown(shutdown_started + SHUTDOWN_DEADLINE);
    let shutdown_took = shutdown_started.elapsed();
    // A producer blocked in log() gets `Closed` from the shutdown.
    collect_within(&produced_rx, &mut produced, PRODUCER_STOP_LIMIT);
    let server_stop = server.stop();
    drop(server);
    let left = soak.empty_tmpfs()?;

    // The checks.
    if shutdown_took > SHUTDOWN_DEADLINE + SLACK {
        failures.push(format!(
            "shutdown took {shutdown_took:?} (deadline {SHUTDOWN_DEADLINE:?})"
        ));
    }
    if let Err(e) = &server_stop {
        failures.push(format!("last server: {e:#}"));
    }
    if left.still_open > 0 {
        failures.push(format!(
            "{} files still open in the tmpfs after shutdown",
            left.still_open
        ));
    }
    let mut ok_ids = HashSet::new();
    let produced: Vec<load::Produced> = produced
        .into_iter()
        .enumerate()
        .map(|(t, p)| {
            p.unwrap_or_else(|| {
                failures.push(format!("producer {t} never returned: its rows are unknown"));
                load::Produced::default()
            })
        })
        .collect();
    for (t, p) in produced.iter().enumerate() {
        if let Some(e) = &p.error {
            failures.push(format!("producer {}: {e}", p.name));
        }
        ok_ids.extend((0..p.ok).map(|seq| load::row_id(t as u8, seq)));
    }
    let (sinks, folded_sinks) = check::resolve_sinks(&report, &soak.captured, &mut failures);
    let stall_received = soak.ledger.received.lock().unwrap().clone();
    let stall_rows = soak.ledger.rows_by_sink.lock().unwrap().clone();
    failures.extend(soak.ledger.bad.lock().unwrap().iter().cloned());
    let outcome = check::check(&check::Inputs {
        seed,
        ok_ids: &ok_ids,
        report: &report,
        sinks: &sinks,
        generations: &soak.generations,
        file_dir: &file_dir,
        server_saves: &server_faults.saves,
        stall_received: &stall_received,
        stall_rows_by_sink: &stall_rows,
    });
    failures.extend(outcome.failures.iter().cloned());

    // The files list for the official verifier.
    let mut tsv = String::new();
    let mut modes: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &outcome.files {
        let (mode, why) = match &f.mode {
            VerifyMode::Full => ("full", String::new()),
            VerifyMode::NoFooter(why) => ("no-footer", why.clone()),
            VerifyMode::Skip(why) => ("skip", why.clone()),
        };
        *modes.entry(mode).or_default() += 1;
        tsv.push_str(&format!("{}\t{mode}\t{why}\n", f.path.display()));
    }
    let by_mode = |m: &str| modes.get(m).copied().unwrap_or(0);
    std::fs::write(soak.args.out.join("files.tsv"), tsv)?;

    let stalls = soak.ledger.stalls.load(Ordering::Relaxed);
    let stalled_s = soak.ledger.stalled_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let points: u64 = produced.iter().map(|p| p.points).sum();
    let bytes: u64 = outcome.files.iter().map(|f| f.bytes).sum();
    let passed = failures.is_empty();
    let numbers = json!({
        "passed": passed,
        "seed": seed,
        "minutes": logged_for.as_secs_f64() / 60.0,
        "rows_logged_ok": ok_ids.len(),
        "points_logged": points,
        "producers": produced.iter().map(|p| json!({"name": p.name, "rows": p.ok, "statics": p.statics})).collect::<Vec<_>>(),
        "faults": {
            "tmpfs_fills": soak.fills.len(), "fills": soak.fills,
            "generations": soak.generations.len(), "scheduled_swaps": soak.swaps,
            "set_sinks_errors": soak.set_sinks_errors,
            "server_kills": server_faults.kills, "server_failed_starts": server_faults.failed_starts,
            "stalls": stalls, "stalled_seconds": stalled_s,
        },
        "files": { "count": outcome.files.len(), "bytes": bytes,
                   "full": by_mode("full"), "no_footer": by_mode("no-footer"), "skipped": by_mode("skip"),
                   "moved_out_of_tmpfs": soak.moved.files },
        "shutdown_seconds": shutdown_took.as_secs_f64(),
        "sinks": sinks.len(),
        "sinks_folded_in_report": folded_sinks,
        "accounting": outcome.numbers,
        "rows_lost_uncounted": outcome.lost_uncounted,
        "failures": failures,
    });
    std::fs::write(
        soak.args.out.join("soak.json"),
        serde_json::to_string_pretty(&numbers)?,
    )?;

    println!(
        "\nsoak: {:.1} min, seed {seed}: {} rows logged Ok ({points} points) from {} threads",
        logged_for.as_secs_f64() / 60.0,
        ok_ids.len(),
        produced.len()
    );
    println!(
        "faults: {} tmpfs fills ({} sink generations, {} by --swap-every), {} server kills ({} \
         failed restarts retried), {stalls} stalls ({stalled_s:.0} s stalled)",
        soak.fills.len(),
        soak.generations.len(),
        soak.swaps,
        server_faults.kills,
        server_faults.failed_starts
    );
    print!("{}", outcome.text);
    println!(
        "files: {} ({:.1} MB) read back: {} complete, {} cut (no footer), {} empty; shutdown \
         took {:.1} s",
        outcome.files.len(),
        bytes as f64 / 1e6,
        by_mode("full"),
        by_mode("no-footer"),
        by_mode("skip"),
        shutdown_took.as_secs_f64()
    );
    println!(
        "rows lost without being counted: {}",
        outcome.lost_uncounted
    );
    if passed {
        println!("soak: PASS (the official verifier still has to pass every file)");
    } else {
        println!("soak: FAIL");
        for f in &failures {
            println!("  - {f}");
        }
    }
    Ok(passed)
}
