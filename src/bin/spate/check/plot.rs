//! `--plot FILE.svg`: achieved rate (MB/s) and mean latency (ms) over time, one line per
//! sink, with the rate the engine offered; the end of the load and of the grace are marked.

use std::path::Path;

use anyhow::Context as _;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::report::{Report, mbps_text};
use super::trial::RunResult;

/// Rates and latencies are computed over windows of at least 1/25 of the duration
/// (0.4 s for 10 s), within these bounds.
const WINDOW_S: (f64, f64) = (0.1, 1.0);

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Per sink: (t, MB/s) and (t, mean latency ms); and the offered (t, MB/s).
type Series = (Vec<Vec<(f64, f64)>>, Vec<Vec<(f64, f64)>>, Vec<(f64, f64)>);

fn series(run: &RunResult) -> Series {
    let n = run.sinks.len();
    let window = (run.scenario.duration.as_secs_f64() / 25.0).clamp(WINDOW_S.0, WINDOW_S.1);
    let (mut rates, mut lats) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    let mut offered = Vec::new();
    let Some(mut anchor) = run.samples.first() else {
        return (rates, lats, offered);
    };
    for s in &run.samples[1..] {
        let dt = s.t - anchor.t;
        // The last sample closes a window if it holds at least half of one (a shorter
        // tail would show a few clouds' quantisation as a spike).
        let is_last = std::ptr::eq(s, run.samples.last().unwrap_or(s));
        if dt < window && !(is_last && dt >= window / 2.0) {
            continue;
        }
        let mid = (s.t + anchor.t) / 2.0;
        offered.push((
            mid,
            s.bytes_encoded.saturating_sub(anchor.bytes_encoded) as f64 / dt / 1e6,
        ));
        for i in 0..n {
            let (a, b) = (anchor.sinks[i], s.sinks[i]);
            rates[i].push((
                mid,
                b.delivered.saturating_sub(a.delivered) as f64 / dt / 1e6,
            ));
            let count = b.latency_count.saturating_sub(a.latency_count);
            if count > 0 {
                let sum = b.latency_sum_ns.saturating_sub(a.latency_sum_ns);
                lats[i].push((mid, sum as f64 / count as f64 / 1e6));
            }
        }
        anchor = s;
    }
    (rates, lats, offered)
}

fn max_y<'a>(lines: impl Iterator<Item = &'a Vec<(f64, f64)>>) -> f64 {
    lines
        .flat_map(|l| l.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.15
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One panel on `area`: its caption, the axes (0..x_max seconds, 0..y_max `unit`) and the
/// vertical `markers`.
fn panel<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: impl AsRef<str>,
    unit: &str,
    (x_max, y_max): (f64, f64),
    markers: &[f64],
) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the start of the load")
        .y_desc(unit)
        .draw()?;
    for &x in markers {
        chart.draw_series(LineSeries::new(
            [(x, 0.0), (x, y_max)],
            BLACK.mix(0.3).stroke_width(1),
        ))?;
    }
    Ok(chart)
}

/// The panel's legend box at `position`.
fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// Writes the SVG.
pub fn draw(path: &Path, run: &RunResult, report: &Report) -> anyhow::Result<()> {
    draw_inner(path, run, report).with_context(|| format!("cannot draw {}", path.display()))
}

fn draw_inner(path: &Path, run: &RunResult, report: &Report) -> anyhow::Result<()> {
    let (rates, lats, offered) = series(run);
    let x_max = run.samples.last().map_or(1.0, |s| s.t).max(run.window_end) * 1.02;
    let root = SVGBackend::new(path, (1000, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(400);
    let sc = &report.scenario;
    let caption = if sc.has_other_sensors() {
        let kinds: Vec<String> = report
            .generator
            .kinds
            .iter()
            .filter(|k| k.load.sensors > 0)
            .map(|k| format!("{} {}", k.kind.as_str(), mbps_text(k.load.payload_mbps)))
            .collect();
        format!(
            "spate check: {} MB/s offered — achieved rate per sink",
            kinds.join(" + ")
        )
    } else if sc.paced() {
        format!(
            "spate check: {} x {} points x {} Hz = {:.1} MB/s offered — achieved rate per sink",
            sc.producers,
            sc.points,
            sc.hz,
            sc.payload_mbps()
        )
    } else {
        format!(
            "spate check: {} x {} points, unpaced — achieved rate per sink",
            sc.producers, sc.points
        )
    };
    let end_of_load = sc.duration.as_secs_f64();
    let markers = [end_of_load, run.window_end];

    let y_max = max_y(rates.iter().chain([&offered]));
    let mut chart = panel(&top, caption, "MB/s", (x_max, y_max), &markers)?;
    chart
        .draw_series(LineSeries::new(offered, BLACK.stroke_width(1)))?
        .label("offered (encoded by the engine)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    for (i, line) in rates.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let name = format!("{} — {}", run.sinks[i].name, report.sinks[i].verdict.text());
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;

    let y_max = max_y(lats.iter());
    let caption = "mean latency from log() to written / sent";
    let mut chart = panel(&bottom, caption, "ms", (x_max, y_max), &markers)?;
    for (i, line) in lats.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(run.sinks[i].name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present()?;
    Ok(())
}
