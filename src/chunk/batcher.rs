//! Row → chunk batching (pure logic, no threads): small rows of the same entity, timelines
//! and components coalesce into one chunk until a size, row or age limit; large rows pass
//! through as their own chunk, untouched.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arrow_array::ArrayRef;
use arrow_schema::DataType;

use crate::archetype::Points3DColumns;
use crate::chunk::{
    AsComponents, Chunk, ChunkError, ChunkId, ComponentColumn, ComponentDescriptor, RowId,
    TimeColumn, concat_lists,
};
use crate::entity::EntityPath;
use crate::lane::{Row, RowData, Timelines};
use crate::time::{LOG_TIME, Timeline};
use std::sync::Arc;

/// When a batch of small rows becomes a chunk.
///
/// The defaults ([`BatchPolicy::live`]) follow Rerun's for live sinks: 2 MiB, no row limit,
/// 8 ms. Each can be overridden from the environment with [`BatchPolicy::with_env`]:
/// `SPATE_FLUSH_BYTES`, `SPATE_FLUSH_ROWS`, `SPATE_FLUSH_DELAY_MS`.
///
/// ```
/// use spate::BatchPolicy;
/// use std::time::Duration;
/// let p = BatchPolicy { max_rows: 1000, ..BatchPolicy::live() };
/// assert_eq!(p.max_delay, Duration::from_millis(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPolicy {
    /// A batch is finished once its payload reaches this many bytes.
    pub max_bytes: usize,
    /// … or this many rows.
    pub max_rows: usize,
    /// … or this long after its first row arrived at the drain.
    pub max_delay: Duration,
    /// Rows with at least this many payload bytes are not batched: they become a chunk of
    /// their own without any copy.
    pub passthrough_bytes: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self::live()
    }
}

/// A batch environment variable that is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}={value:?} is not a non-negative integer")]
pub struct BatchEnvError {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
}

impl BatchPolicy {
    /// Rerun's live-sink defaults: 2 MiB, unlimited rows, 8 ms; pass-through from 256 KiB.
    pub const fn live() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            max_rows: usize::MAX,
            max_delay: Duration::from_millis(8),
            passthrough_bytes: 256 * 1024,
        }
    }

    /// Every row its own chunk (the live defaults with `max_rows = 1`): lowest latency, one
    /// message per row.
    pub const fn unbatched() -> Self {
        Self {
            max_rows: 1,
            ..Self::live()
        }
    }

    /// Applies `SPATE_FLUSH_BYTES`, `SPATE_FLUSH_ROWS` and `SPATE_FLUSH_DELAY_MS` where set.
    pub fn with_env(self) -> Result<Self, BatchEnvError> {
        self.with_vars(|k| std::env::var(k).ok())
    }

    fn with_vars(mut self, get: impl Fn(&str) -> Option<String>) -> Result<Self, BatchEnvError> {
        let read = |name: &'static str| -> Result<Option<u64>, BatchEnvError> {
            get(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| BatchEnvError {
                        name,
                        value: v.clone(),
                    })
                })
                .transpose()
        };
        if let Some(b) = read("SPATE_FLUSH_BYTES")? {
            self.max_bytes = usize::try_from(b).unwrap_or(usize::MAX);
        }
        if let Some(r) = read("SPATE_FLUSH_ROWS")? {
            self.max_rows = usize::try_from(r).unwrap_or(usize::MAX);
        }
        if let Some(ms) = read("SPATE_FLUSH_DELAY_MS")? {
            self.max_delay = Duration::from_millis(ms);
        }
        Ok(self)
    }
}

/// Rows that could not become a chunk (counted by the drain as encode errors).
#[derive(Debug)]
pub(crate) struct FailedRows {
    pub error: ChunkError,
    pub rows: u64,
}

/// What the batcher hands the drain: a chunk, or rows that failed to become one.
pub(crate) type Batched = Result<FinishedChunk, FailedRows>;

/// A chunk ready to encode, with what latency accounting needs.
#[derive(Debug)]
pub(crate) struct FinishedChunk {
    pub chunk: Chunk,
    /// When the chunk's oldest row was logged (wall clock, ns since the epoch).
    pub oldest_logged_at_ns: u64,
}

/// The component columns of a batch being built, by the kind of rows it holds.
enum Columns {
    /// Clouds: one growing buffer per component.
    Points3D(Points3DColumns),
    /// Any other archetype: each row's arrays, concatenated once when the batch finishes.
    Generic(GenericColumns),
}

/// What rows must share to go into one batch (besides entity and timelines).
#[derive(PartialEq)]
enum Shape<'a> {
    Points3D(u8),
    Generic(&'a [(ComponentDescriptor, ArrayRef)]),
}

