//! `RecordingStream` and the module-level functions (`init`, `log`, `set_time`, …) that act
//! on the thread's or the process's default recording, as in the official SDK.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyNotImplementedError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use spate::chunk::ComponentDescriptor;
use spate::{
    ArchetypeError, AsComponents, BlockHook, EntityPath, Recording, RecordingError, SinkSpec,
};

use crate::archetypes::Archetype;
use crate::{errors, report, sinks};

/// One recording as the package holds it.
pub(crate) struct Stream {
    /// The engine's recording.
    pub(crate) rec: Recording,
    /// `default_enabled=False` (or `RERUN=off`): every call does nothing.
    on: bool,
    /// [`FORK_GENERATION`] when it started: a forked child's copy of a recording has no
    /// threads behind it, and does nothing (as the official SDK's).
    generation: u64,
    /// Whether `set_sinks` was ever called (rows before it reach no sink: warned once).
    has_sinks: AtomicBool,
    warned_no_sinks: AtomicBool,
    /// `shutdown` ran (asked for, or at exit): its report was given once; neither the exit
    /// hook nor dropping the last handle repeats it.
    shut_down: AtomicBool,
}

/// How many times this process is a forked child (bumped in the child after `fork`).
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Every recording made, for the exit hook (weak: a recording nobody holds is flushed by
/// its own drop).
static LIVE: Mutex<Vec<Weak<Stream>>> = Mutex::new(Vec::new());
/// `init`'s recording (or `set_global_data_recording`'s).
static GLOBAL: RwLock<Option<Arc<Stream>>> = RwLock::new(None);
thread_local! {
    /// `make_thread_default=True`, or inside `with rec:`.
    static THREAD_DEFAULT: RefCell<Option<Arc<Stream>>> = const { RefCell::new(None) };
    /// Parsed entity paths (bounded).
    static PATHS: RefCell<PathCache> = RefCell::new(PathCache::default());
}

/// Most entity paths cached per thread (the cache is emptied when full).
const PATH_CACHE: usize = 4096;
/// Longest wait of one slice of a flush: Ctrl-C is looked at between slices.
const SLICE: Duration = Duration::from_millis(100);

/// Lets other Python threads run while a producer waits for room in a full lane.
struct ReleaseGil;

impl BlockHook for ReleaseGil {
    fn around_wait(&self, wait: &mut (dyn FnMut() + Send)) {
        // Only Python callers log into this recording: the thread is attached already.
        Python::attach(|py| py.detach(wait));
    }
}

impl Stream {
    fn start(
        py: Python<'_>,
        application_id: &str,
        recording_id: Option<String>,
        enabled: bool,
    ) -> PyResult<Arc<Self>> {
        let mut builder = Recording::builder(application_id);
        if let Some(id) = recording_id {
            builder = builder.recording_id(id);
        }
        Self::start_with(py, builder, enabled)
    }

    /// Starts `builder`'s recording (with the GIL-releasing block hook) and registers it
    /// for the exit hook.
    pub(crate) fn start_with(
        py: Python<'_>,
        builder: spate::RecordingBuilder,
        enabled: bool,
    ) -> PyResult<Arc<Self>> {
        let builder = builder.block_hook(ReleaseGil);
        let rec = py
            .detach(|| builder.start())
            .map_err(|e| errors::recording(py, e))?;
        let stream = Arc::new(Self {
            rec,
            on: enabled,
            generation: FORK_GENERATION.load(Ordering::Relaxed),
            has_sinks: AtomicBool::new(false),
            warned_no_sinks: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
        });
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&stream));
        Ok(stream)
    }

    /// Whether calls act: `default_enabled`, and made in this process (not inherited
    /// through `fork`).
    pub(crate) fn enabled(&self) -> bool {
        self.on && !self.inherited()
    }

    /// Made by the process this one was forked from.
    fn inherited(&self) -> bool {
        self.generation != FORK_GENERATION.load(Ordering::Relaxed)
    }

    /// Sinks were given at start (no warning about rows reaching none).
    pub(crate) fn mark_has_sinks(&self) {
        self.has_sinks.store(true, Ordering::Relaxed);
    }

    fn log(
        &self,
        py: Python<'_>,
        entity_path: &Bound<'_, PyAny>,
        entity: &Bound<'_, PyAny>,
        extra: &Bound<'_, PyTuple>,
        is_static: bool,
    ) -> PyResult<()> {
        if !self.enabled() {
            return self.warn_if_inherited(py);
        }
        self.warn_without_sinks(py)?;
        let result = PATHS.with(|paths| -> PyResult<Result<(), RecordingError>> {
            // Python code runs inside a `log` (a path part's `__str__`, a `__del__` the GC
            // or a deferred decref calls): a `log` from there finds the cache in use and
            // goes without it.
            let mut held = paths.try_borrow_mut().ok();
            let mut spare;
            let paths = match held.as_deref_mut() {
                Some(p) => p,
                None => {
                    spare = PathCache::default();
                    &mut spare
                }
            };
            let path = cached_path(paths, entity_path)?;
            let first = archetype(entity)?;
            Ok(if extra.is_empty() {
                self.log_one(path, &*first.get().inner, is_static)
            } else {
                let mut rows = vec![first.get().inner.clone()];
                for e in extra.iter() {
                    rows.push(archetype(&e)?.get().inner.clone());
                }
                self.log_one(path, &Merged(rows), is_static)
            })
        })?;
        result.map_err(|e| errors::recording(py, e))
    }

    fn log_one(
        &self,
        path: &EntityPath,
        data: &(dyn AsComponents + Send + Sync),
        is_static: bool,
    ) -> Result<(), RecordingError> {
        if is_static {
            self.rec.log_static(path, data)
        } else {
            self.rec.log(path, data)
        }
    }

    /// Says once per process that a forked child's rows go nowhere.
    fn warn_if_inherited(&self, py: Python<'_>) -> PyResult<()> {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !self.inherited() || WARNED.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        errors::warn(py, c"spate: this process was forked from the one that made the recording: rows logged here reach no sink (call spate.init() in the child for a recording of its own)")
    }

    /// Refuses calls that need the engine's threads on a forked child's copy.
    fn check_not_inherited(&self, py: Python<'_>) -> PyResult<()> {
        if self.inherited() {
            return Err(errors::raise(
                py,
                "RecordingClosed",
                "spate: this recording belongs to the process this one was forked from".to_owned(),
            ));
        }
        Ok(())
    }

    fn warn_without_sinks(&self, py: Python<'_>) -> PyResult<()> {
        if self.has_sinks.load(Ordering::Relaxed)
            || self.warned_no_sinks.swap(true, Ordering::Relaxed)
        {
            return Ok(());
        }
        errors::warn(py, c"spate: logging before set_sinks(): these rows reach no sink (they are counted in stats() as encoded, sent nowhere)")
    }

    fn set_sinks(&self, py: Python<'_>, sinks: &[Bound<'_, PyAny>]) -> PyResult<()> {
        if !self.enabled() {
            let warning = py.get_type::<pyo3::exceptions::PyUserWarning>();
            return PyErr::warn(
                py,
                &warning,
                c"spate is disabled - set_sinks() call ignored",
                1,
            );
        }
        let specs = sinks::specs(py, sinks)?;
        self.replace_sinks(py, specs)?;
        self.has_sinks.store(!sinks.is_empty(), Ordering::Relaxed);
        Ok(())
    }

    fn replace_sinks(&self, py: Python<'_>, specs: Vec<SinkSpec>) -> PyResult<()> {
        let rec = &self.rec;
        py.detach(|| rec.set_sinks(specs))
            .map_err(|e| errors::recording(py, e))
    }

    /// Flushes by `timeout_sec` (0: start it and return), in slices so Ctrl-C is heard.
    fn flush(&self, py: Python<'_>, timeout_sec: f64) -> PyResult<()> {
        if !self.enabled() {
            return Ok(());
        }
        let deadline = deadline_after(timeout_sec)?;
        loop {
            let slice_end = deadline.min(Instant::now() + SLICE);
            let rec = &self.rec;
            match py.detach(|| rec.flush(slice_end)) {
                Err(RecordingError::Deadline(_)) if slice_end < deadline => py.check_signals()?,
                Err(RecordingError::Deadline(_)) if timeout_sec == 0.0 => return Ok(()),
                Err(e @ RecordingError::Deadline(_)) => {
                    return Err(errors::raise(
                        py,
                        "FlushTimeout",
                        self.behind(&e, timeout_sec),
                    ));
                }
                Ok(()) => return Ok(()),
                Err(e) => return Err(errors::recording(py, e)),
            }
        }
    }

    /// Why a flush ran out of time: the sinks still holding data, with their errors (an
    /// unreachable server says so, as the SDK's "gRPC has been unable to connect").
    fn behind(&self, e: &RecordingError, timeout_sec: f64) -> String {
        let stats = self.rec.stats();
        let sinks: Vec<String> = stats
            .sinks
            .iter()
            .filter(|s| s.queued_bytes > 0 || s.error.is_some())
            .map(|s| match &s.error {
                Some(error) => format!("sink {}: {error}", s.name),
                None => format!("sink {}: {} B still queued", s.name, s.queued_bytes),
            })
            .collect();
        let mut message = format!("flush ({timeout_sec} s): {}", spate::ErrorChain(e));
        for sink in sinks {
            message.push_str("; ");
            message.push_str(&sink);
        }
        message
    }

    fn shutdown<'py>(&self, py: Python<'py>, timeout_sec: f64) -> PyResult<Bound<'py, PyDict>> {
        let deadline = deadline_after(timeout_sec)?;
        self.check_not_inherited(py)?;
        let rec = &self.rec;
        self.shut_down.store(true, Ordering::Relaxed);
        let report = py.detach(|| rec.shutdown(deadline));
        report::shutdown(py, &report)
    }
}

