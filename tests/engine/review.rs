//! Review (adversarial): ways the promise still breaks. Each test asserts what the promise
//! says and fails on the current engine; the doc comment says what breaks and where.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spate::wire::EncodedMessage;
use spate::{
    BatchPolicy, EntityPath, LanePolicy, MemorySink, Points3D, Recording, RecordingError, Sink,
    SinkError, SinkExt, SinkPolicy,
};

use crate::common::{GatedSink, wait_until, within};

fn secs(s: u64) -> Instant {
    Instant::now() + Duration::from_secs(s)
}

fn point(j: usize) -> Points3D {
    Points3D::new(vec![[j as f32; 3]])
}

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

/// `Sink::name()` is user code; a name with a NUL byte makes `std::thread::Builder::spawn`
/// panic ("thread name may not contain interior null bytes") inside `SinkWorker::start`,
/// which `set_sinks` runs on the drain thread, outside any `catch_unwind`. The drain thread
/// dies: the recording is dead though nobody shut it down — the sink that was attached is
/// never closed, `flush` says `Closed`, and a producer whose lane fills blocks with no end.
#[test]
fn review_a_sink_name_with_a_nul_byte_kills_the_drain() {
    let (memory, got) = MemorySink::new();
    let rec = Recording::builder("nul-name")
        .sinks(memory)
        .lane_slots(4)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    rec.log(&e, &point(0)).unwrap();
    rec.flush(secs(10)).unwrap();
    let set = rec.set_sinks_by(Named("evil\0name".into()), secs(10));
    // The promise: a sink's oddity fails that sink alone. The recording goes on.
    let flushed = rec.flush(secs(10));
    let after = rec.stats();
    let r = rec.clone();
    let producer = std::thread::spawn(move || {
        for j in 0..64 {
            if r.log(&EntityPath::parse("q").unwrap(), &point(j)).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    while !producer.is_finished() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let producer_done = producer.is_finished();
    let report = rec.shutdown(secs(10));
    eprintln!(
        "set_sinks -> {set:?}\nflush -> {flushed:?}\nproducer finished: {producer_done}\n{report}"
    );
    assert!(
        flushed.is_ok(),
        "the recording died with the sink: set_sinks {set:?}, flush {flushed:?}\n{after}"
    );
    assert!(producer_done, "a producer blocked on a full lane forever");
    assert!(report.sinks.iter().any(|s| s.closed_cleanly), "{report}");
    drop(got);
}

/// A sink whose `name()` takes long (it is user code: a lookup, a lock). `set_sinks_by` runs
/// it on the drain after taking the claim, and the caller, its deadline passed and its
/// cancel refused, waits with a bare `recv()`: the call returns when `name()` does, not at
/// its deadline (src/recording.rs: `rx.recv()` after `claim.cancel()` failed; the drain
/// calls `SinkWorker::start` → `sink.name()` in src/sink/worker.rs).
#[test]
fn review_set_sinks_overruns_its_deadline_while_a_new_sinks_name_blocks() {
    struct SlowName(Arc<Mutex<Receiver<()>>>);
    impl Sink for SlowName {
        fn name(&self) -> String {
            // Blocks until the test releases it (or 6 s).
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
            SlowName(Arc::new(Mutex::new(rx))),
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

/// A sink whose `Drop` panics, handed to `set_sinks_by` while the drain is held up: the
/// caller's deadline passes, it cancels, and the drain later drops the unstarted sink on its
/// own thread, outside `catch_unwind` (src/drain/mod.rs `replace_sinks`: `return` drops
/// `specs`). The drain thread dies; the recording is dead, its current sink never closed.
#[test]
fn review_a_cancelled_sink_whose_drop_panics_kills_the_drain() {
    struct PanicOnDrop;
    impl Sink for PanicOnDrop {
        fn name(&self) -> String {
            "panic-on-drop".into()
        }
        fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
            Ok(())
        }
    }
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("PanicOnDrop dropped");
        }
    }
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("drop-panics")
        .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..3 {
        rec.log(&e, &point(j)).unwrap();
    }
    // The drain is stuck dispatching to the gated sink: this call gives up and cancels.
    let set = rec.set_sinks_by(PanicOnDrop, Instant::now() + Duration::from_millis(200));
    assert!(matches!(set, Err(RecordingError::Deadline(_))), "{set:?}");
    gate.open();
    // The drain now serves the cancelled request and drops the sink.
    std::thread::sleep(Duration::from_millis(500));
    rec.log(&e, &point(9)).unwrap();
    let flushed = rec.flush(secs(10));
    let report = rec.shutdown(secs(10));
    eprintln!("flush -> {flushed:?}\n{report}");
    assert!(flushed.is_ok(), "the recording died: flush {flushed:?}");
    assert!(report.is_complete(), "{report}");
}

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// `set_sinks` in a loop (e.g. "reconnect the viewer" pressed again and again while no
/// viewer runs): each replaced `GrpcSink` closes with `RETIRE_DEADLINE` = 1 h
/// (src/drain/mod.rs), retrying its connection until then. Every one of them keeps its
/// worker thread, its gRPC thread and its buffer alive; the `MAX_RETIRED_REPORTS` cap only
/// folds sinks that *finished* closing (src/drain/hub.rs `retire_sink`). Threads, sinks in
/// `stats()` and buffered bytes grow with every call, without bound.
#[test]
fn review_set_sinks_in_a_loop_keeps_every_replaced_sink_alive() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("rerun+http://127.0.0.1:{port}/proxy");
    let rec = Recording::builder("reconnect")
        .sinks(spate::sink::GrpcSink::connect(&url).unwrap())
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    let before = threads_now();
    const ROUNDS: usize = 150;
    for j in 0..ROUNDS {
        rec.log(&e, &point(j)).unwrap();
        rec.set_sinks(spate::sink::GrpcSink::connect(&url).unwrap())
            .unwrap();
    }
    // Replaced sinks still closing are capped, and each gets a short close deadline: the
    // threads come back down (the user's own `GrpcSink::connect` calls start a thread each,
    // which ends when its sink is closed or given up).
    let settled = Instant::now();
    while threads_now().saturating_sub(before) >= 64 && settled.elapsed() < Duration::from_secs(30)
    {
        std::thread::yield_now();
    }
    let s = rec.stats();
    let live_retired = s
        .sinks
        .iter()
        .filter(|k| k.retired && !k.name.starts_with("earlier sinks"))
        .count();
    let threads = threads_now().saturating_sub(before);
    let held: u64 = s
        .sinks
        .iter()
        .filter_map(|k| k.grpc.as_ref().map(|g| g.queued_bytes))
        .sum();
    eprintln!(
        "after {ROUNDS} set_sinks: {} sinks in stats ({live_retired} replaced ones still live), \
         {threads} more threads, {held} bytes held by gRPC buffers",
        s.sinks.len()
    );
    let t = Instant::now();
    let report = rec.shutdown(Instant::now() + Duration::from_secs(5));
    eprintln!(
        "shutdown took {:?}: {} sink reports",
        t.elapsed(),
        report.sinks.len()
    );
    // The current sink, at most 16 still closing, 64 final reports and one folded entry.
    assert!(
        s.sinks.len() <= 1 + 16 + 64 + 1 && threads < 64,
        "replaced sinks are not bounded: {} sinks ({live_retired} replaced), {threads} more \
         threads",
        s.sinks.len()
    );
}

/// A sink that refuses everything (its first write fails).
struct Refusing;

impl Sink for Refusing {
    fn name(&self) -> String {
        "refusing".into()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
        Err(SinkError::Io(std::io::Error::other("refused")))
    }
}

/// `flush` reports each loss once ("each thread hears of every loss once"). After 64
/// replaced sinks, `retire_sink` folds the oldest report into the next one, which keeps
/// that one's id (src/drain/hub.rs `retire_sink`/`fold_into`); `Losses::between` matches
/// sinks by id (src/stats.rs), so the losses of the folded sink look new and are reported
/// again — at every later fold. The sum of losses reported exceeds what was lost.
#[test]
fn review_flush_reports_old_losses_again_once_retired_sinks_fold() {
    let rec = Recording::builder("fold")
        .sinks(Refusing)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    let mut reported_rows = 0u64;
    let mut reported_messages = 0u64;
    let mut add = |r: Result<(), RecordingError>| match r {
        Ok(()) => {}
        Err(RecordingError::Lost(l)) => {
            reported_rows += l.sinks.iter().map(|s| s.rows).sum::<u64>();
            reported_messages += l.sinks.iter().map(|s| s.messages).sum::<u64>();
        }
        Err(other) => panic!("{other}"),
    };
    const ROUNDS: usize = 100;
    for j in 0..ROUNDS {
        rec.log(&e, &point(j)).unwrap();
        add(rec.flush(secs(10)));
        rec.set_sinks(Refusing).unwrap();
        // Let the replaced sink close and fold.
        wait_until(Duration::from_secs(10), "replaced sink closed", || {
            // 64 reports, then the older ones folded into one entry.
            rec.stats().sinks.iter().filter(|s| s.retired).count() == (j + 1).min(65)
        });
    }
    add(rec.flush(secs(10)));
    let s = rec.stats();
    let lost_rows: u64 = s.sinks.iter().map(|k| k.rows_dropped()).sum();
    let lost_messages: u64 = s.sinks.iter().map(|k| k.dropped()).sum();
    eprintln!(
        "really lost: {lost_messages} messages / {lost_rows} rows; flushes reported \
         {reported_messages} messages / {reported_rows} rows"
    );
    let _ = rec.shutdown(secs(10));
    assert_eq!(lost_rows, ROUNDS as u64);
    assert_eq!(
        (reported_messages, reported_rows),
        (lost_messages, lost_rows),
        "flush reported losses more than once"
    );
}

/// What a `log()` from a thread-local destructor did: 0 = Ok, 1 = Err, 2 = panicked.
static TLS_OUTCOME: AtomicU64 = AtomicU64::new(u64::MAX);

struct LogOnThreadExit {
    rec: Recording,
    contain: bool,
}

impl Drop for LogOnThreadExit {
    fn drop(&mut self) {
        let e = EntityPath::parse("exit").unwrap();
        if self.contain {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.rec.log(&e, &point(1))
            }));
            TLS_OUTCOME.store(
                match r {
                    Ok(Ok(())) => 0,
                    Ok(Err(_)) => 1,
                    Err(_) => 2,
                },
                Ordering::SeqCst,
            );
        } else {
            let _ = self.rec.log(&e, &point(1));
        }
    }
}

