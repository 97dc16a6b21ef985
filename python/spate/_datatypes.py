"""The enum-like values and small datatypes the official SDK's archetype constructors take,
spelled as the SDK spells them (`rr.ColorModel.RGB`, `rr.components.FillMode.Solid`,
`rr.ViewCoordinates.RDF`, `rr.RotationAxisAngle(axis=…, degrees=…)`, …).

Every enum also accepts, where the SDK does, its value as an int and its name as a string
in any case (`"rgb"`, `"Solid"`): `auto` is the SDK's "best-effort converter".
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import numpy as np


class _AutoEnum(Enum):
    """An enum with the SDK's `auto`: a member, its int value, or its name in any case."""

    @classmethod
    def auto(cls, val: Any) -> Any:
        if isinstance(val, cls):
            return val
        if isinstance(val, Enum) and type(val).__name__ == cls.__name__:
            # The official SDK's own member of the same enum (a script mixing both).
            return cls(val.value)
        if isinstance(val, (int, np.integer)) and not isinstance(val, bool):
            try:
                return cls(int(val))
            except ValueError:
                raise ValueError(f"Cannot convert {val} to {cls.__name__}") from None
        if isinstance(val, str):
            try:
                return cls[val]
            except KeyError:
                lower = val.lower()
                for variant in cls:
                    if variant.name.lower() == lower:
                        return variant
            raise ValueError(f"Cannot convert {val} to {cls.__name__}")
        raise TypeError(f"Cannot convert {type(val).__name__} to {cls.__name__}")

    def __str__(self) -> str:
        return self.name


class ColorModel(_AutoEnum):
    """What color components an image's pixels hold."""

    L = 1
    RGB = 2
    RGBA = 3
    BGR = 4
    BGRA = 5


class ChannelDatatype(_AutoEnum):
    """The type of one channel value of an image."""

    U8 = 6
    I8 = 7
    U16 = 8
    I16 = 9
    U32 = 10
    I32 = 11
    U64 = 12
    I64 = 13
    F16 = 33
    F32 = 34
    F64 = 35

    @classmethod
    def from_np_dtype(cls, dtype: Any) -> ChannelDatatype:
        return _DATATYPE_OF_DTYPE[np.dtype(dtype).type]


_DATATYPE_OF_DTYPE = {
    np.uint8: ChannelDatatype.U8,
    np.uint16: ChannelDatatype.U16,
    np.uint32: ChannelDatatype.U32,
    np.uint64: ChannelDatatype.U64,
    np.int8: ChannelDatatype.I8,
    np.int16: ChannelDatatype.I16,
    np.int32: ChannelDatatype.I32,
    np.int64: ChannelDatatype.I64,
    np.float16: ChannelDatatype.F16,
    np.float32: ChannelDatatype.F32,
    np.float64: ChannelDatatype.F64,
}


class PixelFormat(_AutoEnum):
    """Chroma-subsampled and Bayer pixel layouts."""

    Y_U_V12_LimitedRange = 20
    NV12 = 26
    YUY2 = 27
    Y8_FullRange = 30
    Y_U_V24_LimitedRange = 39
    Y_U_V24_FullRange = 40
    Y8_LimitedRange = 41
    Y_U_V12_FullRange = 44
    Y_U_V16_LimitedRange = 49
    Y_U_V16_FullRange = 50
    BayerRGGB8 = 128
    BayerBGGR8 = 129
    BayerGBRG8 = 130
    BayerGRBG8 = 131


class TransformRelation(_AutoEnum):
    """Which way a `Transform3D` maps."""

    ParentFromChild = 1
    ChildFromParent = 2


class FillMode(_AutoEnum):
    """How a shape is drawn."""

    MajorWireframe = 1
    DenseWireframe = 2
    Solid = 3
    TransparentFillMajorWireframe = 4


class Colormap(_AutoEnum):
    """A color map for depth values."""

    Grayscale = 1
    Inferno = 2
    Magma = 3
    Plasma = 4
    Turbo = 5
    Viridis = 6
    CyanToYellow = 7
    Spectral = 8
    Twilight = 9
    RvizMap = 10
    RvizCostmap = 11
    Costmap = 12


class MagnificationFilter(_AutoEnum):
    """How the viewer samples a magnified image."""

    Nearest = 1
    Linear = 2
    Bicubic = 3


class ViewDir(_AutoEnum):
    """One direction of a `ViewCoordinates` axis."""

    Up = 1
    Down = 2
    Right = 3
    Left = 4
    Forward = 5
    Back = 6


class ViewCoordinates:
    """What the X, Y and Z axes point at: `ViewCoordinates.RDF` (X right, Y down, Z forward),
    `ViewCoordinates.RIGHT_HAND_Z_UP`, … as in the official SDK. Also the SDK's archetype of the
    same name: `log("world", ViewCoordinates.RIGHT_HAND_Z_UP, static=True)` logs it, and
    `ViewCoordinates(xyz)` takes a `ViewCoordinates`, a name like "RDF" or three directions."""

    __slots__ = ("coordinates",)

    def __init__(self, xyz: Any) -> None:
        if isinstance(xyz, ViewCoordinates):
            xyz = xyz.coordinates
        elif isinstance(xyz, str):
            found = getattr(ViewCoordinates, xyz.upper(), None)
            if not isinstance(found, ViewCoordinates):
                raise ValueError(f"Unknown ViewCoordinates: {xyz!r}")
            xyz = found.coordinates
        dirs = [ViewDir.auto(d) for d in xyz]
        if len(dirs) != 3:
            raise ValueError(f"ViewCoordinates needs 3 directions, got {len(dirs)}")
        self.coordinates = dirs

    def __repr__(self) -> str:
        return f"ViewCoordinates({''.join(d.name[0] for d in self.coordinates)})"

    def _as_spate_archetype(self) -> Any:
        # What `log` takes: the `ViewCoordinates` archetype's one component.
        from . import _spate

        return _spate._view_coordinates_row(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ViewCoordinates) and self.coordinates == other.coordinates

    def __hash__(self) -> int:
        return hash(tuple(self.coordinates))


