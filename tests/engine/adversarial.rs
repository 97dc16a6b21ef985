//! The engine tried as an adversary would: callers racing shutdown, sinks that fail, panic or
//! stall, requests under full load, memory that a row pins without showing it. Each test is
//! the regression test of one way the promise ("every row logged is delivered or counted
//! dropped with a reason; every wait has a deadline") was broken.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use spate::sink::{FileSink, FileSinkOptions, GrpcSink, NullSink};
use spate::{
    BatchPolicy, EntityPath, LanePolicy, MemorySink, Points3D, Recording, RecordingError, Sink,
    SinkExt, SinkPolicy, SinkSpec,
};

use crate::common::{
    FaultySink, GatedSink, PREAMBLE_MESSAGES, is_properties_msg, logs, rows_by_entity, wait_until,
    within,
};

fn secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

/// Item 3: 32 threads log as fast as they can while the main thread shuts down. Every
/// `log()` that returned `Ok` must reach the (lossless) sink; on the old code a row pushed
/// just after the drain's final pass was neither delivered nor counted, and the report still
/// said complete, in a few per cent of runs.
#[test]
fn no_ok_row_is_lost_when_shutdown_races_32_loggers() {
    const RUNS: usize = 150;
    const THREADS: usize = 32;
    for run in 0..RUNS {
        let sink = RowCounter::default();
        let delivered = sink.rows.clone();
        let rec = Recording::builder("race").sinks(sink).start().unwrap();
        let start = Arc::new(Barrier::new(THREADS + 1));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (rec, start) = (rec.clone(), start.clone());
                std::thread::spawn(move || {
                    let e = EntityPath::parse(&format!("t{t}")).unwrap();
                    start.wait();
                    let mut ok = 0u64;
                    // Bounded: shutdown comes; the cap only guards against a hang.
                    for j in 0..3_000 {
                        rec.set_time_sequence("frame", j).unwrap();
                        match rec.log(&e, &Points3D::new(vec![[j as f32; 3]])) {
                            Ok(()) => ok += 1,
                            Err(RecordingError::Closed) => break,
                            Err(other) => panic!("{other}"),
                        }
                    }
                    ok
                })
            })
            .collect();
        start.wait();
        // Shut down while every thread is mid-stream (vary the moment per run).
        for _ in 0..(run % 7) * 50 {
            std::thread::yield_now();
        }
        let report = rec.shutdown(secs(30));
        let ok: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert!(report.is_complete(), "run {run}: {report}");
        assert_eq!(report.rows_logged(), ok, "run {run}: {report}");
        assert_eq!(
            delivered.load(Ordering::Relaxed),
            ok,
            "run {run}: Ok rows delivered"
        );
    }
}

/// Counts the logged rows of the chunks it receives (from the encoded messages themselves,
/// not from the engine's counters; the recording's properties row is not a logged row).
#[derive(Default)]
struct RowCounter {
    rows: Arc<AtomicU64>,
}

impl Sink for RowCounter {
    fn name(&self) -> String {
        "rows".into()
    }
    fn write(&mut self, msg: &spate::wire::EncodedMessage) -> Result<(), spate::SinkError> {
        if is_properties_msg(msg) {
            return Ok(());
        }
        let rows = msg.summary().map_or(0, |s| s.num_rows);
        self.rows.fetch_add(rows, Ordering::Relaxed);
        Ok(())
    }
}

