#!/usr/bin/env python3
"""spate against the machine's raw limits and the official Rerun SDK, side by side.

Run through `perf/run.sh [--quick] [--repeats N] [--only SUBSTRING]`, which builds the
release binaries and makes sure the official tools are installed first.

One run:
1. Raw limits, each measured in every round: memory bandwidth (`perf_memcpy`), sequential
   file write of the same byte count a scenario writes (`perf_file_sink raw`, 8 MiB blocks
   and 1 MiB blocks, the faster counts), bare tonic loopback streaming of 4 MiB messages
   (`perf_grpc_sink raw`).
2. Every scenario in perf/scenarios/*.toml through `spate check --scenario FILE --json`
   (unpaced: producers log as fast as the engine accepts, lossless policies), and the same
   workload through the official Python SDK (perf/official_sdk.py: same producers, same
   clouds of 20 B/point, same sinks: FileSink, GrpcSink to the official server this script
   starts, or both as a tee), for the same number of seconds. Every run that writes a
   file starts from the same page-cache state (an untimed scratch file written and
   deleted just before; see `hot_page_cache`).
3. Rounds: every workload repeats `--repeats` times (default 5), the order shuffled within
   each round; the table gives medians and the min-max spread.

Throughput: payload MB/s (10^6 B; 20 B per point), delivered bytes over the time from the
first log until every sink finished (spate: the sinks' measured delivery, see
`spate check --help`; SDK: until flush() + disconnect() returned). One-point rows are
compared in calls/s. Raw limit of a workload: file -> file write, grpc -> tonic loopback,
tee -> the smaller of the two; one-point rows have no raw limit.

Writes perf/results/<date>-<host>.md (machine, kernel, commit, backend, pinning, the
table, every run's JSON) and perf/results/<date>-<host>.svg (bar chart of the ratios).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
SPATE = TARGET / "spate"
MEMCPY = TARGET / "examples" / "perf_memcpy"
FILE_RAW = TARGET / "examples" / "perf_file_sink"
GRPC_RAW = TARGET / "examples" / "perf_grpc_sink"
VENV = Path(os.environ.get("SPATE_RERUN_VENV", ROOT / ".venv-rerun"))
PY = VENV / "bin" / "python"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_json(cmd: list[str], timeout: float) -> dict:
    """Runs `cmd`; its stdout is one JSON object (`spate check --json`, pretty-printed) or
    JSON lines (the perf examples and SDK scripts), of which the last counts."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = p.stdout.strip()
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(
                f"{' '.join(map(str, cmd))} exited {p.returncode}: {p.stderr.strip()[-400:]}"
            ) from None
        return json.loads(lines[-1])


# ---------------------------------------------------------------- the official server


class OfficialServer:
    """The real `rerun_cli/rerun --serve-grpc` binary (not the Python wrapper), killed by PID."""

    def __init__(self, workdir: Path, memory_limit: str = "256MiB") -> None:
        bins = sorted(VENV.glob("lib/python3*/site-packages/rerun_cli/rerun"))
        if not bins:
            raise SystemExit(f"no official rerun binary under {VENV}: run scripts/rerun-tools.sh")
        self.bin = bins[0]
        self.workdir = workdir
        self.memory_limit = memory_limit
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        self.stop()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        logf = open(self.workdir / "official-server.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.bin), "--serve-grpc", "--bind", "127.0.0.1", "--port", str(port),
             "--server-memory-limit", self.memory_limit],
            stdout=logf, stderr=logf,
        )
        self.url = f"rerun+http://127.0.0.1:{port}/proxy"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # bounded wait for the port
            if self.proc.poll() is not None:
                raise SystemExit("the official server exited at start; see its log")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the official server did not open its port within 15 s")

    def cpu_seconds(self) -> float:
        if not self.proc:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return 0.0

    def rss_mib(self) -> float:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except (OSError, AttributeError):
            pass
        return 0.0

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


# ---------------------------------------------------------------- workloads


class Workload:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self.spec = tomllib.loads(path.read_text())
        self.points = int(self.spec.get("points", 1))
        self.producers = int(self.spec.get("producers", 1))
        self.duration = float(self.spec.get("duration", 1.0))
        self.sinks = list(self.spec.get("sinks", []))
        kinds = {s.split(":", 1)[0] for s in self.sinks}
        self.kind = "tee" if len(self.sinks) > 1 else (kinds.pop() if kinds else "?")
        self.rows = self.points == 1  # one-point rows: compared in calls/s

    def concrete_sinks(self, workdir: Path, who: str, url: str) -> list[str]:
        out = []
        for s in self.sinks:
            s = s.replace("{dir}", str(workdir)).replace("{who}", who)
            s = s.replace("{official_grpc}", url)
            out.append(s)
        return out


