#!/usr/bin/env python3
"""Compare two .rrd files as logical tables, using only the official Rerun 0.41 tools.

usage: .venv-rerun/bin/python tests/interop/compare_rrd.py SDK.rrd SPATE.rrd
           [--ignore-value COMPONENT ...] [--no-footer PATH ...]

SDK.rrd is the reference (tests/interop/sdk_reference.py), SPATE.rrd the file under test; the
output calls them `sdk` and `spate`. Both are read with `RrdReader(FILE).stream()` (the first
recording, each chunk decoded in file order) and compared per entity path as logical tables,
regardless of chunk boundaries, chunk order and row order:

  verify       `rerun rrd verify FILE` must pass for both (`--check-footers false` for a PATH given to
               --no-footer: a file saved by `rerun --save` that was stopped by a signal has none).
  recordings   `RrdReader(FILE).recordings()` / `.blueprints()`: same kinds, application ids and
               recording ids.
  entities     the same set of entity paths.
  index        per entity, the same index columns (timelines) with the same Arrow type and
               nullability; `log_time` is left out (but see `log_time` below).
  columns      per entity, the same component columns (field name), with the same field metadata
               `rerun:archetype`, `rerun:component` and `rerun:component_type` (absent must match
               absent), the same Arrow type (`str(field.type)` and the nullability of the column and
               of every nested field) in every chunk.
  static       per entity and component, the static rows: the latest value (by RowId, as Rerun
               resolves static data) and the set of distinct values ever written must be equal.
  temporal     rows are matched by their index values (every timeline but `log_time`); per index
               key and component, the set of distinct non-null values must be equal. So a row split
               over several chunks, or a row written twice, is the same logical row, and a null list
               equals a missing column. Values are compared exactly (`to_pylist()`; floats by
               `repr`, so -0.0 differs from 0.0 and NaN equals NaN).
  log_time     per entity and index key, whether its rows carry `log_time` must agree (the SDK writes
               it on every row it logs, but not on rows sent with `send_columns`); its values are
               ignored.

Ignored: RowIds, chunk ids, chunk order and boundaries, `log_time` values, the store source and
everything else in SetStoreInfo but the ids, and the value of `RecordingInfo:start_time` on
`/__properties` (a wall-clock time; its column is still compared). `--ignore-value COMPONENT`
(repeatable) ignores the values, but not the column, of COMPONENT (a column name such as
`Image:buffer`) on every entity.

Output: one line per check (`OK ...` / `FAIL ...`), and for each difference the entity, the
component, the index key and both values (truncated), e.g.
    - /cam/rgb Image:buffer @ frame=1: values differ at [0][0]: sdk 1 vs spate 2
Exit status: 0 equal, 1 a difference (or an official tool rejected a file), 2 usage or tool error.

The `rerun` CLI is taken from $SPATE_RERUN_BIN, else from the directory of sys.executable (the venv).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

EXIT_OK, EXIT_DIFF, EXIT_USAGE = 0, 1, 2
MAX_SHOWN = 25  # differences printed per check; the total is always printed
VALUE_CHARS = 160  # values are truncated to this many characters in messages
TOOL_TIMEOUT_S = 600

PROPERTIES_ENTITY = "/__properties"
LOG_TIME = "log_time"
WALL_CLOCK = {(PROPERTIES_ENTITY, "RecordingInfo:start_time")}
META_KEYS = ("rerun:archetype", "rerun:component", "rerun:component_type")


class UsageError(Exception):
    """Bad arguments, a missing file or a broken tool installation: exit 2."""


# --------------------------------------------------------------------------------------------------
# values


def canon(v: Any) -> Any:
    """A hashable, exact form of a `to_pylist()` value (floats by repr, so -0.0 != 0.0, nan == nan)."""
    if isinstance(v, float):
        return ("f", repr(v))
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return ("i", v)
    if isinstance(v, (list, tuple)):
        return ("l", tuple(canon(x) for x in v))
    if isinstance(v, dict):
        return ("d", tuple((k, canon(x)) for k, x in v.items()))
    if isinstance(v, (str, bytes)):
        return v
    if hasattr(v, "value") and hasattr(v, "nanosecond"):  # pandas Timestamp/Timedelta: exact ns
        return ("ns", type(v).__name__, int(v.value))
    return ("r", type(v).__name__, repr(v))


def short(v: Any, limit: int = VALUE_CHARS) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two `to_pylist()` values first differ (`[i]`/`.field` path and both leaves), or None."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path or 'value'} has {len(a)} vs {len(b)} elements"
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}")
            if d:
                return d
        return None
    if canon(a) != canon(b):
        return f"at {path or 'value'}: sdk {short(a, 60)} vs spate {short(b, 60)}"
    return None


def type_desc(t: pa.DataType) -> str:
    """The Arrow type with every nested field's name and nullability spelled out."""
    if pa.types.is_list(t):
        return f"list<{field_desc(t.value_field)}>"
    if pa.types.is_large_list(t):
        return f"large_list<{field_desc(t.value_field)}>"
    if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return f"{t.__class__.__name__}<{field_desc(t.value_field)}>"
    if pa.types.is_fixed_size_list(t):
        return f"fixed_size_list<{field_desc(t.value_field)}>[{t.list_size}]"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(field_desc(t.field(i)) for i in range(t.num_fields)) + ">"
    if pa.types.is_map(t):
        return f"map<{field_desc(t.key_field)}, {field_desc(t.item_field)}>"
    if pa.types.is_union(t):
        return f"union[{t.mode}]<" + ", ".join(field_desc(t.field(i)) for i in range(t.num_fields)) + ">"
    if pa.types.is_dictionary(t):
        return f"dictionary<{type_desc(t.index_type)}, {type_desc(t.value_type)}>"
    return str(t)


