"""The report of perf/fleet.sh: runs.jsonl -> a markdown table (median, min-max over rounds,
ratios paired within a round) + the raw runs. MB = 10^6 B."""

import json
import statistics as st
import sys

(runs_path, out, host, stamp, commit, cpu, mem, rustc_v, rounds, total, points, rotate,
 load_start, load_end, elapsed, kernel, dev) = sys.argv[1:18]
rows = [json.loads(line) for line in open(runs_path)]


def rng(xs, fmt="{:,.0f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—", "—"
    return fmt.format(st.median(xs)), (fmt.format(min(xs)) + "–" + fmt.format(max(xs)))


floor = {}  # (round, variant) -> MB/s
for r in rows:
    if r["variant"].startswith("floor"):
        floor[(r["round"], r["variant"])] = r["run"]["mb_per_s"]

lines = [
    f"# One spate serve gateway: ingest and upload against the floors ({host}, perf/fleet.sh)",
    "",
    f"- when: {stamp} ({rounds} rounds interleaved, {elapsed} s); machine: {cpu}, {mem}, kernel {kernel}",
    f"- commit {commit}; {rustc_v}; release build; everything on 127.0.0.1",
    f"- load average at start {load_start}, at end {load_end}",
    f"- per run: {int(total) / 1e6:,.0f} MB of point data (clouds of {int(points):,} points × 20 B), "
    f"split over K spate GrpcSink clients (separate processes); gateway `spate serve --save DIR/run.rrd "
    f"--rotate-bytes {rotate}` (+ `--upload`); moto = moto_server (Python, objects in memory), fresh per run",
    "",
    "Floors (same bytes, same round):",
    "",
    "| floor | median MB/s | min–max |",
    "| --- | ---: | ---: |",
]
for v, name in (("floor-file", "raw file write (write(2), page cache, no fsync)"),
                ("floor-grpc", "raw loopback gRPC (bare tonic → tonic, 4 MiB messages)"),
                ("floor-client", "spate GrpcSink → in-process discarding receiver (K=1)")):
    m, mm = rng([r["run"]["mb_per_s"] for r in rows if r["variant"] == v])
    lines.append(f"| {name} | {m} | {mm} |")

lines += [
    "",
    "Gateway runs. ingest = payload ÷ (clients launched → last client's shutdown confirmed by the "
    "gateway); drain = SIGTERM → gateway exited (last file finished; with --upload: every file "
    "uploaded); clients' clock = payload ÷ (first client's first log → last client's shutdown), without process start, connect and buffer warm-up; drain MB/s = spool bytes at the stop ÷ drain (the upload rate once ingest has stopped); landed = file bytes ÷ (ingest + drain), i.e. end to end into the store; gateway CPU s per GB = its whole CPU time ÷ GB of payload. "
    "CPU in % of one core over the phase (200% = both cores); ratios paired within a round.",
    "",
    "| K | target | ingest MB/s | min–max | ingest, clients' clock | ÷ raw gRPC | ÷ raw file | spool at stop (MB) | drain (s) | drain MB/s | landed MB/s | min–max | landed ÷ raw file | gateway CPU ingest | clients CPU | gateway CPU drain | gateway CPU s per GB | moto CPU (whole run) | disk written (MB) |",
    "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
targets = {"save": "--save only", "file": "--upload file://", "s3": "--upload s3:// (moto)"}
problems = []
for k in sorted({r["k"] for r in rows if not r["variant"].startswith("floor")}):
    for t, tname in targets.items():
        rs = [r for r in rows if r["variant"] == t and r["k"] == k]
        if not rs:
            continue
        dmb, gpg, ingc, ing, rg, rf, drain, landed, lf, gcpu, ccpu, dcpu, mcpu, disk, spool = ([] for _ in range(15))
        for r in rs:
            cl = r["clients"]
            if r["rc"] != 0 or any("error" in c for c in cl):
                problems.append(r)
                continue
            payload = sum(c["bytes"] for c in cl)
            mbps = payload / r["t_ingest"] / 1e6
            ing.append(mbps)
            span = max(c["end"] for c in cl) - min(c["end"] - c["seconds"] for c in cl)
            ingc.append(payload / span / 1e6)
            rg.append(mbps / floor[(r["round"], "floor-grpc")])
            rf.append(mbps / floor[(r["round"], "floor-file")])
            drain.append(r["t_drain"])
            whole = r["t_ingest"] + r["t_drain"]
            landed.append(r["file_bytes"] / whole / 1e6)
            lf.append(landed[-1] / floor[(r["round"], "floor-file")])
            gcpu.append(100 * r["serve_cpu_ingest"] / r["t_ingest"])
            ccpu.append(100 * sum(c["cpu_seconds"] for c in cl) / r["t_ingest"])
            dcpu.append(100 * (r["serve_cpu"] - r["serve_cpu_ingest"]) / max(r["t_drain"], 1e-3))
            mcpu.append(100 * r["moto_cpu"] / whole if t == "s3" else None)
            disk.append(r["disk_mb"])
            spool.append(r["spool_at_stop"] / 1e6)
            dmb.append(r["spool_at_stop"] / r["t_drain"] / 1e6 if t != "save" else None)
            gpg.append(r["serve_cpu"] / (payload / 1e9))
        if not ing:
            continue
        pct = "{:.0f}%"
        lines.append(
            f"| {k} | {tname} | {rng(ing)[0]} | {rng(ing)[1]} | {rng(ingc)[0]} | {rng(rg, '{:.2f}')[0]} | "
            f"{rng(rf, '{:.2f}')[0]} | {rng(spool)[0]} | {rng(drain, '{:.1f}')[0]} ({rng(drain, '{:.1f}')[1]}) | {rng(dmb)[0]} | "
            f"{rng(landed)[0]} | {rng(landed)[1]} | {rng(lf, '{:.2f}')[0]} | {rng(gcpu, pct)[0]} | "
            f"{rng(ccpu, pct)[0]} | {rng(dcpu, pct)[0]} | {rng(gpg, '{:.1f}')[0]} | {rng(mcpu, pct)[0]} | {rng(disk)[0]} |")

if problems:
    lines += ["", f"**{len(problems)} run(s) failed** (see the raw runs)."]
lines += ["", "## Raw runs", "", "```"] + [json.dumps(r) for r in rows] + ["```", ""]
open(out, "w").write("\n".join(lines) + "\n")
