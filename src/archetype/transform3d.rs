//! The `Transform3D` archetype (`rerun.archetypes.Transform3D`): where an entity sits
//! relative to its parent.
//!
//! Written as the official Python SDK 0.41 writes it: only the fields that were set, each a
//! single instance, columns sorted by component name; `mat3x3` stored column-major.

use std::sync::Arc;

use arrow_array::ArrayRef;

use super::{ArchetypeError, RotationAxisAngle, column_major, fixed_f32, one_str, one_u8};
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("Transform3D" {
    CHILD_FRAME: "child_frame" => "TransformFrameId",
    MAT3X3: "mat3x3" => "TransformMat3x3",
    PARENT_FRAME: "parent_frame" => "TransformFrameId",
    QUATERNION: "quaternion" => "RotationQuat",
    RELATION: "relation" => "TransformRelation",
    ROTATION_AXIS_ANGLE: "rotation_axis_angle" => "RotationAxisAngle",
    SCALE: "scale" => "Scale3D",
    TRANSLATION: "translation" => "Translation3D",
});

/// Which way a [`Transform3D`] maps: Rerun's `rerun.components.TransformRelation`, stored as
/// its `u8` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum TransformRelation {
    /// The transform maps points of the child (this entity) into its parent's space:
    /// the viewer's default when no relation is logged.
    #[default]
    ParentFromChild = 1,
    /// The transform maps points of the parent into the child's space (the SDK's
    /// `from_parent=True`).
    ChildFromParent = 2,
}

/// An entity's transform relative to its parent: translation, rotation (a quaternion and/or
/// an axis and angle), scale and a 3×3 matrix, each optional. Only what was set is written,
/// as the official SDK does. A `Transform3D` with nothing set has no components: spate
/// logs it as a row without components, where the SDK drops it with a warning.
///
/// ```
/// use spate::archetype::{Transform3D, TransformRelation};
/// use spate::{EntityPath, Recording};
///
/// let rec = Recording::builder("robot").start()?;
/// let half_turn = (std::f32::consts::FRAC_PI_2.sin(), std::f32::consts::FRAC_PI_2.cos());
/// rec.log(
///     &EntityPath::parse("world/robot")?,
///     &Transform3D::new()
///         .with_translation([1.0, 2.0, 0.0])
///         .with_quaternion([0.0, 0.0, half_turn.0, half_turn.1]) // x, y, z, w
///         .with_scale([2.0, 2.0, 2.0])
///         .with_relation(TransformRelation::ParentFromChild),
/// )?;
/// rec.log(
///     &EntityPath::parse("world/arm")?,
///     &Transform3D::new().with_rotation_axis_angle([0.0, 0.0, 1.0], 0.3),
/// )?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transform3D {
    translation: Option<[f32; 3]>,
    rotation_axis_angle: Option<RotationAxisAngle>,
    quaternion: Option<[f32; 4]>,
    scale: Option<[f32; 3]>,
    /// Column-major, as stored.
    mat3x3: Option<[f32; 9]>,
    relation: Option<TransformRelation>,
    child_frame: Option<Arc<str>>,
    parent_frame: Option<Arc<str>>,
}

impl Transform3D {
    /// A transform with nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Translation `[x, y, z]` (`Transform3D:translation`).
    pub fn with_translation(mut self, translation: [f32; 3]) -> Self {
        self.translation = Some(translation);
        self
    }

    /// Rotation as a quaternion `[x, y, z, w]` (`Transform3D:quaternion`); not normalized
    /// here.
    pub fn with_quaternion(mut self, xyzw: [f32; 4]) -> Self {
        self.quaternion = Some(xyzw);
        self
    }

    /// Rotation of `radians` around `axis` (`Transform3D:rotation_axis_angle`); the SDK
    /// stores the angle in radians whether it was given in degrees or radians.
    pub fn with_rotation_axis_angle(mut self, axis: [f32; 3], radians: f32) -> Self {
        self.rotation_axis_angle = Some(RotationAxisAngle::new(axis, radians));
        self
    }

