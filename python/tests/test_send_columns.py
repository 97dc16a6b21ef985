"""`send_columns`, `TimeColumn` and the archetypes' `columns(...)`, compared with the official
SDK (see `_differential.py`), then their errors in-process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import spate
from _differential import SCRIPT_LIMIT_S, assert_same_as_sdk, official_python

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
    "points2d_partitioned": """
        positions = np.arange(2 * 6, dtype=np.float32).reshape(6, 2)
        rr.send_columns("p2", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=[*rr.Points2D.columns(positions=positions, radii=np.full(6, 0.5),
                                                      class_ids=[1, 2, 3, 4, 5, 6], keypoint_ids=np.arange(6),
                                                      labels=list("abcdef")).partition([1, 2, 3]),
                                 *rr.Points2D.columns(draw_order=[1.0, 2.0, 3.0], show_labels=[True, False, True],
                                                      colors=[[255, 0, 0], [0, 255, 0], [0, 0, 255]])])
    """,
    "arrows3d_partitioned": """
        rr.send_columns("a", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=[*rr.Arrows3D.columns(vectors=np.eye(3)[[0, 1, 2, 0]], origins=np.zeros((4, 3)),
                                                      class_ids=[1, 2, 3, 4]).partition([3, 1]),
                                 *rr.Arrows3D.columns(radii=[0.1, 0.2], colors=np.array([0xFF0000FF, 0x00FF00FF], np.uint32),
                                                      labels=["x", "y"], show_labels=[False, True])])
    """,
    "boxes3d": """
        rr.send_columns("b", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=rr.Boxes3D.columns(half_sizes=[[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                                                   centers=np.arange(9.0).reshape(3, 3),
                                                   quaternions=[rr.Quaternion(xyzw=[0, 0, 0, 1])] * 3,
                                                   fill_mode=["solid", rr.components.FillMode.MajorWireframe, "densewireframe"],
                                                   radii=[0.1, 0.2, 0.3], class_ids=[1, 2, 3],
                                                   labels=["a", "b", "c"], show_labels=[True, True, False]))
        rr.send_columns("c", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=[*rr.Boxes3D.columns(half_sizes=np.ones((4, 3)),
                                                     colors=[[255, 0, 0, 255]] * 4).partition([1, 3]),
                                 *rr.Boxes3D.columns(rotation_axis_angles=[
                                     rr.RotationAxisAngle(axis=[0, 0, 1], degrees=90),
                                     rr.RotationAxisAngle(axis=[1, 0, 0], radians=0.5)])])
    """,
    "line_strips3d_partitioned": """
        strips = [[[0, 0, 0], [1, 1, 1]], [[2, 2, 2], [3, 3, 3], [4, 4, 4]], np.zeros((4, 3)), [[5, 5, 5], [6, 6, 6]]]
        rr.send_columns("l", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=[*rr.LineStrips3D.columns(strips=strips, radii=[0.1, 0.2, 0.3, 0.4],
                                                          colors=[[255, 0, 0]] * 4).partition([2, 0, 2]),
                                 *rr.LineStrips3D.columns(labels=["a", "b", "c"], class_ids=[1, 2, 3],
                                                          show_labels=[True, False, True])])
        rr.send_columns("m", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.LineStrips3D.columns(strips=np.arange(24.0).reshape(2, 4, 3)))
    """,
    "pinhole": """
        k = np.array([[[500, 0, 320], [0, 500, 240], [0, 0, 1]], [[600, 0, 300], [0, 610, 200], [0, 0, 1]]], dtype=np.float32)
        rr.send_columns("cam", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.Pinhole.columns(image_from_camera=k, resolution=[[640, 480], [600, 400]],
                                                   camera_xyz=[rr.ViewCoordinates.RDF, rr.ViewCoordinates.RUB],
                                                   child_frame=["cam0", "cam1"], parent_frame=["world", "world"],
                                                   image_plane_distance=[1.0, 2.0], color=[[255, 255, 0], [0, 255, 255]],
                                                   line_width=[0.01, 0.02]))
        rr.send_columns("cam2", indexes=[rr.TimeColumn("frame", sequence=[0])],
                        columns=rr.Pinhole.columns(camera_xyz=rr.ViewCoordinates.RDF, resolution=[[640, 480]]))
    """,
    "images": """
        frames = np.arange(3 * 4 * 2 * 3, dtype=np.uint8).reshape(3, 4 * 2 * 3)
        fmt = rr.components.ImageFormat(width=2, height=4, color_model="RGB", channel_datatype="U8")
        rr.send_columns("img", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=rr.Image.columns(buffer=frames, format=[fmt] * 3, opacity=[0.5, 0.6, 0.7],
                                                 draw_order=[1.0, 2.0, 3.0],
                                                 magnification_filter=["nearest", "linear", rr.components.MagnificationFilter.Bicubic]))
        nv12 = rr.components.ImageFormat(width=4, height=2, pixel_format=rr.PixelFormat.NV12)
        rr.send_columns("yuv", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=[*rr.Image.columns(buffer=[bytes(12), bytes(range(12))]),
                                 *rr.Image.columns(format=[nv12, nv12])])
        rr.send_columns("one", indexes=[rr.TimeColumn("frame", sequence=[5])],
                        columns=rr.Image.columns(buffer=bytes(12), format=nv12))
        rr.log("static_format", rr.Image(np.zeros((4, 2, 3), np.uint8)), static=True)
        rr.send_columns("static_format", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=rr.Image.columns(buffer=frames))
    """,
    "depth_images": """
        depth = np.arange(3 * 6, dtype=np.uint16).reshape(3, 6)
        fmt = rr.components.ImageFormat(width=3, height=2, channel_datatype=rr.ChannelDatatype.U16)
        rr.send_columns("d", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=rr.DepthImage.columns(buffer=[row.tobytes() for row in depth], format=[fmt] * 3,
                                                      meter=[1000.0, 1000.0, 500.0], colormap=["turbo", "viridis", 1],
                                                      depth_range=[[0, 10], [0, 20], [5, 15]],
                                                      point_fill_ratio=[0.5, 0.6, 0.7], draw_order=[1.0, 2.0, 3.0],
                                                      magnification_filter=["nearest"] * 3))
        rr.send_columns("e", indexes=[rr.TimeColumn("frame", sequence=[0])],
                        columns=rr.DepthImage.columns(buffer=[np.zeros(8, np.uint8)], depth_range=[[0.5, 2.5]]))
    """,
    "any_values": """
        rr.send_columns("any", indexes=[rr.TimeColumn("frame", sequence=[0, 1, 2])],
                        columns=[*rr.AnyValues.columns(confidence=[0.1, 0.5, 0.9], count=np.array([1, 2, 3], np.int32),
                                                       name=["a", "b", "c"], ok=[True, False, True],
                                                       gaps=[1, None, 3], dropped=None, empty=[]),
                                 *rr.AnyValues.columns(per_row=[[1, 2], [], [3]], labels=[["x", "y"], ["z"], []])])
        rr.send_columns("any2", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.AnyValues.columns(values=np.arange(6.0)).partition([4, 2]))
        rr.send_columns("any3", indexes=[rr.TimeColumn("frame", sequence=[0])],
                        columns=[*rr.AnyValues.columns(text="one"), *rr.AnyValues.columns(x=4.5),
                                 *rr.AnyValues.columns(floats=np.array([1.5, 2.5], np.float32)).partition([2])])
        rr.send_columns("any4", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.AnyValues.columns(ragged=[[1, 2], [3]]).partition([1, 2]))
    """,
    "dynamic_archetype": """
        rr.send_columns("dyn", indexes=[rr.TimeColumn("frame", sequence=[0, 1])],
                        columns=rr.DynamicArchetype.columns("robot.Odometry", components={
                            "speed": [1.5, 2.5], "gear": np.array([1, 2], np.uint8), "tags": [["a"], ["b", "c"]],
                            "unknown": None}))
        rr.send_columns("dyn", indexes=[rr.TimeColumn("frame", sequence=[2, 3])],
                        columns=rr.DynamicArchetype.columns(archetype="robot.Odometry",
                                                            components={"speed": np.arange(4.0)}).partition([1, 3]))
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


SIGNATURES = """
import inspect, json, sys
import {module} as rr

out = {{}}
for name in json.loads(sys.argv[1]):
    columns = getattr(getattr(rr, name, None), "columns", None)
    if columns is None:
        out[name] = None
        continue
    out[name] = [
        [p.name, p.kind.name, "<required>" if p.default is inspect.Parameter.empty else repr(p.default)]
        for p in inspect.signature(columns).parameters.values()
    ]
print(json.dumps(out))
"""


def _archetypes() -> list[str]:
    """Every archetype class `spate` exports."""
    return sorted(
        name
        for name in dir(spate)
        if isinstance(getattr(spate, name), type)
        and issubclass(getattr(spate, name), spate.Archetype)
        and getattr(spate, name) is not spate.Archetype
    )


def _columns_signatures(python, module: str, names: list[str]) -> dict:
    """`{name: [[parameter, kind, default repr], …] or None}` of `module.<name>.columns`."""
    p = subprocess.run(
        [str(python), "-c", SIGNATURES.format(module=module), json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_LIMIT_S,
    )
    assert p.returncode == 0, f"{module}: reading the signatures failed:\n{p.stderr}"
    return json.loads(p.stdout)


def test_every_columns_has_the_sdk_signature():
    """Every archetype spate exports has `columns` with the official SDK's parameter names,
    kinds and defaults, so any call written for the SDK binds the same way."""
    official = official_python()
    names = _archetypes()
    assert len(names) >= 14, names
    ours = _columns_signatures(sys.executable, "spate", names)
    theirs = _columns_signatures(official, "rerun", names)
    missing = [n for n in names if ours[n] is None]
    assert not missing, f"archetypes without columns(...): {missing}"
    differ = [f"{n}:\n  spate {json.dumps(ours[n])}\n  sdk   {json.dumps(theirs[n])}" for n in names if ours[n] != theirs[n]]
    assert not differ, "columns(...) signatures differ from the official SDK's:\n" + "\n".join(differ)


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
    (ValueError, lambda: spate.Points2D.columns(positions=np.zeros((3, 3)))),
    (ValueError, lambda: spate.LineStrips3D.columns(strips=np.zeros((2, 2)))),
    (ValueError, lambda: spate.Pinhole.columns(camera_xyz="XYZ")),
    (TypeError, lambda: spate.Image.columns(format=[1, 2])),
    (ValueError, lambda: spate.DepthImage.columns(depth_range=[1.0, 2.0, 3.0])),
    (ValueError, lambda: spate.Boxes3D.columns(fill_mode="hollow")),
    (NotImplementedError, lambda: spate.AnyValues.columns(drop_untyped_nones=False, x=None)),
    (ValueError, lambda: spate.AnyValues.columns(x=np.zeros((2, 2)))),
    (ValueError, lambda: spate.DynamicArchetype.columns("A", components={"x": [1.0]}).partition([2])),
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
