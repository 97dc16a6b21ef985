//! Camera images: the `Image`, `DepthImage` and `EncodedImage` archetypes
//! (`rerun.archetypes.*`) and the types they share (image format, color model, channel
//! datatype, pixel format, colormap, magnification filter, media type).
//!
//! Written as the official Python SDK 0.41 writes them: the pixels of one image are one blob
//! of bytes (`list<item: uint8 not null>`), in native (little-endian) byte order, beside an
//! `ImageFormat` struct saying how to read them; optional fields only when set; columns
//! sorted by component name. Pixels given as an owned `Vec` (of any element type) or a
//! [`Loan`](crate::Loan) become that blob **without copying**.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float64Array, ListArray, StringArray, StructArray, UInt8Array,
    UInt32Array,
};
use arrow_buffer::{ArrowNativeType, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields};

use super::{ArchetypeError, Values};
use super::{fixed, one_f32, one_u8, sorted_by_name};
use crate::chunk::{AsComponents, ComponentDescriptor};

mod descriptors {
    component_descriptors!("Image" {
        IMAGE_BUFFER: "buffer" => "ImageBuffer",
        IMAGE_DRAW_ORDER: "draw_order" => "DrawOrder",
        IMAGE_FORMAT: "format" => "ImageFormat",
        IMAGE_MAGNIFICATION_FILTER: "magnification_filter" => "MagnificationFilter",
        IMAGE_OPACITY: "opacity" => "Opacity",
    });
    component_descriptors!("DepthImage" {
        DEPTH_BUFFER: "buffer" => "ImageBuffer",
        DEPTH_COLORMAP: "colormap" => "Colormap",
        DEPTH_DEPTH_RANGE: "depth_range" => "ValueRange",
        DEPTH_DRAW_ORDER: "draw_order" => "DrawOrder",
        DEPTH_FORMAT: "format" => "ImageFormat",
        DEPTH_MAGNIFICATION_FILTER: "magnification_filter" => "MagnificationFilter",
        DEPTH_METER: "meter" => "DepthMeter",
        DEPTH_POINT_FILL_RATIO: "point_fill_ratio" => "FillRatio",
    });
    component_descriptors!("EncodedImage" {
        ENCODED_BLOB: "blob" => "Blob",
        ENCODED_DRAW_ORDER: "draw_order" => "DrawOrder",
        ENCODED_MAGNIFICATION_FILTER: "magnification_filter" => "MagnificationFilter",
        ENCODED_MEDIA_TYPE: "media_type" => "MediaType",
        ENCODED_OPACITY: "opacity" => "Opacity",
    });
}
use descriptors::*;

/// How the channels of a pixel are to be read (Rerun's `ColorModel`, stored as its `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ColorModel {
    /// Grayscale luminance, one channel (`L` = 1).
    L = 1,
    /// Red, green, blue (`RGB` = 2).
    Rgb = 2,
    /// Red, green, blue, alpha (`RGBA` = 3).
    Rgba = 3,
    /// Blue, green, red (`BGR` = 4).
    Bgr = 4,
    /// Blue, green, red, alpha (`BGRA` = 5).
    Bgra = 5,
}

impl ColorModel {
    /// Channels per pixel.
    pub const fn num_channels(self) -> usize {
        match self {
            Self::L => 1,
            Self::Rgb | Self::Bgr => 3,
            Self::Rgba | Self::Bgra => 4,
        }
    }
}

/// The type of one channel value (Rerun's `ChannelDatatype`, stored as its `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ChannelDatatype {
    /// `u8` (6).
    U8 = 6,
    /// `i8` (7).
    I8 = 7,
    /// `u16` (8).
    U16 = 8,
    /// `i16` (9).
    I16 = 9,
    /// `u32` (10).
    U32 = 10,
    /// `i32` (11).
    I32 = 11,
    /// `u64` (12).
    U64 = 12,
    /// `i64` (13).
    I64 = 13,
    /// IEEE half-precision float (33); give its bytes to
    /// [`Image::from_color_model_and_bytes`].
    F16 = 33,
    /// `f32` (34).
    F32 = 34,
    /// `f64` (35).
    F64 = 35,
}

impl ChannelDatatype {
    /// Bytes of one channel value.
    pub const fn num_bytes(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 | Self::F16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }
}

/// A pixel layout that color model and channel datatype cannot describe: chroma-subsampled
/// YUV and raw Bayer mosaics, 8 bits per sample (Rerun's `PixelFormat`, stored as its `u8`;
/// the SDK's names are given with each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PixelFormat {
    /// `Y_U_V12_LimitedRange` (20): I420, planar YUV 4:2:0 (a Y plane, then U and V at half
    /// width and height), limited range.
    Yuv12LimitedRange = 20,
    /// `NV12` (26): YUV 4:2:0, a Y plane then one plane of interleaved U, V; limited range.
    Nv12 = 26,
    /// `YUY2` (27): YUV 4:2:2 interleaved as Y0 U0 Y1 V0; limited range.
    Yuy2 = 27,
    /// `Y8_FullRange` (30): a Y plane only (gray), full range.
    Y8FullRange = 30,
    /// `Y_U_V24_LimitedRange` (39): I444, planar YUV 4:4:4, limited range.
    Yuv24LimitedRange = 39,
    /// `Y_U_V24_FullRange` (40): I444, planar YUV 4:4:4, full range.
    Yuv24FullRange = 40,
    /// `Y8_LimitedRange` (41): a Y plane only (gray), limited range.
    Y8LimitedRange = 41,
    /// `Y_U_V12_FullRange` (44): I420, planar YUV 4:2:0, full range.
    Yuv12FullRange = 44,
    /// `Y_U_V16_LimitedRange` (49): I422, planar YUV 4:2:2 (U and V at half width), limited
    /// range.
    Yuv16LimitedRange = 49,
    /// `Y_U_V16_FullRange` (50): I422, planar YUV 4:2:2, full range.
    Yuv16FullRange = 50,
    /// `BayerRGGB8` (128): raw Bayer mosaic, RGGB pattern, one byte per pixel.
    BayerRggb8 = 128,
    /// `BayerBGGR8` (129): raw Bayer mosaic, BGGR pattern, one byte per pixel.
    BayerBggr8 = 129,
    /// `BayerGBRG8` (130): raw Bayer mosaic, GBRG pattern, one byte per pixel.
    BayerGbrg8 = 130,
    /// `BayerGRBG8` (131): raw Bayer mosaic, GRBG pattern, one byte per pixel.
    BayerGrbg8 = 131,
}

