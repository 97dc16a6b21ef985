#!/usr/bin/env python3
"""spate's Python package against the official Python SDK, side by side in one run.

Run through `perf/python.sh` (it builds and installs both sides first); see it for the
options. This file has two modes:

* `perf/python.py --runs RUNS ...`: the rounds. Every selected workload of
  perf/scenarios/*.toml (clouds of 100k and 1M points, one-point rows; file, gRPC to the
  official `rerun --serve-grpc` server, or both as a tee) runs three ways in every round:
    spate-py    perf/official_sdk.py --sdk spate     (`import spate as rr`)
    official    perf/official_sdk.py                 (`import rerun as rr`, rerun-sdk 0.41.0)
    spate-rust  `spate check --scenario` (perf/run.py's spate side, for reference)
  The same script drives both Python sides, so they make the same calls with the same
  arrays. The workloads' order is shuffled every round and the three variants of a workload
  run back to back in a shuffled order, so a ratio compares runs seconds apart (these VMs
  have fast and slow spells). Each round also measures the raw limits perf/run.py uses (file
  write, tonic loopback) when clouds are selected. Every run that writes a file starts from
  the same page-cache state (perf/run.py's `hot_page_cache`).
  Checks: a spate-py run counts only if every sink delivered every row logged (the engine's
  counters after `disconnect()`, see official_sdk.py); a spate-rust run only if nothing was
  dropped. In the first `--verify-rounds` rounds the files of both Python sides are kept and
  checked with the official tools (`rerun rrd verify`, and `rerun.chunk.RrdReader` must read
  exactly the rows logged); a run whose file fails does not count.
  One JSON line per run is appended to RUNS.
* `perf/python.py --report RUNS --out FILE`: the Markdown report from RUNS and the machine
  context perf/python.sh exports (perf/lib.sh's `machine_context`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics as st
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as perf_run  # noqa: E402  perf/run.py: the official server, raw limits, spate check

ROOT = perf_run.ROOT
SPATE_PY = Path(os.environ.get("SPATE_PY_VENV", ROOT / ".venv-spate-py")) / "bin" / "python"
OFFICIAL_PY = perf_run.PY
SCRIPT = ROOT / "perf" / "official_sdk.py"

# The workloads: 100k and 1M clouds x {file, grpc, tee}, one-point rows to file and gRPC.
DEFAULT = [
    f"{sink}-{size}-{p}p" for size in ("100k", "1M") for sink in ("file", "grpc", "tee")
    for p in (1, 2)
] + [f"{sink}-rows-{p}p" for sink in ("file", "grpc") for p in (1, 2)]
QUICK = ["file-100k-1p", "grpc-100k-1p", "tee-1M-1p", "file-rows-1p", "grpc-rows-1p"]
VARIANTS = ("spate-py", "official", "spate-rust")
TARGET = {"clouds": 5.0, "rows": 20.0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def python_run(who: str, w: perf_run.Workload, workdir: Path, url: str, duration: float) -> dict:
    py, tag = (SPATE_PY, "spate") if who == "spate-py" else (OFFICIAL_PY, "official")
    cmd = [str(py), str(SCRIPT), "--sdk", tag, "--points", str(w.points),
           "--producers", str(w.producers), "--duration", str(duration)]
    for s in w.concrete_sinks(workdir, who, url):
        cmd += ["--sink", s]
    return perf_run.run_json(cmd, timeout=duration * 20 + 120)


def wait_idle(server: perf_run.OfficialServer, limit: float = 15.0) -> float:
    """Waits (bounded) until the official server has digested what an earlier run sent it:
    under 5 % of a core over 0.25 s. A server still ingesting would take a core from the
    next run on a 2-core machine. Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = server.cpu_seconds()
        time.sleep(0.25)
        if server.cpu_seconds() - c0 < 0.0125:
            break
    return time.monotonic() - t0


