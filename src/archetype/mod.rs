//! Archetypes: typed builders for what users log. One file per archetype.

/// Declares `const` descriptors of one of Rerun's archetypes: `NAME: "field" => "Type"` is
/// the component `Archetype:field` of archetype `rerun.archetypes.Archetype`, of type
/// `rerun.components.Type` (names and types as Rerun 0.41 has them), visible in the crate.
macro_rules! component_descriptors {
    ($archetype:literal { $($name:ident: $field:literal => $ty:literal),* $(,)? }) => {
        $(
            pub(crate) const $name: $crate::chunk::ComponentDescriptor = $crate::archetype::descriptor(
                concat!("rerun.archetypes.", $archetype),
                concat!($archetype, ":", $field),
                concat!("rerun.components.", $ty),
            );
        )*
    };
}

#[macro_use]
mod instance_style;

mod arrows3d;
mod boxes3d;
mod dynamic;
mod image;
mod line_strips3d;
mod pinhole;
mod points2d;
mod points3d;
mod scalars;
mod text_log;
mod transform3d;

use std::borrow::Cow::Borrowed;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, ListArray, StringArray, UInt8Array,
};
use arrow_buffer::{ArrowNativeType, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field};

use crate::chunk::{ComponentColumn, ComponentDescriptor};
pub use crate::component::ArchetypeError;

/// A descriptor of one of Rerun's own archetypes, usable in `const`s.
pub(crate) const fn descriptor(
    archetype: &'static str,
    component: &'static str,
    component_type: &'static str,
) -> ComponentDescriptor {
    ComponentDescriptor {
        archetype: Some(Borrowed(archetype)),
        component: Borrowed(component),
        component_type: Some(Borrowed(component_type)),
    }
}

/// A row's components sorted by component name, the order the official SDK writes them in.
pub(crate) fn sorted_by_name(
    mut components: Vec<(ComponentDescriptor, ArrayRef)>,
) -> Vec<(ComponentDescriptor, ArrayRef)> {
    components.sort_unstable_by(|(a, _), (b, _)| a.component.cmp(&b.component));
    components
}

/// A column for `send_columns`: `values` cut into rows of `per_row` instances each, without
/// copying them (only the offsets are new).
pub(crate) fn rows_of(
    descriptor: ComponentDescriptor,
    values: ArrayRef,
    per_row: usize,
) -> Result<ComponentColumn, ArchetypeError> {
    let component = "send_columns";
    if per_row == 0 || !values.len().is_multiple_of(per_row) {
        return Err(ArchetypeError::Invalid {
            component,
            reason: format!(
                "{} values of {} do not split into rows of {per_row}",
                values.len(),
                descriptor.component
            ),
        });
    }
    let too_large = || ArchetypeError::TooLarge {
        component,
        found: values.len(),
    };
    let per_row = i32::try_from(per_row).map_err(|_| too_large())?;
    let rows = values.len() / per_row as usize;
    let offsets = (0..=rows)
        .map(|r| i32::try_from(r).ok().and_then(|r| r.checked_mul(per_row)))
        .collect::<Option<Vec<i32>>>()
        .ok_or_else(too_large)?;
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    let list = ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    )
    .map_err(|e| ArchetypeError::Invalid {
        component,
        reason: e.to_string(),
    })?;
    Ok(ComponentColumn::new(descriptor, list))
}

pub use dynamic::DynamicArchetype;
pub use image::{
    ChannelDatatype, ColorModel, Colormap, DepthImage, EncodedImage, Image, ImageElement,
    ImageFormat, MagnificationFilter, MediaType, PixelFormat,
};
pub use pinhole::{Pinhole, ViewCoordinates, ViewDir};
pub use points3d::Points3D;
pub(crate) use points3d::{Points3DColumns, SmallPoints};
pub use scalars::Scalars;
pub use transform3d::{Transform3D, TransformRelation};

