//! The Arrow layout of a chunk ("sorbet" chunk batch, `rerun-format.md` §5):
//! RowId column first, then index columns, then one list column per component, with the
//! `rerun:*` metadata Rerun's readers require.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, ListArray, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema};

use crate::chunk::{
    Chunk, ChunkError, ChunkId, ComponentColumn, ComponentDescriptor, RowId, TimeColumn,
};
use crate::entity::EntityPath;
use crate::time::{Timeline, TimelineKind};

pub(crate) const KIND: &str = "rerun:kind";
pub(crate) const ROW_ID_NAME: &str = "rerun.controls.RowId";
pub(crate) const KEY_ENTITY_PATH: &str = "rerun:entity_path";
pub(crate) const KEY_ID: &str = "rerun:id";
pub(crate) const KEY_SORBET_VERSION: &str = "sorbet:version";
pub(crate) const KEY_IS_SORTED: &str = "rerun:is_sorted";
pub(crate) const KEY_INDEX_NAME: &str = "rerun:index_name";
pub(crate) const KEY_ARCHETYPE: &str = "rerun:archetype";
pub(crate) const KEY_COMPONENT: &str = "rerun:component";
pub(crate) const KEY_COMPONENT_TYPE: &str = "rerun:component_type";

/// Why a record batch is not a valid Rerun chunk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkSchemaError {
    /// A required schema-level metadata key is missing.
    #[error("chunk schema has no {0:?} metadata")]
    MissingMetadata(&'static str),
    /// The `rerun:id` value is not a TUID.
    #[error("chunk id {0:?} is not a TUID")]
    BadChunkId(String),
    /// The first column is not the RowId column.
    #[error("expected the RowId column first, found {0:?}")]
    RowIdNotFirst(String),
    /// The RowId column has the wrong type.
    #[error("RowId column has type {0}, expected FixedSizeBinary(16)")]
    RowIdType(String),
    /// An index column after a component column, or a second RowId column.
    #[error("column {0:?} is out of order (RowId, then indexes, then components)")]
    ColumnOrder(String),
    /// An index column whose type is not Int64, Timestamp(ns) or Duration(ns).
    #[error("index column {column:?} has unsupported type {found}")]
    IndexType {
        /// Column name.
        column: String,
        /// Its type.
        found: String,
    },
    /// A component column that is not a `List`.
    #[error("component column {column:?} has type {found}, expected List<…>")]
    ComponentType {
        /// Column name.
        column: String,
        /// Its type.
        found: String,
    },
    /// Nulls in the RowId column.
    #[error("RowId column has {0} nulls")]
    NullRowIds(usize),
    /// The chunk itself is inconsistent.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
}

fn meta<const N: usize>(pairs: [(&str, &str); N]) -> HashMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

