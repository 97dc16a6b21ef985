//! `Recording`: the handle users log through.

use std::cell::RefCell;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use arrow_array::Array;

use crate::archetype::{ArchetypeError, Points3D, SmallPoints};
use crate::chunk::batcher::BatchPolicy;
use crate::chunk::{
    AsComponents, Chunk, ChunkError, ChunkId, ComponentColumn, ComponentDescriptor, RowId,
    TimeColumn,
};
use crate::drain::hub::{Hub, Request, RoundEnd, SinkOffer};
use crate::drain::{DrainConfig, DrainLoop, RecordingProperties, preamble};
use crate::entity::EntityPath;
use crate::lane::{BlockHook, LanePolicy, LaneProducer, PushError, RowData, new_lane};
use crate::park::Parker;
use crate::pool::{BufferPool, Loan, LoanedPoints, PoolStats};
use crate::sink::IntoSinks;
use crate::sink::worker::SinkWorker;
use crate::stats::{Losses, ShutdownReport, SinkLoss, Stats};
use crate::sync::lock;
use crate::time::{TimeCell, TimeError, TimePoint, Timeline};
use crate::wire::{Compression, EncodeError, EncodedMessage, StoreInfo};

/// Why a call on a [`Recording`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// The recording was shut down (or its drain thread is gone); nothing more can be
    /// logged, flushed or changed.
    #[error("the recording is shut down")]
    Closed,
    /// The logged data is inconsistent (e.g. 10 positions and 7 colors).
    #[error(transparent)]
    Archetype(#[from] ArchetypeError),
    /// A bad timeline name or time value.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// Columns given to `send_columns` that do not make a chunk (e.g. lengths differ).
    #[error(transparent)]
    Columns(#[from] ChunkError),
    /// A bad application or recording id.
    #[error(transparent)]
    Store(#[from] EncodeError),
    /// A thread could not be started.
    #[error("could not start a thread")]
    Spawn(#[source] std::io::Error),
    /// The deadline passed before the operation finished (for `set_sinks`: the sinks were
    /// not changed).
    #[error("the deadline passed before {0} finished")]
    Deadline(&'static str),
    /// A [`flush`](Recording::flush) delivered what it could, but data was lost since the
    /// previous flush (dropped with a reason, or a sink failed): what and where.
    #[error("data was lost since the previous flush: {0}")]
    Lost(Losses),
    /// A batch environment variable is malformed.
    #[error(transparent)]
    BatchEnv(#[from] crate::chunk::batcher::BatchEnvError),
    /// Called while this thread exits (from another thread-local's destructor): its lane
    /// and times are gone. Nothing was logged; log from a live thread.
    #[error("this thread is exiting: its lane is gone (nothing was logged)")]
    ThreadExiting,
    /// A builder setting is out of range.
    #[error("{setting} = {value} is out of range: {expected}")]
    Setting {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
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
    block_hook: Option<Arc<dyn BlockHook>>,
    drain_core: Option<usize>,
    batch: Option<BatchPolicy>,
    compression: Compression,
    log_time: bool,
    recording_name: Option<String>,
    start_time: Option<SystemTime>,
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
/// Longest lane: 1 Mi rows (a 256 MiB ring per producer thread).
pub const MAX_LANE_SLOTS: usize = 1 << 20;

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

    /// Rows each lane may hold (default 16384; 2 to [`MAX_LANE_SLOTS`]: the ring is
    /// allocated up front, 256 bytes a slot). [`start`](Self::start) refuses other values.
    pub fn lane_slots(mut self, rows: usize) -> Self {
        self.lane_slots = rows;
        self
    }

    /// What a full lane does (default [`LanePolicy::Block`]).
    pub fn lane_policy(mut self, policy: LanePolicy) -> Self {
        self.lane_policy = policy;
        self
    }

    /// Runs `hook` around every wait of a producer in a full `Block` lane (see
    /// [`BlockHook`]).
    pub fn block_hook(mut self, hook: impl BlockHook) -> Self {
        self.block_hook = Some(Arc::new(hook));
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

    /// Whether every temporal row is also indexed on the automatic
    /// [`log_time`](crate::time::LOG_TIME) timeline, the wall-clock time of its `log()`
    /// call (default on, as with the official SDK). Turned off, a row logged before any
    /// time was set has no time at all, and Rerun reads it as static.
    pub fn log_time(mut self, on: bool) -> Self {
        self.log_time = on;
        self
    }

    /// The recording's name, shown by the viewer (the `RecordingInfo:name` property).
    pub fn recording_name(mut self, name: impl Into<String>) -> Self {
        self.recording_name = Some(name.into());
        self
    }

    /// The recording's start time (the `RecordingInfo:start_time` property; default: when
    /// [`start`](Self::start) is called).
    pub fn start_time(mut self, at: SystemTime) -> Self {
        self.start_time = Some(at);
        self
    }

    /// Starts the drain thread and the sink workers.
    pub fn start(self) -> Result<Recording, RecordingError> {
        // Before any thread of this recording can use the pair (`crate::sync::asymmetric`).
        crate::sync::asymmetric::init();
        if !(2..=MAX_LANE_SLOTS).contains(&self.lane_slots) {
            return Err(RecordingError::Setting {
                setting: "lane_slots",
                value: self.lane_slots.to_string(),
                expected: "2 to MAX_LANE_SLOTS (1048576) rows",
            });
        }
        let recording_id = self
            .recording_id
            .unwrap_or_else(|| crate::chunk::Tuid::new().to_rerun_hex());
        let store = StoreInfo::new(&self.application_id, &recording_id)?;
        let batch = match self.batch {
            Some(b) => b,
            None => BatchPolicy::live().with_env()?,
        };
        let hub = Arc::new(Hub::new());
        let (requests_tx, requests_rx) = channel::<Request>();
        let (started_tx, started_rx) = channel::<std::io::Result<()>>();
        let properties = RecordingProperties {
            start_time: self.start_time.unwrap_or_else(SystemTime::now),
            name: self.recording_name,
        };
        let preamble = preamble(&store, &properties, self.compression);
        let config = DrainConfig {
            store: store.clone(),
            preamble: preamble.clone(),
            batch,
            compression: self.compression,
        };
        let h = hub.clone();
        let specs = self.sinks;
        let core = self.drain_core;
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
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    }
                }
                h.set_drain(parker.clone());
                let drain = DrainLoop::new(h, config, parker, requests_rx, workers);
                let _ = started_tx.send(Ok(()));
                drain.run();
            })
            .map_err(RecordingError::Spawn)?;
        // Bare recv: it ends when the drain thread sends or exits (dropping the sender).
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(RecordingError::Spawn(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(RecordingError::Spawn(std::io::Error::other(
                    "the drain thread ended while starting",
                )));
            }
        }
        Ok(Recording {
            handle: Arc::new(Handle {
                hub,
                store,
                preamble,
                requests: requests_tx,
                lane_slots: self.lane_slots,
                lane_bytes: self.lane_capacity_bytes,
                lane_policy: self.lane_policy,
                block_hook: self.block_hook,
                log_time: self.log_time,
                f32_pool: BufferPool::new(DEFAULT_POOLED_BUFFERS),
                u32_pool: BufferPool::new(DEFAULT_POOLED_BUFFERS),
                u8_pool: BufferPool::new(DEFAULT_POOLED_BUFFERS),
                u16_pool: BufferPool::new(DEFAULT_POOLED_BUFFERS),
                drain_thread: Mutex::new(Some(thread)),
                shutdown: Mutex::new(ShutdownState::Running),
                shutdown_done: Condvar::new(),
            }),
        })
    }
}

struct Handle {
    hub: Arc<Hub>,
    store: StoreInfo,
    preamble: Arc<[EncodedMessage]>,
    requests: std::sync::mpsc::Sender<Request>,
    lane_slots: usize,
    lane_bytes: u64,
    lane_policy: LanePolicy,
    block_hook: Option<Arc<dyn BlockHook>>,
    log_time: bool,
    f32_pool: BufferPool<f32>,
    u32_pool: BufferPool<u32>,
    u8_pool: BufferPool<u8>,
    u16_pool: BufferPool<u16>,
    drain_thread: Mutex<Option<JoinHandle<()>>>,
    shutdown: Mutex<ShutdownState>,
    shutdown_done: Condvar,
}

enum ShutdownState {
    Running,
    /// One caller is shutting down; the others wait for its report.
    InProgress,
    Done(ShutdownReport),
}

/// Idle buffers each of a recording's pools keeps for reuse.
pub const DEFAULT_POOLED_BUFFERS: usize = 64;

/// Refuses a row whose components cannot be columns of one chunk: an empty name, or a
/// name twice (checked on the caller's thread, so the caller hears of it).
fn check_names<'a>(
    descriptors: impl Iterator<Item = &'a ComponentDescriptor> + Clone,
) -> Result<(), ArchetypeError> {
    for (i, d) in descriptors.clone().enumerate() {
        if d.component.is_empty() {
            return Err(ArchetypeError::EmptyComponentName);
        }
        if descriptors
            .clone()
            .take(i)
            .any(|e| e.component == d.component)
        {
            return Err(ArchetypeError::DuplicateComponent(d.component.to_string()));
        }
    }
    Ok(())
}

/// How long dropping the last handle waits for the sinks.
pub const DROP_FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// How long [`Recording::set_sinks`] waits for the drain to switch sinks.
pub const SET_SINKS_DEADLINE: Duration = Duration::from_secs(10);

/// How long a `set_sinks` that gave up waits for each new sink it started to be dropped
/// (on the sink's own thread: a `FileSink` lets go of its file then).
pub const DISCARD_WAIT: Duration = Duration::from_secs(1);

/// Stops workers that never got a message: each drops its sink on its own thread.
fn discard(workers: Vec<SinkWorker>) {
    for w in workers {
        w.discard(Instant::now() + DISCARD_WAIT);
    }
}

/// How much longer than its deadline a shutdown waits for the drain's report before it
/// makes one from the counters (the drain itself stops at the deadline).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

impl Drop for Handle {
    fn drop(&mut self) {
        if matches!(*lock(&self.shutdown), ShutdownState::Running) {
            log::warn!(
                "spate: recording {}/{} dropped without shutdown(); shutting down within {:?}",
                self.store.application_id(),
                self.store.recording_id(),
                DROP_FLUSH_DEADLINE
            );
            let report = shutdown(self, Instant::now() + DROP_FLUSH_DEADLINE);
            if !report.is_complete() {
                log::warn!("spate: {report}");
            }
        }
    }
}

/// This thread's lanes and current times, one entry per recording it logged to.
struct LocalLane {
    recording: Weak<Hub>,
    id: u64,
    producer: Option<LaneProducer>,
    time: TimePoint,
    /// The counters when this thread's previous flush returned: its next flush reports
    /// what was lost since.
    flushed: Option<Box<Stats>>,
}

thread_local! {
    static LOCAL: RefCell<Vec<LocalLane>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's entry for `hub`; `None` when the thread is exiting and its
/// thread-locals are gone already (e.g. `log` from another thread-local's destructor).
fn with_local<R>(hub: &Arc<Hub>, f: impl FnOnce(&mut LocalLane) -> R) -> Option<R> {
    LOCAL
        .try_with(|cell| {
            let mut lanes = cell.borrow_mut();
            let idx = match lanes.iter().position(|l| l.id == hub.id) {
                Some(i) => i,
                None => {
                    // Forget lanes of recordings that are gone or shut down.
                    lanes.retain(|l| l.recording.upgrade().is_some_and(|h| !h.gate.is_closed()));
                    lanes.push(LocalLane {
                        recording: Arc::downgrade(hub),
                        id: hub.id,
                        producer: None,
                        time: TimePoint::default(),
                        flushed: None,
                    });
                    lanes.len() - 1
                }
            };
            f(&mut lanes[idx])
        })
        .ok()
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
/// different threads are interleaved fairly. Every row gets a unique RowId that increases in
/// logging order on its thread and follows the wall clock across threads, as Rerun's own SDK
/// makes them (see [`Tuid`](crate::Tuid)); every chunk's RowIds are sorted.
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
/// // Every row logged, after the recording's properties (a static row at `/__properties`).
/// let decoded = received.decode()?;
/// let rows: usize = decoded
///     .chunks()
///     .filter(|c| c.entity() == &lidar)
///     .map(|c| c.num_rows())
///     .sum();
/// assert_eq!(rows, 10);
/// assert_eq!(decoded.chunks().next().unwrap().entity().as_str(), "/__properties");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Recording {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("application_id", &self.handle.store.application_id())
            .field("recording_id", &self.handle.store.recording_id())
            .finish()
    }
}

fn shutdown(handle: &Handle, deadline: Instant) -> ShutdownReport {
    {
        let mut state = lock(&handle.shutdown);
        loop {
            match &*state {
                ShutdownState::Done(r) => return r.clone(),
                // Another call is shutting down: wait for its report, until this call's
                // own deadline (plus the grace); then report what the counters say now,
                // marked timed out, without disturbing the first call.
                ShutdownState::InProgress => {
                    let now = Instant::now();
                    let until = deadline + SHUTDOWN_GRACE;
                    if now >= until {
                        return handle.hub.snapshot_report();
                    }
                    state = handle
                        .shutdown_done
                        .wait_timeout(state, until - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
                ShutdownState::Running => break,
            }
        }
        *state = ShutdownState::InProgress;
    }
    let hub = &handle.hub;
    hub.set_shutdown_deadline(deadline);
    hub.gate.close();
    let (tx, rx) = channel();
    let sent = handle
        .requests
        .send(Request::Shutdown {
            deadline,
            reply: tx,
        })
        .is_ok();
    hub.notify_drain();
    let wait = deadline.saturating_duration_since(Instant::now()) + SHUTDOWN_GRACE;
    let report = match sent.then(|| rx.recv_timeout(wait)) {
        Some(Ok(report)) => {
            if let Some(t) = lock(&handle.drain_thread).take() {
                // It replied; all that is left for it is to return.
                let _ = t.join();
            }
            report
        }
        // The drain did not answer in time (or is gone): report what the counters say,
        // give up on every sink, and leave the thread; it stops at the deadline.
        _ => hub.report_without_drain(),
    };
    *lock(&handle.shutdown) = ShutdownState::Done(report.clone());
    handle.shutdown_done.notify_all();
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
            block_hook: None,
            drain_core: None,
            batch: None,
            compression: Compression::Off,
            log_time: true,
            recording_name: None,
            start_time: None,
        }
    }

    /// The recording's identity.
    pub fn store_info(&self) -> &StoreInfo {
        &self.handle.store
    }

    /// What the recording sends each sink before any row, as the official SDK does: its
    /// `SetStoreInfo`, then its properties — a static chunk of one row at `/__properties`,
    /// `RecordingInfo:start_time` and, when [set](RecordingBuilder::recording_name),
    /// `RecordingInfo:name`. A sink counts them as messages of no rows (so
    /// [`SinkStats::messages`](crate::stats::SinkStats::messages) is the chunks it took
    /// plus these), and a sink attached by [`set_sinks`](Self::set_sinks) gets them too.
    ///
    /// ```
    /// use spate::{MemorySink, Recording};
    /// use std::time::{Duration, Instant};
    ///
    /// let (sink, received) = MemorySink::new();
    /// let rec = Recording::builder("preamble").recording_name("run 7").sinks(sink).start()?;
    /// rec.flush(Instant::now() + Duration::from_secs(5))?;
    /// let preamble = rec.preamble();
    /// assert_eq!(preamble.len(), 2);
    /// assert_eq!(received.messages().len(), 2);
    /// let properties = preamble[1].summary().unwrap();
    /// assert_eq!((properties.entity.as_str(), properties.is_static), ("/__properties", true));
    /// # rec.shutdown(Instant::now() + Duration::from_secs(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn preamble(&self) -> &[EncodedMessage] {
        &self.handle.preamble
    }

    /// The lane item for `data`: clouds take their own allocation-free path.
    fn row_data(
        data: &(impl AsComponents + ?Sized),
    ) -> Result<(RowData, usize, usize), RecordingError> {
        if let Some(p) = data.as_any().and_then(|a| a.downcast_ref::<Points3D>()) {
            if let Some(small) = SmallPoints::of(p).filter(SmallPoints::is_valid) {
                // Copied into the row; it keeps nothing else alive. (Checked as it was
                // copied: an invalid one goes on to `validate`, which names the error.)
                let bytes = small.payload_bytes();
                return Ok((RowData::SmallPoints(small), bytes, bytes));
            }
            p.validate()?;
            return Ok((
                RowData::Points3D(Box::new(p.clone())),
                p.payload_bytes(),
                p.retained_bytes(),
            ));
        }
        let components = data.as_components()?;
        check_names(components.iter().map(|(d, _)| d))?;
        let payload = components
            .iter()
            .map(|(_, a)| a.get_buffer_memory_size())
            .sum();
        let retained = components
            .iter()
            .map(|(_, a)| a.get_array_memory_size())
            .sum();
        Ok((RowData::Components(components), payload, retained))
    }

    /// Pushes one lane item — `data()`: the item and its payload and retained bytes, made
    /// once the recording is known to be open — at `time` (None: this thread's times),
    /// on `log_time` too when `temporal` and the recording keeps it.
    fn push(
        &self,
        entity: &EntityPath,
        time: Option<&TimePoint>,
        temporal: bool,
        data: impl FnOnce() -> Result<(RowData, usize, usize), RecordingError>,
    ) -> Result<(), RecordingError> {
        let handle = &*self.handle;
        let hub = &handle.hub;
        if hub.gate.is_closed() {
            return Err(RecordingError::Closed);
        }
        let (data, payload_bytes, retained_bytes) = data()?;
        let log_time = handle.log_time && temporal;
        let result = with_local(hub, |local| {
            if local.producer.is_none() {
                let (p, c) = new_lane(
                    handle.lane_slots,
                    handle.lane_bytes,
                    handle.lane_policy,
                    handle.block_hook.clone(),
                );
                // Registered before the gate closes, or not at all (`crate::gate`).
                hub.gate
                    .register(|| {
                        // Visible in `stats()` from its first row on, before the drain
                        // picks it up.
                        hub.add_lane(c.shared.clone());
                        hub.new_lanes.push(c);
                    })
                    .ok_or(PushError::Closed)?;
                local.producer = Some(p);
            }
            let Some(producer) = local.producer.as_mut() else {
                return Err(PushError::Closed);
            };
            producer.push_through(
                &hub.gate,
                entity,
                time.unwrap_or(&local.time),
                RowId::new(),
                log_time,
                data,
                payload_bytes,
                retained_bytes,
            )
        })
        .ok_or_else(|| RecordingError::ThreadExiting)?;
        match result {
            Ok(()) => {
                hub.notify_drain();
                Ok(())
            }
            Err(PushError::Dropped) => Ok(()),
            Err(PushError::Closed) => Err(RecordingError::Closed),
        }
    }

    /// Logs `data` at `entity` with this thread's current times, and at the moment of the
    /// call on the automatic [`log_time`](crate::time::LOG_TIME) timeline (unless the
    /// recording turned it off): a row logged before any time was set is temporal too.
    ///
    /// `data` is any archetype of [`crate::archetype`], a
    /// [`DynamicArchetype`](crate::archetype::DynamicArchetype), or a type of your own that
    /// implements [`AsComponents`].
    ///
    /// Never takes a lock. If the lane is full, the lane policy applies: `Block` waits,
    /// `DropNewest` drops the row and counts it (`Ok` is returned either way).
    pub fn log(
        &self,
        entity: &EntityPath,
        data: &(impl AsComponents + ?Sized),
    ) -> Result<(), RecordingError> {
        self.push(entity, None, true, || Self::row_data(data))
    }

    /// Logs `data` as static: valid at all times, on no timeline.
    pub fn log_static(
        &self,
        entity: &EntityPath,
        data: &(impl AsComponents + ?Sized),
    ) -> Result<(), RecordingError> {
        self.push(entity, Some(&TimePoint::default()), false, || {
            Self::row_data(data)
        })
    }

    /// Logs `data` at an explicit time point instead of this thread's current times (and
    /// on `log_time`, as [`log`](Self::log) does).
    pub fn log_at(
        &self,
        time: &TimePoint,
        entity: &EntityPath,
        data: &(impl AsComponents + ?Sized),
    ) -> Result<(), RecordingError> {
        self.push(entity, Some(time), true, || Self::row_data(data))
    }

    /// Logs many rows of one entity at once, as the official SDK's `send_columns` does:
    /// row `i` is at `times[k].values()[i]` on each time column, and holds
    /// `components[j].list().value(i)` of each component. The columns become **one chunk**
    /// without per-row work, and without copying buffers built over owned `Vec`s (see
    /// [`TimeColumn::new`] and the archetypes' `columns` helpers, e.g.
    /// [`Scalars::columns`](crate::archetype::Scalars::columns)).
    ///
    /// No `log_time` and none of this thread's times are added: the rows are exactly at
    /// the given times (no time columns at all: static rows). Counts as that many rows
    /// everywhere (stats, flush, the shutdown report). Fails, logging nothing, when the
    /// columns differ in length.
    ///
    /// ```
    /// use spate::archetype::Scalars;
    /// use spate::{EntityPath, MemorySink, Recording, TimeColumn, Timeline};
    /// use std::time::{Duration, Instant};
    ///
    /// let (sink, received) = MemorySink::new();
    /// let rec = Recording::builder("imu").sinks(sink).start()?;
    /// let times: Vec<i64> = (0..10_000).map(|k| 1_700_000_000_000_000_000 + k * 1_000_000).collect();
    /// let values: Vec<f64> = (0..10_000).map(|k| (k as f64 * 0.01).sin()).collect();
    /// rec.send_columns(
    ///     &EntityPath::parse("imu/accel")?,
    ///     vec![TimeColumn::new(Timeline::timestamp("imu_time")?, times)],
    ///     Scalars::columns(values)?,
    /// )?;
    /// let report = rec.shutdown(Instant::now() + Duration::from_secs(10));
    /// assert_eq!(report.rows_logged(), 10_000);
    /// let decoded = received.decode()?;
    /// let imu: Vec<_> = decoded.chunks().filter(|c| c.entity().to_string() == "/imu/accel").collect();
    /// assert_eq!(imu.len(), 1);
    /// assert_eq!(imu[0].num_rows(), 10_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_columns(
        &self,
        entity: &EntityPath,
        times: Vec<TimeColumn>,
        components: Vec<ComponentColumn>,
    ) -> Result<(), RecordingError> {
        let rows = times
            .first()
            .map(|t| t.array().len())
            .or_else(|| components.first().map(|c| c.list().len()))
            .unwrap_or(0);
        if rows == 0 {
            return Ok(());
        }
        check_names(components.iter().map(ComponentColumn::descriptor))?;
        let first = RowId::new_range(rows as u64);
        let row_ids: Vec<RowId> = (0..rows as u64).map(|k| first.offset(k)).collect();
        let chunk = Chunk::new(ChunkId::new(), entity.clone(), &row_ids, times, components)?;
        // Exactly at the given times: none of this thread's, no `log_time`.
        let bytes = chunk.heap_size_bytes();
        self.push(entity, Some(&TimePoint::default()), false, || {
            Ok((RowData::Chunk(Box::new(chunk)), bytes, bytes))
        })
    }

    fn set_time_cell(&self, name: &str, time: TimeCell) -> Result<(), RecordingError> {
        let (kind, value) = (time.kind(), time.value());
        with_local(&self.handle.hub, |local| {
            // Only the value changes, in place, when the timeline is set already: no
            // allocation, no reference count touched.
            if !local.time.set_existing(name, kind, value) {
                local.time.insert(Timeline::new(name, kind)?, value)?;
            }
            Ok(())
        })
        .ok_or_else(|| RecordingError::ThreadExiting)?
    }

    /// Sets this thread's time on `timeline`: a [`SystemTime`] (a timestamp), a
    /// [`Duration`], or a [`TimeCell`] of any kind.
    ///
    /// ```
    /// use spate::{Recording, TimeCell};
    /// use std::time::{Duration, SystemTime};
    /// let rec = Recording::builder("times").start()?;
    /// rec.set_time("sensor_time", SystemTime::now())?;
    /// rec.set_time("since_start", Duration::from_millis(250))?;
    /// rec.set_time("frame", TimeCell::sequence(42))?;
    /// # Ok::<(), spate::RecordingError>(())
    /// ```
    pub fn set_time(
        &self,
        timeline: &str,
        time: impl Into<TimeCell>,
    ) -> Result<(), RecordingError> {
        self.set_time_cell(timeline, time.into())
    }

    /// Sets this thread's time on a sequence timeline (e.g. a frame number).
    pub fn set_time_sequence(&self, timeline: &str, value: i64) -> Result<(), RecordingError> {
        self.set_time_cell(timeline, TimeCell::sequence(value))
    }

    /// Sets this thread's time on a timestamp timeline (ns since the Unix epoch).
    pub fn set_timestamp(&self, timeline: &str, ns_since_epoch: i64) -> Result<(), RecordingError> {
        self.set_time_cell(timeline, TimeCell::timestamp_ns(ns_since_epoch))
    }

    /// Sets this thread's time on a duration timeline (ns).
    pub fn set_duration(&self, timeline: &str, ns: i64) -> Result<(), RecordingError> {
        self.set_time_cell(timeline, TimeCell::duration_ns(ns))
    }

    /// Clears this thread's times: later rows are on `log_time` alone (or static, with
    /// `log_time` turned off) until a time is set again.
    pub fn reset_time(&self) {
        // An exiting thread has no times left to reset.
        let _ = with_local(&self.handle.hub, |local| local.time = TimePoint::default());
    }

    /// Delivers everything this thread logged before this call (and what other threads had
    /// logged by the time the drain picks the request up) to every sink, and flushes the
    /// sinks, by `deadline` — sinks replaced by `set_sinks` included: the flush waits until
    /// they have finished their queues and closed.
    ///
    /// Returns [`RecordingError::Lost`] when anything was lost since this thread's previous
    /// flush (or since the start): rows dropped by full lanes or full sink queues, rows that
    /// failed to encode, sinks that failed — even if this flush itself went well. Losses
    /// cannot be told apart by thread, so each thread hears of every loss once; a flush
    /// never claims more than it knows.
    ///
    /// ```
    /// use spate::{EntityPath, MemorySink, Points3D, Recording, RecordingError};
    /// use std::time::{Duration, Instant};
    /// let (sink, received) = MemorySink::new();
    /// let rec = Recording::builder("demo").sinks(sink).start()?;
    /// rec.log(&EntityPath::parse("p")?, &Points3D::new(vec![[1.0, 2.0, 3.0]]))?;
    /// rec.flush(Instant::now() + Duration::from_secs(5))?;
    /// // The row's chunk, after the recording's properties.
    /// assert_eq!(received.decode()?.chunks().count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self, deadline: Instant) -> Result<(), RecordingError> {
        let handle = &*self.handle;
        if handle.hub.gate.is_closed() {
            return Err(RecordingError::Closed);
        }
        let (round, first) = handle
            .hub
            .join_flush(deadline)
            .ok_or(RecordingError::Closed)?;
        if first {
            if handle.requests.send(Request::Flush).is_err() {
                // The drain is gone: everyone waiting hears it now.
                handle.hub.close_flushes();
                return Err(RecordingError::Closed);
            }
            handle.hub.notify_drain();
        }
        let tickets = round.wait(deadline).map_err(|end| match end {
            RoundEnd::Deadline => RecordingError::Deadline("flush"),
            RoundEnd::Closed => RecordingError::Closed,
        })?;

        if !tickets.wait(deadline) {
            return Err(RecordingError::Deadline("flush"));
        }
        let now = handle.hub.stats();
        let mut losses = with_local(&handle.hub, |local| {
            let before = local.flushed.get_or_insert_with(Default::default);
            let losses = Losses::between(before, &now);
            **before = now.clone();
            losses
        })
        // An exiting thread has no baseline: everything lost since the start.
        .unwrap_or_else(|| Losses::between(&Stats::default(), &now));
        // A sink whose flush failed (or that had failed before): say so even if no row
        // count moved.
        for (name, why) in tickets.failures() {
            match losses.sinks.iter_mut().find(|l| l.name == name) {
                Some(l) => {
                    l.failure.get_or_insert(why);
                }
                None => losses.sinks.push(SinkLoss {
                    name,
                    failure: Some(why),
                    ..SinkLoss::default()
                }),
            }
        }
        if losses.is_empty() {
            Ok(())
        } else {
            Err(RecordingError::Lost(losses))
        }
    }

    /// Replaces the sinks at run time (like Rerun's `set_sinks`), waiting at most
    /// [`SET_SINKS_DEADLINE`]; see [`set_sinks_by`](Self::set_sinks_by).
    pub fn set_sinks(&self, sinks: impl IntoSinks) -> Result<(), RecordingError> {
        self.set_sinks_by(sinks, Instant::now() + SET_SINKS_DEADLINE)
    }

    /// Replaces the sinks at run time, by `deadline`. What this thread logged before the
    /// call goes to the old sinks, what it logs after the call returns goes to the new ones.
    /// The old sinks then finish their queues and close on their own threads (their
    /// counters stay in [`stats`](Self::stats), marked retired).
    ///
    /// The new sinks' workers start on this call (their `name()`, `monitor()` and all later
    /// calls run on the workers' threads). If the deadline passes before the drain swaps
    /// them in (it is held up by a full `Block` sink), the call returns
    /// [`RecordingError::Deadline`] and the sinks are **not** changed: the new ones are
    /// dropped, on their own threads, before this returns (waiting at most
    /// [`DISCARD_WAIT`] for each).
    ///
    /// A file has one writer: a new [`FileSink`](crate::sink::FileSink) on the path the
    /// current one writes fails to create ([`FileSinkError::Locked`]) before this is called;
    /// rotate, or give the new sink another path.
    ///
    /// [`FileSinkError::Locked`]: crate::sink::FileSinkError::Locked
    pub fn set_sinks_by(
        &self,
        sinks: impl IntoSinks,
        deadline: Instant,
    ) -> Result<(), RecordingError> {
        let handle = &*self.handle;
        let hub = &handle.hub;
        if hub.gate.is_closed() {
            return Err(RecordingError::Closed);
        }
        let parker = hub.drain_parker().ok_or(RecordingError::Closed)?;
        // The workers start here (a thread each; the sinks' own code runs on them), so the
        // drain only swaps them in.
        let mut workers = Vec::new();
        for spec in sinks.into_sinks() {
            match SinkWorker::start(spec, parker.clone()) {
                Ok(w) => workers.push(w),
                Err(e) => {
                    discard(workers);
                    return Err(RecordingError::Spawn(e));
                }
            }
        }
        let offer = Arc::new(SinkOffer::new(workers));
        let (tx, rx) = channel();
        let request = Request::SetSinks {
            offer: offer.clone(),
            reply: tx,
        };
        if handle.requests.send(request).is_err() {
            discard(offer.take().unwrap_or_default());
            return Err(RecordingError::Closed);
        }
        hub.notify_drain();
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => Ok(()),
            Err(gone) => match offer.take() {
                // Taken back before the drain got to them: the sinks are not changed.
                Some(workers) => {
                    discard(workers);
                    Err(match gone {
                        RecvTimeoutError::Timeout => RecordingError::Deadline("set_sinks"),
                        RecvTimeoutError::Disconnected => RecordingError::Closed,
                    })
                }
                // The drain took them just now and answers right away (nothing but a swap
                // and queueing the store info lies between; this ends when it answers or
                // exits).
                None => rx.recv().map_err(|_| RecordingError::Closed),
            },
        }
    }

    /// Stops logging, delivers what it can by `deadline`, closes the sinks and reports.
    ///
    /// Every `log()` that returned `Ok` before is delivered or counted in the report;
    /// every later one returns [`RecordingError::Closed`]. Each sink closes by `deadline`
    /// (or sooner, with its [`close_timeout`](crate::sink::SinkSpec::close_timeout)); a
    /// sink that misses it is reported as timed out, with what it still held counted as
    /// dropped, without marking the others. Later calls, and concurrent ones that can wait
    /// for it within their own deadline, return the same report; a concurrent call whose
    /// deadline comes first gets a snapshot of the counters, marked timed out.
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

    /// A writable byte buffer (an image's pixels, an encoded frame) from this recording's
    /// pool: warm memory, returned to the pool when every sink is done with it.
    ///
    /// ```
    /// use spate::archetype::{ColorModel, Image};
    /// use spate::{EntityPath, Recording};
    /// let rec = Recording::builder("camera").start()?;
    /// let mut pixels = rec.loan_u8(64 * 48 * 3);
    /// pixels.fill(128);
    /// rec.log(&EntityPath::parse("camera/image")?, &Image::from_color_model(pixels, [64, 48], ColorModel::Rgb)?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn loan_u8(&self, n: usize) -> Loan<u8> {
        self.handle.u8_pool.loan(n)
    }

    /// A writable `u16` buffer (a depth image) from this recording's pool.
    pub fn loan_u16(&self, n: usize) -> Loan<u16> {
        self.handle.u16_pool.loan(n)
    }

    /// Reuse counters of the `f32` (positions, radii) and `u32` (colors) pools.
    pub fn pool_stats(&self) -> (PoolStats, PoolStats) {
        (self.handle.f32_pool.stats(), self.handle.u32_pool.stats())
    }

    /// Counters of every lane and sink, right now.
    pub fn stats(&self) -> Stats {
        self.handle.hub.stats()
    }
}
