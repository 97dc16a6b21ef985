//! Deterministic recording writer: the data contract every spate output path is tested with.
//!
//! ```text
//! cargo run --release --example points -- --out FILE --points N --frames F [--entities E] [--lz4]
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
use spate::sink::{FileSink, FileSinkOptions, IoBackend};
use spate::wire::Compression;
use spate::{EntityPath, Recording, SinkExt, SinkPolicy};

#[derive(Parser)]
#[command(about = "Write a deterministic Points3D recording")]
struct Args {
    /// Output `.rrd` file.
    #[arg(long)]
    out: PathBuf,
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
    let sink = FileSink::create(&args.out, FileSinkOptions::default().backend(args.backend))
        .with_context(|| format!("creating {}", args.out.display()))?;
    let rec = Recording::builder("spate_points")
        .recording_id("points-example")
        .compression(compression)
        // Lossless: the file must hold every row.
        .sinks(sink.with_policy(SinkPolicy::Block))
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
    let sink = &report.sinks[0].stats;
    anyhow::ensure!(
        report.is_complete(),
        "not everything reached the file: {report:#?}"
    );
    eprintln!(
        "wrote {} via {}: {} entities x {} frames x {} points, {} chunks, {} bytes in {:.2?}",
        args.out.display(),
        sink.name,
        args.entities,
        args.frames,
        args.points,
        report.stats.chunks_encoded,
        sink.bytes,
        start.elapsed()
    );
    Ok(())
}
