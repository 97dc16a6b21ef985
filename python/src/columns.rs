//! `send_columns`, `TimeColumn` and the archetypes' `columns(...)`: many rows of one entity
//! as one chunk.
//!
//! An archetype's `columns(...)` converts each argument given into one Arrow array of all
//! its instances (with the same conversions as the constructor) and returns a
//! [`ComponentColumnList`] of unit-length rows; `.partition(lengths)` cuts the same
//! instances into rows of other lengths, without copying them.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, DurationNanosecondArray, FixedSizeListArray, Float32Array,
    Float64Array, Int64Array, ListArray, StringArray, StructArray, TimestampNanosecondArray,
    UInt8Array, UInt16Array, UInt32Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;
use spate::chunk::ComponentDescriptor;
use spate::{TimeColumn as EngineTimeColumn, Timeline, TimelineKind};

use spate::archetype::ImageFormat;

use crate::convert::{
    axis_angles_of, color_model_of, datatype_of, given, none_or, pixel_format_of,
};
use crate::{convert, errors};

/// The index and component columns `send_columns` was given, checked to be what it takes.
pub(crate) fn gather(
    indexes: &Bound<'_, PyAny>,
    columns: &Bound<'_, PyAny>,
) -> PyResult<(Vec<EngineTimeColumn>, Vec<spate::chunk::ComponentColumn>)> {
    let mut times = Vec::new();
    for index in indexes.try_iter()? {
        let index = index?;
        let Ok(column) = index.cast::<TimeColumn>() else {
            return Err(PyTypeError::new_err(format!(
                "send_columns: indexes must be spate.TimeColumn objects, got {}",
                index.get_type().name()?
            )));
        };
        times.push(column.get().column.clone());
    }
    let mut components = Vec::new();
    for column in columns.try_iter()? {
        let column = column?;
        let Ok(column) = column.cast::<ComponentColumn>() else {
            return Err(PyTypeError::new_err(format!(
                "send_columns: columns must be component columns (from an archetype's columns(...)), got {}",
                column.get_type().name()?
            )));
        };
        components.push(column.get().column.clone());
    }
    Ok((times, components))
}

/// One index column for `send_columns`: a timeline and one time per row.
#[pyclass(frozen, module = "spate")]
pub struct TimeColumn {
    column: EngineTimeColumn,
}

#[pymethods]
impl TimeColumn {
    #[new]
    #[pyo3(signature = (timeline, *, sequence=None, duration=None, timestamp=None))]
    fn new(
        py: Python<'_>,
        timeline: &str,
        sequence: Option<&Bound<'_, PyAny>>,
        duration: Option<&Bound<'_, PyAny>>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let (kind, values): (String, Bound<'_, PyAny>) = convert::call_helper(
            py,
            "time_column",
            (
                timeline,
                none_or(py, sequence),
                none_or(py, duration),
                none_or(py, timestamp),
            ),
        )?
        .extract()?;
        let values = convert::buffer_of::<i64>(&values)?;
        let (kind, times): (TimelineKind, ArrayRef) = match kind.as_str() {
            "sequence" => (
                TimelineKind::Sequence,
                Arc::new(Int64Array::new(values, None)),
            ),
            "duration" => (
                TimelineKind::Duration,
                Arc::new(DurationNanosecondArray::new(values, None)),
            ),
            _ => (
                TimelineKind::Timestamp,
                Arc::new(TimestampNanosecondArray::new(values, None)),
            ),
        };
        let timeline = Timeline::new(timeline, kind).map_err(errors::value)?;
        let column = EngineTimeColumn::from_array(timeline, times).map_err(errors::value)?;
        Ok(Self { column })
    }

    /// The timeline's name.
    fn timeline_name(&self) -> String {
        self.column.timeline().name().to_owned()
    }

    fn __len__(&self) -> usize {
        self.column.array().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "TimeColumn({:?}, {} times)",
            self.column.timeline().name(),
            self.column.array().len()
        )
    }
}

/// One component's values for `send_columns`, cut into rows.
#[pyclass(frozen, module = "spate")]
pub struct ComponentColumn {
    /// All instances, before cutting.
    values: ArrayRef,
    column: spate::ComponentColumn,
}