impl PixelFormat {
    /// Bytes of a `[width, height]` image in this format, as the viewer lays its planes out
    /// (4:2:0 formats: `width × (height + height / 2)`; 4:2:2: `2 × width × height`; 4:4:4:
    /// `3 × width × height`; Y8 and Bayer: `width × height`). None if that overflows.
    pub fn num_bytes(self, [width, height]: [u32; 2]) -> Option<usize> {
        let (w, h) = (width as usize, height as usize);
        match self {
            Self::Yuv12LimitedRange | Self::Yuv12FullRange | Self::Nv12 => {
                w.checked_mul(h.checked_add(h / 2)?)
            }
            Self::Yuv16LimitedRange | Self::Yuv16FullRange | Self::Yuy2 => {
                w.checked_mul(h)?.checked_mul(2)
            }
            Self::Yuv24LimitedRange | Self::Yuv24FullRange => w.checked_mul(h)?.checked_mul(3),
            Self::Y8FullRange
            | Self::Y8LimitedRange
            | Self::BayerRggb8
            | Self::BayerBggr8
            | Self::BayerGbrg8
            | Self::BayerGrbg8 => w.checked_mul(h),
        }
    }
}

/// How the viewer samples an image shown larger than its pixels (Rerun's
/// `MagnificationFilter`, stored as its `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MagnificationFilter {
    /// Nearest pixel (1): the viewer's default.
    Nearest = 1,
    /// Linear interpolation (2).
    Linear = 2,
    /// Bicubic interpolation (3).
    Bicubic = 3,
}

/// A color map for depth values (Rerun's `Colormap`, stored as its `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Colormap {
    /// Grayscale (1).
    Grayscale = 1,
    /// Inferno (2).
    Inferno = 2,
    /// Magma (3).
    Magma = 3,
    /// Plasma (4).
    Plasma = 4,
    /// Turbo (5), the viewer's default for depth.
    Turbo = 5,
    /// Viridis (6).
    Viridis = 6,
    /// Cyan to yellow (7).
    CyanToYellow = 7,
    /// Spectral (8).
    Spectral = 8,
    /// Twilight (9).
    Twilight = 9,
    /// RViz's map (10).
    RvizMap = 10,
    /// RViz's costmap (11).
    RvizCostmap = 11,
    /// Costmap (12).
    Costmap = 12,
}

/// How to read an image's bytes (`rerun.components.ImageFormat`): its size and either a
/// pixel format or a color model and channel datatype (a depth image has only the
/// datatype). Stored as `struct<width: uint32 not null, height: uint32 not null,
/// pixel_format: uint8, color_model: uint8, channel_datatype: uint8>`, unset fields null.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageFormat {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Set for chroma-subsampled and Bayer formats (then the other two are not).
    pub pixel_format: Option<PixelFormat>,
    /// How channels are read (not set for depth images).
    pub color_model: Option<ColorModel>,
    /// The type of one channel value.
    pub channel_datatype: Option<ChannelDatatype>,
}

impl ImageFormat {
    /// Bytes an image of this format holds, or None if that overflows `usize`. Without a
    /// pixel format: width × height × channels (1 without a color model) × channel bytes
    /// (1 without a datatype).
    pub fn num_bytes(&self) -> Option<usize> {
        if let Some(p) = self.pixel_format {
            return p.num_bytes([self.width, self.height]);
        }
        let channels = self.color_model.map_or(1, ColorModel::num_channels);
        let bytes = self.channel_datatype.map_or(1, ChannelDatatype::num_bytes);
        (self.width as usize)
            .checked_mul(self.height as usize)?
            .checked_mul(channels)?
            .checked_mul(bytes)
    }

    fn to_array(self) -> ArrayRef {
        Self::array_of(&[self])
    }

