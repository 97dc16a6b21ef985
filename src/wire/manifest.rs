//! The RRD footer manifest (`rerun-format.md` §6): per recording, one Arrow row per chunk
//! (byte offset, size, time ranges), plus the recording's union "sorbet" schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, FixedSizeBinaryBuilder, StringBuilder, UInt64Builder};
use arrow_array::{
    ArrayRef, DurationNanosecondArray, Int64Array, RecordBatch, TimestampNanosecondArray,
};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema};
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::encode::{ChunkSummary, StoreInfo};
use super::proto;
use super::sorbet::{
    KEY_ARCHETYPE, KEY_COMPONENT, KEY_COMPONENT_TYPE, descriptor_metadata, index_field,
    row_id_field,
};
use crate::chunk::ComponentDescriptor;
use crate::time::{Timeline, TimelineKind};

/// One chunk as the manifest sees it.
#[derive(Clone, Debug)]
pub(crate) struct ManifestEntry {
    pub summary: Arc<ChunkSummary>,
    /// File offset of the ArrowMsg protobuf body (after its 16-byte header).
    pub byte_offset: u64,
    /// Length of that body.
    pub byte_size: u64,
}

/// Builds the manifest of one recording, in chunk order.
#[derive(Debug)]
pub(crate) struct ManifestBuilder {
    store: StoreInfo,
    entries: Vec<ManifestEntry>,
}

/// `T:start` style names: parts joined with `:`, some characters replaced by `_`.
fn column_name(parts: &[&str]) -> String {
    let joined = parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(":");
    let replaced: String = joined
        .chars()
        .map(|c| {
            if matches!(c, ' ' | '-' | '.' | '\\') {
                '_'
            } else {
                c
            }
        })
        .collect();
    replaced.trim_start_matches('_').to_owned()
}

fn time_array(kind: TimelineKind, values: Vec<Option<i64>>) -> ArrayRef {
    match kind {
        TimelineKind::Sequence => Arc::new(Int64Array::from(values)),
        TimelineKind::Timestamp => Arc::new(TimestampNanosecondArray::from(values)),
        TimelineKind::Duration => Arc::new(DurationNanosecondArray::from(values)),
    }
}

fn ipc_stream(schema: &Schema, batch: Option<&RecordBatch>) -> Result<Vec<u8>, ArrowError> {
    let mut w = StreamWriter::try_new(Vec::new(), schema)?;
    if let Some(b) = batch {
        w.write(b)?;
    }
    w.finish()?;
    w.into_inner()
}

/// The dataframe name of an entity's component column (`/points:Points3D:positions`,
/// `property:RecordingInfo:start_time` for `/__properties`).
fn sorbet_column_name(entity: &str, component: &str) -> String {
    if entity == "/__properties" {
        format!("property:{component}")
    } else if let Some(sub) = entity.strip_prefix("/__properties/") {
        format!("property:{}:{component}", sub.replace('/', ":"))
    } else {
        format!("{entity}:{component}")
    }
}

impl ManifestBuilder {
    pub fn new(store: StoreInfo) -> Self {
        Self {
            store,
            entries: Vec::new(),
        }
    }

    pub fn push(&mut self, entry: ManifestEntry) {
        self.entries.push(entry);
    }

    pub fn store(&self) -> &StoreInfo {
        &self.store
    }