impl ComponentColumn {
    fn cut(
        descriptor: ComponentDescriptor,
        values: ArrayRef,
        lengths: impl IntoIterator<Item = usize>,
    ) -> PyResult<Self> {
        let column = spate::ComponentColumn::from_lengths(descriptor, values.clone(), lengths)
            .map_err(errors::value)?;
        Ok(Self { values, column })
    }

    fn repartition(&self, lengths: &Bound<'_, PyAny>) -> PyResult<Self> {
        let lengths: Vec<usize> =
            convert::call_helper(lengths.py(), "lengths", (lengths,))?.extract()?;
        Self::cut(
            self.column.descriptor().clone(),
            self.values.clone(),
            lengths,
        )
    }
}

#[pymethods]
impl ComponentColumn {
    /// The same instances cut into rows of `lengths` (which must add up to their number).
    fn partition(&self, lengths: &Bound<'_, PyAny>) -> PyResult<Self> {
        self.repartition(lengths)
    }

    /// The component's name, e.g. `Points3D:positions`.
    #[getter]
    fn component(&self) -> String {
        self.column.descriptor().component.to_string()
    }

    /// Number of rows.
    fn __len__(&self) -> usize {
        self.column.list().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "ComponentColumn({:?}, {} rows)",
            self.column.descriptor().component,
            self.column.list().len()
        )
    }
}

/// The columns an archetype's `columns(...)` returns: iterate it (or splat it into a list)
/// and give it to `send_columns`; `.partition(lengths)` re-cuts every column.
#[pyclass(frozen, sequence, module = "spate")]
pub struct ComponentColumnList {
    columns: Vec<Py<ComponentColumn>>,
}

#[pymethods]
impl ComponentColumnList {
    /// Every column cut into rows of `lengths`.
    fn partition(&self, py: Python<'_>, lengths: &Bound<'_, PyAny>) -> PyResult<Self> {
        let columns = self
            .columns
            .iter()
            .map(|c| Py::new(py, c.get().repartition(lengths)?))
            .collect::<PyResult<_>>()?;
        Ok(Self { columns })
    }

    fn __len__(&self) -> usize {
        self.columns.len()
    }

    fn __getitem__(&self, py: Python<'_>, index: isize) -> PyResult<Py<ComponentColumn>> {
        let len = self.columns.len() as isize;
        let i = if index < 0 { index + len } else { index };
        usize::try_from(i)
            .ok()
            .and_then(|i| self.columns.get(i))
            .map(|c| c.clone_ref(py))
            .ok_or_else(|| pyo3::exceptions::PyIndexError::new_err("column index out of range"))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::new(py, self.columns.iter().map(|c| c.clone_ref(py)))?;
        Ok(list.try_iter()?.into_any())
    }
}

/// The columns of one archetype, added argument by argument: each its descriptor, all its
/// instances, and the rows they first fall into (one instance each when `None`).
pub(crate) struct Columns {
    archetype: &'static str,
    values: Vec<(ComponentDescriptor, ArrayRef, Option<Vec<usize>>)>,
}

impl Columns {
    pub(crate) fn of(archetype: &'static str) -> Self {
        Self {
            archetype,
            values: Vec::new(),
        }
    }

    fn push(&mut self, field: &str, component_type: &str, values: ArrayRef) {
        let descriptor = ComponentDescriptor {
            archetype: Some(Cow::Owned(format!("rerun.archetypes.{}", self.archetype))),
            component: Cow::Owned(format!("{}:{field}", self.archetype)),
            component_type: Some(Cow::Owned(format!("rerun.components.{component_type}"))),
        };
        self.values.push((descriptor, values, None));
    }

    /// The column `make` builds from `arg`, when it is given (not `None`).
    fn with(
        mut self,
        field: &str,
        component_type: &str,
        arg: Option<&Bound<'_, PyAny>>,
        make: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<ArrayRef>,
    ) -> PyResult<Self> {
        if let Some(a) = given(arg) {
            let values = make(a)?;
            self.push(field, component_type, values);
        }
        Ok(self)
    }

    /// A column under a descriptor of its own (`AnyValues`, `DynamicArchetype`), first cut
    /// into rows of `lengths` (one instance each when `None`).
    pub(crate) fn described(
        mut self,
        descriptor: ComponentDescriptor,
        values: ArrayRef,
        lengths: Option<Vec<usize>>,
    ) -> Self {
        self.values.push((descriptor, values, lengths));
        self
    }

