//! Arrow-IPC-level fuzzing: the input is one mode byte and an Arrow IPC stream, wrapped here
//! in valid framing so no mutation is wasted on it: an even mode byte makes it the payload of
//! an ArrowMsg (reaching arrow-ipc and the chunk schema checks), an odd one the sorbet schema
//! and data of a footer manifest (reaching the manifest decoder).
//! With `SPATE_FUZZ_WRITE_FRAMED=FILE`, the framed `.rrd` is written to FILE (to turn an
//! artifact into a `tests/data/fuzz-regressions/` file).
#![no_main]

use std::ffi::OsString;
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use spate::wire::{MessageKind, decode_rrd_with, proto};

mod common;

fn frame(out: &mut Vec<u8>, kind: MessageKind, body: &[u8]) {
    out.extend_from_slice(&kind.code().to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
}

fuzz_target!(|data: &[u8]| {
    common::contain_arrow_panics();
    let Some((&mode, ipc)) = data.split_first() else {
        return;
    };
    let ipc = Bytes::copy_from_slice(ipc);
    let store_id = Some(proto::StoreId {
        kind: proto::StoreKind::Recording as i32,
        recording_id: "fuzz".into(),
        application_id: Some(proto::ApplicationId { id: "fuzz".into() }),
    });
    let none = proto::Compression::None as i32;
    let mut file = b"RRF2\x00\x29\x00\x00\x00\x02\x00\x00".to_vec();
    if mode & 1 == 0 {
        // The chunk id rarely matches the schema's rerun:id, so this ends in an error, but
        // only after arrow-ipc and the chunk schema checks ran.
        let chunk_id = Some(proto::Tuid {
            time_ns: Some(1),
            inc: Some(2),
        });
        let msg = proto::ArrowMsg {
            store_id,
            compression: none,
            uncompressed_size: ipc.len() as u64,
            encoding: proto::Encoding::ArrowIpc as i32,
            payload: ipc,
            chunk_id,
            is_static: None,
        };
        frame(&mut file, MessageKind::ArrowMsg, &msg.encode_to_vec());
    } else {
        let manifest = proto::RrdManifest {
            store_id,
            sorbet_schema: Some(proto::Schema {
                arrow_schema: Some(ipc.clone()),
            }),
            sorbet_schema_sha256: Some(Bytes::from_static(&[0; 32])),
            data: Some(proto::DataframePart {
                encoder_version: proto::EncoderVersion::V0 as i32,
                uncompressed_size: ipc.len() as u64,
                payload: Some(ipc),
                compression: none,
            }),
        };
        let footer = proto::RrdFooter {
            manifests: vec![manifest],
        };
        frame(&mut file, MessageKind::End, &footer.encode_to_vec());
        file.extend_from_slice(&[0; 20]);
        file.extend_from_slice(b"RRF2FOOT\x01\x00\x00\x00");
    }
    static OUT: OnceLock<Option<OsString>> = OnceLock::new();
    if let Some(path) = OUT.get_or_init(|| std::env::var_os("SPATE_FUZZ_WRITE_FRAMED")) {
        std::fs::write(path, &file).expect("writing SPATE_FUZZ_WRITE_FRAMED");
    }
    if let Ok(rrd) = decode_rrd_with(file, &common::limits()) {
        for p in rrd.footer.iter().flat_map(|f| &f.problems) {
            let _ = p.to_string();
        }
    }
});
