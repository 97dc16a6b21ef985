//! Encode throughput benchmarks: `Chunk` → `EncodedMessage` (ArrowMsg), uncompressed and
//! LZ4, for a 1M-point cloud and for 1-point messages; `.rrd` framing and footer; and a
//! `memcpy` of the same payload as an in-run memory-bandwidth reference.
//!
//! Benchmark ids follow `component/operation/size`:
//!
//! | id                                         | measures                                         |
//! |--------------------------------------------|--------------------------------------------------|
//! | `reference/memcpy/1M_points`               | `copy_from_slice` of the 20 MB payload           |
//! | `encode/arrow_msg/1M_points`               | built `Chunk` → `EncodedMessage`, no compression |
//! | `encode/build_and_arrow_msg/1M_points`     | owned Vecs → `Points3D` → `Chunk` → message      |
//! | `encode/arrow_msg_lz4/1M_points`           | as above, LZ4                                    |
//! | `encode/build_and_arrow_msg_lz4/1M_points` | as above, LZ4                                    |
//! | `encode/arrow_msg_cold_cache/1M_points`    | sub-step: encode after a 20 MB write (untimed)   |
//! | `chunk/from_row/1M_points`                 | sub-step: owned Vecs → `Points3D` → `Chunk`      |
//! | `encode/record_batch/1M_points`            | sub-step: `chunk_to_record_batch`                |
//! | `encode/ipc_stream/1M_points`              | sub-step: Arrow IPC `StreamEncoder`              |
//! | `lz4/gather/1M_points`                     | sub-step: IPC parts → one fresh `Vec` (a copy)   |
//! | `lz4/block_compress/1M_points`             | sub-step: `lz4_flex` on the flat IPC stream      |
//! | `lz4/block_compress_into/1M_points`        | the same into a pre-allocated output buffer      |
//! | `encode/arrow_msg/1_point`                 | 1-row, 1-point chunk → message                   |
//! | `encode/build_and_arrow_msg/1_point`       | owned Vecs → chunk → message, 1 point            |
//! | `rrd/frame/1M_points`                      | `RrdEncoder::frame` of the 1M-point message      |
//! | `rrd/finish/1000_chunks`                   | End message + footer manifest of 1000 chunks     |
//!
//! The payload is 1 000 000 points × (12 B position + 4 B color + 4 B radius) = 20 MB,
//! shaped like a spinning LiDAR sweep (deterministic pseudo-random ranges), so LZ4 sees
//! realistic, not trivially compressible, data.
//!
//! Run: `cargo bench --bench encode`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use arrow_ipc::writer::StreamEncoder;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use spate::wire::{Compression, EncodedMessage, RrdEncoder, StoreInfo, chunk_to_record_batch};
use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};

/// Points in the big cloud.
const N_POINTS: usize = 1_000_000;
/// Payload bytes per point: position (3 × f32) + color (u32) + radius (f32).
const BYTES_PER_POINT: usize = 12 + 4 + 4;
/// Payload bytes of the big cloud (20 MB).
const PAYLOAD_BYTES: usize = N_POINTS * BYTES_PER_POINT;
/// Chunks in the footer-manifest benchmark.
const MANIFEST_CHUNKS: usize = 1000;

/// The owned inputs of one cloud, as a caller would hand them over.
#[derive(Clone)]
struct Cloud {
    positions: Vec<[f32; 3]>,
    colors: Vec<u32>,
    radii: Vec<f32>,
}

impl Cloud {
    fn into_points(self) -> Points3D {
        Points3D::new(self.positions)
            .with_colors(self.colors)
            .with_radii(self.radii)
    }
}

/// xorshift64*: deterministic, dependency-free noise.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40; // 24 bits
        bits as f32 / (1u64 << 24) as f32
    }
}

/// A LiDAR-like sweep of `n` points: 64 rings, ranges 2–60 m with noise, color from range,
/// radius growing with range.
fn lidar_cloud(n: usize) -> Cloud {
    const RINGS: usize = 64;
    let per_ring = n.div_ceil(RINGS).max(1);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut positions = Vec::with_capacity(n);
    let mut colors = Vec::with_capacity(n);
    let mut radii = Vec::with_capacity(n);
    for i in 0..n {
        let ring = i / per_ring;
        let az = (i % per_ring) as f32 / per_ring as f32 * std::f32::consts::TAU;
        let el = (ring as f32 / RINGS as f32 - 0.5) * 0.6;
        let range = 2.0 + 58.0 * rng.next_f32();
        let (sa, ca) = az.sin_cos();
        let (se, ce) = el.sin_cos();
        positions.push([range * ce * ca, range * ce * sa, range * se]);
        let v = (255.0 * (1.0 - range / 60.0)) as u32;
        colors.push((v << 24) | (v << 16) | (v << 8) | 0xff);
        radii.push(0.005 + 0.0005 * range);
    }
    Cloud {
        positions,
        colors,
        radii,
    }
}

struct Fixture {
    entity: EntityPath,
    time: TimePoint,
    store: StoreInfo,
}

