//! Chunks: the unit of data in a Rerun recording.
//!
//! A [`Chunk`] holds N rows of one entity: a RowId column, zero or more index (timeline)
//! columns (none means the chunk is *static*) and one list column per component, each
//! row's list holding that row's instances (e.g. the points of one cloud).
//!
//! Building a chunk from one row wraps the caller's arrays without copying them; building
//! from several rows ([`ChunkBuilder`]) concatenates them once.

pub(crate) mod batcher;
mod tuid;

use std::sync::Arc;

use arrow_array::builder::BooleanBufferBuilder;
use arrow_array::{
    Array, ArrayRef, DurationNanosecondArray, FixedSizeBinaryArray, Int64Array, ListArray,
    TimestampNanosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field};

pub(crate) use tuid::wall_clock_ns;
pub use tuid::{ChunkId, RowId, Tuid};

use crate::component::ArchetypeError;
pub use crate::component::{AsComponents, ComponentDescriptor};
use crate::entity::EntityPath;
use crate::time::{TimePoint, Timeline, TimelineKind};

/// Why a chunk could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A row named an entity or timelines its lane never defined (an internal error).
    #[error("a row's entity or timelines were never defined by its lane")]
    UnknownKey,
    /// A column's length differs from the number of rows.
    #[error("column {column:?} has {found} rows, expected {expected}")]
    RowCountMismatch {
        /// Column name.
        column: String,
        /// The chunk's row count.
        expected: usize,
        /// The column's length.
        found: usize,
    },
    /// Two columns with one name.
    #[error("column {0:?} appears twice")]
    DuplicateColumn(String),
    /// Rows of one chunk must all use the same timelines.
    #[error("row {row} has timelines {found:?}, the chunk's first row has {expected:?}")]
    TimelineMismatch {
        /// Index of the offending row.
        row: usize,
        /// Timelines of row 0.
        expected: Vec<String>,
        /// Timelines of this row.
        found: Vec<String>,
    },
    /// The same component with two Arrow types in one chunk.
    #[error("component {component:?} has type {found} in row {row}, {expected} before")]
    ComponentTypeMismatch {
        /// Component name.
        component: String,
        /// Row index.
        row: usize,
        /// Type seen first.
        expected: String,
        /// Type in this row.
        found: String,
    },
    /// A time column of the wrong Arrow type for its timeline kind.
    #[error("time column {column:?} has type {found}, expected {expected}")]
    TimeType {
        /// Column name.
        column: String,
        /// Type required by the kind.
        expected: String,
        /// Type given.
        found: String,
    },
    /// A chunk needs at least one row (an empty chunk carries no data).
    #[error("a chunk needs at least one row")]
    Empty,
    /// The logged archetype is inconsistent.
    #[error(transparent)]
    Archetype(#[from] ArchetypeError),
    /// Arrow refused to build an array.
    #[error("Arrow refused to build an array")]
    Arrow(#[from] ArrowError),
}

/// One index column: a timeline and one time per row.
#[derive(Clone, Debug)]
pub struct TimeColumn {
    timeline: Timeline,
    times: ArrayRef,
}

impl TimeColumn {
    /// A column from `Vec<i64>` values (no copy).
    pub fn new(timeline: Timeline, times: Vec<i64>) -> Self {
        let buf = ScalarBuffer::from(times);
        let times: ArrayRef = match timeline.kind() {
            TimelineKind::Sequence => Arc::new(Int64Array::new(buf, None)),
            TimelineKind::Timestamp => Arc::new(TimestampNanosecondArray::new(buf, None)),
            TimelineKind::Duration => Arc::new(DurationNanosecondArray::new(buf, None)),
        };
        Self { timeline, times }
    }

    /// A column from an existing Arrow array, whose type must match the timeline's kind.
    pub fn from_array(timeline: Timeline, times: ArrayRef) -> Result<Self, ChunkError> {
        if TimelineKind::from_data_type(times.data_type()) != Some(timeline.kind()) {
            return Err(ChunkError::TimeType {
                column: timeline.name().to_owned(),
                expected: timeline.kind().data_type().to_string(),
                found: times.data_type().to_string(),
            });
        }
        Ok(Self { timeline, times })
    }

    /// The timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The Arrow array (Int64, Timestamp(ns) or Duration(ns)).
    pub fn array(&self) -> &ArrayRef {
        &self.times
    }

    /// The raw `i64` values (nulls, if any, read as whatever their slot holds).
    pub fn values(&self) -> &[i64] {
        match self.timeline.kind() {
            TimelineKind::Sequence => self
                .times
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.values().as_ref()),
            TimelineKind::Timestamp => self
                .times
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .map(|a| a.values().as_ref()),
            TimelineKind::Duration => self
                .times
                .as_any()
                .downcast_ref::<DurationNanosecondArray>()
                .map(|a| a.values().as_ref()),
        }
        .unwrap_or(&[])
    }

    /// Whether the times never decrease.
    pub fn is_sorted(&self) -> bool {
        self.values().is_sorted()
    }

    /// `(min, max)` over the non-null times, if any.
    pub fn range(&self) -> Option<(i64, i64)> {
        let v = self.values();
        let mut it = (0..v.len())
            .filter(|&i| self.times.is_valid(i))
            .map(|i| v[i]);
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
    }
}