def check_file(path: Path, rows: int) -> dict:
    """The official tools' verdict on an .rrd file: `rerun rrd verify`, and the temporal rows
    `rerun.chunk.RrdReader` reads (must be `rows`)."""
    t0 = time.monotonic()
    rerun = OFFICIAL_PY.parent / "rerun"
    p = subprocess.run([str(rerun), "rrd", "verify", str(path)], capture_output=True, text=True,
                       timeout=600)
    verify = "ok" if p.returncode == 0 else (p.stdout + p.stderr).strip()[-300:]
    code = r"""
import json, sys, warnings
from rerun.chunk import RrdReader
rows = 0
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for c in RrdReader(sys.argv[1]).stream():
        if not c.is_static:
            rows += c.num_rows
print(json.dumps({"rows_read": rows}))
"""
    out = {"verify": verify, "file_bytes": path.stat().st_size}
    p = subprocess.run([str(OFFICIAL_PY), "-c", code, str(path)], capture_output=True, text=True,
                       timeout=600)
    try:
        out.update(json.loads(p.stdout.strip().splitlines()[-1]))
    except (json.JSONDecodeError, IndexError):
        out["read_error"] = p.stderr.strip()[-300:]
    out["rows_expected"] = rows
    out["ok"] = out["verify"] == "ok" and out.get("rows_read") == rows
    out["check_seconds"] = round(time.monotonic() - t0, 2)
    return out