impl Fixture {
    fn new() -> Self {
        Self {
            entity: EntityPath::parse("lidar/front").expect("entity path"),
            time: TimePoint::default()
                .with_sequence("frame", 0)
                .expect("timeline"),
            store: StoreInfo::new("spate_bench", "bench").expect("store info"),
        }
    }

    fn chunk(&self, points: &Points3D) -> Chunk {
        Chunk::from_row(self.entity.clone(), RowId::new(), &self.time, points).expect("chunk")
    }

    /// The timed part of "build chunk + encode".
    fn build_and_encode(&self, cloud: Cloud, compression: Compression) -> EncodedMessage {
        let points = cloud.into_points();
        let chunk =
            Chunk::from_row(self.entity.clone(), RowId::new(), &self.time, &points).expect("chunk");
        EncodedMessage::arrow_msg(&chunk, &self.store, compression).expect("encode")
    }
}

/// Settings for benchmarks whose iteration costs milliseconds or moves 20 MB.
fn big(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
}

/// Settings for sub-microsecond to microsecond benchmarks.
fn small(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
}

/// Prints, once, the message sizes and whether the uncompressed payload parts are the
/// chunk's own buffers (the zero-copy claim), so the numbers below can be read correctly.
fn report_layout(fx: &Fixture, cloud: &Cloud) {
    let owned = cloud.clone();
    let ptrs = [
        owned.positions.as_ptr().cast::<u8>(),
        owned.colors.as_ptr().cast::<u8>(),
        owned.radii.as_ptr().cast::<u8>(),
    ];
    let points = owned.into_points();
    assert_eq!(points.payload_bytes(), PAYLOAD_BYTES);
    let chunk = fx.chunk(&points);
    let off = EncodedMessage::arrow_msg(&chunk, &fx.store, Compression::Off).expect("encode");
    let lz4 = EncodedMessage::arrow_msg(&chunk, &fx.store, Compression::Lz4).expect("encode");
    let parts = off.parts();
    let shared = ptrs
        .iter()
        .filter(|&&p| parts.iter().any(|b| b.as_ptr() == p))
        .count();
    eprintln!(
        "[layout] payload {PAYLOAD_BYTES} B; ArrowMsg off: {} B in {} parts (largest {} B), \
         caller buffers found as parts: {shared}/3; ArrowMsg lz4: {} B in {} parts (ratio {:.3})",
        off.len(),
        parts.len(),
        parts.iter().map(|p| p.len()).max().unwrap_or(0),
        lz4.len(),
        lz4.parts().len(),
        lz4.len() as f64 / off.len() as f64,
    );
}