fn shape(data: &RowData) -> Option<Shape<'_>> {
    match data {
        RowData::Points3D(p) => Some(Shape::Points3D(p.component_mask())),
        RowData::SmallPoints(p) => Some(Shape::Points3D(p.component_mask())),
        RowData::Components(c) => Some(Shape::Generic(c)),
        // A chunk from `send_columns` is never batched.
        RowData::Chunk(_) => None,
    }
}

/// The rows of a batch of generic archetypes: the same descriptors and Arrow types, in the
/// same order, in every row.
struct GenericColumns {
    descriptors: Vec<(ComponentDescriptor, DataType)>,
    /// Per component, each row's array (all present: rows of one shape).
    cells: Vec<Vec<Option<ArrayRef>>>,
}

impl GenericColumns {
    fn new(first: &[(ComponentDescriptor, ArrayRef)]) -> Self {
        Self {
            descriptors: first
                .iter()
                .map(|(d, a)| (d.clone(), a.data_type().clone()))
                .collect(),
            cells: vec![Vec::new(); first.len()],
        }
    }

    fn accepts(&self, row: &[(ComponentDescriptor, ArrayRef)]) -> bool {
        self.descriptors.len() == row.len()
            && self
                .descriptors
                .iter()
                .zip(row)
                .all(|((d, t), (rd, a))| d == rd && t == a.data_type())
    }

    fn push(&mut self, row: Vec<(ComponentDescriptor, ArrayRef)>) {
        for (cells, (_, a)) in self.cells.iter_mut().zip(row) {
            cells.push(Some(a));
        }
    }

    fn finish(self) -> Result<Vec<ComponentColumn>, ChunkError> {
        self.descriptors
            .into_iter()
            .zip(self.cells)
            .map(|((d, _), cells)| {
                let list = concat_lists(&d, &cells)?;
                Ok(ComponentColumn::new(d, list))
            })
            .collect()
    }
}

struct OpenBatch {
    entity: EntityPath,
    timelines: Timelines,
    log_time: bool,
    row_ids: Vec<RowId>,
    /// One column of times per timeline.
    times: Vec<Vec<i64>>,
    columns: Columns,
    bytes: usize,
    opened_at: Instant,
    oldest_logged_at_ns: u64,
}

impl OpenBatch {
    fn new(row: &Row, entity: &EntityPath, timelines: &Timelines, now: Instant) -> Self {
        let columns = match &row.data {
            RowData::Points3D(p) => Columns::Points3D(Points3DColumns::new(p.component_mask())),
            RowData::SmallPoints(p) => Columns::Points3D(Points3DColumns::new(p.component_mask())),
            RowData::Components(c) => Columns::Generic(GenericColumns::new(c)),
            RowData::Chunk(_) => unreachable!("chunks are never batched"),
        };
        Self {
            entity: entity.clone(),
            timelines: timelines.clone(),
            log_time: row.log_time,
            row_ids: Vec::new(),
            times: vec![Vec::new(); timelines.len()],
            columns,
            bytes: 0,
            opened_at: now,
            oldest_logged_at_ns: u64::MAX,
        }
    }

    /// Whether `row` (of this batch's entity) can join: same columns, timelines and
    /// `log_time`, and a RowId after the batch's last, so every chunk's RowIds stay sorted
    /// (RowIds increase per thread; rows of one entity from two threads may interleave).
    fn accepts(&self, row: &Row, timelines: &Timelines, shape: &Shape<'_>) -> bool {
        let same_columns = match (&self.columns, shape) {
            (Columns::Points3D(c), Shape::Points3D(mask)) => c.mask() == *mask,
            (Columns::Generic(g), Shape::Generic(row)) => g.accepts(row),
            _ => false,
        };
        same_columns
            && self.log_time == row.log_time
            && self.row_ids.last().is_none_or(|last| *last < row.row_id)
            && (Arc::ptr_eq(&self.timelines, timelines) || self.timelines == *timelines)
    }

