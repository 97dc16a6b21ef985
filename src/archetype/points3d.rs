//! The `Points3D` archetype (`rerun.archetypes.Points3D`).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float32Array, ListArray, StringArray, UInt16Array, UInt32Array,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, Field};

use super::instance_style::{InstanceStyle, StyleNames};
use super::{ArchetypeError, check_fits, fixed_size_floats, sorted_by_name};
use crate::chunk::{AsComponents, ComponentColumn, ComponentDescriptor};

component_descriptors!("Points3D" {
    POSITIONS: "positions" => "Position3D",
});
const STYLE: StyleNames = style_names!("Points3D");

/// Positions `[x, y, z]` of a cloud; from an owned `Vec<[f32; 3]>` **without copying**.
pub type Positions = super::Coords<3>;

impl From<crate::pool::LoanedPoints> for Positions {
    /// Pooled positions, without copying; they return to the pool when every sink is done.
    fn from(p: crate::pool::LoanedPoints) -> Self {
        Self::from_buffer(p.into_scalar_buffer())
    }
}

/// A point cloud: positions (required), and optional colors, radii, class ids and labels.
///
/// Each optional component holds one value per point, or a single value for all points.
/// Lengths are checked when the archetype is logged or turned into a chunk.
///
/// ```
/// use spate::Points3D;
/// let cloud = vec![[0.0f32, 0.0, 0.0]; 1000];
/// let points = Points3D::new(cloud)             // owned Vec: no copy
///     .with_colors(vec![0xff0000ffu32; 1000])   // one color per point
///     .with_radii([0.01f32]);                   // one radius for all
/// assert_eq!(points.num_points(), 1000);
/// points.validate()?;
///
/// let bad = Points3D::new(vec![[0.0f32; 3]; 10]).with_colors(vec![0u32; 7]);
/// assert!(bad.validate().is_err());
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Points3D {
    positions: Positions,
    /// Colors, radii, class ids and labels (Points3D has no `show_labels` builder here).
    style: InstanceStyle,
}

impl Points3D {
    /// A cloud at these positions.
    pub fn new(positions: impl Into<Positions>) -> Self {
        Self {
            positions: positions.into(),
            style: InstanceStyle::default(),
        }
    }

    instance_style_builders!(radii: "Radii in scene units (negative: UI points).");

    /// Number of points (positions).
    pub fn num_points(&self) -> usize {
        self.positions.len()
    }

    /// Payload bytes this cloud holds (all component buffers).
    pub fn payload_bytes(&self) -> usize {
        self.positions.payload_bytes() + self.style.payload_bytes()
    }

    /// Memory this cloud keeps alive, in bytes: the whole allocations behind its buffers
    /// (a `Vec` given with spare capacity, or a view into a larger buffer, keeps all of it).
    /// Lanes and queues are bounded by this, not by [`payload_bytes`](Self::payload_bytes).
    ///
    /// ```
    /// use spate::Points3D;
    /// let mut v = Vec::with_capacity(1_000_000);
    /// v.resize(5, [0.0f32; 3]);
    /// let p = Points3D::new(v);
    /// assert_eq!(p.payload_bytes(), 60);
    /// assert!(p.retained_bytes() >= 12_000_000);
    /// // Up to 4 points from an owned `Vec` are copied in (and the `Vec` freed): nothing kept.
    /// let mut v = Vec::with_capacity(1_000_000);
    /// v.push([0.0f32; 3]);
    /// assert_eq!(Points3D::new(v).retained_bytes(), 0);
    /// ```
    pub fn retained_bytes(&self) -> usize {
        self.positions.retained_bytes() + self.style.retained_bytes()
    }

    /// Checks every optional component has one value per point or exactly one value.
    pub fn validate(&self) -> Result<(), ArchetypeError> {
        let n = self.num_points();
        check_fits::<3>("Points3D:positions", n)?;
        self.style.validate(&STYLE, n)
    }
}

/// Bit per optional component, for grouping rows with identical columns.
pub(crate) type ComponentMask = u8;

impl Points3D {
    /// Address of the positions buffer (tests check that it is never copied).
    #[cfg(test)]
    pub(crate) fn positions_ptr(&self) -> *const u8 {
        self.positions.as_ptr()
    }

    /// Which optional components are present.
    pub(crate) fn component_mask(&self) -> ComponentMask {
        let s = &self.style;
        u8::from(s.colors.is_some())
            | u8::from(s.radii.is_some()) << 1
            | u8::from(s.class_ids.is_some()) << 2
            | u8::from(s.labels.is_some()) << 3
    }
}

/// Most points a [`SmallPoints`] holds.
pub(crate) const SMALL_POINTS: usize = 4;

