//! Shared helpers: fixtures, deterministic data, and expectation files for the official
//! checker (`tests/interop/check_rrd.py`).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/rerun-0.41")
        .join(name)
}

/// A component's expected values, as the checker's `dtype`s.
pub enum Data {
    F32x3(Vec<[f32; 3]>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    U16(Vec<u16>),
    Utf8(Vec<String>),
}

/// One expected row.
pub struct Row {
    pub entity: String,
    pub time: Vec<(&'static str, &'static str, i64)>,
    pub components: Vec<(&'static str, Data)>,
}

/// Writes `EXPECT.json` (+ a side `.bin` file for numeric data) next to `rrd`.
pub fn write_expectation(rrd: &Path, app: &str, recording: &str, rows: &[Row]) -> PathBuf {
    let json_path = rrd.with_extension("expect.json");
    let bin_name = rrd
        .with_extension("expect.bin")
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut bin =
        std::io::BufWriter::new(std::fs::File::create(rrd.with_file_name(&bin_name)).unwrap());
    let mut offset = 0u64;
    let mut put = |bytes: &[u8], dtype: &str, count: usize| -> Value {
        bin.write_all(bytes).unwrap();
        let v = json!({"dtype": dtype, "file": bin_name, "offset": offset, "count": count});
        offset += bytes.len() as u64;
        v
    };
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let time: serde_json::Map<String, Value> = r
                .time
                .iter()
                .map(|(name, kind, v)| ((*name).to_owned(), json!({"kind": kind, "value": v})))
                .collect();
            let comps: serde_json::Map<String, Value> = r
                .components
                .iter()
                .map(|(name, d)| {
                    let v = match d {
                        Data::F32x3(v) => put(bytemuck::cast_slice(v), "f32x3", v.len()),
                        Data::U32(v) => put(bytemuck::cast_slice(v), "u32", v.len()),
                        Data::F32(v) => put(bytemuck::cast_slice(v), "f32", v.len()),
                        Data::U16(v) => put(bytemuck::cast_slice(v), "u16", v.len()),
                        Data::Utf8(v) => json!({"dtype": "utf8", "values": v}),
                    };
                    ((*name).to_owned(), v)
                })
                .collect();
            json!({"entity": r.entity, "static": r.time.is_empty(), "time": time, "components": comps})
        })
        .collect();
    bin.flush().unwrap();
    let doc = json!({"application_id": app, "recording_id": recording, "rows": rows});
    std::fs::write(&json_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    json_path
}
