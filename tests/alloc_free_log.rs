//! A small `log()` makes no heap allocation in the steady state: a counting global allocator
//! counts this thread's allocations across 10,000 calls.
#![expect(
    unsafe_code,
    reason = "a counting GlobalAlloc must implement an unsafe trait"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use spate::{EntityPath, Points3D, Recording, sink::NullSink};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}

#[test]
fn small_log_calls_do_not_allocate() {
    let rec = Recording::builder("alloc_test")
        .sinks(NullSink)
        .lane_slots(1 << 16)
        .start()
        .unwrap();
    let entity = EntityPath::parse("p").unwrap();
    let point = Points3D::new(vec![[1.0f32, 2.0, 3.0]]).with_colors(vec![0xff00_00ffu32]);
    // Warm up: creates this thread's lane and its timeline.
    rec.set_time_sequence("frame", 0).unwrap();
    rec.set_timestamp("sensor_time", 1).unwrap();
    rec.log(&entity, &point).unwrap();

    let before = allocations();
    for i in 0..10_000 {
        rec.set_time_sequence("frame", i).unwrap();
        rec.set_timestamp("sensor_time", 1_700_000_000_000_000_000 + i)
            .unwrap();
        rec.log(&entity, &point).unwrap();
    }
    let during = allocations() - before;

    // The counter works: building a new point cloud does allocate.
    let probe = allocations();
    let cloud = Points3D::new(vec![[0.0f32; 3]; 4]);
    assert!(allocations() > probe);
    drop(cloud);

    let report = rec.shutdown(Instant::now() + Duration::from_secs(30));
    assert_eq!(report.rows_logged(), 10_001);
    assert_eq!(during, 0, "log() allocated {during} times in 10,000 calls");
}