/// The rows of several archetypes given to one `log` call, as one row.
struct Merged(Vec<Arc<dyn AsComponents + Send + Sync>>);

impl AsComponents for Merged {
    fn as_components(
        &self,
    ) -> Result<Vec<(ComponentDescriptor, arrow_array::ArrayRef)>, ArchetypeError> {
        let mut all = Vec::new();
        for a in &self.0 {
            all.extend(a.as_components()?);
        }
        Ok(all)
    }
}

/// What `log` takes as a row: an [`Archetype`], or an object that makes one (its
/// `_as_spate_archetype()`, e.g. `ViewCoordinates.RDF`, which the official SDK logs as the
/// `ViewCoordinates` archetype).
fn archetype<'py>(entity: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Archetype>> {
    if let Ok(a) = entity.cast::<Archetype>() {
        return Ok(a.clone());
    }
    let made = match entity.getattr_opt(pyo3::intern!(entity.py(), "_as_spate_archetype"))? {
        Some(make) => Some(make.call0()?),
        None => None,
    };
    match made.as_ref().map(|m| m.cast::<Archetype>()) {
        Some(Ok(a)) => Ok(a.clone()),
        _ => Err(PyTypeError::new_err(format!(
            "Expected an archetype such as spate.Points3D (an object implementing AsComponents), got {}",
            entity
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string())
        ))),
    }
}

