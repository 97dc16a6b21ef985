//! Verdicts from a [`RunResult`], printed as a table or as JSON.
//!
//! Definitions (also in `spate check --help`), with `T` the duration and `G` the grace:
//! * **offered bytes** of a sink: the preamble (`SetStoreInfo`, the recording's
//!   properties) plus every row the schedule holds
//!   (clouds, frames, IMU samples), in encoded (wire) bytes: the bytes the engine encoded,
//!   plus, for rows a lane dropped or a sensor never logged, their payload scaled by the
//!   measured wire bytes per payload byte. Offered MB/s = offered bytes / `T`.
//! * **delivered bytes**: measured at the sink (file, null, throttle: bytes whose `write`
//!   returned; gRPC: bytes the server confirmed — sent on a call it answered OK after the
//!   sink ended it; re-sends after a reconnect are not counted twice).
//! * **offered / delivered rows**: every row the schedule holds, of every sensor; the rows
//!   of the messages the sink delivered, counted once it closed.
//! * **complete**: the first sample (every 25 ms after the load) at which delivered ≥
//!   offered. Achieved MB/s = delivered by then (or by `T + G`) / max(that time, `T`).
//! * **points/s** (lidar) = the lidars' share of the payload bytes / wire bytes per point.
//! * **verdict**: DROPPED if the sink dropped anything (queue full, sink failed, dropped
//!   or lost by a gRPC sink across disconnects) or a lane dropped rows; else KEEPS UP if it
//!   was complete by `T + G` and closed cleanly (gRPC: acknowledged by the server); else
//!   FALLS BEHIND by `1 − achieved / offered`.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use spate::stats::LatencySummary;

use super::generator::ProducerResult;
use super::scenario::{
    BYTES_PER_IMU_SAMPLE, BYTES_PER_POINT, Camera, CameraEncoding, KindLoad, Scenario, SensorKind,
};
use super::trial::{ReceiverDelta, RunResult, SinkRun};

/// The verdict of one sink.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Delivered everything offered within the grace, without drops.
    KeepsUp,
    /// Did not deliver everything by the end of the grace.
    FallsBehind {
        /// `(1 − achieved / offered) × 100`.
        percent: f64,
    },
    /// Lost messages (or a lane lost rows).
    Dropped {
        /// Messages dropped by the sink plus rows dropped by lanes.
        count: u64,
    },
}

impl Verdict {
    /// `KEEPS_UP`, `FALLS_BEHIND` or `DROPPED` (JSON).
    pub fn code(self) -> &'static str {
        match self {
            Self::KeepsUp => "KEEPS_UP",
            Self::FallsBehind { .. } => "FALLS_BEHIND",
            Self::Dropped { .. } => "DROPPED",
        }
    }

    /// For people: `KEEPS UP`, `FALLS BEHIND by 12.3 %`, `DROPPED 5`.
    pub fn text(self) -> String {
        match self {
            Self::KeepsUp => "KEEPS UP".to_owned(),
            Self::FallsBehind { percent } => format!("FALLS BEHIND by {percent:.1} %"),
            Self::Dropped { count } => format!("DROPPED {count}"),
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::KeepsUp => 0,
            Self::FallsBehind { .. } => 1,
            Self::Dropped { .. } => 2,
        }
    }
}

/// Drops of one sink, by reason.
#[derive(Clone, Copy, Debug, Default)]
pub struct Drops {
    /// Messages dropped because the sink's queue was full (`drop` sink policy).
    pub queue_full: u64,
    /// Messages dropped because the sink failed.
    pub sink_failed: u64,
    /// Messages a gRPC sink dropped or lost itself (beyond its buffer while disconnected,
    /// unconfirmed at a disconnect and not re-sent, left at its close deadline).
    pub disconnected: u64,
    /// Rows dropped by full lanes (`drop` lane policy): lost for every sink.
    pub lane_full: u64,
    /// Messages still queued when the shutdown allowance ended: the backlog of a sink that
    /// fell behind (not counted as drops for the verdict).
    pub shutdown_deadline: u64,
}

impl Drops {
    /// Everything that counts as a drop for the verdict.
    pub fn total(&self) -> u64 {
        self.queue_full + self.sink_failed + self.disconnected + self.lane_full
    }
}

