//! Encoded messages as a recording hands them to its sinks, for tests that drive a sink
//! directly (`#[path]`-included by the gRPC tests).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use spate::wire::{EncodedMessage, MessageKind};
use spate::{BatchPolicy, EntityPath, Recording};

/// What a recording `app` that batches nothing hands its sinks, End left out: its preamble
/// (`SetStoreInfo`, then its properties: a static `/__properties` chunk), a static `/config`
/// chunk if `with_static`, then one chunk per frame `0..frames`, each a cloud of `points`
/// points on `points/0`.
pub fn encoded(app: &str, with_static: bool, frames: u32, points: u32) -> Vec<EncodedMessage> {
    let (memory, got) = spate::MemorySink::new();
    let rec = Recording::builder(app)
        .sinks(memory)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    if with_static {
        rec.log_static(
            &EntityPath::parse("config").unwrap(),
            &spate::demo::example_cloud(3, 0, 9),
        )
        .unwrap();
    }
    let e = EntityPath::parse("points/0").unwrap();
    for f in 0..frames {
        rec.set_time_sequence("frame", i64::from(f)).unwrap();
        rec.log(&e, &spate::demo::example_cloud(points, f, 0))
            .unwrap();
    }
    assert!(
        rec.shutdown(Instant::now() + Duration::from_secs(30))
            .is_complete()
    );
    got.messages()
        .into_iter()
        .filter(|m| m.kind() != MessageKind::End)
        .collect()
}
