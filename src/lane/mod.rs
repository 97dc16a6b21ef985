//! Per-thread lanes: one SPSC ring (rtrb) from each producer thread to the drain thread.
//!
//! A thread's first `log` on a recording creates its lane and hands the consumer end to the
//! drain through a lock-free queue; later calls touch only the thread's own ring. Memory is
//! bounded twice: by the ring's slot count and by the payload bytes in the lane (a row larger
//! than the byte budget is still accepted into an empty lane, or it could never be logged).
//! When the lane is full, the [`LanePolicy`] decides: wait, or drop the new row and count it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_utils::{Backoff, CachePadded};

use crate::archetype::{Points3D, SmallPoints};
use crate::chunk::{Chunk, ComponentDescriptor, RowId};
use crate::entity::EntityPath;
use crate::gate::{Entry, Gate};
use crate::park::Parker;
use crate::time::TimePoint;
use arrow_array::ArrayRef;
use smallvec::SmallVec;
use std::sync::Arc;

mod keys;
/// The seedable generator of the integration tests, for this module's randomized tests.
#[cfg(test)]
#[path = "../../tests/support/rng.rs"]
mod test_rng;
pub(crate) use keys::{ConsumerKeys, Defs, Key, ProducerKeys, Timelines};

/// What a full lane does with a new row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LanePolicy {
    /// Wait (spin, then yield, then park) until the drain makes room. Lossless.
    #[default]
    Block,
    /// Never wait: drop the new row and count it in the lane's stats.
    DropNewest,
}

/// Runs around a producer's wait for room in a full [`LanePolicy::Block`] lane: the place
/// to let go of a lock the logging thread holds while it waits (an interpreter's global
/// lock, so other threads run meanwhile). Called only when the lane is full; the fast path
/// never sees it.
///
/// ```
/// use spate::{BlockHook, EntityPath, LanePolicy, Points3D, Recording};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// struct CountWaits(Arc<AtomicU64>);
/// impl BlockHook for CountWaits {
///     fn around_wait(&self, wait: &mut (dyn FnMut() + Send)) {
///         self.0.fetch_add(1, Ordering::Relaxed); // e.g. release a lock here…
///         wait();                                  // …wait for room…
///     }                                            // …and take it back here
/// }
/// let waits = Arc::new(AtomicU64::new(0));
/// let rec = Recording::builder("hooked")
///     .lane_slots(2)
///     .lane_policy(LanePolicy::Block)
///     .block_hook(CountWaits(waits.clone()))
///     .start()?;
/// let p = EntityPath::parse("p")?;
/// for _ in 0..1000 {
///     rec.log(&p, &Points3D::new(vec![[0.0f32; 3]]))?;
/// }
/// // With 2 slots the producer outran the drain at least once (or never had to wait).
/// println!("waited {} times", waits.load(Ordering::Relaxed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait BlockHook: Send + Sync + 'static {
    /// Calls `wait` once (it returns when the lane has room or the recording closed). A
    /// hook that does not call it gets it called right after, without the hook.
    fn around_wait(&self, wait: &mut (dyn FnMut() + Send));
}

/// The data of one logged row, moved through the lane.
#[derive(Clone, Debug)]
pub(crate) enum RowData {
    /// A point cloud (its buffers shared, not copied), boxed: the lane's slots are sized
    /// for the small rows that are most of them (a 5+-point cloud costs one small box).
    Points3D(Box<Points3D>),
    /// A cloud of a few points, copied into the row: no reference counts shared with the
    /// caller, no allocation.
    SmallPoints(SmallPoints),
    /// Any other archetype: its component arrays, as `AsComponents` gave them.
    Components(Vec<(ComponentDescriptor, ArrayRef)>),
    /// Many rows at once (`send_columns`): a whole chunk, built on the caller's thread.
    Chunk(Box<Chunk>),
}

impl RowData {
    /// Rows this item carries (a chunk from `send_columns` carries many).
    pub(crate) fn rows(&self) -> u64 {
        match self {
            Self::Chunk(c) => c.num_rows() as u64,
            Self::Points3D(_) | Self::SmallPoints(_) | Self::Components(_) => 1,
        }
    }
}