    /// Many formats as one `rerun.components.ImageFormat` array, one instance each (what a
    /// column of images sent with `send_columns` needs), unset fields null.
    ///
    /// ```
    /// use arrow_array::{Array, StructArray};
    /// use spate::archetype::{ChannelDatatype, ColorModel, ImageFormat};
    ///
    /// let rgb = ImageFormat {
    ///     width: 640,
    ///     height: 480,
    ///     pixel_format: None,
    ///     color_model: Some(ColorModel::Rgb),
    ///     channel_datatype: Some(ChannelDatatype::U8),
    /// };
    /// let depth = ImageFormat { color_model: None, channel_datatype: Some(ChannelDatatype::U16), ..rgb };
    /// let array = ImageFormat::array_of(&[rgb, depth]);
    /// let formats = array.as_any().downcast_ref::<StructArray>().unwrap();
    /// assert_eq!(formats.len(), 2);
    /// assert!(formats.column_by_name("color_model").unwrap().is_null(1));
    /// ```
    pub fn array_of(formats: &[ImageFormat]) -> ArrayRef {
        let u8_field = |name| Field::new(name, DataType::UInt8, true);
        let fields = Fields::from(vec![
            Field::new("width", DataType::UInt32, false),
            Field::new("height", DataType::UInt32, false),
            u8_field("pixel_format"),
            u8_field("color_model"),
            u8_field("channel_datatype"),
        ]);
        let u8s = |value: fn(&ImageFormat) -> Option<u8>| -> ArrayRef {
            Arc::new(formats.iter().map(value).collect::<UInt8Array>())
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(formats.iter().map(|f| f.width).collect::<UInt32Array>()),
            Arc::new(formats.iter().map(|f| f.height).collect::<UInt32Array>()),
            u8s(|f| f.pixel_format.map(|v| v as u8)),
            u8s(|f| f.color_model.map(|v| v as u8)),
            u8s(|f| f.channel_datatype.map(|v| v as u8)),
        ];
        // Lengths and types match the fields by construction.
        Arc::new(StructArray::new(fields, columns, None))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A channel value type of an image: its [`ChannelDatatype`] follows from the type.
/// Implemented for `u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`, `f32` and `f64`.
pub trait ImageElement: ArrowNativeType + sealed::Sealed {
    /// The datatype written into the image's format.
    const DATATYPE: ChannelDatatype;
}

macro_rules! image_element {
    ($($t:ty => $d:ident),*) => {$(
        impl sealed::Sealed for $t {}
        impl ImageElement for $t {
            const DATATYPE: ChannelDatatype = ChannelDatatype::$d;
        }
    )*};
}
image_element!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32,
    u64 => U64, i64 => I64, f32 => F32, f64 => F64);

/// The bytes of typed values: the same allocation, reinterpreted (no copy).
fn bytes_of<T: ArrowNativeType>(values: Values<T>) -> ScalarBuffer<u8> {
    ScalarBuffer::from(values.0.into_inner())
}

/// Checks that `bytes` is what `format` calls for, and fits one Arrow list.
fn check_size(
    component: &'static str,
    bytes: &ScalarBuffer<u8>,
    format: &ImageFormat,
) -> Result<(), ArchetypeError> {
    let found = bytes.len();
    let expected = format
        .num_bytes()
        .ok_or(ArchetypeError::TooLarge { component, found })?;
    if found != expected {
        return Err(ArchetypeError::BufferSize {
            component,
            expected,
            found,
        });
    }
    if i32::try_from(found).is_err() {
        return Err(ArchetypeError::TooLarge { component, found });
    }
    Ok(())
}

/// One blob instance: `list<item: uint8 not null>` over `bytes`, without copying them.
fn blob(component: &'static str, bytes: &ScalarBuffer<u8>) -> Result<ArrayRef, ArchetypeError> {
    let found = bytes.len();
    let len = i32::try_from(found).map_err(|_| ArchetypeError::TooLarge { component, found })?;
    let field = Arc::new(Field::new_list_field(DataType::UInt8, false));
    let values = Arc::new(UInt8Array::new(bytes.clone(), None));
    let list = ListArray::try_new(
        field,
        OffsetBuffer::new(ScalarBuffer::from(vec![0, len])),
        values,
        None,
    )
    .map_err(|e| ArchetypeError::Invalid {
        component,
        reason: e.to_string(),
    })?;
    Ok(Arc::new(list))
}

/// How the viewer draws an image, whatever its kind: draw order, magnification filter and
/// (for color and encoded images) opacity, each written only when set.
#[derive(Clone, Copy, Debug, Default)]
struct ImageDisplay {
    draw_order: Option<f32>,
    magnification_filter: Option<MagnificationFilter>,
    opacity: Option<f32>,
}

/// The descriptors of one archetype's [`ImageDisplay`] components (`None`: it has none).
struct ImageDisplayDescriptors {
    draw_order: ComponentDescriptor,
    magnification_filter: ComponentDescriptor,
    opacity: Option<ComponentDescriptor>,
}

impl ImageDisplay {
    /// Appends the components that are set; the caller sorts the row by name.
    fn push_components(
        &self,
        names: &ImageDisplayDescriptors,
        out: &mut Vec<(ComponentDescriptor, ArrayRef)>,
    ) {
        if let Some(d) = self.draw_order {
            out.push((names.draw_order.clone(), one_f32(d)));
        }
        if let Some(f) = self.magnification_filter {
            out.push((names.magnification_filter.clone(), one_u8(f as u8)));
        }
        if let (Some(o), Some(name)) = (self.opacity, &names.opacity) {
            out.push((name.clone(), one_f32(o)));
        }
    }
}

/// The `with_*` builders of an image archetype's [`ImageDisplay`] (its field `display`),
/// documented with the archetype's component names; `with_opacity` only when `opacity` is
/// named.
macro_rules! image_display_builders {
    ($archetype:literal $(, $opacity:ident)?) => {
        $(image_display_builders!(@ $opacity $archetype);)?

        #[doc = concat!("2D drawing order: higher is drawn on top (`", $archetype, ":draw_order`).")]
        pub fn with_draw_order(mut self, draw_order: f32) -> Self {
            self.display.draw_order = Some(draw_order);
            self
        }

        #[doc = concat!(
            "How the viewer samples the image when magnified (`",
            $archetype,
            ":magnification_filter`)."
        )]
        pub fn with_magnification_filter(mut self, filter: MagnificationFilter) -> Self {
            self.display.magnification_filter = Some(filter);
            self
        }
    };
    (@ opacity $archetype:literal) => {
        #[doc = concat!("Opacity in 0..=1 (`", $archetype, ":opacity`).")]
        pub fn with_opacity(mut self, opacity: f32) -> Self {
            self.display.opacity = Some(opacity);
            self
        }
    };
}

const IMAGE_DISPLAY: ImageDisplayDescriptors = ImageDisplayDescriptors {
    draw_order: IMAGE_DRAW_ORDER,
    magnification_filter: IMAGE_MAGNIFICATION_FILTER,
    opacity: Some(IMAGE_OPACITY),
};
const DEPTH_DISPLAY: ImageDisplayDescriptors = ImageDisplayDescriptors {
    draw_order: DEPTH_DRAW_ORDER,
    magnification_filter: DEPTH_MAGNIFICATION_FILTER,
    opacity: None,
};
const ENCODED_DISPLAY: ImageDisplayDescriptors = ImageDisplayDescriptors {
    draw_order: ENCODED_DRAW_ORDER,
    magnification_filter: ENCODED_MAGNIFICATION_FILTER,
    opacity: Some(ENCODED_OPACITY),
};

