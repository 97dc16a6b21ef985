"""Argument conversions with the official SDK's rules and messages (the slow paths).

The native module takes NumPy arrays of the right dtype as they are; everything else comes
here once and leaves as a fresh C-contiguous array of the wanted dtype, which the native
module then owns alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np


def _fresh(a: Any, dtype: str) -> np.ndarray:
    return np.array(a, dtype=dtype, order="C", copy=True).reshape(-1)


def vectors(x: Any, n: int) -> np.ndarray:
    """`(k, n)`-shaped floats (or a flat multiple of `n`) as a flat float32 array."""
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"could not convert {type(x).__name__} to {n}-vectors of float32: {e}") from e
    ok = (a.ndim == 1 and a.size % n == 0) or (a.ndim >= 2 and int(np.prod(a.shape[1:])) == n)
    if not ok:
        raise ValueError(
            f"Expected either a flat array with a length multiple of {n} elements, or an array "
            f"with shape (`num_elements`, {n}). Shape of passed array was {a.shape}."
        )
    return _fresh(a, "float32")


def flat(x: Any, dtype: str) -> np.ndarray:
    """Any array-like (or scalar) as a flat array of `dtype`, as the SDK's `np.asarray(x, dtype).flatten()`."""
    if dtype == "uint16":
        # NumPy 2 refuses out-of-range Python ints; the SDK's cast wraps.
        a = np.asarray(x)
        if a.dtype.kind in "iu":
            return _fresh(a.astype(np.uint16), dtype)
    try:
        return _fresh(np.asarray(x, dtype=dtype), dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"could not convert {type(x).__name__} to {dtype}: {e}") from e


def _u8(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    return a.astype(np.uint8)


def colors(x: Any) -> np.ndarray:
    """Colors as packed 0xRRGGBBAA uint32 values, by the SDK's rules."""
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"colors must be numbers (packed 0xRRGGBBAA or RGB(A) rows), got {a.dtype}")
    if a.dtype == np.uint32:
        return _fresh(a, "uint32")
    a = np.squeeze(a) if a.ndim > 1 else a
    if a.ndim == 0:
        return _fresh(a.astype(np.uint32), "uint32")
    if a.ndim == 1:
        if a.size in (3, 4) and (a.dtype.kind == "f" or a.dtype == np.uint8 or a.max(initial=0) < 256):
            a = a.reshape(1, -1)
        elif a.dtype == np.uint8 or a.dtype.kind == "f":
            if a.size % 4 != 0:
                raise ValueError(f"a flat array of {a.size} RGBA channels is not a whole number of colors")
            a = a.reshape(-1, 4)
        else:
            return _fresh(a.astype(np.uint32), "uint32")
    if a.ndim != 2 or a.shape[1] < 3:
        raise ValueError(f"colors of shape {a.shape}: expected (n, 3) RGB or (n, 4) RGBA rows, or packed uint32")
    rows = _u8(a)
    r, g, b = (rows[:, i].astype(np.uint32) for i in range(3))
    alpha = rows[:, 3].astype(np.uint32) if rows.shape[1] >= 4 else np.full(len(rows), 255, np.uint32)
    return np.ascontiguousarray((r << 24) | (g << 16) | (b << 8) | alpha, dtype=np.uint32)


def strings(x: Any) -> list[str]:
    """Labels and other texts: a sequence of things made strings, or one."""
    if isinstance(x, str):
        return [x]
    if isinstance(x, (Sequence, np.ndarray)):
        return [str(v) for v in x]
    return [str(x)]


# --------------------------------------------------------------------------------------------
# Enum-like values, rotations and the archetypes whose arguments need more than a dtype cast.
# Each returns plain values (ints, floats, lists, fresh C-contiguous arrays) to the native
# constructor, which builds the archetype.

from . import _datatypes as _dt  # noqa: E402

_ENUMS = {
    "ColorModel": _dt.ColorModel,
    "ChannelDatatype": _dt.ChannelDatatype,
    "PixelFormat": _dt.PixelFormat,
    "TransformRelation": _dt.TransformRelation,
    "FillMode": _dt.FillMode,
    "Colormap": _dt.Colormap,
    "MagnificationFilter": _dt.MagnificationFilter,
}


