//! The `Boxes3D` archetype (`rerun.archetypes.Boxes3D`), and the rotation and fill-mode
//! components it shares with other shapes.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, StructArray};
use arrow_schema::{DataType, Field, Fields};

use super::instance_style::{InstanceStyle, StyleNames};
use super::{
    ArchetypeError, Coords, check_fits, check_splat, fixed_size_floats, one_u8, sorted_by_name,
};
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("Boxes3D" {
    CENTERS: "centers" => "Translation3D",
    FILL_MODE: "fill_mode" => "FillMode",
    HALF_SIZES: "half_sizes" => "HalfSize3D",
    QUATERNIONS: "quaternions" => "RotationQuat",
    ROTATION_AXIS_ANGLES: "rotation_axis_angles" => "RotationAxisAngle",
});
const STYLE: StyleNames = style_names!("Boxes3D");

/// A rotation by `angle` radians about `axis` (Rerun's `RotationAxisAngle`); the axis need not
/// be normalized.
///
/// Written as `struct<axis: fixed_size_list<item: float not null>[3] not null, angle: float
/// not null>`, the angle in radians (the SDK converts degrees before writing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RotationAxisAngle {
    /// The axis of rotation.
    pub axis: [f32; 3],
    /// The angle, in radians.
    pub angle: f32,
}

impl RotationAxisAngle {
    /// A rotation of `radians` about `axis`.
    pub fn new(axis: [f32; 3], radians: f32) -> Self {
        Self {
            axis,
            angle: radians,
        }
    }

    /// A rotation of `degrees` about `axis`, stored in radians: converted in `f64`, then
    /// rounded to `f32`, as the official SDK does.
    pub fn from_degrees(axis: [f32; 3], degrees: f32) -> Self {
        Self::new(axis, f64::from(degrees).to_radians() as f32)
    }

    /// The Arrow array of these rotations, as Rerun's `RotationAxisAngle` component.
    pub(crate) fn to_array(rotations: &[Self]) -> StructArray {
        let axis = fixed_size_floats::<3>(rotations.iter().flat_map(|r| r.axis).collect());
        let angle = Float32Array::from_iter_values(rotations.iter().map(|r| r.angle));
        let fields = Fields::from(vec![
            Field::new("axis", axis.data_type().clone(), false),
            Field::new("angle", DataType::Float32, false),
        ]);
        StructArray::new(fields, vec![Arc::new(axis), Arc::new(angle)], None)
    }
}

/// How a shape is drawn (Rerun's `FillMode`), written as its `u8` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FillMode {
    /// Lines along the edges that directly correspond to the data (for a box: its edges).
    MajorWireframe = 1,
    /// Many lines over the surface, see-through (for a box: its edges).
    DenseWireframe = 2,
    /// The surface filled with a solid color; no lines.
    Solid = 3,
    /// The surface filled with a transparent color, with the major wireframe on top.
    TransparentFillMajorWireframe = 4,
}

/// Boxes in 3-D: half sizes (required, one per box), and optional centers, rotations (as
/// quaternions or axis-angles), colors, radii (of the edge lines), labels and class ids —
/// each one value per box or a single value for all — plus a fill mode and whether labels
/// show. Written as the official SDK's `rr.Boxes3D(…)` writes it.
///
/// Owned `Vec`s of half sizes, centers, quaternions, colors, radii and class ids are taken
/// **without copying**. Lengths are checked when the boxes are logged.
///
/// ```
/// use spate::archetype::{Boxes3D, Colors, FillMode, RotationAxisAngle};
/// use spate::AsComponents;
///
/// let boxes = Boxes3D::new(vec![[1.0f32, 2.0, 3.0], [0.5, 0.5, 0.5]])   // half sizes: no copy
///     .with_centers(vec![[0.0f32, 0.0, 0.0], [4.0, 0.0, 0.0]])
///     .with_rotation_axis_angles([RotationAxisAngle::from_degrees([0.0, 0.0, 1.0], 90.0)])
///     .with_colors(Colors::from_rgb(&[[0, 255, 0]]))
///     .with_fill_mode(FillMode::Solid)
///     .with_labels(["car", "cone"]);
/// assert_eq!(boxes.num_boxes(), 2);
/// assert_eq!(boxes.as_components()?.len(), 6);
///
/// let bad = Boxes3D::new(vec![[1.0f32; 3]; 2]).with_centers(vec![[0.0f32; 3]; 3]);
/// assert!(bad.validate().is_err());
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Boxes3D {
    half_sizes: Coords<3>,
    centers: Option<Coords<3>>,
    rotation_axis_angles: Option<Arc<[RotationAxisAngle]>>,
    quaternions: Option<Coords<4>>,
    fill_mode: Option<FillMode>,
    style: InstanceStyle,
}

