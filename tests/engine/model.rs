//! A model-based test of the engine: seeded random runs of a `Recording` — 1 to 8 logging
//! threads (random entities, sizes, timelines, static rows; clouds, rows of a generic
//! archetype carrying the same positions column, and `send_columns` batches of up to 300
//! rows), `flush`, `set_sinks` (memory,
//! file, null, failing, panicking and stalling sinks; `Block` and `DropNewest`), and a
//! `shutdown` at a random point — checked against a reference model of what must hold:
//!
//! - every row whose `log()` returned `Ok` is counted by the lanes (accepted or dropped);
//!   every accepted row is drained, then encoded or counted as an encode error;
//! - for every sink, each row dispatched to it is delivered exactly once or counted dropped
//!   with a reason (the tee's sinks of one generation agree on what they were handed), and
//!   the engine's counters agree with what the sink really received;
//! - a row goes to one generation of sinks only; the controlling thread's rows go to the
//!   generation that was current when it logged them;
//! - per thread and entity, rows arrive in logging order;
//! - a run with no loss delivers every `Ok` row exactly once; a flush that returns `Ok`
//!   means the rows logged before it were delivered;
//! - every call returns by its deadline.
//!
//! CI runs a fixed number of cases; `scripts/model.sh` runs it for as long as asked.
//! Environment: `SPATE_MODEL_CASES` (default 40), `SPATE_MODEL_SECONDS` (run until then,
//! instead of a case count), `SPATE_MODEL_SEED` (first seed; a failure prints the seed
//! that reproduces it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, ListArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};

use spate::sink::{FileSink, FileSinkOptions, NullSink};
use spate::wire::{DecodedRrd, EncodedMessage};
use spate::{
    BatchPolicy, ComponentColumn, ComponentDescriptor, DynamicArchetype, EntityPath, LanePolicy,
    MemorySink, MemorySinkHandle, Points3D, Recording, RecordingError, ShutdownReport, Sink,
    SinkError, SinkPolicy, SinkSpec, TimeColumn, Timeline,
};

use crate::rng::Rng;

/// How long past its deadline a call may return (scheduling on a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Memory,
    File,
    Null,
    /// Accepts this many messages, then returns errors.
    Failing(u64),
    /// Accepts this many messages, then panics.
    Panicking(u64),
    /// Stalls this long on every n-th message.
    Stalling(u64, Duration),
}

#[derive(Clone, Copy, Debug)]
struct SinkPlan {
    kind: Kind,
    policy: SinkPolicy,
    queue_bytes: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Log {
        entity: u8,
        points: usize,
        shape: u8,
        is_static: bool,
    },
    /// A row of the same data through the generic path (`DynamicArchetype`).
    Generic {
        entity: u8,
        points: usize,
    },
    /// `rows` rows at once (`send_columns`), one point each, at `frame` = their seqs.
    Columns {
        entity: u8,
        rows: u32,
    },
    Flush(Duration),
    /// Only the controlling thread (0) changes sinks.
    SetSinks(Vec<SinkPlan>, Duration),
    Yield(u32),
}

#[derive(Debug)]
struct Plan {
    lane_policy: LanePolicy,
    lane_bytes: u64,
    batch: BatchPolicy,
    sinks: Vec<SinkPlan>,
    threads: Vec<Vec<Op>>,
    /// Yields before the main thread shuts down, and the shutdown's deadline.
    shutdown_after: u32,
    shutdown_deadline: Duration,
}

fn sink_plan(rng: &mut Rng) -> SinkPlan {
    let kind = match rng.below(10) {
        0..=2 => Kind::Memory,
        3 => Kind::File,
        4 => Kind::Null,
        5 => Kind::Failing(rng.below(40)),
        6 => Kind::Panicking(rng.below(40)),
        _ => Kind::Stalling(1 + rng.below(30), rng.millis(5, 200)),
    };
    SinkPlan {
        kind,
        policy: if rng.chance(60) {
            SinkPolicy::Block
        } else {
            SinkPolicy::DropNewest
        },
        queue_bytes: match rng.below(3) {
            0 => 1,
            1 => 64 * 1024,
            _ => 64 << 20,
        },
    }
}

fn sinks_plan(rng: &mut Rng) -> Vec<SinkPlan> {
    (0..1 + rng.below(3)).map(|_| sink_plan(rng)).collect()
}

