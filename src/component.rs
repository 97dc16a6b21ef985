//! The component model every layer shares: what a component column is
//! ([`ComponentDescriptor`]), what can be logged ([`AsComponents`]) and why a row's components
//! do not fit together ([`ArchetypeError`]). Chunks are built from it, archetypes implement it.

use std::borrow::Cow;

use arrow_array::ArrayRef;

/// What a component column is: its archetype, its name and its Rerun component type.
///
/// ```
/// use spate::ComponentDescriptor;
/// let d = ComponentDescriptor::new(
///     "rerun.archetypes.Points3D", "Points3D:positions", "rerun.components.Position3D");
/// assert_eq!(d.field_name(), "positions");
/// assert_eq!(d.archetype_short_name(), Some("Points3D"));
///
/// // A user-defined column, as the official SDK's `AnyValues` writes it: a name alone.
/// let any = ComponentDescriptor::named("confidence");
/// assert_eq!((any.archetype, any.component_type), (None, None));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentDescriptor {
    /// e.g. `rerun.archetypes.Points3D`; `None` for a column outside any archetype.
    pub archetype: Option<Cow<'static, str>>,
    /// e.g. `Points3D:positions` (also the column name)
    pub component: Cow<'static, str>,
    /// e.g. `rerun.components.Position3D`; `None` for a column of no Rerun component type
    /// (the viewer shows its values, and visualizes it only if told what it is).
    pub component_type: Option<Cow<'static, str>>,
}

impl ComponentDescriptor {
    /// A descriptor from its three names.
    pub fn new(
        archetype: impl Into<Cow<'static, str>>,
        component: impl Into<Cow<'static, str>>,
        component_type: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            archetype: Some(archetype.into()),
            component: component.into(),
            component_type: Some(component_type.into()),
        }
    }

    /// A column known by its name alone: no archetype, no component type (what the
    /// official SDK's `AnyValues` writes).
    pub fn named(component: impl Into<Cow<'static, str>>) -> Self {
        Self {
            archetype: None,
            component: component.into(),
            component_type: None,
        }
    }

    /// This descriptor with an archetype (e.g. `MyRobot`, or `rerun.archetypes.Points3D`).
    pub fn with_archetype(mut self, archetype: impl Into<Cow<'static, str>>) -> Self {
        self.archetype = Some(archetype.into());
        self
    }

    /// This descriptor with a Rerun component type (e.g. `rerun.components.Scalar`).
    pub fn with_component_type(mut self, component_type: impl Into<Cow<'static, str>>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }

    /// The part of the component name after the last `:` (`positions`).
    pub fn field_name(&self) -> &str {
        self.component.rsplit(':').next().unwrap_or(&self.component)
    }

    /// The part of the archetype after the last `.` (`Points3D`), if there is an archetype.
    pub fn archetype_short_name(&self) -> Option<&str> {
        let a = self.archetype.as_deref()?;
        a.rsplit('.').next()
    }
}

/// Why an archetype's components do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchetypeError {
    /// An optional component has neither one value per instance nor a single value to splat.
    #[error("{component} has {found} values, expected {expected} (one per instance) or 1")]
    LengthMismatch {
        /// Component name, e.g. `Points3D:colors`.
        component: &'static str,
        /// Number of instances (positions, boxes, strips, arrows…).
        expected: usize,
        /// Number of values given.
        found: usize,
    },
    /// Two components of one row with the same name.
    #[error("component {0} appears twice in one row")]
    DuplicateComponent(String),
    /// A component without a name (the name is its column's name).
    #[error("a component has an empty name")]
    EmptyComponentName,
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

/// Something that can be logged: the component arrays of one row.
///
/// Implemented by every archetype in [`crate::archetype`], by
/// [`DynamicArchetype`](crate::archetype::DynamicArchetype) for columns of your own, and
/// open to your types: an archetype of your own is a type that returns its components.
/// Each array holds the row's instances of one component; the arrays are taken as they
/// are (an array over an owned `Vec` is logged without copying).
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Float64Array};
/// use spate::{ArchetypeError, AsComponents, ComponentDescriptor, EntityPath, MemorySink, Recording};
///
/// /// A wheel odometry reading, under an archetype name of our own.
/// struct Odometry { speed: f64, steering: f64 }
///
/// impl AsComponents for Odometry {
///     fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
///         let column = |field: &'static str, v: f64| {
///             let d = ComponentDescriptor::new("robot.Odometry", field, "rerun.components.Scalar");
///             (d, Arc::new(Float64Array::from(vec![v])) as ArrayRef)
///         };
///         Ok(vec![column("Odometry:speed", self.speed), column("Odometry:steering", self.steering)])
///     }
/// }
///
/// let (sink, received) = MemorySink::new();
/// let rec = Recording::builder("rig").sinks(sink).start()?;
/// rec.log(&EntityPath::parse("odometry")?, &Odometry { speed: 1.5, steering: -0.1 })?;
/// rec.flush(std::time::Instant::now() + std::time::Duration::from_secs(5))?;
/// let decoded = received.decode()?;
/// let chunk = decoded.chunks().find(|c| c.entity().to_string() == "/odometry").unwrap();
/// assert!(chunk.component("Odometry:speed").is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait AsComponents {
    /// The component arrays, one per present component, each holding this row's instances.
    /// Fails when the components do not fit together (e.g. mismatched lengths).
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError>;

    /// This value, for the engine to recognize its own archetypes (a
    /// [`Points3D`](crate::Points3D) takes a path of its own, without per-row allocation).
    /// Leave it as it is.
    #[doc(hidden)]
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}