/// Item 4: a sink that panics fails alone. With `Block` the old drain spun forever on the
/// dead worker's queue (shutdown timed out, producers hung); with `DropNewest` messages went
/// uncounted.
#[test]
fn a_panicking_sink_fails_alone_and_every_message_is_counted() {
    for policy in [SinkPolicy::Block, SinkPolicy::DropNewest] {
        let (memory, got) = MemorySink::new();
        let rec = Recording::builder("panic")
            .sinks((
                FaultySink::panicking_after(3)
                    .with_policy(policy)
                    .max_queue_bytes(1),
                memory,
            ))
            .batch(BatchPolicy::unbatched())
            .start()
            .unwrap();
        let r = rec.clone();
        within(
            Duration::from_secs(60),
            "logging past a panicked sink",
            move || {
                let e = EntityPath::parse("p").unwrap();
                for j in 0..500 {
                    r.log(&e, &Points3D::new(vec![[j as f32; 3]])).unwrap();
                }
            },
        );
        let flushed = rec.flush(secs(30));
        assert!(
            matches!(&flushed, Err(RecordingError::Lost(l)) if l.sinks.iter().any(|s| s.name == "panicking")),
            "{policy:?}: {flushed:?}"
        );
        let started = Instant::now();
        let report = rec.shutdown(secs(10));
        assert!(started.elapsed() < Duration::from_secs(11), "{policy:?}");
        let [bad, good] = &report.sinks[..] else {
            panic!("{report:#?}")
        };
        assert!(bad.stats.failed, "{bad}");
        assert!(
            bad.stats
                .error
                .as_deref()
                .unwrap_or("")
                .contains("panicked"),
            "{bad}"
        );
        // The preamble (SetStoreInfo, properties) + 500 chunks: each accepted or counted.
        match policy {
            SinkPolicy::Block => assert_eq!(bad.stats.messages, 3, "{bad}"),
            SinkPolicy::DropNewest => assert!(bad.stats.messages <= 3, "{bad}"),
        }
        assert_eq!(
            bad.stats.messages + bad.stats.dropped(),
            PREAMBLE_MESSAGES + 500,
            "{bad}"
        );
        assert_eq!(bad.stats.rows + bad.stats.rows_dropped(), 500, "{bad}");
        assert!(!bad.closed_cleanly && !bad.is_complete());
        assert!(good.is_complete(), "{good}");
        assert_eq!(rows_by_entity(&got)["/p"].len(), 500);
        assert!(!report.is_complete());
        assert!(!report.timed_out, "the engine finished in time: {report}");
    }
}

/// Item 4, the failing (not panicking) variant: flush says what was lost since the previous
/// flush (item 6: the old flush returned `Ok`).
#[test]
fn flush_reports_what_was_lost_since_the_previous_flush() {
    // Accepts the preamble and the first row's chunk, then fails.
    let rec = Recording::builder("fail")
        .sinks((FaultySink::failing_after(PREAMBLE_MESSAGES + 1), NullSink))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    rec.log(&e, &Points3D::new(vec![[0.0f32; 3]])).unwrap();
    rec.flush(secs(30)).expect("nothing lost yet");
    for j in 0..10 {
        rec.log(&e, &Points3D::new(vec![[j as f32; 3]])).unwrap();
    }
    let err = rec.flush(secs(30)).unwrap_err();
    let RecordingError::Lost(losses) = &err else {
        panic!("{err}")
    };
    let [loss] = &losses.sinks[..] else {
        panic!("{losses:?}")
    };
    assert_eq!((loss.name.as_str(), loss.rows), ("failing", 10), "{err}");
    let first_failed = format!("fails on message {}", PREAMBLE_MESSAGES + 1);
    assert!(
        loss.failure
            .as_deref()
            .is_some_and(|f| f.contains(&first_failed)),
        "{err}"
    );
    assert!(err.to_string().contains("failing"), "{err}");
    let report = rec.shutdown(secs(10));
    assert!(!report.is_complete());
}

/// Item 5: `set_sinks` racing a shutdown always returns (the old one could wait forever for
/// an answer from a drain that had exited).
#[test]
fn set_sinks_racing_shutdown_always_returns() {
    for _ in 0..20 {
        let rec = Recording::builder("race").sinks(NullSink).start().unwrap();
        let r = rec.clone();
        let racer = std::thread::spawn(move || {
            let mut closed = false;
            for _ in 0..200 {
                match r.set_sinks(NullSink) {
                    Ok(()) => {}
                    Err(RecordingError::Closed) => {
                        closed = true;
                        break;
                    }
                    Err(other) => panic!("{other}"),
                }
            }
            closed
        });
        std::thread::yield_now();
        let report = rec.shutdown(secs(10));
        assert!(report.is_complete(), "{report}");
        within(
            Duration::from_secs(30),
            "set_sinks after shutdown",
            move || racer.join().unwrap(),
        );
        assert!(matches!(
            rec.set_sinks(NullSink),
            Err(RecordingError::Closed)
        ));
        assert!(matches!(rec.flush(secs(1)), Err(RecordingError::Closed)));
    }
}

