//! Timelines and time points.
//!
//! Rerun has three kinds of timeline: sequences (`i64`, e.g. a frame number), timestamps
//! (nanoseconds since the Unix epoch) and durations (nanoseconds). Data logged without any
//! time is *static*: it holds for all times — unless it is logged temporally: a recording
//! indexes every temporal row on the automatic [`LOG_TIME`] timeline too, as the official
//! SDK does, so a row logged before any time was set still has a time.

/// The automatic timeline (a timestamp) on which every temporal row is indexed at the
/// moment it was logged, unless the recording turns it off
/// ([`RecordingBuilder::log_time`](crate::RecordingBuilder::log_time)).
pub const LOG_TIME: &str = "log_time";

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_schema::{DataType, TimeUnit};
use smallvec::SmallVec;

/// The kind of a timeline, which fixes its Arrow type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimelineKind {
    /// A sequence number such as a frame index (`Int64`).
    Sequence,
    /// Nanoseconds since the Unix epoch (`Timestamp(ns)`).
    Timestamp,
    /// Nanoseconds (`Duration(ns)`).
    Duration,
}

impl TimelineKind {
    /// The Arrow type of this kind's index column.
    pub fn data_type(self) -> DataType {
        match self {
            Self::Sequence => DataType::Int64,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, None),
            Self::Duration => DataType::Duration(TimeUnit::Nanosecond),
        }
    }

    /// The kind whose Arrow type this is, if any (a timezone on a timestamp is accepted).
    pub fn from_data_type(data_type: &DataType) -> Option<Self> {
        match data_type {
            DataType::Int64 => Some(Self::Sequence),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(Self::Timestamp),
            DataType::Duration(TimeUnit::Nanosecond) => Some(Self::Duration),
            _ => None,
        }
    }

    /// `"sequence"`, `"timestamp"` or `"duration"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sequence => "sequence",
            Self::Timestamp => "timestamp",
            Self::Duration => "duration",
        }
    }
}

impl fmt::Display for TimelineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a timeline name or time value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Timeline names must be non-empty.
    #[error("timeline name is empty")]
    EmptyName,
    /// Names starting with `rerun.` collide with Rerun's own control columns.
    #[error("timeline name {0:?} is reserved (starts with \"rerun.\")")]
    ReservedName(String),
    /// `i64::MIN` means "static" in Rerun and cannot be a time.
    #[error("time value i64::MIN on timeline {0:?} is reserved for static data")]
    ReservedValue(String),
    /// The same timeline appeared twice in one time point with different kinds.
    #[error("timeline {name:?} used as both {first} and {second}")]
    KindConflict {
        /// The timeline.
        name: String,
        /// Its kind where first seen.
        first: TimelineKind,
        /// The conflicting kind.
        second: TimelineKind,
    },
}

/// A named timeline of a given kind.
///
/// ```
/// use spate::{Timeline, TimelineKind};
/// let t = Timeline::new("frame", TimelineKind::Sequence)?;
/// assert_eq!(t.name(), "frame");
/// # Ok::<(), spate::TimeError>(())
/// ```
///
/// A thin shared pointer (8 bytes), so time points stay small and clone without allocating.
#[derive(Clone)]
pub struct Timeline(Arc<TimelineInner>);

struct TimelineInner {
    name: Box<str>,
    kind: TimelineKind,
}

impl PartialEq for Timeline {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.kind == other.0.kind && self.0.name == other.0.name)
    }
}

impl Eq for Timeline {}

impl std::hash::Hash for Timeline {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
        self.0.kind.hash(state);
    }
}

impl PartialOrd for Timeline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timeline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.0.name, self.0.kind).cmp(&(&other.0.name, other.0.kind))
    }
}

impl Timeline {
    /// A timeline called `name`; the name must be non-empty and not start with `rerun.`.
    pub fn new(name: &str, kind: TimelineKind) -> Result<Self, TimeError> {
        if name.is_empty() {
            return Err(TimeError::EmptyName);
        }
        if name.starts_with("rerun.") {
            return Err(TimeError::ReservedName(name.to_owned()));
        }
        Ok(Self(Arc::new(TimelineInner {
            name: name.into(),
            kind,
        })))
    }