/// One logged row on its way to the drain.
///
/// Cache-line aligned, so the producer writing one ring slot never shares a line with the
/// drain reading the previous one (false sharing made small rows ~2.5x slower to log).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Row {
    pub row_id: RowId,
    /// The entity, as a key of the lane's tables (`keys`).
    pub entity: Key,
    /// The caller's timelines, as a key of the lane's tables (none for static rows, and for
    /// temporal rows logged before any time was set: those have `log_time` alone) …
    pub timelines: Key,
    /// … and the row's value on each of them, in that list's order.
    pub times: SmallVec<[i64; 4]>,
    /// Table entries this row is the first to use.
    pub defs: Option<Box<Defs>>,
    /// Index the row on the automatic `log_time` timeline too (its RowId's clock): set on
    /// every temporal row unless the recording turned it off.
    pub log_time: bool,
    pub data: RowData,
    pub payload_bytes: usize,
    /// The memory the row keeps alive (what the lane's byte bound counts).
    pub retained_bytes: usize,
}

impl Row {
    /// When the row was logged: its RowId's wall-clock time (one clock read per `log()`).
    pub(crate) fn logged_at_ns(&self) -> u64 {
        self.row_id.time_ns()
    }

    /// Rows this item carries.
    pub(crate) fn rows(&self) -> u64 {
        self.data.rows()
    }
}

/// Counters of one lane, written by its producer (single writer: plain load + store) and by
/// the drain, read by `stats()`.
#[derive(Debug)]
pub(crate) struct LaneShared {
    pub thread_name: String,
    /// Rows and payload bytes accepted into the lane (producer-written, one cache line).
    pub pushed: CachePadded<(AtomicU64, AtomicU64)>,
    /// Rows dropped by `DropNewest` (producer-written).
    pub dropped: AtomicU64,
    /// Rows and payload bytes taken by the drain (drain-written).
    pub popped: CachePadded<AtomicU64>,
    pub bytes_popped: AtomicU64,
    /// Most rows / bytes seen in the lane at once (drain-written).
    pub high_water_rows: AtomicUsize,
    pub high_water_bytes: AtomicU64,
    /// The producer thread, when it waits for room (`LanePolicy::Block`).
    pub producer: Parker,
    /// Raised by the producer while it pushes (the shutdown handshake, `crate::gate`).
    pub entry: Entry,
}

/// Snapshot of one lane's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneStats {
    /// Name (or id) of the producer thread.
    pub thread: String,
    /// Rows accepted.
    pub rows_pushed: u64,
    /// Rows dropped because the lane was full (`DropNewest`).
    pub rows_dropped: u64,
    /// Most log calls queued in the lane at once (a `send_columns` call counts once).
    pub high_water_rows: usize,
    /// Most bytes queued in the lane at once (of the memory the rows keep alive).
    pub high_water_bytes: u64,
}

impl LaneStats {
    /// Adds `other`'s counters to these (high-water marks: the larger one).
    pub(crate) fn absorb(&mut self, other: &LaneStats) {
        self.rows_pushed += other.rows_pushed;
        self.rows_dropped += other.rows_dropped;
        self.high_water_rows = self.high_water_rows.max(other.high_water_rows);
        self.high_water_bytes = self.high_water_bytes.max(other.high_water_bytes);
    }
}

impl LaneShared {
    /// Rows pushed and not popped (read from the counters: for reports).
    pub(crate) fn rows_left(&self) -> u64 {
        self.pushed
            .0
            .load(Ordering::Acquire)
            .saturating_sub(self.popped.load(Ordering::Acquire))
    }

