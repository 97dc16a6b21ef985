//! Sinks: where encoded messages go. Each sink runs on its own named worker thread behind a
//! queue bounded in bytes, so a slow or failed sink never blocks the drain thread (unless its
//! policy is [`SinkPolicy::Block`]) and never blocks the other sinks.

pub mod file;
pub mod grpc;
mod memory;
mod null;
pub mod relay;
pub(crate) mod worker;

use std::time::Instant;

pub use file::{FileSink, FileSinkError, FileSinkOptions, IoBackend, SyncPolicy};
pub use grpc::{
    ConnectionState, GrpcSink, GrpcSinkError, GrpcSinkOptions, GrpcSinkStats, GrpcStateHandle,
};
pub use memory::{MemorySink, MemorySinkHandle};
pub use null::NullSink;
pub use relay::{Relay, RelayError, RelayReport};

use crate::wire::EncodedMessage;

/// An error from a sink; the sink stops and its undelivered messages are counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// An I/O error (disk full, broken pipe, …).
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    /// The sink was closed.
    #[error("sink is closed")]
    Closed,
    /// An I/O error that also cost messages the sink had already accepted (an asynchronous
    /// backend learns of a failed write after accepting later ones). They are counted as
    /// dropped, not delivered.
    #[error("I/O error ({lost_messages} earlier messages lost)")]
    IoLost {
        /// The error.
        source: std::io::Error,
        /// Messages accepted earlier that did not reach their destination.
        lost_messages: u64,
        /// Their bytes.
        lost_bytes: u64,
        /// Their rows (chunks only; see [`ChunkSummary::num_rows`](crate::wire::ChunkSummary)).
        lost_rows: u64,
    },
    /// The deadline passed before the sink finished.
    #[error("deadline passed")]
    Deadline,
    /// Something else, from a sink implementation outside this crate.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// A destination for encoded messages.
///
/// Every method runs on the sink's **own worker thread**, never on the drain thread or a
/// producer thread, so implementations may block on I/O. Messages arrive in order: a
/// `SetStoreInfo` first, then chunks. The same [`EncodedMessage`] (same memory) is handed
/// to every sink of a recording.
pub trait Sink: Send + 'static {
    /// A short name for stats and reports (e.g. `"file:out.rrd"`).
    fn name(&self) -> String;

    /// Takes one message. An error stops the sink: later messages are counted as dropped.
    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError>;

    /// Makes everything written so far durable or delivered, by `deadline` if possible.
    fn flush(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let _ = deadline;
        Ok(())
    }

    /// Finishes the sink (e.g. writes a file's footer). Called once, last.
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        self.flush(deadline)
    }

    /// A live view of the sink's own state (e.g. a gRPC connection), taken once when the
    /// sink is attached to a recording and read by every
    /// [`Recording::stats`](crate::Recording::stats) snapshot. `None` (the default) for
    /// sinks whose state the engine's counters already describe.
    fn monitor(&self) -> Option<SinkMonitor> {
        None
    }
}

/// A sink's own live state, readable from any thread (see [`Sink::monitor`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SinkMonitor {
    /// A [`GrpcSink`]'s connection state and counters.
    Grpc(GrpcStateHandle),
}

/// What happens when a sink's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SinkPolicy {
    /// The drain waits for room: lossless, but a stalled sink then stalls the recording.
    Block,
    /// The new message is dropped and counted; the other sinks and the caller carry on.
    #[default]
    DropNewest,
}

/// A sink with its queue settings.
pub struct SinkSpec {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) policy: SinkPolicy,
    pub(crate) max_queue_bytes: u64,
}

impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSpec")
            .field("sink", &self.sink.name())
            .field("policy", &self.policy)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .finish()
    }
}

/// Default bound of a sink's queue: 256 MiB.
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 256 * 1024 * 1024;

impl SinkSpec {
    /// A sink with the default policy ([`SinkPolicy::DropNewest`]) and queue bound.
    pub fn new(sink: impl Sink) -> Self {
        Self {
            sink: Box::new(sink),
            policy: SinkPolicy::default(),
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
        }
    }

    /// Sets the policy for a full queue.
    pub fn policy(mut self, policy: SinkPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the queue bound in bytes (a message larger than the bound still goes through an
    /// empty queue).
    pub fn max_queue_bytes(mut self, bytes: u64) -> Self {
        self.max_queue_bytes = bytes;
        self
    }
}

impl<S: Sink> From<S> for SinkSpec {
    fn from(sink: S) -> Self {
        Self::new(sink)
    }
}

/// Attaching queue settings to a sink: `MemorySink::new().0.with_policy(SinkPolicy::Block)`.
pub trait SinkExt: Sink + Sized {
    /// This sink with a queue policy.
    fn with_policy(self, policy: SinkPolicy) -> SinkSpec {
        SinkSpec::new(self).policy(policy)
    }

    /// This sink with a queue bound in bytes.
    fn with_max_queue_bytes(self, bytes: u64) -> SinkSpec {
        SinkSpec::new(self).max_queue_bytes(bytes)
    }
}

impl<S: Sink> SinkExt for S {}

/// One or several sinks: a sink, a [`SinkSpec`], a tuple of up to four of them, or a `Vec`.
pub trait IntoSinks {
    /// The sinks, in order.
    fn into_sinks(self) -> Vec<SinkSpec>;
}

impl<T: Into<SinkSpec>> IntoSinks for T {
    fn into_sinks(self) -> Vec<SinkSpec> {
        vec![self.into()]
    }
}

impl IntoSinks for Vec<SinkSpec> {
    fn into_sinks(self) -> Vec<SinkSpec> {
        self
    }
}

impl IntoSinks for () {
    fn into_sinks(self) -> Vec<SinkSpec> {
        Vec::new()
    }
}

macro_rules! tuple_sinks {
    ($($t:ident),+) => {
        impl<$($t: Into<SinkSpec>),+> IntoSinks for ($($t,)+) {
            #[allow(non_snake_case)]
            fn into_sinks(self) -> Vec<SinkSpec> {
                let ($($t,)+) = self;
                vec![$($t.into()),+]
            }
        }
    };
}
tuple_sinks!(A);
tuple_sinks!(A, B);
tuple_sinks!(A, B, C);
tuple_sinks!(A, B, C, D);

/// What a sink delivered, at shutdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// The sink's counters at the end.
    pub stats: crate::stats::SinkStats,
    /// Whether it closed cleanly before the deadline.
    pub closed_cleanly: bool,
}
