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
    m.add_function(wrap_pyfunction!(_positions_address, m)?)?;
    Ok(())
}