/// Entity paths parsed before, by their text, and the last one by the `str` object it came
/// from: a loop logging to one constant path (one object) skips hashing its text.
#[derive(Default)]
struct PathCache {
    /// The last `str` looked up (held: its address is not reused while it is here).
    last: Option<(Py<PyAny>, EntityPath)>,
    by_text: HashMap<String, EntityPath>,
}

/// The entity path of `entity_path`, from `cache` when seen before.
fn cached_path<'c>(
    cache: &'c mut PathCache,
    entity_path: &Bound<'_, PyAny>,
) -> PyResult<&'c EntityPath> {
    let same = |last: &Option<(Py<PyAny>, EntityPath)>| {
        last.as_ref()
            .is_some_and(|(obj, _)| obj.as_ptr() == entity_path.as_ptr())
    };
    if !same(&cache.last) {
        let mut text = String::new();
        let key = path_text(entity_path, &mut text)?;
        let path = match cache.by_text.get(key) {
            Some(p) => p.clone(),
            None => {
                let p = EntityPath::parse(key).map_err(errors::value)?;
                if cache.by_text.len() >= PATH_CACHE {
                    cache.by_text.clear();
                }
                cache.by_text.insert(key.to_owned(), p.clone());
                p
            }
        };
        // Only a `str` is immutable: a list could change between calls.
        if !entity_path.is_exact_instance_of::<PyString>() {
            cache.last = None;
            return cache
                .by_text
                .get(key)
                .ok_or_else(|| PyValueError::new_err("entity path cache"));
        }
        cache.last = Some((entity_path.clone().unbind(), path));
    }
    match &cache.last {
        Some((_, path)) => Ok(path),
        None => Err(PyValueError::new_err("entity path cache")),
    }
}

