//! `Points2D`, `Arrows3D`, `Boxes3D` and `LineStrips3D`, with the official SDK's
//! constructors: shapes with per-instance colors, radii, labels and class ids.

use pyo3::prelude::*;
use spate::archetype::Coords;

use super::Archetype;
use crate::columns::{Columns, ComponentColumnList};
use crate::convert::{axis_angles_of, given, none_or};
use crate::{convert, errors};

/// Points in 2D: positions `(n, 2)`, and per point (or one for all) colors, radii, labels,
/// class ids and keypoint ids, plus a draw order.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Points2D;

#[pymethods]
impl Points2D {
    #[new]
    #[pyo3(signature = (positions, *, radii=None, colors=None, labels=None, show_labels=None, draw_order=None, class_ids=None, keypoint_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        positions: &Bound<'_, PyAny>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
        keypoint_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let points = spate::Points2D::new(convert::coords::<2>(positions)?);
        let mut points = instance_style!(points, colors, radii, labels, show_labels, class_ids);
        if let Some(d) = given(draw_order) {
            points = points.with_draw_order(d.extract::<f32>()?);
        }
        if let Some(ids) = given(keypoint_ids) {
            points = points.with_keypoint_ids(convert::u16s(ids)?);
        }
        points.validate().map_err(errors::value)?;
        Ok(PyClassInitializer::from(Archetype::of(points)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one instance per row (`.partition(lengths)` re-cuts).
    #[staticmethod]
    #[pyo3(signature = (*, positions=None, radii=None, colors=None, labels=None, show_labels=None, draw_order=None, class_ids=None, keypoint_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        positions: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
        keypoint_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("Points2D")
            .u16s("class_ids", "ClassId", class_ids)?
            .colors("colors", colors)?
            .f32s("draw_order", "DrawOrder", draw_order)?
            .u16s("keypoint_ids", "KeypointId", keypoint_ids)?
            .texts("labels", "Text", labels)?
            .vectors::<2>("positions", "Position2D", positions)?
            .f32s("radii", "Radius", radii)?
            .bools("show_labels", "ShowLabels", show_labels)?
            .finish(py)
    }
}

/// Arrows in 3D: `vectors` `(n, 3)` (keyword-only, as in the SDK), optional origins, and per
/// arrow (or one for all) colors, radii, labels and class ids.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Arrows3D;

#[pymethods]
impl Arrows3D {
    #[new]
    #[pyo3(signature = (*, vectors, origins=None, radii=None, colors=None, labels=None, show_labels=None, class_ids=None))]
    fn new(
        vectors: &Bound<'_, PyAny>,
        origins: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let mut arrows = spate::Arrows3D::new(convert::coords::<3>(vectors)?);
        if let Some(o) = given(origins) {
            arrows = arrows.with_origins(convert::coords::<3>(o)?);
        }
        let arrows = instance_style!(arrows, colors, radii, labels, show_labels, class_ids);
        arrows.validate().map_err(errors::value)?;
        Ok(PyClassInitializer::from(Archetype::of(arrows)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one instance per row (`.partition(lengths)` re-cuts).
    #[staticmethod]
    #[pyo3(signature = (*, vectors=None, origins=None, radii=None, colors=None, labels=None, show_labels=None, class_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        vectors: Option<&Bound<'_, PyAny>>,
        origins: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("Arrows3D")
            .u16s("class_ids", "ClassId", class_ids)?
            .colors("colors", colors)?
            .texts("labels", "Text", labels)?
            .vectors::<3>("origins", "Position3D", origins)?
            .f32s("radii", "Radius", radii)?
            .bools("show_labels", "ShowLabels", show_labels)?
            .vectors::<3>("vectors", "Vector3D", vectors)?
            .finish(py)
    }
}

/// Boxes in 3D: half sizes (or `sizes`), centers (or `mins`), rotations as quaternions or
/// axis-angles, a fill mode, and per box (or one for all) colors, radii, labels, class ids.
///
/// `rotations=` is written as the kind of rotation it holds; the official SDK also writes
/// an empty column of the other kind, which spate does not.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Boxes3D;

#[pymethods]
impl Boxes3D {
    #[new]
    #[pyo3(signature = (*, sizes=None, mins=None, half_sizes=None, centers=None, rotation_axis_angles=None, quaternions=None, rotations=None, colors=None, radii=None, fill_mode=None, labels=None, show_labels=None, class_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        py: Python<'_>,
        sizes: Option<&Bound<'_, PyAny>>,
        mins: Option<&Bound<'_, PyAny>>,
        half_sizes: Option<&Bound<'_, PyAny>>,
        centers: Option<&Bound<'_, PyAny>>,
        rotation_axis_angles: Option<&Bound<'_, PyAny>>,
        quaternions: Option<&Bound<'_, PyAny>>,
        rotations: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        fill_mode: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let (half_sizes, centers) = match (given(sizes), given(mins), given(half_sizes)) {
            (None, None, Some(h)) => (h.clone(), given(centers).cloned()),
            _ => {
                let args = [sizes, mins, half_sizes, centers].map(|a| none_or(py, a));
                let (h, c): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                    convert::call_helper(py, "boxes3d", pyo3::types::PyTuple::new(py, args)?)?
                        .extract()?;
                (h, (!c.is_none()).then_some(c))
            }
        };
        let mut boxes = spate::Boxes3D::new(convert::coords::<3>(&half_sizes)?);
        if let Some(c) = centers {
            boxes = boxes.with_centers(convert::coords::<3>(&c)?);
        }
        let (mut axis_angles, mut quats) = (
            given(rotation_axis_angles).cloned(),
            given(quaternions).cloned(),
        );
        if let Some(r) = given(rotations) {
            if axis_angles.is_some() || quats.is_some() {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "Cannot specify both `rotations` and `quaternions` or `rotation_axis_angles`.",
                ));
            }
            let (kind, value): (String, Bound<'_, PyAny>) =
                convert::call_helper(py, "rotations", (r,))?.extract()?;
            if kind == "axis_angle" {
                axis_angles = Some(value);
            } else {
                quats = Some(value);
            }
        }
        if let Some(r) = axis_angles {
            boxes = boxes.with_rotation_axis_angles(axis_angles_of(&r)?);
        }
        if let Some(q) = quats {
            let flat = convert::call_helper(py, "quaternions", (q,))?;
            boxes = boxes.with_quaternions(
                Coords::<4>::try_from_buffer(convert::buffer_of::<f32>(&flat)?)
                    .map_err(errors::value)?,
            );
        }
        if let Some(f) = given(fill_mode) {
            boxes = boxes.with_fill_mode(super::fill_mode(f)?);
        }
        let boxes = instance_style!(boxes, colors, radii, labels, show_labels, class_ids);
        boxes.validate().map_err(errors::value)?;
        Ok(PyClassInitializer::from(Archetype::of(boxes)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one instance per row (`.partition(lengths)` re-cuts).
    /// Takes half sizes and centers (not `sizes`/`mins`), as the SDK's `columns` does.
    #[staticmethod]
    #[pyo3(signature = (*, half_sizes=None, centers=None, rotation_axis_angles=None, quaternions=None, colors=None, radii=None, fill_mode=None, labels=None, show_labels=None, class_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        half_sizes: Option<&Bound<'_, PyAny>>,
        centers: Option<&Bound<'_, PyAny>>,
        rotation_axis_angles: Option<&Bound<'_, PyAny>>,
        quaternions: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        fill_mode: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        let quaternions = match given(quaternions) {
            Some(q) => Some(convert::call_helper(py, "quaternions", (q,))?),
            None => None,
        };
        Columns::of("Boxes3D")
            .vectors::<3>("centers", "Translation3D", centers)?
            .u16s("class_ids", "ClassId", class_ids)?
            .colors("colors", colors)?
            .enums("fill_mode", "FillMode", "FillMode", fill_mode)?
            .vectors::<3>("half_sizes", "HalfSize3D", half_sizes)?
            .texts("labels", "Text", labels)?
            .vectors::<4>("quaternions", "RotationQuat", quaternions.as_ref())?
            .f32s("radii", "Radius", radii)?
            .axis_angles("rotation_axis_angles", rotation_axis_angles)?
            .bools("show_labels", "ShowLabels", show_labels)?
            .finish(py)
    }
}

/// Polylines in 3D: strips of points, and per strip (or one for all) colors, radii, labels
/// and class ids.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct LineStrips3D;

#[pymethods]
impl LineStrips3D {
    #[new]
    #[pyo3(signature = (strips, *, radii=None, colors=None, labels=None, show_labels=None, class_ids=None))]
    fn new(
        py: Python<'_>,
        strips: &Bound<'_, PyAny>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let (points, lengths): (Bound<'_, PyAny>, Vec<usize>) =
            convert::call_helper(py, "strips", (strips,))?.extract()?;
        let points = Coords::<3>::try_from_buffer(convert::buffer_of::<f32>(&points)?)
            .map_err(errors::value)?;
        let lines = spate::LineStrips3D::from_flat(points, lengths);
        let lines = instance_style!(lines, colors, radii, labels, show_labels, class_ids);
        lines.validate().map_err(errors::value)?;
        Ok(PyClassInitializer::from(Archetype::of(lines)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one strip per row (`.partition(lengths)` re-cuts).
    #[staticmethod]
    #[pyo3(signature = (*, strips=None, radii=None, colors=None, labels=None, show_labels=None, class_ids=None))]
    fn columns(
        py: Python<'_>,
        strips: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("LineStrips3D")
            .u16s("class_ids", "ClassId", class_ids)?
            .colors("colors", colors)?
            .texts("labels", "Text", labels)?
            .f32s("radii", "Radius", radii)?
            .bools("show_labels", "ShowLabels", show_labels)?
            .strips("strips", strips)?
            .finish(py)
    }
}
