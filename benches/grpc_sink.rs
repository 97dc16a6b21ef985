//! GrpcSink benchmarks: `Recording` → `GrpcSink` (`SinkPolicy::Block`) → spate's in-process
//! receiving server (`ProxyReceiver`, discarding) on loopback, timed from the first `log()` of
//! an iteration until the receiver has counted every message of it.
//!
//! `grpc_sink/<http2>_<batching>/100k_points`: 50 clouds of 100k points (20 B/point:
//! positions f32x3, colors u32, radii f32; 100 MB) per iteration, filled into buffers loaned
//! from the recording's pools (warmed before timing), with
//! - `<http2>`: `tuned` = `Http2Tuning::default()` (32/64 MiB windows, 1 MiB frames, 8 MiB
//!   send buffer) or `hyper` = `Http2Tuning::hyper_defaults()` (2/5 MiB windows, 16 KiB
//!   frames, 1 MiB send buffer), on both ends (the receiver's windows govern the upload);
//! - `<batching>`: `batched` = `GrpcBatchPolicy::default()` (runs of up to 8 MiB per HTTP/2
//!   write) or `unbatched` = `max_bytes(1)` (every message its own run).
//!
//! The machine's 2 cores run the producer, the drain, the sink worker, the `spate-grpc`
//! thread and the receiver: numbers swing with other load; compare the variants within one
//! run (`perf/grpc_sink.sh` has paired, interleaved runs against a bare tonic client).
//!
//! `cargo bench --bench grpc_sink [-- tuned]` (about a minute).

use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use spate::net::Http2Tuning;
use spate::server::testing::{ProxyReceiver, ReceiverOptions};
use spate::sink::grpc::{ConnectionState, GrpcBatchPolicy, GrpcSink, GrpcSinkOptions};
use spate::{EntityPath, Points3D, Recording, SinkExt, SinkPolicy};

/// Bounds on what is in flight (lane + sink queue).
const LANE_BYTES: u64 = 32 << 20;
const QUEUE_BYTES: u64 = 32 << 20;

const CLOUD_POINTS: usize = 100_000;
const CLOUDS_PER_ITER: usize = 50;

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
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

/// A receiver and a recording streaming to it, with one HTTP/2 tuning and batch policy.
struct Target {
    server: ProxyReceiver,
    rec: Recording,
}

impl Target {
    fn new(http2: Http2Tuning, batch: GrpcBatchPolicy) -> Self {
        let server = ProxyReceiver::start_with(
            "127.0.0.1:0".parse().unwrap(),
            ReceiverOptions::default().discarding().http2(http2),
        )
        .expect("start the receiver");
        let sink = GrpcSink::connect_with(
            &server.url(),
            GrpcSinkOptions::default().http2(http2).batch(batch),
        )
        .expect("sink");
        let state = sink.state_handle();
        let rec = Recording::builder("bench")
            .sinks(
                sink.with_policy(SinkPolicy::Block)
                    .max_queue_bytes(QUEUE_BYTES),
            )
            .lane_capacity(LANE_BYTES)
            .start()
            .expect("start");
        assert!(
            state.wait_until(deadline(), |s| s.state == ConnectionState::Connected),
            "not connected: {:?}",
            state.stats()
        );
        warm_pools(&rec, CLOUD_POINTS, 32);
        Self { server, rec }
    }

    /// Logs one iteration's clouds and waits until the receiver counted them all.
    fn iteration(&self, entity: &EntityPath, frame: &mut i64) -> Duration {
        let before = self.server.counts().messages;
        let start = Instant::now();
        for _ in 0..CLOUDS_PER_ITER {
            log_cloud(&self.rec, entity, CLOUD_POINTS, *frame);
            *frame += 1;
        }
        // Every 100k-point cloud is one chunk (over the batcher's pass-through size), so one
        // message.
        let target = before + CLOUDS_PER_ITER as u64;
        assert!(
            self.server
                .wait_until(Duration::from_secs(120), |c| c.messages >= target),
            "the receiver did not get the clouds: {:?}",
            self.server.counts()
        );
        start.elapsed()
    }

    fn finish(self) {
        let report = self.rec.shutdown(deadline());
        assert!(report.is_complete(), "incomplete: {report:#?}");
        self.server.kill();
    }
}

fn grpc_sink(c: &mut Criterion) {
    let entity = EntityPath::parse("lidar").unwrap();
    let mut g = c.benchmark_group("grpc_sink");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Bytes(
            (CLOUD_POINTS * 20 * CLOUDS_PER_ITER) as u64,
        ));
    let variants = [
        (
            "tuned_batched",
            Http2Tuning::default(),
            GrpcBatchPolicy::default(),
        ),
        (
            "hyper_batched",
            Http2Tuning::hyper_defaults(),
            GrpcBatchPolicy::default(),
        ),
        (
            "tuned_unbatched",
            Http2Tuning::default(),
            GrpcBatchPolicy::default().max_bytes(1),
        ),
        (
            "hyper_unbatched",
            Http2Tuning::hyper_defaults(),
            GrpcBatchPolicy::default().max_bytes(1),
        ),
    ];
    for (name, http2, batch) in variants {
        let t = Target::new(http2, batch);
        let mut frame = 0i64;
        g.bench_function(format!("{name}/100k_points"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| t.iteration(&entity, &mut frame)).sum())
        });
        t.finish();
    }
    g.finish();
}

criterion_group!(benches, grpc_sink);
criterion_main!(benches);