/// The judged result of one sink.
#[derive(Clone, Debug)]
pub struct SinkVerdict {
    /// The engine's name.
    pub name: String,
    /// `file`, `grpc`, `null` or `throttle`.
    pub kind: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Bytes offered.
    pub offered_bytes: u64,
    /// Bytes delivered by the end of the window (or completion).
    pub delivered_bytes: u64,
    /// Rows offered: every row of the schedule, every sensor.
    pub offered_rows: u64,
    /// Rows delivered, counted when the sink closed.
    pub delivered_rows: u64,
    /// Offered rows/s: offered rows / `T`.
    pub offered_rows_per_s: f64,
    /// Achieved rows/s: rows delivered by completion (or by `T + G`, estimated from the
    /// bytes) / max(that time, `T`).
    pub achieved_rows_per_s: f64,
    /// Offered MB/s.
    pub offered_mbps: f64,
    /// Achieved MB/s.
    pub achieved_mbps: f64,
    /// Offered points/s.
    pub offered_pps: f64,
    /// Achieved points/s.
    pub achieved_pps: f64,
    /// When everything was delivered, seconds from the start.
    pub complete_s: Option<f64>,
    /// Latency from `log()` to written / sent.
    pub latency: LatencySummary,
    /// Drops by reason.
    pub drops: Drops,
    /// Most bytes ever queued for the sink.
    pub queue_high_water: u64,
    /// Whether the sink closed cleanly (a file's footer written and synced, a gRPC
    /// stream acknowledged).
    pub closed_cleanly: bool,
    /// For the in-process receiver: what the server received.
    pub receiver: Option<ReceiverDelta>,
    /// For gRPC: messages handed to HTTP/2.
    pub grpc_sent_messages: Option<u64>,
    /// Why the verdict is not KEEPS UP, in words (or the sink's error).
    pub note: Option<String>,
}

/// What the sensors of one kind did.
#[derive(Clone, Debug)]
pub struct KindSummary {
    /// The kind.
    pub kind: SensorKind,
    /// The offered load, from the scenario.
    pub load: KindLoad,
    /// Rows the schedule holds (unpaced lidars: what they logged).
    pub scheduled_rows: u64,
    /// Rows handed to the engine.
    pub logged_rows: u64,
    /// Their payload bytes.
    pub logged_payload: u64,
    /// Largest lateness of a call against its deadline.
    pub max_lateness_ms: f64,
    /// Whether every sensor of the kind kept its schedule (every row logged, every call
    /// within one period of its deadline).
    pub on_schedule: bool,
    /// The sensors' busy time (making and logging rows, `log()` and waits for full lanes
    /// included, sleeps not) per row logged, ns (None: no row logged).
    pub busy_ns_per_row: Option<f64>,
    /// Their busy time over the time they ran, %.
    pub busy_percent: f64,
}

impl KindSummary {
    fn new(kind: SensorKind, scenario: &Scenario, producers: &[ProducerResult]) -> Self {
        let mine = || producers.iter().filter(|p| p.kind == kind);
        let load = scenario.load(kind);
        let logged_rows = mine().map(|p| p.rows_logged).sum();
        let scheduled_rows = load.scheduled_rows.unwrap_or(logged_rows);
        let busy: Duration = mine().map(|p| p.busy).sum();
        let ran: Duration = mine().map(|p| p.finished_after).sum();
        Self {
            kind,
            load,
            scheduled_rows,
            logged_rows,
            logged_payload: mine().map(|p| p.payload_logged).sum(),
            max_lateness_ms: mine()
                .map(|p| p.max_lateness)
                .max()
                .unwrap_or_default()
                .as_secs_f64()
                * 1e3,
            on_schedule: logged_rows == scheduled_rows
                && mine().all(|p| p.max_lateness <= p.period),
            busy_ns_per_row: (logged_rows > 0)
                .then(|| busy.as_secs_f64() * 1e9 / logged_rows as f64),
            busy_percent: if ran.is_zero() {
                0.0
            } else {
                busy.as_secs_f64() / ran.as_secs_f64() * 100.0
            },
        }
    }

    /// The payload the schedule holds (unpaced lidars: what they logged).
    fn scheduled_payload(&self) -> u64 {
        self.load.scheduled_payload.unwrap_or(self.logged_payload)
    }
}

