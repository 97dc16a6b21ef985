"""Time values as the official SDK converts them (`rerun/time.py`), for the types the native
fast paths (int and float) do not handle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np


def to_nanos(duration: Any) -> int:
    if isinstance(duration, np.timedelta64):
        return int(duration.astype("timedelta64[ns]").astype("int64"))
    if isinstance(duration, timedelta):
        return round(1e9 * duration.total_seconds())
    if isinstance(duration, (int, np.integer)) and not isinstance(duration, bool):
        return 1_000_000_000 * int(duration)
    if isinstance(duration, (float, np.floating)):
        return round(1e9 * float(duration))
    raise TypeError(
        f"set_time: duration must be an int, float, timedelta, or numpy.timedelta64 object, got {type(duration)}",
    )


def to_nanos_since_epoch(timestamp: Any) -> int:
    if isinstance(timestamp, (int, np.integer, float, np.floating)) and not isinstance(timestamp, bool):
        if timestamp > 1e11:
            raise ValueError("set_time: Expected seconds since unix epoch, but it looks like this is in milliseconds")
        return int(np.round(1e9 * timestamp))
    if isinstance(timestamp, datetime):
        if (to_datetime64 := getattr(timestamp, "to_datetime64", None)) is not None:
            return int(to_datetime64().astype("datetime64[ns]").astype("int64"))
        timestamp = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
        return int(np.round(1e9 * (timestamp - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()))
    if isinstance(timestamp, np.datetime64):
        return int(timestamp.astype("datetime64[ns]").astype("int64"))
    value = getattr(timestamp, "value", None)  # pyarrow.TimestampScalar, without importing pyarrow
    if type(timestamp).__name__ == "TimestampScalar" and isinstance(value, int):
        return value
    raise TypeError(
        f"set_time: timestamp must be an int, float, datetime, numpy.datetime64, or pyarrow.TimestampScalar object, got {type(timestamp)}",
    )
