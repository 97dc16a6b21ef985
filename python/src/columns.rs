//! `send_columns`, `TimeColumn` and the archetypes' `columns(...)`: many rows of one entity
//! as one chunk.

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;

use crate::stream::Stream;

/// Logs the columns as one chunk on `stream`.
pub(crate) fn send_columns(
    _py: Python<'_>,
    _stream: &Stream,
    _entity_path: &Bound<'_, PyAny>,
    _indexes: &Bound<'_, PyAny>,
    _columns: &Bound<'_, PyAny>,
) -> PyResult<()> {
    Err(PyNotImplementedError::new_err(
        "spate: send_columns is not built yet",
    ))
}
