//! Arguments as the official SDK accepts them, converted once: NumPy arrays of the right
//! dtype are shared without copying (see [`crate::zero_copy`]); anything else goes through
//! one NumPy conversion (in `spate/_convert.py`, with the SDK's rules and messages) into a
//! fresh array that is then shared.

use arrow_buffer::{ArrowNativeType, ScalarBuffer};
use numpy::{Element, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyFloat, PyInt, PyString};
use spate::archetype::{
    ChannelDatatype, ColorModel, Colors, Coords, PixelFormat, RotationAxisAngle, Values,
};

use crate::zero_copy::share;

/// The Python helpers of `spate._convert`, imported once.
fn helper<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("spate._convert").map(Bound::unbind))?
        .bind(py)
        .getattr(name)
}

/// Arrays of at most this many values are copied rather than shared: a copy of a few values
/// costs less than the owner sharing needs (an `Arc` and a reference to the array, released
/// later from a sink's thread), and a small row is copied into the lane anyway.
const COPY_AT_MOST: usize = 16;

/// A NumPy array of `T` already: shared as it is (C-contiguous, aligned, native order), or
/// copied when small.
fn shared_array<T: Element + ArrowNativeType>(obj: &Bound<'_, PyAny>) -> Option<ScalarBuffer<T>> {
    let array = obj.cast::<PyArrayDyn<T>>().ok()?;
    // (`to_vec` takes Fortran order as it lies in memory: C order only.)
    if array.len() <= COPY_AT_MOST
        && array.is_c_contiguous()
        && let Ok(values) = array.to_vec()
    {
        return Some(ScalarBuffer::from(values));
    }
    share(array)
}

/// A fresh array the helper made: shared (it is ours alone), or copied if NumPy handed back
/// something unshareable (an empty array).
fn take<T: Element + ArrowNativeType>(fresh: &Bound<'_, PyAny>) -> PyResult<ScalarBuffer<T>> {
    let array = fresh.cast::<PyArrayDyn<T>>()?;
    match share(array) {
        Some(b) => Ok(b),
        None => Ok(ScalarBuffer::from(array.to_vec()?)),
    }
}

/// The SDK's rule for vectors of `N` floats: a flat array whose length is a multiple of
/// `N`, or an array whose trailing dimensions hold `N` values (`(n, N)`, `(n, N, 1)`, …).
fn vector_shape_ok<const N: usize>(shape: &[usize]) -> bool {
    match shape {
        [len] => len % N == 0,
        [_, rest @ ..] => rest.iter().product::<usize>() == N,
        [] => false,
    }
}

/// `positions`-like arguments: `N` floats per instance.
pub(crate) fn coords<const N: usize>(obj: &Bound<'_, PyAny>) -> PyResult<Coords<N>> {
    // A few floats: copied by value, no reference kept to the array. (`to_vec` also takes
    // Fortran order, as it lies in memory: C order only.)
    if let Ok(array) = obj.cast::<PyArrayDyn<f32>>()
        && vector_shape_ok::<N>(array.shape())
        && array.len() <= Coords::<N>::INLINE_FLOATS
        && array.is_c_contiguous()
        && let Ok(values) = array.to_vec()
    {
        return Coords::try_from_floats(&values).map_err(crate::errors::value);
    }
    Coords::try_from_buffer(vector_buffer::<N>(obj)?).map_err(crate::errors::value)
}

/// Float32 values (radii, …): a scalar splats, arrays are flattened.
pub(crate) fn f32s(obj: &Bound<'_, PyAny>) -> PyResult<Values<f32>> {
    f32_buffer(obj).map(Values::from)
}

/// [`f32s`] as the buffer itself (for columns).
pub(crate) fn f32_buffer(obj: &Bound<'_, PyAny>) -> PyResult<ScalarBuffer<f32>> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(ScalarBuffer::from(vec![f.value() as f32]));
    }
    flat(obj, "float32")
}

/// Float64 values (scalars).
pub(crate) fn f64s(obj: &Bound<'_, PyAny>) -> PyResult<Values<f64>> {
    f64_buffer(obj).map(Values::from)
}

/// [`f64s`] as the buffer itself (for columns).
pub(crate) fn f64_buffer(obj: &Bound<'_, PyAny>) -> PyResult<ScalarBuffer<f64>> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(ScalarBuffer::from(vec![f.value()]));
    }
    flat(obj, "float64")
}

