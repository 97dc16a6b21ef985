//! The `Pinhole` archetype (`rerun.archetypes.Pinhole`): a camera's projection, and the
//! `ViewCoordinates` of its axes.
//!
//! Written as the official Python SDK 0.41 writes it: only the fields that were set, columns
//! sorted by component name, the projection matrix stored column-major.

use std::sync::Arc;

use arrow_array::{ArrayRef, UInt8Array, UInt32Array};

use super::ArchetypeError;
use super::{column_major, fixed, fixed_f32, one_f32, one_str};
use crate::chunk::{AsComponents, ComponentDescriptor};

component_descriptors!("Pinhole" {
    CAMERA_XYZ: "camera_xyz" => "ViewCoordinates",
    CHILD_FRAME: "child_frame" => "TransformFrameId",
    COLOR: "color" => "Color",
    IMAGE_FROM_CAMERA: "image_from_camera" => "PinholeProjection",
    IMAGE_PLANE_DISTANCE: "image_plane_distance" => "ImagePlaneDistance",
    LINE_WIDTH: "line_width" => "Radius",
    PARENT_FRAME: "parent_frame" => "TransformFrameId",
    RESOLUTION: "resolution" => "Resolution",
});

/// One direction of a [`ViewCoordinates`] axis (Rerun's `ViewDir`, stored as its `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ViewDir {
    /// Up (1).
    Up = 1,
    /// Down (2).
    Down = 2,
    /// Right (3).
    Right = 3,
    /// Left (4).
    Left = 4,
    /// Forward (5).
    Forward = 5,
    /// Back (6).
    Back = 6,
}

/// What the X, Y and Z axes of a space point at (`rerun.components.ViewCoordinates`,
/// stored as `fixed_size_list<item: uint8 not null>[3]`). A pinhole camera's usual
/// convention is [`RDF`](Self::RDF): X right, Y down, Z forward (the viewer's default).
///
/// ```
/// use spate::archetype::{ViewCoordinates, ViewDir};
/// assert_eq!(ViewCoordinates::RDF.dirs(), [ViewDir::Right, ViewDir::Down, ViewDir::Forward]);
/// assert_eq!(ViewCoordinates::new([ViewDir::Forward, ViewDir::Left, ViewDir::Up]), ViewCoordinates::FLU);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ViewCoordinates([ViewDir; 3]);

impl ViewCoordinates {
    /// The directions of X, Y and Z. Not checked to be three different axes (the viewer
    /// rejects those that are not).
    pub const fn new(xyz: [ViewDir; 3]) -> Self {
        Self(xyz)
    }

    /// The directions of X, Y and Z.
    pub const fn dirs(self) -> [ViewDir; 3] {
        self.0
    }
}

macro_rules! view_coordinates {
    ($($name:ident = $x:ident $y:ident $z:ident;)*) => {
        impl ViewCoordinates {
            $(
                #[doc = concat!("X ", stringify!($x), ", Y ", stringify!($y), ", Z ", stringify!($z), ".")]
                pub const $name: Self = Self([ViewDir::$x, ViewDir::$y, ViewDir::$z]);
            )*
        }

        #[cfg(test)]
        const ALL_VIEW_COORDINATES: &[(&str, ViewCoordinates)] =
            &[$((stringify!($name), ViewCoordinates::$name)),*];
    };
}