impl Boxes3D {
    /// Boxes of these half sizes `[x, y, z]` (half the full extent along each axis), centered
    /// at the origin unless [centers](Self::with_centers) are given.
    pub fn new(half_sizes: impl Into<Coords<3>>) -> Self {
        Self {
            half_sizes: half_sizes.into(),
            centers: None,
            rotation_axis_angles: None,
            quaternions: None,
            fill_mode: None,
            style: InstanceStyle::default(),
        }
    }

    /// Centers `[x, y, z]`.
    pub fn with_centers(mut self, centers: impl Into<Coords<3>>) -> Self {
        self.centers = Some(centers.into());
        self
    }

    /// Rotations about each box's center, as axis and angle.
    pub fn with_rotation_axis_angles(
        mut self,
        rotations: impl IntoIterator<Item = RotationAxisAngle>,
    ) -> Self {
        self.rotation_axis_angles = Some(rotations.into_iter().collect());
        self
    }

    /// Rotations about each box's center, as quaternions `[x, y, z, w]`.
    pub fn with_quaternions(mut self, xyzw: impl Into<Coords<4>>) -> Self {
        self.quaternions = Some(xyzw.into());
        self
    }

    /// How the boxes are drawn (the viewer's default: wireframe).
    pub fn with_fill_mode(mut self, fill_mode: FillMode) -> Self {
        self.fill_mode = Some(fill_mode);
        self
    }

    instance_style_builders!(
        radii: "Radii of the edge lines, in scene units (negative: UI points).",
        show_labels
    );

    /// Number of boxes (half sizes).
    pub fn num_boxes(&self) -> usize {
        self.half_sizes.len()
    }

    /// Checks every optional component has one value per box or exactly one value.
    pub fn validate(&self) -> Result<(), ArchetypeError> {
        let n = self.num_boxes();
        check_fits::<3>("Boxes3D:half_sizes", n)?;
        check_splat("Boxes3D:centers", n, self.centers.as_ref().map(Coords::len))?;
        check_splat(
            "Boxes3D:rotation_axis_angles",
            n,
            self.rotation_axis_angles.as_ref().map(|r| r.len()),
        )?;
        check_splat(
            "Boxes3D:quaternions",
            n,
            self.quaternions.as_ref().map(Coords::len),
        )?;
        self.style.validate(&STYLE, n)
    }
}

impl AsComponents for Boxes3D {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        self.validate()?;
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(10);
        self.style.push_components(&STYLE, &mut out);
        out.push((HALF_SIZES, Arc::new(self.half_sizes.to_array())));
        if let Some(c) = &self.centers {
            out.push((CENTERS, Arc::new(c.to_array())));
        }
        if let Some(r) = &self.rotation_axis_angles {
            out.push((
                ROTATION_AXIS_ANGLES,
                Arc::new(RotationAxisAngle::to_array(r)),
            ));
        }
        if let Some(q) = &self.quaternions {
            out.push((QUATERNIONS, Arc::new(q.to_array())));
        }
        if let Some(f) = self.fill_mode {
            out.push((FILL_MODE, one_u8(f as u8)));
        }
        Ok(sorted_by_name(out))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{FixedSizeListArray, UInt8Array, UInt32Array};

    use super::super::Colors;
    use super::super::testing::{column, columns_of, floats};
    use super::*;

