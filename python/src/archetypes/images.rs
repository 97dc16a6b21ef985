//! `Image`, `DepthImage` and `EncodedImage`, with the official SDK's constructors.
//!
//! The pixels of a C-contiguous NumPy array in native byte order are taken **without
//! copying** (their bytes are viewed as `uint8`); anything else is converted once.

use pyo3::prelude::*;
use spate::archetype::{ChannelDatatype, Colormap, MagnificationFilter};

use super::Archetype;
use crate::columns::{Columns, ComponentColumnList};
use crate::convert::{
    bad_enum as bad, color_model_of, datatype_of, given, none_or, pixel_format_of,
};
use crate::{convert, errors};

/// How the viewer draws an image: draw order, magnification filter, opacity.
macro_rules! display {
    ($image:ident, $draw_order:expr, $magnification_filter:expr) => {{
        let mut i = $image;
        if let Some(d) = given($draw_order) {
            i = i.with_draw_order(d.extract::<f32>()?);
        }
        if let Some(f) = given($magnification_filter) {
            i = i.with_magnification_filter(magnification_filter(f)?);
        }
        i
    }};
}

/// A raw image: an array `(h, w)`, `(h, w, 3)` or `(h, w, 4)` of any channel type (the color
/// model follows from the shape unless given), or `bytes` with a width, height and either a
/// pixel format or a color model and datatype.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct Image;