    /// Scale per axis `[x, y, z]` (`Transform3D:scale`).
    pub fn with_scale(mut self, scale: [f32; 3]) -> Self {
        self.scale = Some(scale);
        self
    }

    /// The same scale on every axis: stored as `[s, s, s]`, as the SDK does for
    /// `scale=s`.
    pub fn with_uniform_scale(self, scale: f32) -> Self {
        self.with_scale([scale; 3])
    }

    /// A 3×3 matrix given **row-major** (`rows[r][c]`, as written on paper and as the SDK
    /// takes it); stored **column-major** in `Transform3D:mat3x3`, as the SDK stores it.
    ///
    /// ```
    /// use spate::archetype::Transform3D;
    /// use spate::AsComponents;
    /// use arrow_array::{Array, FixedSizeListArray, Float32Array};
    ///
    /// let t = Transform3D::new().with_mat3x3([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]);
    /// let columns = t.as_components()?;
    /// let fsl = columns[0].1.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
    /// let stored = fsl.values().as_any().downcast_ref::<Float32Array>().unwrap();
    /// assert_eq!(stored.values().as_ref(), [1.0, 4.0, 7.0, 2.0, 5.0, 8.0, 3.0, 6.0, 9.0]);
    /// # Ok::<(), spate::ArchetypeError>(())
    /// ```
    pub fn with_mat3x3(mut self, rows: [[f32; 3]; 3]) -> Self {
        self.mat3x3 = Some(column_major(rows));
        self
    }

    /// Which way the transform maps (`Transform3D:relation`); not written unless set.
    pub fn with_relation(mut self, relation: TransformRelation) -> Self {
        self.relation = Some(relation);
        self
    }

    /// The named frame this transform places (`Transform3D:child_frame`).
    pub fn with_child_frame(mut self, frame: impl Into<Arc<str>>) -> Self {
        self.child_frame = Some(frame.into());
        self
    }

    /// The named frame this transform is relative to (`Transform3D:parent_frame`).
    pub fn with_parent_frame(mut self, frame: impl Into<Arc<str>>) -> Self {
        self.parent_frame = Some(frame.into());
        self
    }
}

impl AsComponents for Transform3D {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        // Sorted by component name, as the official SDK writes them.
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(8);
        if let Some(f) = &self.child_frame {
            out.push((CHILD_FRAME, one_str(f)));
        }
        if let Some(m) = self.mat3x3 {
            out.push((MAT3X3, Arc::new(fixed_f32(m))));
        }
        if let Some(f) = &self.parent_frame {
            out.push((PARENT_FRAME, one_str(f)));
        }
        if let Some(q) = self.quaternion {
            out.push((QUATERNION, Arc::new(fixed_f32(q))));
        }
        if let Some(r) = self.relation {
            out.push((RELATION, one_u8(r as u8)));
        }
        if let Some(r) = self.rotation_axis_angle {
            out.push((
                ROTATION_AXIS_ANGLE,
                Arc::new(RotationAxisAngle::to_array(&[r])),
            ));
        }
        if let Some(s) = self.scale {
            out.push((SCALE, Arc::new(fixed_f32(s))));
        }
        if let Some(t) = self.translation {
            out.push((TRANSLATION, Arc::new(fixed_f32(t))));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, FixedSizeListArray, Float32Array, StructArray};
    use arrow_schema::{DataType, Field, Fields};

