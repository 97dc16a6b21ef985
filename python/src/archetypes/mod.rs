//! The archetypes, with the official SDK's constructors. Each is a subclass of
//! [`Archetype`], which holds the spate archetype `log` hands to the engine as it is.

use std::sync::Arc;

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use spate::AsComponents;

pub(crate) mod images;
/// The instance style a shape takes (colors, radii, labels, class ids, and `show_labels`
/// where the archetype has it), applied with the archetype's own builders.
macro_rules! instance_style {
    ($shape:ident, $colors:expr, $radii:expr, $labels:expr, $class_ids:expr) => {{
        let mut s = $shape;
        if let Some(c) = $crate::convert::given($colors) {
            s = s.with_colors($crate::convert::colors(c)?);
        }
        if let Some(r) = $crate::convert::given($radii) {
            s = s.with_radii($crate::convert::f32s(r)?);
        }
        if let Some(l) = $crate::convert::given($labels) {
            s = s.with_labels($crate::convert::strings(l)?);
        }
        if let Some(ids) = $crate::convert::given($class_ids) {
            s = s.with_class_ids($crate::convert::u16s(ids)?);
        }
        s
    }};
    ($shape:ident, $colors:expr, $radii:expr, $labels:expr, $show_labels:expr, $class_ids:expr) => {{
        let mut s = instance_style!($shape, $colors, $radii, $labels, $class_ids);
        if let Some(b) = $crate::convert::given($show_labels) {
            s = s.with_show_labels(b.is_truthy()?);
        }
        s
    }};
}

mod points3d;
mod shapes;
mod transforms;
mod values;

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

/// The `u8` value of an enum-like argument of `kind` (`"FillMode"`, …): a member of spate's
/// or the official SDK's enum, its int value, or its name in any case.
pub(crate) fn enum_value(obj: &Bound<'_, PyAny>, kind: &str) -> PyResult<u8> {
    crate::convert::call_helper(obj.py(), "enum_value", (kind, obj))?.extract()
}

/// A `FillMode` argument.
pub(crate) fn fill_mode(obj: &Bound<'_, PyAny>) -> PyResult<spate::archetype::FillMode> {
    use spate::archetype::FillMode as F;
    match enum_value(obj, "FillMode")? {
        1 => Ok(F::MajorWireframe),
        2 => Ok(F::DenseWireframe),
        3 => Ok(F::Solid),
        4 => Ok(F::TransparentFillMajorWireframe),
        v => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "Cannot convert {v} to FillMode"
        ))),
    }
}

/// Adds the archetype classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Archetype>()?;
    m.add_class::<Points3D>()?;
    m.add_class::<shapes::Points2D>()?;
    m.add_class::<shapes::Arrows3D>()?;
    m.add_class::<shapes::Boxes3D>()?;
    m.add_class::<shapes::LineStrips3D>()?;
    m.add_class::<transforms::Transform3D>()?;
    m.add_class::<transforms::Pinhole>()?;
    m.add_function(wrap_pyfunction!(transforms::_view_coordinates_row, m)?)?;
    m.add_class::<images::Image>()?;
    m.add_class::<images::DepthImage>()?;
    m.add_class::<images::EncodedImage>()?;
    m.add_class::<values::Scalars>()?;
    m.add_class::<values::TextLog>()?;
    m.add_class::<values::AnyValues>()?;
    m.add_class::<values::DynamicArchetype>()?;
    m.add_class::<crate::columns::TimeColumn>()?;
    m.add_class::<crate::columns::ComponentColumn>()?;
    m.add_class::<crate::columns::ComponentColumnList>()?;
    Ok(())
}