#[pymethods]
impl Image {
    #[new]
    #[pyo3(signature = (image=None, color_model=None, *, pixel_format=None, datatype=None, bytes=None, width=None, height=None, opacity=None, draw_order=None, magnification_filter=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        py: Python<'_>,
        image: Option<&Bound<'_, PyAny>>,
        color_model: Option<&Bound<'_, PyAny>>,
        pixel_format: Option<&Bound<'_, PyAny>>,
        datatype: Option<&Bound<'_, PyAny>>,
        bytes: Option<&Bound<'_, PyAny>>,
        width: Option<&Bound<'_, PyAny>>,
        height: Option<&Bound<'_, PyAny>>,
        opacity: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        magnification_filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let args = [
            image,
            color_model,
            pixel_format,
            datatype,
            bytes,
            width,
            height,
        ]
        .map(|a| none_or(py, a));
        let (data, w, h, model, dtype, format): (
            Bound<'_, PyAny>,
            u32,
            u32,
            Option<u8>,
            Option<u8>,
            Option<u8>,
        ) = convert::call_helper(py, "image", pyo3::types::PyTuple::new(py, args)?)?.extract()?;
        let data = convert::buffer_of::<u8>(&data)?;
        let image = match (model, dtype, format) {
            (_, _, Some(f)) => spate::Image::from_pixel_format(data, [w, h], pixel_format_of(f)?),
            (Some(m), Some(d), None) => spate::Image::from_color_model_and_bytes(
                data,
                [w, h],
                color_model_of(m)?,
                datatype_of(d)?,
            ),
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "an image needs a pixel format, or a color model and a datatype",
                ));
            }
        }
        .map_err(errors::value)?;
        let mut image = display!(image, draw_order, magnification_filter);
        if let Some(o) = given(opacity) {
            image = image.with_opacity(o.extract()?);
        }
        Ok(PyClassInitializer::from(Archetype::of(image)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one image per row: `buffer` is a sequence of bytes-likes
    /// or an array with one image's bytes per row; `format` `rr.components.ImageFormat`s.
    #[staticmethod]
    #[pyo3(signature = (*, buffer=None, format=None, opacity=None, draw_order=None, magnification_filter=None))]
    fn columns(
        py: Python<'_>,
        buffer: Option<&Bound<'_, PyAny>>,
        format: Option<&Bound<'_, PyAny>>,
        opacity: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        magnification_filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("Image")
            .blobs("buffer", "ImageBuffer", buffer)?
            .f32s("draw_order", "DrawOrder", draw_order)?
            .image_formats("format", format)?
            .enums(
                "magnification_filter",
                "MagnificationFilter",
                "MagnificationFilter",
                magnification_filter,
            )?
            .f32s("opacity", "Opacity", opacity)?
            .finish(py)
    }
}

/// A depth image: a 2D array of distances (`uint16` millimeters, `float32` meters, …),
/// with how many units make a meter, a colormap, a depth range and a point fill ratio.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct DepthImage;

#[pymethods]
impl DepthImage {
    #[new]
    #[pyo3(signature = (image, *, meter=None, colormap=None, depth_range=None, point_fill_ratio=None, draw_order=None, magnification_filter=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn new(
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        meter: Option<&Bound<'_, PyAny>>,
        colormap: Option<&Bound<'_, PyAny>>,
        depth_range: Option<&Bound<'_, PyAny>>,
        point_fill_ratio: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        magnification_filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let (data, w, h, dtype): (Bound<'_, PyAny>, u32, u32, u8) =
            convert::call_helper(py, "depth_image", (image,))?.extract()?;
        let depth = depth_of(&data, [w, h], datatype_of(dtype)?)?;
        let mut depth = display!(depth, draw_order, magnification_filter);
        if let Some(m) = given(meter) {
            depth = depth.with_meter(m.extract()?);
        }
        if let Some(c) = given(colormap) {
            depth = depth.with_colormap(colormap_of(super::enum_value(c, "Colormap")?)?);
        }
        if let Some(r) = given(depth_range) {
            let range = convert::f64_buffer(r)?;
            let [lo, hi] = range.as_ref() else {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "depth_range needs 2 values (min, max), got {}",
                    range.len()
                )));
            };
            depth = depth.with_depth_range([*lo, *hi]);
        }
        if let Some(r) = given(point_fill_ratio) {
            depth = depth.with_point_fill_ratio(r.extract()?);
        }
        Ok(PyClassInitializer::from(Archetype::of(depth)).add_subclass(Self))
    }

    /// Columns for `send_columns`, one depth image per row: `buffer` as for `Image.columns`,
    /// `format` `rr.components.ImageFormat`s (with a `channel_datatype`), `depth_range`
    /// `(n, 2)`.
    #[staticmethod]
    #[pyo3(signature = (*, buffer=None, format=None, meter=None, colormap=None, depth_range=None, point_fill_ratio=None, draw_order=None, magnification_filter=None))]
    #[expect(clippy::too_many_arguments, reason = "the official SDK's signature")]
    fn columns(
        py: Python<'_>,
        buffer: Option<&Bound<'_, PyAny>>,
        format: Option<&Bound<'_, PyAny>>,
        meter: Option<&Bound<'_, PyAny>>,
        colormap: Option<&Bound<'_, PyAny>>,
        depth_range: Option<&Bound<'_, PyAny>>,
        point_fill_ratio: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        magnification_filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("DepthImage")
            .blobs("buffer", "ImageBuffer", buffer)?
            .enums("colormap", "Colormap", "Colormap", colormap)?
            .f64_vectors::<2>("depth_range", "ValueRange", depth_range)?
            .f32s("draw_order", "DrawOrder", draw_order)?
            .image_formats("format", format)?
            .enums(
                "magnification_filter",
                "MagnificationFilter",
                "MagnificationFilter",
                magnification_filter,
            )?
            .f32s("meter", "DepthMeter", meter)?
            .f32s("point_fill_ratio", "FillRatio", point_fill_ratio)?
            .finish(py)
    }
}

/// A depth image of the bytes `data` (a uint8 view of the values), typed by `datatype`.
fn depth_of(
    data: &Bound<'_, PyAny>,
    resolution: [u32; 2],
    datatype: ChannelDatatype,
) -> PyResult<spate::DepthImage> {
    use spate::DepthImage as D;
    use spate::archetype::Values;
    let bytes = convert::buffer_of::<u8>(data)?;
    // The bytes as values of the element type: the same memory when it is aligned for it.
    macro_rules! typed {
        ($t:ty) => {{
            let inner = bytes.into_inner();
            let values: Values<$t> = if inner.as_ptr().align_offset(align_of::<$t>()) == 0
                && inner.len() % size_of::<$t>() == 0
            {
                Values::from(arrow_buffer::ScalarBuffer::<$t>::from(inner))
            } else {
                Values::from(
                    inner
                        .chunks_exact(size_of::<$t>())
                        .map(|c| <$t>::from_ne_bytes(c.try_into().expect("chunk of the size")))
                        .collect::<Vec<$t>>(),
                )
            };
            D::new(values, resolution)
        }};
    }
    let depth = match datatype {
        ChannelDatatype::U8 => typed!(u8),
        ChannelDatatype::I8 => typed!(i8),
        ChannelDatatype::U16 => typed!(u16),
        ChannelDatatype::I16 => typed!(i16),
        ChannelDatatype::U32 => typed!(u32),
        ChannelDatatype::I32 => typed!(i32),
        ChannelDatatype::U64 => typed!(u64),
        ChannelDatatype::I64 => typed!(i64),
        ChannelDatatype::F32 => typed!(f32),
        ChannelDatatype::F64 => typed!(f64),
        ChannelDatatype::F16 => {
            return Err(pyo3::exceptions::PyNotImplementedError::new_err(
                "spate: DepthImage of float16 is not supported yet",
            ));
        }
    };
    depth.map_err(errors::value)
}

