//! Sinks are user code, and user code misbehaves: a name with a NUL byte, a `name()` that
//! blocks, a `Drop` that panics (also in a sink that was never attached), a panic payload
//! whose own `Drop` panics, a `flush` that fails, a `write` stuck for good, a file handed
//! over too late, a viewer that is not there. Whatever a sink does, it fails alone, every
//! wait keeps its deadline, and what the sink was handed is counted.
//!
//! These are the regression tests of fixes made after an adversarial review: each doc
//! comment says what is checked and, last, what broke before.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spate::wire::EncodedMessage;
use spate::{
    BatchPolicy, EntityPath, LanePolicy, MemorySink, Recording, RecordingError, Sink, SinkError,
    SinkExt, SinkPolicy,
};

use crate::common::{
    PREAMBLE_MESSAGES, point, secs, stuck_recording, unreachable_grpc_url, within,
};

/// A sink with a name chosen by the test (anything a `String` can hold).
struct Named(String);

impl Sink for Named {
    fn name(&self) -> String {
        self.0.clone()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink whose `Drop` panics (a finaliser that fails); it notes that it was dropped.
#[derive(Default)]
struct PanicsWhenDropped(Arc<AtomicBool>);

impl Sink for PanicsWhenDropped {
    fn name(&self) -> String {
        "panics-when-dropped".into()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
        Ok(())
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        panic!("finaliser failed");
    }
}

/// A sink whose `name()` holds a NUL byte is attached like any other: `set_sinks` succeeds,
/// the recording flushes, a producer logging past its lane's four slots gets through, and
/// the sink closes cleanly under its name. Before, the name became the worker thread's name
/// and `thread::Builder::spawn` panicked on the NUL, on the drain thread: the drain died,
/// `flush` said `Closed` and a producer on a full lane blocked for good.
#[test]
fn a_sink_name_with_a_nul_byte_does_not_stop_the_drain() {
    let (memory, _delivered) = MemorySink::new();
    let rec = Recording::builder("nul-name")
        .sinks(memory)
        .lane_slots(4)
        .lane_policy(LanePolicy::Block)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    rec.log(&e, &point(0)).unwrap();
    rec.flush(secs(10)).unwrap();
    let set = rec.set_sinks_by(Named("evil\0name".into()), secs(10));
    assert!(set.is_ok(), "set_sinks: {set:?}");
    let flushed = rec.flush(secs(10));
    assert!(
        flushed.is_ok(),
        "the recording died with the sink: flush {flushed:?}\n{}",
        rec.stats()
    );
    // 64 rows through a lane of 4 slots: they get through only while the drain runs.
    let r = rec.clone();
    let logged = within(
        Duration::from_secs(10),
        "64 rows into a 4-slot lane",
        move || {
            let e = EntityPath::parse("q").unwrap();
            (0..64).filter(|&j| r.log(&e, &point(j)).is_ok()).count()
        },
    );
    let report = rec.shutdown(secs(10));
    eprintln!("{report}");
    assert_eq!(logged, 64, "{report}");
    let sink = report.sinks.iter().find(|s| s.stats.name == "evil\0name");
    assert!(sink.is_some_and(|s| s.closed_cleanly), "{report}");
}

/// `set_sinks_by` returns by its deadline while a new sink's `name()` blocks (user code: a
/// lookup, a lock): `name()` runs on the sink's own worker. Before, the drain called it
/// while the caller, its deadline passed and its cancel refused, waited for the drain with
/// a bare `recv()`: the call returned when `name()` did.
#[test]
fn set_sinks_returns_by_its_deadline_while_a_new_sinks_name_blocks() {
    struct SlowName(Mutex<Receiver<()>>);
    impl Sink for SlowName {
        fn name(&self) -> String {
            // The stall under test: until the test lets go (or 6 s).
            let _ = self.0.lock().unwrap().recv_timeout(Duration::from_secs(6));
            "slow-name".into()
        }
        fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
            Ok(())
        }
    }
    let rec = Recording::builder("slow-name").start().unwrap();
    let (release, rx) = channel::<()>();
    let r = rec.clone();
    let (elapsed, result) = within(Duration::from_secs(60), "set_sinks_by", move || {
        let t = Instant::now();
        let res = r.set_sinks_by(
            SlowName(Mutex::new(rx)),
            Instant::now() + Duration::from_millis(300),
        );
        (t.elapsed(), res)
    });
    drop(release);
    eprintln!("set_sinks_by(300 ms) returned {result:?} after {elapsed:?}");
    let _ = rec.shutdown(secs(10));
    assert!(
        elapsed < Duration::from_secs(3),
        "set_sinks_by with a 300 ms deadline returned after {elapsed:?} ({result:?})"
    );
}

/// A sink whose `Drop` panics, handed to `set_sinks_by` while the drain is held up by a
/// stuck `Block` sink: the call gives up at its deadline, the new sink is dropped on its
/// own thread (contained) before the call returns, and the recording carries on (flush
/// `Ok`, report complete). Before, the drain dropped the unattached sink later, on its own
/// thread and outside `catch_unwind`: the panic killed the drain and the recording.
#[test]
fn a_cancelled_sink_whose_drop_panics_fails_alone() {
    let (rec, gate, _) = stuck_recording("drop-panics", SinkPolicy::Block);
    let dropped = Arc::new(AtomicBool::new(false));
    let set = rec.set_sinks_by(
        PanicsWhenDropped(dropped.clone()),
        Instant::now() + Duration::from_millis(200),
    );
    let dropped_by_then = dropped.load(Ordering::SeqCst);
    assert!(matches!(set, Err(RecordingError::Deadline(_))), "{set:?}");
    gate.open();
    rec.log(&EntityPath::parse("p").unwrap(), &point(9))
        .unwrap();
    // The drain serves requests in order: this flush is answered only after the drain
    // reached the cancelled `set_sinks` (where it used to drop the sink).
    let flushed = rec.flush(secs(10));
    let report = rec.shutdown(secs(10));
    eprintln!("flush -> {flushed:?}\n{report}");
    assert!(flushed.is_ok(), "the recording died: flush {flushed:?}");
    assert!(report.is_complete(), "{report}");
    assert!(
        dropped_by_then,
        "set_sinks_by gave up and returned, but the sink it was given was not dropped yet"
    );
}

/// A sink that closes fine but panics when dropped (a finaliser in `Drop`) is reported
/// failed, with the panic's message, and not complete. Before, the worker stored
/// `closed_cleanly` before dropping the sink: the report said failed *and* complete.
#[test]
fn a_sink_that_panics_when_dropped_is_reported_failed_and_incomplete() {
    let rec = Recording::builder("drop-after-close")
        .sinks(PanicsWhenDropped::default())
        .start()
        .unwrap();
    rec.log(&EntityPath::parse("p").unwrap(), &point(0))
        .unwrap();
    let report = rec.shutdown(secs(10));
    eprintln!("{report}");
    let s = &report.sinks[0];
    assert!(s.stats.failed, "the panic in Drop went unreported: {s}");
    assert!(
        s.stats
            .error
            .as_deref()
            .is_some_and(|e| e.contains("finaliser failed")),
        "{s}"
    );
    assert!(!s.closed_cleanly && !s.is_complete(), "{s}");
    assert!(!report.is_complete(), "{report}");
}

/// A panic payload whose own `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the panic payload's Drop panics too");
    }
}

