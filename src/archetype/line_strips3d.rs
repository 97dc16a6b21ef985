//! The `LineStrips3D` archetype (`rerun.archetypes.LineStrips3D`).

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ListArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;

use super::instance_style::{InstanceStyle, StyleNames};
use super::{ArchetypeError, Coords, sorted_by_name};
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("LineStrips3D" {
    STRIPS: "strips" => "LineStrip3D",
});
const STYLE: StyleNames = style_names!("LineStrips3D");

/// Polylines in 3-D: strips of connected points (required), and optional colors, radii,
/// labels and class ids — each one value per strip or a single value for all — plus whether
/// labels show. Written as the official SDK's `rr.LineStrips3D(…)` writes it.
///
/// [`new`](Self::new) copies the strips' points once into one buffer;
/// [`from_flat`](Self::from_flat) takes an owned `Vec` of all the points **without copying**
/// and cuts it into strips by their lengths. Owned colors, radii and class ids are not
/// copied either. Lengths are checked when the strips are logged.
///
/// ```
/// use spate::archetype::{Colors, LineStrips3D};
/// use spate::AsComponents;
///
/// let lines = LineStrips3D::new([
///     vec![[0.0f32, 0.0, 0.0], [1.0, 1.0, 0.0]],
///     vec![[2.0, 2.0, 2.0], [3.0, 3.0, 3.0], [4.0, 4.0, 4.0]],
/// ])
/// .with_colors(Colors::from_rgb(&[[0, 0, 255]]))
/// .with_radii([0.1f32]);
/// assert_eq!(lines.num_strips(), 2);
/// assert_eq!(lines.as_components()?.len(), 3);
///
/// // The same strips from one flat buffer, without copying it.
/// let points = vec![[0.0f32; 3]; 5];
/// let flat = LineStrips3D::from_flat(points, [2, 3]);
/// assert_eq!(flat.num_strips(), 2);
/// flat.validate()?;
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LineStrips3D {
    /// All the strips' points, one after the other.
    points: Coords<3>,
    /// Where each strip ends in `points` (an exclusive index); increasing.
    ends: Arc<[usize]>,
    style: InstanceStyle,
}

impl LineStrips3D {
    /// Strips of points `[x, y, z]`, each given as anything that is a slice of points (a
    /// `Vec`, an array, a slice); copied once into one buffer.
    pub fn new<S: AsRef<[[f32; 3]]>>(strips: impl IntoIterator<Item = S>) -> Self {
        let mut points: Vec<[f32; 3]> = Vec::new();
        let ends = strips
            .into_iter()
            .map(|s| {
                points.extend_from_slice(s.as_ref());
                points.len()
            })
            .collect();
        Self::with_ends(points.into(), ends)
    }

    /// Strips cut from one buffer of points, taken **without copying** from an owned
    /// `Vec<[f32; 3]>`: the first strip is the first `strip_lengths[0]` points, and so on.
    /// The lengths must add up to the number of points ([`validate`](Self::validate) checks).
    pub fn from_flat(
        points: impl Into<Coords<3>>,
        strip_lengths: impl IntoIterator<Item = usize>,
    ) -> Self {
        let mut end = 0usize;
        let ends = strip_lengths
            .into_iter()
            .map(|len| {
                end = end.saturating_add(len);
                end
            })
            .collect();
        Self::with_ends(points.into(), ends)
    }

    fn with_ends(points: Coords<3>, ends: Arc<[usize]>) -> Self {
        Self {
            points,
            ends,
            style: InstanceStyle::default(),
        }
    }

    instance_style_builders!(
        radii: "Radii of the lines, in scene units (negative: UI points).",
        show_labels
    );

    /// Number of strips.
    pub fn num_strips(&self) -> usize {
        self.ends.len()
    }

    /// Number of points over all strips.
    pub fn num_points(&self) -> usize {
        self.points.len()
    }

    /// Checks the strips cover the points exactly and fit one row, and every optional
    /// component has one value per strip or exactly one value.
    pub fn validate(&self) -> Result<(), ArchetypeError> {
        self.offsets()?;
        self.style.validate(&STYLE, self.num_strips())
    }

    /// Offsets of the strips in the points, as an Arrow list needs them.
    fn offsets(&self) -> Result<OffsetBuffer<i32>, ArchetypeError> {
        const STRIPS_NAME: &str = "LineStrips3D:strips";
        let total = self.ends.last().copied().unwrap_or(0);
        if total != self.num_points() {
            return Err(ArchetypeError::Invalid {
                component: STRIPS_NAME,
                reason: format!(
                    "the strips' lengths add up to {total} points, but {} were given",
                    self.num_points()
                ),
            });
        }
        // Three floats per point must fit 32-bit offsets, as for Points3D.
        super::check_fits::<3>(STRIPS_NAME, total)?;
        let offsets: Vec<i32> = std::iter::once(0)
            .chain(self.ends.iter().map(|&e| e as i32)) // e ≤ total, which fits
            .collect();
        Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
    }
}