def enum_value(kind: str, val: Any) -> int:
    """The `u8` value of an enum-like argument (a member, its int, or its name in any case)."""
    return int(_ENUMS[kind].auto(val).value)


def enum_values(kind: str, val: Any) -> np.ndarray:
    """One or many enum-like values (for columns) as a uint8 array."""
    if isinstance(val, (str, int, Enum)) or not hasattr(val, "__iter__"):
        val = [val]
    return np.array([enum_value(kind, v) for v in val], dtype=np.uint8)


def _radians(angle: Any) -> float:
    rad = getattr(angle, "radians", None)  # spate's or the official SDK's Angle
    return float(rad) if rad is not None else float(angle)


def _axis(axis: Any) -> list[float]:
    xyz = getattr(axis, "xyz", axis)  # the official SDK's Vec3D
    return [float(v) for v in np.asarray(xyz, dtype=np.float32).reshape(3)]


def _is_axis_angle(x: Any) -> bool:
    return hasattr(x, "axis") and hasattr(x, "angle")


def rotation_axis_angles(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """`RotationAxisAngle`s (one or a sequence) as (axes float32 (n*3), angles float32 (n))."""
    items = [x] if _is_axis_angle(x) else list(x)
    if not all(_is_axis_angle(r) for r in items):
        raise TypeError("rotation_axis_angles must be RotationAxisAngle objects (rr.RotationAxisAngle(axis=…, degrees=…))")
    axes = np.array([_axis(r.axis) for r in items], dtype=np.float32).reshape(-1)
    angles = np.array([_radians(r.angle) for r in items], dtype=np.float32)
    return axes, angles


def _is_quaternion(x: Any) -> bool:
    return hasattr(x, "xyzw")


def quaternions(x: Any) -> np.ndarray:
    """`Quaternion`s (one, a sequence, or an `(n, 4)` array of x, y, z, w) as float32 (n*4)."""
    if _is_quaternion(x):
        return _fresh(np.asarray(x.xyzw, dtype=np.float32), "float32")
    if isinstance(x, Sequence) and x and all(_is_quaternion(q) for q in x):
        return _fresh(np.array([np.asarray(q.xyzw, dtype=np.float32) for q in x]), "float32")
    return vectors(x, 4)


def transform3d(translation: Any, rotation: Any, rotation_axis_angle: Any, quaternion: Any, scale: Any,
                mat3x3: Any, from_parent: Any, relation: Any) -> dict[str, Any]:
    """`Transform3D(...)`'s arguments by the SDK's rules, as plain lists and ints."""
    if rotation is not None:
        if quaternion is not None or rotation_axis_angle is not None:
            raise ValueError("`rotation` parameter can't be combined with `quaternion` or `rotation_axis_angle`.")
        first = rotation[0] if isinstance(rotation, Sequence) and rotation else rotation
        if _is_axis_angle(first):
            rotation_axis_angle = rotation
        elif _is_quaternion(first):
            quaternion = rotation
        else:
            raise ValueError("Rotation must be compatible with either RotationQuat or RotationAxisAngle")
    out: dict[str, Any] = {}
    if translation is not None:
        out["translation"] = _one(vectors(translation, 3), 3, "translation")
    if rotation_axis_angle is not None:
        axes, angles = rotation_axis_angles(rotation_axis_angle)
        out["rotation_axis_angle"] = (_one(axes, 3, "rotation_axis_angle"), float(angles[0]))
    if quaternion is not None:
        out["quaternion"] = _one(quaternions(quaternion), 4, "quaternion")
    if scale is not None:
        if not hasattr(scale, "__len__") or len(scale) == 1:
            s = float(np.asarray(scale, dtype=np.float32).reshape(-1)[0])
            out["scale"] = [s, s, s]
        else:
            out["scale"] = _one(vectors(scale, 3), 3, "scale")
    if mat3x3 is not None:
        out["mat3x3"] = mat3x3_rows(mat3x3)
    if from_parent is not None:
        import warnings

        warnings.warn(
            "`from_parent` is deprecated as an argument to `Transform3D`; prefer `relation=rerun.TransformRelation.ChildFromParent` instead",
            DeprecationWarning,
            stacklevel=3,
        )
        if relation is not None:
            raise ValueError("`from_parent` and `relation` parameters are mutually exclusive.")
        if from_parent:
            relation = _dt.TransformRelation.ChildFromParent
    if relation is not None:
        out["relation"] = enum_value("TransformRelation", relation)
    return out


def _one(flat: np.ndarray, n: int, name: str) -> list[float]:
    if flat.size != n:
        raise ValueError(f"{name}: expected one {n}-vector, got {flat.size} values")
    return [float(v) for v in flat]


def mat3x3_rows(m: Any) -> list[list[float]]:
    """A 3×3 matrix given row-major (nested or 9 flat values), as the SDK's `Mat3x3(rows)`."""
    flat = getattr(m, "flat_columns", None)  # the official SDK's Mat3x3: stored column-major
    if flat is not None:
        return np.asarray(flat, dtype=np.float32).reshape(3, 3).T.tolist()
    try:
        return np.asarray(m, dtype=np.float32).reshape(3, 3).tolist()
    except ValueError as e:
        raise ValueError(f"a 3x3 matrix needs 9 values: {e}") from e


def pinhole(image_from_camera: Any, resolution: Any, width: Any, height: Any, focal_length: Any,
            principal_point: Any, fov_y: Any, aspect_ratio: Any) -> tuple[list[list[float]], list[float] | None]:
    """`Pinhole(...)`'s projection (row-major) and resolution by the SDK's rules."""
    import math

    if resolution is None and width is not None and height is not None:
        resolution = [width, height]
    elif resolution is not None and (width is not None or height is not None):
        raise ValueError("Can't set both resolution and width/height")
    if image_from_camera is None:
        if fov_y is not None and aspect_ratio is not None:
            focal_length = 0.5 / math.tan(max(fov_y * 0.5, 1.19209e-07))
            resolution = [aspect_ratio, 1.0]
        if resolution is not None:
            w, h = _one(vectors(resolution, 2), 2, "resolution")
        else:
            w = h = None
        if focal_length is None:
            if w is None or h is None:
                raise ValueError("Either image_from_camera or focal_length must be set")
            raise ValueError("Either image_from_camera or focal_length must be set")
        if principal_point is None:
            if w is None or h is None:
                raise ValueError("Must provide one of principal_point, resolution, or width/height")
            principal_point = [w / 2, h / 2]
        if type(focal_length) in (int, float):
            fx = fy = focal_length
        else:
            try:
                fx, fy = focal_length[0], focal_length[1]
            except Exception:
                raise ValueError("Expected focal_length to be one or two floats") from None
        try:
            u, v = principal_point[0], principal_point[1]
        except Exception:
            raise ValueError("Expected principal_point to be one or two floats") from None
        image_from_camera = [[fx, 0, u], [0, fy, v], [0, 0, 1]]
    else:
        if focal_length is not None:
            raise ValueError("Both image_from_camera and focal_length set")
        if principal_point is not None:
            raise ValueError("Both image_from_camera and principal_point set")
    res = None if resolution is None else _one(vectors(resolution, 2), 2, "resolution")
    return mat3x3_rows(image_from_camera), res


def view_coordinates(v: Any) -> list[int]:
    """`camera_xyz=`: a `ViewCoordinates` (spate's or the SDK's), a name like "RDF", or 3 directions."""
    if isinstance(v, str):
        found = getattr(_dt.ViewCoordinates, v.upper(), None)
        if not isinstance(found, _dt.ViewCoordinates):
            raise ValueError(f"Unknown ViewCoordinates: {v!r}")
        v = found
    coords = getattr(v, "coordinates", v)
    dirs = [_dt.ViewDir.auto(getattr(d, "value", d)) for d in coords]
    if len(dirs) != 3:
        raise ValueError(f"ViewCoordinates needs 3 directions, got {len(dirs)}")
    return [d.value for d in dirs]


def _squeeze_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _to_numpy(image: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    numpy = getattr(image, "numpy", None)  # torch tensors and the like
    if numpy is not None:
        try:
            return numpy(force=True)
        except TypeError:
            return numpy()
    return np.asarray(image)


def _bytes_view(a: np.ndarray) -> np.ndarray:
    """The array's bytes, row-major, native order: a view when it is C-contiguous already."""
    a = np.ascontiguousarray(a)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return a.reshape(-1).view(np.uint8)


_CHANNELS = {"L": 1, "RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4}


def image(image: Any, color_model: Any, pixel_format: Any, datatype: Any, data: Any, width: Any,
          height: Any) -> tuple[np.ndarray, int, int, int | None, int | None, int | None]:
    """`Image(...)`'s pixels and format by the SDK's rules: (bytes as uint8, width, height,
    color model, channel datatype, pixel format), the last three as their `u8` values or None."""
    if data is not None:
        if isinstance(data, np.ndarray):
            data = data.tobytes()
        if width is None or height is None:
            raise ValueError("Specifying 'bytes' requires 'width' and 'height'")
        raw = np.frombuffer(bytes(data), dtype=np.uint8).copy()
        if pixel_format is not None:
            if datatype is not None:
                raise ValueError("Specifying 'datatype' is mutually exclusive with 'pixel_format'")
            if color_model is not None:
                raise ValueError("Specifying 'color_model' is mutually exclusive with 'pixel_format'")
            return raw, int(width), int(height), None, None, enum_value("PixelFormat", pixel_format)
        if datatype is None or color_model is None:
            raise ValueError("Specifying 'bytes' requires 'pixel_format' or both 'color_model' and 'datatype'")
        if isinstance(datatype, type) or isinstance(datatype, np.dtype):
            try:
                datatype = _dt.ChannelDatatype.from_np_dtype(datatype)
            except (KeyError, TypeError):
                raise ValueError(f"Unsupported datatype {datatype} for Image") from None
        return (raw, int(width), int(height), enum_value("ColorModel", color_model),
                enum_value("ChannelDatatype", datatype), None)
    if image is None:
        raise ValueError("Must specify either 'image' or 'bytes'")
    if pixel_format is not None:
        raise ValueError("Specifying 'pixel_format' requires 'bytes'")
    a = _to_numpy(image)
    shape = _squeeze_shape(a.shape)
    if len(shape) == 2:
        h, w = shape
        channels = 1
    elif len(shape) == 3:
        h, w, channels = shape
    else:
        raise ValueError(f"Expected a 2D or 3D tensor, got {shape}")
    if width is not None and width != w:
        raise ValueError(f"Provided width {width} does not match image width {w}")
    if height is not None and height != h:
        raise ValueError(f"Provided height {height} does not match image height {h}")
    if color_model is None:
        model = {1: _dt.ColorModel.L, 3: _dt.ColorModel.RGB, 4: _dt.ColorModel.RGBA}.get(channels)
        if model is None:
            raise ValueError(f"Expected 1, 3, or 4 channels; got {channels}")
    else:
        model = _dt.ColorModel.auto(color_model)
        if _CHANNELS[model.name] != channels:
            raise ValueError(f"Expected {_CHANNELS[model.name]} channels for {model}; got {channels} channels")
    try:
        dtype = _dt.ChannelDatatype.from_np_dtype(a.dtype)
    except KeyError:
        raise ValueError(f"Unsupported dtype {a.dtype} for Image") from None
    if datatype is not None and _dt.ChannelDatatype.auto(
        _dt.ChannelDatatype.from_np_dtype(datatype) if isinstance(datatype, (type, np.dtype)) else datatype
    ) != dtype:
        raise ValueError(f"datatype {datatype} does not match the image's dtype {a.dtype}")
    return _bytes_view(a), int(w), int(h), model.value, dtype.value, None


def depth_image(image: Any) -> tuple[np.ndarray, int, int, int]:
    """`DepthImage(image)`: (bytes as uint8, width, height, channel datatype)."""
    a = _to_numpy(image)
    shape = _squeeze_shape(a.shape)
    if len(shape) != 2:
        raise ValueError(f"DepthImage must be 2D, got shape {a.shape}")
    h, w = shape
    try:
        dtype = _dt.ChannelDatatype.from_np_dtype(a.dtype)
    except KeyError:
        raise ValueError(f"Unsupported dtype {a.dtype} for DepthImage") from None
    return _bytes_view(a), int(w), int(h), dtype.value


def blob(contents: Any) -> np.ndarray:
    """Bytes-like contents (bytes, a file object, a uint8 array) as a uint8 array."""
    if isinstance(contents, np.ndarray):
        return _bytes_view(contents)
    read = getattr(contents, "read", None)
    if read is not None:
        contents = read()
    try:
        return np.frombuffer(bytes(contents), dtype=np.uint8).copy()
    except TypeError as e:
        raise TypeError(f"expected bytes, a file object or a uint8 array, got {type(contents).__name__}") from e


def encoded_image(path: Any, contents: Any, media_type: Any) -> tuple[np.ndarray, str | None]:
    """`EncodedImage(...)`: (the file's bytes, media type or None) by the SDK's rules."""
    import pathlib

    if (path is None) == (contents is None):
        raise ValueError("Must provide exactly one of 'path' or 'contents'")
    if path is None:
        data = blob(contents)
        if media_type is None:
            raise ValueError("Must provide 'media_type' when 'contents' is provided")
    else:
        data = np.frombuffer(pathlib.Path(path).read_bytes(), dtype=np.uint8).copy()
        if media_type is None:
            media_type = _dt.MediaType.guess_from_path(path)
    return data, None if media_type is None else media_type_str(media_type)


def media_type_str(m: Any) -> str:
    value = getattr(m, "value", None)  # the official SDK's MediaType component
    return str(value) if isinstance(value, str) else str(m)


def text(x: Any) -> str:
    """A single text (`TextLog`'s text and level): a `str`, or the SDK's Utf8 with `.value`."""
    value = getattr(x, "value", None)
    if isinstance(value, str):
        return value
    if isinstance(x, str):
        return x
    return str(x)


_ANY_KINDS = {"b": "bool", "i": "int", "u": "uint", "f": "float"}


def any_value(x: Any) -> tuple[str, Any, Any]:
    """An `AnyValues` field as Arrow would infer it (`pa.array(x)`, or `[x]` for a scalar):
    ("utf8", list of str|None, None) or (numpy dtype name, values array, validity array|None)."""
    if isinstance(x, str):
        return "utf8", [x], None
    if isinstance(x, (bytes, bytearray)):
        raise NotImplementedError("spate: AnyValues of bytes are not supported yet")
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise ValueError(f"Cannot convert an array of shape {x.shape}: AnyValues takes 1-D arrays")
        if x.dtype.kind in "U":
            return "utf8", [str(v) for v in x], None
        if x.dtype.kind not in "biuf" or x.dtype == np.float16:
            raise NotImplementedError(f"spate: AnyValues of dtype {x.dtype} are not supported yet")
        return x.dtype.name, np.ascontiguousarray(x), None
    if isinstance(x, (bool, np.bool_)):
        return "bool", np.array([x], dtype=np.bool_), None
    if isinstance(x, (int, np.integer)):
        return "int64", np.array([x], dtype=np.int64), None
    if isinstance(x, (float, np.floating)):
        return "float64", np.array([x], dtype=np.float64), None
    if isinstance(x, Sequence):
        items = list(x)
        present = [v for v in items if v is not None]
        valid = None if len(present) == len(items) else np.array([v is not None for v in items], dtype=np.bool_)
        if present and all(isinstance(v, str) for v in present):
            return "utf8", items, None
        if all(isinstance(v, (bool, np.bool_)) for v in present):
            return "bool", np.array([bool(v) if v is not None else False for v in items], dtype=np.bool_), valid
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in present):
            return "int64", np.array([v if v is not None else 0 for v in items], dtype=np.int64), valid
        if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in present):
            return "float64", np.array([v if v is not None else 0.0 for v in items], dtype=np.float64), valid
    raise NotImplementedError(f"spate: AnyValues of {type(x).__name__} are not supported yet")


def time_column(timeline: str, sequence: Any, duration: Any, timestamp: Any) -> tuple[str, np.ndarray]:
    """`TimeColumn(...)`'s values as int64 nanoseconds (or sequence numbers), by the SDK's rules:
    numeric NumPy arrays of seconds are *truncated* (`(x * 1e9).astype("timedelta64[ns]")`),
    other iterables convert element by element as `set_time` does (floats *rounded*)."""
    from ._time import to_nanos, to_nanos_since_epoch

    if sum(x is not None for x in (sequence, duration, timestamp)) != 1:
        raise ValueError(
            f"TimeColumn: Exactly one of `sequence`, `duration`, and `timestamp` must be set (timeline='{timeline}')",
        )
    if sequence is not None:
        a = np.asarray(sequence)
        if a.dtype.kind not in "iu" and not (a.dtype == object and all(isinstance(v, int) for v in a.reshape(-1))):
            if a.size:
                raise TypeError(f"TimeColumn: sequence must be integers, got {a.dtype}")
        return "sequence", np.ascontiguousarray(a.astype(np.int64)).reshape(-1)
    if duration is not None:
        if isinstance(duration, np.ndarray):
            if np.issubdtype(duration.dtype, np.timedelta64):
                return "duration", np.ascontiguousarray(duration.astype("timedelta64[ns]").astype(np.int64))
            if np.issubdtype(duration.dtype, np.number):
                return "duration", np.ascontiguousarray((duration * 1e9).astype("timedelta64[ns]").astype(np.int64))
            raise TypeError(f"Unsupported numpy array dtype: {duration.dtype}")
        return "duration", np.array([to_nanos(d) for d in duration], dtype=np.int64)
    if isinstance(timestamp, np.ndarray):
        if np.issubdtype(timestamp.dtype, np.datetime64):
            return "timestamp", np.ascontiguousarray(timestamp.astype("datetime64[ns]").astype(np.int64))
        if np.issubdtype(timestamp.dtype, np.number):
            return "timestamp", np.ascontiguousarray((timestamp * 1e9).astype("datetime64[ns]").astype(np.int64))
        raise TypeError(f"Unsupported numpy array dtype: {timestamp.dtype}")
    return "timestamp", np.array([to_nanos_since_epoch(t) for t in timestamp], dtype=np.int64)


def blobs(x: Any) -> tuple[np.ndarray, list[int]]:
    """Many blobs (for `columns`): a sequence of bytes-likes, or a 2-D array (one row each),
    as (all bytes as uint8, the length of each)."""
    if isinstance(x, np.ndarray) and x.ndim == 2:
        rows = [x[i] for i in range(x.shape[0])]
    elif isinstance(x, (bytes, bytearray)) or (isinstance(x, np.ndarray) and x.ndim == 1):
        rows = [x]
    else:
        rows = list(x)
    parts = [blob(r) for r in rows]
    data = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return np.ascontiguousarray(data), [len(p) for p in parts]


def lengths(x: Any) -> list[int]:
    """`partition(lengths)`'s lengths as non-negative ints."""
    a = np.asarray(x)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise TypeError(f"lengths must be a 1-D sequence of integers, got {a.dtype} of shape {a.shape}")
    if a.size and a.min() < 0:
        raise ValueError("lengths must not be negative")
    return [int(v) for v in a]


def boxes3d(sizes: Any, mins: Any, half_sizes: Any, centers: Any) -> tuple[Any, Any]:
    """`Boxes3D(sizes=, mins=)` as (half_sizes, centers), by the SDK's rules."""
    if sizes is not None:
        if half_sizes is not None:
            raise ValueError("Cannot specify both `sizes` and `half_sizes` at the same time.")
        half_sizes = np.asarray(sizes, dtype=np.float32) / 2.0
    if mins is not None:
        if centers is not None:
            raise ValueError("Cannot specify both `mins` and `centers` at the same time.")
        if half_sizes is None:
            raise ValueError("Cannot specify `mins` without `sizes` or `half_sizes`.")
        centers = np.asarray(mins, dtype=np.float32) + np.asarray(half_sizes, dtype=np.float32)
    if half_sizes is None:
        raise ValueError("Boxes3D needs `half_sizes` or `sizes`")
    return half_sizes, centers


def rotations(x: Any) -> tuple[str, Any]:
    """`rotations=` of `Boxes3D`: ("axis_angle", ...) or ("quaternion", ...)."""
    first = x[0] if isinstance(x, Sequence) and x else x
    if _is_axis_angle(first):
        return "axis_angle", rotation_axis_angles(x)
    return "quaternion", quaternions(x)


def strips(x: Any) -> tuple[np.ndarray, list[int]]:
    """Line strips (a sequence of `(k, 3)` point lists, or an `(n, k, 3)` array) as (all
    points float32 flat, the number of points of each strip)."""
    if isinstance(x, np.ndarray):
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32), []
        if x.ndim == 3 and x.shape[2] == 3:
            return _fresh(x, "float32"), [x.shape[1]] * x.shape[0]
        if x.ndim == 2 and x.shape[1] == 3:
            return _fresh(x, "float32"), [x.shape[0]]
        raise ValueError(f"Expected line strips of shape (n, k, 3) or (k, 3), got {x.shape}")
    import numbers

    if isinstance(x, Sequence) and x and (
        (isinstance(x[0], Sequence) and len(x[0]) > 0 and isinstance(x[0][0], numbers.Number))
        or (isinstance(x[0], np.ndarray) and x[0].shape == (3,))
    ):
        x = [x]  # one strip, given as its points
    parts = []
    for s in x:
        a = np.asarray(getattr(s, "points", s), dtype=np.float32)
        if a.size == 0:
            a = a.reshape(0, 3)
        if a.ndim != 2 or a.shape[1] != 3:
            raise ValueError(f"Expected each line strip to have shape (k, 3), got {a.shape}")
        parts.append(a)
    flat = np.concatenate(parts).reshape(-1) if parts else np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(flat, dtype=np.float32), [len(p) for p in parts]