/// A raw image: pixels as bytes, and the [`ImageFormat`] that says how to read them.
///
/// From an owned `Vec` or a [`Loan`](crate::Loan), **without copying** the pixels, whatever
/// their element type; the byte count is checked against width, height and format.
///
/// ```
/// use spate::archetype::{ColorModel, Image, PixelFormat};
/// use spate::{ArchetypeError, EntityPath, Recording};
///
/// let rec = Recording::builder("camera").start()?;
/// // 8-bit RGB, row-major, 3 bytes per pixel.
/// let rgb = vec![0u8; 640 * 480 * 3];
/// rec.log(&EntityPath::parse("cam/rgb")?, &Image::from_color_model(rgb, [640, 480], ColorModel::Rgb)?)?;
/// // 32-bit float grayscale: the datatype follows from the element type.
/// let gray = vec![0.5f32; 64 * 48];
/// rec.log(&EntityPath::parse("cam/gray")?, &Image::from_elements(gray, [64, 48], ColorModel::L)?)?;
/// // NV12 straight from a camera driver: 1.5 bytes per pixel.
/// let nv12 = vec![128u8; 640 * 480 * 3 / 2];
/// rec.log(&EntityPath::parse("cam/nv12")?, &Image::from_pixel_format(nv12, [640, 480], PixelFormat::Nv12)?)?;
///
/// let short = Image::from_color_model(vec![0u8; 10], [4, 4], ColorModel::Rgb);
/// assert_eq!(short.unwrap_err(), ArchetypeError::BufferSize { component: "Image:buffer", expected: 48, found: 10 });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Image {
    buffer: ScalarBuffer<u8>,
    format: ImageFormat,
    display: ImageDisplay,
}

impl Image {
    const BUFFER: &'static str = "Image:buffer";

    fn with_format(buffer: ScalarBuffer<u8>, format: ImageFormat) -> Result<Self, ArchetypeError> {
        check_size(Self::BUFFER, &buffer, &format)?;
        Ok(Self {
            buffer,
            format,
            display: ImageDisplay::default(),
        })
    }

    /// An 8-bit image of `[width, height]` pixels, row-major, channels interleaved as the
    /// color model says. Fails with [`ArchetypeError::BufferSize`] unless `pixels` holds
    /// `width × height × channels` bytes.
    pub fn from_color_model(
        pixels: impl Into<Values<u8>>,
        resolution: [u32; 2],
        color_model: ColorModel,
    ) -> Result<Self, ArchetypeError> {
        Self::from_elements(pixels, resolution, color_model)
    }

    /// An image of channel values of type `T` (`u16`, `f32`, …; the datatype follows from
    /// `T`), row-major, channels interleaved. An owned `Vec<T>` or a `Loan<T>` becomes the
    /// image's bytes without copying. Fails with [`ArchetypeError::BufferSize`] unless it
    /// holds `width × height × channels` values.
    ///
    /// ```
    /// use spate::archetype::{ColorModel, Image};
    /// let depth_like = vec![1000u16; 4 * 3];
    /// let image = Image::from_elements(depth_like, [4, 3], ColorModel::L)?;
    /// assert_eq!(image.format().channel_datatype, Some(spate::archetype::ChannelDatatype::U16));
    /// # Ok::<(), spate::ArchetypeError>(())
    /// ```
    pub fn from_elements<T: ImageElement>(
        values: impl Into<Values<T>>,
        [width, height]: [u32; 2],
        color_model: ColorModel,
    ) -> Result<Self, ArchetypeError> {
        Self::with_format(
            bytes_of(values.into()),
            ImageFormat {
                width,
                height,
                pixel_format: None,
                color_model: Some(color_model),
                channel_datatype: Some(T::DATATYPE),
            },
        )
    }

    /// An image from its bytes, with the channel datatype given (e.g.
    /// [`ChannelDatatype::F16`], which has no Rust element type here).
    pub fn from_color_model_and_bytes(
        bytes: impl Into<Values<u8>>,
        [width, height]: [u32; 2],
        color_model: ColorModel,
        datatype: ChannelDatatype,
    ) -> Result<Self, ArchetypeError> {
        Self::with_format(
            bytes.into().0,
            ImageFormat {
                width,
                height,
                pixel_format: None,
                color_model: Some(color_model),
                channel_datatype: Some(datatype),
            },
        )
    }

    /// A chroma-subsampled or Bayer image: the format's planes as one byte buffer. Fails
    /// with [`ArchetypeError::BufferSize`] unless it holds
    /// [`PixelFormat::num_bytes`] bytes.
    pub fn from_pixel_format(
        bytes: impl Into<Values<u8>>,
        [width, height]: [u32; 2],
        pixel_format: PixelFormat,
    ) -> Result<Self, ArchetypeError> {
        Self::with_format(
            bytes.into().0,
            ImageFormat {
                width,
                height,
                pixel_format: Some(pixel_format),
                color_model: None,
                channel_datatype: None,
            },
        )
    }

    image_display_builders!("Image", opacity);

    /// How the bytes are read.
    pub fn format(&self) -> ImageFormat {
        self.format
    }
}

impl AsComponents for Image {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        let mut out = Vec::with_capacity(5);
        out.push((IMAGE_BUFFER, blob(Self::BUFFER, &self.buffer)?));
        out.push((IMAGE_FORMAT, self.format.to_array()));
        self.display.push_components(&IMAGE_DISPLAY, &mut out);
        Ok(sorted_by_name(out))
    }
}

/// A depth image: one distance per pixel, row-major, in any [`ImageElement`] type (`u16`
/// millimeters and `f32` meters are the usual ones), taken **without copying** from an
/// owned `Vec` or a [`Loan`](crate::Loan). [`with_meter`](Self::with_meter) says how many
/// units make a meter.
///
/// ```
/// use spate::archetype::{Colormap, DepthImage};
/// use spate::{EntityPath, Recording};
///
/// let rec = Recording::builder("camera").start()?;
/// let mut depth = rec.loan_u16(640 * 480);     // pooled, warm memory
/// depth.fill(1500);                             // 1.5 m in millimeters
/// let image = DepthImage::new(depth, [640, 480])?
///     .with_meter(1000.0)
///     .with_colormap(Colormap::Turbo);
/// rec.log(&EntityPath::parse("cam/depth")?, &image)?;
///
/// assert!(DepthImage::new(vec![0.0f32; 10], [4, 4]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DepthImage {
    buffer: ScalarBuffer<u8>,
    format: ImageFormat,
    meter: Option<f32>,
    colormap: Option<Colormap>,
    depth_range: Option<[f64; 2]>,
    point_fill_ratio: Option<f32>,
    display: ImageDisplay,
}