/// What the generator did.
#[derive(Clone, Debug)]
pub struct GeneratorSummary {
    /// Per kind of sensor, every kind (zero sensors for the kinds not in the scenario).
    pub kinds: Vec<KindSummary>,
    /// Rows the schedule holds, every sensor.
    pub scheduled_rows: u64,
    /// Rows handed to the engine, every sensor.
    pub logged_rows: u64,
    /// Rows dropped by full lanes.
    pub lane_dropped: u64,
    /// When the last sensor finished (None: stopped at the end of the window).
    pub finished_s: Option<f64>,
    /// Largest lateness of a call against its deadline, every sensor.
    pub max_lateness_ms: f64,
    /// Wire bytes per payload byte (encoded bytes / payload of the rows encoded, ≥ 1).
    pub wire_per_payload_byte: f64,
    /// Wire bytes per lidar point.
    pub wire_bytes_per_point: f64,
    /// Whether it kept its schedule (every row logged, every call within one period of its
    /// deadline).
    pub on_schedule: bool,
    /// A sensor's unexpected error.
    pub error: Option<String>,
    /// How the lidars' clouds were made: `shared` (one cloud built before the clock) or
    /// `pooled` (a template copied into pooled loans per cloud); None: no lidar.
    pub cloud_buffers: Option<&'static str>,
}

impl GeneratorSummary {
    /// One kind's summary.
    pub fn kind(&self, kind: SensorKind) -> &KindSummary {
        // Built with every kind, in `SensorKind::ALL` order.
        &self.kinds[SensorKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_default()]
    }

    /// The kinds the scenario has.
    fn present(&self) -> impl Iterator<Item = &KindSummary> {
        self.kinds.iter().filter(|k| k.load.sensors > 0)
    }