def spate_run(w: Workload, workdir: Path, url: str, duration: float) -> dict:
    spec = dict(w.spec)
    spec["sinks"] = w.concrete_sinks(workdir, "spate", url)
    spec["duration"] = duration
    toml_path = workdir / f"{w.name}.toml"
    toml_path.write_text(to_toml(spec))
    r = run_json([str(SPATE), "check", "--scenario", str(toml_path), "--json", "--quiet"],
                 timeout=duration * 10 + 120)
    cleanup_files(workdir)
    # Every sink delivered all it was given (lossless policies): the workload's rate is the
    # bytes delivered to every sink over the time until the last sink finished.
    sinks = r["sinks"]
    delivered = min(s["delivered_bytes"] for s in sinks)
    done = max((s.get("complete_s") or float("nan")) for s in sinks)
    points = r["generator"]["logged_clouds"] * w.points
    return {
        "bytes": points * 20,
        "wire_bytes": delivered,
        "seconds": done,
        "mb_per_s": points * 20 / done / 1e6,
        "calls_per_s": r["generator"]["logged_clouds"] / done,
        "verdicts": [s["verdict"] for s in sinks],
        "drops": sum(sum(s["drops"].values()) for s in sinks),
    }


def sdk_run(w: Workload, workdir: Path, url: str, duration: float) -> dict:
    cmd = [str(PY), str(ROOT / "perf" / "official_sdk.py"), "--points", str(w.points),
           "--producers", str(w.producers), "--duration", str(duration)]
    for s in w.concrete_sinks(workdir, "sdk", url):
        cmd += ["--sink", s]
    r = run_json(cmd, timeout=duration * 20 + 120)
    cleanup_files(workdir)
    return r


def hot_page_cache(workdir: Path, nbytes: str) -> None:
    """Writes and deletes an untimed scratch file right before a run that writes a file.

    These VMs hand freed memory back to the host (free page reporting); page-cache pages
    that come back cost a host fault on first touch, and a fresh file then writes at
    ~0.5-1 GB/s instead of ~4-5 GB/s (perf: the sink thread ~80 % in
    copy_folio_from_iter_atomic). That swing is the machine, not the writer, so every
    file-writing run (raw, spate, SDK) starts from the same recently freed pages
    (perf/file_sink.sh's --state hot).
    """
    scratch = workdir / "scratch.bin"
    subprocess.run([str(FILE_RAW), "raw", "--bytes", nbytes, "--block", "8MiB",
                    "--out", str(scratch)], capture_output=True, timeout=120)
    scratch.unlink(missing_ok=True)


def cleanup_files(workdir: Path) -> None:
    for f in workdir.glob("*.rrd"):
        f.unlink(missing_ok=True)


def to_toml(spec: dict) -> str:
    lines = []
    for k, v in spec.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            lines.append(f"{k} = {v}")
        elif isinstance(v, list):
            lines.append(f"{k} = [" + ", ".join(json.dumps(x) for x in v) + "]")
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- raw limits


def raw_memcpy() -> dict:
    return run_json([str(MEMCPY), "--bytes", str(256 << 20), "--repeats", "5"], 120)


def raw_file(workdir: Path, nbytes: str) -> dict:
    best = None
    for block in ("8MiB", "1MiB"):
        hot_page_cache(workdir, SCRATCH)
        out = workdir / "raw.bin"
        r = run_json([str(FILE_RAW), "raw", "--bytes", nbytes, "--block", block,
                      "--method", "write", "--out", str(out)], 300)
        out.unlink(missing_ok=True)
        if best is None or r["mb_per_s"] > best["mb_per_s"]:
            best = r
    return best


def raw_grpc(nbytes: str) -> dict:
    return run_json([str(GRPC_RAW), "raw", "--bytes", nbytes, "--message", "4MiB"], 300)


# ---------------------------------------------------------------- report


def med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: list[float]) -> str:
    return f"{min(xs):,.0f}–{max(xs):,.0f}" if xs else "—"