def field_desc(f: pa.Field) -> str:
    return f"{f.name}: {type_desc(f.type)}{'' if f.nullable else ' not null'}"


def column_type(f: pa.Field) -> tuple[str, str, bool]:
    """What must agree about a column's type: `str(type)`, the nested description, nullability."""
    return (str(f.type), type_desc(f.type), f.nullable)


def show_type(ts: set) -> str:
    return " | ".join(sorted(f"{d}{'' if n else ' (column not null)'}" for _, d, n in ts))


# --------------------------------------------------------------------------------------------------
# one file as logical tables


Key = tuple  # ((timeline, int value), ...) sorted by timeline, log_time excluded


@dataclass
class Entity:
    index_types: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    # component column name -> set of descriptor tuples / set of column types
    descriptors: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    types: dict[str, set] = field(default_factory=lambda: defaultdict(set))
    # component column name -> number of non-null cells (0: the column is there, but all null)
    non_null: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # static: component -> [(row id, canon, value)]
    static: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    # temporal: key -> component -> {canon: value}
    temporal: dict[Key, dict[str, dict]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(dict)))
    # temporal: key -> set of bools (row has log_time)
    log_time: dict[Key, set] = field(default_factory=lambda: defaultdict(set))
    chunks: int = 0
    static_rows: int = 0
    temporal_rows: int = 0


@dataclass
class Loaded:
    path: Path
    stores: list[tuple[str, str, str]]
    entities: dict[str, Entity]
    chunks: int


def meta(f: pa.Field) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}


def index_values(f: pa.Field, col: pa.Array) -> list[int | None]:
    t = f.type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_date(t) or pa.types.is_time(t):
        col = col.cast(pa.int64())
    return col.to_pylist()


def load(path: Path) -> Loaded:
    from rerun.chunk import RrdReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # footer-less files: "legacy format" warnings
        reader = RrdReader(path)
        stores = [(s.kind, s.application_id, s.recording_id) for s in reader.recordings() + reader.blueprints()]
        chunks = list(reader.stream()) if reader.recordings() else []
    entities: dict[str, Entity] = defaultdict(Entity)
    for chunk in chunks:
        e = entities[chunk.entity_path]
        e.chunks += 1
        rb = chunk.to_record_batch()
        n = rb.num_rows
        row_ids: list = [None] * n
        index: list[tuple[str, list]] = []
        has_log_time = [False] * n
        components: list[tuple[str, list]] = []
        for f, col in zip(rb.schema, rb.columns):
            m = meta(f)
            kind = m.get("rerun:kind")
            if kind == "control":
                if f.name == "rerun.controls.RowId":
                    row_ids = col.to_pylist()
                continue
            if kind in ("index", "time"):
                name = m.get("rerun:index_name", f.name)
                values = index_values(f, col)
                if name == LOG_TIME:
                    has_log_time = [v is not None for v in values]
                    continue
                e.index_types[name].add((str(f.type), f.nullable))
                index.append((name, values))
                continue
            e.descriptors[f.name].add(tuple(m.get(k) for k in META_KEYS))
            e.types[f.name].add(column_type(f))
            e.non_null[f.name] += len(col) - col.null_count
            components.append((f.name, col.to_pylist()))
        if chunk.is_static:
            e.static_rows += n
            for name, values in components:
                for i, v in enumerate(values):
                    if v is not None:
                        e.static[name].append((row_ids[i], canon(v), v))
            continue
        e.temporal_rows += n
        for i in range(n):
            key = tuple(sorted((name, vals[i]) for name, vals in index if vals[i] is not None))
            e.log_time[key].add(has_log_time[i])
            row = e.temporal[key]
            for name, values in components:
                if values[i] is not None:
                    row[name][canon(values[i])] = values[i]
    return Loaded(path, stores, dict(entities), len(chunks))