    /// `20 of 20 clouds, 30 of 30 frames`: logged of scheduled rows per kind present.
    fn logged_text(&self, only_short: bool) -> String {
        self.present()
            .filter(|k| !only_short || k.logged_rows < k.scheduled_rows)
            .map(|k| {
                format!(
                    "{} of {} {}",
                    k.logged_rows,
                    k.scheduled_rows,
                    k.kind.rows_noun()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The whole judged run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario.
    pub scenario: Scenario,
    /// Grace, seconds.
    pub grace_s: f64,
    /// The generator.
    pub generator: GeneratorSummary,
    /// One per sink.
    pub sinks: Vec<SinkVerdict>,
    /// Seconds shutdown took.
    pub shutdown_s: f64,
}

impl Report {
    /// Judges a run.
    pub fn new(run: &RunResult) -> Self {
        let sc = &run.scenario;
        let t = sc.duration.as_secs_f64();
        let stats = &run.stats;
        let kinds: Vec<KindSummary> = SensorKind::ALL
            .iter()
            .map(|k| KindSummary::new(*k, sc, &run.producers))
            .collect();
        let logged: u64 = kinds.iter().map(|k| k.logged_rows).sum();
        let scheduled: u64 = kinds.iter().map(|k| k.scheduled_rows).sum();
        let logged_payload: u64 = kinds.iter().map(|k| k.logged_payload).sum();
        let scheduled_payload: u64 = kinds.iter().map(|k| k.scheduled_payload()).sum();
        // Wire bytes per payload byte, to price the rows never encoded (not logged, dropped
        // by a lane, stuck in a drain): the bytes encoded over the payload of the rows
        // encoded, that payload estimated from the rows encoded (exact once every row
        // logged was encoded). Chunks are not compressed here, so a row takes at least its
        // payload on the wire: the floor of 1. (`rows_encoded`, not `rows_drained`: the
        // drain counts a send_columns chunk as one row drained.)
        let encoded_rows = stats.rows_encoded.min(logged);
        let payload_encoded = if logged > 0 {
            logged_payload as f64 * encoded_rows as f64 / logged as f64
        } else {
            0.0
        };
        let wire_ratio = if payload_encoded > 0.0 {
            (stats.bytes_encoded as f64 / payload_encoded).max(1.0)
        } else {
            1.0
        };
        let offered = run.hello_bytes
            + stats
                .bytes_encoded
                .max((scheduled_payload as f64 * wire_ratio).round() as u64);
        let generator = GeneratorSummary {
            scheduled_rows: scheduled,
            logged_rows: logged,
            lane_dropped: stats.rows_dropped(),
            finished_s: run.generator_done,
            max_lateness_ms: kinds.iter().map(|k| k.max_lateness_ms).fold(0.0, f64::max),
            wire_per_payload_byte: wire_ratio,
            wire_bytes_per_point: BYTES_PER_POINT as f64 * wire_ratio,
            on_schedule: kinds.iter().all(|k| k.on_schedule),
            error: run.producers.iter().find_map(|p| p.error.clone()),
            cloud_buffers: run.cloud_buffers,
            kinds,
        };
        let lidar_share = if scheduled_payload > 0 {
            generator.kind(SensorKind::Lidar).scheduled_payload() as f64 / scheduled_payload as f64
        } else {
            0.0
        };
        let last = run.samples.last();
        let sinks = run
            .sinks
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let by_window = last.map_or(0, |l| l.sinks[i].delivered);
                judge(s, by_window, offered, run, &generator, lidar_share, t)
            })
            .collect();
        Self {
            scenario: sc.clone(),
            grace_s: sc.grace().as_secs_f64(),
            generator,
            sinks,
            shutdown_s: run.shutdown_s,
        }
    }

    /// The worst verdict.
    pub fn verdict(&self) -> Verdict {
        self.sinks
            .iter()
            .map(|s| s.verdict)
            .max_by_key(|v| v.rank())
            .unwrap_or(Verdict::KeepsUp)
    }

    /// 0 if every sink keeps up, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.verdict() != Verdict::KeepsUp)
    }

    /// The report as a table.
    pub fn to_human(&self) -> String {
        let sc = &self.scenario;
        let g = &self.generator;
        let mut out = String::new();
        if sc.has_other_sensors() {
            let _ = writeln!(out, "load       {}", self.total_text());
            if sc.has_lidar() {
                let _ = writeln!(out, "lidar      {}", lidar_text(sc, false));
            }
            if !sc.cameras.is_empty() {
                let _ = writeln!(out, "cameras    {}", cameras_text(sc));
            }
            if !sc.imus.is_empty() {
                let _ = writeln!(out, "imu        {}", imus_text(sc));
            }
        } else {
            let _ = writeln!(out, "load       {}", lidar_text(sc, true));
        }
        let _ = writeln!(
            out,
            "engine     lanes {}, sinks {} (queue {} each), file backend {}, sync {}, grace {:.1} s",
            sc.lane_policy.as_str(),
            sc.sink_policy.as_str(),
            bytes(sc.queue_bytes),
            sc.backend,
            sc.sync.as_str(),
            self.grace_s
        );
        let finished = g.finished_s.map_or_else(
            || "stopped at the end of the window".to_owned(),
            |f| format!("done at {f:.2} s"),
        );
        // With several kinds: the lateness of each, and which fell behind.
        let lateness = if sc.has_other_sensors() {
            let parts: Vec<String> = g
                .present()
                .map(|k| {
                    format!(
                        "{} {:.1}{}",
                        k.kind.as_str(),
                        k.max_lateness_ms,
                        if k.on_schedule { "" } else { " BEHIND" }
                    )
                })
                .collect();
            format!("max lateness (ms): {}", parts.join(", "))
        } else {
            format!("max lateness {:.1} ms", g.max_lateness_ms)
        };
        let lidar = g.kind(SensorKind::Lidar);
        let busy = match (sc.has_lidar(), lidar.busy_ns_per_row) {
            (true, Some(ns)) => format!(
                ", lidars busy {:.0} % ({} a cloud, log() included)",
                lidar.busy_percent,
                nanos(ns)
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "generator  {} logged, {}, {lateness}{busy}{}{}",
            g.logged_text(false),
            finished,
            if g.lane_dropped > 0 {
                format!(", {} dropped by full lanes", g.lane_dropped)
            } else {
                String::new()
            },
            if g.on_schedule {
                String::new()
            } else {
                " — BEHIND SCHEDULE (machine too slow or back-pressure)".to_owned()
            }
        );
        out.push('\n');
        let header = [
            "sink",
            "offered MB/s",
            "achieved MB/s",
            "offered pts/s",
            "achieved pts/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "drops",
            "queue hw",
            "verdict",
        ];
        let rows: Vec<Vec<String>> = self
            .sinks
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    format!("{:.1}", s.offered_mbps),
                    format!("{:.1}", s.achieved_mbps),
                    si(s.offered_pps),
                    si(s.achieved_pps),
                    ms(s.latency.p50),
                    ms(s.latency.p99),
                    ms(s.latency.max),
                    s.drops.total().to_string(),
                    bytes(s.queue_high_water),
                    s.verdict.text(),
                ]
            })
            .collect();
        // Points per second are the lidars'; without lidars the columns go.
        let keep = |c: usize| sc.has_lidar() || !(3..=4).contains(&c);
        let header: Vec<&str> = (0..header.len())
            .filter(|c| keep(*c))
            .map(|c| header[c])
            .collect();
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .enumerate()
                    .filter(|(c, _)| keep(*c))
                    .map(|(_, cell)| cell)
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let pad = widths[c].saturating_sub(cell.chars().count());
                if c == 0 || c == cells.len() - 1 {
                    l.push_str(cell);
                    if c + 1 < cells.len() {
                        l.push_str(&" ".repeat(pad));
                    }
                } else {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(cell);
                }
                if c + 1 < cells.len() {
                    l.push_str("  ");
                }
            }
            l.trim_end().to_owned()
        };
        let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
        let _ = writeln!(out, "{}", line(&header));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
        out.push('\n');
        for s in &self.sinks {
            let _ = writeln!(out, "{}: {}", s.name, self.detail(s));
        }
        let _ = writeln!(
            out,
            "closing the sinks (file footer and sync, gRPC acknowledgement) took {:.2} s",
            self.shutdown_s
        );
        let verdict = self.verdict();
        let _ = writeln!(
            out,
            "\nverdict: {}",
            match verdict {
                Verdict::KeepsUp => format!(
                    "KEEPS UP — every sink delivered everything within {:.1} s after the load",
                    self.grace_s
                ),
                _ => {
                    let bad: Vec<String> = self
                        .sinks
                        .iter()
                        .filter(|s| s.verdict != Verdict::KeepsUp)
                        .map(|s| format!("{} {}", s.name, s.verdict.text()))
                        .collect();
                    format!("{} ({})", verdict.code().replace('_', " "), bad.join("; "))
                }
            }
        );
        out
    }

    /// The whole offered load, for a scenario with more than lidars.
    fn total_text(&self) -> String {
        let sc = &self.scenario;
        let kinds: Vec<&KindSummary> = self.generator.present().collect();
        let mbps: f64 = kinds.iter().map(|k| k.load.payload_mbps).sum();
        let rows: f64 = kinds.iter().map(|k| k.load.rows_per_s).sum();
        let parts: Vec<String> = kinds
            .iter()
            .map(|k| format!("{} {}", k.kind.as_str(), mbps_text(k.load.payload_mbps)))
            .collect();
        let unpaced = if sc.has_lidar() && !sc.paced() {
            " and unpaced lidars"
        } else {
            ""
        };
        format!(
            "for {:.1} s: {} MB/s, {} rows/s of payload ({} MB/s){unpaced}",
            sc.duration.as_secs_f64(),
            mbps_text(mbps),
            si(rows),
            parts.join(", "),
        )
    }

    fn detail(&self, s: &SinkVerdict) -> String {
        let mut d = format!(
            "{} of {} delivered ({} of {} rows, {} rows/s)",
            bytes(s.delivered_bytes),
            bytes(s.offered_bytes),
            s.delivered_rows,
            s.offered_rows,
            si(s.achieved_rows_per_s)
        );
        match s.complete_s {
            Some(c) => {
                let _ = write!(d, ", complete at {c:.2} s");
            }
            None => {
                let _ = write!(
                    d,
                    " by {:.1} s",
                    self.scenario.duration.as_secs_f64() + self.grace_s
                );
            }
        }
        if let (Some(r), Some(sent)) = (s.receiver, s.grpc_sent_messages) {
            let _ = write!(d, ", receiver got {} of {} messages", r.messages, sent);
        }
        let dr = &s.drops;
        let reasons: Vec<String> = [
            ("queue_full", dr.queue_full),
            ("sink_failed", dr.sink_failed),
            ("disconnected", dr.disconnected),
            ("lane_full", dr.lane_full),
            ("left at shutdown", dr.shutdown_deadline),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
        if !reasons.is_empty() {
            let _ = write!(d, "; drops: {}", reasons.join(", "));
        }
        if !s.closed_cleanly {
            d.push_str("; not closed cleanly");
        }
        if let Some(n) = &s.note {
            let _ = write!(d, "; {n}");
        }
        d
    }

    /// The report as JSON (keys documented in `spate check --help`).
    pub fn to_json(&self) -> Value {
        let sc = &self.scenario;
        let g = &self.generator;
        json!({
            "verdict": self.verdict().code(),
            "exit_code": self.exit_code(),
            "scenario": {
                "producers": sc.producers,
                "points": sc.points,
                "hz": sc.hz,
                "duration_s": sc.duration.as_secs_f64(),
                "entities": sc.entities,
                "payload_mbps": sc.payload_mbps(),
                "points_per_s": sc.points_per_s(),
                "bytes_per_point": BYTES_PER_POINT,
                "lane_policy": sc.lane_policy.as_str(),
                "sink_policy": sc.sink_policy.as_str(),
                "queue_bytes": sc.queue_bytes,
                "backend": sc.backend.as_str(),
                "sync": sc.sync.as_str(),
                "grace_s": self.grace_s,
                "cameras": sc.cameras.iter().map(|c| json!({
                    "name": c.name,
                    "entity": c.entity(),
                    "width": c.width,
                    "height": c.height,
                    "fps": c.fps,
                    "encoding": c.encoding.as_str(),
                    "frame_bytes": c.frame_bytes(),
                })).collect::<Vec<_>>(),
                "imus": sc.imus.iter().map(|m| json!({
                    "name": m.name,
                    "entity": m.entity(),
                    "hz": m.hz,
                    "batch": m.batch,
                    "bytes_per_sample": BYTES_PER_IMU_SAMPLE,
                })).collect::<Vec<_>>(),
            },
            "load": self.load_json(),
            "generator": {
                "scheduled_clouds": g.kind(SensorKind::Lidar).scheduled_rows,
                "logged_clouds": g.kind(SensorKind::Lidar).logged_rows,
                "scheduled_rows": g.scheduled_rows,
                "logged_rows": g.logged_rows,
                "lane_dropped_rows": g.lane_dropped,
                "finished_s": g.finished_s,
                "max_lateness_ms": g.max_lateness_ms,
                "on_schedule": g.on_schedule,
                "wire_bytes_per_point": g.wire_bytes_per_point,
                "wire_bytes_per_payload_byte": g.wire_per_payload_byte,
                "cloud_buffers": g.cloud_buffers,
                "error": g.error,
            },
            "sinks": self.sinks.iter().map(sink_json).collect::<Vec<_>>(),
            "shutdown_s": self.shutdown_s,
        })
    }
}