/// The text of an entity path argument: a `str`, or a list of parts joined by `/`.
fn path_text<'a>(entity_path: &'a Bound<'_, PyAny>, joined: &'a mut String) -> PyResult<&'a str> {
    if let Ok(s) = entity_path.cast::<PyString>() {
        return s.to_str();
    }
    if let Ok(parts) = entity_path.cast::<PyList>() {
        *joined = parts
            .iter()
            .map(|p| p.str().map(|s| s.to_string()))
            .collect::<PyResult<Vec<_>>>()?
            .join("/");
        return Ok(joined);
    }
    Err(PyTypeError::new_err(format!(
        "an entity path is a str or a list of parts, got {}",
        entity_path.get_type().name()?
    )))
}

/// The entity path of `entity_path` (a `str`, or a list of parts joined by `/`).
fn entity_path_of(entity_path: &Bound<'_, PyAny>) -> PyResult<EntityPath> {
    let mut joined = String::new();
    EntityPath::parse(path_text(entity_path, &mut joined)?).map_err(errors::value)
}

/// `now + timeout_sec`, far in the future for the SDK's default of 1e38 s.
fn deadline_after(timeout_sec: f64) -> PyResult<Instant> {
    if timeout_sec.is_nan() || timeout_sec < 0.0 {
        return Err(PyValueError::new_err(format!(
            "timeout_sec must be ≥ 0, got {timeout_sec}"
        )));
    }
    // A century: "forever" for a process, and far from Instant's overflow.
    let d = Duration::from_secs_f64(timeout_sec.min(3.2e9));
    Ok(Instant::now() + d)
}

/// The recording a call acts on: `recording=`, else the thread's default, else the global.
///
/// A handle: should the recording be replaced meanwhile (`init` on another thread) and this
/// call be its last holder, its shutdown is a handle's (the GIL released, losses reported).
pub(crate) fn resolve(recording: Option<&Bound<'_, PyAny>>) -> PyResult<RecordingStream> {
    if let Some(r) = recording.filter(|r| !r.is_none()) {
        return r
            .cast::<RecordingStream>()
            .map(|r| RecordingStream {
                stream: r.get().stream.clone(),
            })
            .map_err(|_| PyTypeError::new_err("recording= must be a spate.RecordingStream"));
    }
    if let Some(stream) = THREAD_DEFAULT.with(|t| t.borrow().clone()) {
        return Ok(RecordingStream { stream });
    }
    if let Some(stream) = GLOBAL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
    {
        return Ok(RecordingStream { stream });
    }
    Python::attach(|py| {
        Err(errors::raise(
            py,
            "NoRecording",
            "no recording: call spate.init(application_id) first, or pass recording=".to_owned(),
        ))
    })
}

/// A recording: where logged data goes, with its own sinks (the official SDK's
/// `RecordingStream`). Each Python thread that logs gets a lane of its own.
#[pyclass(frozen, module = "spate")]
pub struct RecordingStream {
    pub(crate) stream: Arc<Stream>,
}

fn env_disabled() -> bool {
    std::env::var("RERUN")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "off" | "0" | "false"))
}

fn id_of(recording_id: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    recording_id
        .filter(|r| !r.is_none())
        .map(|r| r.str().map(|s| s.to_string()))
        .transpose()
}