/// Accepts `ok` writes, then panics with a [`Bomb`] payload.
struct BombSink {
    ok: u64,
    seen: u64,
}

impl Sink for BombSink {
    fn name(&self) -> String {
        "bomb".into()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
        self.seen += 1;
        if self.seen > self.ok {
            std::panic::panic_any(Bomb);
        }
        Ok(())
    }
}

/// A sink that panics with a payload whose `Drop` panics too fails alone, and every
/// message it was handed is counted: delivered or dropped. Before, the worker dropped the
/// payload outside `catch_unwind`: the second panic unwound the worker thread before the
/// message in hand was counted, and the shutdown joined the dead worker as if it had
/// closed in time.
#[test]
fn a_panic_payload_that_panics_on_drop_is_contained_and_counted() {
    // Accepts the preamble and one chunk, then panics.
    let rec = Recording::builder("bomb")
        .sinks(
            BombSink {
                ok: PREAMBLE_MESSAGES + 1,
                seen: 0,
            }
            .with_policy(SinkPolicy::DropNewest),
        )
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..5 {
        rec.log(&e, &point(j)).unwrap();
        // One message at a time, so the queue is never full: what is dropped is dropped
        // because the sink failed.
        let _ = rec.flush(secs(2));
    }
    let report = rec.shutdown(secs(10));
    let s = &report.sinks[0].stats;
    eprintln!("{report}\nqueued_bytes after close: {}", s.queued_bytes);
    assert!(s.failed, "{s}");
    assert_eq!(
        s.messages + s.dropped(),
        PREAMBLE_MESSAGES + 5,
        "the preamble (SetStoreInfo, properties) + 5 chunks: {s}"
    );
    assert_eq!(s.rows + s.rows_dropped(), 5, "{s}");
    assert_eq!(s.queued_bytes, 0, "{s}");
}

