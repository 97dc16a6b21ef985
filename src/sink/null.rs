//! A sink that accepts and discards everything (benchmarks, capacity planning).

use super::{Sink, SinkError};
use crate::wire::EncodedMessage;

/// Discards every message; its stats still count messages and bytes.
///
/// ```
/// use spate::{sink::NullSink, Recording};
/// let rec = Recording::builder("bench").sinks(NullSink).start()?;
/// # Ok::<(), spate::RecordingError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn name(&self) -> String {
        "null".to_owned()
    }

    fn write(&mut self, _msg: &EncodedMessage) -> Result<(), SinkError> {
        Ok(())
    }
}
