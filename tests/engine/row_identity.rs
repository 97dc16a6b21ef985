//! Model tests of the lane-key, per-thread RowId, small-cloud and batcher paths: what every
//! decoded row carries (entity, timelines and their values, static or not) is what its
//! `log()` was given, across key-table restarts, dropped rows, many time layouts, thread
//! churn and two recordings per thread.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::Array;
use spate::{
    BatchPolicy, EntityPath, LanePolicy, MemorySink, MemorySinkHandle, Points3D, Recording, RowId,
    TimePoint, TimelineKind,
};

use crate::common::{first_x, logged_chunks, secs, sorted_row_ids};
use crate::rng::Rng;

const NAMES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "frame"];
const KINDS: [TimelineKind; 3] = [
    TimelineKind::Sequence,
    TimelineKind::Timestamp,
    TimelineKind::Duration,
];

/// What the model says a row must carry.
#[derive(Clone, Debug, PartialEq)]
struct Expected {
    entity: String,
    /// `None`: static.
    times: Option<BTreeMap<String, (TimelineKind, i64)>>,
    /// The OS thread that logged it (order is checked per thread and entity).
    thread: u32,
}

/// A row's id, carried in its first point's x (exact in an f32 below 2^24).
fn row_key(thread: u32, seq: u32) -> u32 {
    thread * 200_000 + seq
}

fn cloud(key: u32, shape: u64) -> Points3D {
    let x = key as f32;
    match shape {
        0 => Points3D::new(vec![[x, 0.0, 0.0]]),
        1 => Points3D::new(vec![[x, 1.0, 2.0]; 3]).with_colors(vec![0xff00_00ffu32]),
        2 => Points3D::new(vec![[x, 0.0, 0.0]; 4]).with_radii(vec![0.5f32; 4]),
        // Five points: the boxed path.
        _ => Points3D::new(vec![[x, 0.0, 0.0]; 5]).with_radii(vec![0.25f32]),
    }
}

fn set_time(rec: &Recording, name: &str, kind: TimelineKind, v: i64) -> bool {
    match kind {
        TimelineKind::Sequence => rec.set_time_sequence(name, v),
        TimelineKind::Timestamp => rec.set_timestamp(name, v),
        TimelineKind::Duration => rec.set_duration(name, v),
    }
    .is_ok()
}

fn with_time(tp: TimePoint, name: &str, kind: TimelineKind, v: i64) -> TimePoint {
    match kind {
        TimelineKind::Sequence => tp.with_sequence(name, v),
        TimelineKind::Timestamp => tp.with_timestamp_ns(name, v),
        TimelineKind::Duration => tp.with_duration_ns(name, v),
    }
    .unwrap()
}