fn benches(c: &mut Criterion) {
    let fx = Fixture::new();
    let template = lidar_cloud(N_POINTS);
    report_layout(&fx, &template);

    // --- Reference: memcpy of the same 20 MB, both sides allocated and touched. ---
    {
        let src: Vec<u8> = (0..PAYLOAD_BYTES).map(|i| i as u8).collect();
        let mut dst = vec![0xa5u8; PAYLOAD_BYTES];
        let mut g = c.benchmark_group("reference/memcpy");
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&mut dst);
            });
        });
        g.finish();
    }

    // --- 1M points: built chunk → message, and owned Vecs → chunk → message. ---
    let points = template.clone().into_points();
    let chunk = fx.chunk(&points);
    for (compression, suffix) in [(Compression::Off, ""), (Compression::Lz4, "_lz4")] {
        let mut g = c.benchmark_group(format!("encode/arrow_msg{suffix}"));
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter(|| EncodedMessage::arrow_msg(black_box(&chunk), &fx.store, compression));
        });
        g.finish();

        let mut g = c.benchmark_group(format!("encode/build_and_arrow_msg{suffix}"));
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter_batched(
                || template.clone(), // allocation + fill: not timed
                |cloud| fx.build_and_encode(cloud, compression),
                BatchSize::LargeInput,
            );
        });
        g.finish();
    }

    // --- Sub-steps of the 1M-point encode, to locate any cost. ---
    {
        // The encode of a built chunk right after a 20 MB write (untimed) has evicted the
        // caches, as in `build_and_arrow_msg`: separates cold-cache cost from build cost.
        let mut scratch = vec![0u8; PAYLOAD_BYTES];
        let mut g = c.benchmark_group("encode/arrow_msg_cold_cache");
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter_batched(
                || {
                    scratch.fill(black_box(7));
                },
                |()| EncodedMessage::arrow_msg(black_box(&chunk), &fx.store, Compression::Off),
                BatchSize::LargeInput,
            );
        });
        g.finish();

        let mut g = c.benchmark_group("chunk/from_row");
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter_batched(
                || template.clone(), // allocation + fill: not timed
                |cloud| fx.chunk(&cloud.into_points()),
                BatchSize::LargeInput,
            );
        });
        g.finish();

        let batch = chunk_to_record_batch(&chunk).expect("record batch");
        let mut g = c.benchmark_group("encode/record_batch");
        small(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter(|| chunk_to_record_batch(black_box(&chunk)).expect("record batch"));
        });
        g.finish();

        let mut g = c.benchmark_group("encode/ipc_stream");
        small(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter(|| {
                let mut enc = StreamEncoder::try_new(&batch.schema()).expect("encoder");
                let mut bufs = enc.encode(black_box(&batch)).expect("ipc");
                bufs.extend(enc.finish().expect("ipc"));
                bufs
            });
        });
        g.finish();

        let ipc: Vec<_> = {
            let mut enc = StreamEncoder::try_new(&batch.schema()).expect("encoder");
            let mut bufs = enc.encode(&batch).expect("ipc");
            bufs.extend(enc.finish().expect("ipc"));
            bufs
        };
        let mut g = c.benchmark_group("lz4/gather");
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        // What the LZ4 path does before compressing: one fresh contiguous copy of the stream.
        g.bench_function("1M_points", |b| {
            b.iter(|| {
                let len = ipc.iter().map(|p| p.len()).sum();
                let mut flat = Vec::with_capacity(len);
                for p in &ipc {
                    flat.extend_from_slice(p);
                }
                flat
            });
        });
        g.finish();

        let flat: Vec<u8> = ipc
            .iter()
            .map(|p| p.as_slice())
            .collect::<Vec<_>>()
            .concat();
        let mut g = c.benchmark_group("lz4/block_compress");
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter(|| lz4_flex::block::compress(black_box(&flat)));
        });
        g.finish();

        // The same without the output allocation (pre-allocated, pre-touched buffer): the
        // difference to `block_compress` is allocation and page-fault cost.
        let mut out = vec![0xa5u8; lz4_flex::block::get_maximum_output_size(flat.len())];
        let mut g = c.benchmark_group("lz4/block_compress_into");
        big(&mut g);
        g.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));
        g.bench_function("1M_points", |b| {
            b.iter(|| lz4_flex::block::compress_into(black_box(&flat), &mut out).expect("lz4"));
        });
        g.finish();
    }

    // --- 1-row, 1-point messages: messages per second. ---
    {
        let one = lidar_cloud(1);
        let one_chunk = fx.chunk(&one.clone().into_points());
        let mut g = c.benchmark_group("encode/arrow_msg");
        small(&mut g);
        g.throughput(Throughput::Elements(1));
        g.bench_function("1_point", |b| {
            b.iter(|| {
                EncodedMessage::arrow_msg(black_box(&one_chunk), &fx.store, Compression::Off)
            });
        });
        g.finish();

        let mut g = c.benchmark_group("encode/build_and_arrow_msg");
        small(&mut g);
        g.throughput(Throughput::Elements(1));
        g.bench_function("1_point", |b| {
            b.iter_batched(
                || one.clone(), // three 1-element Vecs: not timed
                |cloud| fx.build_and_encode(cloud, Compression::Off),
                BatchSize::SmallInput,
            );
        });
        g.finish();
    }

    // --- .rrd framing. ---
    {
        let msg = EncodedMessage::arrow_msg(&chunk, &fx.store, Compression::Off).expect("encode");
        let mut g = c.benchmark_group("rrd/frame");
        small(&mut g);
        // Bytes framed per call: a rate far above memcpy's shows framing copies nothing.
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function("1M_points", |b| {
            // A fresh encoder every 1024 messages (outside the timing) keeps the manifest,
            // which grows by one entry per frame, at a realistic size.
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = (iters - done).min(1024);
                    let mut rrd = RrdEncoder::new(Compression::Off);
                    let start = Instant::now();
                    for _ in 0..n {
                        black_box(rrd.frame(black_box(&msg)));
                    }
                    total += start.elapsed();
                    drop(black_box(rrd));
                    done += n;
                }
                total
            });
        });
        g.finish();

        // 1000 chunks (100 points each, frames 0..1000) of one entity in the manifest.
        let small_cloud = lidar_cloud(100);
        let mut rrd = RrdEncoder::new(Compression::Off);
        rrd.header();
        rrd.frame(&EncodedMessage::set_store_info(&fx.store));
        for frame in 0..MANIFEST_CHUNKS {
            let time = TimePoint::default()
                .with_sequence("frame", frame as i64)
                .expect("timeline");
            let chunk = Chunk::from_row(
                fx.entity.clone(),
                RowId::new(),
                &time,
                &small_cloud.clone().into_points(),
            )
            .expect("chunk");
            let msg =
                EncodedMessage::arrow_msg(&chunk, &fx.store, Compression::Off).expect("encode");
            rrd.frame(&msg);
        }
        let mut g = c.benchmark_group("rrd/finish");
        big(&mut g);
        g.throughput(Throughput::Elements(MANIFEST_CHUNKS as u64));
        // `finish` rebuilds the footer from the (unchanged) manifest on every call.
        g.bench_function("1000_chunks", |b| {
            b.iter(|| rrd.finish().expect("finish"));
        });
        g.finish();
    }
}

criterion_group!(encode, benches);
criterion_main!(encode);
