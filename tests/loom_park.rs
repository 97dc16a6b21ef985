//! Loom model of the drain's wake-up protocol (`src/park.rs`): every interleaving of a
//! sleeper and one or two notifiers ends with the sleeper having seen all published work.
//!
//! Run with: `RUSTFLAGS="--cfg spate_loom" cargo test --release --test loom_park`
#![cfg(spate_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};

use spate::__loom::Parker;

fn model(notifiers: usize) {
    loom::model(move || {
        // The model's main thread is the sleeper; the notifiers are spawned threads.
        let work = Arc::new(AtomicUsize::new(0));
        let parker = Arc::new(Parker::for_current_thread());
        let handles: Vec<_> = (0..notifiers)
            .map(|_| {
                let (w, p) = (work.clone(), parker.clone());
                loom::thread::spawn(move || {
                    w.fetch_add(1, Ordering::Release);
                    p.notify();
                })
            })
            .collect();
        // Consume until every notifier's item was seen; park when there is none. Loom
        // reports a deadlock if the sleeper can stay parked forever (a lost wake-up).
        let mut seen = 0;
        while seen < notifiers {
            let now = work.load(Ordering::Acquire);
            if now > seen {
                seen = now;
                continue;
            }
            parker.park_unless(|| work.load(Ordering::Acquire) > seen, None);
        }
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn one_notifier_never_loses_a_wakeup() {
    model(1);
}

#[test]
fn two_notifiers_never_lose_a_wakeup() {
    model(2);
}

/// The fenced flavour (the drain's): notifiers publish with a plain store, then
/// `notify_fenced` (a `SeqCst` fence and a load, no read-modify-write); the sleeper parks
/// with `park_unless_fenced` (a store, a `SeqCst` fence, a second look for work).
fn model_fenced(notifiers: usize) {
    loom::model(move || {
        let flags: Arc<Vec<AtomicUsize>> =
            Arc::new((0..notifiers).map(|_| AtomicUsize::new(0)).collect());
        let parker = Arc::new(Parker::for_current_thread());
        let handles: Vec<_> = (0..notifiers)
            .map(|i| {
                let (f, p) = (flags.clone(), parker.clone());
                loom::thread::spawn(move || {
                    // A store, as a lane's producer publishes a row (rtrb's tail).
                    f[i].store(1, Ordering::Release);
                    p.notify_fenced();
                })
            })
            .collect();
        let all_seen = |f: &[AtomicUsize]| f.iter().all(|x| x.load(Ordering::Acquire) == 1);
        while !all_seen(&flags) {
            parker.park_unless_fenced(|| all_seen(&flags), None);
        }
        // Not joined: a notifier's load may read a stale `PARKED` and unpark the sleeper
        // after it stopped sleeping. With std that leaves a spare unpark token (a later
        // park returns at once; every caller loops), but loom takes an unpark during
        // `join` for a broken join. Loom still runs every thread to its end.
        drop(handles);
    });
}

#[test]
fn fenced_one_notifier_never_loses_a_wakeup() {
    model_fenced(1);
}

#[test]
fn fenced_two_notifiers_never_lose_a_wakeup() {
    model_fenced(2);
}
