"""Time values are converted as the official SDK converts them (differential): one script sets
each kind of value with `set_time` and logs a row, under the official SDK and under spate;
the official reader must find the same timelines with the same int64 values.
"""

from __future__ import annotations

from pathlib import Path

from conftest import Official, run_script

SCRIPT = '''
import sys
from datetime import datetime, timedelta, timezone
import numpy as np
import {sdk} as rr

rec = rr.RecordingStream("rerun_example_times")
rec.set_sinks(rr.FileSink(sys.argv[1] if len(sys.argv) > 1 else "times.rrd"))
values = [
    ("sequence", 7), ("sequence", np.int64(-3)), ("sequence", True), ("sequence", 2**62),
    ("duration", 1), ("duration", 1.5), ("duration", -0.25), ("duration", 2.0000000005),
    ("duration", 1e-9 * 2.5), ("duration", timedelta(days=1, seconds=2, microseconds=3)),
    ("duration", timedelta(microseconds=-1)), ("duration", np.timedelta64(5, "ms")),
    ("duration", np.timedelta64(7, "ns")), ("duration", np.int32(4)), ("duration", np.float32(0.1)),
    ("timestamp", 1_700_000_000), ("timestamp", 1.7e9 + 0.123456789), ("timestamp", 0.1),
    ("timestamp", -1.5), ("timestamp", datetime(2024, 1, 2, 3, 4, 5, 678901)),
    ("timestamp", datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5)))),
    ("timestamp", np.datetime64("2024-01-02T03:04:05.123456789")),
    ("timestamp", np.datetime64("2024-01-02", "D")),
]
for i, (kind, value) in enumerate(values):
    rec.reset_time()
    rec.set_time(f"t{{i}}", **{{kind: value}})
    rec.log(f"v{{i}}", rr.Points3D([[float(i), 0.0, 0.0]]))
rec.flush()
'''


def test_set_time_values_equal_the_sdks(official: Official, tmp_path: Path) -> None:
    dumps = {}
    for sdk, python in (("rerun", official.python), ("spate", None)):
        cwd = tmp_path / sdk
        cwd.mkdir()
        script = SCRIPT.format(sdk=sdk)
        r = official.run_script(script, cwd) if python else run_script(script, cwd)
        assert r.returncode == 0, f"{sdk}:\n{r.stderr}"
        dumps[sdk] = {
            row["entity"]: (row["time"], row["time_types"]) for row in official.dump(cwd / "times.rrd")["rows"] if row["entity"] != "/__properties"
        }
    assert len(dumps["rerun"]) == 23
    assert dumps["spate"] == dumps["rerun"]