pub use arrows3d::Arrows3D;
pub use boxes3d::{Boxes3D, FillMode, RotationAxisAngle};
pub use line_strips3d::LineStrips3D;
pub use points2d::Points2D;
pub use text_log::{TextLog, TextLogLevel};

/// Values of one primitive component, taken from the caller.
///
/// From an owned `Vec<T>` it takes the allocation as the Arrow buffer **without copying**;
/// from a slice or array it copies once.
#[derive(Clone, Debug)]
pub struct Values<T: ArrowNativeType>(pub(crate) ScalarBuffer<T>);

impl<T: ArrowNativeType> Values<T> {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: ArrowNativeType> From<Vec<T>> for Values<T> {
    fn from(v: Vec<T>) -> Self {
        Self(ScalarBuffer::from(v))
    }
}

impl<T: ArrowNativeType> From<&[T]> for Values<T> {
    fn from(v: &[T]) -> Self {
        Self(ScalarBuffer::from(v.to_vec()))
    }
}

impl<T: ArrowNativeType> From<&Vec<T>> for Values<T> {
    fn from(v: &Vec<T>) -> Self {
        Self::from(v.as_slice())
    }
}

impl<T: ArrowNativeType, const N: usize> From<[T; N]> for Values<T> {
    fn from(v: [T; N]) -> Self {
        Self(ScalarBuffer::from(v.to_vec()))
    }
}

impl<T: crate::pool::PoolElement> From<crate::pool::Loan<T>> for Values<T> {
    /// A pooled buffer, without copying; it returns to its pool when the last sink is done.
    fn from(v: crate::pool::Loan<T>) -> Self {
        Self(v.into_scalar_buffer())
    }
}

impl<T: ArrowNativeType> From<ScalarBuffer<T>> for Values<T> {
    fn from(v: ScalarBuffer<T>) -> Self {
        Self(v)
    }
}

/// `N` floats per instance — 2-D positions, 3-D vectors, sizes, quaternions — written as
/// Arrow `FixedSizeList<Float32 not null>[N]`, as Rerun's own components are.
///
/// From an owned `Vec<[f32; N]>` it takes the allocation as the Arrow buffer **without
/// copying** (`N` = 2, 3 or 4) — unless it holds at most [`Coords::INLINE_FLOATS`] floats:
/// those few values are copied into the `Coords` itself and the `Vec` is freed, which is
/// cheaper than giving a tiny allocation a shared buffer of its own (a one-point cloud
/// logged per row should cost no more than its values). From a slice or array it copies once.
///
/// ```
/// use spate::archetype::Coords;
/// let v = vec![[1.0f32, 2.0], [3.0, 4.0]];
/// let coords = Coords::from(v);
/// assert_eq!(coords.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Coords<const N: usize>(pub(crate) CoordValues);

/// Where the floats of a [`Coords`] are.
#[derive(Clone, Debug)]
pub(crate) enum CoordValues {
    /// An Arrow buffer (the caller's allocation, a loan, or a copy).
    Buffer(ScalarBuffer<f32>),
    /// A few values held by value.
    Inline {
        values: [f32; INLINE_FLOATS],
        len: u8,
    },
}

const INLINE_FLOATS: usize = 12;

impl<const N: usize> Coords<N> {
    /// Most floats an owned `Vec` may hold to be copied in rather than taken over.
    pub const INLINE_FLOATS: usize = INLINE_FLOATS;

    /// Coords over an Arrow buffer.
    pub(crate) fn from_buffer(b: ScalarBuffer<f32>) -> Self {
        Self(CoordValues::Buffer(b))
    }

    /// Coords of these values: held inline when they fit, else copied into a buffer.
    pub(crate) fn from_floats(v: &[f32]) -> Self {
        let mut values = [0.0; INLINE_FLOATS];
        match values.get_mut(..v.len()) {
            Some(dst) => {
                dst.copy_from_slice(v);
                // v.len() ≤ INLINE_FLOATS: the cast is exact.
                Self(CoordValues::Inline {
                    values,
                    len: v.len() as u8,
                })
            }
            None => Self::from_buffer(ScalarBuffer::from(v.to_vec())),
        }
    }