fn plan(seed: u64) -> Plan {
    let mut rng = Rng(seed);
    let threads = 1 + rng.below(8) as usize;
    let mut set_sinks_left = 15;
    let threads = (0..threads)
        .map(|t| {
            (0..20 + rng.below(400))
                .map(|_| match rng.below(100) {
                    0..=4 => Op::Generic {
                        entity: rng.below(3) as u8,
                        points: if rng.chance(5) { 30_000 } else { 1 },
                    },
                    5..=7 => Op::Columns {
                        entity: rng.below(3) as u8,
                        rows: 1 + rng.below(300) as u32,
                    },
                    8..=84 => Op::Log {
                        entity: rng.below(3) as u8,
                        points: match rng.below(50) {
                            0 => 30_000, // 360 kB: a pass-through chunk
                            1..=5 => 1 + rng.below(2000) as usize,
                            _ => 1,
                        },
                        shape: rng.below(3) as u8,
                        is_static: rng.chance(5),
                    },
                    85..=88 => Op::Flush(rng.millis(20, 2000)),
                    89..=91 if t == 0 && set_sinks_left > 0 => {
                        set_sinks_left -= 1;
                        Op::SetSinks(sinks_plan(&mut rng), rng.millis(20, 2000))
                    }
                    _ => Op::Yield(rng.below(200) as u32),
                })
                .collect()
        })
        .collect();
    Plan {
        lane_policy: if rng.chance(70) {
            LanePolicy::Block
        } else {
            LanePolicy::DropNewest
        },
        lane_bytes: if rng.chance(30) { 256 * 1024 } else { 64 << 20 },
        batch: BatchPolicy {
            max_rows: [1, 4, 64, usize::MAX][rng.below(4) as usize],
            max_delay: rng.millis(0, 20),
            ..BatchPolicy::live()
        },
        sinks: sinks_plan(&mut rng),
        threads,
        shutdown_after: rng.below(20_000) as u32,
        shutdown_deadline: rng.millis(300, 4000),
    }
}

/// A test sink that forwards what it accepts to a memory sink, so what it really received
/// can be decoded afterwards.
struct Faulty {
    kind: Kind,
    seen: u64,
    inner: MemorySink,
}

impl Sink for Faulty {
    fn name(&self) -> String {
        format!("{:?}", self.kind)
    }
    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        let n = self.seen;
        self.seen += 1;
        match self.kind {
            Kind::Failing(ok) if n >= ok => {
                return Err(SinkError::Io(std::io::Error::other(format!(
                    "model sink fails at {n}"
                ))));
            }
            Kind::Panicking(ok) if n >= ok => panic!("model sink panics at {n}"),
            Kind::Stalling(every, stall) if n % every == every - 1 => std::thread::sleep(stall),
            _ => {}
        }
        self.inner.write(msg)
    }
}

/// What a sink really received, read after the run.
enum Received {
    Memory(MemorySinkHandle),
    File(std::path::PathBuf),
    Uncounted,
}

struct Built {
    spec: SinkSpec,
    received: Received,
}

fn build(p: &SinkPlan, dir: &std::path::Path, n: &mut usize) -> Built {
    *n += 1;
    let (spec, received) = match p.kind {
        Kind::Memory => {
            let (s, h) = MemorySink::new();
            (SinkSpec::new(s), Received::Memory(h))
        }
        Kind::File => {
            let path = dir.join(format!("s{n}.rrd"));
            let s = FileSink::create(&path, FileSinkOptions::default()).expect("file sink");
            (SinkSpec::new(s), Received::File(path))
        }
        Kind::Null => (SinkSpec::new(NullSink), Received::Uncounted),
        kind => {
            let (inner, h) = MemorySink::new();
            let s = Faulty {
                kind,
                seen: 0,
                inner,
            };
            (SinkSpec::new(s), Received::Memory(h))
        }
    };
    Built {
        spec: spec.policy(p.policy).max_queue_bytes(p.queue_bytes),
        received,
    }
}

/// The positions column's descriptor, as `Points3D` writes it (so every kind of row
/// decodes the same way).
fn positions_descriptor() -> ComponentDescriptor {
    ComponentDescriptor::new(
        "rerun.archetypes.Points3D",
        "Points3D:positions",
        "rerun.components.Position3D",
    )
}

/// `[x, y, z]` points as a fixed-size-list array.
fn positions(points: &[[f32; 3]]) -> FixedSizeListArray {
    let flat: Vec<f32> = points.iter().flatten().copied().collect();
    FixedSizeListArray::new(
        Arc::new(Field::new_list_field(DataType::Float32, false)),
        3,
        Arc::new(Float32Array::from(flat)),
        None,
    )
}