    pub(crate) fn snapshot(&self) -> LaneStats {
        LaneStats {
            thread: self.thread_name.clone(),
            rows_pushed: self.pushed.0.load(Ordering::Relaxed),
            rows_dropped: self.dropped.load(Ordering::Relaxed),
            high_water_rows: self.high_water_rows.load(Ordering::Relaxed),
            high_water_bytes: self.high_water_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Single-writer increment: no read-modify-write instruction needed.
fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

/// Why a push did not go in.
#[derive(Debug)]
pub(crate) enum PushError {
    /// Dropped under `DropNewest` (counted).
    Dropped,
    /// The recording shut down while the producer waited.
    Closed,
}

/// The producer end, owned by one thread.
pub(crate) struct LaneProducer {
    ring: rtrb::Producer<Row>,
    shared: Arc<LaneShared>,
    /// Payload bytes pushed, and the drain's `bytes_popped` as last read: the shared
    /// counter is re-read only when the cached one says the lane is full, so the producer
    /// does not pull the drain's cache line on every push (as rtrb does for its indices).
    bytes_pushed: u64,
    cached_popped: u64,
    max_bytes: u64,
    policy: LanePolicy,
    keys: ProducerKeys,
    block_hook: Option<Arc<dyn BlockHook>>,
}

/// The consumer end, owned by the drain.
pub(crate) struct LaneConsumer {
    ring: rtrb::Consumer<Row>,
    keys: ConsumerKeys,
    pub shared: Arc<LaneShared>,
}

/// Creates a lane for the calling thread (the producer's parker belongs to it).
pub(crate) fn new_lane(
    slots: usize,
    max_bytes: u64,
    policy: LanePolicy,
    block_hook: Option<Arc<dyn BlockHook>>,
) -> (LaneProducer, LaneConsumer) {
    let (p, c) = rtrb::RingBuffer::new(slots.max(2));
    let t = std::thread::current();
    let shared = Arc::new(LaneShared {
        thread_name: t
            .name()
            .map_or_else(|| format!("{:?}", t.id()), str::to_owned),
        pushed: CachePadded::new((AtomicU64::new(0), AtomicU64::new(0))),
        dropped: AtomicU64::new(0),
        popped: CachePadded::new(AtomicU64::new(0)),
        bytes_popped: AtomicU64::new(0),
        high_water_rows: AtomicUsize::new(0),
        high_water_bytes: AtomicU64::new(0),
        producer: Parker::for_current_thread(),
        entry: Entry::new(),
    });
    (
        LaneProducer {
            ring: p,
            shared: shared.clone(),
            bytes_pushed: 0,
            cached_popped: 0,
            max_bytes,
            policy,
            keys: ProducerKeys::default(),
            block_hook,
        },
        LaneConsumer {
            ring: c,
            keys: ConsumerKeys::default(),
            shared,
        },
    )
}

impl LaneProducer {
    fn fits(&self, bytes: u64) -> bool {
        let used = self.bytes_pushed - self.cached_popped.min(self.bytes_pushed);
        used == 0 || used + bytes <= self.max_bytes
    }

    fn has_room(&mut self, bytes: u64) -> bool {
        if self.ring.is_full() {
            return false;
        }
        if self.fits(bytes) {
            return true;
        }
        // Acquire pairs with the drain's Release store after popping.
        self.cached_popped = self.shared.bytes_popped.load(Ordering::Acquire);
        self.fits(bytes)
    }

    /// Pushes a row of `entity` at `time` unless `gate` is closed, with the shutdown
    /// handshake around it (see `crate::gate`: the drain's final pass either sees the row or
    /// this returns `Closed`). The row is built once, in the argument of the ring's push, after
    /// room was made: on the log path it is moved once, into its slot.
    #[inline(always)]
    #[expect(
        clippy::too_many_arguments,
        reason = "the row's fields, so it is built in place"
    )]
    pub(crate) fn push_through(
        &mut self,
        gate: &Gate,
        entity: &EntityPath,
        time: &TimePoint,
        row_id: RowId,
        log_time: bool,
        data: RowData,
        payload_bytes: usize,
        retained_bytes: usize,
    ) -> Result<(), PushError> {
        let (fe, ft) = (self.keys.entity(entity), self.keys.timelines(time));
        let new_entity = matches!(fe, keys::Lookup::New(_));
        let new_timelines = matches!(ft, keys::Lookup::New(_)).then(|| keys::timelines_of(time));
        let defs = (new_entity || new_timelines.is_some()).then(|| {
            Box::new(Defs {
                entity: new_entity.then(|| entity.clone()),
                timelines: new_timelines.clone(),
            })
        });
        if !self.shared.entry.enter(gate) {
            return Err(PushError::Closed);
        }
        let (rows, bytes) = (data.rows(), retained_bytes as u64);
        let pushed = self
            .make_room(bytes, rows, &|| gate.is_closed())
            .and_then(|()| {
                self.put(
                    Row {
                        row_id,
                        entity: fe.key(),
                        timelines: ft.key(),
                        times: time.iter().map(|(_, v)| v).collect(),
                        defs,
                        log_time,
                        data,
                        payload_bytes,
                        retained_bytes,
                    },
                    rows,
                    bytes,
                )
            });
        self.shared.entry.leave();
        if pushed.is_ok() {
            // Only a row in the ring defines keys: the drain sees exactly these.
            self.keys.commit_entity(fe, entity);
            self.keys.commit_timelines(ft, new_timelines);
        }
        pushed
    }

    /// Pushes a row, applying the lane policy. `is_closed` lets a blocked producer give up
    /// when the recording shuts down. (The log path builds its row in place instead.)
    #[cfg(test)]
    pub(crate) fn push(
        &mut self,
        row: Row,
        is_closed: impl Fn() -> bool + Sync,
    ) -> Result<(), PushError> {
        let (rows, bytes) = (row.rows(), row.retained_bytes as u64);
        self.make_room(bytes, rows, &is_closed)?;
        self.put(row, rows, bytes)
    }

    /// Room for a row of `bytes` (`rows` rows), by the lane policy: `Ok` once there is, or
    /// the row is dropped (counted) or the recording closed.
    #[inline(always)]
    fn make_room(
        &mut self,
        bytes: u64,
        rows: u64,
        is_closed: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), PushError> {
        if self.has_room(bytes) {
            return Ok(());
        }
        match self.policy {
            LanePolicy::DropNewest => {
                bump(&self.shared.dropped, rows);
                Err(PushError::Dropped)
            }
            LanePolicy::Block => self.wait_for_room(bytes, is_closed),
        }
    }

    /// Moves a row into the ring (there is room) and counts it.
    #[inline(always)]
    fn put(&mut self, row: Row, rows: u64, bytes: u64) -> Result<(), PushError> {
        if self.ring.push(row).is_err() {
            // Unreachable: only this thread pushes and it made room first.
            return Err(PushError::Closed);
        }
        self.bytes_pushed += bytes;
        bump(&self.shared.pushed.0, rows);
        self.shared
            .pushed
            .1
            .store(self.bytes_pushed, Ordering::Relaxed);
        Ok(())
    }

    /// `LanePolicy::Block`'s wait (out of line: the row stays where it is meanwhile),
    /// inside the recording's [`BlockHook`] if it has one.
    #[cold]
    #[inline(never)]
    fn wait_for_room(
        &mut self,
        bytes: u64,
        is_closed: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), PushError> {
        let Some(hook) = self.block_hook.clone() else {
            return self.wait_loop(bytes, is_closed);
        };
        let mut result = None;
        hook.around_wait(&mut || result = Some(self.wait_loop(bytes, is_closed)));
        match result {
            Some(r) => r,
            None => self.wait_loop(bytes, is_closed),
        }
    }

    fn wait_loop(
        &mut self,
        bytes: u64,
        is_closed: &(dyn Fn() -> bool + Sync),
    ) -> Result<(), PushError> {
        let backoff = Backoff::new();
        loop {
            // Closed first, room second: a producer that waited through a shutdown must not
            // push behind a final pass that already gave up (its room may come from that
            // very pass).
            if is_closed() {
                return Err(PushError::Closed);
            }
            if self.has_room(bytes) {
                return Ok(());
            }
            if backoff.is_completed() {
                // Bounded sleep: the drain notifies after every burst it pops, and the
                // timeout re-checks `is_closed`.
                let shared = self.shared.clone();
                shared
                    .producer
                    .park_unless(|| self.has_room(bytes), Some(Duration::from_millis(5)));
            } else {
                backoff.snooze();
            }
        }
    }
}

impl LaneConsumer {
    /// Whether rows are waiting.
    pub(crate) fn has_rows(&self) -> bool {
        !self.ring.is_empty()
    }

