//! Verdicts from a [`RunResult`], printed as a table or as JSON.
//!
//! Definitions (also in `spate check --help`), with `T` the duration and `G` the grace:
//! * **offered bytes** of a sink: the preamble (`SetStoreInfo`, the recording's
//!   properties) plus every cloud the schedule holds, in encoded (wire) bytes: the bytes the engine encoded, plus, for clouds a lane dropped
//!   or a producer never logged, the mean wire size of a logged cloud. Offered MB/s =
//!   offered bytes / `T`.
//! * **delivered bytes**: measured at the sink (file, null, throttle: bytes whose `write`
//!   returned; gRPC: bytes the server confirmed — sent on a call it answered OK after the
//!   sink ended it; re-sends after a reconnect are not counted twice).
//! * **complete**: the first sample (every 25 ms after the load) at which delivered ≥
//!   offered. Achieved MB/s = delivered by then (or by `T + G`) / max(that time, `T`).
//! * **points/s** = bytes / wire bytes per point (all clouds have the same size).
//! * **verdict**: DROPPED if the sink dropped anything (queue full, sink failed, dropped
//!   or lost by a gRPC sink across disconnects) or a lane dropped clouds; else KEEPS UP if it was complete by
//!   `T + G` and closed cleanly (gRPC: acknowledged by the server); else FALLS BEHIND by
//!   `1 − achieved / offered`.

use std::fmt::Write as _;

use serde_json::{Value, json};
use spate::stats::LatencySummary;

use super::scenario::{BYTES_PER_POINT, Scenario};
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
    /// Lost messages (or a lane lost clouds).
    Dropped {
        /// Messages dropped by the sink plus clouds dropped by lanes.
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
    /// Clouds dropped by full lanes (`drop` lane policy): lost for every sink.
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

/// What the generator did.
#[derive(Clone, Debug)]
pub struct GeneratorSummary {
    /// Clouds the schedule holds.
    pub scheduled_clouds: u64,
    /// Clouds handed to `log()`.
    pub logged_clouds: u64,
    /// Clouds dropped by full lanes.
    pub lane_dropped: u64,
    /// When the last producer finished (None: stopped at the end of the window).
    pub finished_s: Option<f64>,
    /// Largest lateness of a cloud against its deadline.
    pub max_lateness_ms: f64,
    /// Wire bytes per point (encoded bytes / points encoded).
    pub wire_bytes_per_point: f64,
    /// Whether it kept its schedule (every cloud within one period of its deadline).
    pub on_schedule: bool,
    /// A producer's unexpected error.
    pub error: Option<String>,
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
        let logged: u64 = run.producers.iter().map(|p| p.clouds_logged).sum();
        // Unpaced, the load is whatever the producers logged.
        let scheduled = sc
            .clouds_per_producer()
            .map_or(logged, |c| c * u64::from(sc.producers));
        let drained = stats.rows_drained;
        // Chunks are not compressed here, so a cloud takes at least its payload on the
        // wire; rows drained but never encoded (a drain stuck on a blocking sink) would
        // otherwise lower the mean.
        let wire_per_cloud = if drained > 0 {
            (stats.bytes_encoded as f64 / drained as f64).max(sc.cloud_bytes() as f64)
        } else {
            sc.cloud_bytes() as f64
        };
        let wire_per_point = wire_per_cloud / f64::from(sc.points);
        let offered = run.hello_bytes
            + stats
                .bytes_encoded
                .max((scheduled as f64 * wire_per_cloud).round() as u64);
        let max_lateness = run
            .producers
            .iter()
            .map(|p| p.max_lateness)
            .max()
            .unwrap_or_default();
        let period = if sc.paced() {
            1.0 / sc.hz
        } else {
            f64::INFINITY
        };
        let generator = GeneratorSummary {
            scheduled_clouds: scheduled,
            logged_clouds: logged,
            lane_dropped: stats.rows_dropped(),
            finished_s: run.generator_done,
            max_lateness_ms: max_lateness.as_secs_f64() * 1e3,
            wire_bytes_per_point: wire_per_point,
            on_schedule: logged == scheduled && max_lateness.as_secs_f64() <= period,
            error: run.producers.iter().find_map(|p| p.error.clone()),
        };
        let last = run.samples.last();
        let sinks = run
            .sinks
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let by_window = last.map_or(0, |l| l.sinks[i].delivered);
                judge(s, by_window, offered, run, &generator, wire_per_point, t)
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
        let _ = if sc.paced() {
            writeln!(
                out,
                "load       {} producers x {} points x {} Hz for {:.1} s: {:.1} MB/s, {} points/s of payload ({} B/point)",
                sc.producers,
                sc.points,
                trim_float(sc.hz),
                sc.duration.as_secs_f64(),
                sc.payload_mbps(),
                si(sc.points_per_s()),
                BYTES_PER_POINT
            )
        } else {
            writeln!(
                out,
                "load       {} producers x {} points, unpaced (as fast as the engine accepts) for {:.1} s ({} B/point)",
                sc.producers,
                sc.points,
                sc.duration.as_secs_f64(),
                BYTES_PER_POINT
            )
        };
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
        let _ = writeln!(
            out,
            "generator  {} of {} clouds logged, {}, max lateness {:.1} ms{}{}",
            g.logged_clouds,
            g.scheduled_clouds,
            finished,
            g.max_lateness_ms,
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

    fn detail(&self, s: &SinkVerdict) -> String {
        let mut d = format!(
            "{} of {} delivered",
            bytes(s.delivered_bytes),
            bytes(s.offered_bytes)
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
            },
            "generator": {
                "scheduled_clouds": g.scheduled_clouds,
                "logged_clouds": g.logged_clouds,
                "lane_dropped_clouds": g.lane_dropped,
                "finished_s": g.finished_s,
                "max_lateness_ms": g.max_lateness_ms,
                "on_schedule": g.on_schedule,
                "wire_bytes_per_point": g.wire_bytes_per_point,
                "error": g.error,
            },
            "sinks": self.sinks.iter().map(sink_json).collect::<Vec<_>>(),
            "shutdown_s": self.shutdown_s,
        })
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
    wire_per_point: f64,
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
    let generated = generator.logged_clouds >= generator.scheduled_clouds;
    let complete = s.complete_at.filter(|c| generated && *c <= run.window_end);
    let delivered = if complete.is_some() {
        s.delivered_final.max(by_window)
    } else {
        by_window
    };
    let elapsed = complete.unwrap_or(run.window_end).max(t);
    let achieved_mbps = delivered as f64 / elapsed / 1e6;
    let offered_mbps = offered as f64 / t / 1e6;
    let payload = |b: u64| b.saturating_sub(run.hello_bytes) as f64;
    let achieved_pps = if wire_per_point > 0.0 {
        payload(delivered) / wire_per_point / elapsed
    } else {
        0.0
    };
    let mut note = st.error.clone();
    if !generated {
        note.get_or_insert_with(|| {
            format!(
                "only {} of {} clouds were logged by the end of the window",
                generator.logged_clouds, generator.scheduled_clouds
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
        offered_pps: if run.scenario.paced() {
            run.scenario.points_per_s()
        } else {
            (generator.logged_clouds * u64::from(run.scenario.points)) as f64 / t
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