/// One component column: a descriptor and a list array with one list per row.
#[derive(Clone, Debug)]
pub struct ComponentColumn {
    descriptor: ComponentDescriptor,
    list: ListArray,
}

impl ComponentColumn {
    /// A column from a descriptor and a list array.
    pub fn new(descriptor: ComponentDescriptor, list: ListArray) -> Self {
        Self { descriptor, list }
    }

    /// A column cut from one array of instances: row `i` holds the next `lengths[i]`
    /// instances of `values`, as the official SDK's `ComponentColumn.partition(lengths)`
    /// does. The instances are not copied (only the offsets are new). Fails unless the
    /// lengths add up to `values.len()` and fit 32-bit offsets.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Array, Float64Array};
    /// use spate::{ComponentColumn, ComponentDescriptor};
    ///
    /// let values = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
    /// let column = ComponentColumn::from_lengths(ComponentDescriptor::named("x"), values.clone(), [2, 0, 3])?;
    /// assert_eq!(column.list().len(), 3); // three rows
    /// assert_eq!(column.list().value(2).len(), 3);
    /// assert!(ComponentColumn::from_lengths(ComponentDescriptor::named("x"), values, [2, 2]).is_err());
    /// # Ok::<(), spate::ChunkError>(())
    /// ```
    pub fn from_lengths(
        descriptor: ComponentDescriptor,
        values: ArrayRef,
        lengths: impl IntoIterator<Item = usize>,
    ) -> Result<Self, ChunkError> {
        let mut offsets = vec![0i32];
        let mut end = 0usize;
        for len in lengths {
            end = end.saturating_add(len);
            let offset = i32::try_from(end).map_err(|_| {
                ChunkError::Archetype(ArchetypeError::TooLarge {
                    component: "send_columns",
                    found: end,
                })
            })?;
            offsets.push(offset);
        }
        if end != values.len() {
            return Err(ChunkError::Archetype(ArchetypeError::Invalid {
                component: "send_columns",
                reason: format!(
                    "the lengths add up to {end}, but {} has {} instances",
                    descriptor.component,
                    values.len()
                ),
            }));
        }
        let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        let list = ListArray::try_new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            values,
            None,
        )?;
        Ok(Self::new(descriptor, list))
    }

    /// The descriptor.
    pub fn descriptor(&self) -> &ComponentDescriptor {
        &self.descriptor
    }

    /// The list array: row `i`'s instances are `list.value(i)`.
    pub fn list(&self) -> &ListArray {
        &self.list
    }

    /// Total number of instances over all rows.
    pub fn num_instances(&self) -> usize {
        self.list.values().len()
    }
}