/// Item 5: while a `Block` sink holds the drain up, `set_sinks` and `flush` return by their
/// deadline, and the sinks stay as they were (the old `set_sinks` never returned).
#[test]
fn requests_return_by_their_deadline_while_the_drain_is_stuck() {
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("stuck")
        .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let e = EntityPath::parse("p").unwrap();
    // The sink is stuck in its first write (SetStoreInfo) and its queue of one message
    // holds the properties: the first chunk's dispatch blocks the drain.
    for j in 0..3 {
        rec.log(&e, &Points3D::new(vec![[j as f32; 3]])).unwrap();
    }
    let r = rec.clone();
    let (set, flushed) = within(
        Duration::from_secs(30),
        "requests on a stuck drain",
        move || {
            let (b, _) = MemorySink::new();
            let set = r.set_sinks_by(b, Instant::now() + Duration::from_millis(300));
            (set, r.flush(Instant::now() + Duration::from_millis(300)))
        },
    );
    assert!(
        matches!(set, Err(RecordingError::Deadline("set_sinks"))),
        "{set:?}"
    );
    assert!(
        matches!(flushed, Err(RecordingError::Deadline("flush"))),
        "{flushed:?}"
    );
    assert_eq!(rec.stats().sinks.len(), 1, "the sinks were not changed");
    // A shutdown still returns by its deadline, reporting the stuck sink alone.
    let report = within(Duration::from_secs(30), "shutdown on a stuck drain", {
        let rec = rec.clone();
        move || rec.shutdown(Instant::now() + Duration::from_millis(500))
    });
    gate.open();
    assert!(report.sinks[0].timed_out, "{report}");
    assert!(!report.is_complete());
    let s = &report.sinks[0].stats;
    assert_eq!(s.messages + s.dropped(), PREAMBLE_MESSAGES + 3, "{report}");
}

/// Item 5: a producer that never stops cannot starve `flush` or `set_sinks` (the old drain
/// took every row it could find before serving them).
#[test]
fn requests_are_served_while_a_producer_never_stops() {
    // A lane of 1024 rows: what a command waits for (the lane up to where it stood) is
    // bounded by the lane, so the 5 s deadlines test the protocol, not how fast a debug
    // build drains a full 16k-row lane on a loaded machine (~5k rows/s: 3+ s).
    let rec = Recording::builder("busy")
        .sinks(NullSink)
        .batch(BatchPolicy::unbatched())
        .lane_slots(1024)
        .start()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (rec, stop) = (rec.clone(), stop.clone());
        std::thread::spawn(move || {
            let e = EntityPath::parse("busy").unwrap();
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                rec.log(&e, &Points3D::new(vec![[0.0f32; 3]])).unwrap();
            }
        })
    };
    // Let the producer get the drain fully busy.
    // (20k rows: the lane filled many times over, without a race against the machine.)
    wait_until(Duration::from_secs(60), "a busy lane", || {
        rec.stats().rows_drained > 20_000
    });
    for _ in 0..3 {
        rec.flush(secs(5))
            .expect("flush within its deadline under load");
        rec.set_sinks_by(NullSink, secs(5))
            .expect("set_sinks within its deadline under load");
    }
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let report = rec.shutdown(secs(30));
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.sinks.len(), 4);
}