    /// Number of instances (`[f32; N]` values).
    pub fn len(&self) -> usize {
        self.values().len() / N
    }

    /// No instances.
    pub fn is_empty(&self) -> bool {
        self.values().is_empty()
    }

    /// The floats, `N` per instance.
    pub(crate) fn values(&self) -> &[f32] {
        match &self.0 {
            CoordValues::Buffer(b) => b,
            CoordValues::Inline { values, len } => &values[..usize::from(*len)],
        }
    }

    /// The values as an Arrow buffer: the same buffer (no copy), or a new one for inline
    /// values.
    pub(crate) fn buffer(&self) -> ScalarBuffer<f32> {
        match &self.0 {
            CoordValues::Buffer(b) => b.clone(),
            CoordValues::Inline { .. } => ScalarBuffer::from(self.values().to_vec()),
        }
    }

    /// Bytes of values.
    pub(crate) fn payload_bytes(&self) -> usize {
        std::mem::size_of_val(self.values())
    }

    /// Memory these coords keep alive beyond themselves: the whole allocation behind a
    /// buffer (none for inline values).
    pub(crate) fn retained_bytes(&self) -> usize {
        match &self.0 {
            CoordValues::Buffer(b) => instance_style::pinned(b),
            CoordValues::Inline { .. } => 0,
        }
    }

    /// The Arrow array: `FixedSizeList<Float32 not null>[N]` over the same buffer (no copy).
    pub(crate) fn to_array(&self) -> FixedSizeListArray {
        fixed_size_floats::<N>(self.buffer())
    }

    /// Address of the values (tests check that owned `Vec`s are never copied).
    #[cfg(test)]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.values().as_ptr().cast()
    }
}

/// `FixedSizeList<Float32 not null>[N]` over `values` (whose length is a multiple of `N`).
pub(crate) fn fixed_size_floats<const N: usize>(values: ScalarBuffer<f32>) -> FixedSizeListArray {
    let item = Arc::new(Field::new_list_field(DataType::Float32, false));
    // N ≤ 4 for every caller (the `From` impls below): the cast is exact.
    FixedSizeListArray::new(
        item,
        N as i32,
        Arc::new(Float32Array::new(values, None)),
        None,
    )
}

/// A row-major 3×3 matrix as the column-major 9 values Rerun stores.
pub(crate) fn column_major(rows: [[f32; 3]; 3]) -> [f32; 9] {
    let mut out = [0.0; 9];
    for (c, column) in out.chunks_exact_mut(3).enumerate() {
        for (r, v) in column.iter_mut().enumerate() {
            *v = rows[r][c];
        }
    }
    out
}

/// One instance of a fixed-size list of non-null values (`fixed_size_list<item: T not
/// null>[N]`, N = `values.len()`), the type of Rerun's vector and matrix components.
pub(crate) fn fixed(values: impl Array + 'static) -> FixedSizeListArray {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), false));
    // At most 9 values here: the cast cannot truncate.
    let size = values.len() as i32;
    FixedSizeListArray::new(field, size, Arc::new(values), None)
}

/// One instance of `[f32; N]` as a fixed-size list.
pub(crate) fn fixed_f32<const N: usize>(values: [f32; N]) -> FixedSizeListArray {
    fixed_size_floats::<N>(ScalarBuffer::from(values.to_vec()))
}

/// One `f32` instance (a scalar component: opacity, draw order, meter, …).
pub(crate) fn one_f32(v: f32) -> ArrayRef {
    Arc::new(Float32Array::from(vec![v]))
}

/// One `u8` instance (an enum component).
pub(crate) fn one_u8(v: u8) -> ArrayRef {
    Arc::new(UInt8Array::from(vec![v]))
}

/// One `utf8` instance.
pub(crate) fn one_str(v: &str) -> ArrayRef {
    Arc::new(StringArray::from(vec![v]))
}

