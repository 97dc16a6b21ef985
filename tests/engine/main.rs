//! Engine tests: one binary, a module per behaviour.

mod adversarial;
mod common;
mod correctness;
mod file_sink;
mod file_sink_writer;
mod hostile_callers;
mod hostile_sinks;
mod model;
#[path = "../support/official.rs"]
mod official;
#[path = "../support/preamble.rs"]
mod preamble;
#[path = "../support/rng.rs"]
mod rng;
mod row_identity;
mod sinks;
mod tee;
mod wakeups;
