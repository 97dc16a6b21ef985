//! `--find-max`: the highest offered rate each sink sustains, by short trials.
//!
//! Each sink is tested **alone** (a tee shares the drain and the CPU; test the tee by
//! running plain checks at the rate found). The first trial runs at the scenario's rate;
//! while every trial keeps up the rate doubles, while every trial fails it halves, and once
//! a rate that keeps up and one that does not are known, the next trial runs at their
//! geometric mean, until they are within 10 % of each other or `--max-trials` ran. Only
//! the cloud rate (`hz`) changes; producers and points per cloud stay as given, so the
//! answer is also a rate of rows (clouds) per second: for one-point rows that is the figure
//! that matters.
//!
//! An unpaced scenario (`hz = 0`, as `perf/scenarios/*-rows-*.toml` are) has no rate to
//! start from: for each sink one unpaced trial (the **probe**, not counted in
//! `--max-trials`) measures the rate the producers logged at, and the search starts there.
//!
//! Only the lidars are scaled: cameras and IMUs run at their own rates in every trial, as a
//! fixed background load (a camera's frame rate is a property of the sensor, not a dial), so
//! the answer is how much lidar a sink takes on top of them.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::report::{Report, Verdict, mbps_text, si};
use super::scenario::{Scenario, SensorKind};
use super::sinks::Environment;
use super::trial;

/// Stop bisecting once the bracket is this tight (hi / lo).
const BRACKET: f64 = 1.1;

/// One trial.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    /// Offered payload MB/s.
    pub offered_mbps: f64,
    /// Offered lidar rows (clouds) per second.
    pub offered_rows_per_s: f64,
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
    /// The rate its search started from, lidar payload MB/s.
    pub start_mbps: f64,
    /// For an unpaced scenario, the lidar rows/s its probe logged (the start).
    pub probe_rows_per_s: Option<f64>,
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
    /// The scenario's rate, lidar payload MB/s, where every search started (None: unpaced,
    /// each sink's search started from its probe).
    pub start_mbps: Option<f64>,
    /// Payload MB/s of the cameras and IMUs, the same in every trial.
    pub fixed_mbps: f64,
    /// Payload bytes per second → points per second.
    pub points_per_mb: f64,
    /// Payload bytes per second → lidar rows (clouds) per second.
    pub rows_per_mb: f64,
    /// Each trial's load duration.
    pub trial_duration: Duration,
    /// Each trial's grace.
    pub grace: Duration,
    /// Per sink.
    pub sinks: Vec<SinkMax>,
}

/// Where a search stands: the highest rate that kept up and the lowest that did not.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Bracket {
    /// Highest offered MB/s that kept up.
    lo: Option<f64>,
    /// Lowest offered MB/s that did not.
    hi: Option<f64>,
}

impl Bracket {
    /// Takes a trial in; returns the next rate to try (None: done).
    fn next(&mut self, trial: &Trial) -> Option<f64> {
        let offered = trial.offered_mbps;
        if trial.verdict == Verdict::KeepsUp {
            self.lo = Some(self.lo.map_or(offered, |l| l.max(offered)));
        } else {
            self.hi = Some(self.hi.map_or(offered, |h| h.min(offered)));
        }
        match (self.lo, self.hi) {
            (Some(l), Some(h)) if h / l <= BRACKET => None,
            (Some(l), Some(h)) => Some((l * h).sqrt()),
            (Some(l), None) => Some(l * 2.0),
            (None, Some(h)) => Some(h / 2.0),
            (None, None) => None,
        }
    }
}