#[pymethods]
impl RecordingStream {
    #[new]
    #[pyo3(signature = (application_id, *, recording_id=None, make_default=false, make_thread_default=false, default_enabled=true, send_properties=true, batcher_config=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        py: Python<'_>,
        application_id: &str,
        recording_id: Option<&Bound<'_, PyAny>>,
        make_default: bool,
        make_thread_default: bool,
        default_enabled: bool,
        send_properties: bool,
        batcher_config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if !send_properties {
            return Err(PyNotImplementedError::new_err(
                "spate: RecordingStream(send_properties=False) is not supported: spate always sends the recording's properties",
            ));
        }
        crate::archetypes::unsupported("RecordingStream", "batcher_config", batcher_config)?;
        let stream = Stream::start(
            py,
            application_id,
            id_of(recording_id)?,
            default_enabled && !env_disabled(),
        )?;
        if make_default {
            let old = GLOBAL
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .replace(stream.clone());
            // Shut down (if nobody else holds it) once the lock is let go.
            let_go(old);
        }
        if make_thread_default {
            // (Let go of after the borrow: its shutdown may run Python code that logs.)
            let_go(THREAD_DEFAULT.with(|t| t.borrow_mut().replace(stream.clone())));
        }
        Ok(Self { stream })
    }

    #[pyo3(signature = (entity_path, entity, *extra, r#static=false, strict=None))]
    fn log(
        &self,
        py: Python<'_>,
        entity_path: &Bound<'_, PyAny>,
        entity: &Bound<'_, PyAny>,
        extra: &Bound<'_, PyTuple>,
        r#static: bool,
        strict: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = strict; // spate always raises (the SDK's strict mode)
        self.stream.log(py, entity_path, entity, extra, r#static)
    }

    #[pyo3(signature = (timeline, *, sequence=None, duration=None, timestamp=None))]
    fn set_time(
        &self,
        py: Python<'_>,
        timeline: &str,
        sequence: Option<&Bound<'_, PyAny>>,
        duration: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        set_time_on(py, &self.stream, timeline, sequence, duration, timestamp)
    }

    fn reset_time(&self) {
        if self.stream.enabled() {
            self.stream.rec.reset_time();
        }
    }

    #[pyo3(signature = (entity_path, indexes, columns, *, strict=None))]
    fn send_columns(
        &self,
        py: Python<'_>,
        entity_path: &Bound<'_, PyAny>,
        indexes: &Bound<'_, PyAny>,
        columns: &Bound<'_, PyAny>,
        strict: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let _ = strict;
        send_columns_on(py, &self.stream, entity_path, indexes, columns)
    }

    #[pyo3(signature = (*sinks, default_blueprint=None))]
    fn set_sinks(
        &self,
        py: Python<'_>,
        sinks: Vec<Bound<'_, PyAny>>,
        default_blueprint: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        crate::archetypes::unsupported("set_sinks", "default_blueprint", default_blueprint)?;
        self.stream.set_sinks(py, &sinks)
    }

    #[pyo3(signature = (*, timeout_sec=1e38))]
    fn flush(&self, py: Python<'_>, timeout_sec: f64) -> PyResult<()> {
        self.stream.flush(py, timeout_sec)
    }

    fn disconnect(&self, py: Python<'_>) -> PyResult<()> {
        disconnect_stream(py, &self.stream)
    }

    /// The engine's counters now, as a dict (per lane and per sink).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.stream.check_not_inherited(py)?;
        report::stats(py, &self.stream.rec.stats())
    }

    /// Stops logging, delivers what it can by `timeout_sec`, closes the sinks and returns
    /// the report as a dict (`complete` is true when nothing was lost anywhere).
    #[pyo3(signature = (timeout_sec=10.0))]
    fn shutdown<'py>(&self, py: Python<'py>, timeout_sec: f64) -> PyResult<Bound<'py, PyDict>> {
        self.stream.shutdown(py, timeout_sec)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        let prev = THREAD_DEFAULT.with(|t| t.borrow_mut().replace(slf.get().stream.clone()));
        ENTERED.with(|e| e.borrow_mut().push(prev));
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_val: Option<&Bound<'_, PyAny>>,
        _exc_tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let prev = ENTERED.with(|e| e.borrow_mut().pop()).flatten();
        let_go(THREAD_DEFAULT.with(|t| std::mem::replace(&mut *t.borrow_mut(), prev)));
        self.stream.flush(py, 1e38)
    }

    fn __repr__(&self) -> String {
        let info = self.stream.rec.store_info();
        format!(
            "RecordingStream({:?}, recording_id={:?})",
            info.application_id(),
            info.recording_id()
        )
    }
}

impl Drop for RecordingStream {
    /// The last holder of a recording shuts it down (the engine does so when its last
    /// handle goes, waiting up to `spate::DROP_FLUSH_DEADLINE` for the sinks, and tells only
    /// the `log` crate, which nobody reads here): here with the GIL released, so other
    /// Python threads run meanwhile, and what was lost on stderr. Every holder the package
    /// lets go of while attached is wrapped in a handle first (see [`let_go`]).
    fn drop(&mut self) {
        if Arc::strong_count(&self.stream) == 1
            && !self.stream.shut_down.load(Ordering::Relaxed)
            && !self.stream.inherited()
        {
            let rec = &self.stream.rec;
            let report = Python::attach(|py| {
                py.detach(|| rec.shutdown(Instant::now() + spate::DROP_FLUSH_DEADLINE))
            });
            if self.stream.on && !report.is_complete() {
                eprintln!(
                    "spate: a recording let go without shutdown() did not deliver everything: {report}"
                );
            }
        }
    }
}

/// Lets go of a recording held outside a handle (the global one, a thread default): the
/// last holder shuts it down as a handle's drop does.
fn let_go(stream: Option<Arc<Stream>>) {
    drop(stream.map(|stream| RecordingStream { stream }));
}