/// A cloud of at most [`SMALL_POINTS`] points, with colors and radii at most, copied by value:
/// the lane carries it without touching the caller's reference-counted buffers (whose counts
/// the drain would otherwise decrement from another core, row after row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SmallPoints {
    positions: [[f32; 3]; SMALL_POINTS],
    colors: [u32; SMALL_POINTS],
    radii: [f32; SMALL_POINTS],
    points: u8,
    /// Values given: 0 (absent), 1 (one for all), or one per point.
    n_colors: u8,
    n_radii: u8,
}

/// Copies up to `SMALL_POINTS` values into `out`; the count, or `None` if there are more.
fn copy_small<T: Copy>(values: &[T], out: &mut [T; SMALL_POINTS]) -> Option<u8> {
    let dst = out.get_mut(..values.len())?;
    dst.copy_from_slice(values);
    u8::try_from(values.len()).ok()
}

impl SmallPoints {
    /// A copy of `p`, if it is small and has no components beyond colors and radii.
    pub(crate) fn of(p: &Points3D) -> Option<Self> {
        let st = &p.style;
        if st.class_ids.is_some() || st.labels.is_some() || st.show_labels.is_some() {
            return None;
        }
        // A present but empty colors or radii component (a cloud of no points) is a value
        // of its own (an empty list clears it in Rerun); the counts below cannot tell it
        // from an absent one, so such a cloud keeps its own path.
        if st.colors.as_ref().is_some_and(|c| c.is_empty())
            || st.radii.as_ref().is_some_and(|r| r.is_empty())
        {
            return None;
        }
        let mut out = Self {
            positions: [[0.0; 3]; SMALL_POINTS],
            colors: [0; SMALL_POINTS],
            radii: [0.0; SMALL_POINTS],
            points: 0,
            n_colors: 0,
            n_radii: 0,
        };
        let flat: &[f32] = p.positions.values();
        let (chunks, rest) = flat.as_chunks::<3>();
        if !rest.is_empty() {
            return None;
        }
        out.points = copy_small(chunks, &mut out.positions)?;
        if let Some(c) = &st.colors {
            out.n_colors = copy_small(c, &mut out.colors)?;
        }
        if let Some(r) = &st.radii {
            out.n_radii = copy_small(r, &mut out.radii)?;
        }
        Some(out)
    }

    /// Whether the cloud passes [`Points3D::validate`]: colors and radii absent, or one
    /// value for all points, or one per point (what `of` copied cannot hold more than 4 points
    /// or a ragged position, so nothing else can fail).
    pub(crate) fn is_valid(&self) -> bool {
        let fits = |n: u8| n <= 1 || n == self.points;
        fits(self.n_colors) && fits(self.n_radii)
    }

    /// Payload bytes (as [`Points3D::payload_bytes`] counts them).
    pub(crate) fn payload_bytes(&self) -> usize {
        usize::from(self.points) * 12
            + usize::from(self.n_colors) * 4
            + usize::from(self.n_radii) * 4
    }

    /// Which optional components are present (as [`Points3D::component_mask`]).
    pub(crate) fn component_mask(&self) -> ComponentMask {
        u8::from(self.n_colors > 0) | u8::from(self.n_radii > 0) << 1
    }

    /// Back to a cloud of its own (for a row that becomes a chunk alone).
    pub(crate) fn to_points(self) -> Points3D {
        let mut p = Points3D::new(self.positions[..usize::from(self.points)].to_vec());
        if self.n_colors > 0 {
            p = p.with_colors(self.colors[..usize::from(self.n_colors)].to_vec());
        }
        if self.n_radii > 0 {
            p = p.with_radii(self.radii[..usize::from(self.n_radii)].to_vec());
        }
        p
    }
}

/// Appends the rows of one batch (same [`Points3D::component_mask`]) into one growing
/// buffer per component, so a batch costs one small copy per row and no second pass.
#[derive(Debug)]
pub(crate) struct Points3DColumns {
    mask: ComponentMask,
    positions: Vec<f32>,
    position_offsets: Vec<i32>,
    colors: (Vec<u32>, Vec<i32>),
    radii: (Vec<f32>, Vec<i32>),
    class_ids: (Vec<u16>, Vec<i32>),
    labels: Vec<StringArray>,
    label_offsets: Vec<i32>,
}

fn next_offset(offsets: &mut Vec<i32>, add: usize) -> Result<(), ArrowError> {
    let last = *offsets.last().unwrap_or(&0);
    let end = i32::try_from(add)
        .ok()
        .and_then(|a| last.checked_add(a))
        .ok_or_else(|| {
            ArrowError::InvalidArgumentError("instances overflow a 32-bit list".into())
        })?;
    offsets.push(end);
    Ok(())
}

