//! The engine's counters and shutdown report as Python dicts.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use spate::stats::SinkStats;
use spate::{ShutdownReport, Stats};

fn sink<'py>(py: Python<'py>, s: &SinkStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &s.name)?;
    d.set_item("messages", s.messages)?;
    d.set_item("rows", s.rows)?;
    d.set_item("bytes", s.bytes)?;
    d.set_item("rows_dropped_queue_full", s.rows_dropped_queue_full)?;
    d.set_item("rows_dropped_sink_failed", s.rows_dropped_sink_failed)?;
    d.set_item(
        "rows_dropped_shutdown_deadline",
        s.rows_dropped_shutdown_deadline,
    )?;
    d.set_item("queued_bytes", s.queued_bytes)?;
    d.set_item("queue_high_water_bytes", s.queue_high_water_bytes)?;
    d.set_item("latency_p50_s", s.latency.p50.as_secs_f64())?;
    d.set_item("latency_p99_s", s.latency.p99.as_secs_f64())?;
    d.set_item("failed", s.failed)?;
    d.set_item("retired", s.retired)?;
    d.set_item("error", s.error.as_deref())?;
    Ok(d)
}

/// `stats()`: totals, then one dict per lane (producer thread) and per sink.
pub(crate) fn stats<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows_logged", s.rows_logged())?;
    d.set_item("rows_dropped", s.rows_dropped())?;
    d.set_item("rows_drained", s.rows_drained)?;
    d.set_item("chunks_encoded", s.chunks_encoded)?;
    d.set_item("rows_encoded", s.rows_encoded)?;
    d.set_item("bytes_encoded", s.bytes_encoded)?;
    d.set_item("encode_errors", s.encode_errors)?;
    d.set_item("rows_abandoned", s.rows_abandoned)?;
    let lanes = s
        .lanes
        .iter()
        .map(|l| {
            let e = PyDict::new(py);
            e.set_item("thread", &l.thread)?;
            e.set_item("rows_pushed", l.rows_pushed)?;
            e.set_item("rows_dropped", l.rows_dropped)?;
            e.set_item("high_water_rows", l.high_water_rows)?;
            e.set_item("high_water_bytes", l.high_water_bytes)?;
            Ok(e)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("lanes", lanes)?;
    let sinks = s
        .sinks
        .iter()
        .map(|s| sink(py, s))
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("sinks", sinks)?;
    Ok(d)
}

/// `shutdown()`: whether everything arrived, the final counters, and each sink's close.
pub(crate) fn shutdown<'py>(py: Python<'py>, r: &ShutdownReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("complete", r.is_complete())?;
    d.set_item("timed_out", r.timed_out)?;
    d.set_item("rows_logged", r.rows_logged())?;
    d.set_item("stats", stats(py, &r.stats)?)?;
    let sinks = r
        .sinks
        .iter()
        .map(|s| {
            let e = sink(py, &s.stats)?;
            e.set_item("closed_cleanly", s.closed_cleanly)?;
            e.set_item("timed_out", s.timed_out)?;
            e.set_item("complete", s.is_complete())?;
            Ok(e)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("sinks", sinks)?;
    d.set_item("summary", format!("{r}"))?;
    Ok(d)
}
