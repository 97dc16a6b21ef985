//! Archetypes: typed builders for what users log. One file per archetype.

mod dynamic;
mod points3d;
mod scalars;

use std::borrow::Cow::Borrowed;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ListArray};
use arrow_buffer::{ArrowNativeType, OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;

use crate::chunk::{ComponentColumn, ComponentDescriptor};

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
pub use points3d::Points3D;
pub(crate) use points3d::Points3DColumns;
pub use scalars::Scalars;

/// Why an archetype's components do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchetypeError {
    /// An optional component has neither one value per instance nor a single value to splat.
    #[error("{component} has {found} values, expected {expected} (one per point) or 1")]
    LengthMismatch {
        /// Component name, e.g. `Points3D:colors`.
        component: &'static str,
        /// Number of instances (positions).
        expected: usize,
        /// Number of values given.
        found: usize,
    },
    /// Two components of one row with the same name.
    #[error("component {0} appears twice in one row")]
    DuplicateComponent(String),
    /// A buffer whose size does not match its description (e.g. an image's width, height
    /// and pixel format).
    #[error("{component} has {found} bytes, expected {expected}")]
    BufferSize {
        /// Component name, e.g. `Image:buffer`.
        component: &'static str,
        /// Bytes the description calls for.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// A value out of what the component allows.
    #[error("{component}: {reason}")]
    Invalid {
        /// Component name.
        component: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// More instances than an Arrow list with 32-bit offsets can hold.
    #[error("{component} has {found} values; at most {} fit one row", i32::MAX)]
    TooLarge {
        /// Component name.
        component: &'static str,
        /// Number of values.
        found: usize,
    },
}

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
