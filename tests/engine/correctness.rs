//! Nothing lost, nothing duplicated, order kept, drops counted exactly, shutdown bounded.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use spate::{
    BatchPolicy, EntityPath, LanePolicy, MemorySink, Points3D, Recording, RecordingError, SinkExt,
    SinkPolicy,
};

use crate::common::{is_preamble, logged_chunks, rows_by_entity, sorted_row_ids, within};

const LIMIT: Duration = Duration::from_secs(120);

fn log_rows(rec: &Recording, thread: usize, rows: usize) {
    let entity = EntityPath::parse(&format!("t{thread}")).unwrap();
    for j in 0..rows {
        rec.set_time_sequence("frame", j as i64).unwrap();
        rec.log(
            &entity,
            &Points3D::new(vec![[j as f32, thread as f32, 0.0]]),
        )
        .unwrap();
    }
}

/// `threads` threads log `rows` rows each; then shutdown. Bounded in time.
fn log_from_threads_then_shut_down(
    rec: &Recording,
    threads: usize,
    rows: usize,
) -> spate::ShutdownReport {
    let r = rec.clone();
    within(LIMIT, "logging + shutdown", move || {
        std::thread::scope(|s| {
            for t in 0..threads {
                let r = r.clone();
                s.spawn(move || log_rows(&r, t, rows));
            }
        });
        r.shutdown(Instant::now() + Duration::from_secs(60))
    })
}

#[test]
fn n_threads_by_m_rows_arrive_exactly_once_in_order() {
    const N: usize = 4;
    const M: usize = 20_000;
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .lane_slots(512)
        .start()
        .unwrap();
    let report = log_from_threads_then_shut_down(&rec, N, M);
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(report.rows_logged(), (N * M) as u64);
    let rows = rows_by_entity(&got);
    assert_eq!(rows.len(), N);
    let mut ids = HashSet::new();
    for (entity, rows) in &rows {
        assert_eq!(rows.len(), M, "{entity}");
        // Order by RowId (logging order) must give frames 0..M with matching payloads.
        let mut sorted = rows.clone();
        sorted.sort_by_key(|r| r.0);
        for (j, (id, frame, x)) in sorted.iter().enumerate() {
            assert_eq!((*frame, *x), (j as i64, j as f32), "{entity} row {j}");
            assert!(ids.insert(*id), "duplicate row id");
        }
        // And each thread's rows were received in the order they were logged.
        assert!(
            rows.windows(2).all(|w| w[0].0 < w[1].0),
            "{entity}: received out of order"
        );
    }
    // Batching really happened: far fewer chunks than rows.
    assert!(
        report.stats.chunks_encoded < (N * M / 10) as u64,
        "{}",
        report.stats.chunks_encoded
    );
}

/// RowIds increase per thread, not across threads, so rows of one entity logged by several
/// threads carry interleaved ids. The batcher must still hand out chunks whose RowIds are
/// sorted (Rerun's chunk order), lose nothing, and keep each thread's order. Threads share
/// entities, and each cycles through more entities than a lane's key table holds per round
/// of this test, with fresh and shared `EntityPath`s.
#[test]
fn threads_sharing_entities_make_chunks_with_sorted_row_ids() {
    const THREADS: usize = 4;
    const ROWS: usize = 20_000;
    const ENTITIES: usize = 50;
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .lane_slots(256)
        .start()
        .unwrap();
    let r = rec.clone();
    let report = within(LIMIT, "logging + shutdown", move || {
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let r = r.clone();
                s.spawn(move || {
                    let shared: Vec<EntityPath> = (0..ENTITIES)
                        .map(|k| EntityPath::parse(&format!("e{k}")).unwrap())
                        .collect();
                    for j in 0..ROWS {
                        let k = (j * 7 + t) % ENTITIES;
                        let fresh;
                        let e = if j % 3 == 0 {
                            fresh = EntityPath::parse(&format!("e{k}")).unwrap();
                            &fresh
                        } else {
                            &shared[k]
                        };
                        r.set_time_sequence("frame", j as i64).unwrap();
                        // x is the thread, for the per-thread order check.
                        r.log(e, &Points3D::new(vec![[t as f32, j as f32, 0.0]]))
                            .unwrap();
                    }
                });
            }
        });
        r.shutdown(Instant::now() + Duration::from_secs(60))
    });
    assert!(report.is_complete(), "{report:#?}");
    let decoded = got.decode().unwrap();
    let mut rows = 0;
    for chunk in logged_chunks(&decoded) {
        rows += sorted_row_ids(chunk).len();
    }
    assert_eq!(rows, THREADS * ROWS);
    let by_entity = rows_by_entity(&got);
    assert_eq!(by_entity.len(), ENTITIES);
    for (entity, rows) in &by_entity {
        // Per thread (the point's x), rows arrive in logging order (frames increase).
        for t in 0..THREADS {
            let frames: Vec<i64> = rows
                .iter()
                .filter(|r| r.2 == t as f32)
                .map(|r| r.1)
                .collect();
            assert!(
                frames.windows(2).all(|w| w[0] < w[1]),
                "{entity} thread {t}"
            );
        }
    }
}

