"""Errors are Python exceptions with clear messages (design note §5): bad shapes and dtypes,
bad entity paths, bad times, bad sinks, an unreachable server after its timeout, a closed
recording; and the report dicts of `stats()` and `shutdown()`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

import spate
from conftest import free_port

POS = np.zeros((10, 3), np.float32)


@pytest.fixture
def rec(tmp_path: Path):
    r = spate.RecordingStream("rerun_example_errors")
    r.set_sinks(spate.FileSink(tmp_path / "errors.rrd"))
    yield r
    r.shutdown()


def dead_url() -> str:
    return f"rerun+http://127.0.0.1:{free_port()}/proxy"


# -- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "positions, shape",
    [(np.zeros((4, 2)), "(4, 2)"), (np.zeros(7), "(7,)"), (np.zeros((2, 6)), "(2, 6)"), (np.zeros((4, 2), np.float32), "(4, 2)")],
)
def test_bad_position_shapes_are_value_errors_with_the_sdks_message(positions, shape) -> None:
    with pytest.raises(ValueError, match=r"Expected either a flat array with a length multiple of 3 elements.*Shape of passed array was " + re.escape(shape)):
        spate.Points3D(positions)


@pytest.mark.parametrize("positions", [["a", "b", "c"], "xyz", [object()] * 3, {"x": 1}])
def test_positions_that_are_not_numbers_are_value_errors(positions) -> None:
    with pytest.raises(ValueError):
        spate.Points3D(positions)


def test_radii_that_are_not_numbers_are_value_errors() -> None:
    with pytest.raises(ValueError, match="x"):
        spate.Points3D(POS, radii="x")


def test_colors_for_another_number_of_points_are_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"7|10"):
        spate.Points3D(POS, colors=np.zeros((7, 3), np.uint8))


def test_logging_something_that_is_not_an_archetype_is_a_type_error(rec) -> None:
    with pytest.raises(TypeError, match="int"):
        rec.log("a", 5)
    with pytest.raises(TypeError):
        rec.log("a", spate.Points3D(POS), "not an archetype")


@pytest.mark.parametrize("path", ["a b", "a//b", "a/", "a/__x"])
def test_bad_entity_paths_are_value_errors(rec, path: str) -> None:
    # Divergence, documented: the official SDK accepts (and escapes) some of these.
    with pytest.raises(ValueError):
        rec.log(path, spate.Points3D(POS))


def test_an_entity_path_that_is_not_text_is_a_type_error(rec) -> None:
    with pytest.raises(TypeError):
        rec.log(5, spate.Points3D(POS))


def test_entity_path_parts_are_joined(rec) -> None:
    rec.log(["world", "points", 3], spate.Points3D(POS))
    rec.flush()
    assert rec.stats()["sinks"][0]["rows"] == 1


def test_unsupported_arguments_raise_instead_of_being_ignored() -> None:
    with pytest.raises(NotImplementedError, match="point_shading"):
        spate.Points3D(POS, point_shading="flat")
    with pytest.raises(NotImplementedError, match="write_footer"):
        spate.FileSink("x.rrd", write_footer=False)


# -- time -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kw", [{}, {"sequence": 1, "duration": 2}, {"sequence": 1, "timestamp": 2}, {"sequence": 1, "duration": 1, "timestamp": 1}])
def test_set_time_wants_exactly_one_kind(rec, kw) -> None:
    with pytest.raises(ValueError, match="Exactly one of"):
        rec.set_time("t", **kw)
    with pytest.raises(ValueError, match="Exactly one of"):
        spate.set_time("t", recording=rec, **kw)


@pytest.mark.parametrize("value", [1.5, "3", np.float64(2.0), [1]])
def test_a_sequence_that_is_not_an_int_is_a_type_error(rec, value) -> None:
    with pytest.raises(TypeError):
        rec.set_time("t", sequence=value)


def test_a_sequence_int_like_is_accepted(rec) -> None:
    rec.set_time("t", sequence=np.int64(3))


@pytest.mark.parametrize("value", [1.7e12, 1_700_000_000_000, np.float64(1.7e12)])
def test_a_timestamp_in_milliseconds_is_a_value_error(rec, value) -> None:
    with pytest.raises(ValueError, match="milliseconds"):
        rec.set_time("t", timestamp=value)


@pytest.mark.parametrize(
    "kw, error",
    [
        # What the official SDK raises for each [ran]: nanoseconds beyond int64.
        ({"timestamp": 1e11}, OverflowError),
        ({"timestamp": 9.3e9}, OverflowError),
        ({"timestamp": -1e11}, OverflowError),
        ({"timestamp": float("inf")}, ValueError),  # "looks like milliseconds", as the SDK
        ({"timestamp": float("-inf")}, OverflowError),
        ({"timestamp": float("nan")}, ValueError),
        ({"duration": 10**10}, OverflowError),
        ({"duration": 1e10}, OverflowError),
        ({"duration": -1e10}, OverflowError),
        ({"duration": float("inf")}, OverflowError),
        ({"duration": float("nan")}, ValueError),
        ({"sequence": 2**63}, OverflowError),
    ],
)
def test_times_beyond_int64_nanoseconds_raise_as_in_the_sdk(rec, kw, error) -> None:
    # Never a silently saturated (or zeroed, for NaN) time.
    with pytest.raises(error):
        rec.set_time("t", **kw)


@pytest.mark.parametrize("kw", [{"duration": "1s"}, {"timestamp": "2024-01-01"}, {"duration": object()}])
def test_times_of_other_types_are_type_errors(rec, kw) -> None:
    with pytest.raises(TypeError):
        rec.set_time("t", **kw)


# -- sinks ----------------------------------------------------------------------------------


def test_duplicate_sinks_are_a_value_error(tmp_path: Path) -> None:
    rec = spate.RecordingStream("rerun_example_dup")
    with pytest.raises(ValueError, match="Duplicate sinks"):
        rec.set_sinks(spate.FileSink(tmp_path / "a.rrd"), spate.FileSink(tmp_path / "a.rrd"))
    with pytest.raises(ValueError, match="Duplicate sinks"):
        rec.set_sinks(spate.GrpcSink(), spate.GrpcSink("rerun+http://127.0.0.1:9876/proxy"))
    assert not (tmp_path / "a.rrd").exists(), "a refused set_sinks must not create files"
    rec.shutdown()


@pytest.mark.parametrize("sink", ["a.rrd", None, 5, object()])
def test_a_sink_that_is_not_a_sink_is_a_type_error(sink) -> None:
    rec = spate.RecordingStream("rerun_example_not_a_sink")
    with pytest.raises(TypeError, match="not a valid sink"):
        rec.set_sinks(sink)
    rec.shutdown()


def test_an_uncreatable_file_fails_at_set_sinks_not_at_construction() -> None:
    sink = spate.FileSink("/nonexistent/x.rrd")
    rec = spate.RecordingStream("rerun_example_bad_file")
    with pytest.raises(OSError, match="/nonexistent/x.rrd"):
        rec.set_sinks(sink)
    rec.shutdown()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9876/proxy", "not a url", "rerun+http://", "rerun+http://127.0.0.1:99999/proxy"])
def test_a_bad_grpc_url_is_a_value_error_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="invalid gRPC URL"):
        spate.GrpcSink(url)


def test_sinks_compare_and_hash_as_the_sdks() -> None:
    assert spate.GrpcSink() == spate.GrpcSink("rerun+http://127.0.0.1:9876/proxy")
    assert len({spate.FileSink("a.rrd"), spate.FileSink("a.rrd"), spate.FileSink("b.rrd")}) == 2
    assert spate.FileSink("a.rrd") != spate.GrpcSink()


# -- an unreachable server ------------------------------------------------------------------


def test_flush_to_an_unreachable_server_raises_flush_timeout_after_its_timeout() -> None:
    rec = spate.RecordingStream("rerun_example_dead_server")
    rec.set_sinks(spate.GrpcSink(dead_url()))
    rec.log("points", spate.Points3D(POS))
    started = time.monotonic()
    with pytest.raises(spate.FlushTimeout) as e:
        rec.flush(timeout_sec=1)
    elapsed = time.monotonic() - started
    # The message says which sink is behind and why (the SDK: "gRPC has been unable to
    # connect for 7s, uri: ...").
    assert "rerun+http://127.0.0.1:" in str(e.value) and "Connection refused" in str(e.value), str(e.value)
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, TimeoutError)
    assert 0.9 <= elapsed < 10, elapsed  # a hang guard, not a timing measurement
    with pytest.raises(spate.FlushTimeout):
        spate.flush(timeout_sec=0.2, recording=rec)
    rec.flush(timeout_sec=0)  # starts the flush, does not wait, does not raise
    report = rec.shutdown(timeout_sec=0.5)
    assert report["complete"] is False
    (sink,) = report["sinks"]
    # (The engine reports such a sink either as timed out or as failed with "deadline
    # passed": which one is a race, so neither is pinned here.)
    assert sink["complete"] is False and sink["closed_cleanly"] is False
    assert "Connection refused" in sink["error"], sink


def test_a_negative_timeout_is_a_value_error(rec) -> None:
    with pytest.raises(ValueError):
        rec.flush(timeout_sec=-1)


# -- lifecycle ------------------------------------------------------------------------------


def test_logging_after_shutdown_raises_recording_closed(tmp_path: Path) -> None:
    rec = spate.RecordingStream("rerun_example_closed")
    rec.set_sinks(spate.FileSink(tmp_path / "a.rrd"))
    rec.log("points", spate.Points3D(POS))
    report = rec.shutdown()
    assert report["complete"] is True and report["rows_logged"] == 1, report
    with pytest.raises(spate.RecordingClosed):
        rec.log("points", spate.Points3D(POS))
    assert issubclass(spate.RecordingClosed, RuntimeError)


def test_stats_and_shutdown_are_dicts(tmp_path: Path) -> None:
    rec = spate.RecordingStream("rerun_example_reports")
    rec.set_sinks(spate.FileSink(tmp_path / "a.rrd"))
    for i in range(3):
        rec.set_time("frame", sequence=i)
        rec.log("points", spate.Points3D(POS))
    rec.flush()
    s = rec.stats()
    assert isinstance(s, dict)
    assert s["rows_logged"] == 3 and s["rows_dropped"] == 0
    (sink,) = s["sinks"]
    assert sink["rows"] == 3 and sink["failed"] is False
    assert spate.stats(recording=rec)["rows_logged"] == 3
    report = spate.shutdown(recording=rec)
    assert isinstance(report, dict)
    assert report["complete"] is True and report["timed_out"] is False
    assert report["sinks"][0]["closed_cleanly"] is True
    assert isinstance(report["summary"], str) and report["summary"]


def test_with_makes_it_the_thread_default_and_flushes_on_exit(tmp_path: Path) -> None:
    previous = spate.set_global_data_recording(None)
    try:
        rec = spate.RecordingStream("rerun_example_with")
        rec.set_sinks(spate.FileSink(tmp_path / "a.rrd"))
        with rec as entered:
            assert entered is rec
            spate.set_time("frame", sequence=1)
            spate.log("points", spate.Points3D(POS))
        # No flush called: leaving the block flushed.
        assert rec.stats()["sinks"][0]["rows"] == 1
        with pytest.raises(spate.NoRecording):
            spate.log("points", spate.Points3D(POS))
        rec.shutdown()
    finally:
        spate.set_global_data_recording(previous)


def test_with_blocks_nest(tmp_path: Path) -> None:
    previous = spate.set_global_data_recording(None)
    try:
        outer = spate.RecordingStream("rerun_example_outer")
        inner = spate.RecordingStream("rerun_example_inner")
        outer.set_sinks(spate.FileSink(tmp_path / "outer.rrd"))
        inner.set_sinks(spate.FileSink(tmp_path / "inner.rrd"))
        with outer:
            with inner:
                spate.log("points", spate.Points3D(POS))
            spate.log("points", spate.Points3D(POS))
            spate.log("points", spate.Points3D(POS))
        assert (outer.stats()["sinks"][0]["rows"], inner.stats()["sinks"][0]["rows"]) == (2, 1)
        outer.shutdown()
        inner.shutdown()
    finally:
        spate.set_global_data_recording(previous)