pub(crate) fn row_id_field(with_sorted: bool) -> Field {
    let mut m = meta([
        (KIND, "control"),
        ("ARROW:extension:name", "rerun.datatypes.TUID"),
        ("ARROW:extension:metadata", r#"{"namespace":"row"}"#),
    ]);
    if with_sorted {
        m.insert(KEY_IS_SORTED.into(), "true".into());
    }
    Field::new(ROW_ID_NAME, DataType::FixedSizeBinary(16), false).with_metadata(m)
}

pub(crate) fn index_field(timeline: &Timeline, sorted: bool) -> Field {
    let mut m = meta([(KIND, "index"), (KEY_INDEX_NAME, timeline.name())]);
    if sorted {
        m.insert(KEY_IS_SORTED.into(), "true".into());
    }
    Field::new(timeline.name(), timeline.kind().data_type(), true).with_metadata(m)
}

pub(crate) fn descriptor_metadata(d: &ComponentDescriptor) -> HashMap<String, String> {
    let mut m = meta([(KIND, "data"), (KEY_COMPONENT, &d.component)]);
    // Absent, not empty, when unknown: what the official SDK writes for `AnyValues`.
    if let Some(a) = &d.archetype {
        m.insert(KEY_ARCHETYPE.into(), a.to_string());
    }
    if let Some(t) = &d.component_type {
        m.insert(KEY_COMPONENT_TYPE.into(), t.to_string());
    }
    m
}

/// The Arrow record batch Rerun expects for `chunk`. Shares the chunk's buffers (no copy).
pub fn chunk_to_record_batch(chunk: &Chunk) -> Result<RecordBatch, ArrowError> {
    let n = 1 + chunk.timelines().len() + chunk.components().len();
    let mut fields = Vec::with_capacity(n);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(n);
    let row_ids = chunk.row_id_array();
    let sorted = row_ids.iter().is_sorted();
    fields.push(row_id_field(sorted));
    columns.push(Arc::new(row_ids.clone()));
    for t in chunk.timelines() {
        fields.push(index_field(t.timeline(), t.is_sorted()));
        columns.push(t.array().clone());
    }
    for c in chunk.components() {
        let d = c.descriptor();
        fields.push(
            Field::new(d.component.as_ref(), c.list().data_type().clone(), true)
                .with_metadata(descriptor_metadata(d)),
        );
        columns.push(Arc::new(c.list().clone()));
    }
    let schema = Schema::new(fields).with_metadata(meta([
        (KEY_ENTITY_PATH, chunk.entity().as_str()),
        (KEY_ID, &format!("chunk_{}", chunk.id().to_rerun_hex())),
        (KEY_SORBET_VERSION, super::SORBET_VERSION),
    ]));
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// Reads a chunk back from a record batch, checking every rule of the chunk layout.
pub fn chunk_from_record_batch(batch: &RecordBatch) -> Result<Chunk, ChunkSchemaError> {
    let schema = batch.schema();
    let md = schema.metadata();
    let entity = md
        .get(KEY_ENTITY_PATH)
        .ok_or(ChunkSchemaError::MissingMetadata(KEY_ENTITY_PATH))?;
    let id = md
        .get(KEY_ID)
        .ok_or(ChunkSchemaError::MissingMetadata(KEY_ID))?;
    let chunk_id: ChunkId =
        ChunkId::parse_rerun_hex(id).ok_or_else(|| ChunkSchemaError::BadChunkId(id.clone()))?;

    let mut row_ids: Option<Vec<RowId>> = None;
    let mut timelines = Vec::new();
    let mut components = Vec::new();
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let kind = field.metadata().get(KIND).map(String::as_str);
        match kind {
            Some("control") | Some("row_id") => {
                if row_ids.is_some() || !timelines.is_empty() || !components.is_empty() {
                    return Err(ChunkSchemaError::ColumnOrder(field.name().clone()));
                }
                let arr = column
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .filter(|a| a.value_length() == 16)
                    .ok_or_else(|| ChunkSchemaError::RowIdType(column.data_type().to_string()))?;
                if arr.null_count() > 0 {
                    return Err(ChunkSchemaError::NullRowIds(arr.null_count()));
                }
                row_ids = Some(
                    (0..arr.len())
                        .map(|i| RowId::from_be_bytes(arr.value(i).try_into().unwrap_or_default()))
                        .collect(),
                );
            }
            _ if row_ids.is_none() => {
                return Err(ChunkSchemaError::RowIdNotFirst(field.name().clone()));
            }
            Some("index") | Some("time") => {
                if !components.is_empty() {
                    return Err(ChunkSchemaError::ColumnOrder(field.name().clone()));
                }
                let name = field.metadata().get(KEY_INDEX_NAME).unwrap_or(field.name());
                let kind = TimelineKind::from_data_type(column.data_type()).ok_or_else(|| {
                    ChunkSchemaError::IndexType {
                        column: field.name().clone(),
                        found: column.data_type().to_string(),
                    }
                })?;
                let timeline =
                    Timeline::new(name, kind).map_err(|_| ChunkSchemaError::IndexType {
                        column: field.name().clone(),
                        found: column.data_type().to_string(),
                    })?;
                timelines.push(TimeColumn::from_array(timeline, column.clone())?);
            }
            _ => {
                let list = column.as_any().downcast_ref::<ListArray>().ok_or_else(|| {
                    ChunkSchemaError::ComponentType {
                        column: field.name().clone(),
                        found: column.data_type().to_string(),
                    }
                })?;
                let m = field.metadata();
                let get = |k: &str| m.get(k).cloned().map(Cow::Owned);
                let component = m
                    .get(KEY_COMPONENT)
                    .cloned()
                    .unwrap_or_else(|| field.name().clone());
                components.push(ComponentColumn::new(
                    ComponentDescriptor {
                        archetype: get(KEY_ARCHETYPE),
                        component: component.into(),
                        component_type: get(KEY_COMPONENT_TYPE),
                    },
                    list.clone(),
                ));
            }
        }
    }
    let row_ids = row_ids.ok_or_else(|| ChunkSchemaError::RowIdNotFirst(String::new()))?;
    Ok(Chunk::new(
        chunk_id,
        EntityPath::from_file_unchecked(entity),
        &row_ids,
        timelines,
        components,
    )?)
}
