//! Reading back what every sink delivered, and the accounting: for every sink, rows
//! received + rows counted as dropped = rows handed to it; for the recording, every `log()`
//! that returned `Ok` is accounted for. Only rows lost without being counted fail the soak
//! (with rows that do not match their identity, rows nobody logged, and files that do not
//! decode); rows counted as lost that arrived anyway are reported beside them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::{Value, json};
use spate::ShutdownReport;
use spate::stats::SinkStats;
use spate::wire::decode_rrd;

use crate::faults::short;
use crate::load::{ids_of, is_static};

/// One file-sink generation (a `set_sinks` of a fresh file, gRPC and stalling sink).
#[derive(Clone, Debug)]
pub struct Generation {
    pub index: u32,
    /// `gen-NNNN`: its files are `gen-NNNN.00000.rrd`, `gen-NNNN.00001.rrd`, …
    pub stem: String,
    pub backend: String,
    /// The file sink's name in the stats.
    pub file_sink: String,
    /// `set_sinks` succeeded (else the sinks were dropped unstarted).
    pub attached: bool,
}

/// How the official `rerun rrd verify` is to check a file, and why.
#[derive(Clone, Debug)]
pub enum VerifyMode {
    /// Complete file with a valid footer: `rerun rrd verify FILE`.
    Full,
    /// Cut (no End message / footer): `rerun rrd verify --check-footers false FILE`.
    NoFooter(String),
    /// Nothing to verify (an empty file).
    Skip(String),
}

/// One file read back.
#[derive(Debug)]
pub struct FileCheck {
    pub path: PathBuf,
    pub mode: VerifyMode,
    pub bytes: u64,
    pub ids: Vec<u64>,
}

/// Decodes `path` with spate's validating decoder; problems go to `failures`.
pub fn read_file(path: &Path, seed: u64, failures: &mut Vec<String>) -> FileCheck {
    let name = short(path);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            failures.push(format!("{name}: cannot read: {e}"));
            return FileCheck {
                path: path.to_owned(),
                mode: VerifyMode::Full,
                bytes: 0,
                ids: Vec::new(),
            };
        }
    };
    let len = bytes.len() as u64;
    let mut check = FileCheck {
        path: path.to_owned(),
        mode: VerifyMode::Full,
        bytes: len,
        ids: Vec::new(),
    };
    if len == 0 {
        check.mode = VerifyMode::Skip("empty file".to_owned());
        return check;
    }
    let bytes = Bytes::from(bytes);
    let decoded = match decode_rrd(bytes.clone()) {
        Ok(d) => d,
        Err(e) => {
            failures.push(format!("{name}: does not decode: {e}"));
            // Count what precedes the bad message (its header is 16 bytes before the
            // offset reported), so the accounting shows what was really lost.
            let cut = usize::try_from(e.offset.saturating_sub(16)).unwrap_or(usize::MAX);
            match decode_rrd(bytes.slice(..cut.min(bytes.len()))) {
                Ok(d) => d,
                Err(_) => return check,
            }
        }
    };
    if check.bytes > decoded.input_len {
        // Salvaged: the file itself goes to the official tools as it is.
    } else if let Some(t) = &decoded.truncated {
        check.mode = VerifyMode::NoFooter(t.to_string());
    } else if let Some(f) = decoded.footer.as_ref().filter(|f| !f.valid) {
        let problems: Vec<String> = f.problems.iter().map(ToString::to_string).collect();
        failures.push(format!("{name}: invalid footer: {}", problems.join("; ")));
    }
    match ids_of(&decoded, seed, &name) {
        Ok(ids) => check.ids = ids,
        Err(e) => failures.push(e),
    }
    check
}

/// The row counts of a sink as they appear once folded into an "earlier sinks (N)" entry:
/// what a gRPC sink lost itself moves from accepted to dropped (sink failed).
fn folded_rows(s: &SinkStats) -> [u64; 4] {
    let own = s.grpc.as_ref().map_or(0, |g| g.dropped_rows).min(s.rows);
    [
        s.rows - own,
        s.rows_dropped_queue_full,
        s.rows_dropped_sink_failed + own,
        s.rows_dropped_shutdown_deadline,
    ]
}

