//! `Recording`: the handle users log through.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_queue::SegQueue;

use crate::archetype::{ArchetypeError, Points3D};
use crate::chunk::RowId;
use crate::chunk::batcher::BatchPolicy;
use crate::drain::{DrainLoop, DrainRequest};
use crate::entity::EntityPath;
use crate::lane::{
    LaneConsumer, LanePolicy, LaneProducer, LaneShared, PushError, Row, RowData, new_lane,
};
use crate::park::Parker;
use crate::pool::{BufferPool, Loan, LoanedPoints, PoolStats};
use crate::sink::worker::{SinkShared, SinkWorker};
use crate::sink::{IntoSinks, SinkReport};
use crate::stats::Stats;
use crate::time::{TimeError, TimePoint, Timeline, TimelineKind};
use crate::wire::{Compression, EncodeError, StoreInfo};

/// Why a call on a [`Recording`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// The recording was shut down; nothing more can be logged.
    #[error("the recording is shut down")]
    Closed,
    /// The logged data is inconsistent (e.g. 10 positions and 7 colors).
    #[error(transparent)]
    Archetype(#[from] ArchetypeError),
    /// A bad timeline name or time value.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// A bad application or recording id.
    #[error(transparent)]
    Store(#[from] EncodeError),
    /// A thread could not be started.
    #[error("could not start a thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The deadline passed before the operation finished.
    #[error("the deadline passed before {0} finished")]
    Deadline(&'static str),
    /// A batch environment variable is malformed.
    #[error(transparent)]
    BatchEnv(#[from] crate::chunk::batcher::BatchEnvError),
}

/// Everything logged and delivered, at shutdown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// The deadline passed before every sink confirmed it was done.
    pub timed_out: bool,
    /// Final counters.
    pub stats: Stats,
    /// One report per sink (current and replaced ones).
    pub sinks: Vec<SinkReport>,
}

impl ShutdownReport {
    /// Rows logged (accepted by lanes).
    pub fn rows_logged(&self) -> u64 {
        self.stats.rows_logged()
    }

    /// Whether every sink got everything: no drops anywhere (lanes, sink queues, and inside
    /// the sinks, e.g. a gRPC sink's drops while disconnected) and no timeout.
    pub fn is_complete(&self) -> bool {
        !self.timed_out
            && self.stats.rows_dropped() == 0
            && self.sinks.iter().all(|s| {
                s.closed_cleanly && s.stats.dropped() == 0 && s.stats.dropped_by_sink() == 0
            })
    }
}

/// State shared by handles, producer lanes and the drain thread.
pub(crate) struct Shared {
    id: u64,
    pub store: StoreInfo,
    pub batch: BatchPolicy,
    pub compression: Compression,
    lane_slots: usize,
    lane_bytes: u64,
    lane_policy: LanePolicy,
    closed: AtomicBool,
    pub new_lanes: SegQueue<LaneConsumer>,
    pub commands: SegQueue<DrainRequest>,
    drain: OnceLock<Arc<Parker>>,
    pub lanes_view: Mutex<Vec<Arc<LaneShared>>>,
    pub sinks_view: Mutex<Vec<Arc<SinkShared>>>,
    pub rows_drained: AtomicU64,
    pub chunks_encoded: AtomicU64,
    pub bytes_encoded: AtomicU64,
    pub encode_errors: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn notify_drain(&self) {
        if let Some(p) = self.drain.get() {
            p.notify();
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        let r = Ordering::Relaxed;
        Stats {
            lanes: lock(&self.lanes_view)
                .iter()
                .map(|l| l.snapshot())
                .collect(),
            sinks: lock(&self.sinks_view)
                .iter()
                .map(|s| s.snapshot())
                .collect(),
            rows_drained: self.rows_drained.load(r),
            chunks_encoded: self.chunks_encoded.load(r),
            bytes_encoded: self.bytes_encoded.load(r),
            encode_errors: self.encode_errors.load(r),
        }
    }

    pub(crate) fn report(&self, sinks: Vec<SinkReport>, timed_out: bool) -> ShutdownReport {
        let mut stats = self.stats();
        stats.sinks = sinks.iter().map(|s| s.stats.clone()).collect();
        ShutdownReport {
            timed_out,
            stats,
            sinks,
        }
    }
}

/// Configures and starts a [`Recording`].
#[must_use = "call .start() to get a Recording"]
pub struct RecordingBuilder {
    application_id: String,
    recording_id: Option<String>,
    sinks: Vec<crate::sink::SinkSpec>,
    lane_capacity_bytes: u64,
    lane_slots: usize,
    lane_policy: LanePolicy,
    drain_core: Option<usize>,
    batch: Option<BatchPolicy>,
    compression: Compression,
}

impl std::fmt::Debug for RecordingBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBuilder")
            .field("application_id", &self.application_id)
            .field("recording_id", &self.recording_id)
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

/// Default lane bound: 64 MiB of payload per producer thread.
pub const DEFAULT_LANE_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// Default lane length: 16384 rows per producer thread.
pub const DEFAULT_LANE_SLOTS: usize = 16 * 1024;

impl RecordingBuilder {
    /// The recording id (default: a fresh TUID string).
    pub fn recording_id(mut self, id: impl Into<String>) -> Self {
        self.recording_id = Some(id.into());
        self
    }

    /// The sinks: one sink, a [`SinkSpec`](crate::sink::SinkSpec), a tuple of them, or a
    /// `Vec`. Without sinks, rows are drained and dropped (useful only for benchmarks).
    pub fn sinks(mut self, sinks: impl IntoSinks) -> Self {
        self.sinks = sinks.into_sinks();
        self
    }

    /// Payload bytes each producer thread's lane may hold (default 64 MiB).
    pub fn lane_capacity(mut self, bytes: u64) -> Self {
        self.lane_capacity_bytes = bytes;
        self
    }

    /// Rows each lane may hold (default 16384).
    pub fn lane_slots(mut self, rows: usize) -> Self {
        self.lane_slots = rows;
        self
    }

    /// What a full lane does (default [`LanePolicy::Block`]).
    pub fn lane_policy(mut self, policy: LanePolicy) -> Self {
        self.lane_policy = policy;
        self
    }

    /// Pins the drain thread to this core (`None`: not pinned, the default).
    pub fn drain_core(mut self, core: Option<usize>) -> Self {
        self.drain_core = core;
        self
    }

    /// Batching thresholds (default: [`BatchPolicy::live`] with environment overrides).
    pub fn batch(mut self, policy: BatchPolicy) -> Self {
        self.batch = Some(policy);
        self
    }

    /// Chunk payload compression (default off: zero-copy).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Starts the drain thread and the sink workers.
    pub fn start(self) -> Result<Recording, RecordingError> {
        let recording_id = self
            .recording_id
            .unwrap_or_else(|| crate::chunk::Tuid::new().to_rerun_hex());
        let store = StoreInfo::new(&self.application_id, &recording_id)?;
        let batch = match self.batch {
            Some(b) => b,
            None => BatchPolicy::live().with_env()?,
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            store,
            batch,
            compression: self.compression,
            lane_slots: self.lane_slots,
            lane_bytes: self.lane_capacity_bytes,
            lane_policy: self.lane_policy,
            closed: AtomicBool::new(false),
            new_lanes: SegQueue::new(),
            commands: SegQueue::new(),
            drain: OnceLock::new(),
            lanes_view: Mutex::new(Vec::new()),
            sinks_view: Mutex::new(Vec::new()),
            rows_drained: AtomicU64::new(0),
            chunks_encoded: AtomicU64::new(0),
            bytes_encoded: AtomicU64::new(0),
            encode_errors: AtomicU64::new(0),
        });
        let (tx, rx) = channel::<Arc<Parker>>();
        let s = shared.clone();
        let specs = self.sinks;
        let core = self.drain_core;
        let (err_tx, err_rx) = channel::<std::io::Error>();
        let thread = std::thread::Builder::new()
            .name("spate-drain".to_owned())
            .spawn(move || {
                if let Some(id) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                let parker = Arc::new(Parker::for_current_thread());
                let mut workers = Vec::with_capacity(specs.len());
                for spec in specs {
                    match SinkWorker::start(spec, parker.clone()) {
                        Ok(w) => workers.push(w),
                        Err(e) => {
                            let _ = err_tx.send(e);
                            return;
                        }
                    }
                }
                let _ = s.drain.set(parker.clone());
                let _ = tx.send(parker.clone());
                DrainLoop::new(s, parker, workers).run();
            })
            .map_err(RecordingError::Spawn)?;
        if rx.recv().is_err() {
            let e = err_rx
                .recv()
                .unwrap_or_else(|_| std::io::Error::other("drain thread exited"));
            let _ = thread.join();
            return Err(RecordingError::Spawn(e));
        }
        Ok(Recording {
            handle: Arc::new(Handle {
                shared,
                f32_pool: BufferPool::new(DEFAULT_POOLED_BUFFERS),
                u32_pool: BufferPool::new(DEFAULT_POOLED_BUFFERS),
                drain_thread: Mutex::new(Some(thread)),
                report: Mutex::new(None),
            }),
        })
    }
}

struct Handle {
    shared: Arc<Shared>,
    f32_pool: BufferPool<f32>,
    u32_pool: BufferPool<u32>,
    drain_thread: Mutex<Option<JoinHandle<()>>>,
    report: Mutex<Option<ShutdownReport>>,
}

/// Idle buffers each of a recording's pools keeps for reuse.
pub const DEFAULT_POOLED_BUFFERS: usize = 64;

/// How long dropping the last handle waits for the sinks.
pub const DROP_FLUSH_DEADLINE: Duration = Duration::from_secs(5);

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.shared.closed.load(Ordering::Acquire) {
            let _ = shutdown(self, Instant::now() + DROP_FLUSH_DEADLINE);
        }
    }
}

