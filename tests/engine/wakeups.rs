//! The drain sleeps when idle and every log wakes it: a lost wake-up would stall a row
//! forever, so each row here must arrive before the next is logged (bounded waits).

use std::time::{Duration, Instant};

use spate::{BatchPolicy, EntityPath, MemorySink, Points3D, Recording};

use crate::common::{PREAMBLE_MESSAGES, wait_until};

#[test]
fn every_row_logged_into_an_idle_drain_is_delivered() {
    let (sink, got) = MemorySink::new();
    let rec = Recording::builder("wake_test")
        .sinks(sink)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    for i in 0..2_000usize {
        rec.log(&e, &Points3D::new(vec![[i as f32; 3]])).unwrap();
        // Wait for delivery, giving the drain time to go idle (and park) between rows now
        // and then.
        wait_until(Duration::from_secs(30), "row delivered", || {
            got.len() as u64 == PREAMBLE_MESSAGES + i as u64 + 1
        });
        if i % 100 == 0 {
            let idle_from = Instant::now();
            while idle_from.elapsed() < Duration::from_millis(2) {
                std::thread::yield_now();
            }
        }
    }
    let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
    assert!(report.is_complete());
}

/// A producer that must wait for room (a one-message sink queue stuck in its first write,
/// two lane slots) waits inside the recording's `BlockHook`, exactly where the hook calls
/// `wait`; the hook here opens the sink's gate, so the wait ends and every row arrives. A
/// hook that never calls `wait` still gets the wait done for it.
#[test]
fn a_full_block_lane_waits_inside_the_block_hook() {
    use spate::{BlockHook, LanePolicy, SinkExt, SinkPolicy};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    struct OpenOnWait {
        gate: Mutex<Option<crate::common::Gate>>,
        calls: Arc<AtomicU64>,
        call_wait: bool,
    }
    impl BlockHook for OpenOnWait {
        fn around_wait(&self, wait: &mut (dyn FnMut() + Send)) {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(g) = self.gate.lock().unwrap().take() {
                g.open();
            }
            if self.call_wait {
                wait();
            }
        }
    }
    for call_wait in [true, false] {
        let (gated, gate, started) = crate::common::GatedSink::new();
        let written = gated.written.clone();
        let calls = Arc::new(AtomicU64::new(0));
        let rec = spate::Recording::builder("hooked")
            .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
            .batch(spate::BatchPolicy::unbatched())
            .lane_slots(2)
            .lane_policy(LanePolicy::Block)
            .block_hook(OpenOnWait {
                gate: Mutex::new(Some(gate)),
                calls: calls.clone(),
                call_wait,
            })
            .start()
            .unwrap();
        started
            .recv_timeout(Duration::from_secs(30))
            .expect("the sink's first write");
        let e = spate::EntityPath::parse("p").unwrap();
        // The sink holds one message and its queue one more; the drain holds a row waiting
        // for the queue; two lane slots: the 6th row cannot find room until the gate opens.
        for j in 0..50 {
            rec.log(&e, &crate::common::point(j)).unwrap();
        }
        assert!(calls.load(Ordering::SeqCst) >= 1, "call_wait={call_wait}");
        let report = rec.shutdown(Instant::now() + Duration::from_secs(30));
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(report.rows_logged(), 50);
        // The properties message and 50 rows, one message each (unbatched).
        assert!(written.load(Ordering::SeqCst) >= 51);
    }
}
