//! # spate
//!
//! A lock-free, high-throughput ingest engine that gets sensor data — above all very large
//! point clouds — out of a program and into Rerun's world: `.rrd` files and Rerun viewers or
//! servers over gRPC, without stalling the sensor thread and without losing data silently.
//!
//! ```text
//! producer threads ──log()──▶ per-thread SPSC lanes ──▶ drain thread
//!                                                      │ merge lanes fairly, batch small rows,
//!                                                      │ encode each chunk once
//!                                                      ▼ the same Bytes to every sink (refcounts)
//!                                      sink worker threads, each behind a byte-bounded queue
//! ```
//!
//! ```
//! use spate::{EntityPath, MemorySink, Points3D, Recording, SinkExt, SinkPolicy};
//! use std::time::{Duration, Instant};
//!
//! let (sink, received) = MemorySink::new();
//! let rec = Recording::builder("lidar_rig")
//!     .sinks(sink.with_policy(SinkPolicy::Block))
//!     .start()?;
//! let front = EntityPath::parse("lidar/front")?;
//! for frame in 0..3 {
//!     rec.set_time_sequence("frame", frame)?;
//!     let mut cloud = rec.loan_points(100_000);          // warm, pooled memory
//!     for (i, p) in cloud.iter_mut().enumerate() {
//!         *p = [i as f32 * 0.01, frame as f32, 0.0];
//!     }
//!     rec.log(&front, &Points3D::new(cloud).with_radii([0.02]))?; // no copy, no lock
//! }
//! let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
//! assert!(report.is_complete());
//! // The three frames (the stream also holds the recording's properties, at `/__properties`).
//! let decoded = received.decode()?;
//! let front_rows: usize = decoded
//!     .chunks()
//!     .filter(|c| c.entity().as_str() == "/lidar/front")
//!     .map(|c| c.num_rows())
//!     .sum();
//! assert_eq!(front_rows, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Ordering
//!
//! Each thread logs into its own lane; rows of one thread reach every sink in logging order
//! per entity, whatever their components or timelines (rows of different entities go to
//! different chunks). Lanes are merged fairly: the drain takes at most a burst of rows from a
//! lane before moving on, so a busy thread cannot starve a quiet one. RowIds increase in
//! logging order across the process.
//!
//! # Backpressure
//!
//! Memory is bounded in bytes at every queue — the bytes a queued row or message keeps alive,
//! not only its length. A full lane applies its [`LanePolicy`] (`Block`: the producer waits;
//! `DropNewest`: the row is dropped and counted). A full sink queue applies its
//! [`SinkPolicy`] (`Block`: the drain waits, and so, eventually, do the producers — but never
//! on a failed sink, nor past a shutdown's deadline; `DropNewest`: that sink alone loses the
//! message, counted). Each sink kind has its default: recordings (files, memory) are
//! lossless, a live gRPC view drops ([table](sink#defaults)). [`Recording::stats`] shows every
//! counter at any time, and prints one line per lane and sink.
//!
//! # Nothing lost silently
//!
//! Every row whose `log()` returned `Ok` is delivered to every sink attached at that moment
//! or counted as dropped there, with a reason ([`stats::DropReason`]). A sink that fails —
//! with an error or a panic — fails alone: it is marked failed with the cause, and what it
//! would have received is counted. [`Recording::flush`] returns
//! [`RecordingError::Lost`] when anything was lost since the thread's previous flush, and
//! [`ShutdownReport::is_complete`] is true only when nothing was. The first drop of each sink,
//! a sink failure, and a recording dropped without `shutdown` are logged as warnings through
//! the [`log`](https://docs.rs/log) crate.
//!
//! # Shutdown
//!
//! [`Recording::shutdown`] drains every lane, finishes every batch, closes every sink and
//! returns a [`ShutdownReport`] by its deadline, including what could not be delivered; a
//! `log()` racing it either makes it into the report or returns [`RecordingError::Closed`].
//! Each sink closes by the deadline or its own
//! [`close_timeout`](sink::SinkSpec::close_timeout), and only the sinks that miss theirs are
//! reported as timed out. Dropping the last handle does the same with
//! [`DROP_FLUSH_DEADLINE`] (and a warning).
//!
//! # The wire format
//!
//! [`wire`] is the Rerun 0.41 format, as pure code: an encoder that produces each message as
//! a list of [`bytes::Bytes`] parts pointing at the caller's own memory, `.rrd` framing with
//! the footer manifest, and a validating decoder. Files it writes pass the official Rerun
//! tools (`rerun rrd verify`, the Python readers); the tests run them.
//!
//! # Environment
//!
//! `SPATE_FLUSH_BYTES`, `SPATE_FLUSH_ROWS` and `SPATE_FLUSH_DELAY_MS` override the default
//! [`BatchPolicy`] (2 MiB, unlimited rows, 8 ms) when the builder is given none.
//!
//! # Unsafe code
//!
//! `unsafe_code` is denied crate-wide. Only the io_uring and mmap file backends opt in, per
//! file, each block with a `// SAFETY:` comment. The lock-free wake-up protocol and the
//! shutdown handshake are checked by loom models (`tests/loom_park.rs`,
//! `tests/loom_gate.rs`), and the engine as a whole by a model-based test
//! (`tests/engine/model.rs`).
//!
//! # Features
//!
//! `cli` (default): the `spate` command-line tool.

