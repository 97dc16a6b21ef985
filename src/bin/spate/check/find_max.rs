//! `--find-max`: the highest offered rate each sink sustains, by short trials.
//!
//! Each sink is tested **alone** (a tee shares the drain and the CPU; test the tee by
//! running plain checks at the rate found). The first trial runs at the scenario's rate;
//! while every trial keeps up the rate doubles, while every trial fails it halves, and once
//! a rate that keeps up and one that does not are known, the next trial runs at their
//! geometric mean, until they are within 10 % of each other or `--max-trials` ran. Only
//! the cloud rate (`hz`) changes; producers and points per cloud stay as given.
//!
//! Only the lidars are scaled: cameras and IMUs run at their own rates in every trial, as a
//! fixed background load (a camera's frame rate is a property of the sensor, not a dial), so
//! the answer is how much lidar a sink takes on top of them.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::report::{Report, Verdict, si};
use super::scenario::Scenario;
use super::sinks::Environment;
use super::trial;

/// Stop bisecting once the bracket is this tight (hi / lo).
const BRACKET: f64 = 1.1;

/// One trial.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    /// Offered payload MB/s.
    pub offered_mbps: f64,
    /// Its verdict.
    pub verdict: Verdict,
    /// Achieved MB/s (wire bytes).
    pub achieved_mbps: f64,
}

/// The result for one sink.
#[derive(Clone, Debug)]
pub struct SinkMax {
    /// The engine's name of the sink.
    pub name: String,
    /// `file`, `grpc`, …
    pub kind: &'static str,
    /// Highest payload MB/s that kept up (None: not even the lowest tried).
    pub max_mbps: Option<f64>,
    /// Lowest payload MB/s that did not (None: none failed).
    pub first_failing_mbps: Option<f64>,
    /// Every trial, in order.
    pub trials: Vec<Trial>,
}

/// The whole search.
#[derive(Clone, Debug)]
pub struct FindMax {
    /// The rate the search started from (the scenario's), lidar payload MB/s.
    pub start_mbps: f64,
    /// Payload MB/s of the cameras and IMUs, the same in every trial.
    pub fixed_mbps: f64,
    /// Payload bytes per second → points per second.
    pub points_per_mb: f64,
    /// Each trial's load duration.
    pub trial_duration: Duration,
    /// Each trial's grace.
    pub grace: Duration,
    /// Per sink.
    pub sinks: Vec<SinkMax>,
}

/// Runs the search for every sink of `scenario`.
pub fn run(
    scenario: &Scenario,
    env: &Environment,
    trial_duration: Duration,
    max_trials: u32,
    progress: bool,
    log: &mut dyn FnMut(&str),
) -> anyhow::Result<FindMax> {
    let grace = scenario
        .grace
        .unwrap_or_else(|| (trial_duration / 10).max(Duration::from_millis(250)));
    let base = Scenario {
        duration: trial_duration,
        grace: Some(grace),
        ..scenario.clone()
    };
    anyhow::ensure!(
        scenario.has_lidar(),
        "--find-max scales the lidar rate, and this scenario has no lidar (producers = 0); \
         cameras and IMUs keep their rates: run plain checks to try other rigs"
    );
    anyhow::ensure!(
        scenario.paced(),
        "--find-max starts from a rate: give --hz or --rate (not an unpaced load, hz = 0)"
    );
    let start = scenario.payload_mbps();
    let mut sinks = Vec::new();
    for arg in &scenario.sinks {
        let alone = Scenario {
            sinks: vec![arg.clone()],
            ..base.clone()
        };
        let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
        let mut rate = start;
        let mut trials = Vec::new();
        let mut name = arg.kind().to_owned();
        for _ in 0..max_trials {
            let run = trial::run(&alone.at_rate(rate), env, progress)?;
            let report = Report::new(&run);
            let s = &report.sinks[0];
            name.clone_from(&s.name);
            let offered = report.scenario.payload_mbps();
            log(&format!(
                "{name}: {offered:.1} MB/s offered: {}",
                s.verdict.text()
            ));
            trials.push(Trial {
                offered_mbps: offered,
                verdict: s.verdict,
                achieved_mbps: s.achieved_mbps,
            });
            if s.verdict == Verdict::KeepsUp {
                lo = Some(lo.map_or(offered, |l| l.max(offered)));
            } else {
                hi = Some(hi.map_or(offered, |h| h.min(offered)));
            }
            rate = match (lo, hi) {
                (Some(l), Some(h)) if h / l <= BRACKET => break,
                (Some(l), Some(h)) => (l * h).sqrt(),
                (Some(l), None) => l * 2.0,
                (None, Some(h)) => h / 2.0,
                (None, None) => break,
            };
        }
        sinks.push(SinkMax {
            name,
            kind: arg.kind(),
            max_mbps: lo,
            first_failing_mbps: hi,
            trials,
        });
    }
    Ok(FindMax {
        start_mbps: start,
        fixed_mbps: scenario.fixed_payload_mbps(),
        points_per_mb: 1e6 / super::scenario::BYTES_PER_POINT as f64,
        trial_duration,
        grace,
        sinks,
    })
}

