//! TUIDs: the 128-bit, time-ordered ids Rerun uses for rows, chunks and stores.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A time-ordered unique id: nanoseconds since the Unix epoch plus a 64-bit counter half.
///
/// This is what Rerun requires of RowIds, and what its own SDK (`re_tuid`) gives: ids are
/// **unique**, and **strictly increasing per thread**; across threads they follow the wall
/// clock (ties broken by the `inc` half), which is the order Rerun uses between rows of equal
/// time. The store does not require one global order, and a chunk's RowIds need only be
/// sorted within the chunk (the batcher keeps them so).
///
/// How: each thread keeps the last `time_ns` it handed out and a counter half of its own (a
/// per-process random value plus the thread's sequence number times an odd constant, so no
/// two threads of a process share one, and two processes' ids stay apart). `time_ns` follows
/// the wall clock but never repeats or goes back on one thread (if the clock stalls or steps
/// back, it advances by one nanosecond per id instead). No shared memory is written: making
/// an id is one clock read and two thread-local accesses.
///
/// ```
/// use spate::Tuid;
/// let a = Tuid::new();
/// let b = Tuid::new();
/// assert!(b > a);
/// assert_eq!(Tuid::from_be_bytes(a.to_be_bytes()), a);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuid {
    time_ns: u64,
    inc: u64,
}

/// The last `time_ns` handed out by threads whose thread-locals are gone (ids made from
/// thread-local destructors), which share the counter half of sequence 0.
static FALLBACK_LAST_NS: AtomicU64 = AtomicU64::new(0);

/// Threads that made an id so far (sequence 0 is the fallback's).
static THREADS: AtomicU64 = AtomicU64::new(1);

/// This thread's last `time_ns` and its counter half (assigned on its first id).
struct ThreadClock {
    last_ns: Cell<u64>,
    inc: Cell<Option<u64>>,
}

thread_local! {
    static CLOCK: ThreadClock = const {
        ThreadClock { last_ns: Cell::new(0), inc: Cell::new(None) }
    };
}

fn process_inc() -> u64 {
    static INC: OnceLock<u64> = OnceLock::new();
    *INC.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    })
}

/// The counter half of the thread with sequence number `seq`: distinct per thread of a
/// process (multiplying by an odd constant is a bijection on u64).
fn inc_of_thread(seq: u64) -> u64 {
    process_inc().wrapping_add(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Nanoseconds since the Unix epoch, now (the wall clock: a robot whose clock is set after
/// boot must not log times from before the correction).
pub(crate) fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Tuid {
    /// A new id, greater than every id made before it on this thread, and unique.
    pub fn new() -> Self {
        Self::new_range(1)
    }

    /// Reserves `n` consecutive ids (`n >= 1`) and returns the first; the others are
    /// [`first.offset(k)`](Self::offset) for `k < n`, all greater than every id made before
    /// on this thread and smaller than every id made after.
    pub fn new_range(n: u64) -> Self {
        let n = n.max(1);
        let now = wall_clock_ns();
        CLOCK
            .try_with(|c| {
                let start = now.max(c.last_ns.get().saturating_add(1));
                c.last_ns.set(start.saturating_add(n - 1));
                let inc = c.inc.get().unwrap_or_else(|| {
                    let inc = inc_of_thread(THREADS.fetch_add(1, Ordering::Relaxed));
                    c.inc.set(Some(inc));
                    inc
                });
                Self {
                    time_ns: start,
                    inc,
                }
            })
            .unwrap_or_else(|_| Self::new_range_fallback(n, now))
    }

    /// Ids for a thread whose thread-locals are gone: one shared, strictly increasing
    /// `time_ns` under the counter half of sequence 0 (a compare-and-swap; rare).
    fn new_range_fallback(n: u64, now: u64) -> Self {
        // Relaxed is enough: the only invariant is the total order of values in this one
        // atomic, which every RMW on it observes regardless of ordering.
        let mut last = FALLBACK_LAST_NS.load(Ordering::Relaxed);
        loop {
            let start = now.max(last.saturating_add(1));
            let end = start.saturating_add(n - 1);
            match FALLBACK_LAST_NS.compare_exchange_weak(
                last,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Self {
                        time_ns: start,
                        inc: inc_of_thread(0),
                    };
                }
                Err(seen) => last = seen,
            }
        }
    }

    /// An id from its two halves (for ids read from files, or deterministic tests).
    pub const fn from_parts(time_ns: u64, inc: u64) -> Self {
        Self { time_ns, inc }
    }

    /// The `k`-th id of a range reserved by [`new_range`](Self::new_range).
    pub const fn offset(self, k: u64) -> Self {
        Self {
            time_ns: self.time_ns.wrapping_add(k),
            inc: self.inc,
        }
    }

    /// Nanoseconds since the Unix epoch (approximately: unique per id).
    pub const fn time_ns(self) -> u64 {
        self.time_ns
    }

    /// The counter half.
    pub const fn inc(self) -> u64 {
        self.inc
    }

    /// The 16-byte big-endian form used in Arrow columns: `time_ns` then `inc`.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.time_ns.to_be_bytes());
        out[8..].copy_from_slice(&self.inc.to_be_bytes());
        out
    }

    /// Inverse of [`to_be_bytes`](Self::to_be_bytes).
    pub fn from_be_bytes(bytes: [u8; 16]) -> Self {
        let (t, i) = bytes.split_at(8);
        Self {
            time_ns: u64::from_be_bytes(t.try_into().unwrap_or_default()),
            inc: u64::from_be_bytes(i.try_into().unwrap_or_default()),
        }
    }

    /// Rerun's string form: 16 uppercase hex digits of `time_ns`, 16 lowercase of `inc`.
    pub fn to_rerun_hex(self) -> String {
        format!("{:016X}{:016x}", self.time_ns, self.inc)
    }

    /// Parses [`to_rerun_hex`](Self::to_rerun_hex) output (any case, optional `chunk_`/`row_`
    /// prefix).
    pub fn parse_rerun_hex(s: &str) -> Option<Self> {
        let s = s
            .strip_prefix("chunk_")
            .or_else(|| s.strip_prefix("row_"))
            .unwrap_or(s);
        if s.len() != 32 || !s.is_ascii() {
            return None;
        }
        Some(Self {
            time_ns: u64::from_str_radix(&s[..16], 16).ok()?,
            inc: u64::from_str_radix(&s[16..], 16).ok()?,
        })
    }
}

impl Default for Tuid {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Tuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tuid({})", self.to_rerun_hex())
    }
}

