//! Sinks: where encoded messages go. Each sink runs on its own named worker thread behind a
//! queue bounded in bytes, so a slow or failed sink never blocks the drain thread (unless its
//! policy is [`SinkPolicy::Block`]) and never blocks the other sinks. A sink that fails — an
//! error or a panic — fails alone: it is marked failed with the cause
//! ([`SinkStats::error`](crate::stats::SinkStats::error)), its queued and later messages are
//! counted as dropped, and nothing ever waits on it again.
//!
//! # Defaults
//!
//! A recording keeps what it is given; a live view may drop. Each sink kind says which, with
//! [`Sink::default_policy`]; [`SinkSpec::policy`] overrides it.
//!
//! | sink | default policy | why |
//! | --- | --- | --- |
//! | [`FileSink`] | [`Block`](SinkPolicy::Block) | a recording: lossless, like the official SDK's file sink; a slow disk slows the producers |
//! | [`MemorySink`] | [`Block`](SinkPolicy::Block) | tests and embedding want everything |
//! | [`NullSink`] | [`Block`](SinkPolicy::Block) | never full |
//! | [`GrpcSink`] | [`DropNewest`](SinkPolicy::DropNewest) | a live view: a slow or absent viewer must not stall the sensors; drops are counted |
//! | your own [`Sink`] | [`Block`](SinkPolicy::Block) | unless it overrides [`Sink::default_policy`] |
//!
//! Every sink's queue holds at most [`DEFAULT_MAX_QUEUE_BYTES`] (of the memory the queued
//! messages keep alive) unless [`SinkSpec::max_queue_bytes`] says otherwise, and closes
//! within the shutdown deadline unless [`SinkSpec::close_timeout`] gives it less.

pub mod file;
pub mod grpc;
mod memory;
mod null;
pub(crate) mod worker;

use std::time::{Duration, Instant};

pub use crate::stats::SinkReport;
pub use file::{
    FileSink, FileSinkError, FileSinkOptions, FileSinkStats, FileSinkStatsHandle, FinishedSegment,
    IoBackend, OnFinished, SyncPolicy,
};
pub use grpc::{
    ConnectionState, GrpcSink, GrpcSinkError, GrpcSinkOptions, GrpcSinkStats, GrpcStateHandle,
};
pub use memory::{MemorySink, MemorySinkHandle};
pub use null::NullSink;

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
    /// Return [`SinkError::Deadline`] when the deadline came first: the flush reports it,
    /// and the sink carries on (any other error fails the sink).
    fn flush(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let _ = deadline;
        Ok(())
    }

    /// Finishes the sink (e.g. writes a file's footer). Called once, last.
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        self.flush(deadline)
    }

    /// The [`SinkPolicy`] this kind of sink gets unless its [`SinkSpec`] says otherwise
    /// (see the [table](self#defaults)): `Block` unless overridden.
    fn default_policy(&self) -> SinkPolicy {
        SinkPolicy::Block
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
    /// A [`FileSink`]'s own counters.
    File(FileSinkStatsHandle),
}

/// What happens when a sink's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SinkPolicy {
    /// The drain waits for room: lossless, but a stalled sink then stalls the recording
    /// (never a failed one: a failed sink's messages are dropped and counted; and never past
    /// a shutdown's deadline).
    #[default]
    Block,
    /// The new message is dropped and counted; the other sinks and the caller carry on.
    DropNewest,
}

/// A sink with its queue settings.
pub struct SinkSpec {
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) policy: SinkPolicy,
    pub(crate) max_queue_bytes: u64,
    pub(crate) close_timeout: Option<Duration>,
}

impl std::fmt::Debug for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkSpec")
            .field("sink", &self.sink.name())
            .field("policy", &self.policy)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("close_timeout", &self.close_timeout)
            .finish()
    }
}

/// Default bound of a sink's queue: 256 MiB.
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 256 * 1024 * 1024;

impl SinkSpec {
    /// A sink with its kind's [default policy](Sink::default_policy) and the default
    /// queue bound.
    pub fn new(sink: impl Sink) -> Self {
        let policy = sink.default_policy();
        Self {
            sink: Box::new(sink),
            policy,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            close_timeout: None,
        }
    }

    /// The policy this spec applies to a full queue.
    pub fn current_policy(&self) -> SinkPolicy {
        self.policy
    }

    /// Sets the policy for a full queue.
    pub fn policy(mut self, policy: SinkPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the queue bound in bytes (a message larger than the bound still goes through an
    /// empty queue). What is counted is the memory a queued message keeps alive
    /// ([`EncodedMessage::retained_bytes`]), not only its encoded length.
    pub fn max_queue_bytes(mut self, bytes: u64) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// Gives the sink at most `timeout` to close at shutdown (or after `set_sinks`
    /// replaced it), however far the shutdown's own deadline is: one dead viewer then
    /// costs this long, not the whole deadline. What it still holds then is counted as
    /// dropped at the deadline, and its report says it timed out.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = Some(timeout);
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
