//! # spate
//!
//! A high-throughput ingest engine that gets sensor data — above all very large point
//! clouds — out of a program and into Rerun's world: `.rrd` files and Rerun viewers or
//! servers over gRPC.
//!
//! This release holds the foundation every other part builds on: the data model
//! ([`EntityPath`], [`TimePoint`], [`Chunk`], [`Points3D`]) and the Rerun 0.41 wire format
//! ([`wire`]): an encoder that produces each message as a list of [`bytes::Bytes`] parts
//! pointing at the caller's own memory, `.rrd` framing with the footer manifest, and a
//! validating decoder.
//!
//! ```
//! use spate::wire::{Compression, EncodedMessage, RrdEncoder, StoreInfo};
//! use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
//!
//! let store = StoreInfo::new("lidar_rig", "run-1")?;
//! let cloud: Vec<[f32; 3]> = (0..1000).map(|i| [i as f32, 0.0, 0.0]).collect();
//! let points = Points3D::new(cloud).with_radii([0.02]);
//! let time = TimePoint::default().with_sequence("frame", 0)?;
//! let chunk = Chunk::from_row(EntityPath::parse("lidar/front")?, RowId::new(), &time, &points)?;
//!
//! let mut rrd = RrdEncoder::new(Compression::Off);
//! let mut file = Vec::new();
//! rrd.write_header(&mut file)?;
//! rrd.write_message(&mut file, &EncodedMessage::set_store_info(&store))?;
//! rrd.write_message(&mut file, &EncodedMessage::arrow_msg(&chunk, &store, Compression::Off)?)?;
//! rrd.write_finish(&mut file)?; // End message, footer manifest, StreamFooter
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Unsafe code
//!
//! None. `unsafe_code` is denied crate-wide; later I/O backends opt in per file, each
//! block with a `// SAFETY:` comment.

pub mod archetype;
pub mod chunk;
mod drain;
mod entity;
mod lane;
pub mod pool;
mod recording;
pub mod sink;
pub mod stats;
mod sync;
mod time;
pub mod wire;

pub use archetype::{ArchetypeError, Points3D};
pub use chunk::batcher::{BatchEnvError, BatchPolicy};
pub use chunk::{
    AsComponents, Chunk, ChunkBuilder, ChunkError, ChunkId, ComponentDescriptor, RowId, Tuid,
};
pub use entity::{EntityPath, EntityPathError};
pub use lane::LanePolicy;
pub use pool::{BufferPool, Loan, LoanedPoints, PoolStats};
pub use recording::{
    Archetype, DEFAULT_LANE_CAPACITY_BYTES, DEFAULT_LANE_SLOTS, DROP_FLUSH_DEADLINE, Recording,
    RecordingBuilder, RecordingError, ShutdownReport,
};
pub use sink::{
    MemorySink, MemorySinkHandle, Sink, SinkError, SinkExt, SinkPolicy, SinkReport, SinkSpec,
};
pub use stats::Stats;
pub use time::{TimeError, TimePoint, Timeline, TimelineKind};

/// Internals exposed only to the loom model tests (`--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::drain::park::Parker;
}