thread_local! {
    static ON_EXIT: std::cell::RefCell<Option<LogOnThreadExit>> =
        const { std::cell::RefCell::new(None) };
}

/// A thread that logs, then exits, holding a thread-local whose destructor logs once more
/// (a per-thread "flush what I have at exit" guard). `log` reaches the engine's own
/// thread-local `LOCAL` through `LOCAL.with` (src/recording.rs `with_local`); when `LOCAL`
/// was destroyed first (destructors run in reverse order of first use) `with` panics —
/// and a panic in a thread-local destructor aborts the process. Here the panic is caught to
/// show it; `review_tls_abort_child` lets it escape, in a child process.
#[test]
fn review_log_from_a_thread_local_destructor_panics() {
    let rec = Recording::builder("tls").start().unwrap();
    let r = rec.clone();
    std::thread::spawn(move || {
        // First use of the user's thread-local, then of spate's (first `log`).
        ON_EXIT.with(|g| {
            *g.borrow_mut() = Some(LogOnThreadExit {
                rec: r.clone(),
                contain: true,
            });
        });
        r.log(&EntityPath::parse("t").unwrap(), &point(0)).unwrap();
    })
    .join()
    .unwrap();
    let outcome = TLS_OUTCOME.load(Ordering::SeqCst);
    let _ = rec.shutdown(secs(10));
    assert_ne!(outcome, 2, "log() panicked in a thread-local destructor");
}