#[test]
fn drop_newest_lanes_count_every_dropped_row() {
    const N: usize = 2;
    const M: usize = 50_000;
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(sink.with_policy(SinkPolicy::Block))
        .lane_policy(LanePolicy::DropNewest)
        .lane_slots(4)
        .start()
        .unwrap();
    let report = log_from_threads_then_shut_down(&rec, N, M);
    let delivered: usize = rows_by_entity(&got).values().map(Vec::len).sum();
    let dropped = report.stats.rows_dropped();
    assert_eq!(
        delivered as u64 + dropped,
        (N * M) as u64,
        "delivered + dropped = logged"
    );
    assert_eq!(delivered as u64, report.rows_logged());
    for lane in &report.stats.lanes {
        assert!(lane.high_water_rows <= 4);
    }
}

#[test]
fn dropping_the_last_handle_flushes() {
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(sink)
        .batch(BatchPolicy {
            max_delay: Duration::from_secs(3600),
            ..BatchPolicy::live()
        })
        .start()
        .unwrap();
    let clone = rec.clone();
    log_rows(&rec, 0, 100);
    drop(rec);
    // (The sink may or may not have taken the preamble yet; no row has come.)
    assert!(
        got.messages().iter().all(is_preamble),
        "a live clone keeps the recording (and its hour-long batch) open"
    );
    within(LIMIT, "drop", move || drop(clone));
    assert_eq!(rows_by_entity(&got)["/t0"].len(), 100);
}

#[test]
fn logging_after_shutdown_is_a_typed_error() {
    let rec = Recording::builder("engine_test").start().unwrap();
    let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
    assert!(!report.timed_out);
    let e = rec.log(
        &EntityPath::parse("x").unwrap(),
        &Points3D::new(vec![[0.0f32; 3]]),
    );
    assert!(matches!(e, Err(RecordingError::Closed)), "{e:?}");
    assert!(matches!(
        rec.flush(Instant::now()),
        Err(RecordingError::Closed)
    ));
    assert_eq!(
        rec.shutdown(Instant::now()),
        report,
        "shutdown is idempotent"
    );
}

#[test]
fn bad_input_is_a_typed_error_not_a_panic() {
    let rec = Recording::builder("engine_test").start().unwrap();
    let bad = Points3D::new(vec![[0.0f32; 3]; 10]).with_colors(vec![0u32; 7]);
    let e = rec.log(&EntityPath::parse("x").unwrap(), &bad);
    assert!(matches!(e, Err(RecordingError::Archetype(_))), "{e:?}");
    assert!(matches!(
        rec.set_time_sequence("", 1),
        Err(RecordingError::Time(_))
    ));
    assert!(matches!(
        rec.set_time_sequence("f", i64::MIN),
        Err(RecordingError::Time(_))
    ));
    assert!(matches!(
        Recording::builder("").start(),
        Err(RecordingError::Store(_))
    ));
}

