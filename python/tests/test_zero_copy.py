"""No extra copy of float32 positions: a C-contiguous float32 `(n, 3)` array's memory is what
the engine holds (the buffer's address is the array's), the array is kept alive while its row
is in flight and let go after, and everything else (F-order, float64, lists, a few points)
is converted once and still logs the right values.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import spate
from conftest import LIMIT, free_port, poll
from spate import _spate


def cloud(n: int = 1000, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-100, 100, (n, 3)).astype(np.float32)


def call_in() -> None:
    # pyo3 applies decrefs made off the interpreter (on a sink thread) at the next call into
    # the module: make one before looking at a reference count.
    _spate._positions_address(spate.Points3D(np.zeros((1, 3), np.float32)))


def test_float32_positions_are_the_arrays_memory() -> None:
    arr = cloud()
    assert _spate._positions_address(spate.Points3D(arr)) == arr.ctypes.data


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda a: np.asfortranarray(a), id="f-order"),
        pytest.param(lambda a: a.astype(np.float64), id="float64"),
        pytest.param(lambda a: a[::2], id="strided"),
        pytest.param(lambda a: a.tolist(), id="list"),
        pytest.param(lambda a: a.astype(np.float32).reshape(-1), id="flat-is-shared"),
    ],
)
def test_other_inputs_are_converted_once_and_log_the_same_values(make, tmp_path: Path, official) -> None:
    base = cloud(200)
    given = make(base)
    expected = np.asarray(given, np.float32).reshape(-1, 3)
    points = spate.Points3D(given)
    address = _spate._positions_address(points)
    if isinstance(given, np.ndarray) and given.dtype == np.float32 and given.flags.c_contiguous:
        assert address == given.ctypes.data
    else:
        owned = given.ctypes.data if isinstance(given, np.ndarray) else None
        assert address not in (owned, base.ctypes.data)
    rec = spate.RecordingStream("rerun_example_zero_copy")
    rec.set_sinks(spate.FileSink(tmp_path / "a.rrd"))
    rec.log("points", points)
    report = rec.shutdown()
    assert report["complete"], report["summary"]
    (row,) = [r for r in official.dump(tmp_path / "a.rrd")["rows"] if r["entity"] == "/points"]
    assert row["components"]["Points3D:positions"] == expected.tolist()


def test_the_array_is_held_while_its_row_is_in_flight_and_let_go_after() -> None:
    arr = cloud()
    base = sys.getrefcount(arr)
    # A gRPC sink to a port nobody listens on: the row waits in the sink's queue.
    rec = spate.RecordingStream("rerun_example_zero_copy_refs")
    rec.set_sinks(spate.GrpcSink(f"rerun+http://127.0.0.1:{free_port()}/proxy"))
    points = spate.Points3D(arr)
    assert sys.getrefcount(arr) == base + 1
    rec.log("points", points)
    del points
    assert sys.getrefcount(arr) > base, "a row in flight must keep its array alive"
    report = rec.shutdown(timeout_sec=0.5)
    assert not report["complete"]  # the row was dropped at the deadline: the sink let go
    assert poll(lambda: (call_in(), sys.getrefcount(arr) == base)[1], LIMIT), (sys.getrefcount(arr), base)


def test_after_flush_the_array_is_let_go(tmp_path: Path) -> None:
    arr = cloud()
    base = sys.getrefcount(arr)
    rec = spate.RecordingStream("rerun_example_zero_copy_flush")
    rec.set_sinks(spate.FileSink(tmp_path / "a.rrd"))
    rec.log("points", spate.Points3D(arr))
    rec.flush()
    assert poll(lambda: (call_in(), sys.getrefcount(arr) == base)[1], LIMIT), (sys.getrefcount(arr), base)
    rec.shutdown()


@pytest.mark.parametrize("n", [1, 4])
def test_a_few_points_are_copied(n: int) -> None:
    arr = cloud(n)
    base = sys.getrefcount(arr)
    points = spate.Points3D(arr)
    assert _spate._positions_address(points) != arr.ctypes.data
    assert sys.getrefcount(arr) == base, "a copied cloud must not hold the array"


def test_five_points_are_shared() -> None:
    arr = cloud(5)
    assert _spate._positions_address(spate.Points3D(arr)) == arr.ctypes.data


def logged_row(official, tmp_path: Path, points) -> dict:
    rec = spate.RecordingStream("rerun_example_converted")
    rec.set_sinks(spate.FileSink(tmp_path / "row.rrd"))
    rec.log("points", points)
    assert rec.shutdown()["complete"]
    (row,) = [r for r in official.dump(tmp_path / "row.rrd")["rows"] if r["entity"] == "/points"]
    return row["components"]


@pytest.mark.parametrize("n", [2, 4, 5, 1000])
def test_f_ordered_positions_of_any_size_log_row_by_row(official, tmp_path: Path, n: int) -> None:
    c = cloud(n)
    assert logged_row(official, tmp_path, spate.Points3D(np.asfortranarray(c)))["Points3D:positions"] == c.tolist()


@pytest.mark.parametrize("channels", [3, 4])
def test_f_ordered_color_rows_are_packed_row_by_row(official, tmp_path: Path, channels: int) -> None:
    # The Sinks page's tee example logs exactly this: uint8 rows made F-ordered by a `.T`.
    rgba = np.arange(10 * channels, dtype=np.uint8).reshape(10, channels) * 3
    alpha = rgba[:, 3].astype(np.uint32) if channels == 4 else 255
    r, g, b = (rgba[:, i].astype(np.uint32) for i in range(3))
    packed = ((r << 24) | (g << 16) | (b << 8) | alpha).tolist()
    points = spate.Points3D(cloud(10), colors=np.asfortranarray(rgba))
    assert logged_row(official, tmp_path, points)["Points3D:colors"] == packed