_LETTERS = {"U": ViewDir.Up, "D": ViewDir.Down, "R": ViewDir.Right, "L": ViewDir.Left, "F": ViewDir.Forward, "B": ViewDir.Back}
_AXIS = {"U": 0, "D": 0, "R": 1, "L": 1, "F": 2, "B": 2}
for _a in "UDRLFB":
    for _b in "UDRLFB":
        for _c in "UDRLFB":
            if len({_AXIS[_a], _AXIS[_b], _AXIS[_c]}) == 3:
                setattr(ViewCoordinates, _a + _b + _c, ViewCoordinates([_LETTERS[x] for x in (_a, _b, _c)]))
for _name, _dirs in {
    "LEFT_HAND_X_DOWN": "DRF",
    "LEFT_HAND_X_UP": "URB",
    "LEFT_HAND_Y_DOWN": "RDB",
    "LEFT_HAND_Y_UP": "RUF",
    "LEFT_HAND_Z_DOWN": "RFD",
    "LEFT_HAND_Z_UP": "RBU",
    "RIGHT_HAND_X_DOWN": "DRB",
    "RIGHT_HAND_X_UP": "URF",
    "RIGHT_HAND_Y_DOWN": "RDF",
    "RIGHT_HAND_Y_UP": "RUB",
    "RIGHT_HAND_Z_DOWN": "RBD",
    "RIGHT_HAND_Z_UP": "RFU",
}.items():
    setattr(ViewCoordinates, _name, getattr(ViewCoordinates, _dirs))


class MediaType(str):
    """A media (MIME) type: `MediaType.JPEG` is `"image/jpeg"`; any string works."""

    JPEG: MediaType
    PNG: MediaType

    @staticmethod
    def guess_from_path(path: Any) -> MediaType | None:
        import mimetypes

        guess, _ = mimetypes.guess_type(str(path))
        return MediaType(guess) if guess else None


MediaType.JPEG = MediaType("image/jpeg")
MediaType.PNG = MediaType("image/png")


class TextLogLevel(str):
    """A text log line's level: `TextLogLevel.INFO` is `"INFO"`; any string works."""

    CRITICAL: TextLogLevel
    ERROR: TextLogLevel
    WARN: TextLogLevel
    INFO: TextLogLevel
    DEBUG: TextLogLevel
    TRACE: TextLogLevel


for _level in ("CRITICAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"):
    setattr(TextLogLevel, _level, TextLogLevel(_level))


class Angle:
    """An angle, given in radians (`rad=`) or degrees (`deg=`); kept in radians."""

    __slots__ = ("radians",)

    def __init__(self, rad: float | None = None, deg: float | None = None) -> None:
        if (rad is None) == (deg is None):
            raise ValueError("Angle needs exactly one of rad= or deg=")
        self.radians = float(rad) if rad is not None else math.radians(float(deg))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Angle(radians={self.radians})"


class RotationAxisAngle:
    """A rotation about `axis` (not necessarily normalized) by an angle."""

    __slots__ = ("angle", "axis")

    def __init__(
        self,
        axis: Any,
        angle: Angle | float | None = None,
        *,
        radians: float | None = None,
        degrees: float | None = None,
    ) -> None:
        if len([x for x in (angle, radians, degrees) if x is not None]) != 1:
            raise ValueError("RotationAxisAngle needs exactly one of angle, radians or degrees")
        self.axis = np.asarray(axis, dtype=np.float32).reshape(3)
        if radians is not None:
            angle = Angle(rad=radians)
        elif degrees is not None:
            angle = Angle(deg=degrees)
        elif not isinstance(angle, Angle):
            angle = Angle(rad=float(angle))  # type: ignore[arg-type]
        self.angle = angle

    def __repr__(self) -> str:
        return f"RotationAxisAngle(axis={self.axis.tolist()}, angle={self.angle!r})"


class Quaternion:
    """A rotation as a quaternion `[x, y, z, w]`."""

    __slots__ = ("xyzw",)

    def __init__(self, *, xyzw: Any) -> None:
        self.xyzw = np.asarray(xyzw, dtype=np.float32).reshape(4)

    def __repr__(self) -> str:
        return f"Quaternion(xyzw={self.xyzw.tolist()})"


class ImageFormat:
    """How to read an image's bytes (`rr.components.ImageFormat`): its size and either a pixel
    format or a color model and channel datatype (a depth image: the datatype alone). What
    `Image.columns(format=…)` and `DepthImage.columns(format=…)` take."""

    __slots__ = ("width", "height", "pixel_format", "color_model", "channel_datatype")

    def __init__(
        self,
        width: int,
        height: int,
        *,
        pixel_format: Any = None,
        color_model: Any = None,
        channel_datatype: Any = None,
    ) -> None:
        self.width = int(width)
        self.height = int(height)
        self.pixel_format = None if pixel_format is None else PixelFormat.auto(pixel_format)
        self.color_model = None if color_model is None else ColorModel.auto(color_model)
        self.channel_datatype = None if channel_datatype is None else ChannelDatatype.auto(channel_datatype)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)}"
            for name in ("pixel_format", "color_model", "channel_datatype")
            if getattr(self, name) is not None
        )
        return f"ImageFormat({self.width}, {self.height}{', ' + fields if fields else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageFormat) and all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self.__slots__))