thread_local! {
    /// The thread defaults `__enter__` replaced, restored by `__exit__`.
    static ENTERED: RefCell<Vec<Option<Arc<Stream>>>> = const { RefCell::new(Vec::new()) };
}

fn disconnect_stream(py: Python<'_>, stream: &Stream) -> PyResult<()> {
    if !stream.enabled() {
        return Ok(());
    }
    stream.replace_sinks(py, Vec::new())?;
    stream.has_sinks.store(false, Ordering::Relaxed);
    // The old sinks finish their queues and close: wait for that (bounded).
    match stream.flush(py, 30.0) {
        Err(e)
            if e.is_instance_of::<pyo3::exceptions::PyRuntimeError>(py)
                && e.value(py).hasattr("losses")? =>
        {
            let message = std::ffi::CString::new(format!("spate: disconnect: {}", e.value(py)))
                .unwrap_or_default();
            errors::warn(py, &message)
        }
        other => other,
    }
}

fn set_time_on(
    py: Python<'_>,
    stream: &Stream,
    timeline: &str,
    sequence: Option<&Bound<'_, PyAny>>,
    duration: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let (sequence, duration, timestamp) = (given(sequence), given(duration), given(timestamp));
    if usize::from(sequence.is_some())
        + usize::from(duration.is_some())
        + usize::from(timestamp.is_some())
        != 1
    {
        return Err(PyValueError::new_err(format!(
            "set_time: Exactly one of `sequence`, `duration`, and `timestamp` must be set (timeline='{timeline}')"
        )));
    }
    if !stream.enabled() {
        return Ok(());
    }
    let rec = &stream.rec;
    let result = if let Some(s) = sequence {
        // As the SDK: any int (`True` included: a bool is an int) or `__index__` object.
        if !(s.is_instance_of::<PyInt>() || s.hasattr("__index__")?) {
            return Err(PyTypeError::new_err(format!(
                "set_time: sequence must be an int, got {}",
                s.get_type().name()?
            )));
        }
        rec.set_time_sequence(timeline, s.extract::<i64>()?)
    } else if let Some(d) = duration {
        rec.set_duration(timeline, duration_ns(d)?)
    } else if let Some(t) = timestamp {
        rec.set_timestamp(timeline, timestamp_ns(t)?)
    } else {
        Ok(())
    };
    result.map_err(|e| errors::recording(py, e))
}

/// An argument given, and not `None`.
fn given<'a, 'py>(v: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    v.filter(|v| !v.is_none())
}

/// The SDK's `to_nanos`: an int is seconds, a float seconds rounded half to even.
fn duration_ns(d: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(i) = d.cast_exact::<PyInt>() {
        return i
            .extract::<i64>()?
            .checked_mul(1_000_000_000)
            .ok_or_else(|| {
                PyOverflowError::new_err("set_time: the duration in nanoseconds is beyond int64")
            });
    }
    if let Ok(f) = d.cast_exact::<PyFloat>() {
        return seconds_to_ns(f.value());
    }
    time_helper(d, "to_nanos")
}

/// `round(1e9 * seconds)`, raising as the SDK's `int(...)` of it does: `ValueError` for
/// NaN, `OverflowError` for infinities and values beyond int64 (never a saturated time).
fn seconds_to_ns(seconds: f64) -> PyResult<i64> {
    /// 2^63, exactly: `i64` holds [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let ns = (1e9 * seconds).round_ties_even();
    if ns.is_nan() {
        return Err(PyValueError::new_err(
            "set_time: cannot convert float NaN to integer",
        ));
    }
    if !(-LIMIT..LIMIT).contains(&ns) {
        return Err(PyOverflowError::new_err(format!(
            "set_time: {seconds} s is beyond int64 nanoseconds"
        )));
    }
    // In range and integral (checked above): the cast is exact.
    Ok(ns as i64)
}

/// The SDK's `to_nanos_since_epoch`: ints and floats are seconds.
fn timestamp_ns(t: &Bound<'_, PyAny>) -> PyResult<i64> {
    let seconds = if let Ok(i) = t.cast_exact::<PyInt>() {
        Some(i.extract::<i64>()? as f64)
    } else {
        t.cast_exact::<PyFloat>().ok().map(|f| f.value())
    };
    match seconds {
        Some(s) if s > 1e11 => Err(PyValueError::new_err(
            "set_time: Expected seconds since unix epoch, but it looks like this is in milliseconds",
        )),
        Some(s) => seconds_to_ns(s),
        None => time_helper(t, "to_nanos_since_epoch"),
    }
}