    /// `N` floats per instance (`FixedSizeList<Float32 not null>[N]`).
    pub(crate) fn vectors<const N: usize>(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let floats = convert::vector_buffer::<N>(a)?;
            Ok(Arc::new(fixed_floats(N, floats)))
        })
    }

    /// Float32 values.
    pub(crate) fn f32s(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let values = convert::f32_buffer(a)?;
            Ok(Arc::new(Float32Array::new(values, None)))
        })
    }

    /// Float64 values.
    pub(crate) fn f64s(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let values = convert::f64_buffer(a)?;
            Ok(Arc::new(Float64Array::new(values, None)))
        })
    }

    /// Class or keypoint ids.
    pub(crate) fn u16s(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let values = convert::u16_buffer(a)?;
            Ok(Arc::new(UInt16Array::new(values, None)))
        })
    }

    /// Colors, packed `0xRRGGBBAA`.
    pub(crate) fn colors(self, field: &str, arg: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        self.with(field, "Color", arg, |a| {
            let values = convert::color_buffer(a)?;
            Ok(Arc::new(UInt32Array::new(values, None)))
        })
    }

    /// Texts (labels, frame names, levels).
    pub(crate) fn texts(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let texts = convert::strings(a)?;
            Ok(Arc::new(StringArray::from(texts)))
        })
    }

    /// Booleans (`show_labels`).
    pub(crate) fn bools(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let flat = convert::call_helper(a.py(), "flat", (a, "bool"))?;
            let values: Vec<bool> = flat.call_method0("tolist")?.extract()?;
            Ok(Arc::new(BooleanArray::from(values)))
        })
    }

    /// Enum values (`u8`) of `kind` (`"TransformRelation"`, …).
    pub(crate) fn enums(
        self,
        field: &str,
        ty: &str,
        kind: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let values = convert::call_helper(a.py(), "enum_values", (kind, a))?;
            let values = convert::buffer_of::<u8>(&values)?;
            Ok(Arc::new(UInt8Array::new(values, None)))
        })
    }

    /// 3×3 matrices given row-major (`(n, 3, 3)` or one), stored column-major.
    pub(crate) fn matrices(
        mut self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if let Some(a) = given(arg) {
            let rows = convert::vector_buffer::<9>(a)?;
            let columns: Vec<f32> = rows
                .chunks_exact(9)
                .flat_map(|m| (0..9).map(move |k| m[(k % 3) * 3 + k / 3]))
                .collect();
            self.push(
                field,
                ty,
                Arc::new(fixed_floats(9, ScalarBuffer::from(columns))),
            );
        }
        Ok(self)
    }

    /// Rotations about an axis (`RotationAxisAngle`s).
    pub(crate) fn axis_angles(self, field: &str, arg: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        self.with(field, "RotationAxisAngle", arg, |a| {
            let rotations = axis_angles_of(a)?;
            let axes = fixed_floats(
                3,
                rotations
                    .iter()
                    .flat_map(|r| r.axis)
                    .collect::<Vec<_>>()
                    .into(),
            );
            let angles = Float32Array::from_iter_values(rotations.iter().map(|r| r.angle));
            let fields = Fields::from(vec![
                Field::new("axis", axes.data_type().clone(), false),
                Field::new("angle", DataType::Float32, false),
            ]);
            let array = StructArray::new(fields, vec![Arc::new(axes), Arc::new(angles)], None);
            Ok(Arc::new(array))
        })
    }

    /// Blobs (encoded images): a sequence of bytes-likes, one per instance.
    pub(crate) fn blobs(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let (data, lengths): (Bound<'_, PyAny>, Vec<usize>) =
                convert::call_helper(a.py(), "blobs", (a,))?.extract()?;
            let data = convert::buffer_of::<u8>(&data)?;
            let mut offsets = vec![0i32];
            for len in lengths {
                let last = *offsets.last().unwrap_or(&0);
                let next = i32::try_from(len)
                    .ok()
                    .and_then(|l| last.checked_add(l))
                    .ok_or_else(|| PyValueError::new_err("blobs too large for one column"))?;
                offsets.push(next);
            }
            let item = Arc::new(Field::new_list_field(DataType::UInt8, false));
            let list = ListArray::try_new(
                item,
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                Arc::new(UInt8Array::new(data, None)),
                None,
            )
            .map_err(errors::value)?;
            Ok(Arc::new(list))
        })
    }

    /// `N` doubles per instance (`FixedSizeList<Float64 not null>[N]`): ranges.
    pub(crate) fn f64_vectors<const N: usize>(
        self,
        field: &str,
        ty: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, ty, arg, |a| {
            let values = convert::f64_buffer(a)?;
            if !values.len().is_multiple_of(N) {
                return Err(PyValueError::new_err(format!(
                    "{field}: expected {N} values per instance, got {} values",
                    values.len()
                )));
            }
            let item = Arc::new(Field::new_list_field(DataType::Float64, false));
            // N ≤ 2 here.
            let array = FixedSizeListArray::new(
                item,
                N as i32,
                Arc::new(Float64Array::new(values, None)),
                None,
            );
            Ok(Arc::new(array))
        })
    }

    /// Line strips: one list of 3D points per instance (`List<FixedSizeList<Float32>[3]>`).
    pub(crate) fn strips(self, field: &str, arg: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        self.with(field, "LineStrip3D", arg, |a| {
            let (points, lengths): (Bound<'_, PyAny>, Vec<usize>) =
                convert::call_helper(a.py(), "strips", (a,))?.extract()?;
            let points = fixed_floats(3, convert::buffer_of::<f32>(&points)?);
            let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
            let item = Arc::new(Field::new_list_field(points.data_type().clone(), false));
            let list =
                ListArray::try_new(item, offsets, Arc::new(points), None).map_err(errors::value)?;
            Ok(Arc::new(list))
        })
    }

    /// View coordinates (`camera_xyz`): three `ViewDir`s per instance.
    pub(crate) fn view_coordinates(
        self,
        field: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, "ViewCoordinates", arg, |a| {
            let dirs = convert::call_helper(a.py(), "view_coordinates_column", (a,))?;
            let dirs = convert::buffer_of::<u8>(&dirs)?;
            let item = Arc::new(Field::new_list_field(DataType::UInt8, false));
            let array =
                FixedSizeListArray::new(item, 3, Arc::new(UInt8Array::new(dirs, None)), None);
            Ok(Arc::new(array))
        })
    }

    /// Image formats (`rerun.components.ImageFormat` objects, one or a sequence).
    pub(crate) fn image_formats(
        self,
        field: &str,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        self.with(field, "ImageFormat", arg, |a| {
            let fields: Vec<FormatFields> =
                convert::call_helper(a.py(), "image_formats", (a,))?.extract()?;
            let formats = fields
                .into_iter()
                .map(
                    |(width, height, pixel_format, color_model, channel_datatype)| {
                        Ok(ImageFormat {
                            width,
                            height,
                            pixel_format: pixel_format.map(pixel_format_of).transpose()?,
                            color_model: color_model.map(color_model_of).transpose()?,
                            channel_datatype: channel_datatype.map(datatype_of).transpose()?,
                        })
                    },
                )
                .collect::<PyResult<Vec<_>>>()?;
            Ok(ImageFormat::array_of(&formats))
        })
    }

    /// The columns, one instance per row unless cut otherwise.
    pub(crate) fn finish(self, py: Python<'_>) -> PyResult<ComponentColumnList> {
        let columns = self
            .values
            .into_iter()
            .map(|(descriptor, values, lengths)| {
                let lengths = lengths.unwrap_or_else(|| vec![1; values.len()]);
                Py::new(py, ComponentColumn::cut(descriptor, values, lengths)?)
            })
            .collect::<PyResult<_>>()?;
        Ok(ComponentColumnList { columns })
    }
}

/// An image format as `spate._convert.image_formats` gives it: width, height, then the
/// `u8` values of its pixel format, color model and channel datatype, each if set.
type FormatFields = (u32, u32, Option<u8>, Option<u8>, Option<u8>);

/// `FixedSizeList<Float32 not null>[n]` over `floats` (a multiple of `n` of them).
fn fixed_floats(n: usize, floats: ScalarBuffer<f32>) -> FixedSizeListArray {
    let item = Arc::new(Field::new_list_field(DataType::Float32, false));
    // n ≤ 9 here.
    FixedSizeListArray::new(
        item,
        n as i32,
        Arc::new(Float32Array::new(floats, None)),
        None,
    )
}