# --------------------------------------------------------------------------------------------------
# comparison


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, problems: list[str], ok_text: str = "") -> None:
        if not problems:
            print(f"OK   {name}{': ' + ok_text if ok_text else ''}")
            return
        self.failed += len(problems)
        print(f"FAIL {name}: {len(problems)} difference(s)")
        for p in problems[:MAX_SHOWN]:
            print(f"  - {p}")
        if len(problems) > MAX_SHOWN:
            print(f"  ... and {len(problems) - MAX_SHOWN} more")
        sys.stdout.flush()


def key_text(key: Key) -> str:
    return ", ".join(f"{t}={v}" for t, v in key) or "(no index)"


def compare_values(where: str, a: dict, b: dict) -> list[str]:
    """`a`, `b`: {canon: value} for one cell; [] if equal."""
    if a.keys() == b.keys():
        return []
    if len(a) == 1 and len(b) == 1:
        (va,), (vb,) = a.values(), b.values()
        d = first_difference(va, vb)
        return [f"{where}: values differ {d}" + f"\n      sdk:   {short(va)}\n      spate: {short(vb)}"]
    if not a or not b:
        side, vals = ("spate", b) if not a else ("sdk", a)
        return [f"{where}: only in {side}: {short(list(vals.values()))}"]
    only_a = [v for k, v in a.items() if k not in b]
    only_b = [v for k, v in b.items() if k not in a]
    return [f"{where}: different values\n      only in sdk:   {short(only_a)}\n      only in spate: {short(only_b)}"]


def compare(sdk: Loaded, spate: Loaded, ignore_values: set[str], report: Report) -> None:
    report.check("recordings", [] if sdk.stores == spate.stores else
                 [f"sdk {sdk.stores} vs spate {spate.stores}"],
                 ", ".join(f"{k} {a!r}/{r!r}" for k, a, r in sdk.stores))

    names_a, names_b = set(sdk.entities), set(spate.entities)
    problems = []
    if names_a - names_b:
        problems.append(f"only in sdk: {sorted(names_a - names_b)}")
    if names_b - names_a:
        problems.append(f"only in spate: {sorted(names_b - names_a)}")
    report.check("entities", problems, f"{len(names_a)} ({', '.join(sorted(names_a))})")

    for name in sorted(names_a & names_b):
        a, b = sdk.entities[name], spate.entities[name]
        problems = []

        # index columns
        for t in sorted(set(a.index_types) | set(b.index_types)):
            ta, tb = a.index_types.get(t), b.index_types.get(t)
            if ta is None or tb is None:
                side = "sdk" if tb is None else "spate"
                problems.append(f"index {t}: only in {side} ({sorted(ta or tb)})")
            elif ta != tb:
                problems.append(f"index {t}: Arrow type sdk {sorted(ta)} vs spate {sorted(tb)}")

        # component columns: descriptor and type
        for c in sorted(set(a.descriptors) | set(b.descriptors)):
            if c not in a.descriptors or c not in b.descriptors:
                side, e = ("sdk", a) if c not in b.descriptors else ("spate", b)
                empty = ", every value null" if e.non_null[c] == 0 else ""
                problems.append(f"component {c}: column only in {side} (descriptor "
                                f"{sorted(e.descriptors[c], key=str)}, type {show_type(e.types[c])}{empty})")
                continue
            if a.descriptors[c] != b.descriptors[c]:
                fmt = lambda ds: "; ".join(", ".join(f"{k}={v}" for k, v in zip(META_KEYS, d)) for d in sorted(ds, key=str))
                problems.append(f"component {c}: descriptor sdk [{fmt(a.descriptors[c])}] vs spate [{fmt(b.descriptors[c])}]")
            if a.types[c] != b.types[c]:
                problems.append(f"component {c}: Arrow type sdk {show_type(a.types[c])} vs spate {show_type(b.types[c])}")

        # static rows
        for c in sorted(set(a.static) | set(b.static)):
            if (name, c) in WALL_CLOCK or c in ignore_values:
                continue
            sa, sb = a.static.get(c, []), b.static.get(c, [])
            where = f"{c} (static)"
            if not sa or not sb:
                side, rows = ("sdk", sa) if sa else ("spate", sb)
                problems.append(f"{where}: only in {side}: {short([v for _, _, v in rows])}")
                continue
            latest_a = max(sa, key=lambda r: r[0] or b"")
            latest_b = max(sb, key=lambda r: r[0] or b"")
            if latest_a[1] != latest_b[1]:
                problems += compare_values(f"{where} latest", {latest_a[1]: latest_a[2]}, {latest_b[1]: latest_b[2]})
            else:
                problems += compare_values(f"{where} all written", {k: v for _, k, v in sa}, {k: v for _, k, v in sb})

        # temporal rows
        for key in sorted(set(a.temporal) | set(b.temporal)):
            ra, rb_ = a.temporal.get(key, {}), b.temporal.get(key, {})
            for c in sorted(set(ra) | set(rb_)):
                if c in ignore_values:
                    continue
                problems += compare_values(f"{c} @ {key_text(key)}", ra.get(c, {}), rb_.get(c, {}))

        # log_time presence
        lt_diff = [k for k in set(a.log_time) & set(b.log_time) if a.log_time[k] != b.log_time[k]]
        if lt_diff:
            k = min(lt_diff)
            word = lambda s: "with" if s == {True} else "without" if s == {False} else "with and without"
            problems.append(f"log_time: {len(lt_diff)} index key(s) have rows {word(a.log_time[k])} log_time in sdk "
                            f"but {word(b.log_time[k])} in spate, e.g. @ {key_text(k)}")

        summary = (f"{len(a.temporal)} index keys, {a.static_rows} static row(s), {len(a.descriptors)} component(s); "
                   f"chunks sdk {a.chunks} / spate {b.chunks}")
        report.check(name, [f"{name} {p}" for p in problems], summary)