fn time_helper(v: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    v.py()
        .import("spate._time")?
        .getattr(name)?
        .call1((v,))?
        .extract()
}

/// `spate.init`: the process's default recording (replacing an earlier one).
#[pyfunction]
#[pyo3(signature = (application_id, *, recording_id=None, spawn=false, init_logging=true, default_enabled=true, strict=None, default_blueprint=None, send_properties=true))]
#[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
pub(crate) fn init(
    py: Python<'_>,
    application_id: &str,
    recording_id: Option<&Bound<'_, PyAny>>,
    spawn: bool,
    init_logging: bool,
    default_enabled: bool,
    strict: Option<&Bound<'_, PyAny>>,
    default_blueprint: Option<&Bound<'_, PyAny>>,
    send_properties: bool,
) -> PyResult<()> {
    let _ = strict;
    if spawn {
        return Err(PyNotImplementedError::new_err(
            "spate: init(spawn=True) is not supported: start a viewer (`rerun`) and use set_sinks(GrpcSink())",
        ));
    }
    crate::archetypes::unsupported("init", "default_blueprint", default_blueprint)?;
    if !send_properties {
        return Err(PyNotImplementedError::new_err(
            "spate: init(send_properties=False) is not supported",
        ));
    }
    if !init_logging {
        return Ok(());
    }
    let stream = Stream::start(
        py,
        application_id,
        id_of(recording_id)?,
        default_enabled && !env_disabled(),
    )?;
    let old = GLOBAL
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(stream);
    // The replaced recording is shut down when its last holder lets go (or at exit).
    let_go(old);
    Ok(())
}

/// `spate.log`: see `RecordingStream.log`.
#[pyfunction]
#[pyo3(signature = (entity_path, entity, *extra, r#static=false, recording=None, strict=None))]
pub(crate) fn log(
    py: Python<'_>,
    entity_path: &Bound<'_, PyAny>,
    entity: &Bound<'_, PyAny>,
    extra: &Bound<'_, PyTuple>,
    r#static: bool,
    recording: Option<&Bound<'_, PyAny>>,
    strict: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let _ = strict;
    resolve(recording)?
        .stream
        .log(py, entity_path, entity, extra, r#static)
}

/// Logs the columns as one chunk on `stream`.
fn send_columns_on(
    py: Python<'_>,
    stream: &Stream,
    entity_path: &Bound<'_, PyAny>,
    indexes: &Bound<'_, PyAny>,
    columns: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let (times, components) = crate::columns::gather(indexes, columns)?;
    if !stream.enabled() {
        return Ok(());
    }
    let path = entity_path_of(entity_path)?;
    stream
        .rec
        .send_columns(&path, times, components)
        .map_err(|e| errors::recording(py, e))
}

/// `spate.send_columns`: many rows of one entity at once, as one chunk.
#[pyfunction]
#[pyo3(signature = (entity_path, indexes, columns, *, recording=None, strict=None))]
pub(crate) fn send_columns(
    py: Python<'_>,
    entity_path: &Bound<'_, PyAny>,
    indexes: &Bound<'_, PyAny>,
    columns: &Bound<'_, PyAny>,
    recording: Option<&Bound<'_, PyAny>>,
    strict: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let _ = strict;
    send_columns_on(
        py,
        &resolve(recording)?.stream,
        entity_path,
        indexes,
        columns,
    )
}

/// `spate.set_time`.
#[pyfunction]
#[pyo3(signature = (timeline, *, recording=None, sequence=None, duration=None, timestamp=None))]
pub(crate) fn set_time(
    py: Python<'_>,
    timeline: &str,
    recording: Option<&Bound<'_, PyAny>>,
    sequence: Option<&Bound<'_, PyAny>>,
    duration: Option<&Bound<'_, PyAny>>,
    timestamp: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    set_time_on(
        py,
        &resolve(recording)?.stream,
        timeline,
        sequence,
        duration,
        timestamp,
    )
}

/// `spate.reset_time`.
#[pyfunction]
#[pyo3(signature = (recording=None))]
pub(crate) fn reset_time(recording: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let handle = resolve(recording)?;
    let stream = &handle.stream;
    if stream.enabled() {
        stream.rec.reset_time();
    }
    Ok(())
}

/// `spate.set_sinks`.
#[pyfunction]
#[pyo3(signature = (*sinks, default_blueprint=None, recording=None))]
pub(crate) fn set_sinks(
    py: Python<'_>,
    sinks: Vec<Bound<'_, PyAny>>,
    default_blueprint: Option<&Bound<'_, PyAny>>,
    recording: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    crate::archetypes::unsupported("set_sinks", "default_blueprint", default_blueprint)?;
    resolve(recording)?.stream.set_sinks(py, &sinks)
}

/// `spate.flush` (the official SDK has it only on `RecordingStream`; here for both).
#[pyfunction]
#[pyo3(signature = (*, timeout_sec=1e38, recording=None))]
pub(crate) fn flush(
    py: Python<'_>,
    timeout_sec: f64,
    recording: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    resolve(recording)?.stream.flush(py, timeout_sec)
}

/// `spate.disconnect`: closes the recording's sinks (they finish their queues first);
/// later rows reach no sink until `set_sinks` is called again.
#[pyfunction]
#[pyo3(signature = (recording=None))]
pub(crate) fn disconnect(py: Python<'_>, recording: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    disconnect_stream(py, &resolve(recording)?.stream)
}

/// `spate.stats`: the engine's counters now.
#[pyfunction]
#[pyo3(signature = (recording=None))]
pub(crate) fn stats<'py>(
    py: Python<'py>,
    recording: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let handle = resolve(recording)?;
    let stream = &handle.stream;
    stream.check_not_inherited(py)?;
    report::stats(py, &stream.rec.stats())
}

