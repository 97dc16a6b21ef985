//! Engine benchmarks: the cost of `log()` against its floor (a bare SPSC push of a row of the
//! same size to a thread that consumes it), rows/s end to end, and cloud throughput, all into
//! a null sink so the engine itself is measured.
//!
//! `engine/log_vs_floor` prints one paired line (and writes it to
//! `target/criterion/log_vs_floor.json`): medians of 31 interleaved rounds of the floor and of
//! one-point `log()` calls, and the median (min, max) of each round pair's ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spate::sink::NullSink;
use spate::{BatchPolicy, EntityPath, Points3D, Recording, SinkExt, SinkPolicy};

fn recording() -> Recording {
    Recording::builder("bench")
        .sinks(NullSink.with_policy(SinkPolicy::Block))
        .lane_slots(1 << 16)
        .start()
        .expect("start")
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// A ring slot the size of a lane's row (cache-line aligned, as the lane's are).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot([u8; spate::__bench::LANE_ROW_BYTES]);

/// Rounds of this many rows fit a 65,536-slot ring, so neither side ever waits for room:
/// each measures the producer's own cost while its consumer runs.
const ROUND: u64 = 32 * 1024;

/// The floor: a bare rtrb ring of row-sized slots, consumed by a thread that reads them in
/// bursts (as the drain does). Returns the timed push loop of `rows` rows, and a function
/// that waits until the consumer has taken every row pushed (untimed).
struct Floor {
    producer: rtrb::Producer<Slot>,
    pushed: u64,
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    consumer: Option<std::thread::JoinHandle<()>>,
}

impl Floor {
    fn new() -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let (producer, mut consumer) = rtrb::RingBuffer::<Slot>::new(1 << 16);
        let taken = std::sync::Arc::new(AtomicU64::new(0));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (t, st) = (taken.clone(), stop.clone());
        let consumer = std::thread::spawn(move || {
            let mut sum = 0u64;
            while !st.load(Ordering::Relaxed) {
                let n = consumer.slots().min(256);
                if n == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                if let Ok(chunk) = consumer.read_chunk(n) {
                    for slot in chunk {
                        sum = sum.wrapping_add(u64::from(slot.0[0]));
                    }
                }
                t.fetch_add(n as u64, Ordering::Release);
            }
            black_box(sum);
        });
        Self {
            producer,
            pushed: 0,
            taken,
            stop,
            consumer: Some(consumer),
        }
    }

    fn push_round(&mut self, rows: u64) -> Duration {
        let slot = Slot([7; spate::__bench::LANE_ROW_BYTES]);
        let start = Instant::now();
        for _ in 0..rows {
            while self.producer.push(black_box(slot)).is_err() {
                std::hint::spin_loop();
            }
        }
        let t = start.elapsed();
        self.pushed += rows;
        while self.taken.load(std::sync::atomic::Ordering::Acquire) < self.pushed {
            std::thread::yield_now();
        }
        t
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(c) = self.consumer.take() {
            let _ = c.join();
        }
    }
}

/// A round of one-point `log()` calls (the drain consumes concurrently); the flush after it
/// is not timed.
fn log_round(rec: &Recording, e: &EntityPath, points: &Points3D, rows: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..rows {
        rec.log(e, black_box(points)).unwrap();
    }
    let t = start.elapsed();
    rec.flush(deadline()).unwrap();
    t
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Paired: interleaved rounds of the floor and of `log()`, medians and their ratio.
fn log_vs_floor(_: &mut Criterion) {
    let rec = Recording::builder("bench")
        .sinks(NullSink.with_policy(SinkPolicy::Block))
        .lane_slots(1 << 16)
        .start()
        .expect("start");
    let e = EntityPath::parse("p").unwrap();
    let point = Points3D::new(vec![[1.0f32, 2.0, 3.0]]);
    let mut floor = Floor::new();
    // Warm both (lane creation, first allocations of the drain's batches).
    floor.push_round(ROUND);
    log_round(&rec, &e, &point, ROUND);
    let (mut floor_ns, mut log_ns, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..31 {
        let f = floor.push_round(ROUND).as_nanos() as f64 / ROUND as f64;
        let l = log_round(&rec, &e, &point, ROUND).as_nanos() as f64 / ROUND as f64;
        floor_ns.push(f);
        log_ns.push(l);
        ratios.push(l / f);
    }
    let (lo, hi) = (
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    let (f, l, r) = (median(floor_ns), median(log_ns), median(ratios));
    let line = format!(
        "{{\"row_bytes\":{},\"floor_ns\":{f:.1},\"log_ns\":{l:.1},\"ratio\":{r:.2},\"ratio_min\":{lo:.2},\"ratio_max\":{hi:.2}}}",
        spate::__bench::LANE_ROW_BYTES,
    );
    println!("engine/log_vs_floor: {line}");
    let dir = std::path::Path::new("target/criterion");
    if std::fs::create_dir_all(dir).is_ok() {
        let _ = std::fs::write(dir.join("log_vs_floor.json"), format!("{line}\n"));
    }
    drop(floor);
    assert!(rec.shutdown(deadline()).is_complete());
}

fn cloud(n: usize) -> Points3D {
    Points3D::new((0..n).map(|i| [i as f32, 0.0, 1.0]).collect::<Vec<_>>())
        .with_colors(vec![0xffff_ffffu32; n])
        .with_radii(vec![0.01f32; n])
}

/// Median cost of one `log()` on the caller thread (the drain runs concurrently).
fn log_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/log");
    g.throughput(Throughput::Elements(1));
    // Clones of one cloud share its buffers, so the lane's byte budget can be lifted here
    // without using memory: every round then fits the lane and never waits for the drain.
    let rec = Recording::builder("bench")
        .sinks(NullSink.with_policy(SinkPolicy::Block))
        .lane_slots(1 << 16)
        .lane_capacity(u64::MAX / 4)
        .start()
        .expect("start");
    let e = EntityPath::parse("p").unwrap();
    for (name, n) in [
        ("1_point", 1usize),
        ("1k_points", 1_000),
        ("1M_points", 1_000_000),
    ] {
        // Clones share buffers: this measures the caller's cost, which must not depend on n.
        let points = cloud(n);
        // Rounds of 32768 rows fit the lane (65536 slots), so the caller never waits for
        // the drain: this is the caller's own cost. The flush between rounds is not timed.
        let round = ROUND;
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut t = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min(round);
                    let start = Instant::now();
                    for _ in 0..k {
                        rec.log(&e, black_box(&points)).unwrap();
                    }
                    t += start.elapsed();
                    rec.flush(deadline()).unwrap();
                    left -= k;
                }
                t
            })
        });
    }
    g.finish();
    assert!(rec.shutdown(deadline()).is_complete());
}