/// Unsigned 16-bit ids (class ids, keypoint ids), wrapping as NumPy's cast does.
pub(crate) fn u16s(obj: &Bound<'_, PyAny>) -> PyResult<Values<u16>> {
    u16_buffer(obj).map(Values::from)
}

/// [`u16s`] as the buffer itself (for columns).
pub(crate) fn u16_buffer(obj: &Bound<'_, PyAny>) -> PyResult<ScalarBuffer<u16>> {
    flat(obj, "uint16")
}

/// A NumPy array of `T` as it is, else anything array-like (or a scalar) flattened by the
/// SDK's `np.asarray(x, dtype).flatten()` (`spate._convert.flat`) into a fresh array.
fn flat<T: Element + ArrowNativeType>(
    obj: &Bound<'_, PyAny>,
    dtype: &str,
) -> PyResult<ScalarBuffer<T>> {
    if let Some(b) = shared_array::<T>(obj) {
        return Ok(b);
    }
    take::<T>(&helper(obj.py(), "flat")?.call1((obj, dtype))?)
}

/// Any array a helper of `spate._convert` made (or the caller gave) as a buffer of `T`: shared
/// when it is a NumPy array of `T`, else copied.
pub(crate) fn buffer_of<T: Element + ArrowNativeType>(
    obj: &Bound<'_, PyAny>,
) -> PyResult<ScalarBuffer<T>> {
    if let Some(b) = shared_array::<T>(obj) {
        return Ok(b);
    }
    take::<T>(obj)
}

/// Calls the helper `name` of `spate._convert` with `args`.
pub(crate) fn call_helper<'py>(
    py: Python<'py>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    helper(py, name)?.call1(args)
}

/// `N` floats per instance, as a flat buffer (for columns): zero copy for a C-contiguous
/// float32 array of the SDK's shapes.
pub(crate) fn vector_buffer<const N: usize>(obj: &Bound<'_, PyAny>) -> PyResult<ScalarBuffer<f32>> {
    if let Ok(array) = obj.cast::<PyArrayDyn<f32>>()
        && vector_shape_ok::<N>(array.shape())
        && let Some(buffer) = share(array)
    {
        return Ok(buffer);
    }
    let fresh = helper(obj.py(), "vectors")?.call1((obj, N))?;
    take::<f32>(&fresh)
}

/// Colors as the SDK takes them: packed `0xRRGGBBAA` integers, RGB(A) rows of `u8` (or of
/// floats in 0..1), one color as a 3- or 4-sequence.
pub(crate) fn colors(obj: &Bound<'_, PyAny>) -> PyResult<Colors> {
    color_buffer(obj).map(|b| Colors::from(Values::from(b)))
}

/// [`colors`] as the buffer of packed `0xRRGGBBAA` values (for columns).
pub(crate) fn color_buffer(obj: &Bound<'_, PyAny>) -> PyResult<ScalarBuffer<u32>> {
    if let Ok(i) = obj.cast::<PyInt>() {
        return Ok(ScalarBuffer::from(vec![i.extract::<u32>()?]));
    }
    if let Some(b) = shared_array::<u32>(obj) {
        return Ok(b);
    }
    if let Ok(rows) = obj.cast::<PyArrayDyn<u8>>()
        && let [_, channels @ (3 | 4)] = *rows.shape()
        && rows.is_c_contiguous()
        && let Ok(bytes) = rows.to_vec()
    {
        return Ok(ScalarBuffer::from(pack(&bytes, channels)));
    }
    let fresh = helper(obj.py(), "colors")?.call1((obj,))?;
    take::<u32>(&fresh)
}

/// Exactly one color (a `TextLog`'s, a `Pinhole`'s frustum).
pub(crate) fn one_color(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    let b = color_buffer(obj)?;
    match b.as_ref() {
        [c] => Ok(*c),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "expected one color, got {}",
            other.len()
        ))),
    }
}

/// RGB or RGBA byte rows as `0xRRGGBBAA` (alpha 255 for RGB), in one pass.
fn pack(bytes: &[u8], channels: usize) -> Vec<u32> {
    bytes
        .chunks_exact(channels)
        .map(|c| {
            let a = c.get(3).copied().unwrap_or(255);
            u32::from_be_bytes([c[0], c[1], c[2], a])
        })
        .collect()
}

