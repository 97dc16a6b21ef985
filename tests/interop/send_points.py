#!/usr/bin/env python3
"""Log the points example's clouds with the official Rerun SDK to a gRPC server.

usage: python send_points.py URL APP_ID RECORDING_ID POINTS FRAMES ENTITIES

The data contract is the one of `tests/support/official.rs::example_rows` (computed in
float32 step by step, as the Rust side does): entity /points/E, timeline `frame` = F,
positions [i*0.001, F, E + (i%7)*0.25], colors (i%256)<<24 | (F%256)<<16 | (E%256)<<8 | 255,
radii 0.01 + (i%10)*0.001.
"""

import sys

import numpy as np
import rerun as rr


def main() -> int:
    url, app, rec_id = sys.argv[1], sys.argv[2], sys.argv[3]
    points, frames, entities = (int(a) for a in sys.argv[4:7])
    rec = rr.RecordingStream(app, recording_id=rec_id)
    rec.set_sinks(rr.GrpcSink(url))
    i = np.arange(points, dtype=np.uint32)
    fi = i.astype(np.float32)
    for f in range(frames):
        rec.set_time("frame", sequence=f)
        for e in range(entities):
            pos = np.empty((points, 3), dtype=np.float32)
            pos[:, 0] = fi * np.float32(0.001)
            pos[:, 1] = np.float32(f)
            pos[:, 2] = np.float32(e) + (i % 7).astype(np.float32) * np.float32(0.25)
            col = ((i % 256) << 24) | np.uint32((f % 256) << 16) | np.uint32((e % 256) << 8) | np.uint32(255)
            rad = np.float32(0.01) + (i % 10).astype(np.float32) * np.float32(0.001)
            rec.log(f"points/{e}", rr.Points3D(pos, colors=col.astype(np.uint32), radii=rad))
    rec.flush(timeout_sec=120.0)
    rec.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
