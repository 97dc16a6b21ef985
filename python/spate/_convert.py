"""Argument conversions with the official SDK's rules and messages (the slow paths).

The native module takes NumPy arrays of the right dtype as they are; everything else comes
here once and leaves as a fresh C-contiguous array of the wanted dtype, which the native
module then owns alone.
"""

from __future__ import annotations

from collections.abc import Sequence
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