impl DepthImage {
    const BUFFER: &'static str = "DepthImage:buffer";

    /// A depth image of `[width, height]` pixels, one value each. Fails with
    /// [`ArchetypeError::BufferSize`] unless `values` holds `width × height` of them.
    pub fn new<T: ImageElement>(
        values: impl Into<Values<T>>,
        [width, height]: [u32; 2],
    ) -> Result<Self, ArchetypeError> {
        let buffer = bytes_of(values.into());
        let format = ImageFormat {
            width,
            height,
            pixel_format: None,
            color_model: None,
            channel_datatype: Some(T::DATATYPE),
        };
        check_size(Self::BUFFER, &buffer, &format)?;
        Ok(Self {
            buffer,
            format,
            meter: None,
            colormap: None,
            depth_range: None,
            point_fill_ratio: None,
            display: ImageDisplay::default(),
        })
    }

    /// Units per meter (`DepthImage:meter`): 1000 for millimeters, 1 for meters.
    pub fn with_meter(mut self, meter: f32) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The color map for display (`DepthImage:colormap`).
    pub fn with_colormap(mut self, colormap: Colormap) -> Self {
        self.colormap = Some(colormap);
        self
    }

    /// The depth values that map to the colormap's ends, `[min, max]` in the image's units
    /// (`DepthImage:depth_range`, stored as `f64`).
    pub fn with_depth_range(mut self, range: [f64; 2]) -> Self {
        self.depth_range = Some(range);
        self
    }

    /// Size of the points of the 3D point cloud drawn from the image, relative to their
    /// spacing (`DepthImage:point_fill_ratio`).
    pub fn with_point_fill_ratio(mut self, ratio: f32) -> Self {
        self.point_fill_ratio = Some(ratio);
        self
    }

    image_display_builders!("DepthImage");

    /// How the bytes are read.
    pub fn format(&self) -> ImageFormat {
        self.format
    }
}

impl AsComponents for DepthImage {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        let mut out = Vec::with_capacity(8);
        out.push((DEPTH_BUFFER, blob(Self::BUFFER, &self.buffer)?));
        out.push((DEPTH_FORMAT, self.format.to_array()));
        self.display.push_components(&DEPTH_DISPLAY, &mut out);
        if let Some(c) = self.colormap {
            out.push((DEPTH_COLORMAP, one_u8(c as u8)));
        }
        if let Some(r) = self.depth_range {
            let range: FixedSizeListArray = fixed(Float64Array::from(r.to_vec()));
            out.push((DEPTH_DEPTH_RANGE, Arc::new(range) as ArrayRef));
        }
        if let Some(m) = self.meter {
            out.push((DEPTH_METER, one_f32(m)));
        }
        if let Some(r) = self.point_fill_ratio {
            out.push((DEPTH_POINT_FILL_RATIO, one_f32(r)));
        }
        Ok(sorted_by_name(out))
    }
}

/// The media (MIME) type of an encoded image (`rerun.components.MediaType`, stored as
/// `utf8`), e.g. [`MediaType::JPEG`]; any other string converts into one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MediaType(Cow<'static, str>);

impl MediaType {
    /// `image/jpeg`.
    pub const JPEG: Self = Self(Cow::Borrowed("image/jpeg"));
    /// `image/png`.
    pub const PNG: Self = Self(Cow::Borrowed("image/png"));

    /// The type as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for MediaType {
    fn from(s: &str) -> Self {
        Self(Cow::Owned(s.to_owned()))
    }
}

impl From<String> for MediaType {
    fn from(s: String) -> Self {
        Self(Cow::Owned(s))
    }
}

/// A compressed image (JPEG, PNG, …) as its file's bytes, decoded by the viewer; taken
/// **without copying** from an owned `Vec<u8>` or a [`Loan`](crate::Loan).
///
/// Give its [media type](Self::with_media_type): without one the viewer has to guess from
/// the contents (the Python SDK refuses contents without a media type).
///
/// ```
/// use spate::archetype::{EncodedImage, MediaType};
/// use spate::{EntityPath, Recording};
///
/// let rec = Recording::builder("camera").start()?;
/// let jpeg: Vec<u8> = vec![0xff, 0xd8, /* … */ 0xff, 0xd9];
/// rec.log(
///     &EntityPath::parse("cam/jpeg")?,
///     &EncodedImage::new(jpeg).with_media_type(MediaType::JPEG),
/// )?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct EncodedImage {
    blob: ScalarBuffer<u8>,
    media_type: Option<MediaType>,
    display: ImageDisplay,
}

impl EncodedImage {
    const BLOB: &'static str = "EncodedImage:blob";

    /// The encoded file's bytes (`EncodedImage:blob`).
    pub fn new(bytes: impl Into<Values<u8>>) -> Self {
        Self {
            blob: bytes.into().0,
            media_type: None,
            display: ImageDisplay::default(),
        }
    }

    /// The media type, e.g. [`MediaType::JPEG`] or `"image/jpeg"`
    /// (`EncodedImage:media_type`).
    pub fn with_media_type(mut self, media_type: impl Into<MediaType>) -> Self {
        self.media_type = Some(media_type.into());
        self
    }

    image_display_builders!("EncodedImage", opacity);
}

