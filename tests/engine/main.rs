//! Engine tests: one binary, a module per behaviour.

mod adversarial;
mod common;
mod correctness;
mod file_sink;
mod file_sink_writer;
mod model;
#[path = "../support/official.rs"]
mod official;
mod review;
mod sinks;
mod tee;
mod wakeups;
