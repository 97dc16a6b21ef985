//! The `Arrows3D` archetype (`rerun.archetypes.Arrows3D`).

use std::sync::Arc;

use arrow_array::ArrayRef;

use super::instance_style::{InstanceStyle, StyleNames};
use super::{ArchetypeError, Coords, check_fits, check_splat, sorted_by_name};
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("Arrows3D" {
    ORIGINS: "origins" => "Position3D",
    VECTORS: "vectors" => "Vector3D",
});
const STYLE: StyleNames = style_names!("Arrows3D");

/// Arrows in 3-D (velocities, forces, normals): vectors (required, one per arrow), and
/// optional origins, radii, colors, labels and class ids — each one value per arrow or a
/// single value for all — plus whether labels show. Written as the official SDK's
/// `rr.Arrows3D(…)` writes it.
///
/// Owned `Vec`s of vectors, origins, colors, radii and class ids are taken **without
/// copying**. Lengths are checked when the arrows are logged.
///
/// ```
/// use spate::archetype::{Arrows3D, Colors};
/// use spate::AsComponents;
///
/// let velocity = Arrows3D::new(vec![[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.5]]) // no copy
///     .with_origins(vec![[0.0f32; 3], [1.0, 1.0, 1.0]])
///     .with_colors(Colors::from_rgb(&[[1, 2, 3]]));
/// assert_eq!(velocity.num_arrows(), 2);
/// assert_eq!(velocity.as_components()?.len(), 3);
///
/// let bad = Arrows3D::new(vec![[1.0f32; 3]; 2]).with_radii(vec![0.1f32; 3]);
/// assert!(bad.validate().is_err());
/// # Ok::<(), spate::ArchetypeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Arrows3D {
    vectors: Coords<3>,
    origins: Option<Coords<3>>,
    style: InstanceStyle,
}

impl Arrows3D {
    /// Arrows along these vectors `[x, y, z]`, from the origin unless
    /// [origins](Self::with_origins) are given.
    pub fn new(vectors: impl Into<Coords<3>>) -> Self {
        Self {
            vectors: vectors.into(),
            origins: None,
            style: InstanceStyle::default(),
        }
    }

    /// Where the arrows start, `[x, y, z]`.
    pub fn with_origins(mut self, origins: impl Into<Coords<3>>) -> Self {
        self.origins = Some(origins.into());
        self
    }

    instance_style_builders!(
        radii: "Radii of the shafts, in scene units (negative: UI points).",
        show_labels
    );

    /// Number of arrows (vectors).
    pub fn num_arrows(&self) -> usize {
        self.vectors.len()
    }

    /// Checks every optional component has one value per arrow or exactly one value.
    pub fn validate(&self) -> Result<(), ArchetypeError> {
        let n = self.num_arrows();
        check_fits::<3>("Arrows3D:vectors", n)?;
        check_splat(
            "Arrows3D:origins",
            n,
            self.origins.as_ref().map(Coords::len),
        )?;
        self.style.validate(&STYLE, n)
    }
}

impl AsComponents for Arrows3D {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        self.validate()?;
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(7);
        self.style.push_components(&STYLE, &mut out);
        if let Some(o) = &self.origins {
            out.push((ORIGINS, Arc::new(o.to_array())));
        }
        out.push((VECTORS, Arc::new(self.vectors.to_array())));
        Ok(sorted_by_name(out))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{FixedSizeListArray, UInt32Array};
    use arrow_schema::DataType;

    use super::super::Colors;
    use super::super::testing::{column, columns_of, floats};
    use super::*;

    #[test]
    fn columns_are_those_of_the_official_sdk() {
        // From the SDK 0.41 dump: rr.Arrows3D(vectors=[[1,0,0],[0,1,0]], origins=[[0,0,0]],
        // radii=[0.1], colors=[[1,2,3]], labels=["x","y"], show_labels=False, class_ids=[9,10]).
        let full = Arrows3D::new(vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            .with_origins([[0.0; 3]])
            .with_radii([0.1])
            .with_colors(Colors::from_rgb(&[[1, 2, 3]]))
            .with_labels(["x", "y"])
            .with_show_labels(false)
            .with_class_ids(vec![9, 10]);
        let expect = |c, t, ty| column("Arrows3D", c, t, ty);
        assert_eq!(
            columns_of(&full),
            [
                expect("class_ids", "ClassId", DataType::UInt16),
                expect("colors", "Color", DataType::UInt32),
                expect("labels", "Text", DataType::Utf8),
                expect("origins", "Position3D", floats(3)),
                expect("radii", "Radius", DataType::Float32),
                expect("show_labels", "ShowLabels", DataType::Boolean),
                expect("vectors", "Vector3D", floats(3)),
            ]
        );
        // [1, 2, 3] is 0x010203FF (16909311) in the dump.
        let comps = full.as_components().unwrap();
        let colors = comps[1].1.as_any().downcast_ref::<UInt32Array>().unwrap();
        assert_eq!(colors.values(), &[16_909_311]);
    }

    #[test]
    fn owned_vectors_and_origins_are_not_copied() {
        let (v, o, r) = (
            vec![[1.0f32; 3]; 10],
            vec![[2.0f32; 3]; 10],
            vec![0.1f32; 10],
        );
        let (vp, op, rp) = (
            v.as_ptr().cast::<u8>(),
            o.as_ptr().cast::<u8>(),
            r.as_ptr().cast::<u8>(),
        );
        let a = Arrows3D::new(v).with_origins(o).with_radii(r);
        let comps = a.as_components().unwrap();
        let array = |name: &str| {
            let (_, a) = comps.iter().find(|(d, _)| d.component == name).unwrap();
            a.clone()
        };
        let values_ptr = |name: &str| {
            let a = array(name);
            let fsl = a.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
            fsl.values().to_data().buffers()[0].as_ptr()
        };
        assert_eq!(values_ptr("Arrows3D:vectors"), vp);
        assert_eq!(values_ptr("Arrows3D:origins"), op);
        assert_eq!(array("Arrows3D:radii").to_data().buffers()[0].as_ptr(), rp);
    }

    #[test]
    fn mismatched_lengths_are_typed_errors() {
        let a = || Arrows3D::new(vec![[1.0f32; 3]; 2]);
        assert_eq!(
            a().with_origins(vec![[0.0f32; 3]; 3]).validate(),
            Err(ArchetypeError::LengthMismatch {
                component: "Arrows3D:origins",
                expected: 2,
                found: 3
            })
        );
        assert!(a().with_class_ids([1u16, 2, 3]).as_components().is_err());
        assert!(
            a().with_origins([[0.0f32; 3]])
                .with_labels(["a", "b"])
                .validate()
                .is_ok()
        );
    }
}