/// Rows of one entity, in Rerun's chunk layout.
///
/// ```
/// use spate::{Chunk, EntityPath, Points3D, RowId, TimePoint};
/// let points = Points3D::new(vec![[0.0, 1.0, 2.0]; 10]);
/// let time = TimePoint::default().with_sequence("frame", 0)?;
/// let chunk = Chunk::from_row(EntityPath::parse("lidar")?, RowId::new(), &time, &points)?;
/// assert_eq!(chunk.num_rows(), 1);
/// assert!(!chunk.is_static());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Chunk {
    id: ChunkId,
    entity: EntityPath,
    row_ids: FixedSizeBinaryArray,
    timelines: Vec<TimeColumn>,
    components: Vec<ComponentColumn>,
}

fn single_list(values: ArrayRef) -> Result<ListArray, ArrowError> {
    let len = i32::try_from(values.len()).map_err(|_| {
        ArrowError::InvalidArgumentError(format!(
            "{} instances do not fit a 32-bit list offset",
            values.len()
        ))
    })?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(vec![0, len])),
        values,
        None,
    )
}

impl Chunk {
    /// A chunk from its columns; checks that every column has one entry per row, names are
    /// unique and time columns have their kind's type. Columns are sorted by name.
    pub fn new(
        id: ChunkId,
        entity: EntityPath,
        row_ids: &[RowId],
        mut timelines: Vec<TimeColumn>,
        mut components: Vec<ComponentColumn>,
    ) -> Result<Self, ChunkError> {
        let rows = row_ids.len();
        if rows == 0 {
            return Err(ChunkError::Empty);
        }
        let row_ids = FixedSizeBinaryArray::try_from_iter(row_ids.iter().map(|r| r.to_be_bytes()))?;
        timelines.sort_by(|a, b| a.timeline.name().cmp(b.timeline.name()));
        components.sort_by(|a, b| a.descriptor.component.cmp(&b.descriptor.component));
        for w in timelines.windows(2) {
            if w[0].timeline.name() == w[1].timeline.name() {
                return Err(ChunkError::DuplicateColumn(w[0].timeline.name().to_owned()));
            }
        }
        for w in components.windows(2) {
            if w[0].descriptor.component == w[1].descriptor.component {
                return Err(ChunkError::DuplicateColumn(
                    w[0].descriptor.component.to_string(),
                ));
            }
        }
        for t in &timelines {
            TimelineKind::from_data_type(t.times.data_type())
                .filter(|k| *k == t.timeline.kind())
                .ok_or_else(|| ChunkError::TimeType {
                    column: t.timeline.name().to_owned(),
                    expected: t.timeline.kind().data_type().to_string(),
                    found: t.times.data_type().to_string(),
                })?;
            if t.times.len() != rows {
                return Err(ChunkError::RowCountMismatch {
                    column: t.timeline.name().to_owned(),
                    expected: rows,
                    found: t.times.len(),
                });
            }
        }
        for c in &components {
            if c.list.len() != rows {
                return Err(ChunkError::RowCountMismatch {
                    column: c.descriptor.component.to_string(),
                    expected: rows,
                    found: c.list.len(),
                });
            }
        }
        Ok(Self {
            id,
            entity,
            row_ids,
            timelines,
            components,
        })
    }

    /// A one-row chunk. The archetype's arrays become the row's lists **without copying**
    /// (the list's values are the very arrays `data` holds).
    pub fn from_row(
        entity: EntityPath,
        row_id: RowId,
        time: &TimePoint,
        data: &dyn AsComponents,
    ) -> Result<Self, ChunkError> {
        let timelines = time
            .iter()
            .map(|(t, v)| TimeColumn::new(t.clone(), vec![v]))
            .collect();
        Self::from_components(entity, row_id, timelines, data.as_components()?)
    }

