//! Tight loop of 1-point `log()` calls into a null sink, for profiling the log path:
//! `perf record -g target/release/examples/log_profile`.
use std::time::{Duration, Instant};

use spate::{EntityPath, Points3D, Recording, sink::NullSink};

fn main() {
    let pin = std::env::var("PIN").is_ok();
    if pin {
        core_affinity::set_for_current(core_affinity::CoreId { id: 0 });
    }
    let rec = Recording::builder("profile")
        .sinks(NullSink)
        .lane_slots(1 << 16)
        .drain_core(pin.then_some(1))
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    let p = Points3D::new(vec![[1.0f32, 2.0, 3.0]]);
    let rows = 20_000_000u64;
    let start = Instant::now();
    for i in 0..rows {
        if i % 32_768 == 0 {
            rec.set_time_sequence("frame", i as i64).unwrap();
        }
        rec.log(&e, &p).unwrap();
    }
    let logged = start.elapsed();
    let report = rec.shutdown(Instant::now() + Duration::from_secs(60));
    let total = start.elapsed();
    println!(
        "{rows} rows: log loop {:.1} ns/row, end to end {:.2} M rows/s, {} chunks",
        logged.as_nanos() as f64 / rows as f64,
        rows as f64 / total.as_secs_f64() / 1e6,
        report.stats.chunks_encoded
    );
}
