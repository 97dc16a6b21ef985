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
//! Until the engine exists this calls the wire encoder directly, one chunk per row.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use spate::wire::{Compression, EncodedMessage, RrdEncoder, StoreInfo};
use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};

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
}

/// The cloud of entity `e`, frame `f`, exactly as the module docs define it.
fn cloud(n: u32, f: u32, e: u32) -> Points3D {
    let positions: Vec<[f32; 3]> = (0..n)
        .map(|i| [i as f32 * 0.001, f as f32, e as f32 + (i % 7) as f32 * 0.25])
        .collect();
    let colors: Vec<u32> = (0..n)
        .map(|i| u32::from_be_bytes([(i % 256) as u8, (f % 256) as u8, (e % 256) as u8, 255]))
        .collect();
    let radii: Vec<f32> = (0..n).map(|i| 0.01 + (i % 10) as f32 * 0.001).collect();
    Points3D::new(positions)
        .with_colors(colors)
        .with_radii(radii)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let compression = if args.lz4 {
        Compression::Lz4
    } else {
        Compression::Off
    };
    let store = StoreInfo::new("spate_points", "points-example")?;
    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut w = BufWriter::with_capacity(8 << 20, file);
    let mut rrd = RrdEncoder::new(compression);
    rrd.write_header(&mut w)?;
    rrd.write_message(&mut w, &EncodedMessage::set_store_info(&store))?;
    let entities: Vec<EntityPath> = (0..args.entities)
        .map(|e| EntityPath::parse(&format!("points/{e}")))
        .collect::<Result<_, _>>()?;
    for f in 0..args.frames {
        let time = TimePoint::default().with_sequence("frame", i64::from(f))?;
        for (e, entity) in entities.iter().enumerate() {
            let chunk = Chunk::from_row(
                entity.clone(),
                RowId::new(),
                &time,
                &cloud(args.points, f, e as u32),
            )?;
            rrd.write_message(
                &mut w,
                &EncodedMessage::arrow_msg(&chunk, &store, compression)?,
            )?;
        }
    }
    rrd.write_finish(&mut w)?;
    w.flush()?;
    eprintln!(
        "wrote {} ({} bytes): {} entities x {} frames x {} points",
        args.out.display(),
        rrd.offset(),
        args.entities,
        args.frames,
        args.points
    );
    Ok(())
}
