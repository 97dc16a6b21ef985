"""spate: the official Rerun SDK's logging API over spate's lock-free ingest engine.

Write `import spate as rr` in a script written for `import rerun as rr`:

>>> import numpy as np
>>> import spate as rr
>>> rr.init("rerun_example_doc")
>>> rr.set_sinks(rr.FileSink(tmp_rrd))  # doctest: +SKIP
>>> rr.log("points", rr.Points3D(np.zeros((1000, 3), np.float32)))  # doctest: +SKIP

C-contiguous float32 positions (and uint32 colors, float32 radii) are taken without a copy
and kept alive until every sink has written them: do not write into a logged array before
`flush()` returns. Everything logged reaches the sinks when the interpreter exits (a bounded
wait: `SPATE_EXIT_TIMEOUT_SECS`, default 10 s), as with the official SDK.
"""

from __future__ import annotations

import atexit as _atexit
import os as _os
import sys as _sys

from . import _spate, components
from ._datatypes import (
    Angle,
    ChannelDatatype,
    ColorModel,
    PixelFormat,
    Quaternion,
    RotationAxisAngle,
    TransformRelation,
    ViewCoordinates,
)
from ._datatypes import MediaType, TextLogLevel
from ._errors import DataLost, FlushTimeout, NoRecording, RecordingClosed
from ._spate import (
    AnyValues,
    Archetype,
    Arrows3D,
    Boxes3D,
    ComponentColumn,
    ComponentColumnList,
    DepthImage,
    DynamicArchetype,
    EncodedImage,
    FileSink,
    GrpcSink,
    Image,
    LineStrips3D,
    Pinhole,
    Points2D,
    Points3D,
    Scalars,
    TextLog,
    TimeColumn,
    Transform3D,
    RecordingStream,
    disconnect,
    flush,
    get_global_data_recording,
    log,
    reset_time,
    send_columns,
    set_global_data_recording,
    set_sinks,
    set_time,
    shutdown,
    stats,
)

__version__: str = _spate.__version__


def init(
    application_id: str,
    *,
    recording_id: str | object | None = None,
    spawn: bool = False,
    init_logging: bool = True,
    default_enabled: bool = True,
    strict: bool | None = None,
    default_blueprint: object | None = None,
    send_properties: bool = True,
) -> None:
    """Starts the process's default recording (as `rerun.init`). Rows logged before
    `set_sinks` reach no sink."""
    if application_id.startswith("rerun_example_"):
        # As the official SDK: examples are reproducible.
        import random

        import numpy as np

        random.seed(0)
        np.random.seed(0)
    _spate.init(
        application_id,
        recording_id=recording_id,
        spawn=spawn,
        init_logging=init_logging,
        default_enabled=default_enabled,
        strict=strict,
        default_blueprint=default_blueprint,
        send_properties=send_properties,
    )


_PID = _os.getpid()


def _exit_timeout() -> float:
    raw = _os.environ.get("SPATE_EXIT_TIMEOUT_SECS", "10")
    try:
        return max(0.0, float(raw))
    except ValueError:
        print(f"spate: SPATE_EXIT_TIMEOUT_SECS={raw!r} is not a number; using 10", file=_sys.stderr)
        return 10.0


def _after_fork_in_child() -> None:
    # The inherited recordings have no threads here: they go quiet, and this process's
    # own recordings are the exit hook's from now on.
    global _PID
    _PID = _os.getpid()
    _spate._after_fork_in_child()


_os.register_at_fork(after_in_child=_after_fork_in_child)


@_atexit.register
def _at_exit() -> None:
    # A forked child does not own its parent's recordings.
    if _os.getpid() != _PID:
        return
    for report in _spate._shutdown_all(_exit_timeout()):
        print(f"spate: at exit, not everything was delivered: {report['summary']}", file=_sys.stderr)


__all__ = [
    "Angle",
    "AnyValues",
    "Archetype",
    "Arrows3D",
    "Boxes3D",
    "ChannelDatatype",
    "ColorModel",
    "ComponentColumn",
    "ComponentColumnList",
    "DepthImage",
    "DynamicArchetype",
    "EncodedImage",
    "Image",
    "LineStrips3D",
    "MediaType",
    "Pinhole",
    "PixelFormat",
    "Points2D",
    "Quaternion",
    "RotationAxisAngle",
    "Scalars",
    "TextLog",
    "TextLogLevel",
    "TimeColumn",
    "Transform3D",
    "TransformRelation",
    "ViewCoordinates",
    "components",
    "DataLost",
    "FileSink",
    "FlushTimeout",
    "GrpcSink",
    "NoRecording",
    "Points3D",
    "RecordingClosed",
    "RecordingStream",
    "disconnect",
    "flush",
    "get_global_data_recording",
    "init",
    "log",
    "reset_time",
    "send_columns",
    "set_global_data_recording",
    "set_sinks",
    "set_time",
    "shutdown",
    "stats",
]
