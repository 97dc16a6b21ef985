#!/usr/bin/env python3
r"""Write the official Rerun 0.41 SDK's version of one differential-test case.

usage: .venv-rerun/bin/python tests/interop/sdk_reference.py CASE OUT.rrd [--perturb]
       .venv-rerun/bin/python tests/interop/sdk_reference.py CASE --grpc URL [--perturb]
       .venv-rerun/bin/python tests/interop/sdk_reference.py --list

The same data is logged by spate (tests/archetypes/) and by this script; tests/interop/compare_rrd.py
then requires both files to hold the same columns, component descriptors, Arrow types and values.
The data below is the contract both sides implement: keep it exactly as written.

Every case but `sensors` starts with `rr.init("spate_diff", recording_id=f"diff-{CASE}")`, then
`rr.save(OUT)` (or `rr.connect_grpc(URL)`), logs, flushes and disconnects. The SDK runs in strict
mode, so anything it would only warn about fails the script. Unless a case says otherwise, per-frame
rows use `rr.set_time("frame", sequence=f)` for f in 0, 1, 2.

Cases (exact data):
- `transform3d`: `world/robot` per f: Transform3D(translation=[0.5*f, f, -f], quaternion=Quaternion(xyzw=[0, 0, sin(0.05 f), cos(0.05 f)]) (computed in f64), scale=[1, 2, 3], relation=ChildFromParent); `world/axis` per f: Transform3D(rotation_axis_angle=RotationAxisAngle(axis=[0,0,1], radians=0.1 f), mat3x3=[[1,2,3],[4,5,6],[7,8,9]]).
- `pinhole`: `camera/front` **static**: Pinhole(image_from_camera=[[500,0,320],[0,500,240],[0,0,1]], resolution=[640,480], camera_xyz=ViewCoordinates.RDF); `camera/side` per f: Pinhole(image_from_camera=[[400+f,0,300],[0,400+f,200],[0,0,1]], resolution=[600,400]).
- `image`: `cam/rgb` per f: Image of an np.uint8 array of shape (6, 8, 3) (height 6, width 8), color_model="RGB", pixel (x, y) = [(x+f)%256, (y+f)%256, (x*y+f)%256]; `cam/gray` per f: Image of np.float32 shape (3, 4) value x + 10 y + f (color model L / default); `cam/nv12` per f: Image(bytes=bytes((i+f)%256 for i in range(72)), width=8, height=6, pixel_format=PixelFormat.NV12).
- `depth`: `cam/depth` per f: DepthImage np.uint16 shape (4, 5), value 1000 + x + 100 y + f, meter=1000; `cam/depth_f32` per f: DepthImage np.float32 shape (4, 5), value 0.5 (x + y) + f, meter=1.0.
- `encoded_image`: `cam/jpeg` per f: EncodedImage(contents=b"\xff\xd8" + f"spate-frame-{f}".encode() + b"\xff\xd9", media_type="image/jpeg").
- `scalars`: `imu/gyro` per f: Scalars([sin(f), cos(f), f]) (f64); then ONE `rr.send_columns("imu/accel", indexes=[rr.TimeColumn("imu_time", timestamp=<int64 ns as datetime64[ns]>)], columns=rr.Scalars.columns(scalars=...))` with times 1_700_000_000_000_000_000 + k*1_000_000 and values sin(0.01 k) for k in 0..100.
- `text_log`: `log` per f: TextLog(f"frame {f}", level="INFO" if f even else "WARN"); `log/plain` per f: TextLog(f"plain {f}") (no level).
- `points2d`: `img/points` per f: Points2D([[f,0],[1,f],[2,2]], colors=[[255,0,0],[0,255,0],[0,0,255]], radii=0.5, labels=["a","b","c"], class_ids=[1,2,3]).
- `boxes3d`: `world/boxes` per f: Boxes3D(half_sizes=[[1,2,3],[0.5,0.5,0.5]], centers=[[f,0,0],[0,f,0]], colors=[[0,255,0]], labels=["box0","box1"]).
- `line_strips3d`: `world/lines` per f: LineStrips3D([[[0,0,0],[1,1,f]], [[2,2,2],[3,3,3],[4,4,4+f]]], colors=[[0,0,255]], radii=0.1).
- `arrows3d`: `world/arrows` per f: Arrows3D(vectors=[[1,0,0],[0,1,f]], origins=[[0,0,0],[1,1,1]], colors=[[1,2,3]]).
- `dynamic`: `custom` per f: AnyValues(confidence=[1.5*f, 2.0], name=["a","b"]); and if the 0.41 SDK has a way to log components under a user archetype name (look for `DynamicArchetype` or `AnyValues.with_component_from_data`/`ComponentDescriptor` in `.venv-rerun/lib/python3.11/site-packages/rerun/`), `custom/arch` per f: archetype "MyArchetype" with field `speed` = [f * 1.0] (f64) — document exactly what you used and what descriptor (archetype / component / component_type) the SDK writes.
- `properties`: `rr.init(...)` plus `rr.send_recording_name("diff run")` (check the 0.41 API name; whatever sets RecordingInfo:name) and one Points3D at `p` frame 0 `[[1,2,3]]`.
- `sensors`: the sensors example contract below, with `--frames` fixed at 10, app id `spate_sensors`, recording id `sensors-example` (this case overrides the init).

The sensors contract:
- timeline `frame` (sequence) = f for every per-frame row below (f in 0..10);
- `camera/front`: `Pinhole`, **static**, image_from_camera = row-major [[500, 0, 320], [0, 500, 240], [0, 0, 1]], resolution [640, 480];
- `camera/front/image`: `Image`, 64 wide × 48 high, RGB, u8, row-major height × width × 3; pixel (x, y) = [(x + f) % 256, (y + f) % 256, (x·y + f) % 256];
- `camera/front/jpeg`: `EncodedImage`, media type `image/jpeg`, bytes `FF D8` + ASCII `spate-frame-{f}` + `FF D9`;
- `camera/front/depth`: `DepthImage`, 32 × 24, u16, value (x, y) = 1000 + x + 100·y + f, meter = 1000;
- `world/robot`: `Transform3D`, translation [0.5·f, 0, 0], quaternion (x, y, z, w) = [0, 0, sin(0.05·f), cos(0.05·f)], computed in f64 and stored as f32;
- `log`: `TextLog`, text `frame {f}`, level `INFO`;
- `imu/accel`: `Scalars` on timeline `imu_time` (timestamp, ns) only: for every frame f and k in 0..10, time 1_700_000_000_000_000_000 + f·10_000_000 + k·1_000_000 and value sin(0.01·(10·f + k)) as f64 — all 10·F samples sent in one `send_columns` call after the frame loop.

How the SDK calls were made, where the table leaves a choice:
- `dynamic`, `custom/arch`: `rr.DynamicArchetype("MyArchetype", components={"speed": [f * 1.0]})`. The
  SDK writes it as archetype `MyArchetype`, component `MyArchetype:speed`, no component type,
  `list<item: double>`. `AnyValues` writes component `confidence` / `name` with neither archetype nor
  component type (`list<item: double>`, `list<item: string>`).
- `properties`: `rr.send_recording_name` (0.41) writes a separate static `/__properties` chunk:
  archetype `rerun.archetypes.RecordingInfo`, component `RecordingInfo:name`, type
  `rerun.components.Name`, `list<item: string>`; rr.init's own chunk holds `RecordingInfo:start_time`.
- Timestamps for `send_columns` are passed as `numpy.datetime64[ns]` arrays (exact int64 ns).

What the SDK writes (0.41.0, checked; the spate side must match it):
- Only the fields given: no null or empty columns for the others (`log/plain` has no
  `TextLog:level` column). Splatted values (`radii=0.5`, one color) are one-element lists.
- Every `rr.log` row also carries `log_time` (`timestamp[ns]`, wall clock). `send_columns` rows
  carry only the given index (`imu_time`): no `log_time`, and not the `frame` set by `set_time`.
- 3x3 matrices (`Transform3D:mat3x3`, `Pinhole:image_from_camera`) are stored **column-major**:
  [[500,0,320],[0,500,240],[0,0,1]] -> [500,0,0, 0,500,0, 320,240,1], FixedSizeList<f32 not null, 9>.
- f32 for translations, scales, quaternions, angles, positions, radii, resolution, meter; f64 for
  `Scalars:scalars` and the AnyValues/DynamicArchetype floats. Colors are u32 0xRRGGBBAA.
- Enums are u8: `TransformRelation` ChildFromParent = 2; `ViewCoordinates` RDF = [3, 2, 5]
  (FixedSizeList<u8 not null, 3>); `Image:format` is struct<width: u32 not null, height: u32 not
  null, pixel_format: u8, color_model: u8, channel_datatype: u8> with RGB u8 = color_model 2,
  datatype 6; L f32 = color_model 1, datatype 34; NV12 = pixel_format 26 (the others null);
  depth u16 = datatype 8 (color_model null), f32 = 34.
- Image/depth buffers and blobs are `list<item: list<item: uint8 not null>>` (inner items not
  null, the outer item nullable), pixels as little-endian bytes. `LineStrips3D:strips` is
  `list<item: list<item: fixed_size_list<item: float not null>[3] not null>>`;
  `Transform3D:rotation_axis_angle` is struct<axis: FixedSizeList<f32 not null, 3> not null,
  angle: f32 not null>.

--perturb changes exactly one value of the component PERTURBED[CASE] below (at frame 1; `scalars`:
at k = 1 of `imu/accel`; `properties`: the one point, at frame 0), so that a comparison with the
unperturbed file must fail and name it; the script then prints `perturbed ENTITY COMPONENT` on
stdout. --list prints the case names.

Exit status: 0 written, 1 the SDK raised, 2 usage error.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

FRAMES = (0, 1, 2)
SENSOR_FRAMES = 10
IMU_T0_NS = 1_700_000_000_000_000_000

# (entity, component) that --perturb changes, per case.
PERTURBED = {
    "transform3d": ("world/robot", "Transform3D:translation"),
    "pinhole": ("camera/side", "Pinhole:image_from_camera"),
    "image": ("cam/rgb", "Image:buffer"),
    "depth": ("cam/depth", "DepthImage:buffer"),
    "encoded_image": ("cam/jpeg", "EncodedImage:blob"),
    "scalars": ("imu/accel", "Scalars:scalars"),
    "text_log": ("log", "TextLog:text"),
    "points2d": ("img/points", "Points2D:positions"),
    "boxes3d": ("world/boxes", "Boxes3D:centers"),
    "line_strips3d": ("world/lines", "LineStrips3D:strips"),
    "arrows3d": ("world/arrows", "Arrows3D:vectors"),
    "dynamic": ("custom", "confidence"),
    "properties": ("p", "Points3D:positions"),
    "sensors": ("world/robot", "Transform3D:translation"),
}


class Bump:
    """`bump(f)`: 1 for the one perturbed value (f == 1) when --perturb is on, else 0."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, f: int) -> int:
        return 1 if self.on and f == 1 else 0