view_coordinates! {
    BDL = Back Down Left; BDR = Back Down Right; BLD = Back Left Down; BLU = Back Left Up;
    BRD = Back Right Down; BRU = Back Right Up; BUL = Back Up Left; BUR = Back Up Right;
    DBL = Down Back Left; DBR = Down Back Right; DFL = Down Forward Left;
    DFR = Down Forward Right; DLB = Down Left Back; DLF = Down Left Forward;
    DRB = Down Right Back; DRF = Down Right Forward; FDL = Forward Down Left;
    FDR = Forward Down Right; FLD = Forward Left Down; FLU = Forward Left Up;
    FRD = Forward Right Down; FRU = Forward Right Up; FUL = Forward Up Left;
    FUR = Forward Up Right; LBD = Left Back Down; LBU = Left Back Up; LDB = Left Down Back;
    LDF = Left Down Forward; LFD = Left Forward Down; LFU = Left Forward Up;
    LUB = Left Up Back; LUF = Left Up Forward; RBD = Right Back Down; RBU = Right Back Up;
    RDB = Right Down Back; RDF = Right Down Forward; RFD = Right Forward Down;
    RFU = Right Forward Up; RUB = Right Up Back; RUF = Right Up Forward;
    UBL = Up Back Left; UBR = Up Back Right; UFL = Up Forward Left; UFR = Up Forward Right;
    ULB = Up Left Back; ULF = Up Left Forward; URB = Up Right Back; URF = Up Right Forward;
}

/// A pinhole camera: its projection from camera space to image pixels, and optionally the
/// image resolution, the camera's axis convention and how the viewer draws its frustum.
///
/// ```
/// use spate::archetype::{Pinhole, ViewCoordinates};
/// use spate::{EntityPath, Recording};
///
/// let rec = Recording::builder("rig").start()?;
/// let front = Pinhole::new([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
///     .with_resolution([640.0, 480.0])
///     .with_camera_xyz(ViewCoordinates::RDF);
/// rec.log_static(&EntityPath::parse("camera/front")?, &front)?;
///
/// // The same camera, from its focal length: the principal point is the image's center.
/// let same = Pinhole::from_focal_length_and_resolution([500.0, 500.0], [640.0, 480.0])
///     .with_camera_xyz(ViewCoordinates::RDF);
/// assert_eq!(same, front);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Pinhole {
    /// Column-major, as stored.
    image_from_camera: [f32; 9],
    resolution: Option<[f32; 2]>,
    camera_xyz: Option<ViewCoordinates>,
    image_plane_distance: Option<f32>,
    color: Option<u32>,
    line_width: Option<f32>,
    child_frame: Option<Arc<str>>,
    parent_frame: Option<Arc<str>>,
}

impl Pinhole {
    /// A camera with this projection matrix, given **row-major** (`rows[r][c]`:
    /// `[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`, as the SDK takes it); stored
    /// **column-major** in `Pinhole:image_from_camera`, as the SDK stores it.
    pub fn new(image_from_camera: [[f32; 3]; 3]) -> Self {
        Self {
            image_from_camera: column_major(image_from_camera),
            resolution: None,
            camera_xyz: None,
            image_plane_distance: None,
            color: None,
            line_width: None,
            child_frame: None,
            parent_frame: None,
        }
    }

    /// A camera with focal lengths `[fx, fy]` (pixels) and its principal point at the
    /// center of an image of `[width, height]` pixels, which is also set as its resolution:
    /// what the SDK writes for `Pinhole(focal_length=…, width=…, height=…)`.
    pub fn from_focal_length_and_resolution([fx, fy]: [f32; 2], [width, height]: [f32; 2]) -> Self {
        Self::new([
            [fx, 0.0, width / 2.0],
            [0.0, fy, height / 2.0],
            [0.0, 0.0, 1.0],
        ])
        .with_resolution([width, height])
    }

    /// The image's `[width, height]` in pixels (`Pinhole:resolution`).
    pub fn with_resolution(mut self, resolution: [f32; 2]) -> Self {
        self.resolution = Some(resolution);
        self
    }

    /// Where the camera's X, Y and Z point (`Pinhole:camera_xyz`); the viewer assumes
    /// [`ViewCoordinates::RDF`] when not set, and the SDK does not write it then.
    pub fn with_camera_xyz(mut self, camera_xyz: ViewCoordinates) -> Self {
        self.camera_xyz = Some(camera_xyz);
        self
    }

    /// Distance from the camera to the image plane drawn in 3D
    /// (`Pinhole:image_plane_distance`), in scene units.
    pub fn with_image_plane_distance(mut self, distance: f32) -> Self {
        self.image_plane_distance = Some(distance);
        self
    }

