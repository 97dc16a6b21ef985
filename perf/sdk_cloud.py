"""The point cloud the official-SDK perf scripts log (perf/official_*.py): P points of
positions f32x3, colors u32 0xRRGGBBAA and radii f32 (20 B/point), the same values as
`spate::demo::example_cloud` for frame 0, entity 0. Built once, before any clock starts.

The scripts run as `.venv-rerun/bin/python perf/X.py`, so perf/ is on `sys.path`.
"""

import numpy as np


def cloud(n: int):
    """(positions, colors, radii) for `n` points: 20 * n bytes of arrays."""
    i = np.arange(n, dtype=np.uint32)
    positions = np.empty((n, 3), dtype=np.float32)
    positions[:, 0] = i.astype(np.float32) * np.float32(0.001)
    positions[:, 1] = 0.0
    positions[:, 2] = (i % 7).astype(np.float32) * np.float32(0.25)
    colors = ((i % 256) << 24) | np.uint32(0xFF)
    radii = np.float32(0.01) + (i % 10).astype(np.float32) * np.float32(0.001)
    assert positions.nbytes + colors.nbytes + radii.nbytes == 20 * n
    return positions, colors, radii