/// One sink's search from `start` MB/s: `trial(rate)` runs a trial at `rate`, at most
/// `max_trials` of them.
fn search(
    start: f64,
    max_trials: u32,
    mut trial: impl FnMut(f64) -> anyhow::Result<Trial>,
) -> anyhow::Result<(Bracket, Vec<Trial>)> {
    let mut bracket = Bracket::default();
    let mut trials = Vec::new();
    let mut rate = start;
    for _ in 0..max_trials {
        let t = trial(rate)?;
        trials.push(t);
        match bracket.next(&t) {
            Some(next) => rate = next,
            None => break,
        }
    }
    Ok((bracket, trials))
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
    let rows_per_mb = 1e6 / scenario.cloud_bytes() as f64;
    let mut sinks = Vec::new();
    for arg in &scenario.sinks {
        let alone = Scenario {
            sinks: vec![arg.clone()],
            ..base.clone()
        };
        let mut name = arg.kind().to_owned();
        let (start, probe_rows_per_s) = if scenario.paced() {
            (scenario.payload_mbps(), None)
        } else {
            let run = trial::run(&alone, env, progress)?;
            let report = Report::new(&run);
            name.clone_from(&report.sinks[0].name);
            let rows = report.generator.kind(SensorKind::Lidar).logged_rows as f64
                / trial_duration.as_secs_f64();
            anyhow::ensure!(
                rows > 0.0,
                "{name}: the unpaced probe logged no cloud in {:.2} s: nothing to start from",
                trial_duration.as_secs_f64()
            );
            log(&format!(
                "{name}: probe (unpaced): {} rows/s logged ({:.1} MB/s): searching from there",
                si(rows),
                rows / rows_per_mb
            ));
            (rows / rows_per_mb, Some(rows))
        };
        let (bracket, trials) = search(start, max_trials, |rate| {
            let run = trial::run(&alone.at_rate(rate), env, progress)?;
            let report = Report::new(&run);
            let s = &report.sinks[0];
            name.clone_from(&s.name);
            let offered = report.scenario.payload_mbps();
            let rows = report.scenario.load(SensorKind::Lidar).rows_per_s;
            log(&format!(
                "{name}: {offered:.1} MB/s, {} rows/s offered: {}",
                si(rows),
                s.verdict.text()
            ));
            Ok(Trial {
                offered_mbps: offered,
                offered_rows_per_s: rows,
                verdict: s.verdict,
                achieved_mbps: s.achieved_mbps,
            })
        })?;
        sinks.push(SinkMax {
            name,
            kind: arg.kind(),
            start_mbps: start,
            probe_rows_per_s,
            max_mbps: bracket.lo,
            first_failing_mbps: bracket.hi,
            trials,
        });
    }
    Ok(FindMax {
        start_mbps: scenario.paced().then(|| scenario.payload_mbps()),
        fixed_mbps: scenario.fixed_payload_mbps(),
        points_per_mb: 1e6 / super::scenario::BYTES_PER_POINT as f64,
        rows_per_mb,
        trial_duration,
        grace,
        sinks,
    })
}

impl FindMax {
    /// 0 if every sink sustained at least the starting rate (unpaced: any rate), 1
    /// otherwise.
    pub fn exit_code(&self) -> u8 {
        let sustained = |s: &SinkMax| match (s.max_mbps, self.start_mbps) {
            (Some(m), Some(start)) => m >= start * 0.999,
            (Some(_), None) => true,
            (None, _) => false,
        };
        u8::from(!self.sinks.iter().all(sustained))
    }

