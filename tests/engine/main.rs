//! Engine tests: one binary, a module per behaviour.

mod common;
mod correctness;
mod sinks;
mod wakeups;