def fmt(x: float, digits: int = 0) -> str:
    if x != x:  # NaN
        return "—"
    return f"{x:,.{digits}f}"


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "commit": commit + ("-dirty" if dirty else ""),
        "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def svg_chart(rows: list[dict], path: Path) -> None:
    """Horizontal bars: spate/raw and spate/SDK per workload (log scale for spate/SDK)."""
    import math

    bar_h, gap, left, width = 12, 10, 230, 420
    height = 60 + len(rows) * (2 * bar_h + gap)
    max_sdk = max([r["spate_sdk"] for r in rows if r["spate_sdk"] == r["spate_sdk"]] + [10])
    log_max = math.log10(max(max_sdk, 10))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 120}" '
           f'height="{height}" font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="18" font-size="14">spate / raw limit (blue, linear 0–1) and '
           f'spate / official SDK (orange, log 1–{10**log_max:,.0f}x)</text>']
    y = 40
    for r in rows:
        out.append(f'<text x="{left - 6}" y="{y + bar_h + 4}" text-anchor="end">'
                   f'{r["name"]}</text>')
        raw = r["spate_raw"]
        if raw == raw:
            w = max(1.0, min(raw, 1.0) * width)
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                       f'fill="#4878cf"/><text x="{left + w + 4}" y="{y + bar_h - 2}">'
                       f'{raw:.2f}</text>')
        sdk = r["spate_sdk"]
        if sdk == sdk and sdk > 0:
            w = max(1.0, min(math.log10(max(sdk, 1.0)) / log_max, 1.0) * width)
            out.append(f'<rect x="{left}" y="{y + bar_h}" width="{w:.1f}" height="{bar_h}" '
                       f'fill="#e8943a"/><text x="{left + w + 4}" y="{y + 2 * bar_h - 2}">'
                       f'{sdk:.1f}x</text>')
        y += 2 * bar_h + gap
    out.append(f'<line x1="{left}" y1="34" x2="{left}" y2="{y}" stroke="black"/>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset, shorter runs (< 3 min)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default="", help="run only scenarios whose name contains this")
    ap.add_argument("--out", default=str(ROOT / "perf" / "results"))
    args = ap.parse_args()
    started = time.monotonic()

    scenarios = sorted((ROOT / "perf" / "scenarios").glob("*.toml"))
    workloads = [Workload(p) for p in scenarios if args.only in p.stem]
    # The official SDK side (perf/official_sdk.py) logs lidar clouds only: whole rigs with
    # cameras or IMUs (perf/scenarios/rig.toml) are for `spate check --scenario`, not here.
    rigs = [w for w in workloads if "camera" in w.spec or "imu" in w.spec]
    for w in rigs:
        log(f"skipping {w.name}: cameras/IMUs have no official-SDK counterpart here")
    workloads = [w for w in workloads if w not in rigs]
    if args.quick:
        workloads = [w for w in workloads if w.spec.get("quick", False) or
                     w.name in QUICK]
    duration = 0.5 if args.quick else 1.0
    raw_bytes = "200MB" if args.quick else "1GB"
    if not workloads:
        log("no scenarios selected")
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="spate-perf-"))
    server = OfficialServer(workdir)
    runs: list[dict] = []
    try:
        server.start()
        # Warm-up (untimed): the server's buffers, the page cache, the binaries.
        for w in workloads[:1]:
            spate_run(w, workdir, server.url, 0.3)
            sdk_run(w, workdir, server.url, 0.3)
        for rnd in range(1, args.repeats + 1):
            log(f"== round {rnd} of {args.repeats} ({time.monotonic() - started:.0f} s)")
            for name, fn in [("memcpy", raw_memcpy),
                             ("file", lambda: raw_file(workdir, raw_bytes)),
                             ("grpc", lambda: raw_grpc(raw_bytes))]:
                r = fn()
                runs.append({"round": rnd, "who": "raw", "name": name, "result": r})
                log(f"  raw {name:<8} {r['mb_per_s']:9,.0f} MB/s")
            order = [(w, who) for w in workloads for who in ("spate", "sdk")]
            random.shuffle(order)
            for w, who in order:
                if server.rss_mib() > 1024:
                    server.start()
                if w.kind in ("file", "tee"):
                    hot_page_cache(workdir, SCRATCH)
                cpu0, t0 = server.cpu_seconds(), time.monotonic()
                try:
                    fn = spate_run if who == "spate" else sdk_run
                    r = fn(w, workdir, server.url, duration)
                except (RuntimeError, subprocess.TimeoutExpired, KeyError) as e:
                    log(f"  {w.name:<22} {who:<5} FAILED: {e}")
                    runs.append({"round": rnd, "who": who, "name": w.name, "error": str(e)})
                    if server.proc is None or server.proc.poll() is not None:
                        server.start()
                    continue
                wall = time.monotonic() - t0
                cpu = server.cpu_seconds() - cpu0
                r["official_server_cpu_pct"] = 100 * cpu / wall if w.kind != "file" else None
                runs.append({"round": rnd, "who": who, "name": w.name, "result": r})
                rate = (f"{r['calls_per_s']:11,.0f} calls/s" if w.rows
                        else f"{r['mb_per_s']:9,.0f} MB/s")
                log(f"  {w.name:<22} {who:<5} {rate}")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    # ---- aggregate
    def results(who: str, name: str) -> list[dict]:
        return [x["result"] for x in runs
                if x["who"] == who and x["name"] == name and "result" in x]

    def per_round(who: str, name: str) -> dict[int, dict]:
        return {x["round"]: x["result"] for x in runs
                if x["who"] == who and x["name"] == name and "result" in x}

    rows = []
    for w in workloads:
        metric = "calls_per_s" if w.rows else "mb_per_s"
        sp = [r[metric] for r in results("spate", w.name)]
        sd = [r[metric] for r in results("sdk", w.name)]
        # Paired ratios: within one round.
        ratios_raw, ratios_sdk = [], []
        s_by, d_by = per_round("spate", w.name), per_round("sdk", w.name)
        f_by, g_by = per_round("raw", "file"), per_round("raw", "grpc")
        raws = []
        for rnd, s in s_by.items():
            if rnd in d_by and d_by[rnd][metric] > 0:
                ratios_sdk.append(s[metric] / d_by[rnd][metric])
            if not w.rows:
                limit = {"file": [f_by.get(rnd)], "grpc": [g_by.get(rnd)],
                         "tee": [f_by.get(rnd), g_by.get(rnd)]}.get(w.kind, [None])
                if all(limit):
                    lim = min(x["mb_per_s"] for x in limit)
                    raws.append(lim)
                    ratios_raw.append(s[metric] / lim)
        cpu = [r["official_server_cpu_pct"] for r in results("sdk", w.name)
               if r.get("official_server_cpu_pct") is not None]
        rows.append({
            "name": w.name, "kind": w.kind, "producers": w.producers, "points": w.points,
            "unit": "calls/s" if w.rows else "MB/s",
            "spate": med(sp), "spate_spread": spread(sp),
            "sdk": med(sd), "sdk_spread": spread(sd),
            "raw": med(raws),
            "spate_raw": med(ratios_raw), "spate_sdk": med(ratios_sdk),
            "sdk_server_cpu": med(cpu),
            "n": len(sp),
        })

    mem = [x["result"]["mb_per_s"] for x in runs if x["who"] == "raw" and x["name"] == "memcpy"]
    fil = [x["result"]["mb_per_s"] for x in runs if x["who"] == "raw" and x["name"] == "file"]
    grp = [x["result"]["mb_per_s"] for x in runs if x["who"] == "raw" and x["name"] == "grpc"]
    m = machine()
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"{stamp}-{m['host']}{'-quick' if args.quick else ''}"
    svg_chart(rows, base.with_suffix(".svg"))

    md = [f"# spate perf run {stamp}{' (quick)' if args.quick else ''}", ""]
    md += [f"- machine: {m['host']}, {m['cpu']}, {m['cores']} cores, {m['memory']}",
           f"- kernel: Linux {m['kernel']}", f"- commit: {m['commit']}",
           "- spate: `spate check --scenario` unpaced, lane and sink policies `block`, "
           "file backend `auto` (io_uring), drain thread not pinned (default)",
           "- official: rerun-sdk 0.41.0 (Python), official server `rerun --serve-grpc` "
           "(real binary, --server-memory-limit 256MiB)",
           f"- load average at the end: {m['load']}",
           f"- {args.repeats} rounds, {duration:g} s of logging per run, order shuffled per "
           f"round; ratios paired within a round, median shown; "
           f"wall time {time.monotonic() - started:.0f} s", "",
           "Raw limits (median of rounds, spread): "
           f"memcpy {fmt(med(mem))} MB/s ({spread(mem)}), "
           f"file write {fmt(med(fil))} MB/s ({spread(fil)}), "
           f"tonic loopback {fmt(med(grp))} MB/s ({spread(grp)}).", "",
           "| workload | sinks | prod. | unit | spate (spread) | official SDK (spread) | "
           "raw limit | spate/raw | spate/SDK | official server CPU (SDK runs) |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append(
            f"| {r['name']} | {r['kind']} | {r['producers']} | {r['unit']} | "
            f"{fmt(r['spate'])} ({r['spate_spread']}) | {fmt(r['sdk'])} ({r['sdk_spread']}) | "
            f"{fmt(r['raw'])} | {fmt(r['spate_raw'], 2)} | {fmt(r['spate_sdk'], 1)} | "
            f"{fmt(r['sdk_server_cpu'])}{'' if r['sdk_server_cpu'] != r['sdk_server_cpu'] else ' %'} |")
    md += ["", f"![ratios]({base.with_suffix('.svg').name})", "", "<details><summary>"
           "every run</summary>", "", "```"]
    md += [json.dumps(x, separators=(",", ":")) for x in runs]
    md += ["```", "", "</details>", ""]
    base.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md[: md.index("") + 1]))
    print("\n".join(line for line in md if line.startswith("|") or line.startswith("Raw")))
    log(f"wrote {base.with_suffix('.md')} and {base.with_suffix('.svg')}")
    return 0


SCRATCH = "800MB"
QUICK = {"file-100k-1p", "grpc-100k-1p", "tee-1M-1p", "file-rows-1p"}

if __name__ == "__main__":
    sys.exit(main())
