//! `Points3D(positions, *, radii, colors, labels, show_labels, point_shading, class_ids,
//! keypoint_ids)`.

use pyo3::prelude::*;
use spate::Points3D as Cloud;

use super::{Archetype, unsupported};
use crate::columns::{Columns, ComponentColumnList};
use crate::convert;

/// A 3D point cloud: positions `(n, 3)`, and per point (or one for all) colors, radii,
/// class ids and labels.
///
/// C-contiguous float32 positions (and uint32 colors, float32 radii, uint16 class ids) are
/// taken **without copying**: spate keeps the array alive until every sink has written it,
/// and reads it only then. Do not write into an array after logging it until `flush()`
/// returns; log a copy (or a new array) per frame instead.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Points3D;

#[pymethods]
impl Points3D {
    #[new]
    #[pyo3(signature = (positions, *, radii=None, colors=None, labels=None, show_labels=None, point_shading=None, class_ids=None, keypoint_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        positions: &Bound<'_, PyAny>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        point_shading: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
        keypoint_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        unsupported("Points3D", "point_shading", point_shading)?;
        unsupported("Points3D", "keypoint_ids", keypoint_ids)?;
        unsupported("Points3D", "show_labels", show_labels)?;
        let cloud = Cloud::new(convert::coords::<3>(positions)?);
        let cloud = instance_style!(cloud, colors, radii, labels, class_ids);
        cloud.validate().map_err(crate::errors::value)?;
        Ok(PyClassInitializer::from(Archetype::of(cloud)).add_subclass(Points3D))
    }

    /// Columns for `send_columns`, one instance per row (`.partition(lengths)` re-cuts).
    #[staticmethod]
    #[pyo3(signature = (*, positions=None, radii=None, colors=None, labels=None, show_labels=None, point_shading=None, class_ids=None, keypoint_ids=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        positions: Option<&Bound<'_, PyAny>>,
        radii: Option<&Bound<'_, PyAny>>,
        colors: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
        show_labels: Option<&Bound<'_, PyAny>>,
        point_shading: Option<&Bound<'_, PyAny>>,
        class_ids: Option<&Bound<'_, PyAny>>,
        keypoint_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        unsupported("Points3D.columns", "point_shading", point_shading)?;
        Columns::of("Points3D")
            .u16s("class_ids", "ClassId", class_ids)?
            .colors("colors", colors)?
            .u16s("keypoint_ids", "KeypointId", keypoint_ids)?
            .texts("labels", "Text", labels)?
            .vectors::<3>("positions", "Position3D", positions)?
            .f32s("radii", "Radius", radii)?
            .bools("show_labels", "ShowLabels", show_labels)?
            .finish(py)
    }
}