/// A list column with one instance per row.
fn one_per_row(values: ArrayRef) -> ListArray {
    let offsets: Vec<i32> = (0..=values.len() as i32).collect();
    ListArray::new(
        Arc::new(Field::new_list_field(values.data_type().clone(), true)),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    )
}

/// The entity index a logging op writes to.
fn op_entity(op: &Op) -> u8 {
    match op {
        Op::Log { entity, .. } | Op::Generic { entity, .. } | Op::Columns { entity, .. } => *entity,
        _ => unreachable!("not a logging op: {op:?}"),
    }
}

/// Runs a logging op of thread `t` whose first row is `seq`: how many rows it logs (seqs
/// `seq..seq + rows`), and what the call returned.
fn log_op(
    op: &Op,
    t: u8,
    seq: u32,
    rec: &Recording,
    entities: &[EntityPath],
) -> (u32, Result<(), RecordingError>) {
    let e = &entities[op_entity(op) as usize];
    let point = |q: u32| [q as f32, f32::from(t), f32::from(op_entity(op))];
    let at_seq = || rec.set_time_sequence("frame", i64::from(seq));
    match op {
        Op::Log {
            points,
            shape,
            is_static,
            ..
        } => {
            let p = Points3D::new(vec![point(seq); *points]);
            let p = match shape {
                0 => p,
                1 => p.with_radii([0.1f32]),
                _ => p.with_colors([0x00ff_00ffu32]),
            };
            let result = if *is_static {
                rec.log_static(e, &p)
            } else {
                at_seq().and_then(|()| rec.log(e, &p))
            };
            (1, result)
        }
        Op::Generic { points, .. } => {
            let row = DynamicArchetype::any_values().with_descriptor(
                positions_descriptor(),
                Arc::new(positions(&vec![point(seq); *points])),
            );
            (1, at_seq().and_then(|()| rec.log(e, &row)))
        }
        Op::Columns { rows, .. } => {
            let seqs = seq..seq + rows;
            let points: Vec<[f32; 3]> = seqs.clone().map(point).collect();
            let column = ComponentColumn::new(
                positions_descriptor(),
                one_per_row(Arc::new(positions(&points))),
            );
            let frames = TimeColumn::new(
                Timeline::sequence("frame").unwrap(),
                seqs.map(i64::from).collect(),
            );
            (*rows, rec.send_columns(e, vec![frames], vec![column]))
        }
        _ => unreachable!("not a logging op: {op:?}"),
    }
}

/// A row's identity: (thread, entity, seq).
type RowKey = (u8, u8, u32);

/// Rows in the order a sink received them (entity "/t{t}/e{e}", the sequence number in x).
fn rows_of(decoded: &DecodedRrd) -> Vec<RowKey> {
    crate::common::decoded_rows(decoded)
        .into_iter()
        .map(|(path, _, _, x)| {
            let mut parts = path.trim_start_matches('/').split('/');
            let t: u8 = parts.next().unwrap()[1..].parse().unwrap();
            let e: u8 = parts.next().unwrap()[1..].parse().unwrap();
            (t, e, x as u32)
        })
        .collect()
}

fn received_rows(r: &Received) -> Option<Vec<RowKey>> {
    match r {
        Received::Memory(h) => Some(rows_of(&h.decode().expect("a valid stream"))),
        Received::File(path) => {
            let bytes = std::fs::read(path).expect("read the file");
            Some(rows_of(
                &spate::wire::decode_rrd(bytes).expect("a valid file"),
            ))
        }
        Received::Uncounted => None,
    }
}

/// What each thread did.
#[derive(Default)]
struct Trace {
    /// Rows whose `log()` returned `Ok`, in order.
    ok: Vec<RowKey>,
    /// For thread 0: the generation current when each Ok row was logged.
    generation_of: HashMap<RowKey, usize>,
    /// Rows logged since this thread's previous flush that returned (with `Ok` or with its
    /// losses), and before one that returned `Ok`: they were delivered.
    flushed_ok: Vec<RowKey>,
    /// Calls that came back later than their deadline allows: (what, late by).
    late: Vec<(String, Duration)>,
}