impl Report {
    /// `load`: the offered and logged load per kind of sensor, and in total.
    fn load_json(&self) -> Value {
        let mut load = serde_json::Map::new();
        for k in &self.generator.kinds {
            load.insert(
                k.kind.as_str().to_owned(),
                json!({
                    "sensors": k.load.sensors,
                    "rows_per_s": k.load.rows_per_s,
                    "payload_mbps": k.load.payload_mbps,
                    "scheduled_rows": k.scheduled_rows,
                    "logged_rows": k.logged_rows,
                    "logged_payload_bytes": k.logged_payload,
                    "max_lateness_ms": k.max_lateness_ms,
                    "on_schedule": k.on_schedule,
                    "busy_ns_per_row": k.busy_ns_per_row,
                    "busy_percent": k.busy_percent,
                }),
            );
        }
        let kinds = &self.generator.kinds;
        load.insert(
            "total".to_owned(),
            json!({
                "sensors": kinds.iter().map(|k| k.load.sensors).sum::<u32>(),
                "rows_per_s": kinds.iter().map(|k| k.load.rows_per_s).sum::<f64>(),
                "payload_mbps": kinds.iter().map(|k| k.load.payload_mbps).sum::<f64>(),
                "scheduled_rows": self.generator.scheduled_rows,
                "logged_rows": self.generator.logged_rows,
                "logged_payload_bytes": kinds.iter().map(|k| k.logged_payload).sum::<u64>(),
            }),
        );
        Value::Object(load)
    }
}