/// Every sink's final counters. The report keeps the last 64 replaced sinks one by one and
/// folds older ones into one entry; those are taken from the last snapshot taken during the
/// run, which must add up to the folded entry exactly (else the split is unknowable).
/// Returns them with how many came from snapshots.
pub fn resolve_sinks(
    report: &ShutdownReport,
    captured: &BTreeMap<u64, SinkStats>,
    failures: &mut Vec<String>,
) -> (Vec<SinkStats>, usize) {
    let mut from_snapshots = 0;
    let is_folded = |s: &SinkStats| s.name.starts_with("earlier sinks (");
    let mut finals: Vec<SinkStats> = report
        .sinks
        .iter()
        .map(|r| r.stats.clone())
        .filter(|s| !is_folded(s))
        .collect();
    if let Some(folded) = report.sinks.iter().map(|r| &r.stats).find(|s| is_folded(s)) {
        let known: HashSet<u64> = finals.iter().map(|s| s.id).collect();
        let missing: Vec<&SinkStats> = captured
            .values()
            .filter(|s| !known.contains(&s.id))
            .collect();
        let sum = missing.iter().fold([0u64; 4], |mut acc, s| {
            for (a, v) in acc.iter_mut().zip(folded_rows(s)) {
                *a += v;
            }
            acc
        });
        let want = [
            folded.rows,
            folded.rows_dropped_queue_full,
            folded.rows_dropped_sink_failed,
            folded.rows_dropped_shutdown_deadline,
        ];
        if sum != want {
            failures.push(format!(
                "{}: its {} sinks' last snapshots add up to {sum:?} rows (accepted, queue full, \
                 failed, deadline), the folded report says {want:?}",
                folded.name,
                missing.len()
            ));
        }
        from_snapshots = missing.len();
        finals.extend(missing.into_iter().cloned());
    }
    finals.sort_by_key(|s| s.id);
    (finals, from_snapshots)
}

/// Rows dropped by the engine in front of a sink, by reason (reasons with drops only).
fn drops_json(s: &[&SinkStats]) -> Value {
    let sum = |f: fn(&SinkStats) -> u64| s.iter().map(|x| f(x)).sum::<u64>();
    json!({
        "queue_full": sum(|x| x.rows_dropped_queue_full),
        "sink_failed": sum(|x| x.rows_dropped_sink_failed),
        "shutdown_deadline": sum(|x| x.rows_dropped_shutdown_deadline),
    })
}

/// One sink's balance: handed = received + counted dropped + lost uncounted − arrived
/// though counted.
#[derive(Debug, Default, Clone, Copy)]
struct Balance {
    handed: u64,
    counted_dropped: u64,
    received: u64,
}

impl Balance {
    fn expected(&self) -> i128 {
        i128::from(self.handed) - i128::from(self.counted_dropped)
    }
    fn lost_uncounted(&self) -> u64 {
        u64::try_from(self.expected() - i128::from(self.received)).unwrap_or(0)
    }
    fn arrived_though_counted(&self) -> u64 {
        u64::try_from(i128::from(self.received) - self.expected()).unwrap_or(0)
    }
    fn json(&self) -> Value {
        json!({
            "handed": self.handed,
            "counted_dropped": self.counted_dropped,
            "received_unique": self.received,
            "lost_uncounted": self.lost_uncounted(),
            "arrived_though_counted_lost": self.arrived_though_counted(),
        })
    }
}

/// Everything the check needs.
pub struct Inputs<'a> {
    pub seed: u64,
    /// Every row id whose `log()` returned `Ok`.
    pub ok_ids: &'a HashSet<u64>,
    pub report: &'a ShutdownReport,
    pub sinks: &'a [SinkStats],
    pub generations: &'a [Generation],
    /// The file sinks' files (moved out of the tmpfs).
    pub file_dir: &'a Path,
    /// The servers' saves, in order.
    pub server_saves: &'a [PathBuf],
    pub stall_received: &'a HashMap<u64, u32>,
    pub stall_rows_by_sink: &'a HashMap<String, u64>,
}

