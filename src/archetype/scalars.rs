//! The `Scalars` archetype (`rerun.archetypes.Scalars`): one or more plotted values.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array};
use arrow_buffer::ScalarBuffer;

use super::{ArchetypeError, Values, rows_of};
use crate::chunk::{AsComponents, ComponentColumn, ComponentDescriptor};

component_descriptors!("Scalars" {
    SCALARS: "scalars" => "Scalar",
});

/// Values to plot over time (IMU axes, temperatures, speeds): one row holds one value per
/// series. From an owned `Vec<f64>` without copying.
///
/// ```
/// use spate::archetype::Scalars;
/// use spate::AsComponents;
/// let gyro = Scalars::new(vec![0.1, -0.2, 9.81]);
/// let columns = gyro.as_components()?;
/// assert_eq!(&*columns[0].0.component, "Scalars:scalars");
/// assert_eq!(columns[0].1.len(), 3);
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Scalars {
    scalars: ScalarBuffer<f64>,
}

impl Scalars {
    /// One row of values (one per plotted series).
    pub fn new(values: impl Into<Values<f64>>) -> Self {
        Self {
            scalars: values.into().0,
        }
    }

    /// Columns for [`Recording::send_columns`](crate::Recording::send_columns): one value per
    /// row, taken without copying from an owned `Vec`.
    ///
    /// ```
    /// use arrow_array::Array;
    /// use spate::archetype::Scalars;
    /// let columns = Scalars::columns(vec![1.0, 2.0, 3.0])?;
    /// assert_eq!(columns[0].list().len(), 3); // three rows
    /// # Ok::<(), spate::ArchetypeError>(())
    /// ```
    pub fn columns(values: impl Into<Values<f64>>) -> Result<Vec<ComponentColumn>, ArchetypeError> {
        Self::columns_of(values, 1)
    }

    /// Columns of `per_row` values per row (e.g. 3 for a gyroscope's x, y, z).
    pub fn columns_of(
        values: impl Into<Values<f64>>,
        per_row: usize,
    ) -> Result<Vec<ComponentColumn>, ArchetypeError> {
        let values: ArrayRef = Arc::new(Float64Array::new(values.into().0, None));
        Ok(vec![rows_of(SCALARS, values, per_row)?])
    }
}

impl AsComponents for Scalars {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        Ok(vec![(
            SCALARS,
            Arc::new(Float64Array::new(self.scalars.clone(), None)),
        )])
    }
}
