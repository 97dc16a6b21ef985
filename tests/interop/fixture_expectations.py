#!/usr/bin/env python3
"""Write EXPECT.json files (for check_rrd.py) describing the official Rerun 0.41 fixtures.

usage: python fixture_expectations.py FIXTURES_DIR OUT_DIR

The values are recomputed from the numpy recipe in FIXTURES_DIR/make_fixtures.py (copied below),
never read back from the .rrd files, so a passing check means the official reader returns exactly
what the official SDK was given. The official files also carry a `log_time` timeline and a
`/__properties` entity, hence `"ignore_timelines": ["log_time"]`.

Both ways of passing numbers are exercised: points3d_1000x3 stores positions and colors in a side
`.bin` file (`file` + `offset` + `count`), the others inline them as `b64`.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np


def points_frames(seed: int, frames: int, n: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Same as make_fixtures.py: per frame draw positions, then colors, then radii from one Generator."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(frames):
        pos = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
        col = rng.integers(0, 256, size=(n, 4), dtype=np.uint8)  # RGBA bytes
        rad = rng.uniform(0.01, 0.05, size=n).astype(np.float32)
        out.append((pos, col, rad))
    return out


def rgba_to_u32(col: np.ndarray) -> np.ndarray:
    """(n, 4) RGBA bytes -> packed 0xRRGGBBAA u32, as Rerun stores Color."""
    c = col.astype(np.uint32)
    return (c[:, 0] << 24) | (c[:, 1] << 16) | (c[:, 2] << 8) | c[:, 3]


def b64(dtype: str, arr: np.ndarray) -> dict:
    """Inline component: base64 of the little-endian raw array."""
    np_dtype = {"f32x3": "<f4", "f32": "<f4", "u32": "<u4", "u16": "<u2"}[dtype]
    return {"dtype": dtype, "b64": base64.b64encode(np.ascontiguousarray(arr, dtype=np_dtype).tobytes()).decode()}


class BinFile:
    """Side file for `file` + `offset` + `count` components."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray()

    def add(self, dtype: str, arr: np.ndarray) -> dict:
        np_dtype, width = {"f32x3": ("<f4", 3), "f32": ("<f4", 1), "u32": ("<u4", 1), "u16": ("<u2", 1)}[dtype]
        raw = np.ascontiguousarray(arr, dtype=np_dtype).tobytes()
        spec = {"dtype": dtype, "file": self.path.name, "offset": len(self.data), "count": arr.size // width}
        self.data += raw
        return spec

    def write(self) -> None:
        self.path.write_bytes(bytes(self.data))


def seq(v: int) -> dict:
    return {"kind": "sequence", "value": v}


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def points3d_1000x3(out: Path) -> dict:
    side = BinFile(out / "points3d_1000x3.bin")
    rows = []
    for f, (pos, col, rad) in enumerate(points_frames(42, 3, 1000)):
        rows.append({
            "entity": "/points", "static": False, "time": {"frame": seq(f)},
            "components": {
                "Points3D:positions": side.add("f32x3", pos),
                "Points3D:colors": side.add("u32", rgba_to_u32(col)),
                "Points3D:radii": b64("f32", rad),
            },
        })
    side.write()
    return {"application_id": "fixture_points3d", "recording_id": "fixture-points3d-0001",
            "ignore_timelines": ["log_time"], "rows": rows}


def two_entities_two_timelines(out: Path) -> dict:
    lidar, radar = points_frames(7, 4, 300), points_frames(8, 4, 50)
    rows = []
    for f in range(4):
        time = {"frame": seq(f), "sim_time": {"kind": "timestamp", "value": 1_700_000_000_000_000_000 + f * 100_000_000}}
        pos, col, rad = lidar[f]
        rows.append({"entity": "/world/lidar", "static": False, "time": time, "components": {
            "Points3D:positions": b64("f32x3", pos),
            "Points3D:colors": b64("u32", rgba_to_u32(col)),
            "Points3D:radii": b64("f32", rad),
            "Points3D:class_ids": b64("u16", np.arange(300, dtype=np.uint16) % 5),
        }})
        pos, col, rad = radar[f]
        rows.append({"entity": "/world/radar", "static": False, "time": time, "components": {
            "Points3D:positions": b64("f32x3", pos),
            "Points3D:colors": b64("u32", rgba_to_u32(col)),
            "Points3D:radii": b64("f32", rad),
            "Points3D:labels": {"dtype": "utf8", "values": [f"r{f}_{i}" for i in range(50)]},
        }})
    rows.append({"entity": "/world/origin", "static": True, "time": {}, "components": {
        "Points3D:positions": b64("f32x3", np.zeros((1, 3), np.float32)),
        "Points3D:radii": b64("f32", np.array([0.2], np.float32)),
    }})
    return {"application_id": "fixture_two_entities", "recording_id": "fixture-two-entities-0001",
            "ignore_timelines": ["log_time"], "rows": rows}


def points3d_grpc_saved_nofooter(out: Path) -> dict:
    rows = []
    for f, (pos, col, rad) in enumerate(points_frames(42, 3, 200)):
        rows.append({"entity": "/points", "static": False, "time": {"frame": seq(f)}, "components": {
            "Points3D:positions": b64("f32x3", pos),
            "Points3D:colors": b64("u32", rgba_to_u32(col)),
            "Points3D:radii": b64("f32", rad),
        }})
    return {"application_id": "fixture_grpc", "recording_id": "fixture-grpc-0001",
            "ignore_timelines": ["log_time"], "rows": rows}


# (rrd file name, expectation builder, extra check_rrd.py flags)
FIXTURES = [
    ("points3d_1000x3.rrd", points3d_1000x3, []),
    ("two_entities_two_timelines.rrd", two_entities_two_timelines, []),
    ("points3d_grpc_saved_nofooter.rrd", points3d_grpc_saved_nofooter, ["--no-footer"]),
]


def write_all(fixtures_dir: Path, out_dir: Path) -> list[tuple[Path, Path, list[str]]]:
    """Write one EXPECT json per fixture into out_dir; return (rrd, json, flags) triples."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for rrd_name, build, flags in FIXTURES:
        doc = build(out_dir)
        json_path = write_json(out_dir / (Path(rrd_name).stem + ".expect.json"), doc)
        cases.append((fixtures_dir / rrd_name, json_path, flags))
    return cases


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    for rrd, js, flags in write_all(Path(sys.argv[1]), Path(sys.argv[2])):
        print(" ".join(["check_rrd.py", str(rrd), str(js)] + flags))