/// A compressed image (JPEG, PNG, …): its file's `path`, or its `contents` with a
/// `media_type`.
#[pyclass(extends = Archetype, frozen, module = "spate")]
pub struct EncodedImage;

#[pymethods]
impl EncodedImage {
    #[new]
    #[pyo3(signature = (*, path=None, contents=None, media_type=None, opacity=None, draw_order=None, magnification_filter=None))]
    fn new(
        py: Python<'_>,
        path: Option<&Bound<'_, PyAny>>,
        contents: Option<&Bound<'_, PyAny>>,
        media_type: Option<&Bound<'_, PyAny>>,
        opacity: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        magnification_filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let args = [path, contents, media_type].map(|a| none_or(py, a));
        let (data, media_type): (Bound<'_, PyAny>, Option<String>) =
            convert::call_helper(py, "encoded_image", pyo3::types::PyTuple::new(py, args)?)?
                .extract()?;
        let mut image = spate::EncodedImage::new(convert::buffer_of::<u8>(&data)?);
        if let Some(m) = media_type {
            image = image.with_media_type(m);
        }
        let mut image = display!(image, draw_order, magnification_filter);
        if let Some(o) = given(opacity) {
            image = image.with_opacity(o.extract()?);
        }
        Ok(PyClassInitializer::from(Archetype::of(image)).add_subclass(Self))
    }

    /// Columns for `send_columns`: one encoded image (a bytes-like) per row.
    #[staticmethod]
    #[pyo3(signature = (*, blob=None, media_type=None, opacity=None, draw_order=None, magnification_filter=None))]
    fn columns(
        py: Python<'_>,
        blob: Option<&Bound<'_, PyAny>>,
        media_type: Option<&Bound<'_, PyAny>>,
        opacity: Option<&Bound<'_, PyAny>>,
        draw_order: Option<&Bound<'_, PyAny>>,
        magnification_filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ComponentColumnList> {
        Columns::of("EncodedImage")
            .blobs("blob", "Blob", blob)?
            .f32s("draw_order", "DrawOrder", draw_order)?
            .enums(
                "magnification_filter",
                "MagnificationFilter",
                "MagnificationFilter",
                magnification_filter,
            )?
            .texts("media_type", "MediaType", media_type)?
            .f32s("opacity", "Opacity", opacity)?
            .finish(py)
    }
}

/// A `MagnificationFilter` argument.
pub(crate) fn magnification_filter(obj: &Bound<'_, PyAny>) -> PyResult<MagnificationFilter> {
    match super::enum_value(obj, "MagnificationFilter")? {
        1 => Ok(MagnificationFilter::Nearest),
        2 => Ok(MagnificationFilter::Linear),
        3 => Ok(MagnificationFilter::Bicubic),
        v => Err(bad("MagnificationFilter", v)),
    }
}

/// A `Colormap` from its value.
pub(crate) fn colormap_of(v: u8) -> PyResult<Colormap> {
    use Colormap as C;
    Ok(match v {
        1 => C::Grayscale,
        2 => C::Inferno,
        3 => C::Magma,
        4 => C::Plasma,
        5 => C::Turbo,
        6 => C::Viridis,
        7 => C::CyanToYellow,
        8 => C::Spectral,
        9 => C::Twilight,
        10 => C::RvizMap,
        11 => C::RvizCostmap,
        12 => C::Costmap,
        v => return Err(bad("Colormap", v)),
    })
}
