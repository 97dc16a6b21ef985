//! The native module of the `spate` Python package (`spate._spate`): the official Rerun
//! SDK's logging API over spate's engine. `python/spate/__init__.py` re-exports it.
//!
//! Data flows one way: the Python-facing layer (`stream`, `archetypes`, `sinks`) converts
//! arguments (`convert`, `zero_copy`) and hands spate archetypes to a `spate::Recording`;
//! errors and reports come back through `errors` and `report`.

use pyo3::prelude::*;

mod archetypes;
mod columns;
mod convert;
mod errors;
mod report;
mod sinks;
mod stream;
mod testing;
mod zero_copy;

/// Address of the first float of a `Points3D`'s positions as logged (tests check that a
/// float32 array is taken without a copy).
#[pyfunction]
fn _positions_address(points: &Bound<'_, archetypes::Points3D>) -> PyResult<usize> {
    use arrow_array::Array;
    let base = points.as_super().get();
    let components = base.inner.as_components().map_err(errors::value)?;
    let (_, positions) = components
        .iter()
        .find(|(d, _)| d.field_name() == "positions")
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("no positions"))?;
    let list = positions
        .as_any()
        .downcast_ref::<arrow_array::FixedSizeListArray>()
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("positions are not a list"))?;
    Ok(list.values().to_data().buffers()[0].as_ptr() as usize)
}

/// For the package's tests: reads what a Rerun server holds (`ReadMessages`, as a viewer
/// connecting late does) and writes it to `out_path` as an `.rrd` file, stopping once the
/// messages hold a recording's properties and at least `min_rows` logged rows (the
/// official server keeps the call open for live data). Returns the logged rows read;
/// raises `RuntimeError` if they were not all there by `timeout_sec`.
#[pyfunction]
fn _read_messages(
    py: Python<'_>,
    url: &str,
    out_path: std::path::PathBuf,
    min_rows: u64,
    timeout_sec: f64,
) -> PyResult<u64> {
    use spate::sink::grpc::read_messages;
    use spate::wire::{Compression, EncodedMessage, RrdEncoder};

    const PROPERTIES: &str = "/__properties";
    let is_properties =
        |m: &EncodedMessage| m.summary().is_some_and(|s| s.entity.as_str() == PROPERTIES);
    let logged_rows = |msgs: &[EncodedMessage]| -> u64 {
        msgs.iter()
            .filter(|m| !is_properties(m))
            .filter_map(|m| m.summary().map(|s| s.num_rows))
            .sum()
    };
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs_f64(timeout_sec.clamp(0.0, 3600.0));
    let msgs = py
        .detach(|| {
            read_messages(url, deadline, |m| {
                m.iter().any(is_properties) && logged_rows(m) >= min_rows
            })
        })
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(spate::ErrorChain(&e).to_string())
        })?;
    let mut rrd = RrdEncoder::new(Compression::Off);
    let mut out = Vec::new();
    rrd.write_header(&mut out)?;
    for m in &msgs {
        rrd.write_message(&mut out, m)?;
    }
    rrd.write_finish(&mut out)?;
    std::fs::write(&out_path, &out)?;
    Ok(logged_rows(&msgs))
}

#[pymodule]
fn _spate(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    archetypes::register(m)?;
    m.add_class::<sinks::GrpcSink>()?;
    m.add_class::<sinks::FileSink>()?;
    m.add_class::<stream::RecordingStream>()?;
    m.add_function(wrap_pyfunction!(stream::init, m)?)?;
    m.add_function(wrap_pyfunction!(stream::log, m)?)?;
    m.add_function(wrap_pyfunction!(stream::set_time, m)?)?;
    m.add_function(wrap_pyfunction!(stream::send_columns, m)?)?;
    m.add_function(wrap_pyfunction!(stream::reset_time, m)?)?;
    m.add_function(wrap_pyfunction!(stream::set_sinks, m)?)?;
    m.add_function(wrap_pyfunction!(stream::flush, m)?)?;
    m.add_function(wrap_pyfunction!(stream::disconnect, m)?)?;
    m.add_function(wrap_pyfunction!(stream::stats, m)?)?;
    m.add_function(wrap_pyfunction!(stream::shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(stream::get_global_data_recording, m)?)?;
    m.add_function(wrap_pyfunction!(stream::set_global_data_recording, m)?)?;
    m.add_function(wrap_pyfunction!(stream::_shutdown_all, m)?)?;
    m.add_function(wrap_pyfunction!(stream::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(_positions_address, m)?)?;
    m.add_function(wrap_pyfunction!(_read_messages, m)?)?;
    m.add_function(wrap_pyfunction!(testing::_stuck_recording, m)?)?;
    m.add_class::<testing::SinkGate>()?;
    Ok(())
}
