//! Wire-format tests: one binary, a module per behaviour.

#[path = "../support/clients.rs"]
mod clients;
mod common;
mod decode_fixtures;
mod decoder_errors;
mod interop;
mod limits;
#[path = "../support/official.rs"]
mod official;
mod round_trip;