    /// Appends the row's values; the row itself is dropped here.
    fn append(&mut self, row: Row) -> Result<(), ChunkError> {
        for (col, v) in self.times.iter_mut().zip(row.times.iter()) {
            col.push(*v);
        }
        self.row_ids.push(row.row_id);
        self.bytes += row.payload_bytes;
        self.oldest_logged_at_ns = self.oldest_logged_at_ns.min(row.logged_at_ns());
        match (&mut self.columns, row.data) {
            (Columns::Points3D(c), RowData::Points3D(p)) => c.push(&p)?,
            (Columns::Points3D(c), RowData::SmallPoints(p)) => c.push_small(&p)?,
            (Columns::Generic(g), RowData::Components(c)) => g.push(c),
            _ => unreachable!("accepts() matched the row's kind"),
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.row_ids.len()
    }

    fn build(self) -> Batched {
        let rows = self.len() as u64;
        self.try_build().map_err(|error| FailedRows { error, rows })
    }

    fn try_build(self) -> Result<FinishedChunk, ChunkError> {
        let mut timelines: Vec<TimeColumn> = self
            .timelines
            .iter()
            .zip(self.times)
            .map(|(t, v)| TimeColumn::new(t.clone(), v))
            .collect();
        if self.log_time {
            push_log_time(&mut timelines, &self.row_ids);
        }
        let components = match self.columns {
            Columns::Points3D(c) => c.finish()?,
            Columns::Generic(g) => g.finish()?,
        };
        let chunk = Chunk::new(
            ChunkId::new(),
            self.entity,
            &self.row_ids,
            timelines,
            components,
        )?;
        Ok(FinishedChunk {
            chunk,
            oldest_logged_at_ns: self.oldest_logged_at_ns,
        })
    }
}

/// Groups rows into chunks according to a [`BatchPolicy`].
pub(crate) struct Batcher {
    policy: BatchPolicy,
    open: Vec<OpenBatch>,
    /// Where each entity's open batch is in `open`: O(1) per row, however many are open.
    index: HashMap<EntityPath, usize>,
    /// The batch the previous row went to: a pointer comparison finds it again.
    last: usize,
}

/// Adds the automatic `log_time` column (each row's RowId clock), unless the caller set a
/// timeline of that name themselves.
fn push_log_time(timelines: &mut Vec<TimeColumn>, row_ids: &[RowId]) {
    if timelines.iter().any(|t| t.timeline().name() == LOG_TIME) {
        return;
    }
    let times = row_ids
        .iter()
        .map(|r| i64::try_from(r.time_ns()).unwrap_or(i64::MAX))
        .collect();
    timelines.push(TimeColumn::new(Timeline::log_time(), times));
}

/// One row → one chunk, wrapping the row's buffers without copying.
fn single(row: Row, entity: &EntityPath, timelines: &Timelines) -> Batched {
    let oldest_logged_at_ns = row.logged_at_ns();
    let rows = row.rows();
    let times: Vec<TimeColumn> = timelines
        .iter()
        .zip(row.times.iter())
        .map(|(t, v)| TimeColumn::new(t.clone(), vec![*v]))
        .collect();
    let components = match row.data {
        RowData::Chunk(chunk) => {
            return Ok(FinishedChunk {
                chunk: *chunk,
                oldest_logged_at_ns,
            });
        }
        RowData::Points3D(p) => p.as_components().map_err(ChunkError::from),
        RowData::SmallPoints(p) => p.to_points().as_components().map_err(ChunkError::from),
        RowData::Components(c) => Ok(c),
    };
    components
        .and_then(|c| one_row(entity.clone(), row.row_id, times, row.log_time, c))
        .map(|chunk| FinishedChunk {
            chunk,
            oldest_logged_at_ns,
        })
        .map_err(|error| FailedRows { error, rows })
}

fn one_row(
    entity: EntityPath,
    row_id: RowId,
    mut timelines: Vec<TimeColumn>,
    log_time: bool,
    components: Vec<(ComponentDescriptor, ArrayRef)>,
) -> Result<Chunk, ChunkError> {
    if log_time {
        push_log_time(&mut timelines, &[row_id]);
    }
    Chunk::from_components(entity, row_id, timelines, components)
}

impl Batcher {
    pub(crate) fn new(policy: BatchPolicy) -> Self {
        Self {
            policy,
            open: Vec::new(),
            index: HashMap::new(),
            last: 0,
        }
    }

    /// The open batch of `entity`, if any: the previous row's batch by pointer, else the
    /// index.
    fn find(&self, entity: &EntityPath) -> Option<usize> {
        if self
            .open
            .get(self.last)
            .is_some_and(|b| b.entity == *entity)
        {
            return Some(self.last);
        }
        self.index.get(entity).copied()
    }

    /// Removes and finishes the batch at `i` (O(1): the last batch takes its place).
    fn finish(&mut self, i: usize) -> Batched {
        let b = self.open.swap_remove(i);
        self.index.remove(&b.entity);
        if let Some(moved) = self.open.get(i) {
            self.index.insert(moved.entity.clone(), i);
        }
        b.build()
    }