/// A sink whose `flush` fails is reported in `flush`'s `Losses` under its own name, even
/// when the name holds `": "` (names are free text). Before, the failure travelled as
/// `"name: why"` and was split at the first `": "`: the loss went to a name no sink has.
#[test]
fn a_flush_failure_is_reported_under_the_sinks_own_name() {
    struct FailsFlush;
    impl Sink for FailsFlush {
        fn name(&self) -> String {
            "camera: left".into()
        }
        fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
            Ok(())
        }
        fn flush(&mut self, _: Instant) -> Result<(), SinkError> {
            Err(SinkError::Io(std::io::Error::other("disk gone")))
        }
    }
    let rec = Recording::builder("names")
        .sinks(FailsFlush)
        .start()
        .unwrap();
    rec.log(&EntityPath::parse("p").unwrap(), &point(0))
        .unwrap();
    let err = rec.flush(secs(10)).unwrap_err();
    let _ = rec.shutdown(secs(10));
    let RecordingError::Lost(losses) = &err else {
        panic!("{err}")
    };
    let names: Vec<&str> = losses.sinks.iter().map(|s| s.name.as_str()).collect();
    eprintln!("{err}\nloss entries: {names:?}");
    assert_eq!(names, ["camera: left"], "{err}");
}

/// A caller that flushes in a loop (a periodic "make it durable" tick) against a sink stuck
/// in `write` holds one flush job, not one per call: once the sink is let go it is flushed
/// once for the lot (plus once for the last, patient flush), whether the stuck sink holds
/// the drain up (`Block`) or not (`DropNewest`). Before, every `flush` queued a job of its
/// own — on the stuck worker's unbounded channel, or as a request in the held-up drain's —
/// and memory grew with every call, without bound.
///
/// The sink's flush count is exact where process RSS is not: the other tests of this
/// binary allocate and free in the same process meanwhile, and RSS says nothing of the
/// count of jobs.
#[test]
fn flushes_against_a_stuck_sink_coalesce_into_one_job() {
    const FLUSHES: usize = 10_000;
    for policy in [SinkPolicy::DropNewest, SinkPolicy::Block] {
        let (rec, gate, flushes) = stuck_recording("flush-pileup", policy);
        for _ in 0..FLUSHES {
            // Gives up at once: the sink is stuck.
            let _ = rec.flush(Instant::now());
        }
        assert_eq!(
            flushes.load(Ordering::SeqCst),
            0,
            "{policy:?}: the sink is stuck"
        );
        gate.open();
        // Answered once everything asked before it was served.
        let last = rec.flush(secs(10));
        let n = flushes.load(Ordering::SeqCst);
        let _ = rec.shutdown(secs(10));
        eprintln!(
            "{policy:?}: {FLUSHES} flushes behind a stuck sink, then one: {n} sink flushes; last -> {last:?}"
        );
        assert!(
            !matches!(
                last,
                Err(RecordingError::Deadline(_) | RecordingError::Closed)
            ),
            "{policy:?}: {last:?}"
        );
        assert!(
            (1..=2).contains(&n),
            "{policy:?}: {FLUSHES} flushes behind a stuck sink made it flush {n} times"
        );
    }
}

