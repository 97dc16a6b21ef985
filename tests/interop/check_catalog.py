"""Reads datasets back with the official Rerun 0.41 Python CatalogClient and prints, per
dataset, its segments, its layers (from the manifest) and every row of /points on the
`frame` index, as one JSON object (tests/catalog.rs asserts on it).

usage: check_catalog.py URL DATASET [DATASET ...]
"""

import json
import sys

from rerun.catalog import CatalogClient


def rows_of(dataset):
    df = dataset.reader(index="frame").to_pandas()
    cols = list(df.columns)
    pos = [c for c in cols if c.startswith("/points:") and c.endswith(":positions")]
    if not pos:
        return cols, []
    rows = []
    for _, r in df.iterrows():
        v = r[pos[0]]
        if v is None or (hasattr(v, "__len__") and len(v) == 0):
            continue
        rows.append([str(r["rerun_segment_id"]), int(r["frame"]), [[float(x) for x in p] for p in v]])
    rows.sort()
    return cols, rows


def main():
    url, names = sys.argv[1], sys.argv[2:]
    client = CatalogClient(url)
    out = {"datasets": sorted(client.dataset_names()) if hasattr(client, "dataset_names") else None}
    for name in names:
        ds = client.get_dataset(name)
        man = ds.manifest().to_pandas()
        # The manifest: one row per registered layer.
        seg_col = next(c for c in man.columns if c in ("rerun_segment_id", "rerun_partition_id"))
        layer_col = next(c for c in man.columns if "layer" in c)
        cols, rows = rows_of(ds)
        out[name] = {
            "id": str(ds.id),
            "segment_ids": sorted(ds.segment_ids()),
            "manifest_columns": [str(c) for c in man.columns],
            "layers": sorted([str(s), str(l)] for s, l in zip(man[seg_col], man[layer_col])),
            "columns": cols,
            "rows": rows,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
