//! What a recording sends every sink before any row it logs, as the official SDK does:
//! `SetStoreInfo`, then one static chunk of the recording's properties (`RecordingInfo` at
//! `/__properties`: its start time, and its name when set). Sinks count both as messages
//! with no rows; a decoded stream shows the properties as one more chunk and one more row
//! than were logged. Shared by the test binaries (`#[path]`-included), so each uses only
//! part of it.
#![allow(dead_code)]

use spate::Chunk;
use spate::wire::{DecodedRrd, EncodedMessage, MessageKind};

/// Messages a recording sends each sink before any row: `SetStoreInfo` and the properties.
pub const PREAMBLE_MESSAGES: u64 = 2;

/// Where a recording's properties are (one static chunk of one row).
pub const PROPERTIES_ENTITY: &str = "/__properties";

/// `RecordingInfo:start_time`, the property every recording has.
pub const START_TIME_COMPONENT: &str = "RecordingInfo:start_time";

/// Whether `chunk` is the recording's properties, not a row the test logged.
pub fn is_properties(chunk: &Chunk) -> bool {
    chunk.entity().as_str() == PROPERTIES_ENTITY
}

/// The chunks of `decoded` that hold rows the test logged (the properties left out).
pub fn logged_chunks(decoded: &DecodedRrd) -> impl Iterator<Item = &Chunk> {
    decoded.chunks().filter(|c| !is_properties(c))
}

/// Rows of `decoded` the test logged (the properties row left out).
pub fn logged_rows(decoded: &DecodedRrd) -> usize {
    logged_chunks(decoded).map(Chunk::num_rows).sum()
}

/// Whether `msg` is the recording's properties chunk.
pub fn is_properties_msg(msg: &EncodedMessage) -> bool {
    msg.kind() == MessageKind::ArrowMsg
        && msg
            .summary()
            .is_some_and(|s| s.entity.as_str() == PROPERTIES_ENTITY)
}

/// Whether `msg` is part of a recording's preamble (`SetStoreInfo` or the properties).
pub fn is_preamble(msg: &EncodedMessage) -> bool {
    msg.kind() == MessageKind::SetStoreInfo || is_properties_msg(msg)
}

/// Rows of the chunks among `msgs` that the test logged (the properties row left out).
pub fn logged_rows_of(msgs: &[EncodedMessage]) -> u64 {
    msgs.iter()
        .filter(|m| !is_properties_msg(m))
        .filter_map(|m| m.summary().map(|s| s.num_rows))
        .sum()
}

/// Checks that a sink's stream starts with a recording's preamble: `SetStoreInfo`, then the
/// properties (a static chunk of one row holding the start time).
pub fn assert_starts_with_preamble(msgs: &[EncodedMessage]) {
    assert!(msgs.len() >= 2, "{} messages: no preamble", msgs.len());
    assert_eq!(msgs[0].kind(), MessageKind::SetStoreInfo);
    assert!(
        is_properties_msg(&msgs[1]),
        "second message: {:?}",
        msgs[1].kind()
    );
    let s = msgs[1].summary().expect("a chunk");
    assert!(s.is_static && s.num_rows == 1, "{s:?}");
    assert!(
        s.components
            .iter()
            .any(|c| c.descriptor.component == START_TIME_COMPONENT),
        "{s:?}"
    );
}
