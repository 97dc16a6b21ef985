//! Fuzzing of `spate::net::decode_request`, the decoder `spate serve` runs on every
//! received `WriteMessagesRequest`: it must never panic; an accepted message must carry
//! the request's body bytes unchanged, frame into an `.rrd` that spate's decoder reads back
//! with a valid footer, and have a summary exactly when it is an ArrowMsg; its decompressed
//! payload is within the limits it was decoded with.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use spate::net::{decode_request, split_request};
use spate::wire::{Compression, MessageKind, RrdEncoder, decode_rrd_with};

mod common;

fuzz_target!(|data: &[u8]| {
    common::contain_arrow_panics();
    let request = Bytes::copy_from_slice(data);
    let limits = common::limits();
    let msg = match decode_request(request.clone(), &limits) {
        Ok(m) => m,
        Err(e) => {
            let _ = (e.reason(), e.to_string());
            return;
        }
    };
    let (kind, body) = split_request(request).expect("decode_request accepted it");
    assert_eq!(msg.kind(), kind);
    assert_eq!(msg.to_contiguous(), body, "the body must pass through unchanged");
    assert_eq!(msg.summary().is_some(), kind == MessageKind::ArrowMsg);
    if let Some(s) = msg.summary() {
        assert!(s.uncompressed_size <= limits.max_uncompressed_bytes.max(body.len() as u64));
    }
    assert!(msg.store().is_some() || kind == MessageKind::BlueprintActivationCommand);

    let mut rrd = RrdEncoder::new(Compression::Off);
    let mut file = Vec::new();
    rrd.write_header(&mut file).unwrap();
    rrd.write_message(&mut file, &msg).unwrap();
    if rrd.write_finish(&mut file).is_err() {
        // A manifest of fuzzer-made columns that arrow refuses to encode: not a crash.
        return;
    }
    let back = decode_rrd_with(file, &limits).expect("a passed-through message decodes again");
    if kind == MessageKind::ArrowMsg {
        let footer = back.footer.expect("footer");
        assert!(footer.valid, "{:?}", footer.problems);
    }
});