    /// As a table.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        let start = match self.start_mbps {
            Some(m) => format!("starting at {} MB/s of lidar payload", mbps_text(m)),
            None => "unpaced: each search starts where an unpaced probe logged".to_owned(),
        };
        let _ = writeln!(
            out,
            "find-max: each sink alone, {:.1} s trials, grace {:.2} s, {start}",
            self.trial_duration.as_secs_f64(),
            self.grace.as_secs_f64(),
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
            "{:<width$}  {:>18}  {:>12}  {:>12}  {:>18}  trials",
            "sink", "max sustained MB/s", "rows/s", "points/s", "first failing MB/s"
        );
        for s in &self.sinks {
            let _ = writeln!(
                out,
                "{:<width$}  {:>18}  {:>12}  {:>12}  {:>18}  {}",
                s.name,
                s.max_mbps.map_or("none".to_owned(), mbps_text),
                s.max_mbps
                    .map_or("-".to_owned(), |m| si(m * self.rows_per_mb)),
                s.max_mbps
                    .map_or("-".to_owned(), |m| si(m * self.points_per_mb)),
                s.first_failing_mbps.map_or("none".to_owned(), mbps_text),
                s.trials.len()
            );
        }
        out.push('\n');
        for s in &self.sinks {
            let probe = s
                .probe_rows_per_s
                .map_or(String::new(), |r| format!("probe {} rows/s; ", si(r)));
            let steps: Vec<String> = s
                .trials
                .iter()
                .map(|t| {
                    format!(
                        "{} ({} rows/s) {}",
                        mbps_text(t.offered_mbps),
                        si(t.offered_rows_per_s),
                        t.verdict.code()
                    )
                })
                .collect();
            let _ = writeln!(out, "{}: {probe}{}", s.name, steps.join(", "));
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
                "start_mbps": s.start_mbps,
                "probe_rows_per_s": s.probe_rows_per_s,
                "max_sustained_mbps": s.max_mbps,
                "max_sustained_rows_per_s": s.max_mbps.map(|m| m * self.rows_per_mb),
                "max_sustained_points_per_s": s.max_mbps.map(|m| m * self.points_per_mb),
                "first_failing_mbps": s.first_failing_mbps,
                "trials": s.trials.iter().map(|t| json!({
                    "offered_mbps": t.offered_mbps,
                    "offered_rows_per_s": t.offered_rows_per_s,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::scenario::{Overrides, SinkArg};

    /// A sink that keeps up with any load up to `limit` MB/s.
    fn trial_against(limit: f64) -> impl FnMut(f64) -> anyhow::Result<Trial> {
        move |offered| {
            Ok(Trial {
                offered_mbps: offered,
                offered_rows_per_s: offered * 1e6 / 20.0,
                verdict: if offered <= limit {
                    Verdict::KeepsUp
                } else {
                    Verdict::FallsBehind { percent: 50.0 }
                },
                achieved_mbps: offered.min(limit),
            })
        }
    }

    #[test]
    fn the_search_brackets_the_limit() {
        let (b, trials) = search(1.0, 20, trial_against(10.0)).unwrap();
        // 1, 2, 4, 8 keep up, 16 does not, then bisect to within 10 %.
        let (lo, hi) = (b.lo.unwrap(), b.hi.unwrap());
        assert!(lo <= 10.0 && hi > 10.0 && hi / lo <= BRACKET, "{b:?}");
        assert_eq!(trials[4].offered_mbps, 16.0);
        // Never past the trials allowed.
        let (b, trials) = search(100.0, 3, trial_against(10.0)).unwrap();
        assert_eq!(trials.len(), 3);
        assert_eq!((b.lo, b.hi), (None, Some(25.0)));
    }

    #[test]
    fn one_point_rows_are_searched_past_the_old_hz_cap() {
        // One producer of one-point rows, from 100,000 rows/s (2 MB/s: the old cap of
        // --hz), against a sink that takes 3 M rows/s (60 MB/s): each trial runs the
        // scenario at the rate asked, as find-max does.
        let flags = Overrides {
            producers: Some(1),
            points: Some(1),
            hz: Some(100_000.0),
            sinks: vec![SinkArg::Null],
            ..Overrides::default()
        };
        let scenario = Scenario::resolve(flags, None).unwrap();
        let mut sink = trial_against(60.0);
        let (b, trials) = search(scenario.payload_mbps(), 12, |rate| {
            let at = scenario.at_rate(rate);
            sink(at.payload_mbps()).map(|t| Trial {
                offered_rows_per_s: at.load(SensorKind::Lidar).rows_per_s,
                ..t
            })
        })
        .unwrap();
        let lo = b.lo.unwrap();
        assert!(lo > 54.0 && lo <= 60.0, "{b:?}");
        let best = trials
            .iter()
            .filter(|t| t.verdict == Verdict::KeepsUp)
            .map(|t| t.offered_rows_per_s)
            .fold(0.0, f64::max);
        assert!(best > 2.7e6, "{best}");
    }
}
