//! Columns of your own: any Arrow array under a descriptor you choose, as the official SDK's
//! `AnyValues` and `DynamicArchetype` write them.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef};

use super::ArchetypeError;
use crate::chunk::{AsComponents, ComponentDescriptor};

/// Any Arrow arrays, logged as components of one row.
///
/// - [`DynamicArchetype::any_values`]: columns named by their field alone, with no archetype
///   and no component type — what the official SDK's `rr.AnyValues(confidence=…)` writes.
/// - [`DynamicArchetype::new`]`("MyArchetype")`: columns `MyArchetype:field` under the
///   archetype `MyArchetype` — what `rr.DynamicArchetype(archetype="MyArchetype", …)` writes.
/// - [`with_descriptor`](Self::with_descriptor): any descriptor, e.g. to give a column a
///   Rerun component type so the viewer knows how to show it.
///
/// Arrays are logged as given: one built over an owned `Vec` is not copied.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, StringArray};
/// use spate::archetype::DynamicArchetype;
/// use spate::{AsComponents, ComponentDescriptor};
///
/// let any = DynamicArchetype::any_values()
///     .with_component("confidence", Arc::new(Float64Array::from(vec![1.2, 3.4])))
///     .with_component("name", Arc::new(StringArray::from(vec!["a", "b"])));
/// let columns = any.as_components()?;
/// assert_eq!(columns[0].0, ComponentDescriptor::named("confidence"));
///
/// let odometry = DynamicArchetype::new("robot.Odometry")
///     .with_component("speed", Arc::new(Float64Array::from(vec![1.5])));
/// let (d, _) = &odometry.as_components()?[0];
/// assert_eq!(&*d.component, "robot.Odometry:speed");
/// assert_eq!(d.archetype.as_deref(), Some("robot.Odometry"));
/// assert_eq!(d.component_type, None);
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct DynamicArchetype {
    archetype: Option<Cow<'static, str>>,
    components: Vec<(ComponentDescriptor, ArrayRef)>,
}

impl DynamicArchetype {
    /// Columns grouped under `archetype`: a field `f` becomes the column `{archetype}:f`.
    pub fn new(archetype: impl Into<Cow<'static, str>>) -> Self {
        Self {
            archetype: Some(archetype.into()),
            components: Vec::new(),
        }
    }

    /// Columns outside any archetype, named by their field alone (the SDK's `AnyValues`).
    pub fn any_values() -> Self {
        Self::default()
    }

    /// Adds the field `field` with this row's values.
    pub fn with_component(mut self, field: &str, values: ArrayRef) -> Self {
        let d = match &self.archetype {
            Some(a) => ComponentDescriptor::named(format!("{a}:{field}")).with_archetype(a.clone()),
            None => ComponentDescriptor::named(field.to_owned()),
        };
        self.components.push((d, values));
        self
    }

    /// Adds a column under a descriptor of your choice.
    pub fn with_descriptor(mut self, descriptor: ComponentDescriptor, values: ArrayRef) -> Self {
        self.components.push((descriptor, values));
        self
    }

    /// Adds the field `field` from any array type (wrapped in an `Arc`).
    pub fn with_array(self, field: &str, values: impl Array + 'static) -> Self {
        self.with_component(field, Arc::new(values))
    }
}

impl AsComponents for DynamicArchetype {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        Ok(self.components.clone())
    }
}
