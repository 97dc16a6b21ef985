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