/// This thread's lanes and current times, one entry per recording it logged to.
struct LocalLane {
    recording: Weak<Shared>,
    id: u64,
    producer: Option<LaneProducer>,
    time: TimePoint,
}

thread_local! {
    static LOCAL: RefCell<Vec<LocalLane>> = const { RefCell::new(Vec::new()) };
}

fn with_local<R>(shared: &Arc<Shared>, f: impl FnOnce(&mut LocalLane) -> R) -> R {
    LOCAL.with(|cell| {
        let mut lanes = cell.borrow_mut();
        let idx = match lanes.iter().position(|l| l.id == shared.id) {
            Some(i) => i,
            None => {
                // Forget lanes of recordings that are gone or shut down.
                lanes.retain(|l| {
                    l.recording
                        .upgrade()
                        .is_some_and(|s| !s.closed.load(Ordering::Relaxed))
                });
                lanes.push(LocalLane {
                    recording: Arc::downgrade(shared),
                    id: shared.id,
                    producer: None,
                    time: TimePoint::default(),
                });
                lanes.len() - 1
            }
        };
        f(&mut lanes[idx])
    })
}

/// The handle to log through. Cheap to clone; `Send + Sync`.
///
/// # Logging and threads
///
/// Each thread that logs gets its own lane (a lock-free SPSC ring) the first time it logs;
/// `log` then touches only that lane: no lock, no syscall unless the drain thread sleeps.
/// Times set with [`set_time_sequence`](Self::set_time_sequence) and friends are per thread,
/// like Rerun's.
///
/// # Ordering
///
/// Rows logged by one thread reach every sink in the order they were logged (within an
/// entity; rows of different entities may be batched into different chunks). Rows of
/// different threads are interleaved fairly. Every row gets a RowId that increases in
/// logging order across the whole process.
///
/// # Backpressure
///
/// Memory is bounded in bytes: per lane ([`lane_capacity`](RecordingBuilder::lane_capacity))
/// and per sink queue ([`SinkSpec::max_queue_bytes`](crate::sink::SinkSpec::max_queue_bytes)).
/// When a lane is full, [`LanePolicy`] applies (wait, or drop and count); when a sink's queue
/// is full, [`SinkPolicy`](crate::sink::SinkPolicy) applies. Nothing is lost silently:
/// [`stats`](Self::stats) counts every drop with its reason.
///
/// # Shutdown
///
/// [`shutdown`](Self::shutdown) stops logging, drains every lane, finishes every batch,
/// closes every sink, and returns a [`ShutdownReport`] by its deadline, listing what could not
/// be delivered. Dropping the last handle does the same with a
/// [`DROP_FLUSH_DEADLINE`] deadline.
///
/// ```
/// use spate::{EntityPath, MemorySink, Points3D, Recording};
/// use std::time::{Duration, Instant};
///
/// let (sink, received) = MemorySink::new();
/// let rec = Recording::builder("lidar_rig").sinks(sink).start()?;
/// let lidar = EntityPath::parse("lidar/front")?;
/// for frame in 0..10 {
///     rec.set_time_sequence("frame", frame)?;
///     let cloud: Vec<[f32; 3]> = (0..1000).map(|i| [i as f32, frame as f32, 0.0]).collect();
///     rec.log(&lidar, &Points3D::new(cloud))?;
/// }
/// let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
/// assert!(report.is_complete());
/// assert_eq!(report.rows_logged(), 10);
/// let rows: usize = received.decode()?.chunks().map(|c| c.num_rows()).sum();
/// assert_eq!(rows, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Recording {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("application_id", &self.handle.shared.store.application_id())
            .field("recording_id", &self.handle.shared.store.recording_id())
            .finish()
    }
}

