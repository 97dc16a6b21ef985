#!/usr/bin/env python3
"""List the chunks and rows of an .rrd file as the official Rerun 0.41 reader sees them.

usage: .venv-rerun/bin/python tests/interop/chunk_census.py FILE.rrd TIMELINE

Prints one JSON object on stdout:

  "stream"     every chunk of `RrdReader(FILE).stream()` (each ArrowMsg decoded in file order):
               [chunk id, entity, [TIMELINE value of each row]]; a chunk the file holds twice
               is listed twice.
  "collected"  every row of `RrdReader(FILE).stream().collect()`, the in-memory ChunkStore
               (which ignores a chunk id it already holds, re_chunk_store `insert_chunk`):
               [entity, TIMELINE value], sorted; static rows have value null.

Exit status: 0 printed, 2 usage or tool error. Files without a footer (a receiver stopped
by a signal) are read by a whole-file scan; the reader's warning about it is silenced.
"""

from __future__ import annotations

import json
import sys
import warnings

import pyarrow as pa


def timeline_values(chunk, timeline: str) -> list[int | None]:
    """The TIMELINE value of each row of `chunk` (None for every row when it lacks it)."""
    rb = chunk.to_record_batch()
    for f, col in zip(rb.schema, rb.columns):
        meta = f.metadata or {}
        kind = meta.get(b"rerun:kind", b"").decode()
        name = meta.get(b"rerun:index_name", f.name.encode()).decode()
        if kind in ("index", "time") and name == timeline:
            return [int(v) for v in col.cast(pa.int64()).to_pylist()]
    return [None] * rb.num_rows


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, timeline = sys.argv[1], sys.argv[2]
    try:
        from rerun.chunk import RrdReader
    except ImportError as e:
        print(f"cannot import rerun.chunk.RrdReader ({e}); run with the venv's python", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = RrdReader(path)
        stream = [[c.id, c.entity_path, timeline_values(c, timeline)] for c in reader.stream()]
        collected = sorted(
            ([c.entity_path, v] for c in reader.stream().collect().stream() for v in timeline_values(c, timeline)),
            key=lambda r: (r[0], -1 if r[1] is None else r[1]),
        )
    json.dump({"stream": stream, "collected": collected}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