/// A `FileSink` handed to a `set_sinks_by` that gives up is dropped before the call
/// returns, so the caller's natural retry — the same file again — can take the file.
/// Before, the drain dropped the unattached sink only when it got to the request: until
/// then the file stayed locked (`FileSinkError::Locked`).
#[test]
fn a_cancelled_file_sink_lets_go_of_its_file() {
    use spate::sink::{FileSink, FileSinkError, FileSinkOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("next.rrd");
    let (rec, gate, _) = stuck_recording("cancelled-file", SinkPolicy::Block);
    let file = FileSink::create(&path, FileSinkOptions::default()).unwrap();
    let set = rec.set_sinks_by(file, Instant::now() + Duration::from_millis(200));
    assert!(matches!(set, Err(RecordingError::Deadline(_))), "{set:?}");
    let retry = FileSink::create(&path, FileSinkOptions::default());
    eprintln!(
        "set_sinks_by -> {set:?}; creating the same file again -> {:?}",
        retry.as_ref().err()
    );
    let _ = rec.shutdown(Instant::now() + Duration::from_millis(300));
    gate.open();
    assert!(
        !matches!(retry, Err(FileSinkError::Locked { .. })),
        "the sink set_sinks said it dropped still holds its file"
    );
    retry.unwrap();
}

/// `flush` never says `Ok` while a `GrpcSink` whose viewer is not running holds every
/// message unconfirmed: the sink's flush reports the deadline (`SinkError::Deadline`), so
/// the recording's does too. Before, the sink's flush said `Ok` at its deadline and the
/// recording's flush said `Ok` or `Deadline` depending on which timer fired first: `Ok`
/// with nothing delivered and nothing reported lost.
#[test]
fn flush_is_never_ok_while_an_unreachable_grpc_sink_holds_everything() {
    let url = unreachable_grpc_url();
    let sink = spate::sink::GrpcSink::connect(&url).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("grpc-flush")
        .sinks(sink)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    let mut results = Vec::new();
    // Twenty races of the sink's answer against the caller's timer.
    for j in 0..20 {
        rec.log(&e, &point(j)).unwrap();
        let r = rec.flush(Instant::now() + Duration::from_millis(50));
        results.push(match r {
            Ok(()) => "Ok",
            Err(RecordingError::Deadline(_)) => "Deadline",
            Err(RecordingError::Lost(_)) => "Lost",
            Err(_) => "other",
        });
    }
    let g = state.stats();
    let _ = rec.shutdown(Instant::now() + Duration::from_millis(300));
    let oks = results.iter().filter(|r| **r == "Ok").count();
    eprintln!(
        "flush results: {results:?}\ngrpc: {} confirmed of {} written",
        g.confirmed_messages, g.written_messages
    );
    assert_eq!(g.confirmed_messages, 0);
    assert_eq!(
        oks, 0,
        "flush said Ok {oks} times while nothing was delivered"
    );
}

/// A sink whose `flush` blocks until the test lets go (or 20 s); it says when it starts.
struct SlowFlush {
    entered: Mutex<std::sync::mpsc::Sender<()>>,
    release: Mutex<Receiver<()>>,
}

impl Sink for SlowFlush {
    fn name(&self) -> String {
        "slow-flush".into()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&mut self, _: Instant) -> Result<(), SinkError> {
        let _ = self.entered.lock().unwrap().send(());
        // The stall under test.
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
        Ok(())
    }
}

/// A relay's shutdown counts every message a `send` accepted — delivered or dropped — while
/// a `Relay::flush` is stuck in a sink's `flush`: the flush waits on its caller's thread,
/// so the relay thread goes on dispatching. Before, the relay thread itself waited out the
/// flush's deadline; the shutdown gave up meanwhile, and the messages still in the inbox
/// were in no sink's counters.
#[test]
fn relay_shutdown_counts_every_message_while_a_flush_is_stuck() {
    let (entered_tx, entered) = channel();
    let (release, rx) = channel::<()>();
    let relay = Arc::new(
        spate::server::Relay::start(SlowFlush {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(rx),
        })
        .unwrap(),
    );
    let store = spate::wire::StoreInfo::new("relay", "uncounted").unwrap();
    relay
        .send_blocking(EncodedMessage::set_store_info(&store))
        .unwrap();
    let flusher = {
        let relay = relay.clone();
        std::thread::spawn(move || relay.flush(secs(30)))
    };
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the sink's flush started");
    for _ in 0..10 {
        relay
            .send_blocking(EncodedMessage::set_store_info(&store))
            .unwrap();
    }
    let r = relay.clone();
    let report = within(Duration::from_secs(30), "relay shutdown", move || {
        r.shutdown(Instant::now() + Duration::from_millis(200))
    });
    drop(release);
    within(Duration::from_secs(30), "the stuck flush", move || {
        flusher.join().unwrap()
    });
    let s = &report.sinks[0].stats;
    eprintln!("report: {} messages accepted; sink: {s}", report.messages);
    assert_eq!(report.messages, 11);
    assert_eq!(
        s.messages + s.dropped(),
        report.messages,
        "accepted messages in no counter: {report:?}"
    );
}