    /// Adds a row of `entity` at `timelines` (the lane's table entries for its keys);
    /// finished chunks (full batches, or the row itself if large) go to `out`, in the order
    /// their rows arrived per entity.
    ///
    /// An entity has at most one open batch: a row whose timelines or components differ
    /// from its entity's open batch finishes that batch first, so rows of one entity never
    /// overtake each other, whatever their shape.
    pub(crate) fn push(
        &mut self,
        row: Row,
        entity: &EntityPath,
        timelines: &Timelines,
        now: Instant,
        out: &mut Vec<Batched>,
    ) {
        let mut idx = self.find(entity);
        let batchable = shape(&row.data);
        if let Some(i) = idx
            && !batchable
                .as_ref()
                .is_some_and(|shape| self.open[i].accepts(&row, timelines, shape))
        {
            out.push(self.finish(i));
            idx = None;
        }
        if batchable.is_none() || row.payload_bytes >= self.policy.passthrough_bytes {
            // Keep per-entity order: the entity's open batch goes first.
            if let Some(i) = idx {
                out.push(self.finish(i));
            }
            out.push(single(row, entity, timelines));
            return;
        }
        let i = match idx {
            Some(i) => i,
            None => {
                self.open.push(OpenBatch::new(&row, entity, timelines, now));
                let i = self.open.len() - 1;
                self.index.insert(entity.clone(), i);
                i
            }
        };
        self.last = i;
        let b = &mut self.open[i];
        if let Err(error) = b.append(row) {
            out.push(Err(FailedRows { error, rows: 1 }));
            return;
        }
        if b.bytes >= self.policy.max_bytes || b.len() >= self.policy.max_rows {
            out.push(self.finish(i));
        }
    }

    /// Adds a row as a lane hands it over: with its entity and timelines, or `None` when its
    /// keys were never defined by its lane — never expected (the lane protocol rules it out),
    /// but a drain must not panic over it: such a row is counted as failed.
    pub(crate) fn push_popped(
        &mut self,
        row: Row,
        found: Option<(&EntityPath, &Timelines)>,
        now: Instant,
        out: &mut Vec<Batched>,
    ) {
        match found {
            Some((entity, timelines)) => self.push(row, entity, timelines, now, out),
            None => out.push(Err(FailedRows {
                error: ChunkError::UnknownKey,
                rows: row.rows(),
            })),
        }
    }

    /// Finishes batches older than `max_delay`.
    pub(crate) fn take_due(&mut self, now: Instant, out: &mut Vec<Batched>) {
        let mut i = 0;
        while i < self.open.len() {
            if now.saturating_duration_since(self.open[i].opened_at) >= self.policy.max_delay {
                out.push(self.finish(i));
            } else {
                i += 1;
            }
        }
    }

    /// Finishes every open batch.
    pub(crate) fn flush_all(&mut self, out: &mut Vec<Batched>) {
        self.index.clear();
        for b in self.open.drain(..) {
            out.push(b.build());
        }
    }

    /// When the oldest open batch falls due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // `checked_add`: a `max_delay` past the end of time (`Duration::MAX`) is no age limit.
        self.open
            .iter()
            .filter_map(|b| b.opened_at.checked_add(self.policy.max_delay))
            .min()
    }

