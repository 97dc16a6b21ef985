//! Wire-format tests: one binary, a module per behaviour.

mod common;
mod decode_fixtures;
mod decoder_errors;
mod interop;
#[path = "../support/official.rs"]
mod official;
mod round_trip;