pub mod archetype;
pub mod catalog;
pub mod chunk;
mod component;
mod deadline;
#[doc(hidden)]
pub mod demo;
mod drain;
mod entity;
mod error;
mod gate;
mod lane;
pub mod net;
mod park;
pub mod pool;
mod recording;
pub mod server;
pub mod sink;
pub mod stats;
mod sync;
mod time;
pub mod units;
#[cfg(feature = "upload")]
pub mod upload;
pub mod wire;

pub use archetype::{ArchetypeError, DynamicArchetype, Points3D};
pub use archetype::{Arrows3D, Boxes3D, LineStrips3D, Points2D, TextLog, TextLogLevel};
pub use archetype::{DepthImage, EncodedImage, Image, Pinhole, Transform3D};
pub use chunk::batcher::{BatchEnvError, BatchPolicy};
pub use chunk::{
    AsComponents, Chunk, ChunkBuilder, ChunkError, ChunkId, ComponentColumn, ComponentDescriptor,
    RowId, TimeColumn, Tuid,
};
pub use entity::{EntityPath, EntityPathError};
pub use error::ErrorChain;
pub use lane::{BlockHook, LanePolicy};
pub use pool::{BufferPool, Loan, LoanedPoints, PoolStats};
pub use recording::{
    DEFAULT_LANE_CAPACITY_BYTES, DEFAULT_LANE_SLOTS, DISCARD_WAIT, DROP_FLUSH_DEADLINE,
    MAX_LANE_SLOTS, Recording, RecordingBuilder, RecordingError, SET_SINKS_DEADLINE,
};
pub use sink::{
    MemorySink, MemorySinkHandle, Sink, SinkError, SinkExt, SinkMonitor, SinkPolicy, SinkReport,
    SinkSpec,
};
pub use stats::{Losses, ShutdownReport, Stats};
pub use time::{LOG_TIME, TimeCell, TimeError, TimePoint, Timeline, TimelineKind};

/// Internals exposed only to the loom model tests (`--cfg spate_loom`).
#[cfg(spate_loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::gate::{Entry, Gate};
    pub use crate::park::Parker;
}

/// Internals the benchmarks measure against (not part of the API).
#[doc(hidden)]
pub mod __bench {
    /// Size of one lane slot: what a `log()` moves through its ring, and what the engine
    /// benchmark's floor (a bare SPSC push) moves too.
    pub const LANE_ROW_BYTES: usize = std::mem::size_of::<crate::lane::Row>();
}