/// What the check found.
pub struct Outcome {
    pub numbers: Value,
    pub files: Vec<FileCheck>,
    pub lost_uncounted: u64,
    pub failures: Vec<String>,
    pub text: String,
}

/// The sinks of one generation, found by name (file, stall) and creation order (gRPC).
#[derive(Default)]
struct GenSinks<'a> {
    file: Option<&'a SinkStats>,
    grpc: Option<&'a SinkStats>,
    stall: Option<&'a SinkStats>,
}

fn by_generation<'a>(
    sinks: &'a [SinkStats],
    generations: &[Generation],
    failures: &mut Vec<String>,
) -> BTreeMap<u32, GenSinks<'a>> {
    let mut out: BTreeMap<u32, GenSinks<'a>> = BTreeMap::new();
    let mut current = None;
    // Sorted by id: each generation's sinks were started in order file, gRPC, stall.
    for s in sinks {
        if let Some(g) = generations.iter().find(|g| g.file_sink == s.name) {
            current = Some(g.index);
            out.entry(g.index).or_default().file = Some(s);
        } else if s.name.starts_with("grpc:") {
            match current {
                Some(g) => out.entry(g).or_default().grpc = Some(s),
                None => failures.push(format!(
                    "sink {} (id {}) precedes every file sink",
                    s.name, s.id
                )),
            }
        } else if let Some(g) = s
            .name
            .strip_prefix("stall-")
            .and_then(|g| g.parse::<u32>().ok())
        {
            out.entry(g).or_default().stall = Some(s);
        } else {
            failures.push(format!("unknown sink {} in the report", s.name));
        }
    }
    for g in generations.iter().filter(|g| g.attached) {
        let s = out.get(&g.index);
        if !s.is_some_and(|s| s.file.is_some() && s.grpc.is_some() && s.stall.is_some()) {
            failures.push(format!(
                "generation {}: its three sinks are not all in the report",
                g.index
            ));
        }
    }
    out
}

fn handed(s: &SinkStats) -> u64 {
    s.rows + s.rows_dropped()
}