fn sink_json(s: &SinkVerdict) -> Value {
    let lat = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    json!({
        "name": s.name,
        "kind": s.kind,
        "verdict": s.verdict.code(),
        "behind_percent": match s.verdict {
            Verdict::FallsBehind { percent } => Some(percent),
            _ => None,
        },
        "dropped": s.drops.total(),
        "drops": {
            "queue_full": s.drops.queue_full,
            "sink_failed": s.drops.sink_failed,
            "disconnected": s.drops.disconnected,
            "lane_full": s.drops.lane_full,
            "shutdown_deadline": s.drops.shutdown_deadline,
        },
        "offered_bytes": s.offered_bytes,
        "delivered_bytes": s.delivered_bytes,
        "offered_rows": s.offered_rows,
        "delivered_rows": s.delivered_rows,
        "offered_rows_per_s": s.offered_rows_per_s,
        "achieved_rows_per_s": s.achieved_rows_per_s,
        "offered_mbps": s.offered_mbps,
        "achieved_mbps": s.achieved_mbps,
        "offered_points_per_s": s.offered_pps,
        "achieved_points_per_s": s.achieved_pps,
        "complete_s": s.complete_s,
        "latency_ms": {
            "count": s.latency.count,
            "p50": lat(s.latency.p50),
            "p99": lat(s.latency.p99),
            "max": lat(s.latency.max),
            "mean": lat(s.latency.mean),
        },
        "queue_high_water_bytes": s.queue_high_water,
        "closed_cleanly": s.closed_cleanly,
        "grpc_sent_messages": s.grpc_sent_messages,
        "receiver": s.receiver.map(|r| json!({
            "messages": r.messages,
            "bytes": r.bytes,
            "calls_finished": r.calls_finished,
        })),
        "note": s.note,
    })
}

