#!/usr/bin/env python3
"""The official Rerun SDK (rerun-sdk 0.41.0) writing the same clouds to an .rrd file.

    .venv-rerun/bin/python perf/official_file_sink.py --points 1000000 --clouds 50 --out FILE

Logs C clouds of P points (positions f32x3, colors u32 0xRRGGBBAA, radii f32: 20 B/point) to
one entity on the sequence timeline `frame`, through `rr.RecordingStream(..)` + `.save(path)`.
The arrays are built before the clock starts and reused for every cloud (the SDK serializes
them itself; the producer's own fill is not timed here, which favours the SDK slightly).

Timed: from the first `log` until `RecordingStream.flush()` (no `blocking=` kwarg in 0.41;
it waits for the sinks) and `disconnect()` returned and the stream is deleted, i.e. the file
is complete. No fsync. Prints one JSON line like `perf_file_sink`:
{"mode":"official","bytes":..,"seconds":..,"mb_per_s":..} (MB = 10^6 bytes).

`bytes` is the clouds' payload (C x P x 20), not the file size: the SDK's file sink
LZ4-compresses every chunk (it has no switch for that), so its file is smaller than the data
it was given (`file_bytes`, about 3.3x smaller for these smooth synthetic clouds). Rates are
therefore clouds delivered per second, comparable with spate's uncompressed files.
"""

import argparse
import gc
import json
import os
import sys
import time

import rerun as rr
from sdk_cloud import cloud


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--clouds", type=int, default=50)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    n = args.points

    positions, colors, radii = cloud(n)

    rec = rr.RecordingStream("spate_perf_official", recording_id="perf-file-sink")
    rec.save(args.out)
    gc.collect()

    start = time.perf_counter()
    for f in range(args.clouds):
        rec.set_time("frame", sequence=f)
        rec.log("lidar", rr.Points3D(positions, colors=colors, radii=radii))
    rec.flush()
    flushed = time.perf_counter() - start
    rec.disconnect()
    del rec
    gc.collect()
    seconds = time.perf_counter() - start

    size = os.path.getsize(args.out)
    payload = 20 * n * args.clouds
    print(
        json.dumps(
            {
                "mode": "official",
                "bytes": payload,
                "seconds": seconds,
                "mb_per_s": payload / seconds / 1e6,
                "file_bytes": size,
                "sdk": f"rerun-sdk {rr.__version__}",
                "points": n,
                "clouds": args.clouds,
                "flush_seconds": flushed,
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
