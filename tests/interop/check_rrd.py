#!/usr/bin/env python3
"""Check that an .rrd file holds exactly the expected data, using only the official Rerun 0.41 tools.

usage: .venv-rerun/bin/python tests/interop/check_rrd.py FILE.rrd EXPECT.json [--no-footer]

Checks, in order (all of them run even if an earlier one fails, so one run shows every problem):

  verify      `rerun rrd verify FILE` (or `--check-footers false` with --no-footer) must exit 0.
  print       `rerun rrd print -vvv FILE` must exit 0.
  recordings  `RrdReader(FILE).recordings()` must list exactly one recording (and no blueprint) with the
              expected application id / recording id.
  stream      every chunk of `RrdReader(FILE).stream()` (sequential decode of every ArrowMsg, no
              manifest): the rows must equal the expectation exactly.
  eager       `RrdReader(FILE).stream().collect()` (the in-memory ChunkStore): the same, except that
              overwritten STATIC rows may be missing (see `_match_static_latest`).
  lazy        (not with --no-footer) `RrdReader(FILE).store()` (manifest-driven LazyStore): every
              chunk of `.stream()` must match exactly, and the manifest's per-chunk summary must agree
              with the chunks actually loaded.

Exit status: 0 everything matched, 1 a mismatch (details printed), 2 usage or tool error.

The `rerun` CLI is taken from $SPATE_RERUN_BIN, else from the directory of sys.executable (the venv).

EXPECT.json:
  {"application_id": str?, "recording_id": str?, "ignore_timelines": [str]?, "ignore_properties": bool?,
   "wall_clock_timelines": {NAME: {"kind": K, "min": int, "max": int}}?,
   "rows": [{"entity": "/a/b", "static": bool, "time": {NAME: {"kind": K, "value": int}},
             "components": {"Points3D:positions": {"dtype": "f32x3", "b64": ...} |
                                                  {"dtype": ..., "file": ..., "offset": int, "count": int} |
                                                  {"dtype": ..., "range": [lo, hi], "count": int} |
                                                  {"dtype": "utf8", "values": [str]}}}]}
  K is sequence | timestamp | duration; values are int64 (timestamps/durations in ns).
  dtype is u8/u16/u32/u64/i8/i16/i32/i64/f32/f64, optionally "xN" for fixed-size lists of N
  (f32x3 = Position3D), or utf8. `count` counts elements (points for f32x3).
  Rows under /__properties are ignored when "ignore_timelines" is present (official SDK files carry
  them together with `log_time`) or when "ignore_properties" is true; otherwise they must be listed.
  A timeline of "wall_clock_timelines" (`log_time`: the moment each row was logged, which the SDK and
  spate add to every temporal row) must be on every temporal row of the file (outside the ignored
  /__properties rows), of kind K, with a value in [min, max]; then its values are left out of the
  matching, like an ignored timeline (expected rows do not list it). A numeric component given by
  "range" (a wall-clock value, e.g. RecordingInfo:start_time) must hold `count` scalars, each in [lo, hi].
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import os
import re
import subprocess
import sys
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2
MAX_PROBLEMS_SHOWN = 40  # per check; the total count is always printed
TOOL_TIMEOUT_S = 1800

PROPERTIES_ENTITY = "/__properties"
TIME_KINDS = ("sequence", "timestamp", "duration")

_NUMERIC_BASES: dict[str, tuple[np.dtype, pa.DataType]] = {
    "u8": (np.dtype("<u1"), pa.uint8()),
    "u16": (np.dtype("<u2"), pa.uint16()),
    "u32": (np.dtype("<u4"), pa.uint32()),
    "u64": (np.dtype("<u8"), pa.uint64()),
    "i8": (np.dtype("<i1"), pa.int8()),
    "i16": (np.dtype("<i2"), pa.int16()),
    "i32": (np.dtype("<i4"), pa.int32()),
    "i64": (np.dtype("<i8"), pa.int64()),
    "f32": (np.dtype("<f4"), pa.float32()),
    "f64": (np.dtype("<f8"), pa.float64()),
}
_DTYPE_RE = re.compile(r"^(?P<base>[uif]\d+)(?:x(?P<width>\d+))?$")


class UsageError(Exception):
    """Bad arguments, bad EXPECT.json or a broken tool installation: exit 2."""


# --------------------------------------------------------------------------------------------------
# dtypes


@dataclass(frozen=True)
class DType:
    """A component element type from EXPECT.json, e.g. f32x3 = FixedSizeList<f32, 3>."""

    name: str
    np_dtype: np.dtype | None  # None for utf8
    arrow_base: pa.DataType | None
    width: int  # 1 = plain primitive, N > 1 = FixedSizeList of N

    @staticmethod
    def parse(name: str) -> DType:
        if name == "utf8":
            return DType(name, None, None, 1)
        m = _DTYPE_RE.match(name)
        if not m or m["base"] not in _NUMERIC_BASES or (m["width"] is not None and int(m["width"]) < 2):
            raise UsageError(f"unsupported dtype {name!r}")
        np_dtype, arrow_base = _NUMERIC_BASES[m["base"]]
        return DType(name, np_dtype, arrow_base, int(m["width"] or 1))

    @property
    def is_float(self) -> bool:
        return self.np_dtype is not None and self.np_dtype.kind == "f"

    def arrow_column_type(self) -> str:
        """The Arrow type of the component column, as text (for messages)."""
        if self.np_dtype is None:
            return "list<string>"
        if self.width > 1:
            return f"list<fixed_size_list<{self.arrow_base}>[{self.width}]>"
        return f"list<{self.arrow_base}>"

    def matches(self, column_type: pa.DataType) -> bool:
        """Does a component column of this Arrow type hold elements of this dtype?

        Only 32-bit `List` columns are accepted, as written by the official SDK (spec §5.6).
        """
        if not pa.types.is_list(column_type):
            return False
        item = column_type.value_type
        if self.np_dtype is None:
            return pa.types.is_string(item)
        if self.width > 1:
            return (
                pa.types.is_fixed_size_list(item)
                and item.list_size == self.width
                and item.value_type == self.arrow_base
            )
        return item == self.arrow_base


# --------------------------------------------------------------------------------------------------
# the expectation


@dataclass
class ExpectedComponent:
    dtype: DType
    spec: dict[str, Any]
    base_dir: Path
    _cache: Any = None

    def __post_init__(self) -> None:
        if "range" in self.spec:
            r, count = self.spec["range"], self.spec.get("count")
            if (self.dtype.np_dtype is None or not isinstance(r, list) or len(r) != 2
                    or not all(isinstance(v, (int, float)) for v in r) or r[0] > r[1]):
                raise UsageError(f"\"range\" needs a numeric dtype and [lo, hi] with lo <= hi: {r!r}")
            if not isinstance(count, int) or count < 0:
                raise UsageError("a \"range\" component needs \"count\": int")

    def compare(self, found: Any) -> str | None:
        """None if `found` (from `_found_values`) is what is expected, else the first difference."""
        if "range" not in self.spec:
            return _compare_values(self.dtype, self.values(), found)
        (lo, hi), count = self.spec["range"], self.spec["count"]
        if found.size != count * self.dtype.width:
            return f"length differs: expected {count} elements, found {found.size // self.dtype.width}"
        outside = np.flatnonzero((found < lo) | (found > hi))
        if outside.size:
            k = int(outside[0])
            return f"value {_fmt_scalar(self.dtype, found[k])} at index {k} is outside [{lo}, {hi}]"
        return None

    def values(self) -> np.ndarray | list[str]:
        """Flat numpy array (width*count elements of the base dtype) or list of strings. Cached."""
        if self._cache is None:
            self._cache = self._load()
        return self._cache

    def _load(self) -> np.ndarray | list[str]:
        spec, dt = self.spec, self.dtype
        if dt.np_dtype is None:
            vals = spec.get("values")
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise UsageError("utf8 component needs \"values\": [str, ...]")
            return vals
        elem_bytes = dt.np_dtype.itemsize * dt.width
        if "b64" in spec:
            try:
                raw = base64.b64decode(spec["b64"], validate=True)
            except ValueError as e:
                raise UsageError(f"bad base64: {e}") from None
            if len(raw) % elem_bytes:
                raise UsageError(f"b64 payload of {len(raw)} bytes is not a multiple of {elem_bytes} ({dt.name})")
            if "count" in spec and int(spec["count"]) * elem_bytes != len(raw):
                raise UsageError(f"b64 payload holds {len(raw) // elem_bytes} elements, count says {spec['count']}")
        elif "file" in spec:
            path = self.base_dir / spec["file"]
            offset, count = int(spec.get("offset", 0)), int(spec["count"])
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    raw = f.read(count * elem_bytes)
            except OSError as e:
                raise UsageError(f"cannot read {path}: {e}") from None
            if len(raw) != count * elem_bytes:
                raise UsageError(f"{path}: wanted {count * elem_bytes} bytes at offset {offset}, got {len(raw)}")
        else:
            raise UsageError("numeric component needs \"b64\" or \"file\"+\"offset\"+\"count\"")
        return np.frombuffer(raw, dtype=dt.np_dtype)


@dataclass
class Row:
    """One row, either from EXPECT.json or from a chunk read by the official reader."""

    entity: str
    static: bool
    time: dict[str, tuple[str, int]]  # timeline -> (kind, value)
    # expected rows: name -> ExpectedComponent; found rows: name -> (column, offsets, row index)
    components: dict[str, Any] = field(default_factory=dict)
    row_id: bytes = b""  # found rows only; the TUID (big-endian) orders rows as they were logged
    num_points: int = 0  # found rows only: instances of Points3D:positions

    def key(self) -> tuple:
        """Row identity: entity + static flag + timeline values (kinds are compared separately)."""
        return (self.entity, self.static, tuple(sorted((n, v) for n, (_, v) in self.time.items())))


def describe_key(key: tuple) -> str:
    entity, static, times = key
    if static:
        return f"{entity} [static]"
    if not times:
        return f"{entity} @ (no timeline)"
    return f"{entity} @ " + ", ".join(f"{n}={v}" for n, v in times)


@dataclass
class Expectation:
    application_id: str | None
    recording_id: str | None
    ignore_timelines: set[str]
    ignore_properties: bool
    wall_clock_timelines: dict[str, tuple[str, int, int]]  # name -> (kind, min, max)
    rows: list[Row]

    @staticmethod
    def load(path: Path) -> Expectation:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read {path}: {e}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
            raise UsageError(f"{path}: top level must be an object with a \"rows\" list")
        ignore_timelines = doc.get("ignore_timelines")
        wall_clock = {}
        for name, t in (doc.get("wall_clock_timelines") or {}).items():
            if not isinstance(t, dict) or t.get("kind") not in TIME_KINDS or not all(
                    isinstance(t.get(k), int) for k in ("min", "max")) or t["min"] > t["max"]:
                raise UsageError(f"{path}: wall_clock_timelines[{name!r}] needs a kind of {TIME_KINDS} "
                                 "and integers min <= max")
            wall_clock[name] = (t["kind"], t["min"], t["max"])
        if wall_clock.keys() & set(ignore_timelines or []):
            raise UsageError(f"{path}: a timeline is both ignored and a wall-clock timeline")
        rows = []
        for i, r in enumerate(doc["rows"]):
            try:
                rows.append(_parse_expected_row(r, path.parent))
            except (KeyError, TypeError, ValueError, UsageError) as e:
                raise UsageError(f"{path}: rows[{i}]: {e!r}") from None
            if rows[-1].time.keys() & set(ignore_timelines or []):
                raise UsageError(f"{path}: rows[{i}] uses a timeline listed in ignore_timelines")
            if rows[-1].time.keys() & wall_clock.keys():
                raise UsageError(f"{path}: rows[{i}] uses a timeline listed in wall_clock_timelines")
        return Expectation(
            application_id=doc.get("application_id"),
            recording_id=doc.get("recording_id"),
            ignore_timelines=set(ignore_timelines or []),
            ignore_properties=bool(doc.get("ignore_properties", ignore_timelines is not None)),
            wall_clock_timelines=wall_clock,
            rows=rows,
        )


def _parse_expected_row(r: dict[str, Any], base_dir: Path) -> Row:
    entity, static = r["entity"], bool(r["static"])
    if not isinstance(entity, str) or not entity.startswith("/"):
        raise UsageError(f"entity must start with '/': {entity!r}")
    time = {}
    for name, t in (r.get("time") or {}).items():
        if t["kind"] not in TIME_KINDS:
            raise UsageError(f"timeline {name!r}: kind must be one of {TIME_KINDS}")
        if not isinstance(t["value"], int):
            raise UsageError(f"timeline {name!r}: value must be an integer")
        time[name] = (t["kind"], t["value"])
    if static and time:
        raise UsageError("a static row cannot have time values")
    comps = {
        name: ExpectedComponent(DType.parse(spec["dtype"]), spec, base_dir)
        for name, spec in (r.get("components") or {}).items()
    }
    return Row(entity, static, time, comps)


# --------------------------------------------------------------------------------------------------
# rows out of the official reader


def _meta(f: pa.Field, key: str) -> str | None:
    v = (f.metadata or {}).get(key.encode())
    return v.decode() if v is not None else None


def rows_from_chunks(chunks: list, problems: list[str]) -> list[Row]:
    """Turn `rerun.chunk.Chunk`s into Rows, via `Chunk.to_record_batch()`.

    Column roles come from the field metadata `rerun:kind` (control / index / data), as in the
    official decoder; a column without it is a component. Timeline kind follows the Arrow type:
    int64 = sequence, timestamp[ns] = timestamp, duration[ns] = duration.
    """
    rows: list[Row] = []
    for chunk in chunks:
        rb = chunk.to_record_batch()
        entity = chunk.entity_path
        row_ids: list[bytes] | None = None
        times: list[tuple[str, str, np.ndarray]] = []
        comps: list[tuple[str, pa.ListArray | pa.Array, np.ndarray | None, np.ndarray]] = []
        for f, col in zip(rb.schema, rb.columns):
            kind = _meta(f, "rerun:kind")
            if kind in ("control", "row_id"):
                row_ids = col.to_pylist()
            elif kind in ("index", "time"):
                name = _meta(f, "rerun:index_name") or f.name
                t = f.type
                if t == pa.int64():
                    tkind = "sequence"
                elif pa.types.is_timestamp(t) and t.unit == "ns":
                    tkind = "timestamp"
                elif pa.types.is_duration(t) and t.unit == "ns":
                    tkind = "duration"
                else:
                    problems.append(f"{entity}: timeline {name!r} has unsupported Arrow type {t}")
                    continue
                if col.null_count:
                    problems.append(f"{entity}: timeline {name!r} has {col.null_count} null value(s)")
                # cast() is metadata-only for timestamp/duration -> int64 (same ns integers).
                times.append((name, tkind, col.cast(pa.int64()).fill_null(0).to_numpy()))
            else:
                name = _meta(f, "rerun:component") or f.name
                offsets = col.offsets.to_numpy() if pa.types.is_list(col.type) else None
                comps.append((name, col, offsets, col.is_valid().to_numpy(zero_copy_only=False)))
        if row_ids is None:
            problems.append(f"{entity}: chunk {chunk.id} has no RowId column")
            row_ids = [b""] * rb.num_rows
        if chunk.is_static != (not times):
            problems.append(f"{entity}: chunk {chunk.id} is_static={chunk.is_static} but has {len(times)} timeline(s)")
        for i in range(rb.num_rows):
            row = Row(entity, not times, {n: (k, int(v[i])) for n, k, v in times}, row_id=row_ids[i])
            for name, col, offsets, valid in comps:
                if valid[i]:
                    row.components[name] = (col, offsets, i)
                    if name == "Points3D:positions" and offsets is not None:
                        row.num_points += int(offsets[i + 1] - offsets[i])
            rows.append(row)
    return rows


def _found_values(dt: DType, col: pa.Array, offsets: np.ndarray | None, i: int) -> tuple[Any, str | None]:
    """Row `i` of a component column as (flat numpy array | list[str], None) or (None, error)."""
    if offsets is None or not dt.matches(col.type):
        return None, f"Arrow type {col.type}, expected {dt.arrow_column_type()} ({dt.name})"
    # `offsets` index into `col.values` (the un-sliced child array); slice() is zero-copy.
    inner = col.values.slice(int(offsets[i]), int(offsets[i + 1] - offsets[i]))
    if inner.null_count:
        return None, f"{inner.null_count} null instance(s) inside the list"
    if dt.np_dtype is None:
        return inner.to_pylist(), None
    flat = inner.flatten() if dt.width > 1 else inner  # flatten() honours the slice offset
    if flat.null_count:
        return None, f"{flat.null_count} null scalar(s) inside the fixed-size lists"
    return flat.to_numpy(zero_copy_only=False), None


# --------------------------------------------------------------------------------------------------
# comparison


def _fmt_scalar(dt: DType, v: Any) -> str:
    if dt.is_float:
        bits = np.array([v], dtype=dt.np_dtype).view(f"<u{dt.np_dtype.itemsize}")[0]
        return f"{float(v)!r} (bits 0x{int(bits):0{2 * dt.np_dtype.itemsize}x})"
    return repr(v.item() if hasattr(v, "item") else v)


def _compare_values(dt: DType, exp: Any, found: Any) -> str | None:
    """None if bit-identical, else a description of the first difference."""
    unit = "points" if dt.width == 3 else "elements"
    if dt.np_dtype is None:
        if exp == found:
            return None
        if len(exp) != len(found):
            return f"length differs: expected {len(exp)} strings, found {len(found)}"
        k = next(k for k, (a, b) in enumerate(zip(exp, found)) if a != b)
        return f"first differing index {k}: expected {exp[k]!r}, found {found[k]!r}"
    if exp.size != found.size:
        return f"length differs: expected {exp.size // dt.width} {unit}, found {found.size // dt.width}"
    # Bit-exact comparison: compare the raw little-endian representations (so NaN, -0.0 etc. count).
    uint = np.dtype(f"<u{dt.np_dtype.itemsize}")
    e_bits = exp.view(uint)
    f_bits = np.ascontiguousarray(found).astype(dt.np_dtype, copy=False).view(uint)
    diff = np.flatnonzero(e_bits != f_bits)
    if diff.size == 0:
        return None
    k = int(diff[0])
    where = f"index {k // dt.width} component {k % dt.width} (flat {k})" if dt.width > 1 else f"index {k}"
    return (
        f"first differing {where} of {diff.size} differing value(s): "
        f"expected {_fmt_scalar(dt, exp[k])}, found {_fmt_scalar(dt, found[k])}"
    )


def compare_row(exp: Row, found: Row, label: str) -> list[str]:
    """Differences between an expected and a found row with the same key."""
    out = []
    for name, (kind, _) in sorted(exp.time.items()):
        fkind = found.time[name][0]
        if fkind != kind:
            out.append(f"{label}: timeline {name!r} is {fkind}, expected {kind}")
    for name in sorted(exp.components.keys() | found.components.keys()):
        if name not in found.components:
            out.append(f"{label}: component {name}: missing (absent or null in the file)")
            continue
        col, offsets, i = found.components[name]
        if name not in exp.components:
            n = int(offsets[i + 1] - offsets[i]) if offsets is not None else "?"
            out.append(f"{label}: component {name}: present in the file ({n} instance(s)) but not expected")
            continue
        ec = exp.components[name]
        values, err = _found_values(ec.dtype, col, offsets, i)
        if err is None:
            err = ec.compare(values)
        if err is not None:
            out.append(f"{label}: component {name}: {err}")
    return out


def _describe_found(row: Row) -> str:
    parts = []
    for name, (col, offsets, i) in sorted(row.components.items()):
        parts.append(f"{name}[{int(offsets[i + 1] - offsets[i]) if offsets is not None else '?'}]")
    return ", ".join(parts) or "no components"


def _match_static_latest(key: tuple, exp: list[Row], found: list[Row]) -> list[str]:
    """Static rows in the eager ChunkStore.

    The 0.41 ChunkStore keeps only the latest static value per (entity, component): a static chunk
    whose every component was overwritten by a later static write is dropped on insertion (a chunk
    with at least one live component is kept whole). So the found rows must be an in-order
    subsequence of the expected rows, and for every component the last expected row carrying it
    must be among them.
    """
    out, matched, j = [], set(), 0
    for f in found:
        j0 = j
        while j < len(exp) and compare_row(exp[j], f, ""):
            j += 1
        if j == len(exp):
            j = j0
            detail = compare_row(exp[j0], f, f"vs expected #{j0}") if j0 < len(exp) else []
            out.append(f"unexpected static row {describe_key(key)} ({_describe_found(f)})"
                       + ("; " + "; ".join(detail[:3]) if detail else ""))
            continue
        matched.add(j)
        j += 1
    latest = {c: k for k, e in enumerate(exp) for c in e.components}  # last row carrying each component
    for k in sorted(set(latest.values()) - matched):
        comps = sorted(c for c, kk in latest.items() if kk == k)
        out.append(f"missing static row {describe_key(key)} #{k} (holds the latest value of {', '.join(comps)})")
    return out


def _timeline_hints(expected: list[Row], found: list[Row]) -> list[str]:
    """One line per entity whose temporal rows use other timelines than expected (explains the
    missing/unexpected row pairs that follow)."""
    names: dict[str, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for i, rows in enumerate((expected, found)):
        for r in rows:
            if not r.static:
                names[r.entity][i].update(r.time)
    return [f"entity {e}: timelines in the file {sorted(f)} differ from the expected {sorted(x)}"
            for e, (x, f) in sorted(names.items()) if x and f and x != f]


def compare_all(expected: list[Row], found: list[Row], *, static_latest_only: bool) -> list[str]:
    """Match rows by key (entity, static, times); within a key, compare in order (found sorted by RowId)."""
    exp_groups: dict[tuple, list[Row]] = defaultdict(list)
    found_groups: dict[tuple, list[Row]] = defaultdict(list)
    for r in expected:
        exp_groups[r.key()].append(r)
    for r in found:
        found_groups[r.key()].append(r)
    problems = _timeline_hints(expected, found)
    for key in sorted(exp_groups.keys() | found_groups.keys()):
        E, F = exp_groups.get(key, []), sorted(found_groups.get(key, []), key=lambda r: r.row_id)
        if static_latest_only and key[1]:
            problems += _match_static_latest(key, E, F)
            continue
        for k in range(min(len(E), len(F))):
            label = f"row {describe_key(key)}" + (f" #{k}" if max(len(E), len(F)) > 1 else "")
            problems += compare_row(E[k], F[k], label)
        for k in range(len(E), len(F)):
            problems.append(f"unexpected row {describe_key(key)} #{k}: in the file but not in the expectation "
                            f"({_describe_found(F[k])})")
        for k in range(len(F), len(E)):
            problems.append(f"missing row {describe_key(key)} #{k}: expected ({', '.join(sorted(E[k].components))}) "
                            "but not found in the file")
    return problems


# --------------------------------------------------------------------------------------------------
# the checks


class Report:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def ok(self, name: str, msg: str) -> None:
        print(f"OK {name}: {msg}" if msg else f"OK {name}", flush=True)

    def fail(self, name: str, problems: list[str]) -> None:
        self.failed.append(name)
        print(f"FAIL {name}: {len(problems)} problem(s)")
        for p in problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  - {p}")
        if len(problems) > MAX_PROBLEMS_SHOWN:
            print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more")
        sys.stdout.flush()


def find_rerun_cli() -> str:
    env = os.environ.get("SPATE_RERUN_BIN")
    # Not resolve(): in a venv, sys.executable is a symlink and `rerun` sits next to the link.
    path = Path(env) if env else Path(sys.executable).parent / "rerun"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise UsageError(f"rerun CLI not found or not executable: {path} (set SPATE_RERUN_BIN)")
    return str(path)


def run_tool(report: Report, name: str, argv: list[str], keep_stdout: bool) -> None:
    try:
        # `print -vvv` output can be huge (it dumps every chunk); we only need the exit status.
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT_S, text=True, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UsageError(f"{' '.join(argv)}: {e}") from None
    out = ((p.stdout or "") + (p.stderr or "")).strip()
    if p.returncode != 0:
        tail = out.splitlines()[-15:]
        report.fail(name, [f"`{' '.join(argv[1:])}` exited with {p.returncode}"] + tail)
    else:
        report.ok(name, out.splitlines()[-1] if out else "exit 0")


def _row_summary(rows: list[Row]) -> str:
    return (f"{len({r.entity for r in rows})} entities, {len(rows)} rows, "
            f"{sum(r.num_points for r in rows)} points")


def check_rows(report: Report, name: str, exp: Expectation, load_chunks: Callable[[], list], *,
               static_latest_only: bool = False, extra: Callable[[list], list[str]] | None = None) -> None:
    """Read chunks with `load_chunks()`, turn them into rows and compare with the expectation.

    `extra(chunks)` may add further problems (the lazy check's manifest cross-check).
    """
    problems: list[str] = []
    try:
        chunks = load_chunks()
        found = rows_from_chunks(chunks, problems)
    except Exception as e:  # the official reader rejecting the file is a finding, not a tool error
        report.fail(name, [f"reader raised {type(e).__name__}: {e}"])
        return
    found = [r for r in found if not (exp.ignore_properties and
                                      (r.entity == PROPERTIES_ENTITY or r.entity.startswith(PROPERTIES_ENTITY + "/")))]
    problems += take_wall_clock_timelines(exp, found)
    for r in found:
        for t in exp.ignore_timelines:
            r.time.pop(t, None)
    problems += compare_all(exp.rows, found, static_latest_only=static_latest_only)
    if extra is not None:
        problems += extra(chunks)
    if problems:
        report.fail(name, problems)
    else:
        report.ok(name, f"{_row_summary(found)} ({len(chunks)} chunks)")


def take_wall_clock_timelines(exp: Expectation, found: list[Row]) -> list[str]:
    """Checks that every temporal row carries each wall-clock timeline (of its kind, within its
    bounds), then leaves those values out of the rows: they are not compared further."""
    problems: list[str] = []
    for name, (kind, lo, hi) in sorted(exp.wall_clock_timelines.items()):
        lacking, wrong_kind, outside = [], [], []
        for r in found:
            if r.static:
                continue
            t = r.time.pop(name, None)
            if t is None:
                lacking.append(r)
            elif t[0] != kind:
                wrong_kind.append((r, t[0]))
            elif not lo <= t[1] <= hi:
                outside.append((r, t[1]))
        if lacking:
            problems.append(f"{len(lacking)} temporal row(s) lack the wall-clock timeline {name!r}, e.g. "
                            f"{describe_key(lacking[0].key())}")
        if wrong_kind:
            r, k = wrong_kind[0]
            problems.append(f"{len(wrong_kind)} row(s) have {name!r} as {k}, expected {kind}, e.g. "
                            f"{describe_key(r.key())}")
        if outside:
            r, v = outside[0]
            problems.append(f"{len(outside)} row(s) have {name!r} outside [{lo}, {hi}], e.g. {v} on "
                            f"{describe_key(r.key())}")
    return problems


_SUMMARY_RE = re.compile(r"^(?P<entity>.+?) rows=(?P<rows>\d+) static=(?P<static>True|False) "
                         r"timelines=(?P<timelines>\[.*?\]) cols=(?P<cols>\[.*\])$")


def manifest_vs_chunks(lazy, chunks: list) -> list[str]:
    """Compare `LazyStore.summary()` (built from the footer manifest alone) with the chunks loaded.

    Per chunk: entity, row count, static flag, timelines, and (temporal chunks only) columns. For
    static chunks the manifest summary lists only the components that are still live (not
    overwritten by a later static write), so their columns are not compared.
    """
    manifest, problems = Counter(), []
    for line in lazy.summary().splitlines():
        m = _SUMMARY_RE.match(line.strip())
        if not m:
            problems.append(f"cannot parse LazyStore.summary() line: {line!r}")
            continue
        static = m["static"] == "True"
        cols = () if static else tuple(sorted(ast.literal_eval(m["cols"])))
        manifest[(m["entity"], int(m["rows"]), static, tuple(sorted(ast.literal_eval(m["timelines"]))), cols)] += 1
    loaded = Counter()
    for c in chunks:
        names = c.to_record_batch().schema.names[1:]  # [0] is the RowId
        cols = () if c.is_static else tuple(sorted(names))
        loaded[(c.entity_path, c.num_rows, c.is_static, tuple(sorted(c.timeline_names)), cols)] += 1
    if len(lazy) != len(chunks):
        problems.append(f"manifest lists {len(lazy)} chunks, LazyStore.stream() yielded {len(chunks)}")
    for k in sorted((manifest - loaded).keys()):
        problems.append(f"manifest entry without matching chunk: {k}")
    for k in sorted((loaded - manifest).keys()):
        problems.append(f"loaded chunk without matching manifest entry: {k}")
    return problems


def check_recordings(report: Report, exp: Expectation, reader) -> None:
    try:
        recs, bps = reader.recordings(), reader.blueprints()
    except Exception as e:
        report.fail("recordings", [f"reader raised {type(e).__name__}: {e}"])
        return
    problems = []
    if len(recs) != 1:
        problems.append(f"expected exactly 1 recording, found {len(recs)}: {recs}")
    if bps:
        problems.append(f"unexpected blueprint store(s): {bps}")
    if recs:
        r = recs[0]
        if exp.application_id is not None and r.application_id != exp.application_id:
            problems.append(f"application_id: expected {exp.application_id!r}, found {r.application_id!r}")
        if exp.recording_id is not None and r.recording_id != exp.recording_id:
            problems.append(f"recording_id: expected {exp.recording_id!r}, found {r.recording_id!r}")
    if problems:
        report.fail("recordings", problems)
    else:
        report.ok("recordings", f"application_id={recs[0].application_id!r} recording_id={recs[0].recording_id!r}")


def run(rrd: Path, expect_path: Path, no_footer: bool) -> int:
    exp = Expectation.load(expect_path)
    if not rrd.is_file():
        raise UsageError(f"no such file: {rrd}")
    cli = find_rerun_cli()
    try:
        from rerun.chunk import RrdReader
    except ImportError as e:
        raise UsageError(f"cannot import rerun.chunk.RrdReader ({e}); run with the venv's python") from None

    report = Report()
    verify = [cli, "rrd", "verify"] + (["--check-footers", "false"] if no_footer else []) + [str(rrd)]
    run_tool(report, "verify", verify, keep_stdout=True)
    run_tool(report, "print", [cli, "rrd", "print", "-vvv", str(rrd)], keep_stdout=False)

    with warnings.catch_warnings():
        if no_footer:  # expected for footer-less files; everything else still shows
            warnings.filterwarnings("ignore", message=".*no footer.*")
        try:
            reader = RrdReader(rrd)
        except Exception as e:
            report.fail("open", [f"RrdReader raised {type(e).__name__}: {e}"])
            reader = None
        if reader is not None:
            check_recordings(report, exp, reader)
            check_rows(report, "stream", exp, lambda: list(reader.stream()))
            check_rows(report, "eager", exp, lambda: reader.stream().collect().stream().to_chunks(),
                       static_latest_only=True)
            if no_footer:
                print("SKIP lazy (--no-footer)")
            else:
                lazy_store = []  # set by load_lazy(), read by the manifest cross-check

                def load_lazy() -> list:
                    lazy_store.append(reader.store())  # reads the footer manifest only
                    return list(lazy_store[0].stream())  # loads each chunk via its manifest offsets

                check_rows(report, "lazy", exp, load_lazy,
                           extra=lambda chunks: manifest_vs_chunks(lazy_store[0], chunks))

    if report.failed:
        print(f"FAILED: {', '.join(report.failed)}")
        return EXIT_MISMATCH
    print("ALL OK")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rrd", type=Path, help="the .rrd file to check")
    ap.add_argument("expect", type=Path, help="EXPECT.json")
    ap.add_argument("--no-footer", action="store_true",
                    help="file has no footer: verify with --check-footers false, skip the lazy (manifest) reader")
    args = ap.parse_args(argv)  # exits 2 on usage errors
    try:
        return run(args.rrd, args.expect, args.no_footer)
    except UsageError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