/// One OS thread's run: `ops` rows to `recs`, returning what it logged (`Ok` only).
fn run_thread(
    recs: &[Recording],
    seed: u64,
    thread: u32,
    ops: u32,
    fresh_percent: u64,
) -> Vec<(usize, u32, Expected)> {
    let mut rng = Rng(seed);
    let mut logged = Vec::new();
    // This thread's times per recording, as the model sees them.
    let mut mine: Vec<BTreeMap<String, (TimelineKind, i64)>> = vec![BTreeMap::new(); recs.len()];
    let mut recent: Vec<EntityPath> = Vec::new();
    let mut fresh = 0u32;
    for seq in 0..ops {
        let r = if recs.len() > 1 && rng.chance(15) {
            1
        } else {
            0
        };
        let rec = &recs[r];
        let entity = if rng.chance(15) {
            // Shared by every thread: their rows meet in one batch.
            EntityPath::parse(&format!("shared/{}", rng.below(3))).unwrap()
        } else if rng.chance(fresh_percent) || recent.is_empty() {
            fresh += 1;
            let e = EntityPath::parse(&format!("t{thread}/e{fresh}")).unwrap();
            if recent.len() < 32 {
                recent.push(e.clone());
            } else {
                let i = rng.below(32) as usize;
                recent[i] = e.clone();
            }
            e
        } else {
            // An equal path, freshly parsed half the time (other pointer, same string).
            let e = &recent[rng.below(recent.len() as u64) as usize];
            if rng.chance(50) {
                EntityPath::parse(e.as_str()).unwrap()
            } else {
                e.clone()
            }
        };
        let key = row_key(thread, seq);
        let data = cloud(key, rng.below(4));
        let (result, times) = match rng.below(10) {
            // `log_at` with a time point built fresh: one of 7 × 3 kinds, any subset.
            0..=3 => {
                let mut tp = TimePoint::default();
                let mut m = BTreeMap::new();
                for name in NAMES {
                    if rng.chance(40) {
                        let kind = KINDS[rng.below(3) as usize];
                        let v = rng.below(1_000_000) as i64;
                        tp = with_time(tp, name, kind, v);
                        m.insert(name.to_owned(), (kind, v));
                    }
                }
                (rec.log_at(&tp, &entity, &data), Some(m))
            }
            4 => (rec.log_static(&entity, &data), None),
            _ => {
                // This thread's times, changed a little before most rows.
                if rng.chance(5) {
                    rec.reset_time();
                    mine[r].clear();
                }
                for _ in 0..rng.below(3) {
                    let name = NAMES[rng.below(NAMES.len() as u64) as usize];
                    let kind = KINDS[rng.below(3) as usize];
                    let v = rng.below(1_000_000) as i64;
                    let conflict = mine[r].get(name).is_some_and(|(k, _)| *k != kind);
                    let ok = set_time(rec, name, kind, v);
                    assert_eq!(ok, !conflict, "set_time {name} {kind:?}");
                    if ok {
                        mine[r].insert(name.to_owned(), (kind, v));
                    }
                }
                (rec.log(&entity, &data), Some(mine[r].clone()))
            }
        };
        result.expect("log");
        logged.push((
            r,
            key,
            Expected {
                entity: entity.to_string(),
                times,
                thread,
            },
        ));
    }
    logged
}

/// Every decoded row: (x key, entity, times or None if static, row id), in arrival order;
/// checks each chunk's RowIds are strictly increasing.
fn decode(h: &MemorySinkHandle) -> Vec<(u32, Expected, RowId)> {
    let decoded = h.decode().expect("valid stream");
    let mut out = Vec::new();
    for chunk in logged_chunks(&decoded) {
        for (row, id) in sorted_row_ids(chunk).into_iter().enumerate() {
            let x = first_x(chunk, row);
            assert!(!x.is_nan(), "every logged row has a point");
            let key = x as u32;
            let times = (!chunk.is_static()).then(|| {
                chunk
                    .timelines()
                    .iter()
                    .filter(|t| t.timeline().name() != "log_time")
                    .map(|t| {
                        (
                            t.timeline().name().to_owned(),
                            (t.timeline().kind(), t.values()[row]),
                        )
                    })
                    .collect()
            });
            let e = Expected {
                entity: chunk.entity().to_string(),
                times,
                thread: key / 200_000,
            };
            out.push((key, e, id));
        }
    }
    out
}

/// Checks one recording's sink against what was logged to it.
fn check(seed: u64, logged: &HashMap<u32, Expected>, got: &[(u32, Expected, RowId)], dropped: u64) {
    let mut seen = HashSet::new();
    // (thread, entity) → last key, in arrival order.
    let mut last: HashMap<(u32, String), u32> = HashMap::new();
    for (key, e, _) in got {
        assert!(seen.insert(*key), "seed {seed}: row {key} delivered twice");
        let want = logged
            .get(key)
            .unwrap_or_else(|| panic!("seed {seed}: row {key} was never logged here"));
        let want_norm = Expected {
            entity: EntityPath::parse(&want.entity).unwrap().to_string(),
            ..want.clone()
        };
        assert_eq!(e, &want_norm, "seed {seed}: row {key}");
        if let Some(prev) = last.insert((e.thread, e.entity.clone()), *key) {
            assert!(
                prev < *key,
                "seed {seed}: row {key} after {prev} of the same thread and entity"
            );
        }
    }
    assert_eq!(
        seen.len() as u64 + dropped,
        logged.len() as u64,
        "seed {seed}: delivered + dropped = logged"
    );
}

