//! spate's errors as Python exceptions. The exception classes are defined in Python
//! (`spate/_errors.py`: several bases, extra attributes) and looked up when raised.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use spate::{ErrorChain, Losses, RecordingError};

/// An exception of `spate._errors` with `message`.
pub(crate) fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let made = MODULE
        .get_or_try_init(py, || py.import("spate._errors").map(Bound::unbind))
        .and_then(|m| m.bind(py).getattr(class))
        .and_then(|c| c.call1((message.clone(),)));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The losses of a flush as a dict (what was lost, where, why).
pub(crate) fn losses_dict<'py>(py: Python<'py>, l: &Losses) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("rows_dropped_lane_full", l.rows_dropped_lane_full)?;
    d.set_item("rows_encode_failed", l.rows_encode_failed)?;
    let sinks = l
        .sinks
        .iter()
        .map(|s| {
            let e = PyDict::new(py);
            e.set_item("name", &s.name)?;
            e.set_item("messages", s.messages)?;
            e.set_item("rows", s.rows)?;
            e.set_item(
                "reasons",
                s.reasons
                    .iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>(),
            )?;
            e.set_item("failure", s.failure.as_deref())?;
            Ok(e)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("sinks", sinks)?;
    Ok(d)
}

/// A recording's error as the exception a Python caller expects.
pub(crate) fn recording(py: Python<'_>, e: RecordingError) -> PyErr {
    let message = ErrorChain(&e).to_string();
    match e {
        RecordingError::Closed => raise(py, "RecordingClosed", message),
        RecordingError::Deadline(_) => raise(py, "FlushTimeout", message),
        RecordingError::Lost(losses) => {
            let err = raise(py, "DataLost", message);
            if let Ok(d) = losses_dict(py, &losses) {
                let _ = err.value(py).setattr("losses", d);
            }
            err
        }
        RecordingError::Spawn(io) => PyOSError::new_err(format!("spate: {message} ({io})")),
        RecordingError::ThreadExiting => PyRuntimeError::new_err(message),
        RecordingError::Archetype(_)
        | RecordingError::Time(_)
        | RecordingError::Columns(_)
        | RecordingError::Store(_)
        | RecordingError::BatchEnv(_)
        | RecordingError::Setting { .. } => PyValueError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// Warns `message` as a `RuntimeWarning` (the caller's line: stack level 1).
pub(crate) fn warn(py: Python<'_>, message: &std::ffi::CStr) -> PyResult<()> {
    let warning = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
    PyErr::warn(py, &warning, message, 1)
}

/// A `ValueError` naming what was wrong.
pub(crate) fn value(e: impl std::error::Error) -> PyErr {
    PyValueError::new_err(ErrorChain(&e).to_string())
}

/// A `TypeError`.
pub(crate) fn type_error(message: impl Into<String>) -> PyErr {
    PyTypeError::new_err(message.into())
}
