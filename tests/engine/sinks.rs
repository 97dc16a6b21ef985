//! Sink queues: a stalled sink with DropNewest slows nobody; set_sinks; stats; reports.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use spate::{BatchPolicy, EntityPath, MemorySink, Points3D, Recording, SinkExt, SinkPolicy};

use crate::common::{
    GatedSink, PREAMBLE_MESSAGES, assert_starts_with_preamble, rows_by_entity, within,
};

#[test]
fn a_stalled_drop_newest_sink_slows_neither_the_caller_nor_the_other_sinks() {
    const ROWS: usize = 2_000;
    let (gated, gate, started) = GatedSink::new();
    let written = gated.written.clone();
    let (memory, got) = MemorySink::new();
    let rec = Recording::builder("sink_test")
        .sinks((
            gated
                .with_policy(SinkPolicy::DropNewest)
                .max_queue_bytes(4096),
            memory.with_policy(SinkPolicy::Block),
        ))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    // The gated sink is stuck in its first write (SetStoreInfo) from here on.
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let r = rec.clone();
    // If the caller were slowed down to the stalled sink's pace, this would never finish.
    within(
        Duration::from_secs(120),
        "logging while a sink is stalled",
        move || {
            let e = EntityPath::parse("p").unwrap();
            for j in 0..ROWS {
                r.set_time_sequence("frame", j as i64).unwrap();
                r.log(&e, &Points3D::new(vec![[j as f32; 3]])).unwrap();
            }
        },
    );
    // The memory sink receives everything while the gated one is still stuck.
    crate::common::wait_until(Duration::from_secs(120), "memory sink complete", || {
        got.len() as u64 == PREAMBLE_MESSAGES + ROWS as u64
    });
    assert_eq!(
        written.load(Ordering::SeqCst),
        0,
        "the gated sink is still stuck"
    );
    let report = rec.shutdown(Instant::now() + Duration::from_millis(500));
    gate.open();
    // Only the stuck sink timed out: the engine and the memory sink finished in time.
    assert!(!report.timed_out, "{report}");
    assert!(!report.is_complete());
    let [g, m] = &report.sinks[..] else {
        panic!("{report:#?}")
    };
    assert_eq!(m.stats.messages, PREAMBLE_MESSAGES + ROWS as u64);
    assert!(m.closed_cleanly && !m.timed_out && m.is_complete());
    assert!(g.timed_out);
    assert!(g.stats.dropped_queue_full > 0, "{g:#?}");
    // Every message the drain produced is accounted for at the gated sink.
    assert_eq!(
        g.stats.messages + g.stats.dropped(),
        PREAMBLE_MESSAGES + ROWS as u64,
        "{g:#?}"
    );
    assert!(!g.closed_cleanly);
    assert_eq!(rows_by_entity(&got)["/p"].len(), ROWS);
}

#[test]
fn set_sinks_moves_later_rows_to_the_new_sinks() {
    let (a, got_a) = MemorySink::new();
    let (b, got_b) = MemorySink::new();
    let rec = Recording::builder("sink_test").sinks(a).start().unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..10 {
        rec.set_time_sequence("frame", j).unwrap();
        rec.log(&e, &Points3D::new(vec![[j as f32; 3]])).unwrap();
    }
    rec.set_sinks(b).unwrap();
    for j in 10..25 {
        rec.set_time_sequence("frame", j).unwrap();
        rec.log(&e, &Points3D::new(vec![[j as f32; 3]])).unwrap();
    }
    let report = rec.shutdown(Instant::now() + Duration::from_secs(30));
    assert!(report.is_complete(), "{report:#?}");
    assert_eq!(report.sinks.len(), 2, "the replaced sink is reported too");
    let frames = |h: &spate::MemorySinkHandle| -> Vec<i64> {
        let mut f: Vec<i64> = rows_by_entity(h)["/p"].iter().map(|r| r.1).collect();
        f.sort();
        f
    };
    assert_eq!(frames(&got_a), (0..10).collect::<Vec<_>>());
    assert_eq!(frames(&got_b), (10..25).collect::<Vec<_>>());
    // Each sink's stream starts with the recording's preamble: SetStoreInfo, then the
    // properties, the same bytes for the sink attached later.
    let preamble: Vec<_> = rec
        .preamble()
        .iter()
        .map(spate::wire::EncodedMessage::to_contiguous)
        .collect();
    assert_eq!(preamble.len() as u64, PREAMBLE_MESSAGES);
    for h in [&got_a, &got_b] {
        let msgs = h.messages();
        assert_starts_with_preamble(&msgs);
        let first: Vec<_> = msgs[..preamble.len()]
            .iter()
            .map(spate::wire::EncodedMessage::to_contiguous)
            .collect();
        assert_eq!(first, preamble);
    }
}

#[test]
fn stats_count_lanes_sinks_and_latency() {
    let (m, _got) = MemorySink::new();
    let rec = Recording::builder("sink_test")
        .sinks(m)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..100 {
                    rec.log(&e, &Points3D::new(vec![[0.0f32; 3]; 10])).unwrap();
                }
            });
        }
    });
    rec.flush(Instant::now() + Duration::from_secs(30)).unwrap();
    let stats = rec.stats();
    // Two lanes (or, once their threads exited and were drained, one folded entry).
    assert!(!stats.lanes.is_empty() && stats.lanes.len() <= 2, "{stats}");
    assert_eq!((stats.rows_logged(), stats.rows_dropped()), (200, 0));
    assert_eq!(stats.rows_drained, 200);
    assert_eq!(stats.chunks_encoded, 200);
    let sink = &stats.sinks[0];
    assert_eq!(sink.messages, PREAMBLE_MESSAGES + 200);
    assert_eq!(sink.latency.count, 200, "one latency sample per chunk");
    assert!(sink.latency.max >= sink.latency.p50);
    assert!(sink.queue_high_water_bytes > 0);
}