#[test]
fn a_1m_point_owned_cloud_reaches_the_sink_at_the_same_address() {
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(sink)
        .start()
        .unwrap();
    let cloud: Vec<[f32; 3]> = (0..1_000_000).map(|i| [i as f32, 1.0, 2.0]).collect();
    let ptr = cloud.as_ptr() as usize;
    rec.log(&EntityPath::parse("big").unwrap(), &Points3D::new(cloud))
        .unwrap();
    rec.flush(Instant::now() + Duration::from_secs(60)).unwrap();
    let msgs = got.messages();
    let chunk_msg = msgs.iter().max_by_key(|m| m.len()).unwrap();
    let largest = chunk_msg.parts().iter().max_by_key(|p| p.len()).unwrap();
    assert_eq!(largest.len(), 12_000_000);
    assert_eq!(
        largest.as_ptr() as usize,
        ptr,
        "positions travelled without a copy"
    );
    let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
    assert_eq!(report.stats.chunks_encoded, 1, "encoded once");
}

#[test]
fn static_and_explicit_times_round_trip() {
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(sink)
        .start()
        .unwrap();
    let e = EntityPath::parse("e").unwrap();
    rec.log_static(
        &EntityPath::parse("origin").unwrap(),
        &Points3D::new(vec![[0.0f32; 3]]),
    )
    .unwrap();
    let t = spate::TimePoint::default()
        .with_timestamp_ns("sensor", 1_700_000_000_000_000_000)
        .unwrap()
        .with_duration_ns("exposure", 5_000)
        .unwrap();
    let before = wall_clock_ns();
    rec.log_at(&t, &e, &Points3D::new(vec![[1.0f32; 3]]))
        .unwrap();
    let after = wall_clock_ns();
    assert!(
        rec.shutdown(Instant::now() + Duration::from_secs(10))
            .is_complete()
    );
    let decoded = got.decode().unwrap();
    let chunks: Vec<_> = logged_chunks(&decoded).collect();
    assert_eq!(chunks.len(), 2);
    let origin = chunks
        .iter()
        .find(|c| c.entity().as_str() == "/origin")
        .unwrap();
    assert!(origin.is_static());
    let ec = chunks.iter().find(|c| c.entity().as_str() == "/e").unwrap();
    let names: Vec<_> = ec
        .timelines()
        .iter()
        .map(|t| (t.timeline().name().to_owned(), t.values()[0]))
        .collect();
    // The explicit times as given, and the automatic `log_time` (when `log_at` was called).
    let log_time = names
        .iter()
        .find(|(n, _)| n == spate::LOG_TIME)
        .map(|(_, v)| *v);
    assert!(
        log_time.is_some_and(|v| (before..=after + ROW_ID_LEAD_NS).contains(&v)),
        "{names:?} not logged within {before}..={after}"
    );
    let explicit: Vec<_> = names.iter().filter(|(n, _)| n != spate::LOG_TIME).collect();
    assert_eq!(
        explicit,
        [
            &("exposure".to_owned(), 5_000),
            &("sensor".to_owned(), 1_700_000_000_000_000_000)
        ]
    );
}

/// Now as nanoseconds since the Unix epoch (what `log_time` holds: the RowId's clock).
fn wall_clock_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_nanos()).unwrap()
}

/// How far a RowId's clock may run ahead of the wall clock: ids are unique, one ns apart, so
/// ids reserved faster than one a nanosecond (e.g. `send_columns` ranges of other tests of
/// this process) push later ones ahead.
const ROW_ID_LEAD_NS: i64 = 10_000_000;