    /// A one-row chunk from its time columns (one value each) and its component arrays,
    /// which become the row's lists without copying.
    pub(crate) fn from_components(
        entity: EntityPath,
        row_id: RowId,
        timelines: Vec<TimeColumn>,
        components: Vec<(ComponentDescriptor, ArrayRef)>,
    ) -> Result<Self, ChunkError> {
        let components = components
            .into_iter()
            .map(|(d, values)| Ok(ComponentColumn::new(d, single_list(values)?)))
            .collect::<Result<Vec<_>, ArrowError>>()?;
        Self::new(ChunkId::new(), entity, &[row_id], timelines, components)
    }

    /// The chunk id.
    pub fn id(&self) -> ChunkId {
        self.id
    }

    /// The entity all rows belong to.
    pub fn entity(&self) -> &EntityPath {
        &self.entity
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.row_ids.len()
    }

    /// A static chunk has no timelines.
    pub fn is_static(&self) -> bool {
        self.timelines.is_empty()
    }

    /// The RowId column (16-byte big-endian TUIDs).
    pub fn row_id_array(&self) -> &FixedSizeBinaryArray {
        &self.row_ids
    }

    /// The RowIds.
    pub fn row_ids(&self) -> impl Iterator<Item = RowId> + '_ {
        self.row_ids
            .iter()
            .map(|b| RowId::from_be_bytes(b.and_then(|b| b.try_into().ok()).unwrap_or_default()))
    }

    /// The index columns, sorted by timeline name.
    pub fn timelines(&self) -> &[TimeColumn] {
        &self.timelines
    }

    /// The component columns, sorted by component name.
    pub fn components(&self) -> &[ComponentColumn] {
        &self.components
    }

    /// The component column called `component` (e.g. `Points3D:positions`).
    pub fn component(&self, component: &str) -> Option<&ComponentColumn> {
        self.components
            .iter()
            .find(|c| c.descriptor.component == component)
    }

    /// Total bytes of Arrow buffers referenced by this chunk (an estimate of its size).
    pub fn heap_size_bytes(&self) -> usize {
        self.row_ids.get_buffer_memory_size()
            + self
                .timelines
                .iter()
                .map(|t| t.times.get_buffer_memory_size())
                .sum::<usize>()
            + self
                .components
                .iter()
                .map(|c| c.list.get_buffer_memory_size())
                .sum::<usize>()
    }
}

/// Builds a multi-row chunk from rows of one entity (copies each row's instances once).
///
/// Every row must use the same timelines. A row may leave out components: its list in that
/// column is null.
///
/// ```
/// use spate::{ChunkBuilder, EntityPath, Points3D, RowId, TimePoint};
/// let mut b = ChunkBuilder::new(EntityPath::parse("points")?);
/// for f in 0..3 {
///     let t = TimePoint::default().with_sequence("frame", f)?;
///     b.push_row(RowId::new(), t, &Points3D::new(vec![[f as f32, 0.0, 0.0]; 4]))?;
/// }
/// let chunk = b.build()?;
/// assert_eq!(chunk.num_rows(), 3);
/// assert_eq!(chunk.component("Points3D:positions").unwrap().num_instances(), 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ChunkBuilder {
    entity: EntityPath,
    rows: Vec<PendingRow>,
}

/// A row waiting in a [`ChunkBuilder`]: id, times, and its component arrays.
type PendingRow = (RowId, TimePoint, Vec<(ComponentDescriptor, ArrayRef)>);

impl ChunkBuilder {
    /// An empty builder for `entity`.
    pub fn new(entity: EntityPath) -> Self {
        Self {
            entity,
            rows: Vec::new(),
        }
    }

    /// Adds one row; fails (and adds nothing) if the archetype is inconsistent.
    pub fn push_row(
        &mut self,
        row_id: RowId,
        time: TimePoint,
        data: &dyn AsComponents,
    ) -> Result<(), ArchetypeError> {
        self.rows.push((row_id, time, data.as_components()?));
        Ok(())
    }

