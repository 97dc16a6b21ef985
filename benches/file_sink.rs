//! FileSink benchmarks: `Recording` → `FileSink` (`SinkPolicy::Block`) end to end, per I/O
//! backend, timed from the first `log()` to `rec.flush()` returning (every byte handed to the
//! kernel; no fsync: `SyncPolicy::Never`).
//!
//! - `file_sink/<backend>/1M_points`: 10 clouds of 1M points (20 B/point: positions f32x3,
//!   colors u32, radii f32) per iteration, each filled into buffers loaned from the
//!   recording's pools (warmed before timing, so the producer touches no fresh memory).
//! - `file_sink/<backend>/small_chunks`: 5,000 rows of 1,000 points per iteration, batched by
//!   the engine into ~2 MiB chunks.
//!
//! Files go to a temporary directory under `$TMPDIR` (default `/tmp`); each criterion sample
//! writes a fresh file (swapped in with `set_sinks`, the previous one deleted). Write rates
//! to new files swing a lot between runs on shared VMs: compare backends within one run, and
//! see `perf/file_sink.sh` for paired, interleaved comparisons against the raw write limit.
//!
//! `cargo bench --bench file_sink [-- pwrite]`. A backend that cannot start (io_uring
//! unavailable) is reported and skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use spate::sink::{FileSink, FileSinkOptions, IoBackend, SyncPolicy};
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy, SinkSpec};

const BACKENDS: [IoBackend; 3] = [IoBackend::Pwrite, IoBackend::Mmap, IoBackend::Uring];

/// Bounds on what is in flight (lane + sink queue), small enough that every buffer in
/// flight fits the pools (64 idle buffers each), so loans stay warm.
const LANE_BYTES: u64 = 32 << 20;
const QUEUE_BYTES: u64 = 32 << 20;

const CLOUD_POINTS: usize = 1_000_000;
const CLOUDS_PER_ITER: usize = 10;
const ROW_POINTS: usize = 1_000;
const ROWS_PER_ITER: usize = 5_000;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

fn options(backend: IoBackend) -> FileSinkOptions {
    FileSinkOptions::default()
        .backend(backend)
        .sync(SyncPolicy::Never)
}

fn spec(sink: FileSink) -> SinkSpec {
    sink.with_policy(SinkPolicy::Block)
        .max_queue_bytes(QUEUE_BYTES)
}

/// Fills every element of a loaned cloud, as a producer would.
fn fill(positions: &mut [[f32; 3]], colors: &mut [u32], radii: &mut [f32], frame: i64) {
    let f = frame as f32;
    for (i, p) in positions.iter_mut().enumerate() {
        *p = [i as f32 * 0.001, f, (i % 7) as f32 * 0.25];
    }
    for (i, c) in colors.iter_mut().enumerate() {
        *c = ((i as u32 % 256) << 24) | 0xff;
    }
    for (i, r) in radii.iter_mut().enumerate() {
        *r = 0.01 + (i % 10) as f32 * 0.001;
    }
}

/// Logs one cloud of `n` points from loaned (pooled) buffers.
fn log_cloud(rec: &Recording, entity: &EntityPath, n: usize, frame: i64) {
    rec.set_time_sequence("frame", frame).unwrap();
    let mut p = rec.loan_points(n);
    let mut c = rec.loan_u32(n);
    let mut r = rec.loan_f32(n);
    fill(&mut p, &mut c, &mut r, frame);
    rec.log(entity, &Points3D::new(p).with_colors(c).with_radii(r))
        .unwrap();
}

/// Loans, touches and returns `clouds` clouds' worth of buffers so later loans are warm.
fn warm_pools(rec: &Recording, n: usize, clouds: usize) {
    let held: Vec<_> = (0..clouds)
        .map(|_| {
            let mut p = rec.loan_points(n);
            let mut c = rec.loan_u32(n);
            let mut r = rec.loan_f32(n);
            fill(&mut p, &mut c, &mut r, 0);
            (p, c, r)
        })
        .collect();
    drop(held);
}

/// One recording per (backend, workload); every criterion sample gets a fresh file.
struct Target {
    rec: Recording,
    dir: PathBuf,
    name: String,
    next: u32,
    current: PathBuf,
}

impl Target {
    fn new(dir: &Path, backend: IoBackend, name: &str) -> Option<Self> {
        let current = dir.join(format!("{name}-{backend}-0.rrd"));
        let sink = match FileSink::create(&current, options(backend)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("file_sink/{backend}: skipped: {e}");
                return None;
            }
        };
        let rec = Recording::builder("bench")
            .sinks(spec(sink))
            .lane_capacity(LANE_BYTES)
            .start()
            .expect("start");
        Some(Self {
            rec,
            dir: dir.to_path_buf(),
            name: format!("{name}-{backend}"),
            next: 1,
            current,
        })
    }

    /// Swaps in a fresh file (the old sink closes on its own thread) and deletes the old one.
    fn fresh_file(&mut self, backend: IoBackend) {
        let path = self.dir.join(format!("{}-{}.rrd", self.name, self.next));
        self.next += 1;
        let sink = FileSink::create(&path, options(backend)).expect("create file");
        self.rec.set_sinks(spec(sink)).expect("set_sinks");
        let old = std::mem::replace(&mut self.current, path);
        let _ = std::fs::remove_file(old);
    }

    fn finish(self) {
        let report = self.rec.shutdown(deadline());
        assert!(report.is_complete(), "incomplete: {report:#?}");
        let _ = std::fs::remove_file(&self.current);
    }
}

fn file_sink(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("spate-bench-file-sink")
        .tempdir()
        .expect("temp dir");
    let cloud = EntityPath::parse("lidar").unwrap();
    let rows = EntityPath::parse("rows").unwrap();

    for backend in BACKENDS {
        let mut g = c.benchmark_group(format!("file_sink/{backend}"));
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));

        // (a) 1M-point clouds from warm loaned buffers.
        if let Some(mut t) = Target::new(dir.path(), backend, "1M") {
            warm_pools(&t.rec, CLOUD_POINTS, 8);
            g.throughput(Throughput::Bytes(
                (CLOUD_POINTS * 20 * CLOUDS_PER_ITER) as u64,
            ));
            let mut frame = 0i64;
            g.bench_function("1M_points", |b| {
                b.iter_custom(|iters| {
                    t.fresh_file(backend);
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        for _ in 0..CLOUDS_PER_ITER {
                            log_cloud(&t.rec, &cloud, CLOUD_POINTS, frame);
                            frame += 1;
                        }
                        t.rec.flush(deadline()).unwrap();
                        total += start.elapsed();
                    }
                    total
                })
            });
            t.finish();
        }

        // (b) small rows, batched into chunks by the engine.
        if let Some(mut t) = Target::new(dir.path(), backend, "small") {
            warm_pools(&t.rec, ROW_POINTS, 64);
            g.throughput(Throughput::Bytes((ROW_POINTS * 20 * ROWS_PER_ITER) as u64));
            let mut frame = 0i64;
            g.bench_function("small_chunks", |b| {
                b.iter_custom(|iters| {
                    t.fresh_file(backend);
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        for _ in 0..ROWS_PER_ITER {
                            log_cloud(&t.rec, &rows, ROW_POINTS, frame);
                            frame += 1;
                        }
                        t.rec.flush(deadline()).unwrap();
                        total += start.elapsed();
                    }
                    total
                })
            });
            t.finish();
        }
        g.finish();
    }
}

criterion_group!(benches, file_sink);
criterion_main!(benches);
