//! The soak's load: producer threads whose every row carries an identity that the read-back
//! can check, and the decoding of that identity from whatever a sink delivered.
//!
//! Row identity: producer `t` numbers its `log()` calls `seq = 0, 1, 2, …`; the row's id
//! is `t << 40 | seq`. The row's first point is `[t, seq >> 16, seq & 0xffff]` (all exact
//! in `f32`), its point count is a function of `(seed, t, seq)`, and its last point is
//! `[count - 1, t, seq & 0xffff]`: a row that arrives cut, mixed up or invented fails the
//! check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow_array::{Array, FixedSizeListArray, Float32Array};
use spate::wire::DecodedRrd;
use spate::{EntityPath, Points3D, Recording, RecordingError};

/// A small, seedable generator (xorshift64*), for sizes and fault schedules.
#[derive(Clone, Debug)]
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A duration uniform in `lo_ms..=hi_ms` milliseconds.
    pub fn millis(&mut self, lo_ms: u64, hi_ms: u64) -> Duration {
        Duration::from_millis(self.between(lo_ms, hi_ms))
    }
}

/// What a producer logs.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Point clouds of `min..=max` points (log-uniform), some with colors or a radius.
    Clouds { min: u64, max: u64 },
    /// Rows of 1 to 4 points.
    Small,
    /// Clouds of 10 to 3000 points; every 200th row is static (4 static entities).
    MixedWithStatics,
}

/// One producer thread of the load.
#[derive(Clone, Copy, Debug)]
struct Producer {
    name: &'static str,
    shape: Shape,
    /// Pause between two rows (paces the load; the machine is shared).
    period: Duration,
}

const PRODUCERS: [Producer; 4] = [
    Producer {
        name: "lidar_front",
        shape: Shape::Clouds {
            min: 500,
            max: 120_000,
        },
        period: Duration::from_millis(250),
    },
    Producer {
        name: "lidar_rear",
        shape: Shape::Clouds {
            min: 500,
            max: 60_000,
        },
        period: Duration::from_millis(200),
    },
    Producer {
        name: "imu",
        shape: Shape::Small,
        period: Duration::from_millis(2),
    },
    Producer {
        name: "misc",
        shape: Shape::MixedWithStatics,
        period: Duration::from_millis(20),
    },
];

/// Number of producer threads.
pub const THREADS: usize = PRODUCERS.len();

/// A row's identity.
pub fn row_id(t: u8, seq: u64) -> u64 {
    u64::from(t) << 40 | seq
}