    /// Number of rows pushed.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows pushed.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Builds the chunk (a fresh [`ChunkId`]).
    pub fn build(self) -> Result<Chunk, ChunkError> {
        let Some((_, first_time, _)) = self.rows.first() else {
            return Err(ChunkError::Empty);
        };
        let names = |t: &TimePoint| {
            t.iter()
                .map(|(t, _)| format!("{}:{}", t.name(), t.kind()))
                .collect::<Vec<_>>()
        };
        let first_names = names(first_time);
        let mut times: Vec<(Timeline, Vec<i64>)> = first_time
            .iter()
            .map(|(t, _)| (t.clone(), Vec::with_capacity(self.rows.len())))
            .collect();
        // component -> (descriptor, per-row Option<array>)
        let mut columns: Vec<(ComponentDescriptor, Vec<Option<ArrayRef>>)> = Vec::new();
        for (row, (_, time, comps)) in self.rows.iter().enumerate() {
            if time.len() != times.len() || time.iter().zip(&times).any(|((t, _), (ct, _))| t != ct)
            {
                return Err(ChunkError::TimelineMismatch {
                    row,
                    expected: first_names,
                    found: names(time),
                });
            }
            for ((_, v), (_, col)) in time.iter().zip(times.iter_mut()) {
                col.push(v);
            }
            for (d, arr) in comps {
                let idx = match columns
                    .iter()
                    .position(|(cd, _)| cd.component == d.component)
                {
                    Some(i) => i,
                    None => {
                        columns.push((d.clone(), vec![None; self.rows.len()]));
                        columns.len() - 1
                    }
                };
                columns[idx].1[row] = Some(arr.clone());
            }
        }
        let mut components = Vec::with_capacity(columns.len());
        for (d, cells) in columns {
            components.push(ComponentColumn::new(d.clone(), concat_lists(&d, &cells)?));
        }
        let row_ids: Vec<RowId> = self.rows.iter().map(|(r, _, _)| *r).collect();
        let timelines = times
            .into_iter()
            .map(|(t, v)| TimeColumn::new(t, v))
            .collect();
        Chunk::new(ChunkId::new(), self.entity, &row_ids, timelines, components)
    }
}

/// Concatenates per-row arrays (None = null row) into one list array (`ChunkBuilder`, and
/// the batcher's rows of other archetypes than clouds).
pub(crate) fn concat_lists(
    d: &ComponentDescriptor,
    cells: &[Option<ArrayRef>],
) -> Result<ListArray, ChunkError> {
    let present: Vec<&dyn Array> = cells.iter().flatten().map(|a| a.as_ref()).collect();
    // A column exists only because some row has it, so `present` is never empty.
    let data_type = present
        .first()
        .map_or(DataType::Null, |a| a.data_type().clone());
    for (row, a) in cells.iter().enumerate() {
        if let Some(a) = a
            && a.data_type() != &data_type
        {
            return Err(ChunkError::ComponentTypeMismatch {
                component: d.component.to_string(),
                row,
                expected: data_type.to_string(),
                found: a.data_type().to_string(),
            });
        }
    }
    let values = arrow_select::concat::concat(&present)?;
    let mut offsets = Vec::with_capacity(cells.len() + 1);
    let mut validity = BooleanBufferBuilder::new(cells.len());
    let mut end: usize = 0;
    offsets.push(0i32);
    for cell in cells {
        end += cell.as_ref().map_or(0, |a| a.len());
        validity.append(cell.is_some());
        offsets.push(i32::try_from(end).map_err(|_| {
            ArrowError::InvalidArgumentError(format!("{end} instances overflow a 32-bit list"))
        })?);
    }
    let nulls = NullBuffer::new(validity.finish());
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    let field = Arc::new(Field::new_list_field(data_type, true));
    Ok(ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        nulls,
    )?)
}
