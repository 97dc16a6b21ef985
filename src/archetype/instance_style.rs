//! What the shape archetypes (`Points2D`, `Points3D`, `Boxes3D`, `Arrows3D`,
//! `LineStrips3D`) have in common: optional per-instance colors, radii, labels and class ids,
//! and whether the labels show. One [`InstanceStyle`] in each holds them, checks the splat
//! rule on them and writes them; [`instance_style_builders!`] gives each archetype the same
//! `with_*` builders.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, StringArray, UInt16Array, UInt32Array,
};
use arrow_buffer::ScalarBuffer;

use super::{ArchetypeError, check_splat, descriptor, len_of};
use crate::chunk::ComponentDescriptor;

/// The component names of one archetype's [`InstanceStyle`], made by
/// [`style_names!`]`("Points2D")`: `Points2D:colors`, … of `rerun.archetypes.Points2D`.
pub(crate) struct StyleNames {
    pub(crate) archetype: &'static str,
    pub(crate) class_ids: &'static str,
    pub(crate) colors: &'static str,
    pub(crate) labels: &'static str,
    pub(crate) radii: &'static str,
    pub(crate) show_labels: &'static str,
}

/// The [`StyleNames`] of an archetype, from its short name (e.g. `"Points2D"`).
macro_rules! style_names {
    ($archetype:literal) => {
        $crate::archetype::instance_style::StyleNames {
            archetype: concat!("rerun.archetypes.", $archetype),
            class_ids: concat!($archetype, ":class_ids"),
            colors: concat!($archetype, ":colors"),
            labels: concat!($archetype, ":labels"),
            radii: concat!($archetype, ":radii"),
            show_labels: concat!($archetype, ":show_labels"),
        }
    };
}

impl StyleNames {
    pub(crate) const fn class_ids_descriptor(&self) -> ComponentDescriptor {
        descriptor(self.archetype, self.class_ids, "rerun.components.ClassId")
    }

    pub(crate) const fn colors_descriptor(&self) -> ComponentDescriptor {
        descriptor(self.archetype, self.colors, "rerun.components.Color")
    }

    pub(crate) const fn labels_descriptor(&self) -> ComponentDescriptor {
        descriptor(self.archetype, self.labels, "rerun.components.Text")
    }

    pub(crate) const fn radii_descriptor(&self) -> ComponentDescriptor {
        descriptor(self.archetype, self.radii, "rerun.components.Radius")
    }

    pub(crate) const fn show_labels_descriptor(&self) -> ComponentDescriptor {
        descriptor(
            self.archetype,
            self.show_labels,
            "rerun.components.ShowLabels",
        )
    }
}

/// Optional colors, radii, labels and class ids (each one value per instance, or one value
/// for all) and whether labels show. Owned `Vec`s given to the builders become the Arrow
/// buffers without copying; labels are copied once.
#[derive(Clone, Debug, Default)]
pub(crate) struct InstanceStyle {
    pub(crate) colors: Option<ScalarBuffer<u32>>,
    pub(crate) radii: Option<ScalarBuffer<f32>>,
    pub(crate) class_ids: Option<ScalarBuffer<u16>>,
    /// Behind an `Arc`: labels are rare, and rows travel by value through lanes.
    pub(crate) labels: Option<Arc<StringArray>>,
    pub(crate) show_labels: Option<bool>,
}

impl InstanceStyle {
    /// Checks the splat rule: each component present has one value per instance (of
    /// `instances`) or exactly one value.
    pub(crate) fn validate(
        &self,
        names: &StyleNames,
        instances: usize,
    ) -> Result<(), ArchetypeError> {
        check_splat(names.class_ids, instances, len_of(&self.class_ids))?;
        check_splat(names.colors, instances, len_of(&self.colors))?;
        check_splat(
            names.labels,
            instances,
            self.labels.as_ref().map(|l| l.len()),
        )?;
        check_splat(names.radii, instances, len_of(&self.radii))
    }

    /// Appends the components that are present (the buffers are shared, not copied); the
    /// caller sorts the row's components by name.
    pub(crate) fn push_components(
        &self,
        names: &StyleNames,
        out: &mut Vec<(ComponentDescriptor, ArrayRef)>,
    ) {
        if let Some(c) = &self.class_ids {
            out.push((
                names.class_ids_descriptor(),
                Arc::new(UInt16Array::new(c.clone(), None)),
            ));
        }
        if let Some(c) = &self.colors {
            out.push((
                names.colors_descriptor(),
                Arc::new(UInt32Array::new(c.clone(), None)),
            ));
        }
        if let Some(l) = &self.labels {
            out.push((names.labels_descriptor(), l.clone()));
        }
        if let Some(r) = &self.radii {
            out.push((
                names.radii_descriptor(),
                Arc::new(Float32Array::new(r.clone(), None)),
            ));
        }
        if let Some(s) = self.show_labels {
            out.push((
                names.show_labels_descriptor(),
                Arc::new(BooleanArray::from(vec![s])),
            ));
        }
    }

    /// Bytes of the components' values.
    pub(crate) fn payload_bytes(&self) -> usize {
        self.colors.as_ref().map_or(0, |c| c.inner().len())
            + self.radii.as_ref().map_or(0, |c| c.inner().len())
            + self.class_ids.as_ref().map_or(0, |c| c.inner().len())
            + self.labels_bytes()
    }

    /// Bytes of the whole allocations behind the components' buffers.
    pub(crate) fn retained_bytes(&self) -> usize {
        self.colors.as_ref().map_or(0, pinned)
            + self.radii.as_ref().map_or(0, pinned)
            + self.class_ids.as_ref().map_or(0, pinned)
            + self.labels_bytes()
    }

    fn labels_bytes(&self) -> usize {
        self.labels
            .as_ref()
            .map_or(0, |l| l.get_buffer_memory_size())
    }
}

/// Bytes of the whole allocation behind `b` (at least its length).
pub(crate) fn pinned<T: arrow_buffer::ArrowNativeType>(b: &ScalarBuffer<T>) -> usize {
    b.inner().capacity().max(b.inner().len())
}

/// The `with_*` builders of an archetype whose [`InstanceStyle`] is its field `style`:
/// `with_colors`, `with_radii` (documented with the archetype's own `$radii_doc`),
/// `with_labels`, `with_class_ids` and, when `show_labels` is named, `with_show_labels`.
macro_rules! instance_style_builders {
    (radii: $radii_doc:literal $(, $show_labels:ident)?) => {
        /// Colors, `0xRRGGBBAA`.
        pub fn with_colors(mut self, colors: impl Into<$crate::archetype::Colors>) -> Self {
            self.style.colors = Some(colors.into().0);
            self
        }

        #[doc = $radii_doc]
        pub fn with_radii(mut self, radii: impl Into<$crate::archetype::Values<f32>>) -> Self {
            self.style.radii = Some(radii.into().0);
            self
        }

        /// Text labels.
        pub fn with_labels<S: AsRef<str>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
            self.style.labels = Some(::std::sync::Arc::new($crate::archetype::texts(labels)));
            self
        }

        /// Class ids (annotation context keys).
        pub fn with_class_ids(
            mut self,
            class_ids: impl Into<$crate::archetype::Values<u16>>,
        ) -> Self {
            self.style.class_ids = Some(class_ids.into().0);
            self
        }

        $(instance_style_builders!(@ $show_labels);)?
    };
    (@ show_labels) => {
        /// Whether the viewer shows the labels (by default it decides from their number).
        pub fn with_show_labels(mut self, show: bool) -> Self {
            self.style.show_labels = Some(show);
            self
        }
    };
}
