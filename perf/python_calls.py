#!/usr/bin/env python3
"""Per-call cost of the one-point path, piece by piece, for spate's package or the official SDK.

    .venv-spate-py/bin/python perf/python_calls.py --sdk spate [--sink file:/tmp/x.rrd]
    .venv-rerun/bin/python perf/python_calls.py --sdk official

The pieces of perf/official_sdk.py's row loop, each timed alone as `python -m timeit` does
(a loop of N calls, best of R repeats, N chosen so one repeat takes ≥ 0.2 s), into a
`RecordingStream` with one file sink (default: a file in $TMPDIR, deleted after):

    loop        an empty `for` loop over the same range (subtracted from nothing: shown
                so the others can be read against it)
    set_time    rec.set_time("frame", sequence=i)
    points      rr.Points3D(pos, colors=col, radii=rad)        (1 point, prebuilt arrays)
    points_pos  rr.Points3D(pos)
    points_list rr.Points3D([[1.0, 2.0, 3.0]])                (a list: the conversion path)
    log         rec.log("lidar/0", p)                          (one prebuilt Points3D)
    row         set_time + Points3D(pos, colors=, radii=) + log (the perf/run.py row)

Prints one JSON line per piece: {"sdk", "piece", "ns_per_call", "calls", "repeats"}, the
timeit-style best, and "ns_median" over the repeats.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sdk_cloud import cloud  # noqa: E402


def bench(fn, repeats: int, min_time: float) -> tuple[float, float, int]:
    """(best ns/call, median ns/call, calls per repeat) of `fn(n)`, which makes n calls."""
    n = 1000
    while True:
        t = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t
        if dt >= min_time or n >= 50_000_000:
            break
        n = int(n * max(2.0, min(10.0, 1.2 * min_time / max(dt, 1e-9))))
    times = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn(n)
        times.append((time.perf_counter() - t) / n * 1e9)
    return min(times), statistics.median(times), n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sdk", choices=("official", "spate"), required=True)
    ap.add_argument("--sink", default="")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--pieces", default="loop,set_time,points,points_pos,points_list,log,row")
    ap.add_argument("--pass", dest="pass_", type=int, default=1, help="a label for the output")
    args = ap.parse_args()
    rr = importlib.import_module("rerun" if args.sdk == "official" else "spate")

    tmp = None
    sink = args.sink
    if not sink:
        tmp = tempfile.NamedTemporaryFile(suffix=".rrd", delete=False)
        tmp.close()
        sink = f"file:{tmp.name}"
    rec = rr.RecordingStream("spate_perf_calls", recording_id="perf-calls")
    kind, _, arg = sink.partition(":")
    rec.set_sinks(rr.FileSink(arg) if kind == "file" else rr.GrpcSink(arg))
    pos, col, rad = cloud(1)
    rr.Points3D(pos, colors=col, radii=rad)  # the SDK's lazy imports, untimed
    prebuilt = rr.Points3D(pos, colors=col, radii=rad)
    P3 = rr.Points3D
    set_time, log = rec.set_time, rec.log

    def loop(n):
        for _ in range(n):
            pass

    def st(n):
        for i in range(n):
            set_time("frame", sequence=i)

    def points(n):
        for _ in range(n):
            P3(pos, colors=col, radii=rad)

    def points_pos(n):
        for _ in range(n):
            P3(pos)

    def points_list(n):
        for _ in range(n):
            P3([[1.0, 2.0, 3.0]])

    def lg(n):
        for _ in range(n):
            log("lidar/0", prebuilt)

    def row(n):
        for i in range(n):
            set_time("frame", sequence=i)
            log("lidar/0", P3(pos, colors=col, radii=rad))

    table = {"loop": loop, "set_time": st, "points": points, "points_pos": points_pos,
             "points_list": points_list, "log": lg, "row": row}
    for piece in args.pieces.split(","):
        best, med, n = bench(table[piece], args.repeats, args.min_time)
        print(json.dumps({"pass": args.pass_, "sdk": args.sdk, "piece": piece, "ns_per_call": round(best, 1),
                          "ns_median": round(med, 1), "calls": n, "repeats": args.repeats}),
              flush=True)
    rec.flush()
    rec.disconnect()
    if tmp is not None:
        os.unlink(tmp.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
