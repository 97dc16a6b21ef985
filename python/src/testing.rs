//! Private scaffolding for the package's own tests (`spate._spate._stuck_recording`): a
//! recording whose only sink is stuck in its first write until the test opens a gate, so
//! a lane fills on purpose and a producer has to wait for room.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use spate::wire::EncodedMessage;
use spate::{BatchPolicy, Recording, Sink, SinkError, SinkExt, SinkPolicy};

use crate::stream::{RecordingStream, Stream};

/// Longest a stuck sink waits for its gate: a test that never opens it still ends.
const LONGEST_STUCK: Duration = Duration::from_secs(30);

type Shared = Arc<(Mutex<bool>, Condvar)>;

/// Opens a stuck sink's gate for good.
#[pyclass(frozen, module = "spate._spate")]
pub(crate) struct SinkGate(Shared);

#[pymethods]
impl SinkGate {
    fn open(&self) {
        let (open, wake) = &*self.0;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
    }
}

struct StuckSink(Shared);

impl Sink for StuckSink {
    fn name(&self) -> String {
        "stuck".into()
    }

    fn write(&mut self, _msg: &EncodedMessage) -> Result<(), SinkError> {
        let (open, wake) = &*self.0;
        let end = Instant::now() + LONGEST_STUCK;
        let mut is_open = open.lock().unwrap_or_else(PoisonError::into_inner);
        while !*is_open && Instant::now() < end {
            is_open = wake
                .wait_timeout(is_open, end.saturating_duration_since(Instant::now()))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }
}

/// A recording with `lane_slots` rows per lane, unbatched, whose only sink (`Block`, a
/// one-byte queue) is stuck until the returned gate opens.
#[pyfunction]
pub(crate) fn _stuck_recording(
    py: Python<'_>,
    lane_slots: usize,
) -> PyResult<(RecordingStream, SinkGate)> {
    let shared: Shared = Arc::default();
    let builder = Recording::builder("spate_stuck_test")
        .lane_slots(lane_slots)
        .batch(BatchPolicy::unbatched())
        .sinks(
            StuckSink(shared.clone())
                .with_policy(SinkPolicy::Block)
                .max_queue_bytes(1),
        );
    let stream = Stream::start_with(py, builder, true)?;
    stream.mark_has_sinks();
    Ok((RecordingStream { stream }, SinkGate(shared)))
}
