//! Deterministic recording writer: the data contract every spate output path is tested with.
//!
//! ```text
//! cargo run --release --example points -- [--out FILE] [--grpc URL] --points N --frames F [--entities E] [--lz4]
//! ```
//!
//! Entity `points/{e}` for e in 0..E; timeline `frame` (sequence) = f, one row per frame;
//! point i of frame f of entity e has position `[i * 0.001, f, e + (i % 7) * 0.25]`
//! (f32 arithmetic), color `0xRRGGBBAA` with R = i % 256, G = f % 256, B = e % 256, A = 255,
//! and radius `0.01 + (i % 10) * 0.001`.
//!
//! It logs through the engine — `Recording` + `FileSink` — like any user of the library.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use spate::sink::{FileSink, FileSinkOptions, GrpcSink, IoBackend};
use spate::wire::Compression;
use spate::{EntityPath, Recording, SinkExt, SinkPolicy, SinkSpec};

#[derive(Parser)]
#[command(about = "Write a deterministic Points3D recording")]
struct Args {
    /// Output `.rrd` file.
    #[arg(long, required_unless_present = "grpc")]
    out: Option<PathBuf>,
    /// Also (or only) stream to a Rerun gRPC endpoint, e.g. `rerun+http://127.0.0.1:9876/proxy`.
    #[arg(long)]
    grpc: Option<String>,
    /// Points per cloud.
    #[arg(long, default_value_t = 1000)]
    points: u32,
    /// Frames per entity.
    #[arg(long, default_value_t = 10)]
    frames: u32,
    /// Number of entities `points/0`…
    #[arg(long, default_value_t = 1)]
    entities: u32,
    /// LZ4-compress chunk payloads.
    #[arg(long)]
    lz4: bool,
    /// File I/O backend: auto, uring, mmap or pwrite.
    #[arg(long, default_value = "auto")]
    backend: IoBackend,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let compression = if args.lz4 {
        Compression::Lz4
    } else {
        Compression::Off
    };
    // Lossless: every sink must get every row. Both at once is a tee: each chunk is
    // encoded once and the same bytes go to the file and the network.
    let mut sinks: Vec<SinkSpec> = Vec::new();
    if let Some(out) = &args.out {
        let sink = FileSink::create(out, FileSinkOptions::default().backend(args.backend))
            .with_context(|| format!("creating {}", out.display()))?;
        sinks.push(sink.with_policy(SinkPolicy::Block));
    }
    if let Some(url) = &args.grpc {
        let sink = GrpcSink::connect(url).with_context(|| format!("connecting to {url}"))?;
        sinks.push(sink.with_policy(SinkPolicy::Block));
    }
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .compression(compression)
        .sinks(sinks)
        .start()?;
    let entities: Vec<EntityPath> = (0..args.entities)
        .map(|e| EntityPath::parse(&format!("points/{e}")))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    for f in 0..args.frames {
        rec.set_time_sequence("frame", i64::from(f))?;
        for (e, entity) in entities.iter().enumerate() {
            rec.log(
                entity,
                &spate::demo::example_cloud(args.points, f, e as u32),
            )?;
        }
    }
    let report = rec.shutdown(Instant::now() + Duration::from_secs(600));
    anyhow::ensure!(
        report.is_complete(),
        "not everything was delivered: {report:#?}"
    );
    for sink in &report.sinks {
        eprintln!(
            "{}: {} messages, {} bytes",
            sink.stats.name, sink.stats.messages, sink.stats.bytes
        );
    }
    eprintln!(
        "{} entities x {} frames x {} points: {} chunks (each encoded once) in {:.2?}",
        args.entities,
        args.frames,
        args.points,
        report.stats.chunks_encoded,
        start.elapsed()
    );
    Ok(())
}
