#!/usr/bin/env python3
"""The official Rerun SDK (rerun-sdk 0.41.0) streaming the same clouds to a gRPC server.

    .venv-rerun/bin/python perf/official_grpc_sink.py URL --points 1000000 --clouds 50

Logs C clouds of P points (positions f32x3, colors u32 0xRRGGBBAA, radii f32: 20 B/point) to
one entity on the sequence timeline `frame`, through `rr.RecordingStream(..)` +
`.connect_grpc(URL)` (the SDK's `GrpcSink`). The arrays are built before the clock starts and
reused for every cloud (the SDK serializes them itself; the producer's own fill is not timed
here, which favours the SDK slightly).

The connection is opened before the clock starts (one small static log is sent and flushed
first, so the SDK's gRPC client is connected). Timed: from the first cloud's `log` until
`RecordingStream.flush()` (which waits until the batcher and the gRPC client's queue were
drained into the call) and `disconnect()` (which ends the call) returned. The SDK gives no
hook on the server's response, so unlike spate's run (which waits for the server's
`WriteMessagesResponse`) the clock may stop while the last bytes are still in the sockets:
this favours the SDK by at most the socket buffers' worth. Prints one JSON line like
`perf_grpc_sink`: {"mode":"sdk","bytes":..,"seconds":..,"mb_per_s":..} (MB = 10^6 bytes).

`cpu_seconds` is the process's CPU time (all threads) over the timed region.

`bytes` is the clouds' point data (C x P x 20). The SDK LZ4-compresses what it sends over gRPC
by default, so fewer bytes cross the socket; rates are clouds delivered per second either way.
"""

import argparse
import gc
import json
import sys
import time

import rerun as rr
from sdk_cloud import cloud


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="rerun+http://HOST:PORT/proxy")
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--clouds", type=int, default=50)
    args = ap.parse_args()
    n = args.points

    positions, colors, radii = cloud(n)

    rec = rr.RecordingStream("spate_perf_official", recording_id="perf-grpc-sink")
    rec.connect_grpc(args.url)
    # Connect before timing: a tiny static row, flushed through the gRPC client.
    rec.log("warmup", rr.TextDocument("warm-up"), static=True)
    rec.flush()
    gc.collect()

    cpu = time.process_time()
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
    cpu = time.process_time() - cpu

    payload = 20 * n * args.clouds
    print(
        json.dumps(
            {
                "mode": "sdk",
                "bytes": payload,
                "seconds": seconds,
                "mb_per_s": payload / seconds / 1e6,
                "sdk": f"rerun-sdk {rr.__version__}",
                "points": n,
                "clouds": args.clouds,
                "flush_seconds": flushed,
                "cpu_seconds": cpu,
            },
            separators=(",", ":"),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