/// Data that can be logged through a [`Recording`]. Sealed: implemented by the archetypes
/// of this crate.
pub trait Archetype: sealed::Loggable {}

mod sealed {
    pub trait Loggable {
        fn validate(&self) -> Result<(), crate::archetype::ArchetypeError>;
        fn row_data(&self) -> crate::lane::RowData;
        fn payload_bytes(&self) -> usize;
    }
}

impl sealed::Loggable for Points3D {
    fn validate(&self) -> Result<(), ArchetypeError> {
        Points3D::validate(self)
    }
    fn row_data(&self) -> RowData {
        RowData::Points3D(self.clone())
    }
    fn payload_bytes(&self) -> usize {
        Points3D::payload_bytes(self)
    }
}

impl Archetype for Points3D {}

fn shutdown(handle: &Handle, deadline: Instant) -> ShutdownReport {
    let shared = &handle.shared;
    if let Some(r) = lock(&handle.report).clone() {
        return r;
    }
    shared.closed.store(true, Ordering::Release);
    let (tx, rx) = channel();
    shared.commands.push(DrainRequest::Shutdown {
        deadline,
        reply: tx,
    });
    shared.notify_drain();
    // Give the drain a little past the deadline to assemble its report.
    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(200);
    let report = match rx.recv_timeout(wait) {
        Ok(r) => {
            if let Some(t) = lock(&handle.drain_thread).take() {
                let _ = t.join();
            }
            r
        }
        // The drain is stuck (e.g. a Block sink that never drains): report what the
        // counters say and leave the thread; it exits when the sink lets go.
        Err(_) => {
            let sinks: Vec<SinkReport> = lock(&shared.sinks_view)
                .iter()
                .map(|s| s.abandon())
                .collect();
            shared.report(sinks, true)
        }
    };
    *lock(&handle.report) = Some(report.clone());
    report
}

