"""The component enums and values scripts name as `rr.components.X` (as in the official SDK)."""

from ._datatypes import (
    ChannelDatatype,
    ColorModel,
    Colormap,
    FillMode,
    ImageFormat,
    MagnificationFilter,
    MediaType,
    PixelFormat,
    TextLogLevel,
    TransformRelation,
    ViewCoordinates,
)

__all__ = [
    "ChannelDatatype",
    "ColorModel",
    "Colormap",
    "FillMode",
    "ImageFormat",
    "MagnificationFilter",
    "MediaType",
    "PixelFormat",
    "TextLogLevel",
    "TransformRelation",
    "ViewCoordinates",
]