    /// The `RrdManifest` protobuf for this recording.
    pub fn build(&self) -> Result<proto::RrdManifest, ArrowError> {
        let chunks: Vec<&ChunkSummary> = self.entries.iter().map(|e| &*e.summary).collect();

        // Timelines and descriptors over the whole recording.
        let mut timelines: BTreeMap<&str, &Timeline> = BTreeMap::new();
        let mut descriptors: BTreeSet<&ComponentDescriptor> = BTreeSet::new();
        let mut temporal: BTreeSet<(&str, &ComponentDescriptor)> = BTreeSet::new();
        for c in &chunks {
            for (t, _) in &c.time_ranges {
                timelines.entry(t.name()).or_insert(t);
            }
            for comp in &c.components {
                descriptors.insert(&comp.descriptor);
                for (t, _) in &c.time_ranges {
                    temporal.insert((t.name(), &comp.descriptor));
                }
            }
        }

        let sorbet = self.sorbet_schema(&chunks, &timelines)?;
        let mut sorted_fields: Vec<_> = sorbet.fields().iter().cloned().collect();
        sorted_fields.sort_by(|a, b| a.name().cmp(b.name()));
        let sha = Sha256::digest(ipc_stream(&Schema::new(sorted_fields), None)?);

        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        let mut push = |f: Field, a: ArrayRef| {
            fields.push(f);
            columns.push(a);
        };

        let mut entity = StringBuilder::new();
        let mut ids = FixedSizeBinaryBuilder::new(16);
        let mut is_static = BooleanBuilder::new();
        let (mut nrows, mut off, mut size, mut usize_) = (
            UInt64Builder::new(),
            UInt64Builder::new(),
            UInt64Builder::new(),
            UInt64Builder::new(),
        );
        for (e, c) in self.entries.iter().zip(&chunks) {
            entity.append_value(c.entity.as_str());
            ids.append_value(c.chunk_id.to_be_bytes())?;
            is_static.append_value(c.is_static);
            nrows.append_value(c.num_rows);
            off.append_value(e.byte_offset);
            size.append_value(e.byte_size);
            usize_.append_value(c.uncompressed_size);
        }
        push(
            Field::new("chunk_entity_path", DataType::Utf8, false),
            Arc::new(entity.finish()),
        );
        push(
            Field::new("chunk_id", DataType::FixedSizeBinary(16), false),
            Arc::new(ids.finish()),
        );
        push(
            Field::new("chunk_is_static", DataType::Boolean, false),
            Arc::new(is_static.finish()),
        );
        push(
            Field::new("chunk_num_rows", DataType::UInt64, false),
            Arc::new(nrows.finish()),
        );
        push(
            Field::new("chunk_byte_offset", DataType::UInt64, false),
            Arc::new(off.finish()),
        );
        push(
            Field::new("chunk_byte_size", DataType::UInt64, false),
            Arc::new(size.finish()),
        );
        push(
            Field::new("chunk_byte_size_uncompressed", DataType::UInt64, false),
            Arc::new(usize_.finish()),
        );

        let desc_meta = |d: &ComponentDescriptor, index: &str| {
            [
                ("rerun:index", Some(index)),
                (KEY_COMPONENT, Some(&*d.component)),
                (KEY_ARCHETYPE, d.archetype.as_deref()),
                (KEY_COMPONENT_TYPE, d.component_type.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect::<std::collections::HashMap<_, _>>()
        };

        for d in &descriptors {
            let values: Vec<bool> = chunks
                .iter()
                .map(|c| c.is_static && c.components.iter().any(|x| &x.descriptor == *d))
                .collect();
            push(
                Field::new(
                    column_name(&[&d.component, "has_static_data"]),
                    DataType::Boolean,
                    false,
                )
                .with_metadata(desc_meta(d, "rerun:static")),
                Arc::new(arrow_array::BooleanArray::from(values)),
            );
        }

        for (name, t) in &timelines {
            let range = |c: &ChunkSummary| {
                c.time_ranges
                    .iter()
                    .find(|(ct, _)| ct.name() == *name)
                    .and_then(|(_, r)| *r)
            };
            let meta: std::collections::HashMap<String, String> =
                [("rerun:index".to_owned(), (*name).to_owned())].into();
            for (suffix, pick) in [("start", 0usize), ("end", 1)] {
                let values = chunks
                    .iter()
                    .map(|c| range(c).map(|(lo, hi)| if pick == 0 { lo } else { hi }))
                    .collect();
                push(
                    Field::new(column_name(&[name, suffix]), t.kind().data_type(), true)
                        .with_metadata(meta.clone()),
                    time_array(t.kind(), values),
                );
            }
        }

        for (name, d) in &temporal {
            let t = timelines[name];
            let per_chunk: Vec<(Option<(i64, i64)>, u64)> = chunks
                .iter()
                .map(|c| {
                    let ti = c.time_ranges.iter().position(|(ct, _)| ct.name() == *name);
                    let comp = c.components.iter().find(|x| &x.descriptor == *d);
                    match (ti, comp) {
                        (Some(ti), Some(comp)) if !c.is_static => {
                            (comp.time_ranges[ti], comp.num_rows)
                        }
                        _ => (None, 0),
                    }
                })
                .collect();
            let meta = desc_meta(d, name);
            for (suffix, pick) in [("start", 0usize), ("end", 1)] {
                let values = per_chunk
                    .iter()
                    .map(|(r, _)| r.map(|(lo, hi)| if pick == 0 { lo } else { hi }))
                    .collect();
                push(
                    Field::new(
                        column_name(&[name, &d.component, suffix]),
                        t.kind().data_type(),
                        true,
                    )
                    .with_metadata(meta.clone()),
                    time_array(t.kind(), values),
                );
            }
            push(
                Field::new(
                    column_name(&[name, &d.component, "num_rows"]),
                    DataType::UInt64,
                    true,
                )
                .with_metadata(meta),
                Arc::new(arrow_array::UInt64Array::from(
                    per_chunk.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
                )),
            );
        }

        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let data = ipc_stream(&batch.schema(), Some(&batch))?;
        Ok(proto::RrdManifest {
            store_id: Some(self.store.store_id()),
            sorbet_schema: Some(proto::Schema {
                arrow_schema: Some(Bytes::from(ipc_stream(&sorbet, None)?)),
            }),
            sorbet_schema_sha256: Some(Bytes::copy_from_slice(&sha)),
            data: Some(proto::DataframePart {
                encoder_version: proto::EncoderVersion::V0 as i32,
                uncompressed_size: data.len() as u64,
                payload: Some(Bytes::from(data)),
                compression: proto::Compression::None as i32,
            }),
        })
    }

    /// The dataframe-style union schema of the recording (no schema metadata).
    fn sorbet_schema(
        &self,
        chunks: &[&ChunkSummary],
        timelines: &BTreeMap<&str, &Timeline>,
    ) -> Result<Schema, ArrowError> {
        let mut fields = vec![row_id_field(false)];
        for t in timelines.values() {
            fields.push(index_field(t, false));
        }
        // (entity, component) -> (descriptor, type, is_static, all_empty)
        let mut cols: BTreeMap<(String, String), (&ComponentDescriptor, &DataType, bool, bool)> =
            BTreeMap::new();
        for c in chunks {
            for comp in &c.components {
                let key = (
                    c.entity.as_str().to_owned(),
                    comp.descriptor.component.to_string(),
                );
                let e = cols
                    .entry(key)
                    .or_insert((&comp.descriptor, &comp.data_type, false, true));
                e.2 |= c.is_static;
                e.3 &= comp.is_empty;
            }
        }
        for ((entity, component), (d, ty, is_static, empty)) in cols {
            let mut m = descriptor_metadata(d);
            m.insert("rerun:entity_path".into(), entity.clone());
            if is_static {
                m.insert("rerun:is_static".into(), "true".into());
            }
            if empty {
                m.insert("rerun:is_semantically_empty".into(), "true".into());
            }
            fields.push(
                Field::new(sorbet_column_name(&entity, &component), ty.clone(), true)
                    .with_metadata(m),
            );
        }
        Ok(Schema::new(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_follow_rerun_rules() {
        assert_eq!(column_name(&["frame", "start"]), "frame:start");
        assert_eq!(
            column_name(&["Points3D:positions", "has_static_data"]),
            "Points3D:positions:has_static_data"
        );
        assert_eq!(column_name(&["my time.x", "", "end"]), "my_time_x:end");
        assert_eq!(column_name(&["_a-b", "start"]), "a_b:start");
        assert_eq!(
            sorbet_column_name("/points", "Points3D:radii"),
            "/points:Points3D:radii"
        );
        assert_eq!(
            sorbet_column_name("/__properties", "RecordingInfo:name"),
            "property:RecordingInfo:name"
        );
    }
}
