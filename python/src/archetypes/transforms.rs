//! `Transform3D` and `Pinhole`, with the official SDK's constructors: one instance each,
//! converted by `spate._convert.transform3d` / `pinhole` with the SDK's rules.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use spate::archetype::{TransformRelation, ViewCoordinates, ViewDir};

use super::Archetype;
use crate::columns::{Columns, ComponentColumnList};
use crate::convert;
use crate::convert::{given, none_or};

/// An entity's transform relative to its parent: translation, rotation (quaternion and/or
/// axis-angle), scale, 3×3 matrix, relation and named frames, each optional.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Transform3D;

#[pymethods]
impl Transform3D {
    #[new]
    #[pyo3(signature = (*, translation=None, rotation=None, rotation_axis_angle=None, quaternion=None, scale=None, mat3x3=None, from_parent=None, relation=None, child_frame=None, parent_frame=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        py: Python<'_>,
        translation: Option<&Bound<'_, PyAny>>,
        rotation: Option<&Bound<'_, PyAny>>,
        rotation_axis_angle: Option<&Bound<'_, PyAny>>,
        quaternion: Option<&Bound<'_, PyAny>>,
        scale: Option<&Bound<'_, PyAny>>,
        mat3x3: Option<&Bound<'_, PyAny>>,
        from_parent: Option<&Bound<'_, PyAny>>,
        relation: Option<&Bound<'_, PyAny>>,
        child_frame: Option<&Bound<'_, PyAny>>,
        parent_frame: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let args = [
            translation,
            rotation,
            rotation_axis_angle,
            quaternion,
            scale,
            mat3x3,
            from_parent,
            relation,
        ]
        .map(|a| none_or(py, a));
        let fields = convert::call_helper(py, "transform3d", pyo3::types::PyTuple::new(py, args)?)?;
        let fields = fields.cast::<PyDict>()?;
        let mut t = spate::archetype::Transform3D::new();
        if let Some(v) = fields.get_item("translation")? {
            t = t.with_translation(v.extract()?);
        }
        if let Some(v) = fields.get_item("rotation_axis_angle")? {
            let (axis, angle): ([f32; 3], f32) = v.extract()?;
            t = t.with_rotation_axis_angle(axis, angle);
        }
        if let Some(v) = fields.get_item("quaternion")? {
            t = t.with_quaternion(v.extract()?);
        }
        if let Some(v) = fields.get_item("scale")? {
            t = t.with_scale(v.extract()?);
        }
        if let Some(v) = fields.get_item("mat3x3")? {
            t = t.with_mat3x3(v.extract()?);
        }
        if let Some(v) = fields.get_item("relation")? {
            t = t.with_relation(relation_of(v.extract()?)?);
        }
        if let Some(f) = given(child_frame) {
            t = t.with_child_frame(text(f)?);
        }
        if let Some(f) = given(parent_frame) {
            t = t.with_parent_frame(text(f)?);
        }
        Ok(PyClassInitializer::from(Archetype::of(t)).add_subclass(Self))
    }

    /// Columns for `send_columns`: one transform per row.
    #[staticmethod]
    #[pyo3(signature = (*, translation=None, rotation_axis_angle=None, quaternion=None, scale=None, mat3x3=None, relation=None, child_frame=None, parent_frame=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        translation: Option<&Bound<'_, PyAny>>,
        rotation_axis_angle: Option<&Bound<'_, PyAny>>,
        quaternion: Option<&Bound<'_, PyAny>>,
        scale: Option<&Bound<'_, PyAny>>,
        mat3x3: Option<&Bound<'_, PyAny>>,
        relation: Option<&Bound<'_, PyAny>>,
        child_frame: Option<&Bound<'_, PyAny>>,
        parent_frame: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        let quaternion = match given(quaternion) {
            Some(q) => Some(convert::call_helper(py, "quaternions", (q,))?),
            None => None,
        };
        Columns::of("Transform3D")
            .texts("child_frame", "TransformFrameId", child_frame)?
            .matrices("mat3x3", "TransformMat3x3", mat3x3)?
            .texts("parent_frame", "TransformFrameId", parent_frame)?
            .vectors::<4>("quaternion", "RotationQuat", quaternion.as_ref())?
            .enums(
                "relation",
                "TransformRelation",
                "TransformRelation",
                relation,
            )?
            .axis_angles("rotation_axis_angle", rotation_axis_angle)?
            .vectors::<3>("scale", "Scale3D", scale)?
            .vectors::<3>("translation", "Translation3D", translation)?
            .finish(py)
    }
}

/// A `TransformRelation` from its `u8` value.
pub(crate) fn relation_of(v: u8) -> PyResult<TransformRelation> {
    match v {
        1 => Ok(TransformRelation::ParentFromChild),
        2 => Ok(TransformRelation::ChildFromParent),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "Cannot convert {v} to TransformRelation"
        ))),
    }
}

/// One text argument (a frame name, a level): a `str` or the SDK's text component.
pub(crate) fn text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = obj.cast::<pyo3::types::PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    convert::call_helper(obj.py(), "text", (obj,))?.extract()
}

/// A pinhole camera: its projection (`image_from_camera`, or focal length and principal
/// point, or a vertical field of view and aspect ratio), resolution, axis convention and
/// how its frustum is drawn.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Pinhole;

