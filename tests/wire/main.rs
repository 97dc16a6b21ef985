//! Wire-format tests: one binary, a module per behaviour.

mod common;
mod decode_fixtures;
mod decoder_errors;
mod interop;
mod round_trip;
