//! Loom model of the shutdown handshake (`src/gate.rs`): a producer logging while another
//! thread shuts down and the drain makes its final pass. In every interleaving, every push
//! the producer was allowed (its `log()` returned `Ok`) is seen by the drain's final pass,
//! and a lane registers before the gate closes or not at all.
//!
//! This is the race of issue 12 item 3 (a `log()` that returned `Ok` was neither delivered
//! nor counted). Run with:
//! `RUSTFLAGS="--cfg spate_loom" cargo test --release --test loom_gate --target-dir target/loom`
#![cfg(spate_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spate::__loom::{Entry, Gate};

/// One lane: registered through the gate, then `pushes` rows through its entry; the "ring"
/// is its single producer's count of rows (Release store, like a ring's tail).
struct Lane {
    registered: AtomicBool,
    entry: Entry,
    ring: AtomicUsize,
}

fn producer(gate: &Gate, lane: &Lane, pushes: usize) -> usize {
    if gate
        .register(|| lane.registered.store(true, Ordering::Relaxed))
        .is_none()
    {
        return 0;
    }
    let mut ok = 0;
    for _ in 0..pushes {
        if !lane.entry.enter(gate) {
            break;
        }
        lane.ring.store(ok + 1, Ordering::Release);
        lane.entry.leave();
        ok += 1;
    }
    ok
}

/// The drain's final pass: after learning of the close (here a flag the shutdown caller
/// raises after `close`, standing in for the request channel), wait for pushes in progress,
/// then take what the lane holds.
fn final_pass(gate: &Gate, lane: &Lane, request: &AtomicBool) -> usize {
    while !request.load(Ordering::Acquire) {
        loom::thread::yield_now();
    }
    // The lane list is the registration order: a lane registered before the close is there.
    if !lane.registered.load(Ordering::Relaxed) {
        return 0;
    }
    while !lane.entry.is_idle() {
        loom::thread::yield_now();
    }
    lane.ring.load(Ordering::Acquire)
}

/// `preemptions`: `None` explores every interleaving; a bound keeps larger models fast
/// (bugs of this kind show within a few preemptions).
fn model(pushes: usize, preemptions: Option<usize>) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemptions;
    builder.check(move || {
        let gate = Arc::new(Gate::new());
        let lane = Arc::new(Lane {
            registered: AtomicBool::new(false),
            entry: Entry::new(),
            ring: AtomicUsize::new(0),
        });
        let request = Arc::new(AtomicBool::new(false));
        let p = {
            let (gate, lane) = (gate.clone(), lane.clone());
            loom::thread::spawn(move || producer(&gate, &lane, pushes))
        };
        let d = {
            let (gate, lane, request) = (gate.clone(), lane.clone(), request.clone());
            loom::thread::spawn(move || final_pass(&gate, &lane, &request))
        };
        // The shutdown caller.
        assert!(gate.close());
        assert!(!gate.close(), "only the first close is the first");
        request.store(true, Ordering::Release);
        let ok = p.join().unwrap();
        let drained = d.join().unwrap();
        assert_eq!(drained, ok, "every Ok push is in the final pass, no more");
        // After the close, nothing enters and nothing registers.
        assert!(!lane.entry.enter(&gate));
        assert!(gate.register(|| ()).is_none());
    });
}

#[test]
fn one_push_is_never_lost_to_a_shutdown() {
    model(1, None);
}

#[test]
fn two_pushes_are_never_lost_to_a_shutdown() {
    model(2, Some(3));
}
