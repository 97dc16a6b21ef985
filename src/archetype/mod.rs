//! Archetypes: typed builders for what users log. One file per archetype.

mod points3d;

use arrow_buffer::{ArrowNativeType, ScalarBuffer};

pub use points3d::Points3D;
pub(crate) use points3d::Points3DColumns;

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
