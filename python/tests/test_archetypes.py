"""Each archetype logged by the same script through the official SDK and through spate must
give the same components (names, descriptors, Arrow types, values): see `_differential.py`.
Then the errors spate raises for bad data, in-process."""

from __future__ import annotations

import numpy as np
import pytest

import spate
from _differential import assert_same_as_sdk

CASES = {
    "points2d": """
        rr.set_time("frame", sequence=0)
        rr.log("p", rr.Points2D([[0, 1], [2, 3], [4, 5]]))
        rr.set_time("frame", sequence=1)
        rr.log("p", rr.Points2D(np.arange(6, dtype=np.float64).reshape(3, 2), radii=0.5,
                                colors=np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8),
                                labels=["a", "b", "c"], show_labels=False, draw_order=2.5,
                                class_ids=[1, 2, 3], keypoint_ids=np.array([4, 5, 6])))
        rr.set_time("frame", sequence=2)
        rr.log("p", rr.Points2D(np.zeros((2, 2), np.float32), colors=np.array([0xFF0000FF, 0x00FF0080], np.uint32),
                                radii=[0.1, 0.2], labels="one label"))
    """,
    "arrows3d": """
        rr.set_time("frame", sequence=0)
        rr.log("a", rr.Arrows3D(vectors=[[1, 0, 0], [0, 1, 0]], origins=[[0, 0, 0], [1, 1, 1]],
                                colors=[255, 128, 0], radii=0.05, labels=["x", "y"], class_ids=7))
        rr.set_time("frame", sequence=1)
        rr.log("a", rr.Arrows3D(vectors=np.ones((4, 3)), show_labels=True))
    """,
    "boxes3d": """
        rr.set_time("frame", sequence=0)
        rr.log("b", rr.Boxes3D(half_sizes=[[1, 2, 3], [0.5, 0.5, 0.5]], centers=[[0, 0, 0], [4, 0, 0]],
                               quaternions=[rr.Quaternion(xyzw=[0, 0, 0, 1]), rr.Quaternion(xyzw=[0, 0, 1, 0])],
                               fill_mode="solid", colors=[[0, 255, 0, 128]], labels=["car", "cone"]))
        rr.set_time("frame", sequence=1)
        rr.log("b", rr.Boxes3D(sizes=np.array([[2.0, 4.0, 6.0]]), mins=[[-1, -2, -3]],
                               rotation_axis_angles=[rr.RotationAxisAngle(axis=[0, 0, 1], degrees=90)],
                               fill_mode=rr.components.FillMode.MajorWireframe, radii=0.01, class_ids=[3]))
    """,
    "line_strips3d": """
        rr.set_time("frame", sequence=0)
        rr.log("l", rr.LineStrips3D([[[0, 0, 0], [1, 1, 0]], [[2, 2, 2], [3, 3, 3], [4, 4, 4]]],
                                    colors=[[0, 0, 255]], radii=[0.1, 0.2], labels=["s1", "s2"]))
        rr.set_time("frame", sequence=1)
        rr.log("l", rr.LineStrips3D(np.arange(24, dtype=np.float64).reshape(2, 4, 3), class_ids=[1, 2]))
        rr.set_time("frame", sequence=2)
        rr.log("l", rr.LineStrips3D([[0, 0, 0], [1, 0, 0], [1, 1, 0]]))
    """,
    "transform3d": """
        rr.set_time("frame", sequence=0)
        rr.log("t", rr.Transform3D(translation=[1, 2, 3], rotation=rr.RotationAxisAngle(axis=[0, 0, 1], degrees=30),
                                   scale=2.0))
        rr.set_time("frame", sequence=1)
        rr.log("t", rr.Transform3D(quaternion=rr.Quaternion(xyzw=[0, 0, 0.7071068, 0.7071068]),
                                   relation=rr.TransformRelation.ChildFromParent, child_frame="arm",
                                   parent_frame="base"))
        rr.set_time("frame", sequence=2)
        rr.log("t", rr.Transform3D(mat3x3=[[1, 2, 3], [4, 5, 6], [7, 8, 9]], translation=np.array([0.5, 0, 0]),
                                   scale=[1, 2, 3]))
        rr.set_time("frame", sequence=3)
        rr.log("t", rr.Transform3D(rotation_axis_angle=rr.RotationAxisAngle(axis=[1, 0, 0], radians=0.25),
                                   relation="ParentFromChild"))
    """,
    "pinhole": """
        rr.log("cam", rr.Pinhole(focal_length=500, width=640, height=480, camera_xyz=rr.ViewCoordinates.RDF), static=True)
        rr.set_time("frame", sequence=0)
        rr.log("cam2", rr.Pinhole(image_from_camera=[[500, 0, 320], [0, 510, 240], [0, 0, 1]], resolution=[640, 480],
                                  image_plane_distance=2.0, color=[255, 0, 0], line_width=0.01,
                                  camera_xyz=rr.ViewCoordinates.RUB))
        rr.set_time("frame", sequence=1)
        rr.log("cam2", rr.Pinhole(focal_length=[400, 410], principal_point=[300, 200], child_frame="c"))
        rr.set_time("frame", sequence=2)
        rr.log("cam3", rr.Pinhole(fov_y=0.8, aspect_ratio=1.5))
    """,
    "image": """
        rng = np.random.default_rng(1)
        rr.set_time("frame", sequence=0)
        rr.log("img", rr.Image(rng.integers(0, 255, (4, 5, 3), dtype=np.uint8)))
        rr.set_time("frame", sequence=1)
        rr.log("img", rr.Image(rng.random((3, 2)).astype(np.float32), opacity=0.5, draw_order=1.0))
        rr.set_time("frame", sequence=2)
        rr.log("img", rr.Image(rng.integers(0, 60000, (2, 3, 4), dtype=np.uint16), color_model="BGRA",
                               magnification_filter="linear"))
        rr.set_time("frame", sequence=3)
        rr.log("img", rr.Image(bytes=bytes(range(24)), width=4, height=4, pixel_format=rr.PixelFormat.NV12))
        rr.set_time("frame", sequence=4)
        rr.log("img", rr.Image(bytes=bytes(range(12)), width=2, height=2, color_model=rr.ColorModel.RGB,
                               datatype=rr.ChannelDatatype.U8))
        rr.set_time("frame", sequence=5)
        rr.log("img", rr.Image(np.arange(6, dtype=np.int16).reshape(2, 3)[:, ::-1]))
    """,
    "depth_image": """
        rr.set_time("frame", sequence=0)
        rr.log("d", rr.DepthImage(np.arange(12, dtype=np.uint16).reshape(3, 4) * 100, meter=1000.0,
                                  colormap="viridis", depth_range=[0.0, 2000.0], point_fill_ratio=0.5))
        rr.set_time("frame", sequence=1)
        rr.log("d", rr.DepthImage(np.linspace(0, 3, 6, dtype=np.float32).reshape(2, 3, 1), draw_order=-1.0,
                                  magnification_filter=rr.components.MagnificationFilter.Nearest))
    """,
    "encoded_image": """
        import pathlib
        pathlib.Path("pic.jpg").write_bytes(bytes([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9]))
        rr.set_time("frame", sequence=0)
        rr.log("e", rr.EncodedImage(path="pic.jpg", opacity=0.25))
        rr.set_time("frame", sequence=1)
        rr.log("e", rr.EncodedImage(contents=b"\\x89PNG fake", media_type=rr.MediaType.PNG, draw_order=3.0))
    """,
    "scalars": """
        for i, v in enumerate([1.5, [1.0, -2.0, 3.25], np.array([0.1, 0.2], dtype=np.float32), 7]):
            rr.set_time("step", sequence=i)
            rr.log("s", rr.Scalars(v))
    """,
    "text_log": """
        rr.set_time("frame", sequence=0)
        rr.log("log", rr.TextLog("hello"))
        rr.set_time("frame", sequence=1)
        rr.log("log", rr.TextLog("careful", level=rr.TextLogLevel.WARN, color=[255, 0, 0]))
        rr.set_time("frame", sequence=2)
        rr.log("log", rr.TextLog("custom", level="AUDIT", color=0x00FF00FF))
    """,
    "view_coordinates": """
        rr.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        rr.set_time("frame", sequence=0)
        rr.log("world/camera", rr.ViewCoordinates.RDF)
        rr.set_time("frame", sequence=1)
        rr.log("world/camera", rr.ViewCoordinates(xyz=rr.ViewCoordinates.FLU))
    """,
    "any_values": """
        rr.set_time("frame", sequence=0)
        rr.log("any", rr.AnyValues(confidence=[1.2, 3.4], name="hello", flags=[True, False], count=3,
                                   ratio=0.5, ids=np.arange(3, dtype=np.int32), gone=None))
        rr.set_time("frame", sequence=1)
        rr.log("dyn", rr.DynamicArchetype("MyArchetype", components={"speed": [1.5, 2.5], "label": "a"}))
    """,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_archetype_matches_the_sdk(tmp_path, name):
    assert_same_as_sdk(tmp_path, CASES[name], name)


def test_log_with_several_archetypes_matches_the_sdk(tmp_path):
    assert_same_as_sdk(
        tmp_path,
        """
        rr.set_time("frame", sequence=0)
        rr.log("mixed", rr.Points3D([[0, 0, 0]]), rr.TextLog("with a point"))
        """,
        "mixed",
    )


# ---------------------------------------------------------------------------------------------
# Errors: spate raises where the SDK (strict mode) would, or where spate checks more.

ERRORS = [
    (ValueError, lambda: spate.Points2D([[1, 2, 3]])),
    (ValueError, lambda: spate.Points2D(np.zeros(5))),
    (ValueError, lambda: spate.Points2D(np.zeros((3, 2)), colors=np.zeros((2, 3), np.uint8))),
    (ValueError, lambda: spate.Arrows3D(vectors=np.zeros((4, 2)))),
    (ValueError, lambda: spate.Arrows3D(vectors=np.zeros((2, 3)), origins=np.zeros((3, 3)))),
    (ValueError, lambda: spate.Boxes3D(half_sizes=[[1, 1, 1]], sizes=[[2, 2, 2]])),
    (ValueError, lambda: spate.Boxes3D(half_sizes=[[1, 1, 1]] * 2, centers=[[0, 0, 0]] * 3)),
    (ValueError, lambda: spate.Boxes3D(half_sizes=[[1, 1, 1]], fill_mode="filled")),
    (ValueError, lambda: spate.LineStrips3D([np.zeros((2, 2))])),
    (ValueError, lambda: spate.LineStrips3D([[0, 0, 0], [1, 1, 1]], radii=[1, 2, 3])),
    (ValueError, lambda: spate.Transform3D(translation=[1, 2])),
    (ValueError, lambda: spate.Transform3D(rotation=spate.Quaternion(xyzw=[0, 0, 0, 1]), quaternion=[0, 0, 0, 1])),
    (ValueError, lambda: spate.Transform3D(mat3x3=[1, 2, 3])),
    (ValueError, lambda: spate.Transform3D(relation="sideways")),
    (ValueError, lambda: spate.Pinhole(width=640, height=480)),
    (ValueError, lambda: spate.Pinhole(focal_length=1.0)),
    (ValueError, lambda: spate.Pinhole(image_from_camera=np.eye(2))),
    (ValueError, lambda: spate.Pinhole(image_from_camera=np.eye(3), camera_xyz="XYZ")),
    (ValueError, lambda: spate.Image(np.zeros((2, 2, 5), np.uint8))),
    (ValueError, lambda: spate.Image(np.zeros((2, 2, 3), np.uint8), color_model="RGBA")),
    (ValueError, lambda: spate.Image(np.zeros((2, 2, 2, 2), np.uint8))),
    (ValueError, lambda: spate.Image(np.zeros((2, 2), np.complex64))),
    (ValueError, lambda: spate.Image(bytes=b"123", width=4, height=4, pixel_format="NV12")),
    (ValueError, lambda: spate.Image(bytes=b"12", width=1, height=1)),
    (ValueError, lambda: spate.DepthImage(np.zeros((2, 2, 3), np.uint16))),
    (ValueError, lambda: spate.DepthImage(np.zeros((2, 2), np.uint16), depth_range=[1.0])),
    (ValueError, lambda: spate.EncodedImage(contents=b"abc")),
    (ValueError, lambda: spate.EncodedImage()),
    (ValueError, lambda: spate.TextLog("x", color=[[1, 2, 3], [4, 5, 6]])),
    (TypeError, lambda: spate.Boxes3D(half_sizes=[[1, 1, 1]], rotation_axis_angles=[[0, 0, 1]])),
    (NotImplementedError, lambda: spate.AnyValues(blob=b"bytes")),
    (NotImplementedError, lambda: spate.AnyValues(drop_untyped_nones=False, nothing=None)),
]


@pytest.mark.parametrize("error, make", ERRORS, ids=[f"{i}-{e.__name__}" for i, (e, _) in enumerate(ERRORS)])
def test_bad_arguments_raise(error, make):
    with pytest.raises(error):
        make()


def test_enum_forms_are_accepted_as_the_sdk_accepts_them():
    for form in ("solid", "Solid", "SOLID", 3, spate.components.FillMode.Solid):
        spate.Boxes3D(half_sizes=[[1, 1, 1]], fill_mode=form)
    for form in ("rgb", "RGB", 2, spate.ColorModel.RGB):
        spate.Image(np.zeros((2, 2, 3), np.uint8), color_model=form)
    assert spate.ViewCoordinates.RIGHT_HAND_Z_UP == spate.ViewCoordinates.RFU
    assert spate.TextLogLevel.WARN == "WARN"
    assert spate.MediaType.JPEG == "image/jpeg"


def test_image_pixels_are_taken_without_copying():
    # The uint8 view of a C-contiguous array is the array's memory: the image keeps it alive.
    import sys

    pixels = np.zeros((64, 64, 3), np.uint8)
    before = sys.getrefcount(pixels)
    image = spate.Image(pixels)
    assert sys.getrefcount(pixels) > before
    del image
    assert sys.getrefcount(pixels) == before
