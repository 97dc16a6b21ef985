#!/usr/bin/env python3
"""Print an .rrd file's rows as JSON, read with the official Rerun 0.41 tools only.

usage: .venv-rerun/bin/python dump_rrd.py FILE.rrd [--no-footer]

First `rerun rrd verify FILE` (`--check-footers false` with --no-footer) must pass (exit 1
with its output otherwise); then every chunk of `RrdReader(FILE).stream()` is printed as
rows: {"recordings": [[kind, application_id, recording_id]],
       "rows": [{"entity": "/p", "static": bool, "time": {timeline: int}, "time_types": {timeline: arrow type},
                 "components": {"Points3D:positions": value}}]}
Values are `to_pylist()` (timestamps and durations as int64 nanoseconds); `log_time` and
RowIds are left out. Floats print with `repr`, so float32 values survive the trip exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pyarrow as pa


def meta(f: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}


def as_ints(col: pa.Array) -> list:
    t = col.type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        col = col.cast(pa.int64())
    return col.to_pylist()


def main() -> int:
    path = Path(sys.argv[1])
    no_footer = "--no-footer" in sys.argv[2:]
    rerun = Path(sys.executable).with_name("rerun")
    cmd = [str(rerun), "rrd", "verify", str(path)]
    if no_footer:
        cmd[3:3] = ["--check-footers", "false"]
    v = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if v.returncode != 0:
        print(f"rerun rrd verify {path} failed ({v.returncode}):\n{v.stdout}\n{v.stderr}", file=sys.stderr)
        return 1

    from rerun.chunk import RrdReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = RrdReader(path)
        stores = [[s.kind, s.application_id, s.recording_id] for s in reader.recordings() + reader.blueprints()]
        chunks = list(reader.stream()) if reader.recordings() else []
    rows = []
    for chunk in chunks:
        rb = chunk.to_record_batch()
        index: dict[str, list] = {}
        index_types: dict[str, str] = {}
        comps: dict[str, list] = {}
        has_index = False
        for f, col in zip(rb.schema, rb.columns):
            kind = meta(f).get("rerun:kind")
            if kind == "control":
                continue
            if kind in ("index", "time"):
                has_index = True
                if f.name != "log_time":
                    index[f.name] = as_ints(col)
                    index_types[f.name] = str(f.type)
            else:
                comps[f.name] = col.to_pylist()
        for i in range(rb.num_rows):
            rows.append(
                {
                    "entity": str(chunk.entity_path),
                    "static": not has_index,
                    "time": {k: v[i] for k, v in index.items()},
                    "time_types": index_types,
                    "components": {k: v[i] for k, v in comps.items() if v[i] is not None},
                }
            )
    json.dump({"recordings": stores, "rows": rows}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