    /// Color of the drawn frustum, `0xRRGGBBAA` (`Pinhole:color`).
    pub fn with_color(mut self, rgba: u32) -> Self {
        self.color = Some(rgba);
        self
    }

    /// Width of the drawn frustum's lines (`Pinhole:line_width`).
    pub fn with_line_width(mut self, width: f32) -> Self {
        self.line_width = Some(width);
        self
    }

    /// The named frame of the camera (`Pinhole:child_frame`).
    pub fn with_child_frame(mut self, frame: impl Into<Arc<str>>) -> Self {
        self.child_frame = Some(frame.into());
        self
    }

    /// The named frame the camera is attached to (`Pinhole:parent_frame`).
    pub fn with_parent_frame(mut self, frame: impl Into<Arc<str>>) -> Self {
        self.parent_frame = Some(frame.into());
        self
    }
}

impl AsComponents for Pinhole {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        // Sorted by component name, as the official SDK writes them.
        let mut out: Vec<(ComponentDescriptor, ArrayRef)> = Vec::with_capacity(8);
        if let Some(v) = self.camera_xyz {
            let dirs = UInt8Array::from(v.0.map(|d| d as u8).to_vec());
            out.push((CAMERA_XYZ, Arc::new(fixed(dirs))));
        }
        if let Some(f) = &self.child_frame {
            out.push((CHILD_FRAME, one_str(f)));
        }
        if let Some(c) = self.color {
            out.push((COLOR, Arc::new(UInt32Array::from(vec![c]))));
        }
        out.push((
            IMAGE_FROM_CAMERA,
            Arc::new(fixed_f32(self.image_from_camera)),
        ));
        if let Some(d) = self.image_plane_distance {
            out.push((IMAGE_PLANE_DISTANCE, one_f32(d)));
        }
        if let Some(w) = self.line_width {
            out.push((LINE_WIDTH, one_f32(w)));
        }
        if let Some(f) = &self.parent_frame {
            out.push((PARENT_FRAME, one_str(f)));
        }
        if let Some(r) = self.resolution {
            out.push((RESOLUTION, Arc::new(fixed_f32(r))));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, FixedSizeListArray, Float32Array};
    use arrow_schema::{DataType, Field};