macro_rules! coords_from {
    ($($n:literal),*) => {$(
        impl From<Vec<[f32; $n]>> for Coords<$n> {
            fn from(v: Vec<[f32; $n]>) -> Self {
                if v.len() * $n <= INLINE_FLOATS {
                    return Self::from_floats(v.as_flattened());
                }
                // Same allocation reinterpreted as x,y,… (equal alignment, size N × 4 bytes):
                // the Arrow buffer is the caller's memory.
                let flat: Vec<f32> = bytemuck::allocation::cast_vec(v);
                Self::from_buffer(ScalarBuffer::from(flat))
            }
        }

        impl From<&[[f32; $n]]> for Coords<$n> {
            fn from(v: &[[f32; $n]]) -> Self {
                Self::from_floats(v.as_flattened())
            }
        }

        impl From<&Vec<[f32; $n]>> for Coords<$n> {
            fn from(v: &Vec<[f32; $n]>) -> Self {
                Self::from(v.as_slice())
            }
        }

        impl<const M: usize> From<[[f32; $n]; M]> for Coords<$n> {
            fn from(v: [[f32; $n]; M]) -> Self {
                Self::from(&v[..])
            }
        }
    )*};
}
coords_from!(2, 3, 4);

impl<const N: usize> Coords<N> {
    /// Coords over an Arrow buffer of `N` floats per instance, **without copying** (e.g.
    /// memory another runtime owns, wrapped with `Buffer::from_custom_allocation`). Fails
    /// when the length is not a multiple of `N`.
    ///
    /// ```
    /// use arrow_buffer::ScalarBuffer;
    /// use spate::archetype::Coords;
    /// let floats = ScalarBuffer::from(vec![0.0f32; 3 * 1000]);
    /// let coords = Coords::<3>::try_from_buffer(floats.clone())?;
    /// assert_eq!(coords.len(), 1000);
    /// assert!(Coords::<3>::try_from_buffer(floats.slice(0, 10)).is_err());
    /// # Ok::<(), spate::ArchetypeError>(())
    /// ```
    pub fn try_from_buffer(floats: ScalarBuffer<f32>) -> Result<Self, ArchetypeError> {
        whole_vectors::<N>(floats.len())?;
        Ok(Self::from_buffer(floats))
    }

    /// Coords of a copy of `floats`, `N` per instance (a few are held by value, without an
    /// allocation). Fails when the length is not a multiple of `N`.
    ///
    /// ```
    /// use spate::archetype::Coords;
    /// assert_eq!(Coords::<2>::try_from_floats(&[1.0, 2.0, 3.0, 4.0])?.len(), 2);
    /// assert!(Coords::<2>::try_from_floats(&[1.0]).is_err());
    /// # Ok::<(), spate::ArchetypeError>(())
    /// ```
    pub fn try_from_floats(floats: &[f32]) -> Result<Self, ArchetypeError> {
        whole_vectors::<N>(floats.len())?;
        Ok(Self::from_floats(floats))
    }
}

fn whole_vectors<const N: usize>(floats: usize) -> Result<(), ArchetypeError> {
    if floats.is_multiple_of(N) {
        return Ok(());
    }
    Err(ArchetypeError::Invalid {
        component: "coordinates",
        reason: format!("{floats} floats are not a whole number of {N}-vectors"),
    })
}

/// Colors as `0xRRGGBBAA` (`u32`, Rerun's `Color`); from `Vec<u32>` without copying, or from
/// RGB(A) bytes.
///
/// ```
/// use spate::archetype::Colors;
/// let red = Colors::from_rgb(&[[255, 0, 0]]); // opaque: 0xFF0000FF, as the SDK writes [255, 0, 0]
/// let same = Colors::from(vec![0xFF00_00FFu32]);
/// assert_eq!(red.len(), same.len());
/// ```
#[derive(Clone, Debug)]
pub struct Colors(pub(crate) ScalarBuffer<u32>);

