//! Helpers: decoded rows, a sink that can be held shut, bounded waits.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{Array, FixedSizeListArray, Float32Array};
use spate::wire::{DecodedRrd, EncodedMessage};
use spate::{Chunk, MemorySinkHandle, Points3D, RowId, Sink, SinkError};

pub use crate::preamble::*;

/// `s` seconds from now.
pub fn secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

/// One point at `(j, j, j)`.
pub fn point(j: usize) -> Points3D {
    Points3D::new(vec![[j as f32; 3]])
}

/// The x of the first point of `row`'s `Points3D:positions` (NaN for a row of no points).
pub fn first_x(chunk: &Chunk, row: usize) -> f32 {
    let pos = chunk.component("Points3D:positions").expect("positions");
    let v = pos.list().value(row);
    let fsl = v.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    let xs = fsl
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .unwrap();
    if xs.is_empty() { f32::NAN } else { xs.value(0) }
}

/// `chunk`'s RowIds, asserting they are strictly increasing (Rerun's chunk order).
pub fn sorted_row_ids(chunk: &Chunk) -> Vec<RowId> {
    let ids: Vec<RowId> = chunk.row_ids().collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{}: a chunk's RowIds are not sorted",
        chunk.entity()
    );
    ids
}

/// Every row the test logged in a decoded stream, in the order received (the recording's
/// properties left out): (entity, row id, frame or -1, first x or NaN).
pub fn decoded_rows(decoded: &DecodedRrd) -> Vec<(String, RowId, i64, f32)> {
    let mut out = Vec::new();
    for chunk in logged_chunks(decoded) {
        let frames = chunk
            .timelines()
            .iter()
            .find(|t| t.timeline().name() == "frame");
        let entity = chunk.entity().to_string();
        for (row, id) in chunk.row_ids().enumerate() {
            let frame = frames.map_or(-1, |t| t.values()[row]);
            out.push((entity.clone(), id, frame, first_x(chunk, row)));
        }
    }
    out
}

/// Every decoded row: entity → [(row id, frame, first x)] in the order received.
pub fn rows_by_entity(h: &MemorySinkHandle) -> BTreeMap<String, Vec<(RowId, i64, f32)>> {
    let decoded = h.decode().expect("sink holds a valid stream");
    let mut out: BTreeMap<String, Vec<(RowId, i64, f32)>> = BTreeMap::new();
    for (entity, id, frame, x) in decoded_rows(&decoded) {
        out.entry(entity).or_default().push((id, frame, x));
    }
    out
}

/// Runs `f` on another thread and fails the test if it does not finish within `limit`
/// (a hang is the failure mode being tested, not a speed).
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// Waits (yielding, bounded) until `cond` holds.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "{what}: not reached within {limit:?}"
        );
        std::thread::yield_now();
    }
}

/// Checks `cond` every `every` until it holds (bounded): for a condition that is costly to
/// check or slow to come (e.g. threads ending at a deadline seconds away).
pub fn poll_until(limit: Duration, every: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "{what}: not reached within {limit:?}"
        );
        std::thread::sleep(every);
    }
}

/// A sink whose writes wait until the test opens its gate; it reports each write it starts
/// and counts its writes and its flushes.
pub struct GatedSink {
    gate: Arc<Mutex<Receiver<()>>>,
    open: Arc<std::sync::atomic::AtomicBool>,
    started: Sender<()>,
    pub written: Arc<std::sync::atomic::AtomicU64>,
    pub flushes: Arc<std::sync::atomic::AtomicU64>,
}

/// Opens a [`GatedSink`]'s gate for good.
pub struct Gate {
    tx: Sender<()>,
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl Gate {
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.tx.send(());
    }
}

impl GatedSink {
    pub fn new() -> (Self, Gate, Receiver<()>) {
        let (tx, rx) = channel();
        let (started_tx, started_rx) = channel();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Self {
                gate: Arc::new(Mutex::new(rx)),
                open: open.clone(),
                started: started_tx,
                written: Default::default(),
                flushes: Default::default(),
            },
            Gate { tx, open },
            started_rx,
        )
    }
}

impl Sink for GatedSink {
    fn name(&self) -> String {
        "gated".into()
    }

    fn write(&mut self, _msg: &EncodedMessage) -> Result<(), SinkError> {
        let _ = self.started.send(());
        if !self.open.load(std::sync::atomic::Ordering::SeqCst) {
            // Blocks until the gate opens (or the test ends and drops the sender).
            let _ = self.gate.lock().unwrap().recv();
        }
        self.written
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn flush(&mut self, _deadline: Instant) -> Result<(), SinkError> {
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A gRPC sink URL nobody listens on (a port bound and released).
pub fn unreachable_grpc_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("rerun+http://127.0.0.1:{port}/proxy")
}

/// A recording whose only sink is stuck in its first `write` until the returned [`Gate`]
/// opens, with a queue of one message and three rows logged: with `SinkPolicy::Block` the
/// drain is now held up dispatching; with `DropNewest` it goes on, dropping. Also returns
/// the sink's flush counter.
pub fn stuck_recording(
    name: &str,
    policy: spate::SinkPolicy,
) -> (spate::Recording, Gate, Arc<std::sync::atomic::AtomicU64>) {
    use spate::SinkExt;
    let (gated, gate, started) = GatedSink::new();
    let flushes = gated.flushes.clone();
    let rec = spate::Recording::builder(name)
        .sinks(gated.with_policy(policy).max_queue_bytes(1))
        .batch(spate::BatchPolicy::unbatched())
        .start()
        .unwrap();
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the sink's first write");
    let e = spate::EntityPath::parse("p").unwrap();
    for j in 0..3 {
        rec.log(&e, &point(j)).unwrap();
    }
    (rec, gate, flushes)
}

/// A sink that accepts `ok` messages, then misbehaves on every later call to `write`:
/// returns an error or panics.
pub struct FaultySink {
    pub ok: u64,
    pub panics: bool,
    pub seen: Arc<std::sync::atomic::AtomicU64>,
    pub name: String,
}

impl FaultySink {
    pub fn failing_after(ok: u64) -> Self {
        Self {
            ok,
            panics: false,
            seen: Default::default(),
            name: "failing".into(),
        }
    }

    /// The same sink under another name (to tell its warnings apart).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub fn panicking_after(ok: u64) -> Self {
        Self {
            ok,
            panics: true,
            seen: Default::default(),
            name: "panicking".into(),
        }
    }
}

impl Sink for FaultySink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, _msg: &EncodedMessage) -> Result<(), SinkError> {
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.ok {
            return Ok(());
        }
        if self.panics {
            panic!("test sink panics on message {n}");
        }
        Err(SinkError::Io(std::io::Error::other(format!(
            "test sink fails on message {n}"
        ))))
    }
}

/// Captures `log` records for tests (installed once per test binary).
pub mod logs {
    use std::sync::{Mutex, OnceLock};

    struct Capture(Mutex<Vec<(log::Level, String)>>);

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            self.0
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
        fn flush(&self) {}
    }

    fn capture() -> &'static Capture {
        static C: OnceLock<&'static Capture> = OnceLock::new();
        C.get_or_init(|| {
            let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
            let _ = log::set_logger(c);
            log::set_max_level(log::LevelFilter::Warn);
            c
        })
    }

    /// Warnings logged so far whose text contains `needle`.
    pub fn warnings_containing(needle: &str) -> Vec<String> {
        capture()
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(l, m)| *l == log::Level::Warn && m.contains(needle))
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Installs the capture (call before the code under test runs).
    pub fn install() {
        capture();
    }
}
