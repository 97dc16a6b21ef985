//! The archetypes, with the official SDK's constructors. Each is a subclass of
//! [`Archetype`], which holds the spate archetype `log` hands to the engine as it is.

use std::sync::Arc;

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use spate::AsComponents;

mod points3d;

pub(crate) use points3d::Points3D;

/// What `log` takes: the components of one row, built by an archetype's constructor.
#[pyclass(subclass, frozen, module = "spate")]
pub struct Archetype {
    pub(crate) inner: Arc<dyn AsComponents + Send + Sync>,
}

impl Archetype {
    /// The base of an archetype subclass holding `inner`.
    pub(crate) fn of(inner: impl AsComponents + Send + Sync + 'static) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
}

#[pymethods]
impl Archetype {
    /// Number of components this row holds.
    fn __len__(&self) -> PyResult<usize> {
        self.inner
            .as_components()
            .map(|c| c.len())
            .map_err(crate::errors::value)
    }
}

/// An argument spate does not support yet: an error when given, never silently ignored.
pub(crate) fn unsupported(
    archetype: &str,
    argument: &str,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    match value {
        Some(v) if !v.is_none() => Err(PyNotImplementedError::new_err(format!(
            "spate: {archetype}({argument}=…) is not supported yet"
        ))),
        _ => Ok(()),
    }
}

/// Adds the archetype classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Archetype>()?;
    m.add_class::<Points3D>()?;
    Ok(())
}