/// Item 5: concurrent shutdowns return one report, the first one's, without waiting out
/// their own deadlines (the old second call waited its whole deadline and replaced the
/// first report with a timed-out one).
#[test]
fn concurrent_shutdowns_get_the_same_report() {
    let (sink, _got) = MemorySink::new();
    let rec = Recording::builder("twice").sinks(sink).start().unwrap();
    let e = EntityPath::parse("p").unwrap();
    rec.log(&e, &Points3D::new(vec![[1.0f32; 3]])).unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let reports = within(Duration::from_secs(20), "four shutdowns", move || {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (rec, barrier) = (rec.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    rec.shutdown(Instant::now() + Duration::from_secs(60))
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(reports[0].is_complete(), "{}", reports[0]);
    assert!(reports.iter().all(|r| *r == reports[0]));
}

/// Item 9: lanes and sink queues are bounded by the memory a row keeps alive. A one-point
/// cloud in a `Vec` with room for a million points pins 12 MB; the old bounds counted 12
/// bytes.
#[test]
fn bounds_count_the_memory_a_row_pins() {
    fn pinning_cloud(n: usize) -> Points3D {
        let mut v = Vec::with_capacity(1_000_000);
        v.resize(n, [1.0f32; 3]);
        Points3D::new(v)
    }
    // The lane: 1 MiB, dropping; the drain cannot take rows while the gate is closed? It
    // can — so hold the drain up with a stuck Block sink.
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("pinned")
        .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
        .lane_capacity(1 << 20)
        .lane_policy(LanePolicy::DropNewest)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let e = EntityPath::parse("p").unwrap();
    for _ in 0..20 {
        // 8 points: more than a row copies by value (clouds of up to 4 points are copied
        // into the row and pin nothing), so the row shares the caller's allocation.
        rec.log(&e, &pinning_cloud(8)).unwrap();
    }
    // The drain takes the first row (then blocks on the stuck sink) and records how much
    // memory the lane held.
    wait_until(Duration::from_secs(30), "the drain took a row", || {
        rec.stats().rows_drained >= 1
    });
    let s = rec.stats();
    // At most a few rows got past the lane (into the drain, blocked on the sink): the rest
    // was over the lane's byte bound.
    assert!(s.rows_dropped() >= 15, "{s}");
    assert!(s.lanes[0].high_water_bytes >= 12_000_000, "{s}");
    let report = rec.shutdown(Instant::now() + Duration::from_millis(300));
    gate.open();
    assert!(!report.is_complete());

    // A sink queue: passthrough rows keep the caller's buffer; the queue counts it all.
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("pinned")
        .sinks(
            gated
                .with_policy(SinkPolicy::DropNewest)
                .max_queue_bytes(20 << 20),
        )
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    for _ in 0..10 {
        // 300 kB of points (passed through whole) in a 12 MB allocation.
        rec.log(&e, &pinning_cloud(25_000)).unwrap();
    }
    let report = rec.shutdown(Instant::now() + Duration::from_millis(300));
    gate.open();
    let s = &report.sinks[0].stats;
    assert!(s.dropped_queue_full >= 8, "{s}");
    assert!(s.queue_high_water_bytes <= 2 * 12_100_000, "{s}");
}

/// Item 9: replaced sinks stay in `stats()` (marked retired) and are joined once closed;
/// the old ones vanished from the stats and piled up unjoined until shutdown.
#[test]
fn replaced_sinks_stay_in_the_stats_and_are_joined() {
    let (a, _) = MemorySink::new();
    let rec = Recording::builder("retire").sinks(a).start().unwrap();
    let e = EntityPath::parse("p").unwrap();
    for round in 0..5 {
        rec.log(&e, &Points3D::new(vec![[round as f32; 3]]))
            .unwrap();
        let (next, _) = MemorySink::new();
        rec.set_sinks(next).unwrap();
    }
    let s = rec.stats();
    assert_eq!(s.sinks.len(), 6, "{s}");
    assert_eq!(s.sinks.iter().filter(|k| k.retired).count(), 5, "{s}");
    // Each replaced sink got the preamble (store info, properties) and one row.
    wait_until(Duration::from_secs(30), "replaced sinks closed", || {
        rec.stats()
            .sinks
            .iter()
            .filter(|k| k.retired)
            .all(|k| k.messages == PREAMBLE_MESSAGES + 1 && k.rows == 1 && k.queued_bytes == 0)
    });
    let report = rec.shutdown(secs(10));
    assert!(report.is_complete(), "{report}");
    assert_eq!(report.sinks.len(), 6);
    assert_eq!(report.stats.sinks.iter().map(|k| k.rows).sum::<u64>(), 5);
}

/// Item 10: rows of one entity with different component sets arrive in logging order.
#[test]
fn rows_of_one_entity_keep_their_order_whatever_their_components() {
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("order").sinks(sink).start().unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..300 {
        rec.set_time_sequence("frame", j).unwrap();
        let p = Points3D::new(vec![[j as f32; 3]]);
        let p = match j % 3 {
            0 => p,
            1 => p.with_radii([0.5f32]),
            _ => p.with_colors([0xff00_00ffu32]),
        };
        rec.log(&e, &p).unwrap();
    }
    assert!(rec.shutdown(secs(30)).is_complete());
    let frames: Vec<i64> = rows_by_entity(&got)["/p"].iter().map(|r| r.1).collect();
    assert_eq!(frames, (0..300).collect::<Vec<_>>());
}

/// Item 11: a recording is lossless by default; a live view may drop. The old default was
/// `DropNewest` for every sink, so a `FileSink` built as in its docs thinned a recording
/// when the disk was slower than the producer.
#[test]
fn sinks_default_to_lossless_except_live_views() {
    struct Slow(Arc<AtomicU64>);
    impl Sink for Slow {
        fn name(&self) -> String {
            "slow".into()
        }
        fn write(&mut self, _: &spate::wire::EncodedMessage) -> Result<(), spate::SinkError> {
            std::thread::sleep(Duration::from_micros(200));
            self.0.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = FileSink::create(dir.path().join("run.rrd"), FileSinkOptions::default()).unwrap();
    assert_eq!(SinkSpec::new(file).current_policy(), SinkPolicy::Block);
    assert_eq!(SinkSpec::new(NullSink).current_policy(), SinkPolicy::Block);
    assert_eq!(
        SinkSpec::new(MemorySink::new().0).current_policy(),
        SinkPolicy::Block
    );
    let grpc = GrpcSink::connect("rerun+http://127.0.0.1:9/proxy").unwrap();
    assert_eq!(SinkSpec::new(grpc).current_policy(), SinkPolicy::DropNewest);

    // A slow sink with its default policy and a tiny queue: the producer waits, nothing drops.
    let written = Arc::new(AtomicU64::new(0));
    let rec = Recording::builder("slow")
        .sinks(SinkSpec::new(Slow(written.clone())).max_queue_bytes(1))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..200 {
        rec.log(&e, &Points3D::new(vec![[j as f32; 3]; 1000]))
            .unwrap();
    }
    let report = rec.shutdown(secs(60));
    assert!(report.is_complete(), "{report}");
    assert_eq!(written.load(Ordering::Relaxed), PREAMBLE_MESSAGES + 200);
}

/// Item 12: with a viewer that is not running, the file closes cleanly and is not marked
/// timed out; the gRPC sink's report says why (connection refused) in `error`; a dropped
/// recording warns; reports print one line per lane and sink.
#[test]
fn reports_a_user_can_act_on() {
    logs::install();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on a port we bound and released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("rerun+http://127.0.0.1:{port}/proxy");
    let rec = Recording::builder("report")
        .sinks((
            FileSink::create(dir.path().join("run.rrd"), FileSinkOptions::default()).unwrap(),
            GrpcSink::connect(&url)
                .unwrap()
                .with_policy(SinkPolicy::DropNewest)
                .close_timeout(Duration::from_millis(500)),
        ))
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    rec.log(&e, &Points3D::new(vec![[1.0f32; 3]])).unwrap();
    let started = Instant::now();
    let report = rec.shutdown(secs(10));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the gRPC sink's own close timeout bounds the wait"
    );
    assert!(!report.timed_out, "{report}");
    let [file, grpc] = &report.sinks[..] else {
        panic!("{report:#?}")
    };
    assert!(file.is_complete() && !file.timed_out, "{file}");
    let why = grpc
        .stats
        .error
        .as_deref()
        .unwrap_or_default()
        .to_lowercase();
    assert!(why.contains("refused") || why.contains("connect"), "{grpc}");
    let text = report.to_string();
    assert!(text.starts_with("INCOMPLETE"), "{text}");
    assert!(text.contains("file:") && text.contains("grpc"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with('['))
            .count(),
        2,
        "{text}"
    );

    // Dropped without shutdown: a warning says so.
    let rec = Recording::builder("dropped-without-shutdown")
        .sinks(NullSink)
        .start()
        .unwrap();
    drop(rec);
    assert_eq!(
        logs::warnings_containing("dropped-without-shutdown").len(),
        1,
        "a warning names the recording"
    );

    // The first drop of a sink warns once, not once per message.
    let rec = Recording::builder("warn-once")
        .sinks(FaultySink::failing_after(0).named("warns-once"))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    for _ in 0..20 {
        rec.log(&e, &Points3D::new(vec![[1.0f32; 3]])).unwrap();
    }
    let report = rec.shutdown(secs(10));
    assert_eq!(
        report.sinks[0].stats.dropped(),
        PREAMBLE_MESSAGES + 20,
        "{report}"
    );
    assert_eq!(
        logs::warnings_containing("sink warns-once dropped").len(),
        1
    );
}

/// The stats add up, and print one line per lane and per sink.
#[test]
fn stats_display_one_line_per_lane_and_sink() {
    let (a, _) = MemorySink::new();
    let rec = Recording::builder("display")
        .sinks((a, NullSink))
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    let seen = Mutex::new(HashSet::new());
    std::thread::scope(|s| {
        for t in 0..3 {
            let (rec, e, seen) = (&rec, &e, &seen);
            s.spawn(move || {
                rec.log(e, &Points3D::new(vec![[t as f32; 3]])).unwrap();
                seen.lock().unwrap().insert(t);
            });
        }
    });
    rec.flush(secs(10)).unwrap();
    let stats = rec.stats();
    let text = stats.to_string();
    assert_eq!(
        text.lines().count(),
        1 + stats.lanes.len() + 1 + stats.sinks.len(),
        "{text}"
    );
    assert!(text.contains("3 rows logged"), "{text}");
    assert!(rec.shutdown(secs(10)).is_complete());
}
