//! The synthetic sensor load: one thread per producer, each logging clouds of `points`
//! points (positions, colors, radii: 20 bytes a point) at `hz` through the real engine.
//!
//! Clouds are filled by copying a precomputed lidar-like scan into buffers loaned from the
//! recording's pools (no allocation in the steady state, as a well-behaved driver would
//! do). Pacing is by absolute deadlines (`t0 + k / hz`): a producer that is late logs its
//! next cloud at once and the lateness is recorded, so a generator that cannot produce the
//! load on this machine shows in the report instead of silently lowering it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spate::{EntityPath, Loan, LoanedPoints, Points3D, Recording, RecordingError};

use super::scenario::Scenario;

/// What one producer did.
#[derive(Clone, Debug, Default)]
pub struct ProducerResult {
    /// Clouds handed to `log()` (accepted, or dropped by a `drop` lane).
    pub clouds_logged: u64,
    /// Largest delay between a cloud's deadline and its `log()` call.
    pub max_lateness: Duration,
    /// When the producer finished, from the start of the load.
    pub finished_after: Duration,
    /// An unexpected logging error (not the recording closing at the hard stop).
    pub error: Option<String>,
}

/// One lidar rotation: `channels` rings of points on a sphere shell, colored by channel.
struct Template {
    positions: Vec<[f32; 3]>,
    colors: Vec<u32>,
    radii: Vec<f32>,
}

impl Template {
    fn lidar(points: u32) -> Self {
        const CHANNELS: u32 = 128;
        let columns = points.div_ceil(CHANNELS).max(1);
        let n = points as usize;
        let mut positions = Vec::with_capacity(n);
        let mut colors = Vec::with_capacity(n);
        for i in 0..points {
            let (channel, column) = (i % CHANNELS, i / CHANNELS);
            let azimuth = column as f32 / columns as f32 * std::f32::consts::TAU;
            let elevation = (channel as f32 / CHANNELS as f32 - 0.5) * 0.6;
            let range = 5.0 + 20.0 * ((i.wrapping_mul(2_654_435_761) >> 16) % 1000) as f32 / 1e3;
            positions.push([
                range * elevation.cos() * azimuth.cos(),
                range * elevation.cos() * azimuth.sin(),
                range * elevation.sin(),
            ]);
            let c = (channel * 2) as u8;
            colors.push(u32::from_be_bytes([c, 255 - c, 128, 255]));
        }
        Self {
            positions,
            colors,
            radii: vec![0.02; n],
        }
    }

    /// One cloud's buffers loaned from `rec`'s pools, filled with the template.
    fn loan(&self, rec: &Recording) -> (LoanedPoints, Loan<u32>, Loan<f32>) {
        let n = self.positions.len();
        let mut positions = rec.loan_points(n);
        positions.copy_from_slice(&self.positions);
        let mut colors = rec.loan_u32(n);
        colors.copy_from_slice(&self.colors);
        let mut radii = rec.loan_f32(n);
        radii.copy_from_slice(&self.radii);
        (positions, colors, radii)
    }
}

/// The producer threads of one run.
/// Most clouds per producer warmed before a run (the pools keep 64 idle buffers each).
const WARM_CLOUDS_MAX: u64 = 20;
/// A gRPC sink's default send buffer, part of what can be in flight.
const GRPC_BUFFER_BYTES: u64 = 64 << 20;

/// The template of a run, built before the clock starts.
pub struct Prepared {
    template: Arc<Template>,
}

pub struct Generator {
    threads: Vec<JoinHandle<ProducerResult>>,
    stop: Arc<AtomicBool>,
}