    /// A sequence timeline.
    pub fn sequence(name: &str) -> Result<Self, TimeError> {
        Self::new(name, TimelineKind::Sequence)
    }

    /// A timestamp timeline (ns since the Unix epoch).
    pub fn timestamp(name: &str) -> Result<Self, TimeError> {
        Self::new(name, TimelineKind::Timestamp)
    }

    /// A duration timeline (ns).
    pub fn duration(name: &str) -> Result<Self, TimeError> {
        Self::new(name, TimelineKind::Duration)
    }

    /// The automatic [`LOG_TIME`] timeline (one shared instance).
    pub fn log_time() -> Self {
        static LOG: OnceLock<Timeline> = OnceLock::new();
        LOG.get_or_init(|| {
            Self(Arc::new(TimelineInner {
                name: LOG_TIME.into(),
                kind: TimelineKind::Timestamp,
            }))
        })
        .clone()
    }

    /// The name, which is also the index column's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The kind.
    pub fn kind(&self) -> TimelineKind {
        self.0.kind
    }
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?})", self.0.kind, &*self.0.name)
    }
}

/// A time on a timeline of some kind: what [`Recording::set_time`](crate::Recording::set_time)
/// takes.
///
/// From a [`SystemTime`] it is a timestamp, from a [`Duration`] a duration (both in
/// nanoseconds, saturating at the ±292 years an `i64` holds); or give the kind explicitly.
///
/// ```
/// use spate::{TimeCell, TimelineKind};
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = TimeCell::from(UNIX_EPOCH + Duration::from_secs(1));
/// assert_eq!((t.kind(), t.value()), (TimelineKind::Timestamp, 1_000_000_000));
/// let d = TimeCell::from(Duration::from_millis(5));
/// assert_eq!((d.kind(), d.value()), (TimelineKind::Duration, 5_000_000));
/// assert_eq!(TimeCell::sequence(7).kind(), TimelineKind::Sequence);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeCell {
    kind: TimelineKind,
    value: i64,
}

impl TimeCell {
    /// A sequence number (e.g. a frame index).
    pub const fn sequence(value: i64) -> Self {
        Self {
            kind: TimelineKind::Sequence,
            value,
        }
    }

    /// A timestamp, in nanoseconds since the Unix epoch.
    pub const fn timestamp_ns(ns_since_epoch: i64) -> Self {
        Self {
            kind: TimelineKind::Timestamp,
            value: ns_since_epoch,
        }
    }

    /// A duration, in nanoseconds.
    pub const fn duration_ns(ns: i64) -> Self {
        Self {
            kind: TimelineKind::Duration,
            value: ns,
        }
    }

    /// The kind of timeline this time belongs on.
    pub fn kind(&self) -> TimelineKind {
        self.kind
    }

    /// The raw value (a sequence number or nanoseconds).
    pub fn value(&self) -> i64 {
        self.value
    }
}

/// Nanoseconds of `d`, saturating at `i64::MAX`.
fn saturating_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl From<SystemTime> for TimeCell {
    fn from(t: SystemTime) -> Self {
        let ns = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => saturating_ns(after),
            // Before 1970: negative, and never the reserved `i64::MIN`.
            Err(e) => -saturating_ns(e.duration()),
        };
        Self::timestamp_ns(ns)
    }
}

impl From<Duration> for TimeCell {
    fn from(d: Duration) -> Self {
        Self::duration_ns(saturating_ns(d))
    }
}

/// The times of one row on any number of timelines; empty means static.
///
/// Kept sorted by timeline name, one value per timeline. Up to four timelines are stored
/// inline, so cloning a time point (as every logged row does) does not allocate.
///
/// ```
/// use spate::TimePoint;
/// let t = TimePoint::default()
///     .with_sequence("frame", 7)?
///     .with_timestamp_ns("sensor_time", 1_700_000_000_000_000_000)?;
/// assert_eq!(t.len(), 2);
/// assert!(TimePoint::default().is_static());
/// # Ok::<(), spate::TimeError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TimePoint(SmallVec<[(Timeline, i64); 4]>);