fn one_case(seed: u64) {
    let mut rng = Rng(seed);
    let policy = if rng.chance(50) {
        LanePolicy::DropNewest
    } else {
        LanePolicy::Block
    };
    let slots = [2usize, 3, 8, 1024][rng.below(4) as usize];
    let batch = BatchPolicy {
        max_rows: [1, 4, 64, usize::MAX][rng.below(4) as usize],
        max_delay: Duration::from_millis(rng.below(5)),
        ..BatchPolicy::live()
    };
    let two = rng.chance(50);
    let mut handles = Vec::new();
    let mut recs = Vec::new();
    for i in 0..if two { 2 } else { 1 } {
        let (sink, h) = MemorySink::new();
        recs.push(
            Recording::builder(format!("row_identity{i}"))
                .sinks(sink)
                .lane_slots(slots)
                .lane_policy(policy)
                .batch(batch)
                .start()
                .unwrap(),
        );
        handles.push(h);
    }
    let recs = Arc::new(recs);
    let threads = 1 + rng.below(3) as u32;
    // Each logical producer runs on two OS threads one after the other (a thread exits, a
    // new one takes over).
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let recs = recs.clone();
            let s = rng.next();
            // Enough fresh entities, most of the time, to restart a lane's table (4096).
            let ops = 5_000 + rng.below(2_000) as u32;
            let fresh = [30, 97, 97][rng.below(3) as usize];
            std::thread::spawn(move || {
                let mut all = Vec::new();
                for half in 0..2 {
                    let recs = recs.clone();
                    let os = t * 2 + half;
                    all.extend(
                        std::thread::spawn(move || {
                            run_thread(&recs, s ^ u64::from(os), os, ops, fresh)
                        })
                        .join()
                        .unwrap(),
                    );
                }
                all
            })
        })
        .collect();
    let mut logged: Vec<HashMap<u32, Expected>> = vec![HashMap::new(); recs.len()];
    for w in workers {
        for (r, key, e) in w.join().unwrap() {
            logged[r].insert(key, e);
        }
    }
    for (r, rec) in recs.iter().enumerate() {
        let report = rec.shutdown(secs(60));
        assert!(!report.timed_out, "seed {seed}: {report:?}");
        assert_eq!(report.stats.encode_errors, 0, "seed {seed}");
        if policy == LanePolicy::Block {
            assert_eq!(report.stats.rows_dropped(), 0);
        }
        let got = decode(&handles[r]);
        check(seed, &logged[r], &got, report.stats.rows_dropped());
    }
}

/// Random rows across threads (more than a lane's 4096 entities, more than its 64 time
/// layouts, dropped rows from tiny `DropNewest` lanes, `log_at` with fresh time points,
/// static rows, timelines of one name and several kinds, thread churn, two recordings):
/// every row is delivered once or counted dropped, with the entity and times it was logged
/// with, in per-thread order, in chunks of sorted RowIds.
#[test]
fn rows_carry_what_they_were_logged_with() {
    let cases: u64 = std::env::var("SPATE_ROW_IDENTITY_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let first: u64 = std::env::var("SPATE_ROW_IDENTITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + cases {
        one_case(seed);
    }
}

/// A cloud of no points with an empty colors (or radii) component is logged as it was
/// given: the component is there, empty (in Rerun an empty list clears it), as it is for
/// every other cloud and as `as_components` gives it.
#[test]
fn an_empty_component_of_an_empty_cloud_is_kept() {
    let (sink, h) = MemorySink::new();
    let rec = Recording::builder("empty_component")
        .sinks(sink)
        .start()
        .unwrap();
    let e = EntityPath::parse("empty").unwrap();
    let cloud = Points3D::new(Vec::<[f32; 3]>::new())
        .with_colors(Vec::<u32>::new())
        .with_radii(Vec::<f32>::new());
    rec.log(&e, &cloud).unwrap();
    assert!(rec.shutdown(secs(30)).is_complete());
    let decoded = h.decode().unwrap();
    let chunk = logged_chunks(&decoded).next().expect("one chunk");
    for c in ["Points3D:colors", "Points3D:radii"] {
        let col = chunk
            .component(c)
            .unwrap_or_else(|| panic!("{c} was dropped"));
        assert_eq!(col.list().value(0).len(), 0);
    }
}