impl Recording {
    /// Starts configuring a recording of `application_id`.
    pub fn builder(application_id: impl Into<String>) -> RecordingBuilder {
        RecordingBuilder {
            application_id: application_id.into(),
            recording_id: None,
            sinks: Vec::new(),
            lane_capacity_bytes: DEFAULT_LANE_CAPACITY_BYTES,
            lane_slots: DEFAULT_LANE_SLOTS,
            lane_policy: LanePolicy::Block,
            drain_core: None,
            batch: None,
            compression: Compression::Off,
        }
    }

    /// The recording's identity.
    pub fn store_info(&self) -> &StoreInfo {
        &self.handle.shared.store
    }

    fn push(
        &self,
        entity: &EntityPath,
        data: &impl Archetype,
        time: Option<&TimePoint>,
    ) -> Result<(), RecordingError> {
        let shared = &self.handle.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(RecordingError::Closed);
        }
        data.validate()?;
        let result = with_local(shared, |local| {
            let row = Row {
                row_id: RowId::new(),
                entity: entity.clone(),
                time: time.unwrap_or(&local.time).clone(),
                data: data.row_data(),
                payload_bytes: data.payload_bytes(),
            };
            let producer = local.producer.get_or_insert_with(|| {
                let (p, c) = new_lane(shared.lane_slots, shared.lane_bytes, shared.lane_policy);
                shared.new_lanes.push(c);
                p
            });
            producer.push(row, || shared.closed.load(Ordering::Relaxed))
        });
        match result {
            Ok(()) => {
                shared.notify_drain();
                Ok(())
            }
            Err(PushError::Dropped) => Ok(()),
            Err(PushError::Closed) => Err(RecordingError::Closed),
        }
    }

    /// Logs `data` at `entity` with this thread's current times.
    ///
    /// Never takes a lock. If the lane is full, the lane policy applies: `Block` waits,
    /// `DropNewest` drops the row and counts it (`Ok` is returned either way).
    pub fn log(&self, entity: &EntityPath, data: &impl Archetype) -> Result<(), RecordingError> {
        self.push(entity, data, None)
    }

    /// Logs `data` as static: valid at all times, on no timeline.
    pub fn log_static(
        &self,
        entity: &EntityPath,
        data: &impl Archetype,
    ) -> Result<(), RecordingError> {
        self.push(entity, data, Some(&TimePoint::default()))
    }

    /// Logs `data` at an explicit time point instead of this thread's current times.
    pub fn log_at(
        &self,
        time: &TimePoint,
        entity: &EntityPath,
        data: &impl Archetype,
    ) -> Result<(), RecordingError> {
        self.push(entity, data, Some(time))
    }

    fn set_time(&self, name: &str, kind: TimelineKind, value: i64) -> Result<(), RecordingError> {
        with_local(&self.handle.shared, |local| {
            // Reuse the existing timeline (no allocation) when only the value changes.
            let existing = local
                .time
                .iter()
                .find(|(t, _)| t.name() == name && t.kind() == kind)
                .map(|(t, _)| t.clone());
            let timeline = match existing {
                Some(t) => t,
                None => Timeline::new(name, kind)?,
            };
            local.time.insert(timeline, value)?;
            Ok(())
        })
    }

    /// Sets this thread's time on a sequence timeline (e.g. a frame number).
    pub fn set_time_sequence(&self, timeline: &str, value: i64) -> Result<(), RecordingError> {
        self.set_time(timeline, TimelineKind::Sequence, value)
    }

    /// Sets this thread's time on a timestamp timeline (ns since the Unix epoch).
    pub fn set_timestamp(&self, timeline: &str, ns_since_epoch: i64) -> Result<(), RecordingError> {
        self.set_time(timeline, TimelineKind::Timestamp, ns_since_epoch)
    }

    /// Sets this thread's time on a duration timeline (ns).
    pub fn set_duration(&self, timeline: &str, ns: i64) -> Result<(), RecordingError> {
        self.set_time(timeline, TimelineKind::Duration, ns)
    }

    /// Clears this thread's times: later rows are logged at no time (static) until set again.
    pub fn reset_time(&self) {
        with_local(&self.handle.shared, |local| {
            local.time = TimePoint::default()
        });
    }

    /// Delivers everything logged before this call to every sink and flushes the sinks, by
    /// `deadline`.
    pub fn flush(&self, deadline: Instant) -> Result<(), RecordingError> {
        let shared = &self.handle.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(RecordingError::Closed);
        }
        let (tx, rx) = channel();
        shared.commands.push(DrainRequest::Flush {
            deadline,
            reply: tx,
        });
        shared.notify_drain();
        let ticket = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| RecordingError::Deadline("flush"))?;
        if ticket.wait(deadline) {
            Ok(())
        } else {
            Err(RecordingError::Deadline("flush"))
        }
    }

    /// Replaces the sinks at run time (like Rerun's `set_sinks`). Open batches go to the old
    /// sinks first; the old sinks then finish their queues and close on their own threads.
    pub fn set_sinks(&self, sinks: impl IntoSinks) -> Result<(), RecordingError> {
        let shared = &self.handle.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(RecordingError::Closed);
        }
        let (tx, rx) = channel();
        shared.commands.push(DrainRequest::SetSinks {
            sinks: sinks.into_sinks(),
            reply: tx,
        });
        shared.notify_drain();
        match rx.recv() {
            Ok(r) => r.map_err(RecordingError::Spawn),
            Err(_) => Err(RecordingError::Closed),
        }
    }

    /// Stops logging, delivers what it can by `deadline`, closes the sinks and reports.
    /// Later calls return the same report.
    pub fn shutdown(&self, deadline: Instant) -> ShutdownReport {
        shutdown(&self.handle, deadline)
    }

    /// A writable buffer for `n` positions from this recording's pool.
    ///
    /// Fresh memory is slow on many machines (pages given back to the host must be faulted
    /// in again); a steady-state producer that fills loaned buffers touches no new memory.
    /// The buffer travels to every sink without a copy and returns to the pool when the last
    /// sink is done with it. Reused buffers hold stale values: overwrite every element.
    ///
    /// ```
    /// use spate::{EntityPath, Points3D, Recording, sink::NullSink};
    /// let rec = Recording::builder("lidar").sinks(NullSink).start()?;
    /// let mut cloud = rec.loan_points(1000);
    /// for (i, p) in cloud.iter_mut().enumerate() {
    ///     *p = [i as f32, 0.0, 0.0];
    /// }
    /// let mut radii = rec.loan_f32(1000);
    /// radii.fill(0.01);
    /// rec.log(&EntityPath::parse("lidar")?, &Points3D::new(cloud).with_radii(radii))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loan_points(&self, n: usize) -> LoanedPoints {
        self.handle.f32_pool.loan_points(n)
    }

    /// A writable `f32` buffer (e.g. radii) from this recording's pool.
    pub fn loan_f32(&self, n: usize) -> Loan<f32> {
        self.handle.f32_pool.loan(n)
    }

    /// A writable `u32` buffer (e.g. `0xRRGGBBAA` colors) from this recording's pool.
    pub fn loan_u32(&self, n: usize) -> Loan<u32> {
        self.handle.u32_pool.loan(n)
    }

    /// Reuse counters of the `f32` (positions, radii) and `u32` (colors) pools.
    pub fn pool_stats(&self) -> (PoolStats, PoolStats) {
        (self.handle.f32_pool.stats(), self.handle.u32_pool.stats())
    }

    /// Counters of every lane and sink, right now.
    pub fn stats(&self) -> Stats {
        self.handle.shared.stats()
    }
}