fn wall_clock_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl Generator {
    /// Starts `scenario.producers` threads logging into `rec`, paced from `t0`.
    /// Builds the cloud template and warms the recording's buffer pools with as many
    /// clouds as can be in flight (lanes + a sink queue + a gRPC sink's buffer, at most
    /// [`WARM_CLOUDS_MAX`] per producer): a running driver's buffers are warm, while fresh
    /// process memory costs page faults (and, on VMs that hand free memory back to the
    /// host, host faults) on first touch, which would make short runs measure the
    /// allocator instead of the sinks. Called before the clock starts.
    pub fn prepare(rec: &Recording, scenario: &Scenario) -> Prepared {
        let template = Arc::new(Template::lidar(scenario.points));
        let cloud = scenario.cloud_bytes().max(1);
        let in_flight = spate::DEFAULT_LANE_CAPACITY_BYTES * u64::from(scenario.producers)
            + scenario.queue_bytes
            + GRPC_BUFFER_BYTES;
        let per_producer = (in_flight / cloud / u64::from(scenario.producers.max(1)) + 2)
            .min(WARM_CLOUDS_MAX) as usize;
        let mut loans = Vec::new();
        for _ in 0..per_producer * scenario.producers as usize {
            loans.push(template.loan(rec));
        }
        drop(loans); // back to the pools, touched
        Prepared { template }
    }

    pub fn start(
        rec: &Recording,
        scenario: &Scenario,
        prepared: &Prepared,
        t0: Instant,
    ) -> anyhow::Result<Self> {
        let template = prepared.template.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let n = scenario.producers;
        let mut threads = Vec::with_capacity(n as usize);
        for p in 0..n {
            // Entities `lidar/e` go to producer e % n; a producer with none (fewer entities
            // than producers) shares entity p % entities.
            let mut entities: Vec<EntityPath> = (p..scenario.entities)
                .step_by(n as usize)
                .map(|e| EntityPath::parse(&format!("lidar/{e}")))
                .collect::<Result<_, _>>()?;
            if entities.is_empty() {
                entities.push(EntityPath::parse(&format!(
                    "lidar/{}",
                    p % scenario.entities
                ))?);
            }
            let (rec, template, stop) = (rec.clone(), template.clone(), stop.clone());
            let pace = match scenario.clouds_per_producer() {
                Some(clouds) => Pace::Paced {
                    clouds,
                    period: Duration::from_secs_f64(1.0 / scenario.hz),
                },
                None => Pace::Unpaced {
                    until: t0 + scenario.duration,
                },
            };
            let thread = std::thread::Builder::new()
                .name(format!("lidar-{p}"))
                .spawn(move || produce(&rec, &entities, &template, pace, t0, &stop))?;
            threads.push(thread);
        }
        Ok(Self { threads, stop })
    }

    /// Whether every producer logged all its clouds (or stopped).
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Asks the producers to stop before their next cloud.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the producers (call after [`stop`](Self::stop) or once finished; a
    /// producer blocked in a full lane returns when the recording shuts down).
    pub fn join(self) -> Vec<ProducerResult> {
        self.threads
            .into_iter()
            .map(|t| {
                t.join().unwrap_or_else(|_| ProducerResult {
                    error: Some("producer thread panicked".to_owned()),
                    ..ProducerResult::default()
                })
            })
            .collect()
    }
}

/// How a producer paces its clouds.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// `clouds` clouds, cloud k at `t0 + k × period`.
    Paced {
        /// Clouds to log.
        clouds: u64,
        /// Time between clouds.
        period: Duration,
    },
    /// As fast as the engine accepts, until this moment.
    Unpaced {
        /// When to stop.
        until: Instant,
    },
}

fn produce(
    rec: &Recording,
    entities: &[EntityPath],
    template: &Template,
    pace: Pace,
    t0: Instant,
    stop: &AtomicBool,
) -> ProducerResult {
    let mut result = ProducerResult::default();
    for k in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match pace {
            Pace::Paced { clouds, period } => {
                if k >= clouds {
                    break;
                }
                let deadline = t0 + period.mul_f64(k as f64);
                let now = Instant::now();
                if now < deadline {
                    std::thread::sleep(deadline - now);
                } else {
                    result.max_lateness = result.max_lateness.max(now - deadline);
                }
            }
            Pace::Unpaced { until } => {
                if Instant::now() >= until {
                    break;
                }
            }
        }
        let logged = (|| -> Result<(), RecordingError> {
            rec.set_time_sequence("frame", i64::try_from(k).unwrap_or(i64::MAX))?;
            rec.set_timestamp("time", wall_clock_ns())?;
            let (positions, colors, radii) = template.loan(rec);
            let cloud = Points3D::new(positions)
                .with_colors(colors)
                .with_radii(radii);
            rec.log(&entities[(k as usize) % entities.len()], &cloud)
        })();
        match logged {
            Ok(()) => result.clouds_logged += 1,
            // The hard stop shut the recording while this producer waited for a full lane.
            Err(RecordingError::Closed) => break,
            Err(e) => {
                result.error = Some(e.to_string());
                break;
            }
        }
    }
    result.finished_after = t0.elapsed();
    result
}