impl FindMax {
    /// 0 if every sink sustained at least the starting rate, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        u8::from(
            !self
                .sinks
                .iter()
                .all(|s| s.max_mbps.is_some_and(|m| m >= self.start_mbps * 0.999)),
        )
    }

    /// As a table.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "find-max: each sink alone, {:.1} s trials, grace {:.2} s, starting at {:.1} MB/s of lidar payload",
            self.trial_duration.as_secs_f64(),
            self.grace.as_secs_f64(),
            self.start_mbps
        );
        if self.fixed_mbps > 0.0 {
            let _ = writeln!(
                out,
                "          cameras and IMUs ({:.1} MB/s of payload) run unchanged in every trial; the rates below are the lidars'",
                self.fixed_mbps
            );
        }
        out.push('\n');
        let width = self
            .sinks
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:<width$}  {:>18}  {:>12}  {:>18}  trials",
            "sink", "max sustained MB/s", "points/s", "first failing MB/s"
        );
        for s in &self.sinks {
            let _ = writeln!(
                out,
                "{:<width$}  {:>18}  {:>12}  {:>18}  {}",
                s.name,
                s.max_mbps.map_or("none".to_owned(), |m| format!("{m:.1}")),
                s.max_mbps
                    .map_or("-".to_owned(), |m| si(m * self.points_per_mb)),
                s.first_failing_mbps
                    .map_or("none".to_owned(), |m| format!("{m:.1}")),
                s.trials.len()
            );
        }
        out.push('\n');
        for s in &self.sinks {
            let steps: Vec<String> = s
                .trials
                .iter()
                .map(|t| format!("{:.1} {}", t.offered_mbps, t.verdict.code()))
                .collect();
            let _ = writeln!(out, "{}: {}", s.name, steps.join(", "));
        }
        out
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "mode": "find_max",
            "exit_code": self.exit_code(),
            "start_mbps": self.start_mbps,
            "fixed_mbps": self.fixed_mbps,
            "trial_duration_s": self.trial_duration.as_secs_f64(),
            "grace_s": self.grace.as_secs_f64(),
            "sinks": self.sinks.iter().map(|s| json!({
                "name": s.name,
                "kind": s.kind,
                "max_sustained_mbps": s.max_mbps,
                "max_sustained_points_per_s": s.max_mbps.map(|m| m * self.points_per_mb),
                "first_failing_mbps": s.first_failing_mbps,
                "trials": s.trials.iter().map(|t| json!({
                    "offered_mbps": t.offered_mbps,
                    "verdict": t.verdict.code(),
                    "achieved_mbps": t.achieved_mbps,
                    "behind_percent": match t.verdict {
                        Verdict::FallsBehind { percent } => Some(percent),
                        _ => None,
                    },
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}