def view_coordinates_column(v: Any) -> np.ndarray:
    """`Pinhole.columns(camera_xyz=…)`: one `ViewCoordinates` (or name like "RDF", or three
    directions) or a sequence of them, as uint8 (n*3)."""
    if isinstance(v, str) or hasattr(v, "coordinates"):
        items = [v]
    elif isinstance(v, np.ndarray):
        items = list(v.reshape(-1, 3))
    else:
        items = list(v)
        if len(items) == 3 and all(isinstance(d, (int, np.integer, Enum)) for d in items):
            items = [items]  # one, given as its three directions
    return np.array([view_coordinates(i) for i in items], dtype=np.uint8).reshape(-1)


def image_formats(x: Any) -> list[tuple[int, int, int | None, int | None, int | None]]:
    """`ImageFormat`s (spate's or the official SDK's; one or a sequence) as (width, height,
    pixel format, color model, channel datatype), the last three as `u8` values or None."""
    items = [x] if hasattr(x, "width") else list(x)

    def value(kind: str, v: Any) -> int | None:
        return None if v is None else enum_value(kind, v)

    out = []
    for f in items:
        if not hasattr(f, "width") or not hasattr(f, "height"):
            raise TypeError(f"format must be rr.components.ImageFormat objects, got {type(f).__name__}")
        out.append((
            int(f.width),
            int(f.height),
            value("PixelFormat", getattr(f, "pixel_format", None)),
            value("ColorModel", getattr(f, "color_model", None)),
            value("ChannelDatatype", getattr(f, "channel_datatype", None)),
        ))
    return out