    /// Rows waiting now.
    pub(crate) fn rows_waiting(&self) -> usize {
        self.ring.slots()
    }

    /// The producer thread is gone and every row was taken.
    pub(crate) fn is_finished(&self) -> bool {
        self.ring.is_abandoned() && self.ring.is_empty()
    }

    /// Pops up to `max` rows into `sink` with their entity and timelines (`None`: keys the
    /// lane never defined, which the protocol rules out), in one batch read of the ring;
    /// updates the counters and wakes a producer waiting for room.
    pub(crate) fn pop_burst(
        &mut self,
        max: usize,
        mut sink: impl FnMut(Row, Option<(&EntityPath, &Timelines)>),
    ) -> usize {
        let available = self.ring.slots();
        if available == 0 {
            return 0;
        }
        let s = &self.shared;
        let n = available.min(max);
        let mut bytes = 0u64;
        let mut rows = 0u64;
        if let Ok(chunk) = self.ring.read_chunk(n) {
            for mut row in chunk {
                bytes += row.retained_bytes as u64;
                rows += row.rows();
                let defs = row.defs.take();
                let found = self.keys.resolve(row.entity, row.timelines, defs);
                sink(row, found);
            }
        }
        s.high_water_rows.fetch_max(available, Ordering::Relaxed);
        let in_lane = if available == n {
            bytes
        } else {
            // A backlog: read the producer's counter (only then, to keep its cache line
            // local while the drain keeps up).
            let popped = s.bytes_popped.load(Ordering::Relaxed);
            s.pushed.1.load(Ordering::Relaxed).saturating_sub(popped)
        };
        s.high_water_bytes.fetch_max(in_lane, Ordering::Relaxed);
        // Release pairs with the producer's Acquire in `bytes_in_lane`.
        s.bytes_popped.store(
            s.bytes_popped.load(Ordering::Relaxed) + bytes,
            Ordering::Release,
        );
        bump(&s.popped, rows);
        s.producer.notify();
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: usize) -> Row {
        let p = Points3D::new(vec![[0.0f32; 3]; n]);
        Row {
            row_id: RowId::new(),
            entity: 0,
            timelines: 0,
            times: SmallVec::new(),
            defs: None,
            log_time: false,
            payload_bytes: p.payload_bytes(),
            retained_bytes: p.retained_bytes(),
            data: RowData::Points3D(Box::new(p)),
        }
    }