/// `spate.shutdown`: stops the recording and returns its report.
#[pyfunction]
#[pyo3(signature = (timeout_sec=10.0, recording=None))]
pub(crate) fn shutdown<'py>(
    py: Python<'py>,
    timeout_sec: f64,
    recording: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    resolve(recording)?.stream.shutdown(py, timeout_sec)
}

/// `spate.get_global_data_recording`.
#[pyfunction]
pub(crate) fn get_global_data_recording() -> Option<RecordingStream> {
    GLOBAL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .map(|stream| RecordingStream { stream })
}

/// `spate.set_global_data_recording`: returns the previous one.
#[pyfunction]
pub(crate) fn set_global_data_recording(
    recording: Option<&Bound<'_, RecordingStream>>,
) -> Option<RecordingStream> {
    let new = recording.map(|r| r.get().stream.clone());
    std::mem::replace(
        &mut *GLOBAL.write().unwrap_or_else(PoisonError::into_inner),
        new,
    )
    .map(|stream| RecordingStream { stream })
}

/// The exit hook: shuts down every live recording by one deadline, telling stderr what
/// was lost. Returns the reports of the incomplete ones.
#[pyfunction]
#[pyo3(signature = (timeout_sec=10.0))]
pub(crate) fn _shutdown_all<'py>(
    py: Python<'py>,
    timeout_sec: f64,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let deadline = deadline_after(timeout_sec)?;
    // Hold every recording before letting go of the global one: if the global were the
    // last holder, dropping it would shut it down on its own (the engine's drop deadline,
    // not this one) and its losses would go unreported.
    let live: Vec<Arc<Stream>> =
        std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner))
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
    *GLOBAL.write().unwrap_or_else(PoisonError::into_inner) = None;
    let reports = py.detach(|| {
        // Every recording at once: one deadline for all.
        std::thread::scope(|s| {
            let handles: Vec<_> = live
                .iter()
                .map(|stream| {
                    // Reported already (to shutdown()'s caller) if shut down before.
                    let news = stream.enabled() && !stream.shut_down.swap(true, Ordering::Relaxed);
                    s.spawn(move || (news, stream.rec.shutdown(deadline)))
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok())
                .collect::<Vec<_>>()
        })
    });
    let mut incomplete = Vec::new();
    for (news, r) in reports {
        if news && !r.is_complete() {
            incomplete.push(report::shutdown(py, &r)?);
        }
    }
    Ok(incomplete)
}

/// Called in a forked child (`os.register_at_fork`): the recordings it inherited have no
/// threads behind them here. They do nothing from now on, and are never dropped (dropping
/// one would wait for threads that do not exist); the exit hook leaves them alone.
#[pyfunction]
pub(crate) fn _after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    // Only this thread exists now: a lock held at the fork stays held (then nothing is
    // leaked, and the engine's drop deadline bounds a drop).
    if let Ok(mut live) = LIVE.try_lock() {
        for stream in live.drain(..).filter_map(|w| w.upgrade()) {
            std::mem::forget(stream);
        }
    }
}