fn run_thread(
    t: u8,
    ops: &[Op],
    rec: &Recording,
    dir: &std::path::Path,
    generations: &Mutex<Vec<Vec<Built>>>,
    sink_counter: &Mutex<usize>,
) -> Trace {
    let mut trace = Trace::default();
    let mut seq = 0u32;
    let mut generation = 0usize;
    // Rows logged since the previous flush that reported (Ok or its losses).
    let mut unflushed: Vec<RowKey> = Vec::new();
    let entities: Vec<EntityPath> = (0..3)
        .map(|e| EntityPath::parse(&format!("t{t}/e{e}")).unwrap())
        .collect();
    let timed = |trace: &mut Trace, what: &str, limit: Duration, started: Instant| {
        let took = started.elapsed();
        if took > limit + SLACK {
            trace.late.push((what.to_owned(), took - limit));
        }
    };
    for op in ops {
        match op {
            Op::Log { .. } | Op::Generic { .. } | Op::Columns { .. } => {
                let (rows, result) = log_op(op, t, seq, rec, &entities);
                match result {
                    Ok(()) => {
                        for key in (seq..seq + rows).map(|q| (t, op_entity(op), q)) {
                            trace.ok.push(key);
                            unflushed.push(key);
                            if t == 0 {
                                trace.generation_of.insert(key, generation);
                            }
                        }
                    }
                    Err(RecordingError::Closed) => return trace,
                    Err(other) => panic!("{op:?}: {other}"),
                }
                seq += rows;
            }
            Op::Flush(limit) => {
                let started = Instant::now();
                let r = rec.flush(started + *limit);
                timed(&mut trace, "flush", *limit, started);
                match r {
                    Ok(()) => trace.flushed_ok.append(&mut unflushed),
                    Err(RecordingError::Closed) => return trace,
                    // Reported: the next flush speaks of what comes after.
                    Err(RecordingError::Lost(_)) => unflushed.clear(),
                    // Not reported: the next flush still speaks of these rows.
                    Err(RecordingError::Deadline(_)) => {}
                    Err(other) => panic!("flush: {other}"),
                }
            }
            Op::SetSinks(plans, limit) => {
                let mut built: Vec<Built> = {
                    let mut n = sink_counter.lock().unwrap();
                    plans.iter().map(|p| build(p, dir, &mut n)).collect()
                };
                let specs: Vec<SinkSpec> = built
                    .iter_mut()
                    .map(|b| std::mem::replace(&mut b.spec, SinkSpec::new(NullSink)))
                    .collect();
                let started = Instant::now();
                let r = rec.set_sinks_by(specs, started + *limit);
                timed(&mut trace, "set_sinks", *limit, started);
                match r {
                    Ok(()) => {
                        let mut g = generations.lock().unwrap();
                        g.push(built);
                        generation = g.len() - 1;
                    }
                    Err(RecordingError::Closed) => return trace,
                    Err(RecordingError::Deadline(_)) => {}
                    Err(other) => panic!("set_sinks: {other}"),
                }
            }
            Op::Yield(n) => {
                for _ in 0..*n {
                    std::thread::yield_now();
                }
            }
        }
    }
    trace
}

fn run_case(seed: u64) -> Result<(), String> {
    let plan = plan(seed);
    let dir = tempfile::tempdir().unwrap();
    let sink_counter = Mutex::new(0usize);
    let first: Vec<Built> = {
        let mut n = sink_counter.lock().unwrap();
        plan.sinks
            .iter()
            .map(|p| build(p, dir.path(), &mut n))
            .collect()
    };
    let mut first = first;
    let specs: Vec<SinkSpec> = first
        .iter_mut()
        .map(|b| std::mem::replace(&mut b.spec, SinkSpec::new(NullSink)))
        .collect();
    let rec = Recording::builder("model")
        .sinks(specs)
        .lane_policy(plan.lane_policy)
        .lane_capacity(plan.lane_bytes)
        .batch(plan.batch)
        .start()
        .map_err(|e| e.to_string())?;
    let generations = Mutex::new(vec![first]);
    let start = Barrier::new(plan.threads.len() + 1);
    let (traces, report, shutdown_took) = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .threads
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (rec, dir, generations, sink_counter, start) =
                    (&rec, dir.path(), &generations, &sink_counter, &start);
                s.spawn(move || {
                    start.wait();
                    run_thread(t as u8, ops, rec, dir, generations, sink_counter)
                })
            })
            .collect();
        start.wait();
        for _ in 0..plan.shutdown_after {
            std::thread::yield_now();
        }
        let started = Instant::now();
        let report = rec.shutdown(started + plan.shutdown_deadline);
        let took = started.elapsed();
        let traces: Vec<Trace> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (traces, report, took)
    });
    check(
        &plan,
        &traces,
        &report,
        shutdown_took,
        &generations.into_inner().unwrap(),
    )
}