    #[test]
    fn drop_newest_counts_every_drop_when_slots_run_out() {
        let (mut p, mut c) = new_lane(4, u64::MAX, LanePolicy::DropNewest, None);
        let results: Vec<bool> = (0..10).map(|_| p.push(row(1), || false).is_ok()).collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 4);
        let s = c.shared.snapshot();
        assert_eq!((s.rows_pushed, s.rows_dropped), (4, 6));
        let mut got = 0;
        c.pop_burst(100, |_, _| got += 1);
        assert_eq!(got, 4);
        assert_eq!(c.shared.snapshot().high_water_rows, 4);
    }

    #[test]
    fn byte_budget_bounds_the_lane_but_admits_one_oversized_row() {
        let (mut p, mut c) = new_lane(100, 1000, LanePolicy::DropNewest, None);
        assert!(
            p.push(row(100), || false).is_ok(),
            "1200 B row into an empty lane"
        );
        assert!(matches!(p.push(row(1), || false), Err(PushError::Dropped)));
        c.pop_burst(1, |_, _| {});
        assert!(p.push(row(10), || false).is_ok());
        assert!(p.push(row(10), || false).is_ok());
        assert_eq!(c.shared.snapshot().rows_dropped, 1);
    }

    #[test]
    fn block_waits_for_the_drain_and_loses_nothing() {
        let (mut p, mut c) = new_lane(8, u64::MAX, LanePolicy::Block, None);
        let producer = std::thread::spawn(move || {
            for _ in 0..10_000 {
                p.push(row(1), || false).unwrap();
            }
        });
        let mut got = 0;
        let start = std::time::Instant::now();
        while got < 10_000 {
            got += c.pop_burst(3, |_, _| {});
            assert!(start.elapsed() < Duration::from_secs(60), "producer stuck");
        }
        producer.join().unwrap();
        assert_eq!(c.shared.snapshot().rows_dropped, 0);
        assert!(c.is_finished());
    }

    #[test]
    fn a_blocked_producer_gives_up_when_closed() {
        let (mut p, _c) = new_lane(2, u64::MAX, LanePolicy::Block, None);
        p.push(row(1), || false).unwrap();
        p.push(row(1), || false).unwrap();
        assert!(matches!(p.push(row(1), || true), Err(PushError::Closed)));
    }
}
#[cfg(test)]
mod size_guard {
    /// Rows are moved through the ring by value on every `log()`: keeping them small is
    /// most of the log path's cost (408 → 216 bytes took end-to-end 1-point rows from
    /// ~3 to ~7.5 M/s; keys instead of shared pointers, small clouds by value and big ones
    /// boxed then took them to three cache lines). Growing a row past three cache lines
    /// should be a deliberate choice.
    #[test]
    fn rows_stay_small() {
        assert!(
            std::mem::size_of::<super::Row>() <= 192,
            "{}",
            std::mem::size_of::<super::Row>()
        );
        assert!(std::mem::size_of::<crate::time::TimePoint>() <= 80);
    }
}
