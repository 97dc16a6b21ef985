//! `Scalars`, `TextLog`, `AnyValues` and `DynamicArchetype`, with the official SDK's
//! constructors.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, PrimitiveArray, StringArray};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use spate::archetype::DynamicArchetype as Dynamic;

use super::Archetype;
use super::transforms::text;
use crate::columns::{Columns, ComponentColumnList};
use crate::convert;
use crate::convert::given;
use spate::AsComponents;

/// Values to plot: one per series in this row.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Scalars;

#[pymethods]
impl Scalars {
    #[new]
    #[pyo3(signature = (scalars))]
    fn new(scalars: &Bound<'_, PyAny>) -> PyResult<PyClassInitializer<Self>> {
        let s = spate::archetype::Scalars::new(convert::f64s(scalars)?);
        Ok(PyClassInitializer::from(Archetype::of(s)).add_subclass(Self))
    }

    /// Columns for `send_columns`: one value per row (`.partition(lengths)` re-cuts).
    #[staticmethod]
    #[pyo3(signature = (*, scalars=None))]
    fn columns(
        py: Python<'_>,
        scalars: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("Scalars")
            .f64s("scalars", "Scalar", scalars)?
            .finish(py)
    }
}

/// One line of text for a log view, with an optional level (`"INFO"`, `rr.TextLogLevel.WARN`,
/// any text) and color.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct TextLog;

#[pymethods]
impl TextLog {
    #[new]
    #[pyo3(signature = (text, *, level=None, color=None))]
    fn new(
        text: &Bound<'_, PyAny>,
        level: Option<&Bound<'_, PyAny>>,
        color: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let mut line = spate::TextLog::new(self::text(text)?);
        if let Some(l) = given(level) {
            line = line.with_level(self::text(l)?);
        }
        if let Some(c) = given(color) {
            line = line.with_color(convert::one_color(c)?);
        }
        Ok(PyClassInitializer::from(Archetype::of(line)).add_subclass(Self))
    }

    /// Columns for `send_columns`: one line per row.
    #[staticmethod]
    #[pyo3(signature = (*, text=None, level=None, color=None))]
    fn columns(
        py: Python<'_>,
        text: Option<&Bound<'_, PyAny>>,
        level: Option<&Bound<'_, PyAny>>,
        color: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("TextLog")
            .colors("color", color)?
            .texts("level", "TextLogLevel", level)?
            .texts("text", "Text", text)?
            .finish(py)
    }
}

/// Columns of any values, named by their keyword: `AnyValues(confidence=[0.9, 0.5])`.
///
/// Values are typed as Arrow infers them (`pa.array(value)`): `str` ⇒ utf8, `bool` ⇒ bool,
/// `int` ⇒ int64, `float` ⇒ float64, sequences of those (with `None` as null), and 1-D NumPy
/// arrays of their own dtype.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct AnyValues;