fn judge(
    s: &SinkRun,
    by_window: u64,
    offered: u64,
    run: &RunResult,
    generator: &GeneratorSummary,
    lidar_share: f64,
    t: f64,
) -> SinkVerdict {
    let st = &s.report.stats;
    let drops = Drops {
        queue_full: st.dropped_queue_full,
        sink_failed: st.dropped_sink_failed,
        disconnected: st.dropped_by_sink(),
        lane_full: generator.lane_dropped,
        shutdown_deadline: st.dropped_shutdown_deadline,
    };
    // A load that was not fully generated was not kept up with, whichever part fell
    // short (a producer blocked by a full lane counts against the sinks).
    let generated = generator.logged_rows >= generator.scheduled_rows;
    let complete = s.complete_at.filter(|c| generated && *c <= run.window_end);
    let delivered = if complete.is_some() {
        s.delivered_final.max(by_window)
    } else {
        by_window
    };
    let elapsed = complete.unwrap_or(run.window_end).max(t);
    let achieved_mbps = delivered as f64 / elapsed / 1e6;
    // Rows are counted when the sink closed: by the end of the window, the share of them
    // its bytes delivered by then.
    let delivered_rows = if complete.is_some() || s.delivered_final == 0 {
        s.delivered_rows as f64
    } else {
        s.delivered_rows as f64 * (delivered as f64 / s.delivered_final as f64).min(1.0)
    };
    let offered_mbps = offered as f64 / t / 1e6;
    let payload = |b: u64| b.saturating_sub(run.hello_bytes) as f64;
    let achieved_pps = payload(delivered) * lidar_share / generator.wire_bytes_per_point / elapsed;
    let mut note = st.error.clone();
    if !generated {
        note.get_or_insert_with(|| {
            format!(
                "only {} were logged by the end of the window",
                generator.logged_text(true)
            )
        });
    }
    let acknowledged = match (&s.receiver, &s.grpc) {
        (Some(r), Some(g)) => {
            let ok = r.messages >= g.confirmed_messages && r.calls_finished >= 1;
            if !ok {
                note.get_or_insert_with(|| {
                    format!(
                        "the receiver holds {} of {} messages the sink counts as confirmed",
                        r.messages, g.confirmed_messages
                    )
                });
            }
            ok
        }
        _ => true,
    };
    let closed = s.report.closed_cleanly && acknowledged;
    if complete.is_some() && !s.report.closed_cleanly {
        note.get_or_insert_with(|| "delivered everything but did not close in time".to_owned());
    }
    let verdict = if drops.total() > 0 {
        Verdict::Dropped {
            count: drops.total(),
        }
    } else if complete.is_some() && closed {
        Verdict::KeepsUp
    } else {
        Verdict::FallsBehind {
            percent: ((1.0 - achieved_mbps / offered_mbps.max(1e-12)) * 100.0).clamp(0.0, 100.0),
        }
    };
    SinkVerdict {
        name: s.name.clone(),
        kind: s.arg.kind(),
        verdict,
        offered_bytes: offered,
        delivered_bytes: delivered,
        offered_mbps,
        achieved_mbps,
        offered_rows: generator.scheduled_rows,
        delivered_rows: s.delivered_rows,
        offered_rows_per_s: generator.scheduled_rows as f64 / t,
        achieved_rows_per_s: delivered_rows / elapsed,
        offered_pps: if run.scenario.paced() {
            run.scenario.points_per_s()
        } else {
            (generator.kind(SensorKind::Lidar).logged_rows * u64::from(run.scenario.points)) as f64
                / t
        },
        achieved_pps,
        complete_s: complete,
        latency: st.latency,
        drops,
        queue_high_water: st.queue_high_water_bytes,
        closed_cleanly: closed,
        receiver: s.receiver,
        grpc_sent_messages: s.grpc.as_ref().map(|g| g.sent_messages),
        note,
    }
}