    fn fsl(item: DataType, n: i32) -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", item, false)), n)
    }

    fn values(a: &ArrayRef) -> Vec<f32> {
        let fsl = a.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        let v = fsl.values().as_any().downcast_ref::<Float32Array>();
        v.unwrap().values().to_vec()
    }

    /// Types and descriptors as the Python SDK 0.41 writes them (from its `.rrd` dump).
    #[test]
    fn components_are_typed_as_the_sdk_writes_them() {
        let p = Pinhole::new([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
            .with_resolution([640.0, 480.0])
            .with_camera_xyz(ViewCoordinates::RDF)
            .with_image_plane_distance(2.0)
            .with_color(0xff00_00ff)
            .with_line_width(3.0)
            .with_child_frame("c")
            .with_parent_frame("p");
        let columns = p.as_components().unwrap();
        let got: Vec<(String, String, DataType)> = columns
            .iter()
            .map(|(d, a)| {
                assert_eq!(d.archetype.as_deref(), Some("rerun.archetypes.Pinhole"));
                assert_eq!(a.len(), 1);
                (
                    d.component.to_string(),
                    d.component_type.as_deref().unwrap().to_string(),
                    a.data_type().clone(),
                )
            })
            .collect();
        let expected = [
            (
                "Pinhole:camera_xyz",
                "rerun.components.ViewCoordinates",
                fsl(DataType::UInt8, 3),
            ),
            (
                "Pinhole:child_frame",
                "rerun.components.TransformFrameId",
                DataType::Utf8,
            ),
            ("Pinhole:color", "rerun.components.Color", DataType::UInt32),
            (
                "Pinhole:image_from_camera",
                "rerun.components.PinholeProjection",
                fsl(DataType::Float32, 9),
            ),
            (
                "Pinhole:image_plane_distance",
                "rerun.components.ImagePlaneDistance",
                DataType::Float32,
            ),
            (
                "Pinhole:line_width",
                "rerun.components.Radius",
                DataType::Float32,
            ),
            (
                "Pinhole:parent_frame",
                "rerun.components.TransformFrameId",
                DataType::Utf8,
            ),
            (
                "Pinhole:resolution",
                "rerun.components.Resolution",
                fsl(DataType::Float32, 2),
            ),
        ];
        let expected: Vec<(String, String, DataType)> = expected
            .into_iter()
            .map(|(c, t, d)| (c.to_string(), t.to_string(), d))
            .collect();
        assert_eq!(got, expected);
        // Values from the SDK's dump: column-major projection, RDF = [3, 2, 5].
        assert_eq!(
            values(&columns[3].1),
            [500.0, 0.0, 0.0, 0.0, 500.0, 0.0, 320.0, 240.0, 1.0]
        );
        let xyz = columns[0].1.as_any().downcast_ref::<FixedSizeListArray>();
        let xyz = xyz.unwrap().values().as_any().downcast_ref::<UInt8Array>();
        assert_eq!(xyz.unwrap().values().as_ref(), [3, 2, 5]);
    }

    #[test]
    fn only_the_projection_is_required() {
        let columns = Pinhole::new([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
            .as_components()
            .unwrap();
        assert_eq!(columns.len(), 1);
        assert_eq!(
            values(&columns[0].1),
            [1.0, 4.0, 7.0, 2.0, 5.0, 8.0, 3.0, 6.0, 9.0]
        );
    }

    #[test]
    fn focal_length_is_written_as_the_sdk_writes_it() {
        // SDK: Pinhole(focal_length=[500, 400], principal_point=[300, 200], resolution=[640, 480])
        // and Pinhole(focal_length=100.0, resolution=[64, 48]) → [100,0,0, 0,100,0, 32,24,1].
        let p = Pinhole::from_focal_length_and_resolution([100.0, 100.0], [64.0, 48.0]);
        let columns = p.as_components().unwrap();
        assert_eq!(
            values(&columns[0].1),
            [100.0, 0.0, 0.0, 0.0, 100.0, 0.0, 32.0, 24.0, 1.0]
        );
        assert_eq!(values(&columns[1].1), [64.0, 48.0]);
    }

    #[test]
    fn view_directions_are_the_sdks() {
        use ViewDir::*;
        let sdk = [
            (Up, 1),
            (Down, 2),
            (Right, 3),
            (Left, 4),
            (Forward, 5),
            (Back, 6),
        ];
        for (d, v) in sdk {
            assert_eq!(d as u8, v);
        }
        // From the SDK: RUB = [3, 1, 6], FLU = [5, 4, 1], BRU = [6, 3, 1].
        assert_eq!(ViewCoordinates::RUB.dirs().map(|d| d as u8), [3, 1, 6]);
        assert_eq!(ViewCoordinates::FLU.dirs().map(|d| d as u8), [5, 4, 1]);
        assert_eq!(ViewCoordinates::BRU.dirs().map(|d| d as u8), [6, 3, 1]);
        // Every constant's name spells its directions, and they span three axes; the SDK
        // has these 48.
        assert_eq!(ALL_VIEW_COORDINATES.len(), 48);
        for (name, v) in ALL_VIEW_COORDINATES {
            let letters: String = v
                .dirs()
                .iter()
                .map(|d| match d {
                    Up => 'U',
                    Down => 'D',
                    Right => 'R',
                    Left => 'L',
                    Forward => 'F',
                    Back => 'B',
                })
                .collect();
            assert_eq!(&letters, name);
            let mut axes = v.dirs().map(|d| (d as u8).div_ceil(2));
            axes.sort_unstable();
            assert_eq!(axes, [1, 2, 3], "{name}");
        }
    }
}
