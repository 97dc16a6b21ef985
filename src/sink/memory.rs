//! A sink that keeps every encoded message in memory (tests, embedding).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Sink, SinkError};
use crate::wire::{Compression, DecodeError, DecodedRrd, EncodedMessage, RrdEncoder, decode_rrd};

/// Keeps encoded messages in memory; read them through its [`MemorySinkHandle`].
///
/// ```
/// use spate::{EntityPath, MemorySink, Points3D, Recording};
/// use std::time::{Duration, Instant};
/// let (sink, messages) = MemorySink::new();
/// let rec = Recording::builder("demo").sinks(sink).start()?;
/// rec.log(&EntityPath::parse("p")?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
/// rec.flush(Instant::now() + Duration::from_secs(5))?;
/// let decoded = messages.decode()?;
/// // The recording's properties (a static chunk at `/__properties`), then the row's chunk.
/// let entities: Vec<&str> = decoded.chunks().map(|c| c.entity().as_str()).collect();
/// assert_eq!(entities, ["/__properties", "/p"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MemorySink {
    messages: Arc<Mutex<Vec<EncodedMessage>>>,
}

/// Reads what a [`MemorySink`] received.
#[derive(Clone, Debug)]
pub struct MemorySinkHandle {
    messages: Arc<Mutex<Vec<EncodedMessage>>>,
}

impl MemorySink {
    /// A sink and the handle that reads it.
    pub fn new() -> (Self, MemorySinkHandle) {
        let messages = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                messages: messages.clone(),
            },
            MemorySinkHandle { messages },
        )
    }
}

fn lock(m: &Mutex<Vec<EncodedMessage>>) -> MutexGuard<'_, Vec<EncodedMessage>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sink for MemorySink {
    fn name(&self) -> String {
        "memory".to_owned()
    }

    fn write(&mut self, msg: &EncodedMessage) -> Result<(), SinkError> {
        lock(&self.messages).push(msg.clone());
        Ok(())
    }
}

impl MemorySinkHandle {
    /// The messages received so far (cheap clones: shared memory).
    pub fn messages(&self) -> Vec<EncodedMessage> {
        lock(&self.messages).clone()
    }

    /// Number of messages received so far.
    pub fn len(&self) -> usize {
        lock(&self.messages).len()
    }

    /// Nothing received yet.
    pub fn is_empty(&self) -> bool {
        lock(&self.messages).is_empty()
    }

    /// The messages framed as a complete `.rrd` stream (with footer).
    pub fn to_rrd_bytes(&self) -> Vec<u8> {
        let mut rrd = RrdEncoder::new(Compression::Off);
        let mut out = Vec::new();
        out.extend_from_slice(&rrd.header());
        for m in lock(&self.messages).iter() {
            for p in rrd.frame(m) {
                out.extend_from_slice(&p);
            }
        }
        if let Ok(parts) = rrd.finish() {
            for p in parts {
                out.extend_from_slice(&p);
            }
        }
        out
    }

    /// Decodes what was received with spate's validating decoder.
    pub fn decode(&self) -> Result<DecodedRrd, DecodeError> {
        decode_rrd(self.to_rrd_bytes())
    }
}