    #[test]
    fn columns_are_those_of_the_official_sdk() {
        // From the SDK 0.41 dump: rr.Boxes3D(half_sizes=[[1,2,3],[4,5,6]], centers=…,
        // rotation_axis_angles=[…], quaternions=[…], colors=[[0,255,0]], radii=[0.1],
        // fill_mode=Solid, labels=["box","b2"], show_labels=False, class_ids=[7]).
        let full = Boxes3D::new(vec![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
            .with_centers(vec![[0.0; 3], [1.0; 3]])
            .with_rotation_axis_angles([RotationAxisAngle::new([0.0, 0.0, 1.0], 0.5)])
            .with_quaternions(vec![[0.0, 0.0, 0.0, 1.0]])
            .with_colors(Colors::from_rgb(&[[0, 255, 0]]))
            .with_radii([0.1])
            .with_fill_mode(FillMode::Solid)
            .with_labels(["box", "b2"])
            .with_show_labels(false)
            .with_class_ids([7]);
        let axis_angle = DataType::Struct(Fields::from(vec![
            Field::new("axis", floats(3), false),
            Field::new("angle", DataType::Float32, false),
        ]));
        let expect = |c, t, ty| column("Boxes3D", c, t, ty);
        assert_eq!(
            columns_of(&full),
            [
                expect("centers", "Translation3D", floats(3)),
                expect("class_ids", "ClassId", DataType::UInt16),
                expect("colors", "Color", DataType::UInt32),
                expect("fill_mode", "FillMode", DataType::UInt8),
                expect("half_sizes", "HalfSize3D", floats(3)),
                expect("labels", "Text", DataType::Utf8),
                expect("quaternions", "RotationQuat", floats(4)),
                expect("radii", "Radius", DataType::Float32),
                expect("rotation_axis_angles", "RotationAxisAngle", axis_angle),
                expect("show_labels", "ShowLabels", DataType::Boolean),
            ]
        );
        let comps = full.as_components().unwrap();
        let value = |name: &str| {
            let (_, a) = comps.iter().find(|(d, _)| d.component == name).unwrap();
            a.clone()
        };
        // Solid is 3 and green is 0x00FF00FF (16711935) in the dump.
        let fill = value("Boxes3D:fill_mode");
        assert_eq!(
            fill.as_any().downcast_ref::<UInt8Array>().unwrap().value(0),
            3
        );
        let colors = value("Boxes3D:colors");
        let colors = colors.as_any().downcast_ref::<UInt32Array>().unwrap();
        assert_eq!(colors.values(), &[16_711_935]);
    }

    #[test]
    fn degrees_are_written_as_radians() {
        // The SDK writes RotationAxisAngle(axis=[0,0,1], degrees=90) as angle 1.5707963705062866.
        let r = RotationAxisAngle::from_degrees([0.0, 0.0, 1.0], 90.0);
        assert_eq!(f64::from(r.angle), 1.570_796_370_506_286_6);
    }

    #[test]
    fn owned_buffers_are_not_copied() {
        let (h, c, q) = (
            vec![[1.0f32; 3]; 10],
            vec![[2.0f32; 3]; 10],
            vec![[0.0f32, 0.0, 0.0, 1.0]; 10],
        );
        let (hp, cp, qp) = (
            h.as_ptr().cast::<u8>(),
            c.as_ptr().cast::<u8>(),
            q.as_ptr().cast::<u8>(),
        );
        let b = Boxes3D::new(h).with_centers(c).with_quaternions(q);
        let comps = b.as_components().unwrap();
        let values_ptr = |name: &str| {
            let (_, a) = comps.iter().find(|(d, _)| d.component == name).unwrap();
            let fsl = a.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
            fsl.values().to_data().buffers()[0].as_ptr()
        };
        assert_eq!(values_ptr("Boxes3D:half_sizes"), hp);
        assert_eq!(values_ptr("Boxes3D:centers"), cp);
        assert_eq!(values_ptr("Boxes3D:quaternions"), qp);
    }

    #[test]
    fn mismatched_lengths_are_typed_errors() {
        let b = || Boxes3D::new(vec![[1.0f32; 3]; 2]);
        assert_eq!(
            b().with_centers(vec![[0.0f32; 3]; 3]).validate(),
            Err(ArchetypeError::LengthMismatch {
                component: "Boxes3D:centers",
                expected: 2,
                found: 3
            })
        );
        let rotations = [RotationAxisAngle::new([0.0, 0.0, 1.0], 0.0); 3];
        assert!(matches!(
            b().with_rotation_axis_angles(rotations).as_components(),
            Err(ArchetypeError::LengthMismatch {
                component: "Boxes3D:rotation_axis_angles",
                ..
            })
        ));
        let splat = b()
            .with_centers([[0.0f32; 3]])
            .with_quaternions([[0.0f32, 0.0, 0.0, 1.0]])
            .with_colors(vec![1u32, 2])
            .with_labels(["one label for both"]);
        assert!(splat.validate().is_ok());
    }
}
