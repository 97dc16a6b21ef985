#!/usr/bin/env python3
"""Perf sender for perf/serve.sh: the official Rerun SDK logs CLOUDS point clouds of POINTS
points (positions f32x3, colors u32, radii f32 = 20 B/point) to URL with rr.GrpcSink, then
flushes. The arrays are built once; only the frame number changes. Prints one JSON line:
{"clouds", "points", "payload_bytes", "send_s"} where send_s runs from the first log to the
end of the flush (the SDK has handed every byte to the connection).

usage: official_serve_sender.py URL CLOUDS POINTS
"""

import json
import sys
import time

import numpy as np
import rerun as rr


def main() -> int:
    url, clouds, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rec = rr.RecordingStream("spate_perf_serve", recording_id="perf")
    rec.set_sinks(rr.GrpcSink(url))
    rng = np.random.default_rng(7)
    pos = rng.random((points, 3), dtype=np.float32)
    col = rng.integers(0, 2**32, size=points, dtype=np.uint32)
    rad = rng.random(points, dtype=np.float32)
    t0 = time.perf_counter()
    for f in range(clouds):
        rec.set_time("frame", sequence=f)
        rec.log("lidar", rr.Points3D(pos, colors=col, radii=rad))
    rec.flush(timeout_sec=600.0)
    send_s = time.perf_counter() - t0
    print(json.dumps({"clouds": clouds, "points": points,
                      "payload_bytes": clouds * points * 20, "send_s": send_s}))
    rec.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