/// The lidars' load: `4 producers x 262144 points x 10 Hz[ for 10.0 s]: 209.7 MB/s, …`.
fn lidar_text(sc: &Scenario, with_duration: bool) -> String {
    let duration = if with_duration {
        format!(" for {:.1} s", sc.duration.as_secs_f64())
    } else {
        String::new()
    };
    if sc.paced() {
        format!(
            "{} producers x {} points x {} Hz{duration}: {:.1} MB/s, {} points/s of payload ({} B/point)",
            sc.producers,
            sc.points,
            trim_float(sc.hz),
            sc.payload_mbps(),
            si(sc.points_per_s()),
            BYTES_PER_POINT
        )
    } else {
        format!(
            "{} producers x {} points, unpaced (as fast as the engine accepts){duration} ({} B/point)",
            sc.producers, sc.points, BYTES_PER_POINT
        )
    }
}

/// The cameras' load, identical cameras grouped: `2 x 1920x1080 RGB raw @ 30 fps (6.2 MB a
/// frame), …: 373.2 MB/s, 60 frames/s of payload`.
fn cameras_text(sc: &Scenario) -> String {
    let same = |a: &Camera, b: &Camera| {
        (a.width, a.height, a.fps, a.encoding, a.jpeg_bytes)
            == (b.width, b.height, b.fps, b.encoding, b.jpeg_bytes)
    };
    let mut groups: Vec<(&Camera, usize)> = Vec::new();
    for c in &sc.cameras {
        match groups.iter_mut().find(|(g, _)| same(g, c)) {
            Some((_, n)) => *n += 1,
            None => groups.push((c, 1)),
        }
    }
    let groups: Vec<String> = groups
        .iter()
        .map(|(c, n)| {
            format!(
                "{n} x {}x{} {} @ {} fps ({} a frame)",
                c.width,
                c.height,
                match c.encoding {
                    CameraEncoding::Raw => "RGB raw",
                    CameraEncoding::Jpeg => "jpeg",
                },
                trim_float(c.fps),
                bytes(c.frame_bytes())
            )
        })
        .collect();
    let load = sc.load(SensorKind::Camera);
    format!(
        "{}: {} MB/s, {} frames/s of payload",
        groups.join(", "),
        mbps_text(load.payload_mbps),
        trim_float(load.rows_per_s)
    )
}

/// The IMUs' load, identical IMUs grouped: `1 x 1000 Hz in send_columns calls of 100
/// samples: 0.056 MB/s, 1.0 k samples/s of payload (56 B/sample)`.
fn imus_text(sc: &Scenario) -> String {
    let mut groups: Vec<((f64, u32), usize)> = Vec::new();
    for m in &sc.imus {
        match groups.iter_mut().find(|(g, _)| *g == (m.hz, m.batch)) {
            Some((_, n)) => *n += 1,
            None => groups.push(((m.hz, m.batch), 1)),
        }
    }
    let groups: Vec<String> = groups
        .iter()
        .map(|((hz, batch), n)| {
            format!(
                "{n} x {} Hz in send_columns calls of {batch} samples",
                trim_float(*hz)
            )
        })
        .collect();
    let load = sc.load(SensorKind::Imu);
    format!(
        "{}: {} MB/s, {} samples/s of payload ({BYTES_PER_IMU_SAMPLE} B/sample)",
        groups.join(", "),
        mbps_text(load.payload_mbps),
        si(load.rows_per_s)
    )
}

/// MB/s with three decimals below 1, else one.
pub fn mbps_text(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

/// `1.5 GB`, `12.0 MiB`-style sizes (decimal units, like the rates).
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

/// `10.49 M`, `12.3 k`.
pub fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `410 ns`, `12.3 µs`, `4.5 ms`.
fn nanos(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn ms(d: std::time::Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
