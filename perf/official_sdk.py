#!/usr/bin/env python3
"""The official Rerun SDK (rerun-sdk 0.41.0), or spate's Python package, running one perf/
workload as fast as it can.

    .venv-rerun/bin/python perf/official_sdk.py --points 100000 --clouds 50 --producers 2 \
        --sink file:/tmp/x.rrd --sink grpc:rerun+http://127.0.0.1:9876/proxy
    .venv-spate-py/bin/python perf/official_sdk.py --sdk spate ...   # the same script

`--sdk official` (default) runs it with `import rerun as rr`, `--sdk spate` with
`import spate as rr`: one script, so both sides make exactly the same calls (perf/python.sh
runs them side by side).

The same workloads `spate check --scenario perf/scenarios/*.toml` runs, for side-by-side
numbers (perf/run.sh):

* `--producers N` Python threads, each logging `--clouds C` clouds (or as many as fit in
  `--duration S` seconds) of `--points P` points
  (positions f32x3, colors u32 0xRRGGBBAA, radii f32: 20 B/point) to its own entity
  `lidar/<i>` on the sequence timeline `frame`. The arrays are built before the clock starts
  and reused (the SDK serializes them itself; the producer's own fill is not timed, which
  favours the SDK slightly). One `Points3D` is built (not logged) before the clock starts:
  the SDK's first one pays for its lazy imports.
* `--points 1` is the one-point-row workload: each call logs one point; the figure that
  matters is calls/s.
* `--sink file:PATH` -> `rr.FileSink(PATH)`, `--sink grpc:URL` -> `rr.GrpcSink(URL)`;
  several -> `RecordingStream.set_sinks(...)`: the SDK's tee.

Timed: from the first `log` until `flush()` and `disconnect()` returned and the stream is
deleted, i.e. the file is complete and the gRPC client has sent what it had. Prints one JSON
line: {"bytes":..,"seconds":..,"mb_per_s":..,"points_per_s":..,"calls_per_s":..}
(MB = 10^6 bytes; bytes = point payload given to the SDK, not what it wrote: its file sink
LZ4-compresses).

With `--sdk spate` the line also holds "check": the engine's counters taken after
`disconnect()` returned (outside the timing): rows logged, and per sink the rows it
delivered and any it dropped; "ok" is true when every sink delivered every row logged.
An exception from `flush()`/`disconnect()` (spate raises `DataLost` when a sink dropped
rows) is reported as "flush_error" and fails the check.
"""

import argparse
import gc
import importlib
import json
import sys
import threading
import time

from sdk_cloud import cloud

rr = None  # `rerun` or `spate`, by --sdk


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
    ap.add_argument(
        "--sdk",
        choices=("official", "spate"),
        default="official",
        help="official: import rerun as rr; spate: import spate as rr",
    )
    args = ap.parse_args()
    n = args.points
    global rr
    rr = importlib.import_module("rerun" if args.sdk == "official" else "spate")

    positions, colors, radii = cloud(n)
    rec = rr.RecordingStream("spate_perf_official", recording_id="perf-official")
    rec.set_sinks(*[sink_of(s) for s in args.sink])
    # Untimed warm-up: the SDK imports its datatype modules on the first archetype built
    # (about 0.3-1.3 s here), which would otherwise be charged to a 1 s run. Built, not logged.
    rr.Points3D(positions, colors=colors, radii=radii)
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
    flush_error = None
    try:
        rec.flush()
        rec.disconnect()
    except Exception as e:  # noqa: BLE001 - spate's flush raises DataLost; reported, run fails its check
        flush_error = f"{type(e).__name__}: {e}"[:400]
    paused = time.perf_counter()
    check = delivery_check(rec, sum(counts)) if args.sdk == "spate" else None
    resumed = time.perf_counter()
    del rec
    gc.collect()
    seconds = time.perf_counter() - start - (resumed - paused)

    calls = sum(counts)
    payload = 20 * n * calls
    extra = {"check": check} if check is not None else {}
    if flush_error:
        extra["flush_error"] = flush_error
        if check is not None:
            check["ok"] = False
    print(
        json.dumps(
            {
                "mode": args.sdk,
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
                "sdk": f"{'rerun-sdk' if args.sdk == 'official' else 'spate'} {rr.__version__}",
                **extra,
            },
            separators=(",", ":"),
        )
    )
    return 0


def delivery_check(rec, calls: int) -> dict:
    """spate's counters after disconnect(): every sink must have delivered every row logged
    (lossless policies), and the rows logged must be the calls made."""
    st = rec.stats()
    sinks = [
        {
            "name": s["name"],
            "rows": s["rows"],
            "bytes": s["bytes"],
            "dropped": s["rows_dropped_queue_full"]
            + s["rows_dropped_sink_failed"]
            + s["rows_dropped_shutdown_deadline"],
            "failed": s["failed"],
            "error": s["error"],
        }
        for s in st["sinks"]
    ]
    ok = (
        st["rows_logged"] == calls
        and st["rows_dropped"] == 0
        and st["encode_errors"] == 0
        and bool(sinks)
        and all(s["rows"] == calls and s["dropped"] == 0 and not s["failed"] for s in sinks)
    )
    return {
        "ok": ok,
        "rows_logged": st["rows_logged"],
        "rows_dropped": st["rows_dropped"],
        "rows_encoded": st["rows_encoded"],
        "sinks": sinks,
    }


if __name__ == "__main__":
    sys.exit(main())