def frames(rr, fs=FRAMES):
    for f in fs:
        rr.set_time("frame", sequence=f)
        yield f


def rgb_image(width: int, height: int, f: int) -> np.ndarray:
    """(height, width, 3) u8, pixel (x, y) = [(x+f)%256, (y+f)%256, (x*y+f)%256]."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    return np.stack([(x + f) % 256, (y + f) % 256, (x * y + f) % 256], axis=-1).astype(np.uint8)


def depth_u16(width: int, height: int, f: int) -> np.ndarray:
    """(height, width) u16, value 1000 + x + 100 y + f."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    return (1000 + x + 100 * y + f).astype(np.uint16)


def jpeg_bytes(f: int) -> bytes:
    return b"\xff\xd8" + f"spate-frame-{f}".encode() + b"\xff\xd9"


def case_transform3d(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("world/robot", rr.Transform3D(
            translation=[0.5 * f + bump(f), f, -f],
            quaternion=rr.Quaternion(xyzw=[0.0, 0.0, math.sin(0.05 * f), math.cos(0.05 * f)]),
            scale=[1, 2, 3],
            relation=rr.TransformRelation.ChildFromParent,
        ))
        rr.log("world/axis", rr.Transform3D(
            rotation_axis_angle=rr.RotationAxisAngle(axis=[0, 0, 1], radians=0.1 * f),
            mat3x3=[[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        ))


def case_pinhole(rr, bump: Bump) -> None:
    rr.log("camera/front", rr.Pinhole(
        image_from_camera=[[500, 0, 320], [0, 500, 240], [0, 0, 1]],
        resolution=[640, 480],
        camera_xyz=rr.ViewCoordinates.RDF,
    ), static=True)
    for f in frames(rr):
        rr.log("camera/side", rr.Pinhole(
            image_from_camera=[[400 + f + bump(f), 0, 300], [0, 400 + f, 200], [0, 0, 1]],
            resolution=[600, 400],
        ))


def case_image(rr, bump: Bump) -> None:
    for f in frames(rr):
        rgb = rgb_image(8, 6, f)
        rgb[0, 0, 0] += bump(f)
        rr.log("cam/rgb", rr.Image(rgb, color_model="RGB"))
        y, x = np.mgrid[0:3, 0:4]
        rr.log("cam/gray", rr.Image((x + 10 * y + f).astype(np.float32)))
        rr.log("cam/nv12", rr.Image(bytes=bytes((i + f) % 256 for i in range(72)), width=8, height=6,
                                    pixel_format=rr.PixelFormat.NV12))


def case_depth(rr, bump: Bump) -> None:
    for f in frames(rr):
        d = depth_u16(5, 4, f)
        d[0, 0] += bump(f)
        rr.log("cam/depth", rr.DepthImage(d, meter=1000))
        y, x = np.mgrid[0:4, 0:5]
        rr.log("cam/depth_f32", rr.DepthImage((0.5 * (x + y) + f).astype(np.float32), meter=1.0))


def case_encoded_image(rr, bump: Bump) -> None:
    for f in frames(rr):
        contents = jpeg_bytes(f + bump(f) * 10)
        rr.log("cam/jpeg", rr.EncodedImage(contents=contents, media_type="image/jpeg"))


def case_scalars(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("imu/gyro", rr.Scalars([math.sin(f), math.cos(f), float(f)]))
    k = np.arange(100, dtype=np.int64)
    times = (IMU_T0_NS + k * 1_000_000).astype("datetime64[ns]")
    values = np.sin(0.01 * k.astype(np.float64))
    values[1] += bump(1)
    rr.send_columns("imu/accel", indexes=[rr.TimeColumn("imu_time", timestamp=times)],
                    columns=rr.Scalars.columns(scalars=values))


def case_text_log(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("log", rr.TextLog(f"frame {f + bump(f) * 10}", level="INFO" if f % 2 == 0 else "WARN"))
        rr.log("log/plain", rr.TextLog(f"plain {f}"))


def case_points2d(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("img/points", rr.Points2D(
            [[f + bump(f), 0], [1, f], [2, 2]],
            colors=[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
            radii=0.5,
            labels=["a", "b", "c"],
            class_ids=[1, 2, 3],
        ))


def case_boxes3d(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("world/boxes", rr.Boxes3D(
            half_sizes=[[1, 2, 3], [0.5, 0.5, 0.5]],
            centers=[[f + bump(f), 0, 0], [0, f, 0]],
            colors=[[0, 255, 0]],
            labels=["box0", "box1"],
        ))


def case_line_strips3d(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("world/lines", rr.LineStrips3D(
            [[[0, 0, 0], [1, 1, f + bump(f)]], [[2, 2, 2], [3, 3, 3], [4, 4, 4 + f]]],
            colors=[[0, 0, 255]],
            radii=0.1,
        ))


def case_arrows3d(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("world/arrows", rr.Arrows3D(
            vectors=[[1, 0, 0], [0, 1, f + bump(f)]],
            origins=[[0, 0, 0], [1, 1, 1]],
            colors=[[1, 2, 3]],
        ))


def case_dynamic(rr, bump: Bump) -> None:
    for f in frames(rr):
        rr.log("custom", rr.AnyValues(confidence=[1.5 * f + bump(f), 2.0], name=["a", "b"]))
        rr.log("custom/arch", rr.DynamicArchetype("MyArchetype", components={"speed": [f * 1.0]}))


def case_properties(rr, bump: Bump) -> None:
    rr.send_recording_name("diff run")
    rr.set_time("frame", sequence=0)
    rr.log("p", rr.Points3D([[1 + bump(1), 2, 3]]))


def case_sensors(rr, bump: Bump) -> None:
    rr.log("camera/front", rr.Pinhole(
        image_from_camera=[[500, 0, 320], [0, 500, 240], [0, 0, 1]],
        resolution=[640, 480],
    ), static=True)
    for f in frames(rr, range(SENSOR_FRAMES)):
        rr.log("camera/front/image", rr.Image(rgb_image(64, 48, f), color_model="RGB"))
        rr.log("camera/front/jpeg", rr.EncodedImage(contents=jpeg_bytes(f), media_type="image/jpeg"))
        rr.log("camera/front/depth", rr.DepthImage(depth_u16(32, 24, f), meter=1000))
        rr.log("world/robot", rr.Transform3D(
            translation=[0.5 * f + bump(f), 0, 0],
            quaternion=rr.Quaternion(xyzw=[0.0, 0.0, math.sin(0.05 * f), math.cos(0.05 * f)]),
        ))
        rr.log("log", rr.TextLog(f"frame {f}", level="INFO"))
    f = np.repeat(np.arange(SENSOR_FRAMES, dtype=np.int64), 10)
    k = np.tile(np.arange(10, dtype=np.int64), SENSOR_FRAMES)
    times = (IMU_T0_NS + f * 10_000_000 + k * 1_000_000).astype("datetime64[ns]")
    values = np.sin(0.01 * (10 * f + k).astype(np.float64))
    rr.send_columns("imu/accel", indexes=[rr.TimeColumn("imu_time", timestamp=times)],
                    columns=rr.Scalars.columns(scalars=values))


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}
assert set(CASES) == set(PERTURBED), "every case names the component --perturb changes"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", nargs="?")
    ap.add_argument("out", nargs="?", help="the .rrd file to write (not with --grpc)")
    ap.add_argument("--grpc", metavar="URL", help="stream to this gRPC URL instead of writing a file")
    ap.add_argument("--perturb", action="store_true", help="change one value (see PERTURBED)")
    ap.add_argument("--list", action="store_true", help="print the case names and exit")
    try:
        args = ap.parse_args()
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.list:
        print("\n".join(CASES))
        return 0
    if args.case not in CASES or (args.out is None) == (args.grpc is None):
        print(f"usage: sdk_reference.py CASE (OUT.rrd | --grpc URL) [--perturb]; cases: {', '.join(CASES)}",
              file=sys.stderr)
        return 2

    import rerun as rr

    rr.set_strict_mode(True)
    if args.case == "sensors":
        rr.init("spate_sensors", recording_id="sensors-example")
    else:
        rr.init("spate_diff", recording_id=f"diff-{args.case}")
    if args.grpc:
        rr.connect_grpc(args.grpc)
    else:
        rr.save(args.out)
    try:
        CASES[args.case](rr, Bump(args.perturb))
    except Exception as e:  # strict mode turns SDK warnings into exceptions
        print(f"sdk_reference.py {args.case}: the SDK raised {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    rec = rr.get_global_data_recording()
    rec.flush()
    rr.disconnect()
    if args.perturb:
        print("perturbed {} {}".format(*PERTURBED[args.case]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