    /// Rows waiting in open batches.
    pub(crate) fn pending_rows(&self) -> usize {
        self.open.iter().map(OpenBatch::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archetype::Points3D;
    use crate::chunk::RowId;

    /// A row as the drain hands it to the batcher: with its entity and timelines.
    struct Keyed(Row, EntityPath, Timelines);

    fn row(entity: &str, frame: i64, n: usize) -> Keyed {
        let p = Points3D::new(vec![[frame as f32; 3]; n]).with_radii([0.5f32]);
        Keyed(
            Row {
                row_id: RowId::new(),
                entity: 0,
                timelines: 0,
                times: smallvec::smallvec![frame],
                defs: None,
                log_time: false,
                payload_bytes: p.payload_bytes(),
                retained_bytes: p.retained_bytes(),
                data: RowData::Points3D(Box::new(p)),
            },
            EntityPath::parse(entity).unwrap(),
            Timelines::from([Timeline::sequence("frame").unwrap()]),
        )
    }

    impl Batcher {
        fn push_keyed(&mut self, r: Keyed, now: Instant, out: &mut Vec<Batched>) {
            self.push(r.0, &r.1, &r.2, now, out);
        }
    }

    fn chunks(out: Vec<Batched>) -> Vec<Chunk> {
        out.into_iter().map(|r| r.unwrap().chunk).collect()
    }

    #[test]
    fn small_rows_coalesce_until_max_rows() {
        let mut b = Batcher::new(BatchPolicy {
            max_rows: 3,
            ..BatchPolicy::live()
        });
        let now = Instant::now();
        let mut out = Vec::new();
        for f in 0..7 {
            b.push_keyed(row("a", f, 2), now, &mut out);
        }
        let got = chunks(std::mem::take(&mut out));
        assert_eq!(got.iter().map(Chunk::num_rows).collect::<Vec<_>>(), [3, 3]);
        assert_eq!(got[1].timelines()[0].values(), &[3, 4, 5]);
        assert_eq!(
            got[0]
                .component("Points3D:positions")
                .unwrap()
                .num_instances(),
            6
        );
        assert_eq!(b.pending_rows(), 1);
        b.flush_all(&mut out);
        assert_eq!(chunks(out)[0].num_rows(), 1);
    }

    #[test]
    fn batches_split_by_entity_and_age_out() {
        let policy = BatchPolicy {
            max_delay: Duration::from_millis(8),
            ..BatchPolicy::live()
        };
        let mut b = Batcher::new(policy);
        let t0 = Instant::now();
        let mut out = Vec::new();
        b.push_keyed(row("a", 0, 1), t0, &mut out);
        b.push_keyed(row("b", 0, 1), t0, &mut out);
        b.push_keyed(row("a", 1, 1), t0, &mut out);
        assert!(out.is_empty());
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(8)));
        b.take_due(t0 + Duration::from_millis(7), &mut out);
        assert!(out.is_empty());
        b.take_due(t0 + Duration::from_millis(8), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(b.next_deadline(), None);
    }

    /// Regression: rows of one entity with different component sets went to different
    /// batches and could be emitted out of logging order.
    #[test]
    fn rows_of_one_entity_never_overtake_whatever_their_components() {
        let mut b = Batcher::new(BatchPolicy::live());
        let t0 = Instant::now();
        let mut out = Vec::new();
        for f in 0..20 {
            let mut r = row("a", f, 1);
            if f % 3 == 1 {
                r.0.data = RowData::Points3D(Box::new(Points3D::new(vec![[0.0f32; 3]])));
            }
            b.push_keyed(r, t0, &mut out);
        }
        b.flush_all(&mut out);
        let frames: Vec<i64> = chunks(out)
            .iter()
            .flat_map(|c| c.timelines()[0].values().to_vec())
            .collect();
        assert_eq!(frames, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn large_rows_pass_through_after_their_keys_open_batch() {
        let mut b = Batcher::new(BatchPolicy {
            passthrough_bytes: 1000,
            ..BatchPolicy::live()
        });
        let now = Instant::now();
        let mut out = Vec::new();
        b.push_keyed(row("a", 0, 2), now, &mut out);
        let big = row("a", 1, 1000);
        let RowData::Points3D(p) = &big.0.data else {
            unreachable!("row() makes clouds")
        };
        let big_ptr = p.positions_ptr();
        b.push_keyed(big, now, &mut out);
        let got = chunks(out);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].timelines()[0].values(), &[0]);
        assert_eq!(got[1].timelines()[0].values(), &[1]);
        let pos = got[1].component("Points3D:positions").unwrap().list();
        let values = pos.values().to_data().child_data()[0].buffers()[0].as_ptr();
        assert_eq!(values, big_ptr, "a large row's positions are not copied");
    }

    /// A row whose keys its lane never defined is counted as failed, not panicked over.
    #[test]
    fn a_row_without_its_entity_is_counted_as_failed() {
        let mut b = Batcher::new(BatchPolicy::live());
        let mut out = Vec::new();
        b.push_popped(row("a", 0, 1).0, None, Instant::now(), &mut out);
        assert_eq!(b.pending_rows(), 0);
        assert!(matches!(
            out.as_slice(),
            [Err(FailedRows {
                error: ChunkError::UnknownKey,
                rows: 1
            })]
        ));
    }

    #[test]
    fn env_overrides_parse_or_fail_typed() {
        let vars = |k: &str| match k {
            "SPATE_FLUSH_BYTES" => Some("1024".to_owned()),
            "SPATE_FLUSH_DELAY_MS" => Some("0".to_owned()),
            _ => None,
        };
        let p = BatchPolicy::live().with_vars(vars).unwrap();
        assert_eq!(
            (p.max_bytes, p.max_rows, p.max_delay),
            (1024, usize::MAX, Duration::ZERO)
        );
        let bad =
            BatchPolicy::live().with_vars(|k| (k == "SPATE_FLUSH_ROWS").then(|| "lots".to_owned()));
        assert_eq!(bad.unwrap_err().name, "SPATE_FLUSH_ROWS");
    }
}