impl<T: Into<Values<u32>>> From<T> for Colors {
    fn from(v: T) -> Self {
        Self(v.into().0)
    }
}

impl Colors {
    /// Colors from `[r, g, b, a]` bytes (copied once into `0xRRGGBBAA`).
    pub fn from_rgba(rgba: &[[u8; 4]]) -> Self {
        Self(rgba.iter().map(|c| u32::from_be_bytes(*c)).collect())
    }

    /// Opaque colors from `[r, g, b]` bytes (copied once into `0xRRGGBBFF`), as the official
    /// SDK turns three-channel colors.
    pub fn from_rgb(rgb: &[[u8; 3]]) -> Self {
        Self(
            rgb.iter()
                .map(|&[r, g, b]| u32::from_be_bytes([r, g, b, 0xFF]))
                .collect(),
        )
    }

    /// Number of colors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No colors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Text per instance (labels), copied once into one Arrow `Utf8` array.
pub(crate) fn texts<S: AsRef<str>>(texts: impl IntoIterator<Item = S>) -> StringArray {
    StringArray::from_iter_values(texts)
}

/// The splat rule: an optional component (`found` values, if present) holds one value per
/// instance, or exactly one value for all of them.
pub(crate) fn check_splat(
    component: &'static str,
    instances: usize,
    found: Option<usize>,
) -> Result<(), ArchetypeError> {
    match found {
        Some(found) if found != instances && found != 1 => Err(ArchetypeError::LengthMismatch {
            component,
            expected: instances,
            found,
        }),
        _ => Ok(()),
    }
}

/// Number of values of an optional component, if present.
pub(crate) fn len_of<T: ArrowNativeType>(values: &Option<ScalarBuffer<T>>) -> Option<usize> {
    values.as_ref().map(ScalarBuffer::len)
}

/// Fails when `instances` of `N` floats each are more than one row can hold.
pub(crate) fn check_fits<const N: usize>(
    component: &'static str,
    instances: usize,
) -> Result<(), ArchetypeError> {
    if instances > i32::MAX as usize / N {
        return Err(ArchetypeError::TooLarge {
            component,
            found: instances,
        });
    }
    Ok(())
}

/// What the unit tests of each archetype compare with the official SDK's dump.
#[cfg(test)]
pub(crate) mod testing {
    use arrow_array::Array;
    use arrow_schema::{DataType, Field};
    use std::sync::Arc;

    use crate::{AsComponents, Chunk, EntityPath, RowId, TimePoint};

    /// One column of a logged row: (component, archetype, component type, Arrow type of the
    /// column as written, i.e. with the row list around the instances).
    pub(crate) type Column = (String, String, String, DataType);

    /// The columns of `data` logged as one row, in the order they are written.
    pub(crate) fn columns_of(data: &dyn AsComponents) -> Vec<Column> {
        let chunk = Chunk::from_row(
            EntityPath::parse("e").unwrap(),
            RowId::new(),
            &TimePoint::default(),
            data,
        )
        .unwrap();
        chunk
            .components()
            .iter()
            .map(|c| {
                let d = c.descriptor();
                (
                    d.component.to_string(),
                    d.archetype.as_deref().unwrap_or_default().to_owned(),
                    d.component_type.as_deref().unwrap_or_default().to_owned(),
                    c.list().data_type().clone(),
                )
            })
            .collect()
    }

    /// The column the SDK writes for `component` of `archetype` (short name, e.g. `Points2D`):
    /// `list<item: ty>` with a nullable item.
    pub(crate) fn column(archetype: &str, component: &str, ty: &str, item: DataType) -> Column {
        (
            format!("{archetype}:{component}"),
            format!("rerun.archetypes.{archetype}"),
            format!("rerun.components.{ty}"),
            DataType::new_list(item, true),
        )
    }

    /// `fixed_size_list<item: float not null>[n]`.
    pub(crate) fn floats(n: i32) -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), n)
    }
}