/// Reads back every sink and does the accounting.
pub fn check(inp: &Inputs<'_>) -> Outcome {
    let mut failures = Vec::new();
    let mut text = String::new();
    let st = &inp.report.stats;
    let ok_logs = inp.ok_ids.len() as u64;
    let gens = by_generation(inp.sinks, inp.generations, &mut failures);

    // The engine: every Ok log is in the lanes, drained or abandoned, encoded or failed,
    // and handed to one generation of sinks.
    let handed_by_gen: BTreeMap<u32, u64> = gens
        .iter()
        .filter_map(|(g, s)| s.file.map(|f| (*g, handed(f))))
        .collect();
    for (g, s) in &gens {
        let counts: Vec<u64> = [s.file, s.grpc, s.stall]
            .iter()
            .flatten()
            .map(|x| handed(x))
            .collect();
        if counts.windows(2).any(|w| w[0] != w[1]) {
            failures.push(format!("generation {g}: its sinks were handed different row counts {counts:?} (file, gRPC, stall)"));
        }
    }
    let handed_total: u64 = handed_by_gen.values().sum();
    let mut engine_gap = 0u64;
    let mut equal = |what: &str, a: u64, b: u64| {
        if a != b {
            engine_gap += a.abs_diff(b);
            failures.push(format!("{what}: {a} != {b}"));
        }
    };
    equal(
        "Ok logs vs rows logged + dropped by lanes",
        ok_logs,
        st.rows_logged() + st.rows_dropped(),
    );
    equal(
        "rows logged vs drained + abandoned",
        st.rows_logged(),
        st.rows_drained + st.rows_abandoned,
    );
    equal(
        "rows drained vs encoded + encode errors",
        st.rows_drained,
        st.rows_encoded + st.encode_errors,
    );
    equal(
        "rows encoded vs handed to the generations",
        st.rows_encoded,
        handed_total,
    );

    // File sinks, per generation.
    let mut files = Vec::new();
    let mut file_gens = Vec::new();
    let mut file_total = Balance::default();
    let mut file_lost = 0u64;
    let mut file_extra = 0u64;
    // Only the recordings (a sink may keep other files beside them, e.g. a lock).
    let mut all_files: Vec<PathBuf> = std::fs::read_dir(inp.file_dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "rrd"))
                .collect()
        })
        .unwrap_or_default();
    all_files.sort();
    for g in inp.generations {
        let sink = gens.get(&g.index).and_then(|s| s.file);
        let mut ids = HashSet::new();
        let mut n_files = 0;
        for path in all_files
            .iter()
            .filter(|p| short(p).starts_with(&format!("{}.", g.stem)))
        {
            let mut f = read_file(path, inp.seed, &mut failures);
            if let VerifyMode::NoFooter(cut) = &f.mode {
                match sink.filter(|s| s.failed) {
                    Some(s) => {
                        let why = s.error.as_deref().unwrap_or("failed");
                        f.mode = VerifyMode::NoFooter(format!("file sink failed ({why}); {cut}"));
                    }
                    None if !g.attached => {
                        f.mode = VerifyMode::NoFooter(format!(
                            "set_sinks failed, the sink was dropped unstarted; {cut}"
                        ));
                    }
                    None => failures.push(format!(
                        "{}: cut ({cut}) although its sink did not fail",
                        short(path)
                    )),
                }
            }
            ids.extend(f.ids.iter().copied());
            files.push(f);
            n_files += 1;
        }
        let Some(s) = sink else {
            if !ids.is_empty() {
                failures.push(format!(
                    "generation {} was never attached but its files hold {} rows",
                    g.index,
                    ids.len()
                ));
            }
            continue;
        };
        let phantom = ids.iter().filter(|id| !inp.ok_ids.contains(id)).count();
        if phantom > 0 {
            failures.push(format!("{}: {phantom} rows never logged", g.stem));
        }
        let b = Balance {
            handed: handed(s),
            counted_dropped: s.rows_dropped(),
            received: ids.len() as u64,
        };
        file_total.handed += b.handed;
        file_total.counted_dropped += b.counted_dropped;
        file_total.received += b.received;
        file_lost += b.lost_uncounted();
        file_extra += b.arrived_though_counted();
        if b.lost_uncounted() > 0 {
            failures.push(format!(
                "file sink {} ({}): {} rows accepted, {} found in its {n_files} files: {} lost without being counted",
                g.stem, g.backend, s.rows, ids.len(), b.lost_uncounted()
            ));
        }
        file_gens.push(json!({
            "generation": g.index, "backend": g.backend, "files": n_files,
            "failed": s.failed, "error": s.error, "rows_accepted": s.rows,
            "messages_accepted": s.messages, "messages_dropped": s.dropped(),
            "dropped": drops_json(&[s]), "balance": b.json(),
        }));
    }

    // gRPC: every generation's sink streamed to the same servers; their saves together.
    let grpc: Vec<&SinkStats> = gens.values().filter_map(|s| s.grpc).collect();
    let mut server_counts: HashMap<u64, u32> = HashMap::new();
    for (i, path) in inp.server_saves.iter().enumerate() {
        let mut f = read_file(path, inp.seed, &mut failures);
        if let VerifyMode::NoFooter(cut) = &f.mode {
            if i + 1 < inp.server_saves.len() {
                f.mode = VerifyMode::NoFooter(format!("server SIGKILLed; {cut}"));
            } else {
                failures.push(format!(
                    "{}: the last server was stopped with SIGTERM but its file is cut ({cut})",
                    short(path)
                ));
            }
        }
        for id in &f.ids {
            *server_counts.entry(*id).or_default() += 1;
        }
        files.push(f);
    }
    let phantom = server_counts
        .keys()
        .filter(|id| !inp.ok_ids.contains(id))
        .count();
    if phantom > 0 {
        failures.push(format!("servers: {phantom} rows never logged"));
    }
    let own_dropped: u64 = grpc
        .iter()
        .filter_map(|s| s.grpc.as_ref())
        .map(|g| g.dropped_rows)
        .sum();
    let abandoned: u64 = grpc
        .iter()
        .filter_map(|s| s.grpc.as_ref())
        .map(|g| g.abandoned_messages)
        .sum();
    let grpc_b = Balance {
        handed: grpc.iter().map(|s| handed(s)).sum(),
        counted_dropped: grpc.iter().map(|s| s.rows_dropped()).sum::<u64>() + own_dropped,
        received: server_counts.len() as u64,
    };
    let copies: u64 = server_counts.values().map(|&c| u64::from(c)).sum();
    // Static rows are sent again at every connection by design; a temporal row twice was
    // sent again after a connection died.
    let (mut dup_static, mut dup_temporal) = (0u64, 0u64);
    for (&id, &c) in &server_counts {
        let (t, seq) = ((id >> 40) as u8, id & ((1 << 40) - 1));
        let extra = u64::from(c) - 1;
        if is_static(t, seq) {
            dup_static += extra;
        } else {
            dup_temporal += extra;
        }
    }
    let mut missing: Vec<u64> = inp
        .ok_ids
        .iter()
        .filter(|id| !server_counts.contains_key(id))
        .copied()
        .collect();
    missing.sort_unstable();
    let missing_sample: Vec<String> = missing
        .iter()
        .take(20)
        .map(|id| format!("t{}/seq {}", id >> 40, id & ((1 << 40) - 1)))
        .collect();
    if grpc_b.lost_uncounted() > 0 {
        failures.push(format!(
            "gRPC sinks: {} rows handed, {} counted dropped, {} arrived at the servers: {} lost without being counted{}",
            grpc_b.handed, grpc_b.counted_dropped, grpc_b.received, grpc_b.lost_uncounted(),
            if abandoned > 0 { format!(" ({abandoned} messages abandoned at a close deadline, rows not counted)") } else { String::new() }
        ));
    }
    let sum_grpc = |f: fn(&spate::sink::GrpcSinkStats) -> u64| {
        grpc.iter()
            .filter_map(|s| s.grpc.as_ref())
            .map(f)
            .sum::<u64>()
    };

    // The stalling sinks: exact (they record every row they get).
    let stall: Vec<&SinkStats> = gens.values().filter_map(|s| s.stall).collect();
    let stall_b = Balance {
        handed: stall.iter().map(|s| handed(s)).sum(),
        counted_dropped: stall.iter().map(|s| s.rows_dropped()).sum(),
        received: inp.stall_received.len() as u64,
    };
    let stall_dupes = inp.stall_received.values().filter(|&&c| c > 1).count();
    if stall_dupes > 0 {
        failures.push(format!(
            "stalling sinks got {stall_dupes} rows more than once"
        ));
    }
    for s in &stall {
        let got = inp.stall_rows_by_sink.get(&s.name).copied().unwrap_or(0);
        if got != s.rows {
            failures.push(format!(
                "{}: received {got} rows, the engine counted {} accepted",
                s.name, s.rows
            ));
        }
    }
    let stall_mismatch = stall_b.lost_uncounted() + stall_b.arrived_though_counted();
    if stall_mismatch > 0 {
        failures.push(format!(
            "stalling sinks: {} handed, {} counted dropped, {} received",
            stall_b.handed, stall_b.counted_dropped, stall_b.received
        ));
    }

    let lost_uncounted = engine_gap + file_lost + grpc_b.lost_uncounted() + stall_mismatch;
    let timed_out_sinks: Vec<&str> = inp
        .report
        .sinks
        .iter()
        .filter(|r| r.timed_out)
        .map(|r| r.stats.name.as_str())
        .collect();

    let _ = writeln!(
        text,
        "rows: {ok_logs} logged Ok, {} encoded into {} chunks, {} dropped by lanes, {} failed to encode, {} abandoned",
        st.rows_encoded,
        st.chunks_encoded,
        st.rows_dropped(),
        st.encode_errors,
        st.rows_abandoned
    );
    let _ = writeln!(
        text,
        "file sinks ({} generations): {} rows handed, {} found in {} files, {} counted dropped ({}), {} lost uncounted, {} counted lost but found",
        file_gens.len(),
        file_total.handed,
        file_total.received,
        files.len() - inp.server_saves.len(),
        file_total.counted_dropped,
        drops_text(&gens.values().filter_map(|s| s.file).collect::<Vec<_>>()),
        file_lost,
        file_extra
    );
    let _ = writeln!(
        text,
        "gRPC sinks: {} rows handed, {} arrived at the servers ({} copies: {dup_static} static replays, {dup_temporal} temporal rows sent again), {} counted dropped ({}; {} by the sink itself), {} lost uncounted, {} counted lost but arrived; {} connections, {} abandoned messages",
        grpc_b.handed,
        grpc_b.received,
        copies,
        grpc_b.counted_dropped,
        drops_text(&grpc),
        own_dropped,
        grpc_b.lost_uncounted(),
        grpc_b.arrived_though_counted(),
        sum_grpc(|g| g.connections),
        abandoned
    );
    let _ = writeln!(
        text,
        "stalling sinks: {} rows handed, {} received, {} counted dropped ({}), mismatch {}",
        stall_b.handed,
        stall_b.received,
        stall_b.counted_dropped,
        drops_text(&stall),
        stall_mismatch
    );
    if !timed_out_sinks.is_empty() {
        let _ = writeln!(
            text,
            "sinks that missed their close deadline: {}",
            timed_out_sinks.join(", ")
        );
    }

    let numbers = json!({
        "ok_logs": ok_logs,
        "engine": {
            "rows_logged": st.rows_logged(), "rows_dropped_lane_full": st.rows_dropped(),
            "rows_drained": st.rows_drained, "rows_abandoned": st.rows_abandoned,
            "rows_encoded": st.rows_encoded, "chunks_encoded": st.chunks_encoded,
            "bytes_encoded": st.bytes_encoded, "encode_errors": st.encode_errors,
            "report_complete": inp.report.is_complete(), "report_timed_out": inp.report.timed_out,
            "sinks_timed_out": timed_out_sinks, "unaccounted": engine_gap,
        },
        "file": { "generations": file_gens, "total": file_total.json(),
                  "lost_uncounted": file_lost, "arrived_though_counted_lost": file_extra },
        "grpc": {
            "sinks": grpc.len(), "balance": grpc_b.json(), "dropped": drops_json(&grpc),
            "dropped_by_sink_rows": own_dropped, "abandoned_messages": abandoned,
            "copies_received": copies, "duplicates_static": dup_static, "duplicates_temporal": dup_temporal,
            "missing_at_servers": missing.len(), "missing_sample": missing_sample,
            "connections": sum_grpc(|g| g.connections), "connect_failures": sum_grpc(|g| g.connect_failures),
            "replayed_messages": sum_grpc(|g| g.replayed_messages),
        },
        "stall": { "sinks": stall.len(), "balance": stall_b.json(), "dropped": drops_json(&stall) },
        "lost_uncounted": lost_uncounted,
    });
    Outcome {
        numbers,
        files,
        lost_uncounted,
        failures,
        text,
    }
}

fn drops_text(s: &[&SinkStats]) -> String {
    let sum = |f: fn(&SinkStats) -> u64| s.iter().map(|x| f(x)).sum::<u64>();
    format!(
        "queue full {}, sink failed {}, shutdown deadline {}",
        sum(|x| x.rows_dropped_queue_full),
        sum(|x| x.rows_dropped_sink_failed),
        sum(|x| x.rows_dropped_shutdown_deadline)
    )
}