#[pymethods]
impl Pinhole {
    #[new]
    #[pyo3(signature = (*, image_from_camera=None, resolution=None, camera_xyz=None, width=None, height=None, focal_length=None, principal_point=None, fov_y=None, aspect_ratio=None, child_frame=None, parent_frame=None, image_plane_distance=None, color=None, line_width=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        py: Python<'_>,
        image_from_camera: Option<&Bound<'_, PyAny>>,
        resolution: Option<&Bound<'_, PyAny>>,
        camera_xyz: Option<&Bound<'_, PyAny>>,
        width: Option<&Bound<'_, PyAny>>,
        height: Option<&Bound<'_, PyAny>>,
        focal_length: Option<&Bound<'_, PyAny>>,
        principal_point: Option<&Bound<'_, PyAny>>,
        fov_y: Option<&Bound<'_, PyAny>>,
        aspect_ratio: Option<&Bound<'_, PyAny>>,
        child_frame: Option<&Bound<'_, PyAny>>,
        parent_frame: Option<&Bound<'_, PyAny>>,
        image_plane_distance: Option<&Bound<'_, PyAny>>,
        color: Option<&Bound<'_, PyAny>>,
        line_width: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let args = [
            image_from_camera,
            resolution,
            width,
            height,
            focal_length,
            principal_point,
            fov_y,
            aspect_ratio,
        ]
        .map(|a| none_or(py, a));
        let (rows, resolution): ([[f32; 3]; 3], Option<[f32; 2]>) =
            convert::call_helper(py, "pinhole", pyo3::types::PyTuple::new(py, args)?)?.extract()?;
        let mut p = spate::archetype::Pinhole::new(rows);
        if let Some(r) = resolution {
            p = p.with_resolution(r);
        }
        if let Some(v) = given(camera_xyz) {
            p = p.with_camera_xyz(view_coordinates(v)?);
        }
        if let Some(f) = given(child_frame) {
            p = p.with_child_frame(text(f)?);
        }
        if let Some(f) = given(parent_frame) {
            p = p.with_parent_frame(text(f)?);
        }
        if let Some(d) = given(image_plane_distance) {
            p = p.with_image_plane_distance(d.extract()?);
        }
        if let Some(c) = given(color) {
            p = p.with_color(convert::one_color(c)?);
        }
        if let Some(w) = given(line_width) {
            p = p.with_line_width(w.extract()?);
        }
        Ok(PyClassInitializer::from(Archetype::of(p)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one camera per row: projections given row-major (`(n, 3,
    /// 3)`), resolutions `(n, 2)`, `ViewCoordinates`, frames, distances, colors, line widths.
    #[staticmethod]
    #[pyo3(signature = (*, image_from_camera=None, resolution=None, camera_xyz=None, child_frame=None, parent_frame=None, image_plane_distance=None, color=None, line_width=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        image_from_camera: Option<&Bound<'_, PyAny>>,
        resolution: Option<&Bound<'_, PyAny>>,
        camera_xyz: Option<&Bound<'_, PyAny>>,
        child_frame: Option<&Bound<'_, PyAny>>,
        parent_frame: Option<&Bound<'_, PyAny>>,
        image_plane_distance: Option<&Bound<'_, PyAny>>,
        color: Option<&Bound<'_, PyAny>>,
        line_width: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("Pinhole")
            .view_coordinates("camera_xyz", camera_xyz)?
            .texts("child_frame", "TransformFrameId", child_frame)?
            .colors("color", color)?
            .matrices("image_from_camera", "PinholeProjection", image_from_camera)?
            .f32s(
                "image_plane_distance",
                "ImagePlaneDistance",
                image_plane_distance,
            )?
            .f32s("line_width", "Radius", line_width)?
            .texts("parent_frame", "TransformFrameId", parent_frame)?
            .vectors::<2>("resolution", "Resolution", resolution)?
            .finish(py)
    }
}

/// The official SDK's `ViewCoordinates` archetype (`rr.log("world",
/// rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)`): one row of `ViewCoordinates:xyz`, what
/// the X, Y and Z axes of the entity's space point at. `xyz` as `camera_xyz=` takes it.
#[pyfunction]
pub(crate) fn _view_coordinates_row(
    py: Python<'_>,
    xyz: &Bound<'_, PyAny>,
) -> PyResult<Py<Archetype>> {
    use arrow_array::{FixedSizeListArray, UInt8Array};
    use arrow_schema::{DataType, Field};
    use spate::chunk::ComponentDescriptor;
    const ARCHETYPE: &str = "rerun.archetypes.ViewCoordinates";
    let dirs = view_coordinates(xyz)?.dirs().map(|d| d as u8);
    let values = FixedSizeListArray::new(
        std::sync::Arc::new(Field::new_list_field(DataType::UInt8, false)),
        3,
        std::sync::Arc::new(UInt8Array::from(dirs.to_vec())),
        None,
    );
    let row = spate::DynamicArchetype::new(ARCHETYPE).with_descriptor(
        ComponentDescriptor::new(
            ARCHETYPE,
            "ViewCoordinates:xyz",
            "rerun.components.ViewCoordinates",
        ),
        std::sync::Arc::new(values),
    );
    Py::new(py, Archetype::of(row))
}

/// `camera_xyz=`: `ViewCoordinates.RDF` (spate's or the SDK's), `"RDF"`, or three directions.
fn view_coordinates(obj: &Bound<'_, PyAny>) -> PyResult<ViewCoordinates> {
    let dirs: [u8; 3] = convert::call_helper(obj.py(), "view_coordinates", (obj,))?.extract()?;
    let dir = |d: u8| match d {
        1 => Ok(ViewDir::Up),
        2 => Ok(ViewDir::Down),
        3 => Ok(ViewDir::Right),
        4 => Ok(ViewDir::Left),
        5 => Ok(ViewDir::Forward),
        6 => Ok(ViewDir::Back),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{d} is not a ViewDir"
        ))),
    };
    Ok(ViewCoordinates::new([
        dir(dirs[0])?,
        dir(dirs[1])?,
        dir(dirs[2])?,
    ]))
}