fn check(
    plan: &Plan,
    traces: &[Trace],
    report: &ShutdownReport,
    shutdown_took: Duration,
    generations: &[Vec<Built>],
) -> Result<(), String> {
    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }
    let stats = &report.stats;
    // Every call returned by its deadline.
    ensure!(
        shutdown_took <= plan.shutdown_deadline + SLACK,
        "shutdown took {shutdown_took:?} for a deadline of {:?}",
        plan.shutdown_deadline
    );
    for (t, trace) in traces.iter().enumerate() {
        ensure!(
            trace.late.is_empty(),
            "thread {t}: late calls {:?}",
            trace.late
        );
    }

    // The lanes count every Ok row; the drain takes every accepted row.
    let ok: usize = traces.iter().map(|t| t.ok.len()).sum();
    ensure!(
        stats.rows_logged() + stats.rows_dropped() == ok as u64,
        "lanes counted {} + {} dropped, {ok} logs returned Ok",
        stats.rows_logged(),
        stats.rows_dropped()
    );
    ensure!(
        stats.rows_drained + stats.rows_abandoned == stats.rows_logged(),
        "drained {} + abandoned {} != logged {}",
        stats.rows_drained,
        stats.rows_abandoned,
        stats.rows_logged()
    );
    ensure!(
        stats.rows_encoded + stats.encode_errors == stats.rows_drained,
        "encoded {} + failed {} != drained {}",
        stats.rows_encoded,
        stats.encode_errors,
        stats.rows_drained
    );
    ensure!(
        report.timed_out || stats.rows_abandoned == 0,
        "{} rows abandoned but the report is not timed out",
        stats.rows_abandoned
    );

    // Every sink attached is in the report, once, in generation order.
    let attached: usize = generations.iter().map(Vec::len).sum();
    ensure!(
        report.sinks.len() == attached,
        "{} sink reports for {attached} sinks",
        report.sinks.len()
    );
    let by_id: BTreeMap<u64, usize> = report
        .sinks
        .iter()
        .enumerate()
        .map(|(i, s)| (s.stats.id, i))
        .collect();
    ensure!(by_id.len() == attached, "sink ids are not unique");
    // Report order: the current sinks first, then the replaced ones (still closing, then
    // closed); ids grow with creation, so sorting those by id gives generation order.
    let last = generations.len() - 1;
    let current = generations[last].len();
    let mut gen_reports: Vec<Vec<&spate::SinkReport>> = vec![Vec::new(); generations.len()];
    gen_reports[last].extend(report.sinks[..current].iter());
    let mut rest: Vec<&spate::SinkReport> = report.sinks[current..].iter().collect();
    rest.sort_by_key(|r| r.stats.id);
    let mut it = rest.into_iter();
    for (g, sinks) in generations.iter().enumerate().take(last) {
        for _ in sinks {
            gen_reports[g].push(it.next().ok_or("missing a replaced sink's report")?);
        }
    }

    // Per generation: the tee's sinks agree on what they were handed; the generations
    // together were handed every encoded row.
    let mut handed_total = 0u64;
    let mut delivered_to: HashMap<RowKey, usize> = HashMap::new();
    let mut lossless_union: HashSet<RowKey> = HashSet::new();
    let mut every_generation_lossless = true;
    for (g, reports) in gen_reports.iter().enumerate() {
        let handed: Vec<u64> = reports
            .iter()
            .map(|r| r.stats.rows + r.stats.rows_dropped())
            .collect();
        ensure!(
            handed.windows(2).all(|w| w[0] == w[1]),
            "generation {g}: sinks were handed different row counts {handed:?}: {report}"
        );
        handed_total += handed.first().copied().unwrap_or(0);
        let mut lossless_here = false;
        for (built, r) in generations[g].iter().zip(reports) {
            let s = &r.stats;
            let Some(rows) = received_rows(&built.received) else {
                continue;
            };
            // A sink's stream opens with the recording's preamble (SetStoreInfo, then the
            // properties), as far as the sink took it.
            if let Received::Memory(h) = &built.received {
                let msgs = h.messages();
                let preamble = msgs.iter().take(crate::common::PREAMBLE_MESSAGES as usize);
                ensure!(
                    preamble.clone().all(crate::common::is_preamble)
                        && msgs
                            .first()
                            .is_none_or(|m| { m.kind() == spate::wire::MessageKind::SetStoreInfo }),
                    "generation {g} sink {}: the stream does not open with the preamble: {:?}",
                    s.name,
                    msgs.iter().take(3).map(|m| m.kind()).collect::<Vec<_>>()
                );
            }
            // The engine's count agrees with what the sink really got (a sink given up on
            // at its deadline may still finish the write it was in).
            ensure!(
                rows.len() as u64 == s.rows || (r.timed_out && rows.len() as u64 >= s.rows),
                "generation {g} sink {}: received {} rows, counted {}: {r}",
                s.name,
                rows.len(),
                s.rows
            );
            let mut seen = HashSet::new();
            let mut last_seq: HashMap<(u8, u8), u32> = HashMap::new();
            for key in &rows {
                ensure!(seen.insert(*key), "sink {} got {key:?} twice", s.name);
                let (t, e, q) = *key;
                if let Some(prev) = last_seq.insert((t, e), q) {
                    ensure!(prev < q, "sink {}: {key:?} after seq {prev}", s.name);
                }
                if let Some(other) = delivered_to.insert(*key, g)
                    && other != g
                {
                    return Err(format!("{key:?} went to generations {other} and {g}"));
                }
            }
            if s.rows_dropped() == 0 && !s.failed && r.closed_cleanly && !r.timed_out {
                lossless_here = true;
                lossless_union.extend(rows.iter().copied());
            }
        }
        every_generation_lossless &= lossless_here;
    }
    ensure!(
        handed_total == stats.rows_encoded,
        "generations were handed {handed_total} rows, {} encoded",
        stats.rows_encoded
    );

    let all_ok: HashSet<RowKey> = traces.iter().flat_map(|t| t.ok.iter().copied()).collect();
    for key in delivered_to.keys() {
        ensure!(
            all_ok.contains(key),
            "{key:?} delivered but never logged Ok"
        );
    }
    // The controlling thread's rows went to the generation current when logged.
    for (key, g) in &traces[0].generation_of {
        if let Some(got) = delivered_to.get(key) {
            ensure!(
                got == g,
                "{key:?} logged in generation {g}, delivered in {got}"
            );
        }
    }
    // A flush that returned Ok: everything logged before it was delivered somewhere.
    for (t, trace) in traces.iter().enumerate() {
        for key in &trace.flushed_ok {
            let has_uncounted = generations
                .iter()
                .flatten()
                .any(|b| matches!(b.received, Received::Uncounted));
            ensure!(
                delivered_to.contains_key(key) || has_uncounted,
                "thread {t}: {key:?} was logged before a flush that returned Ok, never delivered: {report}"
            );
        }
    }
    // No loss anywhere: every Ok row exactly once.
    if stats.rows_dropped() == 0
        && stats.encode_errors == 0
        && stats.rows_abandoned == 0
        && every_generation_lossless
    {
        ensure!(
            lossless_union == all_ok,
            "lossless run: {} of {} Ok rows delivered",
            lossless_union.len(),
            all_ok.len()
        );
    }
    if report.is_complete() {
        ensure!(
            every_generation_lossless
                || generations
                    .iter()
                    .flatten()
                    .any(|b| matches!(b.received, Received::Uncounted)),
            "complete report but a generation lost rows: {report}"
        );
    }
    Ok(())
}

#[test]
fn the_engine_matches_its_model_under_random_operations() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let first = env("SPATE_MODEL_SEED").unwrap_or(0x5EED_0000);
    let until = env("SPATE_MODEL_SECONDS").map(|s| Instant::now() + Duration::from_secs(s));
    let cases = env("SPATE_MODEL_CASES").unwrap_or(40);
    let started = Instant::now();
    let mut n = 0u64;
    loop {
        let seed = first + n;
        if let Err(why) = run_case(seed) {
            let p = plan(seed);
            panic!(
                "model case failed: {why}\n  replay: SPATE_MODEL_SEED={seed} SPATE_MODEL_CASES=1 \
                 cargo test --test engine model\n  plan: {} threads, lanes {:?}/{} B, batch {:?}, \
                 first sinks {:?}, shutdown after {} yields within {:?}",
                p.threads.len(),
                p.lane_policy,
                p.lane_bytes,
                p.batch,
                p.sinks,
                p.shutdown_after,
                p.shutdown_deadline
            );
        }
        n += 1;
        let done = match until {
            Some(t) => Instant::now() >= t,
            None => n >= cases,
        };
        if done {
            break;
        }
    }
    eprintln!(
        "model: {n} cases from seed {first:#x} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