# --------------------------------------------------------------------------------------------------
# tools


def find_rerun_cli() -> str:
    env = os.environ.get("SPATE_RERUN_BIN")
    # Not resolve(): in a venv, sys.executable is a symlink and `rerun` sits next to the link.
    path = Path(env) if env else Path(sys.executable).parent / "rerun"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise UsageError(f"rerun CLI not found or not executable: {path} (set SPATE_RERUN_BIN)")
    return str(path)


def verify(report: Report, rerun_cli: str, label: str, path: Path, no_footer: bool) -> None:
    argv = [rerun_cli, "rrd", "verify", *(["--check-footers", "false"] if no_footer else []), str(path)]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=TOOL_TIMEOUT_S,
                           text=True, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UsageError(f"{' '.join(argv)}: {e}") from None
    out = (p.stdout + p.stderr).strip()
    name = f"verify {label}{' (--check-footers false)' if no_footer else ''}"
    if p.returncode != 0:
        report.check(name, [f"`rerun {' '.join(argv[1:])}` exited with {p.returncode}"] + out.splitlines()[-15:])
    else:
        report.check(name, [], out.splitlines()[-1] if out else "exit 0")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sdk", type=Path)
    ap.add_argument("spate", type=Path)
    ap.add_argument("--ignore-value", action="append", default=[], metavar="COMPONENT",
                    help="compare COMPONENT's column but not its values (repeatable)")
    ap.add_argument("--no-footer", action="append", default=[], metavar="PATH", type=Path,
                    help="PATH has no footer (a receiver stopped by a signal): verify it with --check-footers false")
    try:
        args = ap.parse_args()
    except SystemExit as e:
        return EXIT_OK if e.code == 0 else EXIT_USAGE
    try:
        for p in (args.sdk, args.spate):
            if not p.is_file():
                raise UsageError(f"no such file: {p}")
        rerun_cli = find_rerun_cli()
        try:
            from rerun.chunk import RrdReader  # noqa: F401
        except ImportError as e:
            raise UsageError(f"cannot import rerun.chunk ({e}); run with the venv's python") from None
        no_footer = {p.resolve() for p in args.no_footer}
        print(f"compare_rrd: sdk {args.sdk}\n             spate {args.spate}")
        report = Report()
        verify(report, rerun_cli, "sdk", args.sdk, args.sdk.resolve() in no_footer)
        verify(report, rerun_cli, "spate", args.spate, args.spate.resolve() in no_footer)
        loaded = []
        for label, p in (("sdk", args.sdk), ("spate", args.spate)):
            try:
                loaded.append(load(p))
            except Exception as e:  # the official reader rejecting a file is a finding
                report.check(f"read {label}", [f"RrdReader({str(p)!r}).stream() raised {type(e).__name__}: {e}"])
        if len(loaded) == 2:
            compare(loaded[0], loaded[1], set(args.ignore_value), report)
        if args.ignore_value:
            print(f"NOTE values not compared: {', '.join(args.ignore_value)}")
    except UsageError as e:
        print(f"compare_rrd: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if report.failed:
        print(f"RESULT: {report.failed} difference(s)")
        return EXIT_DIFF
    print("RESULT: equal")
    return EXIT_OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # a crash of this script is a tool error, not a difference
        import traceback

        traceback.print_exc()
        sys.exit(EXIT_USAGE)