#[pymethods]
impl AnyValues {
    #[new]
    #[pyo3(signature = (drop_untyped_nones=true, **kwargs))]
    fn new(
        drop_untyped_nones: bool,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let values = with_fields(Dynamic::any_values(), kwargs, drop_untyped_nones)?;
        Ok(PyClassInitializer::from(Archetype::of(values)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one per keyword: a flat sequence (or 1-D array) is one
    /// value per row, a sequence of sequences one inner sequence per row. `None` and empty
    /// values are dropped (`drop_untyped_nones=True`) or rejected.
    #[staticmethod]
    #[pyo3(signature = (drop_untyped_nones=true, **kwargs))]
    fn columns(
        py: Python<'_>,
        drop_untyped_nones: bool,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<ComponentColumnList> {
        field_columns(py, Dynamic::any_values, kwargs, drop_untyped_nones)
    }
}

/// Columns of an archetype of your own: `DynamicArchetype("MyArchetype", components={…})`
/// logs `MyArchetype:field` for each field.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct DynamicArchetype;

#[pymethods]
impl DynamicArchetype {
    #[new]
    #[pyo3(signature = (archetype, drop_untyped_nones=true, components=None))]
    fn new(
        archetype: String,
        drop_untyped_nones: bool,
        components: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let components = components_dict(components)?;
        let values = with_fields(
            Dynamic::new(archetype),
            components.as_ref(),
            drop_untyped_nones,
        )?;
        Ok(PyClassInitializer::from(Archetype::of(values)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one per component, cut into rows as `AnyValues.columns`
    /// does.
    #[staticmethod]
    #[pyo3(signature = (archetype, drop_untyped_nones=true, components=None))]
    fn columns(
        py: Python<'_>,
        archetype: String,
        drop_untyped_nones: bool,
        components: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        let components = components_dict(components)?;
        field_columns(
            py,
            || Dynamic::new(archetype.clone()),
            components.as_ref(),
            drop_untyped_nones,
        )
    }
}

/// `components=` as a dict (any mapping, or pairs), in the order given.
fn components_dict<'py>(
    components: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    match given(components) {
        Some(c) => Ok(Some(
            c.py()
                .get_type::<PyDict>()
                .call1((c,))?
                .cast_into::<PyDict>()?,
        )),
        None => Ok(None),
    }
}

/// A field as `spate._convert.any_column` gives it: the Arrow kind, the values, their
/// validity (if any is null) and the rows' lengths (one value per row if `None`).
type AnyColumn<'py> = (
    String,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Option<Vec<usize>>,
);

/// The columns of `fields`, each named as `archetype()` names its components.
fn field_columns(
    py: Python<'_>,
    archetype: impl Fn() -> Dynamic,
    fields: Option<&Bound<'_, PyDict>>,
    drop_untyped_nones: bool,
) -> PyResult<ComponentColumnList> {
    let mut columns = Columns::of("AnyValues");
    for (name, value) in fields.into_iter().flat_map(|f| f.iter()) {
        let name: String = name.extract()?;
        let column = convert::call_helper(
            py,
            "any_column",
            (name.as_str(), &value, drop_untyped_nones),
        )?;
        if column.is_none() {
            continue;
        }
        let (kind, data, valid, lengths): AnyColumn<'_> = column.extract()?;
        let values = array_of_kind(&kind, &data, valid.as_ref())?;
        let described = archetype()
            .with_component(&name, values.clone())
            .as_components()
            .map_err(crate::errors::value)?;
        let Some((descriptor, _)) = described.into_iter().next() else {
            continue;
        };
        columns = columns.described(descriptor, values, lengths);
    }
    columns.finish(py)
}

/// Adds every field of `fields` to `dynamic`, in the order given.
fn with_fields(
    mut dynamic: Dynamic,
    fields: Option<&Bound<'_, PyDict>>,
    drop_untyped_nones: bool,
) -> PyResult<Dynamic> {
    let Some(fields) = fields else {
        return Ok(dynamic);
    };
    for (name, value) in fields.iter() {
        let name: String = name.extract()?;
        if value.is_none() {
            if drop_untyped_nones {
                continue;
            }
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
                "spate: AnyValues field {name:?} is None and has no type (keep drop_untyped_nones=True)"
            )));
        }
        dynamic = dynamic.with_component(&name, any_array(&value)?);
    }
    Ok(dynamic)
}

/// One field's values as the Arrow array `pa.array` would make.
pub(crate) fn any_array(value: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    let (kind, data, valid): (String, Bound<'_, PyAny>, Option<Bound<'_, PyAny>>) =
        convert::call_helper(value.py(), "any_value", (value,))?.extract()?;
    array_of_kind(&kind, &data, valid.as_ref())
}

/// The Arrow array of `kind` (a NumPy dtype name, or `utf8`) over `data`, null where `valid`
/// is false.
fn array_of_kind(
    kind: &str,
    data: &Bound<'_, PyAny>,
    valid: Option<&Bound<'_, PyAny>>,
) -> PyResult<ArrayRef> {
    let nulls = match valid {
        Some(v) => {
            let mask: Vec<bool> = v.call_method0("tolist")?.extract()?;
            Some(NullBuffer::from(BooleanBuffer::from(mask)))
        }
        None => None,
    };
    macro_rules! primitive {
        ($t:ty, $arrow:ty) => {
            Arc::new(PrimitiveArray::<$arrow>::new(
                convert::buffer_of::<$t>(data)?,
                nulls,
            )) as ArrayRef
        };
    }
    use arrow_array::types::*;
    Ok(match kind {
        "utf8" => {
            let texts: Vec<Option<String>> = data.cast::<PyList>()?.extract()?;
            Arc::new(StringArray::from(texts))
        }
        "bool" => {
            let values: Vec<bool> = data.call_method0("tolist")?.extract()?;
            Arc::new(BooleanArray::new(BooleanBuffer::from(values), nulls))
        }
        "int8" => primitive!(i8, Int8Type),
        "int16" => primitive!(i16, Int16Type),
        "int32" => primitive!(i32, Int32Type),
        "int64" => primitive!(i64, Int64Type),
        "uint8" => primitive!(u8, UInt8Type),
        "uint16" => primitive!(u16, UInt16Type),
        "uint32" => primitive!(u32, UInt32Type),
        "uint64" => primitive!(u64, UInt64Type),
        "float32" => primitive!(f32, Float32Type),
        "float64" => primitive!(f64, Float64Type),
        other => {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
                "spate: AnyValues of {other} are not supported yet"
            )));
        }
    })
}
