//! Live progress on stderr: one bar per sink (bytes delivered of the bytes the load will
//! offer), with the offered and achieved rate over the last second and the queue fill.
//! Hidden when stderr is not a terminal or with `--quiet`.

use std::cell::RefCell;
use std::collections::VecDeque;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::sample::Sample;
use super::scenario::Scenario;

/// Rates are measured over this many seconds of samples.
const RATE_WINDOW_S: f64 = 1.0;

/// The bars of one run (nothing at all when disabled).
pub struct Progress {
    bars: Vec<ProgressBar>,
    _multi: Option<MultiProgress>,
    history: RefCell<VecDeque<Sample>>,
    queue_bytes: u64,
}

impl Progress {
    /// One bar per sink name; `expected` is the payload the load will offer.
    pub fn new(enabled: bool, scenario: &Scenario, names: &[String], expected: u64) -> Self {
        let mut bars = Vec::new();
        let mut multi = None;
        if enabled {
            let m = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = names.iter().map(|n| n.len()).max().unwrap_or(4).min(40);
            let style =
                ProgressStyle::with_template(&format!("{{prefix:<{width}}} [{{bar:24}}] {{msg}}"))
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            for name in names {
                let bar = m.add(ProgressBar::new(expected.max(1)));
                bar.set_style(style.clone());
                bar.set_prefix(shorten(name, width));
                bars.push(bar);
            }
            multi = Some(m);
        }
        Self {
            bars,
            _multi: multi,
            history: RefCell::new(VecDeque::new()),
            queue_bytes: scenario.queue_bytes,
        }
    }

    /// Redraws from a new sample.
    pub fn update(&self, sample: &Sample, expected: u64) {
        if self.bars.is_empty() {
            return;
        }
        let mut history = self.history.borrow_mut();
        history.push_back(sample.clone());
        while history.len() > 2 && sample.t - history[1].t >= RATE_WINDOW_S {
            history.pop_front();
        }
        let Some(first) = history.front() else {
            return;
        };
        let dt = (sample.t - first.t).max(1e-3);
        let offered = (sample.bytes_encoded - first.bytes_encoded) as f64 / dt / 1e6;
        for (i, bar) in self.bars.iter().enumerate() {
            let (now, then) = (sample.sinks[i], first.sinks[i]);
            let achieved = now.delivered.saturating_sub(then.delivered) as f64 / dt / 1e6;
            let fill = now.queued as f64 / self.queue_bytes.max(1) as f64 * 100.0;
            bar.set_length(expected.max(now.delivered).max(1));
            bar.set_position(now.delivered);
            bar.set_message(format!(
                "offered {offered:7.1} MB/s  achieved {achieved:7.1} MB/s  queue {fill:5.1} %"
            ));
        }
    }

    /// Removes the bars before the report is printed.
    pub fn finish(&self) {
        for bar in &self.bars {
            bar.finish_and_clear();
        }
    }
}

fn shorten(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_owned();
    }
    let tail: String = name
        .chars()
        .rev()
        .take(width.saturating_sub(1))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}
