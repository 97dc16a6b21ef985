"""`send_columns`, `TimeColumn` and the archetypes' `columns(...)`, compared with the official
SDK (see `_differential.py`), then their errors in-process."""

from __future__ import annotations

import numpy as np
import pytest

import spate
from _differential import assert_same_as_sdk

CASES = {
    "scalars_sequence": """
        rr.send_columns("s", indexes=[rr.TimeColumn("step", sequence=np.arange(5))],
                        columns=rr.Scalars.columns(scalars=np.sin(np.arange(5) / 3)))
    """,
    "scalars_partitioned": """
        rr.send_columns("imu", indexes=[rr.TimeColumn("step", sequence=[10, 11, 12])],
                        columns=rr.Scalars.columns(scalars=np.arange(9.0).reshape(3, 3)).partition([3, 3, 3]))
    """,
    # Float arrays of seconds are truncated to nanoseconds, lists of floats rounded (as set_time):
    # 1.6 ns is 1 in the first column and 2 in the second.
    "durations_truncate_arrays_round_lists": """
        rr.send_columns("a", indexes=[rr.TimeColumn("t", duration=np.array([1.6e-9, 0.7, 2.0]))],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0, 3.0]))
        rr.send_columns("b", indexes=[rr.TimeColumn("t", duration=[1.6e-9, 0.7, 2.0])],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0, 3.0]))
        rr.send_columns("c", indexes=[rr.TimeColumn("t", duration=np.array([1, 2], dtype="timedelta64[ms]"))],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0]))
    """,
    "timestamps": """
        rr.send_columns("a", indexes=[rr.TimeColumn("clock", timestamp=np.array([1.7e9, 1.7e9 + 0.5]))],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0]))
        rr.send_columns("b", indexes=[rr.TimeColumn("clock", timestamp=np.array(
                            ["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[ns]"))],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0]))
        import datetime
        rr.send_columns("c", indexes=[rr.TimeColumn("clock", timestamp=[1.7e9 + 0.25,
                            datetime.datetime(2024, 1, 1, 12, 0, 0)])],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0]))
    """,
    "two_timelines": """
        rr.send_columns("s", indexes=[rr.TimeColumn("step", sequence=[0, 1]),
                                      rr.TimeColumn("time", duration=[0.0, 0.5])],
                        columns=rr.Scalars.columns(scalars=[4.0, 5.0]))
    """,
    "points3d_partitioned": """
        positions = np.arange(3 * 10, dtype=np.float32).reshape(10, 3)
        colors = np.array([0xFF0000FF, 0x00FF00FF, 0x0000FFFF, 0xFFFFFFFF], dtype=np.uint32)
        rr.send_columns("points", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2, 3])],
                        columns=[*rr.Points3D.columns(positions=positions).partition([1, 2, 3, 4]),
                                 *rr.Points3D.columns(colors=colors, radii=[0.1, 0.2, 0.3, 0.4])])
    """,
    "transform3d": """
        rr.send_columns("t", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=rr.Transform3D.columns(translation=np.arange(9.0).reshape(3, 3),
                                                       quaternion=np.tile([0, 0, 0, 1], (3, 1)),
                                                       scale=[[1, 1, 1], [2, 2, 2], [3, 3, 3]],
                                                       mat3x3=np.arange(27.0).reshape(3, 3, 3)))
        rr.send_columns("u", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.Transform3D.columns(
                            rotation_axis_angle=[rr.RotationAxisAngle(axis=[0, 0, 1], degrees=10),
                                                 rr.RotationAxisAngle(axis=[0, 1, 0], radians=1.0)],
                            relation=[rr.TransformRelation.ParentFromChild, rr.TransformRelation.ChildFromParent],
                            child_frame=["a", "b"], parent_frame=["p", "p"]))
    """,
    "encoded_images": """
        blobs = [bytes([0xFF, 0xD8, i, 0xFF, 0xD9]) for i in range(3)]
        rr.send_columns("e", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=rr.EncodedImage.columns(blob=blobs, media_type=["image/jpeg"] * 3,
                                                        opacity=[0.1, 0.2, 0.3]))
    """,
    "text_log": """
        rr.send_columns("log", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.TextLog.columns(text=["a", "b"], level=["INFO", "WARN"],
                                                   color=np.array([0xFF0000FF, 0x00FF00FF], np.uint32)))
    """,
    "recording_stream_method": """
        rec = rr.RecordingStream("rerun_example_spate_differential", recording_id="spate-differential")
        rec.set_sinks(rr.FileSink(__import__("pathlib").Path(__file__).with_suffix(".rec.rrd").as_posix()))
        rec.send_columns("s", indexes=[rr.TimeColumn("step", sequence=[1, 2])],
                         columns=rr.Scalars.columns(scalars=[1.0, 2.0]))
        rr.send_columns("s", indexes=[rr.TimeColumn("step", sequence=[1, 2])],
                        columns=rr.Scalars.columns(scalars=[1.0, 2.0]), recording=rec)
        rr.send_columns("s", indexes=[rr.TimeColumn("step", sequence=[3])],
                        columns=rr.Scalars.columns(scalars=[3.0]))
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_send_columns_matches_the_sdk(tmp_path, name):
    assert_same_as_sdk(tmp_path, CASES[name], name)


def test_partition_and_lists_behave_as_the_sdk():
    cols = spate.Points3D.columns(positions=np.zeros((6, 3)), radii=np.ones(6))
    assert len(cols) == 2
    assert [len(c) for c in cols] == [6, 6]
    parted = cols.partition([2, 4])
    assert [len(c) for c in parted] == [2, 2]
    assert [c.component for c in parted] == ["Points3D:positions", "Points3D:radii"]
    assert len(spate.Scalars.columns()) == 0


ERRORS = [
    (ValueError, lambda: spate.Scalars.columns(scalars=[1.0, 2.0, 3.0]).partition([1, 1])),
    (ValueError, lambda: spate.Points3D.columns(positions=np.zeros((4, 2)))),
    (TypeError, lambda: spate.Scalars.columns(scalars=[1.0, 2.0]).partition([[1], [1]])),
    (ValueError, lambda: spate.Scalars.columns(scalars=[1.0, 2.0]).partition([3, -1])),
    (ValueError, lambda: spate.TimeColumn("t")),
    (ValueError, lambda: spate.TimeColumn("t", sequence=[1], duration=[1])),
    (TypeError, lambda: spate.TimeColumn("t", sequence=[1.5, 2.5])),
    (TypeError, lambda: spate.TimeColumn("t", duration=np.array(["a"]))),
    (ValueError, lambda: spate.TimeColumn("t", timestamp=[1.7e12])),
    (NotImplementedError, lambda: spate.Points3D.columns(point_shading="flat")),
]


@pytest.mark.parametrize("error, make", ERRORS, ids=[f"{i}-{e.__name__}" for i, (e, _) in enumerate(ERRORS)])
def test_bad_columns_raise(error, make):
    with pytest.raises(error):
        make()


def test_send_columns_rejects_mismatched_lengths_and_kinds(tmp_path):
    rec = spate.RecordingStream("rerun_example_columns_errors")
    rec.set_sinks(spate.FileSink(str(tmp_path / "errors.rrd")))
    with pytest.raises(ValueError):
        rec.send_columns("s", indexes=[spate.TimeColumn("t", sequence=[1, 2, 3])],
                         columns=spate.Scalars.columns(scalars=[1.0, 2.0]))
    with pytest.raises(TypeError):
        rec.send_columns("s", indexes=[spate.TimeColumn("t", sequence=[1])], columns=[spate.Scalars(1.0)])
    with pytest.raises(TypeError):
        rec.send_columns("s", indexes=[[1, 2]], columns=spate.Scalars.columns(scalars=[1.0, 2.0]))
    rec.disconnect()