def _is_row(v: Any) -> bool:
    return isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, (str, bytes, bytearray))


def any_column(name: str, x: Any, drop_untyped_nones: bool) -> tuple[str, Any, Any, list[int] | None] | None:
    """An `AnyValues.columns` / `DynamicArchetype.columns` field by the SDK's rules: None when
    it is dropped (None or empty, with `drop_untyped_nones`), else `any_value`'s (kind, data,
    validity) and the rows' lengths: a sequence of sequences is one row per inner sequence
    (None: one row per value)."""
    empty = x is None or (_is_row(x) and len(x) == 0)
    if empty:
        if drop_untyped_nones:
            return None
        raise NotImplementedError(
            f"spate: AnyValues field {name!r} is {'None' if x is None else 'empty'} and has no type "
            "(keep drop_untyped_nones=True)"
        )
    if isinstance(x, np.ndarray) and x.ndim != 1:
        raise ValueError(f"{name}: cannot convert an array of shape {x.shape} (give 1-D arrays, or a list of rows)")
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes, bytearray)) and all(_is_row(v) for v in x):
        rows = [list(v) for v in x]
        kind, data, valid = any_value([v for row in rows for v in row])
        return kind, data, valid, [len(row) for row in rows]
    kind, data, valid = any_value(x)
    return kind, data, valid, None