/// A row logged before any time was set is temporal, on `log_time` alone (as with the
/// official SDK); with `log_time` turned off it has no time at all, so Rerun reads it as
/// static. `log_static` rows and `send_columns` chunks never get `log_time`.
#[test]
fn rows_without_a_time_are_on_log_time_unless_it_is_turned_off() {
    use spate::archetype::Scalars;
    use spate::{TimeColumn, Timeline};
    for log_time in [true, false] {
        let (sink, got) = MemorySink::new();
        let rec = Recording::builder("engine_test")
            .log_time(log_time)
            .sinks(sink)
            .start()
            .unwrap();
        let before = wall_clock_ns();
        rec.log(
            &EntityPath::parse("untimed").unwrap(),
            &Points3D::new(vec![[1.0f32; 3]]),
        )
        .unwrap();
        let after = wall_clock_ns();
        rec.log_static(
            &EntityPath::parse("fixed").unwrap(),
            &Points3D::new(vec![[2.0f32; 3]]),
        )
        .unwrap();
        rec.send_columns(
            &EntityPath::parse("columns").unwrap(),
            vec![TimeColumn::new(
                Timeline::sequence("step").unwrap(),
                vec![0, 1],
            )],
            Scalars::columns(vec![0.5, 1.5]).unwrap(),
        )
        .unwrap();
        assert!(
            rec.shutdown(Instant::now() + Duration::from_secs(10))
                .is_complete()
        );
        let decoded = got.decode().unwrap();
        let timelines = |entity: &str| -> Vec<(String, Vec<i64>)> {
            let chunks: Vec<_> = logged_chunks(&decoded)
                .filter(|c| c.entity().as_str() == entity)
                .collect();
            assert_eq!(chunks.len(), 1, "{entity}");
            chunks[0]
                .timelines()
                .iter()
                .map(|t| (t.timeline().name().to_owned(), t.values().to_vec()))
                .collect()
        };
        let untimed = timelines("/untimed");
        if log_time {
            let [(name, values)] = &untimed[..] else {
                panic!("{untimed:?}")
            };
            assert_eq!(name, spate::LOG_TIME);
            assert!(
                values.len() == 1 && (before..=after + ROW_ID_LEAD_NS).contains(&values[0]),
                "{values:?} not within {before}..={after}"
            );
        } else {
            assert!(untimed.is_empty(), "static without log_time: {untimed:?}");
        }
        assert!(timelines("/fixed").is_empty(), "log_static: {log_time}");
        assert_eq!(
            timelines("/columns"),
            [("step".to_owned(), vec![0, 1])],
            "send_columns: {log_time}"
        );
    }
}

#[test]
fn loaned_buffers_flow_zero_copy_and_return_to_the_pool() {
    let (memory, got) = MemorySink::new();
    let rec = Recording::builder("engine_test")
        .sinks(memory)
        .start()
        .unwrap();
    let e = EntityPath::parse("lidar").unwrap();
    // Zero-copy: the loaned memory is what the sink holds.
    let mut cloud = rec.loan_points(100_000);
    cloud
        .iter_mut()
        .enumerate()
        .for_each(|(i, p)| *p = [i as f32, 0.0, 0.0]);
    let ptr = cloud.as_ptr() as usize;
    rec.log(&e, &Points3D::new(cloud)).unwrap();
    rec.flush(Instant::now() + Duration::from_secs(30)).unwrap();
    let largest = got
        .messages()
        .iter()
        .flat_map(|m| m.parts().to_vec())
        .max_by_key(|p| p.len())
        .unwrap();
    assert_eq!(largest.as_ptr() as usize, ptr);
    assert!(
        rec.shutdown(Instant::now() + Duration::from_secs(30))
            .is_complete()
    );

    // Steady state: once sinks let go, every frame reuses a warm buffer.
    let rec = Recording::builder("engine_test")
        .sinks(spate::sink::NullSink)
        .start()
        .unwrap();
    for frame in 0..20 {
        let mut cloud = rec.loan_points(100_000);
        cloud.iter_mut().for_each(|p| *p = [frame as f32; 3]);
        let mut colors = rec.loan_u32(100_000);
        colors.fill(0xff00_00ff);
        rec.log(&e, &Points3D::new(cloud).with_colors(colors))
            .unwrap();
        rec.flush(Instant::now() + Duration::from_secs(30)).unwrap();
    }
    let (f32s, u32s) = rec.pool_stats();
    assert_eq!((f32s.loans, u32s.loans), (20, 20));
    assert!(f32s.reuses >= 19 && u32s.reuses >= 19, "{f32s:?} {u32s:?}");
}

#[test]
fn recording_is_a_cheap_send_sync_clone() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Recording>();
    let rec = Recording::builder("engine_test").start().unwrap();
    let clone = rec.clone();
    assert_eq!(clone.store_info(), rec.store_info());
}