fn mix(seed: u64, id: u64) -> Dice {
    let mut d = Dice::new(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    d.next_u64();
    d
}

/// How many points row `seq` of producer `t` has.
pub fn points_of(seed: u64, t: u8, seq: u64) -> usize {
    let mut d = mix(seed, row_id(t, seq));
    let n = match PRODUCERS[usize::from(t)].shape {
        Shape::Clouds { min, max } => {
            // Log-uniform: many small clouds, some large ones (pass-through chunks).
            let (lo, hi) = ((min as f64).ln(), (max as f64).ln());
            let u = d.next_u64() as f64 / u64::MAX as f64;
            (lo + u * (hi - lo)).exp() as u64
        }
        Shape::Small => d.between(1, 4),
        Shape::MixedWithStatics => d.between(10, 3000),
    };
    n as usize
}

/// Whether row `seq` of producer `t` is static.
pub fn is_static(t: u8, seq: u64) -> bool {
    matches!(PRODUCERS[usize::from(t)].shape, Shape::MixedWithStatics) && seq.is_multiple_of(200)
}

fn first_point(t: u8, seq: u64) -> [f32; 3] {
    [f32::from(t), (seq >> 16) as f32, (seq & 0xffff) as f32]
}

fn last_point(t: u8, seq: u64, n: usize) -> [f32; 3] {
    [(n - 1) as f32, f32::from(t), (seq & 0xffff) as f32]
}

/// What one producer did.
#[derive(Debug, Default)]
pub struct Produced {
    pub name: &'static str,
    /// `log()` calls that returned `Ok` (their seqs are `0..ok`: the producer stops at the
    /// first error).
    pub ok: u64,
    /// Of those, static rows.
    pub statics: u64,
    /// Points logged.
    pub points: u64,
    /// The first error, if any.
    pub error: Option<String>,
}

/// Logs rows as producer `t` until `stop` is set.
pub fn produce(rec: &Recording, t: u8, seed: u64, stop: &Arc<AtomicBool>) -> Produced {
    let p = PRODUCERS[usize::from(t)];
    let mut out = Produced {
        name: p.name,
        ..Produced::default()
    };
    let entity = |name: String| EntityPath::parse(&name).expect("valid entity path");
    let temporal = entity(format!("t{t}/{}", p.name));
    let statics: Vec<EntityPath> = (0..4).map(|k| entity(format!("t{t}/static/{k}"))).collect();
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let n = points_of(seed, t, seq);
        let mut cloud = rec.loan_points(n);
        cloud[0] = first_point(t, seq);
        let lo = (seq & 0xffff) as f32;
        for (i, q) in cloud.iter_mut().enumerate().skip(1) {
            *q = [i as f32, f32::from(t), lo];
        }
        let mut points = Points3D::new(cloud);
        // Clouds vary their components (each is a chunk of its own anyway); small rows keep
        // one shape, so consecutive rows batch into one chunk.
        match (p.shape, seq % 3) {
            (Shape::Clouds { .. }, 0) => {
                let mut colors = rec.loan_u32(n);
                colors.fill(0x3366_ffff);
                points = points.with_colors(colors);
            }
            (Shape::Clouds { .. }, 1) | (Shape::MixedWithStatics, _) => {
                points = points.with_radii([0.02f32]);
            }
            _ => {}
        }
        let result: Result<(), RecordingError> = if is_static(t, seq) {
            rec.log_static(&statics[(seq / 200 % 4) as usize], &points)
        } else {
            rec.set_time_sequence("seq", seq as i64)
                .and_then(|()| rec.log(&temporal, &points))
        };
        if let Err(e) = result {
            out.error = Some(format!("log #{seq}: {e}"));
            break;
        }
        out.ok += 1;
        out.points += n as u64;
        out.statics += u64::from(is_static(t, seq));
        seq += 1;
        std::thread::sleep(p.period);
    }
    out
}

/// The ids of every row of every chunk in `decoded`, in file order; a row whose data does
/// not match its identity is an error (`what` names the source).
pub fn ids_of(decoded: &DecodedRrd, seed: u64, what: &str) -> Result<Vec<u64>, String> {
    let mut ids = Vec::new();
    for chunk in decoded.chunks() {
        let entity = chunk.entity().to_string();
        let t: u8 = entity
            .strip_prefix("/t")
            .and_then(|r| r.split('/').next())
            .and_then(|t| t.parse().ok())
            .filter(|t| usize::from(*t) < THREADS)
            .ok_or_else(|| format!("{what}: unexpected entity {entity}"))?;
        let positions = chunk
            .component("Points3D:positions")
            .ok_or_else(|| format!("{what}: {entity} has no positions"))?;
        for row in 0..chunk.num_rows() {
            let list = positions.list().value(row);
            let xyz = list
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .and_then(|l| l.values().as_any().downcast_ref::<Float32Array>().cloned())
                .ok_or_else(|| format!("{what}: {entity} row {row}: positions are not f32x3"))?;
            let v = xyz.values();
            let n = v.len() / 3;
            if n == 0 || v[0] != f32::from(t) {
                return Err(format!("{what}: {entity} row {row}: no identity point"));
            }
            let seq = (v[1] as u64) << 16 | v[2] as u64;
            let expected = points_of(seed, t, seq);
            let last = last_point(t, seq, n);
            if n != expected || (n > 1 && v[3 * (n - 1)..] != last) {
                return Err(format!(
                    "{what}: {entity} row {row} (seq {seq}): {n} points, expected {expected} \
                     ending in {last:?}"
                ));
            }
            ids.push(row_id(t, seq));
        }
    }
    Ok(ids)
}