fn list_column(
    d: ComponentDescriptor,
    offsets: Vec<i32>,
    values: ArrayRef,
) -> Result<ComponentColumn, ArrowError> {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(ComponentColumn::new(
        d,
        ListArray::try_new(field, offsets, values, None)?,
    ))
}

impl Points3DColumns {
    /// Which optional components the batch's rows have.
    pub(crate) fn mask(&self) -> ComponentMask {
        self.mask
    }

    pub(crate) fn new(mask: ComponentMask) -> Self {
        Self {
            mask,
            positions: Vec::new(),
            position_offsets: vec![0],
            colors: (Vec::new(), vec![0]),
            radii: (Vec::new(), vec![0]),
            class_ids: (Vec::new(), vec![0]),
            labels: Vec::new(),
            label_offsets: vec![0],
        }
    }

    /// Appends one row (whose mask must equal the batch's).
    pub(crate) fn push(&mut self, p: &Points3D) -> Result<(), ArrowError> {
        self.positions.extend_from_slice(p.positions.values());
        next_offset(&mut self.position_offsets, p.positions.len())?;
        if let Some(c) = &p.style.colors {
            self.colors.0.extend_from_slice(c);
            next_offset(&mut self.colors.1, c.len())?;
        }
        if let Some(r) = &p.style.radii {
            self.radii.0.extend_from_slice(r);
            next_offset(&mut self.radii.1, r.len())?;
        }
        if let Some(c) = &p.style.class_ids {
            self.class_ids.0.extend_from_slice(c);
            next_offset(&mut self.class_ids.1, c.len())?;
        }
        if let Some(l) = &p.style.labels {
            next_offset(&mut self.label_offsets, l.len())?;
            self.labels.push(StringArray::clone(l));
        }
        Ok(())
    }

    /// Appends one small row (whose mask must equal the batch's).
    pub(crate) fn push_small(&mut self, p: &SmallPoints) -> Result<(), ArrowError> {
        let n = usize::from(p.points);
        self.positions
            .extend_from_slice(p.positions[..n].as_flattened());
        next_offset(&mut self.position_offsets, n)?;
        if p.n_colors > 0 {
            let c = &p.colors[..usize::from(p.n_colors)];
            self.colors.0.extend_from_slice(c);
            next_offset(&mut self.colors.1, c.len())?;
        }
        if p.n_radii > 0 {
            let r = &p.radii[..usize::from(p.n_radii)];
            self.radii.0.extend_from_slice(r);
            next_offset(&mut self.radii.1, r.len())?;
        }
        Ok(())
    }

    /// The finished columns: the appended `Vec`s become the Arrow buffers (no copy).
    pub(crate) fn finish(self) -> Result<Vec<ComponentColumn>, ArrowError> {
        let mut out = Vec::with_capacity(5);
        if self.mask & 4 != 0 {
            let (v, o) = self.class_ids;
            out.push(list_column(
                STYLE.class_ids_descriptor(),
                o,
                Arc::new(UInt16Array::new(v.into(), None)),
            )?);
        }
        if self.mask & 1 != 0 {
            let (v, o) = self.colors;
            out.push(list_column(
                STYLE.colors_descriptor(),
                o,
                Arc::new(UInt32Array::new(v.into(), None)),
            )?);
        }
        if self.mask & 8 != 0 {
            let parts: Vec<&dyn Array> = self.labels.iter().map(|l| l as &dyn Array).collect();
            out.push(list_column(
                STYLE.labels_descriptor(),
                self.label_offsets,
                arrow_select::concat::concat(&parts)?,
            )?);
        }
        let fsl = fixed_size_floats::<3>(self.positions.into());
        out.push(list_column(
            POSITIONS,
            self.position_offsets,
            Arc::new(fsl),
        )?);
        if self.mask & 2 != 0 {
            let (v, o) = self.radii;
            out.push(list_column(
                STYLE.radii_descriptor(),
                o,
                Arc::new(Float32Array::new(v.into(), None)),
            )?);
        }
        Ok(out)
    }
}

impl AsComponents for Points3D {
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        self.validate()?;
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(5);
        self.style.push_components(&STYLE, &mut out);
        out.push((POSITIONS, Arc::new(self.positions.to_array())));
        Ok(sorted_by_name(out))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::FixedSizeListArray;

    use super::super::Colors;
    use super::*;

    /// The `Points3D:positions` array `p` turns into.
    fn positions_array(p: &Points3D) -> FixedSizeListArray {
        let comps = p.as_components().unwrap();
        let (_, arr) = comps
            .iter()
            .find(|(d, _)| d.component == "Points3D:positions")
            .unwrap();
        arr.as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap()
            .clone()
    }