/// The same, uncaught, in a child process (run by `review_log_from_a_thread_local_
/// destructor_aborts_the_process`): the process aborts.
#[test]
fn review_tls_abort_child() {
    if std::env::var_os("SPATE_REVIEW_TLS_CHILD").is_none() {
        return;
    }
    let rec = Recording::builder("tls-child").start().unwrap();
    let r = rec.clone();
    std::thread::spawn(move || {
        ON_EXIT.with(|g| {
            *g.borrow_mut() = Some(LogOnThreadExit {
                rec: r.clone(),
                contain: false,
            });
        });
        r.log(&EntityPath::parse("t").unwrap(), &point(0)).unwrap();
    })
    .join()
    .unwrap();
    let _ = rec.shutdown(secs(10));
}

#[test]
fn review_log_from_a_thread_local_destructor_aborts_the_process() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "review::review_tls_abort_child", "--nocapture"])
        .env("SPATE_REVIEW_TLS_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "child: {:?}\n{}",
        out.status,
        stderr
            .lines()
            .filter(|l| !l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(out.status.success(), "the process died: {:?}", out.status);
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

/// A sink that panics with a payload whose `Drop` panics: `call` (src/sink/worker.rs)
/// catches the first panic, marks the sink failed, and drops the payload at the end of the
/// match arm, outside `catch_unwind`: the second panic unwinds the worker thread out of
/// `serve` before the message in hand is counted (neither `rows` nor `dropped_failed`), and
/// its `queued_bytes` are never given back. The shutdown then joins the dead worker as if
/// it closed in time, so the message is in no counter: `rows + rows_dropped()` is short of
/// what the sink was handed.
#[test]
fn review_a_panic_payload_that_panics_on_drop_loses_a_message_uncounted() {
    let rec = Recording::builder("bomb")
        .sinks(BombSink { ok: 2, seen: 0 }.with_policy(SinkPolicy::DropNewest))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..5 {
        rec.log(&e, &point(j)).unwrap();
        // One message at a time, so the queue is never full. (The flush in the worker's
        // queue when it died is dropped unacknowledged: that flush waits its deadline out.)
        let _ = rec.flush(secs(2));
    }
    let report = rec.shutdown(secs(10));
    let s = &report.sinks[0].stats;
    eprintln!("{report}\nqueued_bytes after close: {}", s.queued_bytes);
    assert_eq!(s.messages + s.dropped(), 6, "SetStoreInfo + 5 chunks: {s}");
    assert_eq!(s.rows + s.rows_dropped(), 5, "{s}");
}

/// "Every wait has a deadline": a second `shutdown` with a short deadline, while a first
/// one with a long deadline is in progress, waits for the first one's report on a condvar
/// without a timeout (src/recording.rs `shutdown`, `ShutdownState::InProgress`): its own
/// deadline is ignored. (Likewise a `shutdown` whose first caller panicked mid-way would
/// wait forever.)
#[test]
fn review_a_second_shutdown_ignores_its_own_deadline() {
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("second-shutdown")
        .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..3 {
        rec.log(&e, &point(j)).unwrap();
    }
    let first = {
        let rec = rec.clone();
        std::thread::spawn(move || rec.shutdown(Instant::now() + Duration::from_secs(6)))
    };
    std::thread::sleep(Duration::from_millis(200));
    let r = rec.clone();
    let elapsed = within(Duration::from_secs(30), "second shutdown", move || {
        let t = Instant::now();
        let _ = r.shutdown(Instant::now() + Duration::from_millis(300));
        t.elapsed()
    });
    gate.open();
    let _ = first.join();
    eprintln!("shutdown(300 ms) returned after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "shutdown with a 300 ms deadline returned after {elapsed:?}"
    );
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A sink stuck in `write` (a hung network call) with `DropNewest`: the drain is not held
/// up, so every `flush` is served and queues a `SinkJob::Flush` (with its `Arc<Ticket>`)
/// on the stuck worker's unbounded channel (src/sink/worker.rs `SinkWorker::flush`; only
/// `Write` jobs count against `max_queue_bytes`). A caller that flushes with a short
/// deadline in a loop (a periodic "make it durable" tick) grows memory without bound. (A
/// drain held up by a `Block` sink piles the `Request`s up the same way, in the drain's
/// request channel.)
#[test]
fn review_flushes_pile_up_without_bound_behind_a_stuck_sink() {
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("flush-pileup")
        .sinks(gated.with_policy(SinkPolicy::DropNewest).max_queue_bytes(1))
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let r = rec.clone();
    let grew = within(Duration::from_secs(120), "flush loop", move || {
        // Warm up, then measure.
        for _ in 0..20_000 {
            let _ = r.flush(Instant::now());
        }
        let before = rss_bytes();
        for _ in 0..400_000 {
            let _ = r.flush(Instant::now());
        }
        // Let the drain serve what is still in its request channel.
        std::thread::sleep(Duration::from_millis(500));
        rss_bytes().saturating_sub(before)
    });
    eprintln!(
        "400k flushes behind a stuck sink: RSS grew by {} MB",
        grew >> 20
    );
    let _ = rec.shutdown(Instant::now() + Duration::from_millis(300));
    gate.open();
    assert!(grew < 16 << 20, "memory grew by {} MB", grew >> 20);
}

/// A sink whose `flush` blocks until the test releases it (or 20 s).
struct SlowFlush {
    release: Arc<Mutex<Receiver<()>>>,
}

impl Sink for SlowFlush {
    fn name(&self) -> String {
        "slow-flush".into()
    }
    fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&mut self, _: Instant) -> Result<(), SinkError> {
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(20));
        Ok(())
    }
}

/// The relay promises "every message a `send` accepted is delivered or counted". A
/// `Relay::flush` holds the `spate-relay` thread in `ticket.wait(flush deadline)`
/// (src/sink/relay.rs `run`, `InboxItem::Flush`) — the caller's deadline, not the
/// shutdown's. A `shutdown` meanwhile gives up after its deadline + 1 s and reports
/// `sinks.iter().map(abandon)`: the messages still in the inbox were never dispatched, so no
/// sink counts them — `report.messages` is more than any sink's delivered + dropped.
#[test]
fn review_relay_shutdown_leaves_inbox_messages_uncounted() {
    let (release, rx) = channel::<()>();
    let relay = Arc::new(
        spate::sink::Relay::start(SlowFlush {
            release: Arc::new(Mutex::new(rx)),
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
    std::thread::sleep(Duration::from_millis(200));
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
    let _ = flusher.join();
    let s = &report.sinks[0].stats;
    eprintln!("report: {} messages accepted; sink: {s}", report.messages);
    assert_eq!(
        s.messages + s.dropped(),
        report.messages,
        "accepted messages in no counter: {report:?}"
    );
}

/// `Relay::flush` checks `closed`, then pushes its `Flush` item — without the `sending`
/// handshake `try_send` uses (src/sink/relay.rs `flush`). A flush racing a shutdown can
/// push after the `Close` item: the relay thread has returned, nobody answers, and the
/// flush waits its whole deadline (forever, for a far one) instead of returning `false` at
/// once; in debug builds the relay thread also trips its
/// `debug_assert!(inbox.queue.is_empty())`.
#[test]
fn review_relay_flush_racing_shutdown_waits_out_its_deadline() {
    let store = spate::wire::StoreInfo::new("relay", "flush-race").unwrap();
    let started = Instant::now();
    let mut runs = 0;
    let mut slow = Vec::new();
    while slow.is_empty() && started.elapsed() < Duration::from_secs(60) {
        runs += 1;
        let (sink, _m) = MemorySink::new();
        let relay = Arc::new(spate::sink::Relay::start(sink).unwrap());
        relay
            .send_blocking(EncodedMessage::set_store_info(&store))
            .unwrap();
        // Flushers hammer flush() until it refuses (the relay closed).
        let flushers: Vec<_> = (0..2)
            .map(|_| {
                let relay = relay.clone();
                std::thread::spawn(move || {
                    let mut worst = Duration::ZERO;
                    loop {
                        let t = Instant::now();
                        let ok = relay.flush(Instant::now() + Duration::from_secs(2));
                        worst = worst.max(t.elapsed());
                        if !ok {
                            return worst;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(200));
        let _ = relay.shutdown(secs(10));
        for f in flushers {
            let worst = f.join().unwrap();
            if worst >= Duration::from_millis(1500) {
                slow.push(worst);
            }
        }
    }
    eprintln!("{runs} runs; flushes that waited out their deadline: {slow:?}");
    assert!(
        slow.is_empty(),
        "a flush racing shutdown waited out its deadline"
    );
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime, stime (fields 14 and 15) in clock ticks of 10 ms.
    Duration::from_millis((f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 10)
}

/// `Relay::send_blocking` decides whether to sleep with `has_room(msg.len())`, but
/// `try_send` admits by `has_room(msg.retained_bytes())` (src/sink/relay.rs). For a message
/// that pins more than it encodes (a view into a larger allocation: the very case the
/// retained-bytes accounting is for), the inbox is "full" for `try_send` and "has room" for
/// the wait: `send_blocking` never sleeps, it spins (and takes the room lock) for as long
/// as the inbox stays full.
#[test]
fn review_relay_send_blocking_spins_on_a_message_that_pins_more_than_it_encodes() {
    let (gated, gate, started) = GatedSink::new();
    let relay = Arc::new(
        spate::sink::Relay::start_with(
            gated.with_policy(SinkPolicy::Block).max_queue_bytes(1),
            1 << 20,
        )
        .unwrap(),
    );
    let store = spate::wire::StoreInfo::new("relay", "spin").unwrap();
    let info = || EncodedMessage::set_store_info(&store);
    relay.send_blocking(info()).unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    // The worker is stuck in write; the next message holds the relay thread (Block), the
    // rest wait in the inbox.
    for _ in 0..3 {
        relay.send_blocking(info()).unwrap();
    }
    // One point in a Vec with room for a million: ~2 kB encoded, 12 MB pinned.
    let mut v = Vec::with_capacity(1_000_000);
    v.push([1.0f32; 3]);
    let chunk = spate::Chunk::from_row(
        EntityPath::parse("p").unwrap(),
        spate::RowId::new(),
        &spate::TimePoint::default(),
        &Points3D::new(v),
    )
    .unwrap();
    let pinned = EncodedMessage::arrow_msg(&chunk, &store, spate::wire::Compression::Off).unwrap();
    assert!(pinned.retained_bytes() > 1 << 20 && (pinned.len() as u64) < 1 << 16);
    let sender = {
        let relay = relay.clone();
        std::thread::spawn(move || {
            let (cpu, wall) = (thread_cpu(), Instant::now());
            relay.send_blocking(pinned).unwrap();
            (thread_cpu() - cpu, wall.elapsed())
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    gate.open();
    let (cpu, wall) = within(Duration::from_secs(30), "send_blocking", move || {
        sender.join().unwrap()
    });
    let _ = relay.shutdown(secs(10));
    eprintln!("send_blocking waited {wall:?} and burnt {cpu:?} of CPU");
    assert!(
        cpu < wall / 4,
        "send_blocking spun: {cpu:?} of CPU in {wall:?}"
    );
}

/// `flush` returning `Ok` claims the rows reached every sink. A `GrpcSink` whose viewer is
/// not running holds every message unconfirmed and returns `Ok` from its own `flush` at the
/// deadline (by design, src/sink/grpc/mod.rs); the recording's `flush` then says `Ok` or
/// `Deadline` depending on whether the sink's ack or the caller's timer fires first. With
/// `Ok` nothing was delivered and nothing is reported lost.
#[test]
fn review_flush_says_ok_while_an_unreachable_grpc_sink_holds_everything() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("rerun+http://127.0.0.1:{port}/proxy");
    let sink = spate::sink::GrpcSink::connect(&url).unwrap();
    let state = sink.state_handle();
    let rec = Recording::builder("grpc-flush")
        .sinks(sink)
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    let e = EntityPath::parse("p").unwrap();
    let mut results = Vec::new();
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

/// The final pass gives up at the deadline while a producer is still inside a `Block`
/// push it entered before the gate closed (src/drain/mod.rs `final_pass` returns `false`;
/// `shutdown` counts `rows_left` from the counters right then). The producer, woken by the
/// final pass's own pops, then pushes its row and `log()` returns `Ok`: the row is behind
/// the final pass — never drained, not in `rows_abandoned`, and (if the report's snapshot
/// came first) not in the report's `rows_logged` either.
#[test]
fn review_a_blocked_producer_pushes_behind_a_final_pass_that_gave_up() {
    let started_at = Instant::now();
    let mut runs = 0;
    let mut broken = Vec::new();
    while broken.is_empty() && started_at.elapsed() < Duration::from_secs(60) {
        runs += 1;
        let (gated, gate, started) = GatedSink::new();
        let rec = Recording::builder("late-push")
            .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
            .lane_slots(2)
            .lane_policy(LanePolicy::Block)
            .batch(BatchPolicy::unbatched())
            .start()
            .unwrap();
        let producers: Vec<_> = (0..8)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    let e = EntityPath::parse(&format!("t{t}")).unwrap();
                    let mut ok = 0u64;
                    for j in 0..1000 {
                        match rec.log(&e, &point(j)) {
                            Ok(()) => ok += 1,
                            Err(_) => break,
                        }
                    }
                    ok
                })
            })
            .collect();
        started.recv_timeout(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // "Do not wait": the deadline passes while the blocked producers are still inside
        // their push (a longer one does too when a producer is not scheduled in time).
        let report = rec.shutdown(Instant::now());
        gate.open();
        let ok: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
        std::thread::sleep(Duration::from_millis(20));
        let s = rec.stats();
        if report.rows_logged() != ok || s.rows_drained + s.rows_abandoned != s.rows_logged() {
            broken.push(format!(
                "Ok logs {ok}; report: rows_logged {}, drained {}, abandoned {}; later: \
                 rows_logged {}, drained {}, abandoned {}",
                report.rows_logged(),
                report.stats.rows_drained,
                report.stats.rows_abandoned,
                s.rows_logged(),
                s.rows_drained,
                s.rows_abandoned
            ));
        }
    }
    eprintln!("{runs} runs: {broken:?}");
    assert!(
        broken.is_empty(),
        "an Ok row behind the final pass: {broken:?}"
    );
}

/// `reap_retiring` (src/drain/mod.rs) publishes the live view without the sinks that
/// finished closing, then joins each one and only then hands its report to the hub
/// (`retire_sink`). A `stats()` in between sees the sink nowhere: its counters vanish from
/// the totals for a moment — and a `flush` whose snapshot falls there stores a baseline
/// without it, so its next flush reports that sink's old losses again.
#[test]
fn review_a_replaced_sink_vanishes_from_stats_while_it_is_reaped() {
    let rec = Recording::builder("vanish")
        .sinks(spate::sink::NullSink)
        .start()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (rec, stop) = (rec.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            let mut vanished = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let s = rec.stats();
                let now: std::collections::HashSet<u64> = s.sinks.iter().map(|k| k.id).collect();
                // Fewer than 64 replaced sinks: nothing is folded, every sink stays listed.
                for id in &seen {
                    if !now.contains(id) {
                        vanished.push(*id);
                    }
                }
                seen.extend(now);
            }
            vanished
        })
    };
    for _ in 0..60 {
        rec.set_sinks(spate::sink::NullSink).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let vanished = watcher.join().unwrap();
    let _ = rec.shutdown(secs(10));
    eprintln!("sinks missing from a stats() snapshot after being listed: {vanished:?}");
    assert!(
        vanished.is_empty(),
        "{} snapshots lost a sink",
        vanished.len()
    );
}

/// `flush` merges the sinks' flush failures into its `Losses` by splitting `"name: why"` at
/// the first `": "` (src/recording.rs `flush`). A sink whose name holds `": "` — names are
/// free text from `Sink::name()` — is reported under a name no sink has.
#[test]
fn review_flush_reports_a_loss_under_a_name_no_sink_has() {
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

/// A sink that closes fine but panics when dropped (a finaliser in `Drop`). The worker
/// stores `closed_cleanly = true` before it drops the sink (src/sink/worker.rs `serve`,
/// `SinkJob::Close`); the panic then marks it failed. The report says the sink failed —
/// and that it is complete.
#[test]
fn review_a_sink_that_panics_when_dropped_is_failed_and_complete() {
    struct PanicsInDrop;
    impl Sink for PanicsInDrop {
        fn name(&self) -> String {
            "panics-in-drop".into()
        }
        fn write(&mut self, _: &EncodedMessage) -> Result<(), SinkError> {
            Ok(())
        }
    }
    impl Drop for PanicsInDrop {
        fn drop(&mut self) {
            panic!("finaliser failed");
        }
    }
    let rec = Recording::builder("drop-after-close")
        .sinks(PanicsInDrop)
        .start()
        .unwrap();
    rec.log(&EntityPath::parse("p").unwrap(), &point(0))
        .unwrap();
    let report = rec.shutdown(secs(10));
    let s = &report.sinks[0];
    eprintln!("{report}\nis_complete: {}", report.is_complete());
    assert!(
        !(s.stats.failed && s.is_complete()),
        "a failed sink reported complete: {s}"
    );
}

/// `set_sinks_by` documents that when its deadline passes "the sinks are **not** changed:
/// the new ones are dropped unstarted". They are dropped only when the (stuck) drain
/// reaches the request (src/drain/mod.rs `replace_sinks`): until then a `FileSink` handed
/// over keeps its file locked, so the caller's natural retry — the same file again — fails
/// with `FileSinkError::Locked`, and the memory the specs hold stays in the request queue.
#[test]
fn review_a_cancelled_file_sink_keeps_its_file_locked() {
    use spate::sink::{FileSink, FileSinkError, FileSinkOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("next.rrd");
    let (gated, gate, started) = GatedSink::new();
    let rec = Recording::builder("cancelled-file")
        .sinks(gated.with_policy(SinkPolicy::Block).max_queue_bytes(1))
        .batch(BatchPolicy::unbatched())
        .start()
        .unwrap();
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    let e = EntityPath::parse("p").unwrap();
    for j in 0..3 {
        rec.log(&e, &point(j)).unwrap();
    }
    let file = FileSink::create(&path, FileSinkOptions::default()).unwrap();
    let set = rec.set_sinks_by(file, Instant::now() + Duration::from_millis(200));
    assert!(matches!(set, Err(RecordingError::Deadline(_))), "{set:?}");
    let retry = FileSink::create(&path, FileSinkOptions::default());
    let locked = matches!(retry, Err(FileSinkError::Locked { .. }));
    eprintln!(
        "set_sinks_by -> {set:?}; creating the same file again -> {:?}",
        retry.as_ref().err()
    );
    let _ = rec.shutdown(Instant::now() + Duration::from_millis(300));
    gate.open();
    assert!(
        !locked,
        "the sink set_sinks said it dropped still holds its file"
    );
}

/// `BatchPolicy`'s fields are public; "no age limit" reads naturally as
/// `max_delay: Duration::MAX`. `Batcher::next_deadline` computes `opened_at + max_delay`
/// (src/chunk/batcher.rs), which overflows `Instant` and panics — on the drain thread, the
/// first time it goes idle with an open batch. The recording is dead: `flush` says `Closed`.
#[test]
fn review_a_batch_max_delay_of_duration_max_kills_the_drain() {
    let (memory, _got) = MemorySink::new();
    let rec = Recording::builder("max-delay")
        .sinks(memory)
        .batch(BatchPolicy {
            max_delay: Duration::MAX,
            ..BatchPolicy::live()
        })
        .start()
        .unwrap();
    rec.log(&EntityPath::parse("p").unwrap(), &point(0))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let flushed = rec.flush(secs(10));
    let report = rec.shutdown(secs(10));
    eprintln!("flush -> {flushed:?}\n{report}");
    assert!(flushed.is_ok(), "{flushed:?}");
    assert!(report.is_complete(), "{report}");
}

/// `lane_slots` is a plain `usize`, and "no slot limit" reads as `lane_slots(usize::MAX)`.
/// The first `log()` on a thread allocates the ring (256 B a slot): `usize::MAX` panicked
/// out of `log()` (rtrb's capacity assert), `1 << 40` aborted the process (allocation
/// failure). Now `start` refuses both with a typed error, and the largest accepted value
/// works.
#[test]
fn review_lane_slots_out_of_range_is_a_typed_error() {
    for slots in [0, 1, usize::MAX, 1 << 40, spate::MAX_LANE_SLOTS + 1] {
        let err = Recording::builder("slots")
            .lane_slots(slots)
            .start()
            .unwrap_err();
        assert!(
            matches!(
                err,
                RecordingError::Setting {
                    setting: "lane_slots",
                    ..
                }
            ),
            "{slots}: {err}"
        );
    }
    let rec = Recording::builder("slots")
        .lane_slots(spate::MAX_LANE_SLOTS)
        .start()
        .unwrap();
    rec.log(&EntityPath::parse("p").unwrap(), &point(0))
        .unwrap();
    assert!(rec.shutdown(secs(10)).is_complete());
}