/// Labels: one string, or a sequence of things made strings.
pub(crate) fn strings(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_str()?.to_owned()]);
    }
    helper(obj.py(), "strings")?.call1((obj,))?.extract()
}

/// The error for an enum value out of range.
pub(crate) fn bad_enum(kind: &str, v: u8) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("Cannot convert {v} to {kind}"))
}

/// A `ColorModel` from its value.
pub(crate) fn color_model_of(v: u8) -> PyResult<ColorModel> {
    Ok(match v {
        1 => ColorModel::L,
        2 => ColorModel::Rgb,
        3 => ColorModel::Rgba,
        4 => ColorModel::Bgr,
        5 => ColorModel::Bgra,
        v => return Err(bad_enum("ColorModel", v)),
    })
}

/// A `ChannelDatatype` from its value.
pub(crate) fn datatype_of(v: u8) -> PyResult<ChannelDatatype> {
    use ChannelDatatype as D;
    Ok(match v {
        6 => D::U8,
        7 => D::I8,
        8 => D::U16,
        9 => D::I16,
        10 => D::U32,
        11 => D::I32,
        12 => D::U64,
        13 => D::I64,
        33 => D::F16,
        34 => D::F32,
        35 => D::F64,
        v => return Err(bad_enum("ChannelDatatype", v)),
    })
}

/// A `PixelFormat` from its value.
pub(crate) fn pixel_format_of(v: u8) -> PyResult<PixelFormat> {
    use PixelFormat as P;
    Ok(match v {
        20 => P::Yuv12LimitedRange,
        26 => P::Nv12,
        27 => P::Yuy2,
        30 => P::Y8FullRange,
        39 => P::Yuv24LimitedRange,
        40 => P::Yuv24FullRange,
        41 => P::Y8LimitedRange,
        44 => P::Yuv12FullRange,
        49 => P::Yuv16LimitedRange,
        50 => P::Yuv16FullRange,
        128 => P::BayerRggb8,
        129 => P::BayerBggr8,
        130 => P::BayerGbrg8,
        131 => P::BayerGrbg8,
        v => return Err(bad_enum("PixelFormat", v)),
    })
}

/// An optional argument that was given (not `None`).
pub(crate) fn given<'a, 'py>(arg: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    arg.filter(|a| !a.is_none())
}

/// An optional argument as a Python object (`None` when not given), to pass on to a helper.
pub(crate) fn none_or<'py>(py: Python<'py>, arg: Option<&Bound<'py, PyAny>>) -> Bound<'py, PyAny> {
    arg.cloned().unwrap_or_else(|| py.None().into_bound(py))
}

/// `RotationAxisAngle`s (one, or a sequence; already converted by `rotations`, or not).
pub(crate) fn axis_angles_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<RotationAxisAngle>> {
    let converted = if obj.is_instance_of::<pyo3::types::PyTuple>() {
        obj.clone()
    } else {
        call_helper(obj.py(), "rotation_axis_angles", (obj,))?
    };
    let (axes, angles): (Vec<f32>, Vec<f32>) = converted.extract()?;
    Ok(axes
        .chunks_exact(3)
        .zip(angles)
        .map(|(a, angle)| RotationAxisAngle::new([a[0], a[1], a[2]], angle))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_vector_shapes() {
        assert!(vector_shape_ok::<3>(&[9]));
        assert!(vector_shape_ok::<3>(&[4, 3]));
        assert!(vector_shape_ok::<3>(&[4, 3, 1]));
        assert!(vector_shape_ok::<3>(&[4, 1, 3]));
        assert!(vector_shape_ok::<3>(&[0, 3]));
        assert!(!vector_shape_ok::<3>(&[4, 2]));
        assert!(!vector_shape_ok::<3>(&[7]));
        assert!(!vector_shape_ok::<3>(&[2, 6]));
        assert!(!vector_shape_ok::<3>(&[]));
    }

    #[test]
    fn packs_rgb_with_opaque_alpha_and_rgba_as_given() {
        assert_eq!(pack(&[255, 0, 0, 1, 2, 3], 3), [0xFF00_00FF, 0x0102_03FF]);
        assert_eq!(pack(&[1, 2, 3, 4], 4), [0x0102_0304]);
    }
}