impl TimePoint {
    /// Sets the time on `timeline`, replacing an earlier value on the same timeline.
    pub fn insert(&mut self, timeline: Timeline, value: i64) -> Result<(), TimeError> {
        if value == i64::MIN {
            return Err(TimeError::ReservedValue(timeline.name().to_owned()));
        }
        match self
            .0
            .binary_search_by(|(t, _)| t.name().cmp(timeline.name()))
        {
            Ok(i) => {
                if self.0[i].0.kind() != timeline.kind() {
                    return Err(TimeError::KindConflict {
                        name: timeline.name().to_owned(),
                        first: self.0[i].0.kind(),
                        second: timeline.kind(),
                    });
                }
                self.0[i].1 = value;
            }
            Err(i) => self.0.insert(i, (timeline, value)),
        }
        Ok(())
    }

    /// Sets the value of a timeline already present (same name and kind) in place, without
    /// touching its reference count; false if there is none (or `value` is reserved: then
    /// [`insert`](Self::insert) reports the error).
    pub(crate) fn set_existing(&mut self, name: &str, kind: TimelineKind, value: i64) -> bool {
        if value == i64::MIN {
            return false;
        }
        match self
            .0
            .iter_mut()
            .find(|(t, _)| t.kind() == kind && t.name() == name)
        {
            Some((_, v)) => {
                *v = value;
                true
            }
            None => false,
        }
    }

    /// Builder form of [`insert`](Self::insert) for a time of any kind
    /// (`SystemTime`, `Duration`, or a [`TimeCell`]).
    pub fn with(mut self, name: &str, time: impl Into<TimeCell>) -> Result<Self, TimeError> {
        let time = time.into();
        self.insert(Timeline::new(name, time.kind())?, time.value())?;
        Ok(self)
    }

    /// Builder form of [`insert`](Self::insert) for a sequence timeline.
    pub fn with_sequence(mut self, name: &str, value: i64) -> Result<Self, TimeError> {
        self.insert(Timeline::sequence(name)?, value)?;
        Ok(self)
    }

    /// Builder form of [`insert`](Self::insert) for a timestamp timeline (ns since epoch).
    pub fn with_timestamp_ns(mut self, name: &str, value: i64) -> Result<Self, TimeError> {
        self.insert(Timeline::timestamp(name)?, value)?;
        Ok(self)
    }

    /// Builder form of [`insert`](Self::insert) for a duration timeline (ns).
    pub fn with_duration_ns(mut self, name: &str, value: i64) -> Result<Self, TimeError> {
        self.insert(Timeline::duration(name)?, value)?;
        Ok(self)
    }

    /// `(timeline, value)` pairs sorted by timeline name.
    pub fn iter(&self) -> impl Iterator<Item = (&Timeline, i64)> {
        self.0.iter().map(|(t, v)| (t, *v))
    }

    /// Number of timelines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No timelines at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A row without times is static.
    pub fn is_static(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_points_stay_sorted_and_reject_conflicts() {
        let mut t = TimePoint::default();
        t.insert(Timeline::sequence("b").unwrap(), 1).unwrap();
        t.insert(Timeline::duration("a").unwrap(), 2).unwrap();
        t.insert(Timeline::sequence("b").unwrap(), 3).unwrap();
        let names: Vec<_> = t.iter().map(|(t, v)| (t.name().to_owned(), v)).collect();
        assert_eq!(names, [("a".to_owned(), 2), ("b".to_owned(), 3)]);
        assert!(matches!(
            t.insert(Timeline::timestamp("b").unwrap(), 1),
            Err(TimeError::KindConflict { .. })
        ));
        assert!(matches!(
            t.insert(Timeline::sequence("c").unwrap(), i64::MIN),
            Err(TimeError::ReservedValue(_))
        ));
        assert_eq!(Timeline::sequence(""), Err(TimeError::EmptyName));
        assert!(matches!(
            Timeline::sequence("rerun.controls.RowId"),
            Err(TimeError::ReservedName(_))
        ));
    }
}