    fn fsl(item: DataType, n: i32) -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", item, false)), n)
    }

    fn all() -> Transform3D {
        Transform3D::new()
            .with_translation([1.0, 2.0, 3.0])
            .with_quaternion([0.0, 0.0, 0.0, 1.0])
            .with_rotation_axis_angle([0.0, 0.0, 1.0], 0.5)
            .with_scale([1.0, 2.0, 3.0])
            .with_mat3x3([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
            .with_relation(TransformRelation::ChildFromParent)
            .with_child_frame("c")
            .with_parent_frame("p")
    }

    /// Types and descriptors as the Python SDK 0.41 writes them (from its `.rrd` dump).
    #[test]
    fn components_are_typed_as_the_sdk_writes_them() {
        let columns = all().as_components().unwrap();
        let got: Vec<(String, String, DataType)> = columns
            .iter()
            .map(|(d, a)| {
                assert_eq!(d.archetype.as_deref(), Some("rerun.archetypes.Transform3D"));
                (
                    d.component.to_string(),
                    d.component_type.as_deref().unwrap().to_string(),
                    a.data_type().clone(),
                )
            })
            .collect();
        let axis_angle = DataType::Struct(Fields::from(vec![
            Field::new("axis", fsl(DataType::Float32, 3), false),
            Field::new("angle", DataType::Float32, false),
        ]));
        let expected = [
            (
                "Transform3D:child_frame",
                "rerun.components.TransformFrameId",
                DataType::Utf8,
            ),
            (
                "Transform3D:mat3x3",
                "rerun.components.TransformMat3x3",
                fsl(DataType::Float32, 9),
            ),
            (
                "Transform3D:parent_frame",
                "rerun.components.TransformFrameId",
                DataType::Utf8,
            ),
            (
                "Transform3D:quaternion",
                "rerun.components.RotationQuat",
                fsl(DataType::Float32, 4),
            ),
            (
                "Transform3D:relation",
                "rerun.components.TransformRelation",
                DataType::UInt8,
            ),
            (
                "Transform3D:rotation_axis_angle",
                "rerun.components.RotationAxisAngle",
                axis_angle,
            ),
            (
                "Transform3D:scale",
                "rerun.components.Scale3D",
                fsl(DataType::Float32, 3),
            ),
            (
                "Transform3D:translation",
                "rerun.components.Translation3D",
                fsl(DataType::Float32, 3),
            ),
        ];
        let expected: Vec<(String, String, DataType)> = expected
            .into_iter()
            .map(|(c, t, d)| (c.to_string(), t.to_string(), d))
            .collect();
        assert_eq!(got, expected);
        for (_, a) in &columns {
            assert_eq!(a.len(), 1, "one instance per component");
        }
    }

    #[test]
    fn matrix_is_stored_column_major() {
        // The SDK stores [[1,2,3],[4,5,6],[7,8,9]] as [1,4,7,2,5,8,3,6,9].
        assert_eq!(
            column_major([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
            [1.0, 4.0, 7.0, 2.0, 5.0, 8.0, 3.0, 6.0, 9.0]
        );
    }

    #[test]
    fn relation_values_are_the_sdks() {
        assert_eq!(TransformRelation::ParentFromChild as u8, 1);
        assert_eq!(TransformRelation::ChildFromParent as u8, 2);
    }

    #[test]
    fn only_what_was_set_is_written() {
        assert!(Transform3D::new().as_components().unwrap().is_empty());
        let t = Transform3D::new().with_translation([1.0, 2.0, 3.0]);
        let columns = t.as_components().unwrap();
        assert_eq!(columns.len(), 1);
        assert_eq!(&*columns[0].0.component, "Transform3D:translation");
        let u = Transform3D::new().with_uniform_scale(2.0);
        assert_eq!(u, Transform3D::new().with_scale([2.0; 3]));
    }

    #[test]
    fn axis_angle_values() {
        let columns = Transform3D::new()
            .with_rotation_axis_angle([0.0, 1.0, 0.0], 1.5)
            .as_components()
            .unwrap();
        let s = columns[0].1.as_any().downcast_ref::<StructArray>().unwrap();
        let angle = s.column(1).as_any().downcast_ref::<Float32Array>().unwrap();
        assert_eq!(angle.value(0), 1.5);
        let axis = s
            .column(0)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        let axis = axis
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        assert_eq!(axis.values().as_ref(), [0.0, 1.0, 0.0]);
    }
}