impl AsComponents for LineStrips3D {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        self.validate()?;
        let points = self.points.to_array();
        // The strip's points are not nullable, as Rerun's `LineStrip3D` has them.
        let item = Arc::new(Field::new_list_field(points.data_type().clone(), false));
        let strips =
            ListArray::try_new(item, self.offsets()?, Arc::new(points), None).map_err(|e| {
                ArchetypeError::Invalid {
                    component: "LineStrips3D:strips",
                    reason: e.to_string(),
                }
            })?;
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(6);
        self.style.push_components(&STYLE, &mut out);
        out.push((STRIPS, Arc::new(strips)));
        Ok(sorted_by_name(out))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::UInt32Array;
    use arrow_schema::DataType;

    use super::super::Colors;
    use super::super::testing::{column, columns_of, floats};
    use super::*;

    #[test]
    fn columns_are_those_of_the_official_sdk() {
        // From the SDK 0.41 dump: rr.LineStrips3D([[[0,0,0],[1,1,1]],[[2,2,2],[3,3,3],[4,4,4]]],
        // radii=[0.1,0.2], colors=[[0,0,255]], labels=["l1","l2"], show_labels=True,
        // class_ids=[3,4]).
        let full =
            LineStrips3D::new([vec![[0.0; 3], [1.0; 3]], vec![[2.0; 3], [3.0; 3], [4.0; 3]]])
                .with_radii(vec![0.1, 0.2])
                .with_colors(Colors::from_rgb(&[[0, 0, 255]]))
                .with_labels(["l1", "l2"])
                .with_show_labels(true)
                .with_class_ids(vec![3, 4]);
        // list<item: fixed_size_list<item: float not null>[3] not null>
        let strip = DataType::List(Arc::new(Field::new("item", floats(3), false)));
        let expect = |c, t, ty| column("LineStrips3D", c, t, ty);
        assert_eq!(
            columns_of(&full),
            [
                expect("class_ids", "ClassId", DataType::UInt16),
                expect("colors", "Color", DataType::UInt32),
                expect("labels", "Text", DataType::Utf8),
                expect("radii", "Radius", DataType::Float32),
                expect("show_labels", "ShowLabels", DataType::Boolean),
                expect("strips", "LineStrip3D", strip),
            ]
        );
        let comps = full.as_components().unwrap();
        let strips = comps[5].1.as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(strips.value_offsets(), &[0, 2, 5]);
        // Blue is 0x0000FFFF (65535) in the dump.
        let colors = comps[1].1.as_any().downcast_ref::<UInt32Array>().unwrap();
        assert_eq!(colors.values(), &[65_535]);
    }

    #[test]
    fn empty_strips_are_kept() {
        // The SDK writes [[[0,0,0],[1,1,1]], []] as two strips, the second empty.
        let l = LineStrips3D::new([vec![[0.0f32; 3], [1.0; 3]], vec![]]);
        let comps = l.as_components().unwrap();
        let strips = comps[0].1.as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(strips.value_offsets(), &[0, 2, 2]);
    }

    #[test]
    fn flat_points_are_not_copied() {
        let points = vec![[1.0f32, 2.0, 3.0]; 10];
        let ptr = points.as_ptr().cast::<u8>();
        let l = LineStrips3D::from_flat(points, [4, 0, 6]);
        let comps = l.as_components().unwrap();
        let strips = comps[0].1.as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(strips.value_offsets(), &[0, 4, 4, 10]);
        let points = strips.values().to_data().child_data()[0].clone();
        assert_eq!(points.buffers()[0].as_ptr(), ptr);
    }

    #[test]
    fn mismatched_lengths_are_typed_errors() {
        let short = LineStrips3D::from_flat(vec![[0.0f32; 3]; 5], [2, 2]);
        assert!(matches!(
            short.validate(),
            Err(ArchetypeError::Invalid {
                component: "LineStrips3D:strips",
                ..
            })
        ));
        let long = LineStrips3D::from_flat(vec![[0.0f32; 3]; 5], [2, usize::MAX]);
        assert!(long.as_components().is_err());
        let l = || LineStrips3D::new([[[0.0f32; 3]; 2], [[1.0; 3]; 2], [[2.0; 3]; 2]]);
        assert_eq!(
            l().with_radii(vec![0.1f32, 0.2]).validate(),
            Err(ArchetypeError::LengthMismatch {
                component: "LineStrips3D:radii",
                expected: 3,
                found: 2
            })
        );
        assert!(l().with_labels(["a", "b", "c", "d"]).validate().is_err());
        assert!(
            l().with_colors([1u32])
                .with_class_ids([1u16, 2, 3])
                .validate()
                .is_ok()
        );
    }
}
