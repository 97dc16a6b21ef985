#!/usr/bin/env python3
"""Self-test for check_rrd.py: it must accept the official fixtures and reject perturbed expectations.

usage: .venv-rerun/bin/python tests/interop/selftest.py [FIXTURES_DIR]
       (default FIXTURES_DIR: ../shared/fixtures/rerun-0.41 relative to the repo root)

Cases (each runs check_rrd.py as a subprocess and checks its exit status and message):
  pass   the three official fixtures, with expectations from fixture_expectations.py;
  fail   one float perturbed by one ULP, one row dropped, one bogus row added (exit 1 each);
  extra  a file written by the official chunk API (`Chunk.from_columns` + `write_rrd`) with sequence,
         timestamp and duration timelines, a 0-point row, a 1,000,000-point row, a row with a null
         component, labels, and overwritten static rows, in strict mode (no ignore_timelines) -> pass;
         plus failure cases on it (ULP in the 1M row, unexpected component, wrong timeline kind) and
         the footer-less fixture checked without --no-footer;
  wall   a fixture checked with its /__properties row stated (start time by "range") and `log_time` as
         a wall-clock timeline instead of ignored -> pass; then a wrong kind, values outside the window,
         a start time outside its range, and the synthetic file (no `log_time`) -> fail.
All temporary files go to a tempfile.TemporaryDirectory. Exit status 0 only if every case behaved.
"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHECKER = HERE / "check_rrd.py"
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__

import fixture_expectations  # noqa: E402


class Cases:
    def __init__(self) -> None:
        self.bad: list[str] = []

    def run(self, name: str, rrd: Path, expect: Path, flags: list[str], want_rc: int, want_text: list[str]) -> None:
        """Run the checker; it must exit with want_rc and its output must contain every want_text."""
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, str(CHECKER), str(rrd), str(expect), *flags],
                           capture_output=True, text=True)
        dt = time.perf_counter() - t0
        out = p.stdout + p.stderr
        missing = [w for w in want_text if w not in out]
        ok = p.returncode == want_rc and not missing
        print(f"[{'PASS' if ok else 'MISBEHAVED'}] {name}: exit {p.returncode} (want {want_rc}), {dt:.1f}s")
        # Show what the checker said: the summary lines on success, the problem lines on failure.
        for line in out.splitlines():
            if line.startswith(("OK ", "FAIL ", "  - ", "SKIP ", "ERROR")) or not ok:
                print(f"    | {line}")
        if not ok:
            if missing:
                print(f"    expected text not found: {missing}")
            self.bad.append(name)


def write_json(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def bump_ulp_b64(spec: dict, flat_index: int) -> None:
    """Add one ULP to element flat_index of an inline little-endian f32 component (in place)."""
    bits = np.frombuffer(base64.b64decode(spec["b64"]), dtype="<u4").copy()
    bits[flat_index] += 1
    spec["b64"] = base64.b64encode(bits.tobytes()).decode()


def find_row(doc: dict, entity: str, **times: int) -> dict:
    for r in doc["rows"]:
        if r["entity"] == entity and {k: v["value"] for k, v in r["time"].items()} == times:
            return r
    raise KeyError((entity, times))


# --------------------------------------------------------------------------------------------------
# a synthetic file written by the official SDK's chunk API, with its expectation


def make_synthetic(tmp: Path) -> tuple[Path, dict]:
    import rerun as rr
    from rerun.chunk import Chunk, LazyChunkStream

    n = 1_000_000
    rng = np.random.default_rng(2024)
    big = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    big_rad = rng.uniform(0.01, 0.05, n).astype(np.float32)
    two = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    two_rad = np.array([0.1, 0.2], np.float32)
    ts = np.array([1_700_000_000_000_000_000, 1_700_000_000_000_000_001, 1_700_000_000_000_000_002])
    dur = np.array([5, -6, 7])

    # /big: 3 rows on three timelines of all kinds: 0 points, 1M points, 2 points.
    big_chunk = Chunk.from_columns(
        "/big",
        [rr.TimeColumn("frame", sequence=[0, 1, 1]),
         rr.TimeColumn("sim", timestamp=ts.astype("datetime64[ns]")),
         rr.TimeColumn("dt", duration=dur.astype("timedelta64[ns]"))],
        rr.Points3D.columns(positions=np.concatenate([np.zeros((0, 3), np.float32), big, two]),
                            radii=np.concatenate([np.zeros(0, np.float32), big_rad, two_rad])).partition([0, n, 2]),
    )
    # /big again, frame only, colors only: a second row set whose positions/radii must be null.
    colors_chunk = Chunk.from_columns("/big", [rr.TimeColumn("frame", sequence=[1])],
                                      rr.Points3D.columns(colors=np.array([0xFF0000FF], np.uint32)).partition([1]))
    # /lbl: labels + class_ids, second row empty lists.
    lbl_chunk = Chunk.from_columns(
        "/lbl", [rr.TimeColumn("frame", sequence=[0, 1])],
        rr.Points3D.columns(positions=np.array([[7, 8, 9]], np.float32), labels=["héllo"],
                            class_ids=np.array([7], np.uint16)).partition([1, 0]))
    # /st: three static writes; the first is fully overwritten (positions by #1, radii by #2).
    st = [
        Chunk.from_columns("/st", [], rr.Points3D.columns(positions=[[1, 1, 1]], radii=[1.0]).partition([1])),
        Chunk.from_columns("/st", [], rr.Points3D.columns(positions=[[2, 2, 2]]).partition([1])),
        Chunk.from_columns("/st", [], rr.Points3D.columns(radii=[3.0]).partition([1])),
    ]
    rrd = tmp / "synthetic.rrd"
    LazyChunkStream.from_iter([big_chunk, colors_chunk, lbl_chunk, *st]).write_rrd(
        rrd, application_id="spate_selftest", recording_id="rec-synthetic")

    side = fixture_expectations.BinFile(tmp / "synthetic.bin")
    b64 = fixture_expectations.b64

    def big_time(i: int) -> dict:
        return {"frame": {"kind": "sequence", "value": [0, 1, 1][i]},
                "sim": {"kind": "timestamp", "value": int(ts[i])},
                "dt": {"kind": "duration", "value": int(dur[i])}}

    rows = [
        {"entity": "/big", "static": False, "time": big_time(0),
         "components": {"Points3D:positions": b64("f32x3", np.zeros((0, 3), np.float32)),
                        "Points3D:radii": b64("f32", np.zeros(0, np.float32))}},
        {"entity": "/big", "static": False, "time": big_time(1),
         "components": {"Points3D:positions": side.add("f32x3", big), "Points3D:radii": side.add("f32", big_rad)}},
        {"entity": "/big", "static": False, "time": big_time(2),
         "components": {"Points3D:positions": b64("f32x3", two), "Points3D:radii": b64("f32", two_rad)}},
        {"entity": "/big", "static": False, "time": {"frame": {"kind": "sequence", "value": 1}},
         "components": {"Points3D:colors": b64("u32", np.array([0xFF0000FF]))}},
        {"entity": "/lbl", "static": False, "time": {"frame": {"kind": "sequence", "value": 0}},
         "components": {"Points3D:positions": b64("f32x3", np.array([[7, 8, 9]])),
                        "Points3D:labels": {"dtype": "utf8", "values": ["héllo"]},
                        "Points3D:class_ids": b64("u16", np.array([7]))}},
        {"entity": "/lbl", "static": False, "time": {"frame": {"kind": "sequence", "value": 1}},
         "components": {"Points3D:positions": b64("f32x3", np.zeros((0, 3))),
                        "Points3D:labels": {"dtype": "utf8", "values": []},
                        "Points3D:class_ids": b64("u16", np.zeros(0))}},
        {"entity": "/st", "static": True, "time": {},
         "components": {"Points3D:positions": b64("f32x3", np.array([[1, 1, 1]])), "Points3D:radii": b64("f32", np.array([1.0]))}},
        {"entity": "/st", "static": True, "time": {},
         "components": {"Points3D:positions": b64("f32x3", np.array([[2, 2, 2]]))}},
        {"entity": "/st", "static": True, "time": {}, "components": {"Points3D:radii": b64("f32", np.array([3.0]))}},
    ]
    side.write()
    # Strict mode: no ignore_timelines, so /__properties rows (none here) would count as extra rows.
    return rrd, {"application_id": "spate_selftest", "recording_id": "rec-synthetic", "rows": rows}


# --------------------------------------------------------------------------------------------------


def main() -> int:
    fixtures = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "fixtures" / "rerun-0.41"
    fixtures = fixtures.resolve()
    if not (fixtures / "points3d_1000x3.rrd").is_file():
        print(f"fixtures not found in {fixtures}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    cases = Cases()
    with tempfile.TemporaryDirectory(prefix="spate-interop-selftest-") as tmp_name:
        tmp = Path(tmp_name)

        # 1. The official fixtures must pass.
        fixture_cases = fixture_expectations.write_all(fixtures, tmp)
        for rrd, expect, flags in fixture_cases:
            cases.run(f"fixture {rrd.name}", rrd, expect, flags, 0, ["ALL OK"])
        by_name = {rrd.name: (rrd, json.loads(expect.read_text()), flags) for rrd, expect, flags in fixture_cases}

        # 2. One ULP on one float: /world/lidar frame 2, point 17, y.
        rrd, doc, flags = by_name["two_entities_two_timelines.rrd"]
        bad = copy.deepcopy(doc)
        bump_ulp_b64(find_row(bad, "/world/lidar", frame=2, sim_time=1_700_000_000_200_000_000)
                     ["components"]["Points3D:positions"], 17 * 3 + 1)
        cases.run("one ULP off", rrd, write_json(tmp / "ulp.json", bad), flags, 1,
                  ["FAIL stream", "FAIL eager", "FAIL lazy", "/world/lidar @ frame=2",
                   "Points3D:positions: first differing index 17 component 1 (flat 52) of 1 differing value(s)"])

        # 3. A row missing from the expectation = an unexpected row in the file.
        bad = copy.deepcopy(doc)
        bad["rows"].remove(find_row(bad, "/world/radar", frame=1, sim_time=1_700_000_000_100_000_000))
        cases.run("row dropped from expectation", rrd, write_json(tmp / "dropped.json", bad), flags, 1,
                  ["FAIL stream", "FAIL eager", "FAIL lazy",
                   "unexpected row /world/radar @ frame=1, sim_time=1700000000100000000 #0"])

        # 4. A bogus expected row = a missing row (on the footer-less fixture: stream + eager only).
        rrd, doc, flags = by_name["points3d_grpc_saved_nofooter.rrd"]
        bad = copy.deepcopy(doc)
        bogus = copy.deepcopy(bad["rows"][0])
        bogus["time"]["frame"]["value"] = 99
        bad["rows"].append(bogus)
        cases.run("bogus row added to expectation", rrd, write_json(tmp / "bogus.json", bad), flags, 1,
                  ["FAIL stream", "FAIL eager", "missing row /points @ frame=99 #0"])

        # 5. The footer-less fixture without --no-footer: verify (and the lazy reader) must refuse it.
        cases.run("footer-less file checked with footer checks", rrd, tmp / "points3d_grpc_saved_nofooter.expect.json",
                  [], 1, ["FAIL verify", "FAIL lazy", "Legacy RRD without footer"])

        # 6. Synthetic official-SDK file: all timeline kinds, 0 and 1M points, nulls, static overwrites.
        srrd, sdoc = make_synthetic(tmp)
        cases.run("synthetic (3 timeline kinds, 0/1M points, static overwrite)", srrd,
                  write_json(tmp / "synthetic.json", sdoc), [], 0,
                  ["ALL OK", "OK stream: 3 entities, 9 rows, 1000005 points", "OK eager: 3 entities, 8 rows, 1000004 points",
                   "OK lazy: 3 entities, 9 rows, 1000005 points"])

        # 7. One ULP on the very last float of the 1M-point row (read from the side file).
        side = tmp / "synthetic.bin"
        spec = sdoc["rows"][1]["components"]["Points3D:positions"]
        data = bytearray(side.read_bytes())
        last = spec["offset"] + spec["count"] * 12 - 4
        data[last:last + 4] = (np.frombuffer(data[last:last + 4], "<u4") + 1).astype("<u4").tobytes()
        (tmp / "synthetic_ulp.bin").write_bytes(bytes(data))
        bad = copy.deepcopy(sdoc)
        bad["rows"][1]["components"]["Points3D:positions"]["file"] = "synthetic_ulp.bin"
        cases.run("one ULP off, last float of the 1M-point row", srrd, write_json(tmp / "synthetic_ulp.json", bad), [], 1,
                  ["first differing index 999999 component 2 (flat 2999999)"])

        # 8. Expectation without colors on the colors-only row: the file has an unexpected component.
        bad = copy.deepcopy(sdoc)
        bad["rows"][3]["components"] = {}
        cases.run("unexpected component", srrd, write_json(tmp / "synthetic_comp.json", bad), [], 1,
                  ["component Points3D:colors: present in the file (1 instance(s)) but not expected"])

        # 9. Wrong timeline kind.
        bad = copy.deepcopy(sdoc)
        bad["rows"][0]["time"]["dt"]["kind"] = "sequence"
        cases.run("wrong timeline kind", srrd, write_json(tmp / "synthetic_kind.json", bad), [], 1,
                  ["timeline 'dt' is duration, expected sequence"])

        # 10. The same fixture with the SDK's additions stated instead of ignored: the
        # /__properties row (its start time by range) and `log_time` as a wall-clock timeline.
        rrd, doc, flags = by_name["two_entities_two_timelines.rrd"]
        wall = copy.deepcopy(doc)
        del wall["ignore_timelines"]
        wall["wall_clock_timelines"] = {"log_time": {"kind": "timestamp", "min": 0, "max": 2**62}}
        wall["rows"].append({"entity": "/__properties", "static": True, "time": {}, "components": {
            "RecordingInfo:start_time": {"dtype": "i64", "count": 1, "range": [0, 2**62]}}})
        cases.run("log_time as a wall-clock timeline, properties stated", rrd,
                  write_json(tmp / "wall.json", wall), flags, 0, ["ALL OK"])

        # 11. A wall-clock timeline of the wrong kind.
        bad = copy.deepcopy(wall)
        bad["wall_clock_timelines"]["log_time"]["kind"] = "sequence"
        cases.run("wall-clock timeline of the wrong kind", rrd, write_json(tmp / "wall_kind.json", bad), flags, 1,
                  ["FAIL stream", "row(s) have 'log_time' as timestamp, expected sequence"])

        # 12. Wall-clock values outside the window.
        bad = copy.deepcopy(wall)
        bad["wall_clock_timelines"]["log_time"]["max"] = 1
        cases.run("wall-clock values outside the window", rrd, write_json(tmp / "wall_window.json", bad), flags, 1,
                  ["FAIL stream", "row(s) have 'log_time' outside [0, 1]"])

        # 13. A start time outside its range.
        bad = copy.deepcopy(wall)
        bad["rows"][-1]["components"]["RecordingInfo:start_time"]["range"] = [0, 1]
        cases.run("start time outside its range", rrd, write_json(tmp / "wall_start.json", bad), flags, 1,
                  ["FAIL stream", "component RecordingInfo:start_time: value", "is outside [0, 1]"])

        # 14. A file without `log_time` checked as if it had it.
        bad = copy.deepcopy(sdoc)
        bad["wall_clock_timelines"] = wall["wall_clock_timelines"]
        cases.run("wall-clock timeline missing", srrd, write_json(tmp / "synthetic_wall.json", bad), [], 1,
                  ["FAIL stream", "temporal row(s) lack the wall-clock timeline 'log_time'"])

    elapsed = time.perf_counter() - t_start
    if cases.bad:
        print(f"SELFTEST FAILED ({len(cases.bad)} case(s) misbehaved: {', '.join(cases.bad)}) in {elapsed:.1f}s")
        return 1
    print(f"SELFTEST OK: all cases behaved, in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