    /// `SmallPoints::is_valid` agrees with `Points3D::validate` on every small shape.
    #[test]
    fn small_clouds_validate_as_clouds_do() {
        for points in 0..=4usize {
            for colors in [None, Some(0usize), Some(1), Some(2), Some(points), Some(4)] {
                for radii in [None, Some(1usize), Some(3), Some(points)] {
                    let mut p = Points3D::new(vec![[1.0f32; 3]; points]);
                    if let Some(n) = colors {
                        p = p.with_colors(vec![7u32; n]);
                    }
                    if let Some(n) = radii {
                        p = p.with_radii(vec![0.5f32; n]);
                    }
                    if let Some(small) = SmallPoints::of(&p) {
                        assert_eq!(
                            small.is_valid(),
                            p.validate().is_ok(),
                            "{points} points, colors {colors:?}, radii {radii:?}"
                        );
                    }
                }
            }
        }
    }

    /// The boundary of `Coords::INLINE_FLOATS`: 4 points from an owned `Vec` are held by
    /// value (the `Vec`'s memory is not the buffer) and come out equal; 5 are taken over.
    #[test]
    fn tiny_owned_clouds_are_held_inline_and_larger_ones_taken_over() {
        let four = vec![
            [1.0f32, 2.0, 3.0],
            [4.0, 5.0, 6.0],
            [7.0, 8.0, 9.0],
            [10.0, 11.0, 12.0],
        ];
        let ptr = four.as_ptr().cast::<u8>();
        let p = Points3D::new(four.clone());
        assert_ne!(p.positions.as_ptr(), ptr);
        assert_eq!(p.retained_bytes(), 0);
        assert_eq!(p.payload_bytes(), 48);
        let fsl = positions_array(&p);
        let values = fsl
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        assert_eq!(values.values().as_ref(), four.as_flattened());
        let small = SmallPoints::of(&p).unwrap();
        assert_eq!(small.to_points().positions.values(), four.as_flattened());

        let five = vec![[1.0f32; 3]; 5];
        let ptr = five.as_ptr().cast::<u8>();
        let p = Points3D::new(five);
        assert_eq!(p.positions.as_ptr(), ptr);
        assert!(SmallPoints::of(&p).is_none());
    }

    #[test]
    fn owned_positions_are_not_copied() {
        let v = vec![[1.0f32, 2.0, 3.0]; 1000];
        let ptr = v.as_ptr().cast::<u8>();
        let p = Points3D::new(v);
        assert_eq!(p.positions.as_ptr(), ptr);
        let fsl = positions_array(&p);
        assert_eq!(fsl.len(), 1000);
        assert_eq!(fsl.values().to_data().buffers()[0].as_ptr(), ptr);
    }

    #[test]
    fn owned_colors_and_radii_are_not_copied() {
        let c = vec![7u32; 10];
        let r = vec![0.5f32; 10];
        let (cp, rp) = (c.as_ptr().cast::<u8>(), r.as_ptr().cast::<u8>());
        let p = Points3D::new(vec![[0.0; 3]; 10])
            .with_colors(c)
            .with_radii(r);
        assert_eq!(p.style.colors.as_ref().unwrap().inner().as_ptr(), cp);
        assert_eq!(p.style.radii.as_ref().unwrap().inner().as_ptr(), rp);
    }

    #[test]
    fn rgba_bytes_pack_as_rrggbbaa() {
        let c = Colors::from_rgba(&[[147, 150, 131, 158]]);
        assert_eq!(c.0[0], 0x9396_839e);
    }

    #[test]
    fn mismatched_lengths_are_typed_errors() {
        let p = Points3D::new(vec![[0.0; 3]; 10]).with_colors(vec![0u32; 7]);
        assert_eq!(
            p.validate(),
            Err(ArchetypeError::LengthMismatch {
                component: "Points3D:colors",
                expected: 10,
                found: 7
            })
        );
        assert!(p.as_components().is_err());
        let splat = Points3D::new(vec![[0.0; 3]; 10])
            .with_radii([0.1])
            .with_labels(["x"]);
        assert!(splat.validate().is_ok());
        let labels = Points3D::new(vec![[0.0; 3]; 2]).with_labels(["a", "b", "c"]);
        assert!(matches!(
            labels.validate(),
            Err(ArchetypeError::LengthMismatch {
                component: "Points3D:labels",
                ..
            })
        ));
        let empty = Points3D::new(Vec::<[f32; 3]>::new()).with_colors(vec![1u32]);
        assert!(
            empty.validate().is_ok(),
            "one value splats even over zero points"
        );
    }
}
