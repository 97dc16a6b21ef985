#!/usr/bin/env python3
"""The official Rerun SDK (rerun-sdk 0.41.0) running one perf/ workload as fast as it can.

    .venv-rerun/bin/python perf/official_sdk.py --points 100000 --clouds 50 --producers 2 \
        --sink file:/tmp/x.rrd --sink grpc:rerun+http://127.0.0.1:9876/proxy

The same workloads `spate check --scenario perf/scenarios/*.toml` runs, for side-by-side
numbers (perf/run.sh):

* `--producers N` Python threads, each logging `--clouds C` clouds (or as many as fit in
  `--duration S` seconds) of `--points P` points
  (positions f32x3, colors u32 0xRRGGBBAA, radii f32: 20 B/point) to its own entity
  `lidar/<i>` on the sequence timeline `frame`. The arrays are built before the clock starts
  and reused (the SDK serializes them itself; the producer's own fill is not timed, which
  favours the SDK slightly).
* `--points 1` is the one-point-row workload: each call logs one point; the figure that
  matters is calls/s.
* `--sink file:PATH` -> `rr.FileSink(PATH)`, `--sink grpc:URL` -> `rr.GrpcSink(URL)`;
  several -> `RecordingStream.set_sinks(...)`: the SDK's tee.

Timed: from the first `log` until `flush()` and `disconnect()` returned and the stream is
deleted, i.e. the file is complete and the gRPC client has sent what it had. Prints one JSON
line: {"bytes":..,"seconds":..,"mb_per_s":..,"points_per_s":..,"calls_per_s":..}
(MB = 10^6 bytes; bytes = point payload given to the SDK, not what it wrote: its file sink
LZ4-compresses).
"""

import argparse
import gc
import json
import sys
import threading
import time

import rerun as rr
from sdk_cloud import cloud


def sink_of(spec: str):
    kind, _, arg = spec.partition(":")
    if kind == "file" and arg:
        return rr.FileSink(arg)
    if kind == "grpc" and arg:
        return rr.GrpcSink(arg)
    raise SystemExit(f"bad --sink {spec!r}: expected file:PATH or grpc:URL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--clouds", type=int, default=50, help="per producer")
    ap.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="log for this many seconds instead of --clouds (as many calls as fit)",
    )
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--sink", action="append", required=True)
    args = ap.parse_args()
    n = args.points

    positions, colors, radii = cloud(n)
    rec = rr.RecordingStream("spate_perf_official", recording_id="perf-official")
    rec.set_sinks(*[sink_of(s) for s in args.sink])
    gc.collect()

    counts = [0] * args.producers

    def produce(p: int) -> None:
        entity = f"lidar/{p}"
        stop_at = time.perf_counter() + args.duration if args.duration > 0 else None
        f = 0
        while (f < args.clouds) if stop_at is None else (time.perf_counter() < stop_at):
            rec.set_time("frame", sequence=f)
            rec.log(entity, rr.Points3D(positions, colors=colors, radii=radii))
            f += 1
        counts[p] = f

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(args.producers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logged = time.perf_counter() - start
    rec.flush()
    rec.disconnect()
    del rec
    gc.collect()
    seconds = time.perf_counter() - start

    calls = sum(counts)
    payload = 20 * n * calls
    print(
        json.dumps(
            {
                "mode": "official",
                "sinks": args.sink,
                "producers": args.producers,
                "points": n,
                "calls": calls,
                "bytes": payload,
                "seconds": seconds,
                "log_seconds": logged,
                "mb_per_s": payload / seconds / 1e6,
                "points_per_s": n * calls / seconds,
                "calls_per_s": calls / seconds,
                "sdk": f"rerun-sdk {rr.__version__}",
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