def rounds(args: argparse.Namespace) -> int:
    names = args.workloads.split(",") if args.workloads else (QUICK if args.quick else DEFAULT)
    names = [n for n in names if args.only in n]
    workloads = []
    for n in names:
        path = ROOT / "perf" / "scenarios" / f"{n}.toml"
        if not path.exists():
            log(f"no scenario {path}")
            return 2
        workloads.append(perf_run.Workload(path))
    if not workloads:
        log("no workloads selected")
        return 2
    clouds = any(not w.rows for w in workloads)
    raw_bytes = "200MB" if args.quick else "1GB"
    runs = open(args.runs, "a")

    def record(entry: dict) -> None:
        entry["load1"] = float(Path("/proc/loadavg").read_text().split()[0])
        runs.write(json.dumps(entry, separators=(",", ":")) + "\n")
        runs.flush()

    workdir = Path(tempfile.mkdtemp(prefix="spate-perf-python-"))
    server = perf_run.OfficialServer(workdir)
    started = time.monotonic()
    try:
        server.start()
        # Warm-up (untimed): the server, the page cache, both interpreters' imports.
        w0 = workloads[0]
        for who in ("spate-py", "official"):
            python_run(who, w0, workdir, server.url, 0.2)
        perf_run.cleanup_files(workdir)
        for rnd in range(1, args.rounds + 1):
            log(f"== round {rnd} of {args.rounds} ({time.monotonic() - started:.0f} s)")
            if clouds:
                for name, fn in (("file", lambda: perf_run.raw_file(workdir, raw_bytes)),
                                 ("grpc", lambda: perf_run.raw_grpc(raw_bytes))):
                    r = fn()
                    record({"round": rnd, "workload": f"raw-{name}", "variant": "raw",
                            "result": r})
                    log(f"  raw {name:<6} {r['mb_per_s']:9,.0f} MB/s")
            order = list(workloads)
            random.shuffle(order)
            for w in order:
                variants = list(VARIANTS)
                random.shuffle(variants)
                for who in variants:
                    if server.rss_mib() > 1024:
                        server.start()
                    if w.kind in ("file", "tee"):
                        perf_run.hot_page_cache(workdir, perf_run.SCRATCH)
                    entry = {"round": rnd, "workload": w.name, "variant": who,
                             "server_idle_wait_s": round(wait_idle(server), 2)}
                    try:
                        if who == "spate-rust":
                            r = perf_run.spate_run(w, workdir, server.url, args.duration)
                        else:
                            r = python_run(who, w, workdir, server.url, args.duration)
                    except (RuntimeError, subprocess.TimeoutExpired, KeyError) as e:
                        entry["error"] = str(e)[-400:]
                        record(entry)
                        log(f"  {w.name:<14} {who:<10} FAILED: {str(e)[-200:]}")
                        perf_run.cleanup_files(workdir)
                        if server.proc is None or server.proc.poll() is not None:
                            server.start()
                        continue
                    entry["result"] = r
                    verdict = ""
                    if who == "spate-py":
                        verdict = "delivered" if r["check"]["ok"] else (
                            f"NOT DELIVERED: {r.get('flush_error') or r['check']}"[:300])
                    if who == "spate-rust":
                        verdict = "no drops" if r["drops"] == 0 else f"{r['drops']} DROPS"
                    if (who != "spate-rust" and w.kind in ("file", "tee")
                            and rnd <= args.verify_rounds and "flush_error" not in r):
                        rrd = workdir / f"{who}.rrd"
                        entry["file_check"] = check_file(rrd, r["calls"])
                        fc = entry["file_check"]
                        verdict += (", " if verdict else "") + (
                            f"file ok ({fc['rows_read']:,} rows, {fc['check_seconds']} s)"
                            if fc["ok"] else f"FILE CHECK FAILED {fc}")
                    perf_run.cleanup_files(workdir)
                    record(entry)
                    rate = (f"{r['calls_per_s']:11,.0f} calls/s" if w.rows
                            else f"{r['mb_per_s']:9,.0f} MB/s")
                    log(f"  {w.name:<14} {who:<10} {rate}   {verdict}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        runs.close()
    return 0


# ---------------------------------------------------------------- report


def counts(e: dict) -> bool:
    """Whether a run's number counts: it finished and every check it had passed."""
    if "result" not in e:
        return False
    r = e["result"]
    if e["variant"] == "spate-py" and not r.get("check", {}).get("ok"):
        return False
    if e["variant"] == "spate-rust" and r.get("drops", 0) != 0:
        return False
    return e.get("file_check", {}).get("ok", True)


def fmt(x: float | None, digits: int = 0) -> str:
    return "—" if x is None or x != x else f"{x:,.{digits}f}"


def summary(xs: list[float], digits: int = 0, suffix: str = "") -> str:
    if not xs:
        return "—"
    return (f"{fmt(st.median(xs), digits)}{suffix} "
            f"({fmt(min(xs), digits)}–{fmt(max(xs), digits)}{suffix})")


def report(args: argparse.Namespace) -> int:
    E = os.environ
    sys.path.insert(0, str(ROOT / "perf"))
    from report import finish

    runs = [json.loads(line) for line in open(args.report) if line.strip()]
    good = [e for e in runs if counts(e)]
    by = {}  # (workload, variant) -> {round: result}
    for e in good:
        by.setdefault((e["workload"], e["variant"]), {})[e["round"]] = e["result"]
    names = []
    for e in runs:
        if e["variant"] != "raw" and e["workload"] not in names:
            names.append(e["workload"])
    # The order (clouds by size and sink, then rows), not the shuffled one.
    order = DEFAULT + QUICK
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    specs = {n: perf_run.Workload(ROOT / "perf" / "scenarios" / f"{n}.toml") for n in names}
    raw = {k: by.get((f"raw-{k}", "raw"), {}) for k in ("file", "grpc")}

    lines: list[str] = []
    P = lines.append
    rounds_seen = sorted({e["round"] for e in runs})
    P("# spate's Python package vs the official Python SDK, side by side")
    P("")
    P(f"- when: {E.get('WHEN', '?')} ({'quick' if E.get('QUICK') == '1' else 'full'} mode, "
      f"{len(rounds_seen)} rounds, {E.get('DURATION', '?')} s of logging per run, "
      f"wall time {E.get('elapsed', '?')} s)")
    P(f"- machine: {E.get('host', '?')}, {E.get('NPROC', '?')} cores ({E.get('cpu', '?')}), "
      f"{E.get('mem', '?')} RAM; kernel {E.get('KERNEL', '?')}")
    P(f"- commit: {E.get('commit', '?')}; {E.get('rustc_v', '?')}; spate package "
      f"{E.get('SPATE_PY_VERSION', '?')} (maturin develop -r, release); official: "
      f"{E.get('sdk', '?')} (Python {E.get('PY_VERSION', '?')}), server `rerun --serve-grpc` "
      "(real binary, --server-memory-limit 256MiB)")
    loads = [e["load1"] for e in runs if "load1" in e]
    P(f"- load average (1/5/15 min) at start {E.get('load_start', '?')}, at end "
      f"{E.get('load_end', '?')}; 1-min load seen by the runs "
      f"{min(loads, default=0):.2f}–{max(loads, default=0):.2f}")
    P("")
    P("One script, `perf/official_sdk.py`, drives both Python sides (`--sdk spate`: `import "
      "spate as rr`; `--sdk official`: `import rerun as rr`): a `RecordingStream` with the "
      "workload's sinks, K producer threads each looping `set_time(\"frame\", sequence=f)` + "
      "`log(\"lidar/<k>\", Points3D(positions, colors=, radii=))` over the same prebuilt arrays "
      "(positions float32 (n,3), colors uint32, radii float32: 20 B/point; one-point rows: n = 1) "
      "for the run's duration, then `flush()` + `disconnect()` inside the timing. Clouds are "
      "compared in payload MB/s (10^6 B), rows in calls/s. spate-rust is `spate check "
      "--scenario` on the same scenario (perf/run.py's spate side, its own delivery clock). "
      "Ratios are paired within a round (the three variants of a workload run back to back); "
      "median and min–max over rounds. Raw limit: perf/run.py's (file → sequential file write, "
      "gRPC → bare tonic loopback, tee → the smaller).")
    P("")
    P("Checks: a spate-py run counts only if every sink delivered every row logged "
      "(`stats()` after `disconnect()`: rows logged = calls, each sink's rows = calls, nothing "
      "dropped); spate-rust only with no drops. Files of both Python sides in the first "
      f"{E.get('VERIFY_ROUNDS', '1')} round(s) were checked with `rerun rrd verify` and "
      "`rerun.chunk.RrdReader` (rows read = calls); a failed check removes the run.")
    P("")
    P("| workload | sinks | prod. | unit | spate-py (min–max) | official SDK (min–max) | "
      "spate-py ÷ SDK (min–max) | target | spate-rust (min–max) | spate-py ÷ spate-rust | "
      "raw limit | spate-py ÷ raw |")
    P("|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    verdicts = []
    for n in names:
        w = specs[n]
        metric = "calls_per_s" if w.rows else "mb_per_s"
        sp, sd, rs = (by.get((n, v), {}) for v in VARIANTS)
        ratio = [sp[r][metric] / sd[r][metric] for r in sp if r in sd and sd[r][metric] > 0]
        vs_rust = [sp[r][metric] / rs[r][metric] for r in sp if r in rs and rs[r][metric] > 0]
        lims, vs_raw = [], []
        if not w.rows:
            for r in sp:
                parts = {"file": ["file"], "grpc": ["grpc"], "tee": ["file", "grpc"]}[w.kind]
                if all(r in raw[k] for k in parts):
                    lim = min(raw[k][r]["mb_per_s"] for k in parts)
                    lims.append(lim)
                    vs_raw.append(sp[r][metric] / lim)
        target = TARGET["rows" if w.rows else "clouds"]
        met = "—" if not ratio else ("met" if st.median(ratio) >= target else "**not met**")
        verdicts.append((n, met))
        tried = [e for e in runs if e["workload"] == n and e["variant"] == "spate-py"]
        lost = sum(1 for e in tried if "result" in e and not e["result"].get("check", {}).get("ok"))
        sp_cell = summary([x[metric] for x in sp.values()])
        if not sp and lost:
            sp_cell = f"rows lost in {lost}/{len(tried)} runs"
            met = "— (nothing delivered whole)"
        P(f"| {n} | {w.kind} | {w.producers} | {'calls/s' if w.rows else 'MB/s'} | "
          f"{sp_cell} | "
          f"{summary([x[metric] for x in sd.values()])} | "
          f"**{summary(ratio, 1, '×')}** | ≥ {target:g}×: {met} | "
          f"{summary([x[metric] for x in rs.values()])} | "
          f"{fmt(st.median(vs_rust) if vs_rust else None, 2)} | "
          f"{fmt(st.median(lims) if lims else None)} | "
          f"{fmt(st.median(vs_raw) if vs_raw else None, 2)} |")
    P("")

    # Checks, per workload and variant.
    P("## Checks")
    P("")
    P("| workload | variant | runs | counted | delivery check (spate) | files checked: verify ok, rows read = logged |")
    P("|---|---|---:|---:|---|---|")
    for n in names:
        for v in VARIANTS:
            es = [e for e in runs if e["workload"] == n and e["variant"] == v]
            if not es:
                continue
            ok = sum(counts(e) for e in es)
            if v == "spate-py":
                dc = sum(1 for e in es if e.get("result", {}).get("check", {}).get("ok"))
                deliv = f"{dc}/{len(es)} complete"
            elif v == "spate-rust":
                dc = sum(1 for e in es if "result" in e and e["result"].get("drops", 1) == 0)
                deliv = f"{dc}/{len(es)} without drops"
            else:
                deliv = "—"
            fcs = [e["file_check"] for e in es if "file_check" in e]
            files = (f"{sum(f['ok'] for f in fcs)}/{len(fcs)} ok ("
                     + ", ".join(f"{f.get('rows_read', '?'):,} rows, {f['file_bytes'] / 1e6:,.1f} MB"
                                 for f in fcs) + ")") if fcs else "—"
            P(f"| {n} | {v} | {len(es)} | {ok} | {deliv} | {files} |")
    P("")
    bad = [e for e in runs if e["variant"] != "raw" and not counts(e)]
    if bad:
        P("## Runs that do not count")
        P("")
        for e in bad:
            r = e.get("result", {})
            why = e.get("error") or r.get("flush_error") or json.dumps(
                e.get("file_check") or r.get("check") or {"drops": r.get("drops")})
            P(f"- round {e['round']} {e['workload']} {e['variant']}: `{why[-300:]}`")
        P("")

    calls_path = E.get("CALLS")
    if calls_path and Path(calls_path).exists():
        calls = [json.loads(line) for line in open(calls_path) if line.strip()]
        P("## Per-call cost of the one-point path")
        P("")
        P("`perf/python_calls.py`: each piece of the row loop timed alone, `timeit`-style (a loop "
          "of N calls, best of 5 repeats, ≥ 0.2 s each), one file sink; two passes per side, "
          "alternating; the better pass shown. `loop` is the empty `for` loop, included in every "
          "other figure.")
        P("")
        P("| piece | spate-py ns/call | official ns/call | official ÷ spate-py |")
        P("|---|---:|---:|---:|")
        pieces = []
        for c in calls:
            if c["piece"] not in pieces:
                pieces.append(c["piece"])
        for piece in pieces:
            best = {}
            for side in ("spate", "official"):
                xs = [c["ns_per_call"] for c in calls if c["piece"] == piece and c["sdk"] == side]
                best[side] = min(xs) if xs else None
            s_, o_ = best["spate"], best["official"]
            P(f"| {piece} | {fmt(s_, 0)} | {fmt(o_, 0)} | "
              f"{fmt(o_ / s_, 1) + '×' if s_ and o_ else '—'} |")
        P("")
        runs = runs + [dict(c, round=0, workload="calls", variant=c["sdk"]) for c in calls]

    # Per round, for the paired view.
    P("## Per round")
    P("")
    P("| round | workload | spate-py | official | ratio | spate-rust |")
    P("|---:|---|---:|---:|---:|---:|")
    for rnd in rounds_seen:
        for n in names:
            metric = "calls_per_s" if specs[n].rows else "mb_per_s"
            sp, sd, rs = (by.get((n, v), {}).get(rnd) for v in VARIANTS)
            ratio = f"{sp[metric] / sd[metric]:.1f}×" if sp and sd else ""
            P(f"| {rnd} | {n} | {fmt(sp[metric]) if sp else ''} | {fmt(sd[metric]) if sd else ''}"
              f" | {ratio} | {fmt(rs[metric]) if rs else ''} |")
    P("")
    finish_runs = [dict(e, size=e["workload"]) for e in runs]
    for e in finish_runs:
        e.setdefault("variant", "?")
    finish(lines, finish_runs, args.out)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", help="append one JSON line per run here (the rounds mode)")
    ap.add_argument("--report", help="RUNS file to write the report from")
    ap.add_argument("--out", help="the report's path (with --report)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=1.0, help="seconds of logging per run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="only workloads whose name contains this")
    ap.add_argument("--workloads", default="", help="comma-separated scenario names")
    ap.add_argument("--verify-rounds", type=int, default=1)
    args = ap.parse_args()
    if args.report:
        return report(args)
    if not args.runs:
        ap.error("--runs or --report")
    return rounds(args)


if __name__ == "__main__":
    sys.exit(main())
