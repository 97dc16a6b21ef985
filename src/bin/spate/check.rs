//! `spate check`: the capacity planner — will these sinks keep up with this sensor load?
//!
//! A synthetic sensor load (lidars, cameras, IMUs: [`generator`]) runs through the real engine (`Recording`,
//! lanes, drain, sinks) against the sinks given ([`sinks`]); every counter is sampled
//! while it runs ([`trial`], [`progress`]); the measured delivery is judged per sink
//! ([`report`]) and optionally drawn ([`plot`]). `--find-max` searches the highest rate
//! each sink sustains ([`find_max`]).

mod find_max;
mod generator;
mod plot;
mod progress;
mod report;
mod sample;
mod scenario;
mod sinks;
mod trial;

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use spate::sink::IoBackend;
use spate::units::{parse_seconds, parse_size};

use crate::Judgement;
use scenario::{
    CameraSpec, ImuSpec, Overrides, PolicyArg, Scenario, ScenarioFile, SinkArg, SyncArg,
};

/// `--help` text of the subcommand (definitions and JSON keys).
pub const LONG_ABOUT: &str = "\
Capacity planner: will these sinks keep up with this sensor load?

Runs a synthetic sensor rig (lidars, cameras, IMUs) through the real engine (Recording,
per-thread lanes, the drain, the sinks' queues and workers) and judges every sink by what
it measurably delivered. Without arguments it runs the default rig: four 128-channel
lidars (262144 points per cloud at 10 Hz, 2.6 M points/s each, 210 MB/s together) for
10 s into an .rrd file in a temporary directory and, as a tee, to an in-process gRPC
receiver.

Lidars: N producer threads (--producers) each log clouds of P points (--points;
positions, colors and radii: 20 bytes a point) to entities lidar/0.. (--entities, spread
over the producers) at H clouds per second (--hz) or at a total payload rate of the
lidars (--rate, MB/s = 10^6 bytes/s) for D seconds (--duration). --hz 0 is unpaced:
producers log as fast as the engine accepts for D seconds, and that is their load
(payload_mbps and points_per_s are then 0 in the JSON scenario; the offered rate is what
was logged). Any rate can be asked for (up to 1e9 clouds/s per producer, beyond any
machine): a lidar wakes at most every millisecond and logs the clouds due by then back to
back, so a million one-point rows a second is a thousand sleeps, not a million; a rate the
machine cannot generate is reported BEHIND SCHEDULE. Clouds under the engine's
pass-through size (256 KiB, 13107 points, by default), which the drain copies into a batch
anyway, are one cloud built before the clock and logged again and again (its buffers
shared, nothing allocated or copied: a row costs the generator its frame number and the
log() call); larger clouds are a template copied into pooled buffers every time, as a
driver fills fresh ones. The frame timeline is set per cloud, the time timeline once per
wake.

Cameras (--camera, repeatable; one thread each, entity camera/NAME):
  [NAME=]WIDTHxHEIGHT@FPS[:raw|:jpeg[=BYTES]]   e.g. 1920x1080@30, front=1280x720@60:jpeg
  raw (default): an RGB Image of WIDTH x HEIGHT x 3 bytes a frame; jpeg: an EncodedImage
  (image/jpeg) of BYTES bytes a frame (default WIDTH x HEIGHT x 3 / 10; a placeholder
  picture padded to size: the load, not the pixels, is the point). Frames are copied
  from a template into pooled buffers (loan_u8), as a driver would.
IMUs (--imu, repeatable; one thread each, entity imu/NAME):
  [NAME=]HZ[@BATCH]   e.g. 1000, main=1000@100
  HZ samples per second of six scalars (accelerometer and gyroscope x, y, z; 56 bytes
  with the timestamp), sent as BATCH samples per send_columns call (default HZ / 10),
  each call when its last sample is due: HZ / BATCH calls per second.
Names default to the sensor's index (camera/0, imu/0). The four default lidars run only
when no camera and no IMU is given; with one, lidars run only if --producers (or the
scenario's producers) says so, and lidar-only settings (--points, --hz, --rate,
--entities) without lidars are an error. Every sensor is paced by absolute deadlines; one
that cannot keep its schedule is reported (\"BEHIND SCHEDULE\").

Sinks (--sink, repeat for a tee; each on its own queue of --queue-bytes):
  file:PATH   an .rrd file (--backend auto|uring|mmap|pwrite, --sync close|never|every64m)
  grpc:URL    a Rerun gRPC server, rerun+http://HOST:PORT/proxy (must connect within
              --connect-timeout, else error)
  grpc        an in-process gRPC receiver that counts and discards
  null        discards everything (the engine's own limit)
  throttle:R  a null sink that takes at most R MB/s (a testing aid)
Default: a temporary file (deleted afterwards unless --keep) and an in-process receiver.

--scenario FILE.toml sets the same things from a file (keys: producers, points, hz,
rate, duration, entities, lane_policy, sink_policy, queue_bytes, backend, sync, grace,
sinks = [\"file:x.rrd\", \"grpc\"]; tables [[camera]] {name, width, height, fps,
encoding = \"raw\"|\"jpeg\", jpeg_bytes} and [[imu]] {name, hz, batch}, one per sensor);
flags given on the command line win (--camera, --imu and --sink replace the file's list).
perf/scenarios/rig.toml is a whole vehicle: 2 lidars, 3 cameras, an IMU.

How a sink is judged (T = duration, G = grace = --grace, default max(1 s, 10 % of T)):
  offered     the bytes the engine sends every sink (the preamble: SetStoreInfo and the
              recording's properties, then every chunk of the scheduled clouds, frames
              and IMU samples); offered MB/s =
              offered / T; offered rows = every row of the schedule, every sensor
  delivered   measured at the sink: file/null/throttle count bytes whose write returned;
              gRPC counts bytes handed to HTTP/2 and needs the server's acknowledgement
              of the closed stream (the in-process receiver must also have received
              every message sent)
  complete    the first moment (sampled every 25 ms after the load) the sink had
              delivered every offered byte; achieved MB/s = delivered / max(that
              moment, T), or delivered by T + G / (T + G) if never complete
  delivered rows  rows of the messages the sink delivered, counted when it closed
  KEEPS UP     complete by T + G, no drops, closed cleanly
  FALLS BEHIND not complete by T + G (or not closed cleanly); by X % = 1 - achieved /
               offered. A sink slower than about T / (T + G) of the offered rate falls
               behind; a lossless (block) policy that slows the producers shows here too
  DROPPED      the sink dropped messages (queue full under --sink-policy drop, sink
               failed, dropped while disconnected) or a lane dropped rows
               (--lane-policy drop); counts by reason are reported
Points/s are the lidars': their share of the payload divided by the wire bytes per point
(the table leaves them out without lidars).
Latency is from log() of a chunk's oldest row to the sink's write returning (p50, p99,
max). Queue hw is the most bytes ever queued for the sink.

--find-max tests each sink alone with short trials (--trial-duration, default 3 s,
grace max(0.25 s, 10 %) unless --grace is given: a scenario file's grace goes with its
duration, which the trials replace): the rate doubles while trials keep up, halves while they
fail, then bisects (geometric mean) until within 10 % or --max-trials; it reports the
highest rate that kept up, in MB/s, rows (clouds) per second and points per second. It
starts from the scenario's rate; an unpaced scenario (--hz 0) starts, per sink, from what
one unpaced probe trial logged (not counted in --max-trials). Exit 0 if every sink
sustained the starting rate (unpaced: any rate). Only the lidars are scaled (it needs
--producers >= 1): cameras and IMUs run at their own rates in every trial as a fixed
background load, and the rates reported are the lidars'.

--plot FILE.svg draws the achieved rate and the mean latency over time per sink.
Progress bars (offered and achieved MB/s, queue fill) are drawn on stderr when it is a
terminal, unless --quiet.

With --json, one JSON object is printed on stdout:
  verdict        \"KEEPS_UP\" | \"FALLS_BEHIND\" | \"DROPPED\" (the worst sink's)
  exit_code      0 | 1
  scenario       {producers, points, hz, duration_s, entities, payload_mbps,
                  points_per_s (these two: the lidars'), bytes_per_point, lane_policy,
                  sink_policy, queue_bytes, backend, sync, grace_s, cameras[] {name,
                  entity, width, height, fps, encoding, frame_bytes}, imus[] {name,
                  entity, hz, batch, bytes_per_sample}}
  load           {lidar, camera, imu, total}: each {sensors, rows_per_s, payload_mbps
                  (offered), scheduled_rows, logged_rows, logged_payload_bytes}, the
                  kinds also {max_lateness_ms, on_schedule, busy_ns_per_row (the
                  sensors' time making and logging rows, log() and waits for full lanes
                  included, sleeps not, per row logged; null: none logged),
                  busy_percent (of the time they ran)}; rows are clouds, frames, IMU
                  samples
  generator      {scheduled_clouds, logged_clouds (lidar), scheduled_rows, logged_rows
                  (every sensor), lane_dropped_rows, finished_s (null: stopped at T + G),
                  max_lateness_ms, on_schedule, wire_bytes_per_point,
                  wire_bytes_per_payload_byte, cloud_buffers (\"shared\" | \"pooled\";
                  null without lidars), error}
  sinks[]        {name, kind (\"file\"|\"grpc\"|\"null\"|\"throttle\"), verdict,
                  behind_percent (null unless FALLS_BEHIND), dropped, drops {queue_full,
                  sink_failed, disconnected, lane_full, shutdown_deadline (backlog left at
                  shutdown; not a drop for the verdict)}, offered_bytes, delivered_bytes,
                  offered_rows, delivered_rows, offered_rows_per_s (offered rows / T),
                  achieved_rows_per_s (rows delivered by complete, or by T + G in
                  proportion to the bytes, / max(that moment, T)), offered_mbps,
                  achieved_mbps, offered_points_per_s, achieved_points_per_s,
                  complete_s (null if not complete by T + G),
                  latency_ms {count, p50, p99, max, mean}, queue_high_water_bytes,
                  closed_cleanly, grpc_sent_messages, receiver {messages, bytes,
                  calls_finished} (in-process receiver only), note}
  shutdown_s     seconds closing the sinks took
With --find-max: {mode: \"find_max\", exit_code, start_mbps (null when unpaced),
  fixed_mbps (cameras and IMUs), trial_duration_s, grace_s,
  sinks[] {name, kind, start_mbps, probe_rows_per_s (null when paced),
  max_sustained_mbps, max_sustained_rows_per_s, max_sustained_points_per_s,
  first_failing_mbps, trials[] {offered_mbps, offered_rows_per_s, verdict, achieved_mbps,
  behind_percent}}}";

/// Exit codes of `spate check`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  every sink KEEPS UP (with --find-max: every sink sustained the starting rate; when
     unpaced, some rate)
  1  a sink FALLS BEHIND or DROPPED (with --find-max: one did not sustain it)
  2  error: invalid arguments or scenario, unwritable path, unreachable gRPC server";

/// Arguments of `spate check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lidar producer threads, one simulated lidar each [default: 4 without cameras and
    /// IMUs, else 0].
    #[arg(long, value_name = "N")]
    pub producers: Option<u32>,
    /// Points per cloud [default: 262144].
    #[arg(long, value_name = "P")]
    pub points: Option<u32>,
    /// Clouds per second per producer, any rate up to 1e9 (paced in wakes of 1 ms); 0:
    /// unpaced, as fast as the engine accepts [default: 10].
    #[arg(long, value_name = "H", conflicts_with = "rate")]
    pub hz: Option<f64>,
    /// Total payload rate of all producers in MB/s (instead of --hz).
    #[arg(long, value_name = "MBPS")]
    pub rate: Option<f64>,
    /// How long the load runs: 10s, 2m, 500ms or plain seconds [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// Entities lidar/0.., spread over the producers [default: one per producer].
    #[arg(long, value_name = "E")]
    pub entities: Option<u32>,
    /// What a full lane does [default: block].
    #[arg(long, value_enum)]
    pub lane_policy: Option<PolicyArg>,
    /// What a full sink queue does [default: drop].
    #[arg(long, value_enum)]
    pub sink_policy: Option<PolicyArg>,
    /// Bound of each sink's queue: 256MiB, 1GB or plain bytes [default: 256MiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub queue_bytes: Option<u64>,
    /// File sinks' I/O backend: auto, uring, mmap or pwrite [default: auto].
    #[arg(long)]
    pub backend: Option<IoBackend>,
    /// When file sinks fdatasync [default: close].
    #[arg(long, value_enum)]
    pub sync: Option<SyncArg>,
    /// How long after the load every sink may take to deliver everything (a duration)
    /// [default: max(1s, 10 % of the duration)].
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub grace: Option<f64>,
    /// A sink: file:PATH, grpc:URL, grpc (in-process receiver), null or throttle:MBPS;
    /// repeat for a tee.
    #[arg(long = "sink", value_name = "SINK")]
    pub sinks: Vec<SinkArg>,
    /// A camera: [NAME=]WIDTHxHEIGHT@FPS[:raw|:jpeg[=BYTES]]; repeat for more.
    #[arg(long = "camera", value_name = "SPEC")]
    pub cameras: Vec<CameraSpec>,
    /// An IMU: [NAME=]HZ[@BATCH] (samples per second, per send_columns call); repeat for
    /// more.
    #[arg(long = "imu", value_name = "SPEC")]
    pub imus: Vec<ImuSpec>,
    /// Read the settings from a TOML file (flags given here win).
    #[arg(long, value_name = "FILE.toml")]
    pub scenario: Option<PathBuf>,
    /// Print one JSON object instead of the table (keys are listed above).
    #[arg(long)]
    pub json: bool,
    /// Draw achieved rate and latency over time per sink into an SVG file.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "find_max")]
    pub plot: Option<PathBuf>,
    /// Search the highest lidar rate each sink sustains (short trials, each sink alone;
    /// cameras and IMUs keep their rates).
    #[arg(long)]
    pub find_max: bool,
    /// Load per --find-max trial (a duration).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_seconds)]
    pub trial_duration: f64,
    /// Most trials per sink with --find-max.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=40))]
    pub max_trials: u32,
    /// How long a gRPC sink may take to connect before the check fails (a duration).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_seconds)]
    pub connect_timeout: f64,
    /// Keep the default rig's temporary .rrd file (its path is printed on stderr).
    #[arg(long)]
    pub keep: bool,
    /// No progress bars.
    #[arg(short, long)]
    pub quiet: bool,
}

impl Args {
    fn overrides(&self) -> Overrides {
        Overrides {
            producers: self.producers,
            points: self.points,
            hz: self.hz,
            rate: self.rate,
            duration: self.duration,
            entities: self.entities,
            lane_policy: self.lane_policy,
            sink_policy: self.sink_policy,
            queue_bytes: self.queue_bytes,
            backend: self.backend,
            sync: self.sync,
            grace: self.grace,
            sinks: self.sinks.clone(),
            cameras: self.cameras.clone(),
            imus: self.imus.clone(),
        }
    }
}

fn seconds(what: &str, s: f64, max: f64) -> anyhow::Result<Duration> {
    ensure!(
        s.is_finite() && s > 0.0 && s <= max,
        "{what} must be between 0 and {max} seconds, not {s}"
    );
    Ok(Duration::from_secs_f64(s))
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // `spate check | head`: not our problem.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn json_text(v: &serde_json::Value) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(v)?;
    s.push('\n');
    Ok(s)
}

/// Runs `spate check`.
pub fn run(args: &Args) -> anyhow::Result<Judgement> {
    let connect_timeout = seconds("--connect-timeout", args.connect_timeout, 600.0)?;
    let trial_duration = seconds("--trial-duration", args.trial_duration, 3600.0)?;
    let file = args
        .scenario
        .as_deref()
        .map(ScenarioFile::load)
        .transpose()?;
    let scenario = Scenario::resolve(args.overrides(), file)?;
    if let Some(plot) = &args.plot {
        // Fail before the run, not after it.
        std::fs::File::create(plot).with_context(|| format!("cannot create {}", plot.display()))?;
    }
    let env = sinks::Environment::new(&scenario.sinks, args.keep, connect_timeout)?;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let code = if args.find_max {
        let mut log = |line: &str| {
            if !args.quiet {
                eprintln!("{line}");
            }
        };
        // Trials replace the scenario's duration, so they replace the grace that goes with
        // it too (a scenario file's 30 s after 1 s of load would let any rate keep up),
        // unless --grace is given here.
        let scenario = Scenario {
            grace: args.grace.and(scenario.grace),
            ..scenario
        };
        let result = find_max::run(
            &scenario,
            &env,
            trial_duration,
            args.max_trials,
            progress,
            &mut log,
        )?;
        if args.json {
            print(&json_text(&result.to_json())?)?;
        } else {
            print(&result.to_human())?;
        }
        result.exit_code()
    } else {
        let run = trial::run(&scenario, &env, progress)?;
        let report = report::Report::new(&run);
        if let Some(path) = &args.plot {
            plot::draw(path, &run, &report)?;
        }
        if args.json {
            print(&json_text(&report.to_json())?)?;
        } else {
            print(&report.to_human())?;
        }
        report.exit_code()
    };
    if args.keep
        && let Some(dir) = &env.temp
    {
        eprintln!("kept {}", dir.path().display());
    }
    Ok(if code == 0 {
        Judgement::Clean
    } else {
        Judgement::Problems
    })
}