impl AsComponents for EncodedImage {
    fn as_components(&self) -> Result<Vec<(ComponentDescriptor, ArrayRef)>, ArchetypeError> {
        let mut out = Vec::with_capacity(5);
        out.push((ENCODED_BLOB, blob(Self::BLOB, &self.blob)?));
        self.display.push_components(&ENCODED_DISPLAY, &mut out);
        if let Some(m) = &self.media_type {
            let media_type: ArrayRef = Arc::new(StringArray::from(vec![m.as_str()]));
            out.push((ENCODED_MEDIA_TYPE, media_type));
        }
        Ok(sorted_by_name(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::BufferPool;
    use arrow_array::Array;

    fn fsl(item: DataType, n: i32) -> DataType {
        DataType::FixedSizeList(Arc::new(Field::new("item", item, false)), n)
    }

    /// `list<item: uint8 not null>`: one blob per instance.
    fn blob_type() -> DataType {
        DataType::List(Arc::new(Field::new("item", DataType::UInt8, false)))
    }

    fn format_type() -> DataType {
        DataType::Struct(Fields::from(vec![
            Field::new("width", DataType::UInt32, false),
            Field::new("height", DataType::UInt32, false),
            Field::new("pixel_format", DataType::UInt8, true),
            Field::new("color_model", DataType::UInt8, true),
            Field::new("channel_datatype", DataType::UInt8, true),
        ]))
    }

    /// (component, component type, Arrow type) of each column, after checking the
    /// archetype name and that each holds one instance.
    fn typed(
        archetype: &str,
        columns: &[(ComponentDescriptor, ArrayRef)],
    ) -> Vec<(String, String, DataType)> {
        columns
            .iter()
            .map(|(d, a)| {
                assert_eq!(d.archetype.as_deref(), Some(archetype));
                assert_eq!(a.len(), 1, "{}", d.component);
                (
                    d.component.to_string(),
                    d.component_type.as_deref().unwrap().to_string(),
                    a.data_type().clone(),
                )
            })
            .collect()
    }

    fn expect(rows: &[(&str, &str, DataType)]) -> Vec<(String, String, DataType)> {
        rows.iter()
            .map(|(c, t, d)| (c.to_string(), t.to_string(), d.clone()))
            .collect()
    }

    /// The blob's bytes, and the address of their first byte.
    fn blob_bytes(
        columns: &[(ComponentDescriptor, ArrayRef)],
        component: &str,
    ) -> (Vec<u8>, *const u8) {
        let (_, a) = columns
            .iter()
            .find(|(d, _)| d.component == component)
            .unwrap();
        let list = a.as_any().downcast_ref::<ListArray>().unwrap();
        let values = list.values().as_any().downcast_ref::<UInt8Array>().unwrap();
        (values.values().to_vec(), values.values().as_ptr())
    }

    /// The format struct's values (width, height, pixel format, color model, datatype).
    #[allow(clippy::type_complexity)]
    fn format_values(
        columns: &[(ComponentDescriptor, ArrayRef)],
        component: &str,
    ) -> (u32, u32, Option<u8>, Option<u8>, Option<u8>) {
        let (_, a) = columns
            .iter()
            .find(|(d, _)| d.component == component)
            .unwrap();
        let s = a.as_any().downcast_ref::<StructArray>().unwrap();
        let u32_at = |i: usize| {
            s.column(i)
                .as_any()
                .downcast_ref::<UInt32Array>()
                .unwrap()
                .value(0)
        };
        let u8_at = |i: usize| {
            let c = s.column(i).as_any().downcast_ref::<UInt8Array>().unwrap();
            c.is_valid(0).then(|| c.value(0))
        };
        (u32_at(0), u32_at(1), u8_at(2), u8_at(3), u8_at(4))
    }

    /// Types and descriptors as the Python SDK 0.41 writes them (from its `.rrd` dump).
    #[test]
    fn image_components_are_typed_as_the_sdk_writes_them() {
        let image = Image::from_color_model(vec![0u8; 18], [3, 2], ColorModel::Rgb)
            .unwrap()
            .with_opacity(0.5)
            .with_draw_order(3.0)
            .with_magnification_filter(MagnificationFilter::Linear);
        let columns = image.as_components().unwrap();
        assert_eq!(
            typed("rerun.archetypes.Image", &columns),
            expect(&[
                ("Image:buffer", "rerun.components.ImageBuffer", blob_type()),
                (
                    "Image:draw_order",
                    "rerun.components.DrawOrder",
                    DataType::Float32
                ),
                (
                    "Image:format",
                    "rerun.components.ImageFormat",
                    format_type()
                ),
                (
                    "Image:magnification_filter",
                    "rerun.components.MagnificationFilter",
                    DataType::UInt8
                ),
                (
                    "Image:opacity",
                    "rerun.components.Opacity",
                    DataType::Float32
                ),
            ])
        );
        assert_eq!(
            format_values(&columns, "Image:format"),
            (3, 2, None, Some(2), Some(6))
        );
        let plain = Image::from_color_model(vec![0u8; 6], [3, 2], ColorModel::L).unwrap();
        assert_eq!(
            plain.as_components().unwrap().len(),
            2,
            "buffer and format only"
        );
    }

    #[test]
    fn depth_components_are_typed_as_the_sdk_writes_them() {
        let depth = DepthImage::new(vec![0u16; 6], [3, 2])
            .unwrap()
            .with_meter(1000.0)
            .with_colormap(Colormap::Viridis)
            .with_depth_range([0.1, 5.0])
            .with_point_fill_ratio(0.5)
            .with_draw_order(2.0)
            .with_magnification_filter(MagnificationFilter::Nearest);
        let columns = depth.as_components().unwrap();
        assert_eq!(
            typed("rerun.archetypes.DepthImage", &columns),
            expect(&[
                (
                    "DepthImage:buffer",
                    "rerun.components.ImageBuffer",
                    blob_type()
                ),
                (
                    "DepthImage:colormap",
                    "rerun.components.Colormap",
                    DataType::UInt8
                ),
                (
                    "DepthImage:depth_range",
                    "rerun.components.ValueRange",
                    fsl(DataType::Float64, 2)
                ),
                (
                    "DepthImage:draw_order",
                    "rerun.components.DrawOrder",
                    DataType::Float32
                ),
                (
                    "DepthImage:format",
                    "rerun.components.ImageFormat",
                    format_type()
                ),
                (
                    "DepthImage:magnification_filter",
                    "rerun.components.MagnificationFilter",
                    DataType::UInt8
                ),
                (
                    "DepthImage:meter",
                    "rerun.components.DepthMeter",
                    DataType::Float32
                ),
                (
                    "DepthImage:point_fill_ratio",
                    "rerun.components.FillRatio",
                    DataType::Float32
                ),
            ])
        );
        // SDK: u16 depth → channel_datatype 8, no color model; f32 → 34.
        assert_eq!(
            format_values(&columns, "DepthImage:format"),
            (3, 2, None, None, Some(8))
        );
        let f = DepthImage::new(vec![0.5f32, 1.5], [2, 1]).unwrap();
        let columns = f.as_components().unwrap();
        assert_eq!(
            format_values(&columns, "DepthImage:format"),
            (2, 1, None, None, Some(34))
        );
        assert_eq!(
            blob_bytes(&columns, "DepthImage:buffer").0,
            [0, 0, 0, 63, 0, 0, 192, 63]
        );
    }

    #[test]
    fn encoded_components_are_typed_as_the_sdk_writes_them() {
        let image = EncodedImage::new(vec![0x89, b'P', b'N', b'G'])
            .with_media_type(MediaType::PNG)
            .with_opacity(0.25)
            .with_draw_order(1.0)
            .with_magnification_filter(MagnificationFilter::Linear);
        let columns = image.as_components().unwrap();
        assert_eq!(
            typed("rerun.archetypes.EncodedImage", &columns),
            expect(&[
                ("EncodedImage:blob", "rerun.components.Blob", blob_type()),
                (
                    "EncodedImage:draw_order",
                    "rerun.components.DrawOrder",
                    DataType::Float32
                ),
                (
                    "EncodedImage:magnification_filter",
                    "rerun.components.MagnificationFilter",
                    DataType::UInt8
                ),
                (
                    "EncodedImage:media_type",
                    "rerun.components.MediaType",
                    DataType::Utf8
                ),
                (
                    "EncodedImage:opacity",
                    "rerun.components.Opacity",
                    DataType::Float32
                ),
            ])
        );
        let media = columns[3].1.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(media.value(0), "image/png");
        assert_eq!(MediaType::JPEG.as_str(), "image/jpeg");
        assert_eq!(MediaType::from("image/jpeg"), MediaType::JPEG);
        assert_eq!(
            EncodedImage::new(vec![1u8]).as_components().unwrap().len(),
            1
        );
    }

    #[test]
    fn enum_values_are_the_sdks() {
        use ChannelDatatype as D;
        use PixelFormat as P;
        let color_models = [
            (ColorModel::L, 1, 1),
            (ColorModel::Rgb, 2, 3),
            (ColorModel::Rgba, 3, 4),
            (ColorModel::Bgr, 4, 3),
            (ColorModel::Bgra, 5, 4),
        ];
        for (m, v, channels) in color_models {
            assert_eq!((m as u8, m.num_channels()), (v, channels));
        }
        let datatypes = [
            (D::U8, 6, 1),
            (D::I8, 7, 1),
            (D::U16, 8, 2),
            (D::I16, 9, 2),
            (D::U32, 10, 4),
            (D::I32, 11, 4),
            (D::U64, 12, 8),
            (D::I64, 13, 8),
            (D::F16, 33, 2),
            (D::F32, 34, 4),
            (D::F64, 35, 8),
        ];
        for (d, v, bytes) in datatypes {
            assert_eq!((d as u8, d.num_bytes()), (v, bytes));
        }
        let pixel_formats = [
            (P::Yuv12LimitedRange, 20),
            (P::Nv12, 26),
            (P::Yuy2, 27),
            (P::Y8FullRange, 30),
            (P::Yuv24LimitedRange, 39),
            (P::Yuv24FullRange, 40),
            (P::Y8LimitedRange, 41),
            (P::Yuv12FullRange, 44),
            (P::Yuv16LimitedRange, 49),
            (P::Yuv16FullRange, 50),
            (P::BayerRggb8, 128),
            (P::BayerBggr8, 129),
            (P::BayerGbrg8, 130),
            (P::BayerGrbg8, 131),
        ];
        for (p, v) in pixel_formats {
            assert_eq!(p as u8, v);
        }
        use MagnificationFilter as M;
        assert_eq!(
            [M::Nearest as u8, M::Linear as u8, M::Bicubic as u8],
            [1, 2, 3]
        );
        use Colormap as C;
        let colormaps = [
            C::Grayscale,
            C::Inferno,
            C::Magma,
            C::Plasma,
            C::Turbo,
            C::Viridis,
            C::CyanToYellow,
            C::Spectral,
            C::Twilight,
            C::RvizMap,
            C::RvizCostmap,
            C::Costmap,
        ];
        assert_eq!(
            colormaps.map(|c| c as u8),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        let datatype_of = [
            u8::DATATYPE,
            i8::DATATYPE,
            u16::DATATYPE,
            i16::DATATYPE,
            u32::DATATYPE,
            i32::DATATYPE,
            u64::DATATYPE,
            i64::DATATYPE,
            f32::DATATYPE,
            f64::DATATYPE,
        ];
        assert_eq!(
            datatype_of,
            [
                D::U8,
                D::I8,
                D::U16,
                D::I16,
                D::U32,
                D::I32,
                D::U64,
                D::I64,
                D::F32,
                D::F64
            ]
        );
    }

    #[test]
    fn typed_pixels_are_their_native_bytes() {
        // SDK: np.array([[1, 258]], dtype=uint16) → buffer [1, 0, 2, 1].
        let image = Image::from_elements(vec![1u16, 258], [2, 1], ColorModel::L).unwrap();
        let columns = image.as_components().unwrap();
        assert_eq!(blob_bytes(&columns, "Image:buffer").0, [1, 0, 2, 1]);
        assert_eq!(
            format_values(&columns, "Image:format"),
            (2, 1, None, Some(1), Some(8))
        );
        let f = Image::from_elements(vec![0.0f32, 1.0], [2, 1], ColorModel::L).unwrap();
        let columns = f.as_components().unwrap();
        assert_eq!(
            blob_bytes(&columns, "Image:buffer").0,
            [0, 0, 0, 0, 0, 0, 128, 63]
        );
        assert_eq!(
            format_values(&columns, "Image:format"),
            (2, 1, None, Some(1), Some(34))
        );
    }

    #[test]
    fn pixel_format_images_have_only_the_pixel_format() {
        // SDK: NV12 → pixel_format 26, color model and datatype null.
        let nv12 = Image::from_pixel_format(vec![0u8; 72], [8, 6], PixelFormat::Nv12).unwrap();
        let columns = nv12.as_components().unwrap();
        assert_eq!(
            format_values(&columns, "Image:format"),
            (8, 6, Some(26), None, None)
        );
    }

    #[test]
    fn owned_and_loaned_pixels_are_not_copied() {
        let rgb = vec![7u8; 8 * 6 * 3];
        let ptr = rgb.as_ptr();
        let image = Image::from_color_model(rgb, [8, 6], ColorModel::Rgb).unwrap();
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "Image:buffer").1,
            ptr
        );

        let gray = vec![0.25f32; 4 * 3];
        let ptr = gray.as_ptr().cast::<u8>();
        let image = Image::from_elements(gray, [4, 3], ColorModel::L).unwrap();
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "Image:buffer").1,
            ptr
        );

        let depth = vec![1000u16; 5 * 4];
        let ptr = depth.as_ptr().cast::<u8>();
        let image = DepthImage::new(depth, [5, 4]).unwrap();
        let (bytes, at) = blob_bytes(&image.as_components().unwrap(), "DepthImage:buffer");
        assert_eq!((at, bytes.len()), (ptr, 40));

        let depth = vec![1.5f32; 5 * 4];
        let ptr = depth.as_ptr().cast::<u8>();
        let image = DepthImage::new(depth, [5, 4]).unwrap();
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "DepthImage:buffer").1,
            ptr
        );

        let nv12 = vec![16u8; 72];
        let ptr = nv12.as_ptr();
        let image = Image::from_pixel_format(nv12, [8, 6], PixelFormat::Nv12).unwrap();
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "Image:buffer").1,
            ptr
        );

        let jpeg = vec![0xffu8, 0xd8, 0xff, 0xd9];
        let ptr = jpeg.as_ptr();
        let image = EncodedImage::new(jpeg);
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "EncodedImage:blob").1,
            ptr
        );

        let pool = BufferPool::<u8>::new(2);
        let loan = pool.loan(8 * 6 * 3);
        let ptr = loan.as_ptr();
        let image = Image::from_color_model(loan, [8, 6], ColorModel::Rgb).unwrap();
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "Image:buffer").1,
            ptr
        );

        let pool = BufferPool::<u16>::new(2);
        let loan = pool.loan(5 * 4);
        let ptr = loan.as_ptr().cast::<u8>();
        let image = DepthImage::new(loan, [5, 4]).unwrap();
        assert_eq!(
            blob_bytes(&image.as_components().unwrap(), "DepthImage:buffer").1,
            ptr
        );
    }

    #[test]
    fn wrong_sizes_are_typed_errors() {
        let err = |component, expected, found| ArchetypeError::BufferSize {
            component,
            expected,
            found,
        };
        let short = Image::from_color_model(vec![0u8; 10], [4, 4], ColorModel::Rgb);
        assert_eq!(short.unwrap_err(), err("Image:buffer", 48, 10));
        let long = Image::from_elements(vec![0f32; 13], [4, 3], ColorModel::L);
        assert_eq!(long.unwrap_err(), err("Image:buffer", 48, 52));
        let rgba = Image::from_elements(vec![0u16; 11], [3, 1], ColorModel::Rgba);
        assert_eq!(rgba.unwrap_err(), err("Image:buffer", 24, 22));
        let depth = DepthImage::new(vec![0u16; 19], [5, 4]);
        assert_eq!(depth.unwrap_err(), err("DepthImage:buffer", 40, 38));
        let half = Image::from_color_model_and_bytes(
            vec![0u8; 6],
            [3, 1],
            ColorModel::L,
            ChannelDatatype::F16,
        );
        assert!(half.is_ok());
        let nv12 = Image::from_pixel_format(vec![0u8; 71], [8, 6], PixelFormat::Nv12);
        assert_eq!(nv12.unwrap_err(), err("Image:buffer", 72, 71));
    }

    #[test]
    fn pixel_format_sizes_follow_the_viewers_plane_layout() {
        use PixelFormat as P;
        let wh = [8, 6];
        for (p, bytes) in [
            (P::Nv12, 72),
            (P::Yuv12LimitedRange, 72),
            (P::Yuv12FullRange, 72),
            (P::Yuy2, 96),
            (P::Yuv16LimitedRange, 96),
            (P::Yuv16FullRange, 96),
            (P::Yuv24LimitedRange, 144),
            (P::Yuv24FullRange, 144),
            (P::Y8FullRange, 48),
            (P::Y8LimitedRange, 48),
            (P::BayerRggb8, 48),
            (P::BayerBggr8, 48),
            (P::BayerGbrg8, 48),
            (P::BayerGrbg8, 48),
        ] {
            assert_eq!(p.num_bytes(wh), Some(bytes), "{p:?}");
            assert!(Image::from_pixel_format(vec![0u8; bytes], wh, p).is_ok());
        }
        // Odd heights: the chroma rows of 4:2:0 round down, as the viewer's texture does.
        assert_eq!(P::Nv12.num_bytes([4, 3]), Some(4 * 4));
        assert_eq!(
            P::Nv12.num_bytes([u32::MAX, u32::MAX]),
            if cfg!(target_pointer_width = "64") {
                (u32::MAX as usize).checked_mul(u32::MAX as usize + u32::MAX as usize / 2)
            } else {
                None
            }
        );
    }
}
