//! The `Points2D` archetype (`rerun.archetypes.Points2D`).

use std::sync::Arc;

use arrow_array::{ArrayRef, UInt16Array};
use arrow_buffer::ScalarBuffer;

use super::instance_style::{InstanceStyle, StyleNames};
use super::{
    ArchetypeError, Coords, Values, check_fits, check_splat, len_of, one_f32, sorted_by_name,
};
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("Points2D" {
    DRAW_ORDER: "draw_order" => "DrawOrder",
    KEYPOINT_IDS: "keypoint_ids" => "KeypointId",
    POSITIONS: "positions" => "Position2D",
});
const STYLE: StyleNames = style_names!("Points2D");

/// Points in 2-D (pixels of an image, a plot): positions (required), and optional colors,
/// radii, labels, class ids and keypoint ids — each one value per point or a single value for
/// all — plus a draw order and whether labels show. Written as the official SDK's
/// `rr.Points2D(…)` writes it.
///
/// Owned `Vec`s of positions, colors, radii, class ids and keypoint ids are taken **without
/// copying**; labels are copied once. Lengths are checked when the points are logged.
///
/// ```
/// use spate::archetype::{Colors, Points2D};
/// use spate::AsComponents;
///
/// let corners = Points2D::new(vec![[0.0f32, 0.0], [640.0, 0.0], [640.0, 480.0]]) // no copy
///     .with_colors(Colors::from_rgb(&[[255, 0, 0]]))   // one color for all
///     .with_radii([2.0f32])
///     .with_labels(["a", "b", "c"])                    // one label per point
///     .with_draw_order(10.0);
/// assert_eq!(corners.num_points(), 3);
/// corners.validate()?;
/// assert_eq!(corners.as_components()?.len(), 5);
///
/// let bad = Points2D::new(vec![[0.0f32; 2]; 3]).with_class_ids(vec![1u16, 2]);
/// assert!(bad.validate().is_err());
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Points2D {
    positions: Coords<2>,
    style: InstanceStyle,
    draw_order: Option<f32>,
    keypoint_ids: Option<ScalarBuffer<u16>>,
}

impl Points2D {
    /// Points at these positions `[x, y]`.
    pub fn new(positions: impl Into<Coords<2>>) -> Self {
        Self {
            positions: positions.into(),
            style: InstanceStyle::default(),
            draw_order: None,
            keypoint_ids: None,
        }
    }

    instance_style_builders!(radii: "Radii in scene units (negative: UI points).", show_labels);

    /// Draw order among 2-D things of one view: higher is drawn on top.
    pub fn with_draw_order(mut self, order: f32) -> Self {
        self.draw_order = Some(order);
        self
    }

    /// Keypoint ids (skeleton joints within a class of the annotation context).
    pub fn with_keypoint_ids(mut self, keypoint_ids: impl Into<Values<u16>>) -> Self {
        self.keypoint_ids = Some(keypoint_ids.into().0);
        self
    }

    /// Number of points (positions).
    pub fn num_points(&self) -> usize {
        self.positions.len()
    }

    /// Checks every optional component has one value per point or exactly one value.
    pub fn validate(&self) -> Result<(), ArchetypeError> {
        let n = self.num_points();
        check_fits::<2>("Points2D:positions", n)?;
        self.style.validate(&STYLE, n)?;
        check_splat("Points2D:keypoint_ids", n, len_of(&self.keypoint_ids))
    }
}

impl AsComponents for Points2D {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        self.validate()?;
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(8);
        self.style.push_components(&STYLE, &mut out);
        if let Some(d) = self.draw_order {
            out.push((DRAW_ORDER, one_f32(d)));
        }
        if let Some(k) = &self.keypoint_ids {
            out.push((KEYPOINT_IDS, Arc::new(UInt16Array::new(k.clone(), None))));
        }
        out.push((POSITIONS, Arc::new(self.positions.to_array())));
        Ok(sorted_by_name(out))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, FixedSizeListArray};
    use arrow_schema::DataType;

    use super::super::testing::{column, columns_of, floats};
    use super::*;

    #[test]
    fn columns_are_those_of_the_official_sdk() {
        // From the SDK 0.41 dump: rr.Points2D([[1,2],[3,4]], radii=[0.5,0.6], colors=…,
        // labels=["a","b"], show_labels=True, draw_order=3.5, class_ids=[1,2], keypoint_ids=[4,5]).
        let full = Points2D::new(vec![[1.0, 2.0], [3.0, 4.0]])
            .with_radii(vec![0.5, 0.6])
            .with_colors(vec![0xFF00_0080, 0x00FF_00FF])
            .with_labels(["a", "b"])
            .with_show_labels(true)
            .with_draw_order(3.5)
            .with_class_ids(vec![1, 2])
            .with_keypoint_ids(vec![4, 5]);
        let expect = |c, t, ty| column("Points2D", c, t, ty);
        assert_eq!(
            columns_of(&full),
            [
                expect("class_ids", "ClassId", DataType::UInt16),
                expect("colors", "Color", DataType::UInt32),
                expect("draw_order", "DrawOrder", DataType::Float32),
                expect("keypoint_ids", "KeypointId", DataType::UInt16),
                expect("labels", "Text", DataType::Utf8),
                expect("positions", "Position2D", floats(2)),
                expect("radii", "Radius", DataType::Float32),
                expect("show_labels", "ShowLabels", DataType::Boolean),
            ]
        );
    }

    #[test]
    fn owned_positions_colors_and_radii_are_not_copied() {
        let (v, c, r) = (vec![[1.0f32, 2.0]; 100], vec![7u32; 100], vec![0.5f32; 100]);
        let ptrs = (
            v.as_ptr().cast::<u8>(),
            c.as_ptr().cast::<u8>(),
            r.as_ptr().cast::<u8>(),
        );
        let p = Points2D::new(v).with_colors(c).with_radii(r);
        assert_eq!(p.positions.as_ptr(), ptrs.0);
        let comps = p.as_components().unwrap();
        let array = |name: &str| {
            let (_, a) = comps.iter().find(|(d, _)| d.component == name).unwrap();
            a.to_data()
        };
        let positions = array("Points2D:positions");
        let fsl = FixedSizeListArray::from(positions);
        assert_eq!(fsl.len(), 100);
        assert_eq!(fsl.values().to_data().buffers()[0].as_ptr(), ptrs.0);
        assert_eq!(array("Points2D:colors").buffers()[0].as_ptr(), ptrs.1);
        assert_eq!(array("Points2D:radii").buffers()[0].as_ptr(), ptrs.2);
    }

    #[test]
    fn mismatched_lengths_are_typed_errors() {
        let p = || Points2D::new(vec![[0.0f32; 2]; 3]);
        assert_eq!(
            p().with_keypoint_ids(vec![1u16, 2]).validate(),
            Err(ArchetypeError::LengthMismatch {
                component: "Points2D:keypoint_ids",
                expected: 3,
                found: 2
            })
        );
        assert!(p().with_labels(["a", "b"]).as_components().is_err());
        assert!(p().with_colors(vec![1u32; 4]).validate().is_err());
        let splat = p()
            .with_radii([0.5])
            .with_colors(vec![1u32; 3])
            .with_labels(["x"])
            .with_class_ids([1u16]);
        assert!(splat.validate().is_ok());
    }
}
