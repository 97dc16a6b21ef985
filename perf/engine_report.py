"""Turns criterion's estimates for `benches/engine.rs` into perf/results/STAMP-vm-engine.md.

Usage: engine_report.py CRITERION_DIR OUT HOST COMMIT LOADAVG
"""
import json
import pathlib
import platform
import sys


def benches(root: pathlib.Path):
    """{full_id: (median ns per iteration, throughput dict)} from each benchmark's newest run."""
    out = {}
    for meta in root.glob("**/new/benchmark.json"):
        b = json.loads(meta.read_text())
        est = json.loads((meta.parent / "estimates.json").read_text())
        out[b["full_id"]] = (est["median"]["point_estimate"], b.get("throughput") or {})
    return out


def rate(ns, throughput):
    """Elements or bytes per second."""
    n = throughput.get("Elements") or throughput.get("Bytes") or 1
    return n / (ns * 1e-9)


def main():
    root, out, host, commit, load = sys.argv[1:6]
    root = pathlib.Path(root)
    b = benches(root)
    paired = json.loads((root / "log_vs_floor.json").read_text())
    cpu = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
        "?",
    )
    lines = [
        f"# spate engine benchmarks ({out.split('/')[-1][:15]})",
        "",
        f"- machine: {host}, {cpu}, 2 cores; kernel {platform.release()}",
        f"- commit: {commit}; `cargo bench --bench engine` (criterion, null sink, `Block`)",
        f"- load average at the end: {load}",
        "",
        "## `log()` against its floor (paired: 31 interleaved rounds of 32,768 rows)",
        "",
        "The floor is a bare rtrb push of a row of the lane's size "
        f"({paired['row_bytes']} B) to a thread that consumes it.",
        "",
        "| floor (ns/row, median) | one-point `log()` (ns/row, median) | ratio (median of pairs) | min–max | target |",
        "|---:|---:|---:|---:|---:|",
        f"| {paired['floor_ns']:.1f} | {paired['log_ns']:.1f} | {paired['ratio']:.2f}× "
        f"| {paired['ratio_min']:.2f}–{paired['ratio_max']:.2f}× | ≤ 5× |",
        "",
        "## Criterion medians",
        "",
        "| benchmark | median per iteration | throughput |",
        "|---|---:|---:|",
    ]
    for full_id in sorted(b):
        ns, tp = b[full_id]
        if "Bytes" in tp:
            t = f"{rate(ns, tp) / 1e9:.2f} GB/s"
        else:
            t = f"{rate(ns, tp) / 1e6:.2f} M rows/s"
        per = f"{ns:,.1f} ns" if ns < 1e5 else f"{ns / 1e6:,.2f} ms"
        lines.append(f"| {full_id} | {per} | {t} |")
    lines.append("")
    pathlib.Path(out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