/// Rows per second from `log()` to the null sink, with 1 and 2 producer threads.
fn end_to_end_rows(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/end_to_end");
    const ROWS: u64 = 200_000;
    for producers in [1u64, 2] {
        g.throughput(Throughput::Elements(ROWS * producers));
        g.sample_size(10);
        g.bench_with_input(
            BenchmarkId::new("1_point_rows", producers),
            &producers,
            |b, &producers| {
                let rec = recording();
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for t in 0..producers {
                                let rec = rec.clone();
                                s.spawn(move || {
                                    let e = EntityPath::parse(&format!("p{t}")).unwrap();
                                    let p = Points3D::new(vec![[1.0f32, 2.0, 3.0]]);
                                    for i in 0..ROWS as i64 {
                                        rec.set_time_sequence("frame", i).unwrap();
                                        rec.log(&e, &p).unwrap();
                                    }
                                });
                            }
                        });
                        rec.flush(deadline()).unwrap();
                        total += start.elapsed();
                    }
                    total
                });
                assert!(rec.shutdown(deadline()).is_complete());
            },
        );
    }
    g.finish();
}

/// GB/s of 1k-point rows (20 B/point: positions, colors, radii) end to end, one producer
/// (batched by the drain: each row is copied once into its batch).
fn kilo_point_rows(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/end_to_end");
    const ROWS: usize = 20_000;
    let points = cloud(1_000);
    g.throughput(Throughput::Bytes((points.payload_bytes() * ROWS) as u64));
    g.sample_size(10);
    let rec = recording();
    let e = EntityPath::parse("p").unwrap();
    g.bench_function("1k_point_rows", |b| {
        b.iter(|| {
            for i in 0..ROWS as i64 {
                rec.set_time_sequence("frame", i).unwrap();
                rec.log(&e, &points).unwrap();
            }
            rec.flush(deadline()).unwrap();
        })
    });
    g.finish();
    assert!(rec.shutdown(deadline()).is_complete());
}

/// GB/s of 1M-point clouds (20 B/point) from `log()` to the null sink.
fn clouds(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/clouds");
    g.sample_size(10);
    let points = cloud(1_000_000);
    g.throughput(Throughput::Bytes(points.payload_bytes() as u64 * 10));
    let rec = Recording::builder("bench")
        .sinks(NullSink.with_policy(SinkPolicy::Block))
        .batch(BatchPolicy::live())
        .start()
        .unwrap();
    let e = EntityPath::parse("lidar").unwrap();
    g.bench_function("1M_points_x10", |b| {
        b.iter(|| {
            for _ in 0..10 {
                rec.log(&e, &points).unwrap();
            }
            rec.flush(deadline()).unwrap();
        })
    });
    g.finish();
    assert!(rec.shutdown(deadline()).is_complete());
}

/// A producer's whole frame — get a buffer, fill it, log it — with a fresh `Vec` per frame
/// versus a buffer loaned from the recording's pool (warm memory). glibc recycles a freed
/// 12 MB (1M-point) buffer from its heap, so both cost the same there; above its 32 MiB mmap
/// ceiling (3M points = 36 MB) every fresh `Vec` is new pages from the kernel, which is
/// where the pool pays off.
fn fresh_vs_loaned(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine/producer_frame");
    g.sample_size(20);
    let rec = recording();
    let e = EntityPath::parse("lidar").unwrap();
    for (label, n) in [("1M", 1_000_000usize), ("3M", 3_000_000)] {
        g.throughput(Throughput::Bytes((n * 12) as u64));
        g.bench_function(format!("fresh_vec_{label}"), |b| {
            b.iter(|| {
                let cloud: Vec<[f32; 3]> = (0..n).map(|i| [i as f32, 1.0, 2.0]).collect();
                rec.log(&e, &Points3D::new(cloud)).unwrap();
            });
            rec.flush(deadline()).unwrap();
        });
        g.bench_function(format!("loaned_{label}"), |b| {
            b.iter(|| {
                let mut cloud = rec.loan_points(n);
                for (i, p) in cloud.iter_mut().enumerate() {
                    *p = [i as f32, 1.0, 2.0];
                }
                rec.log(&e, &Points3D::new(cloud)).unwrap();
            });
            rec.flush(deadline()).unwrap();
        });
    }
    g.finish();
    let (pool, _) = rec.pool_stats();
    eprintln!(
        "pool: {} loans, {} reused, {} fresh",
        pool.loans, pool.reuses, pool.fresh
    );
    assert!(rec.shutdown(deadline()).is_complete());
}

criterion_group!(
    benches,
    log_vs_floor,
    log_call,
    end_to_end_rows,
    kilo_point_rows,
    clouds,
    fresh_vs_loaned
);
criterion_main!(benches);
