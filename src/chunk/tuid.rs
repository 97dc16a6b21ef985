//! TUIDs: the 128-bit, time-ordered ids Rerun uses for rows, chunks and stores.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A time-ordered unique id: nanoseconds since the Unix epoch plus a 64-bit counter.
///
/// Ids made by [`Tuid::new`] and [`Tuid::new_range`] are **strictly increasing within a
/// process**, across all threads: every id is greater than every id made before it. The
/// `time_ns` part follows the wall clock but never repeats or goes back (if the clock
/// stalls or steps back, it advances by one nanosecond per id instead); the `inc` part is a
/// per-process random value that keeps two processes' ids apart.
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

/// The last `time_ns` handed out in this process.
static LAST_TIME_NS: AtomicU64 = AtomicU64::new(0);

fn process_inc() -> u64 {
    static INC: OnceLock<u64> = OnceLock::new();
    *INC.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    })
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn wall_clock_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Tuid {
    /// A new id, greater than every id made before it in this process.
    pub fn new() -> Self {
        Self::new_range(1)
    }

    /// Reserves `n` consecutive ids (`n >= 1`) and returns the first; the others are
    /// [`first.offset(k)`](Self::offset) for `k < n`. One atomic operation for the whole range.
    pub fn new_range(n: u64) -> Self {
        let n = n.max(1);
        let now = wall_clock_ns();
        // Relaxed is enough: the only invariant is the total order of values in this one
        // atomic, which every RMW on it observes regardless of ordering.
        let mut last = LAST_TIME_NS.load(Ordering::Relaxed);
        loop {
            let start = now.max(last.saturating_add(1));
            let end = start.saturating_add(n - 1);
            match LAST_TIME_NS.compare_exchange_weak(
                last,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Self {
                        time_ns: start,
                        inc: process_inc(),
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

    #[test]
    fn ids_increase_strictly_across_threads() {
        let per_thread: Vec<Vec<Tuid>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..10_000).map(|_| Tuid::new()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<Tuid> = per_thread.iter().flatten().copied().collect();
        for ids in &per_thread {
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
        }
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 40_000, "ids must be unique");
        let later = Tuid::new();
        assert!(later > *all.last().unwrap());
    }

    #[test]
    fn ranges_do_not_overlap() {
        let a = Tuid::new_range(100);
        let b = Tuid::new();
        assert!(b > a.offset(99));
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