impl fmt::Display for Tuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rerun_hex())
    }
}

/// The id of one logged row.
pub type RowId = Tuid;
/// The id of one chunk (unique within a recording).
pub type ChunkId = Tuid;

#[cfg(test)]
mod tests {
    use super::*;

    /// Many threads at once: every id unique, each thread's strictly increasing, and the
    /// threads' counter halves distinct (what makes ids of equal `time_ns` differ).
    #[test]
    fn ids_are_unique_across_threads_and_increase_per_thread() {
        let per_thread: Vec<Vec<Tuid>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|k| {
                    s.spawn(move || {
                        (0..10_000)
                            .map(|i| {
                                // Ranges mixed in: they must not overlap later single ids.
                                if (i + k) % 1000 == 0 {
                                    Tuid::new_range(50).offset(49)
                                } else {
                                    Tuid::new()
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "per-thread order");
        }
        let mut incs: Vec<u64> = per_thread.iter().map(|ids| ids[0].inc()).collect();
        incs.sort_unstable();
        incs.dedup();
        assert_eq!(incs.len(), 8, "one counter half per thread");
        let mut all: Vec<Tuid> = per_thread.into_iter().flatten().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 80_000, "ids must be unique");
    }

    /// A stalled clock (every thread reading the same instant) still gives unique ids.
    #[test]
    fn equal_clock_readings_on_two_threads_stay_distinct() {
        assert_ne!(inc_of_thread(1), inc_of_thread(2));
        assert_ne!(inc_of_thread(0), inc_of_thread(1));
        let a = Tuid::new_range_fallback(3, 5);
        let b = Tuid::new_range_fallback(1, 5);
        assert!(b > a.offset(2), "the fallback is strictly increasing too");
    }

    #[test]
    fn ranges_do_not_overlap() {
        let a = Tuid::new_range(100);
        let b = Tuid::new();
        assert!(b > a.offset(99));
        let c = Tuid::new_range(10);
        assert!(c > b);
    }

    #[test]
    fn the_wall_clock_agrees_with_system_time() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let now = wall_clock_ns();
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        // Within a millisecond of the wall clock (the monotonic clock's progress since start
        // stands in for the wall clock's).
        assert!(
            before <= now + 1_000_000 && now <= after + 1_000_000,
            "{before} {now} {after}"
        );
    }

    #[test]
    fn hex_round_trip_matches_rerun_format() {
        let t = Tuid::from_parts(0x18EA_C42E_1011_D417, 0x1909_86c3_0093_e5d7);
        assert_eq!(t.to_rerun_hex(), "18EAC42E1011D417190986c30093e5d7");
        assert_eq!(
            Tuid::parse_rerun_hex("chunk_18EAC42E1011D417190986c30093e5d7"),
            Some(t)
        );
        assert_eq!(Tuid::parse_rerun_hex("chunk_18EA"), None);
        assert_eq!(Tuid::parse_rerun_hex("zz"), None);
    }
}
