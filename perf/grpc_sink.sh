#!/usr/bin/env bash
# gRPC streaming throughput on loopback (issue 5, items 8 and 2): spate's Recording -> GrpcSink
# against the raw limit of tonic/HTTP/2, and against the official Rerun SDK, in one run.
#
#   perf/grpc_sink.sh [--quick] [--repeats N] [--server-memory-limit SIZE] [--port P]
#
# Each round runs, interleaved (groups in this order, shuffled within a group):
#   A  raw:      perf_grpc_sink raw: a bare tonic client streams 4 MiB Bytes messages to a bare
#                tonic server (same process, own thread) that discards them; HTTP/2 tuned like
#                spate (raw-spate) and with hyper's defaults (raw-hyper)
#   B  inproc:   perf_grpc_sink inproc: Recording -> GrpcSink -> spate's in-process
#                ProxyReceiver (discarding), 1M- and 100k-point clouds; 1M also with hyper's
#                HTTP/2 defaults on both ends, 100k also unbatched (GrpcBatchPolicy max_bytes 1)
#   C  official: perf_grpc_sink official: Recording -> GrpcSink -> the official server (1M,
#                100k, 100k unbatched)
#   D  sdk:      perf/official_grpc_sink.py: rerun-sdk 0.41.0 rr.RecordingStream.connect_grpc
#                -> the same official server, the same clouds
# Clouds are 20 B/point (positions f32x3, colors u32, radii f32); every run carries the same
# point data (1 GB per run, --quick 200 MB).
#
# The official server is the real binary .venv-rerun/lib/python3*/site-packages/rerun_cli/rerun
# --serve-grpc (not the `rerun` wrapper, which orphans its child), started once, warmed with
# one untimed run, killed by PID at exit; restarted if its RSS grows past twice its memory
# limit + 512 MiB. It keeps what it receives for late viewers up to --server-memory-limit
# (default here 256MiB, its own default is 1GiB), then drops the oldest. Its CPU time
# (utime+stime from /proc/PID/stat) is read before and after every run and shown as % of one
# core over the run's wall time, with its RSS after the run: that tells whether it is the
# bottleneck.
#
# Timing (see examples/perf_grpc_sink.rs): connection made before the clock; A stops when the
# call's response arrived, B and C when Recording::shutdown returned (the sink's close got the
# server's WriteMessagesResponse), D when flush() + disconnect() returned.
#
# Ratios are paired within a round (b/a, c/d), then median and min-max over rounds. Writes
# perf/results/<date>-<host>-grpc_sink.md (machine, kernel, commit, load, table, ratios, every
# run's JSON line) and prints it. Full: 7 rounds, ~3 minutes here; --quick: 3 rounds of 200 MB
# (under a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=0
repeats=""
mem_limit=256MiB
port=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --repeats) repeats="$2"; shift ;;
    --server-memory-limit) mem_limit="$2"; shift ;;
    --port) port="$2"; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [[ $quick == 1 ]]; then
  repeats="${repeats:-3}"
  sizes=("1000000:10" "100000:100")   # points:clouds -> 200 MB per run
  raw_bytes=200MB
else
  repeats="${repeats:-7}"
  sizes=("1000000:50" "100000:500")   # 1 GB per run
  raw_bytes=1GB
fi

# shellcheck source=perf/lib.sh
source perf/lib.sh
official_python
"$VENV/bin/rerun" analytics disable >/dev/null 2>&1 || true
SERVER_BIN=$(ls -d "$VENV"/lib/python3*/site-packages/rerun_cli/rerun | head -1)
[[ -x $SERVER_BIN ]] || { echo "no official server binary at $SERVER_BIN" >&2; exit 1; }
# (sed reads all of it: `head` would close the pipe and the binary panics on EPIPE)
server_v=$("$SERVER_BIN" --version 2>/dev/null | sed -n '1s/^\([^ ]* [^ ]*\).*/\1/p')

echo "building (release) ..." >&2
cargo build --release --example perf_grpc_sink >&2
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/perf_grpc_sink"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/spate-perf-grpc-sink.XXXXXX")
RUNS="$DIR/runs.jsonl"
: >"$RUNS"
TCK=$(getconf CLK_TCK)

# ---- the official server ----
server_pid=""
server_starts=0
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

start_server() {
  stop_server
  local p=${port:-$(free_port)}
  "$SERVER_BIN" --serve-grpc --bind 127.0.0.1 --port "$p" --server-memory-limit "$mem_limit" \
    >>"$DIR/server.log" 2>&1 &
  server_pid=$!
  URL="rerun+http://127.0.0.1:$p/proxy"
  server_starts=$((server_starts + 1))
  local i
  for ((i = 0; i < 100; i++)); do   # bounded: up to 10 s
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "official server died:" >&2; tail "$DIR/server.log" >&2; exit 1; }
    sleep 0.1
  done
  # Warm it up (untimed): its buffers fill up to the memory limit once.
  "$BIN" official "$URL" --points 1000000 --clouds 20 >/dev/null 2>&1 || true
}

server_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat" 2>/dev/null || echo 0; }
server_rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0; }

limit_kib=$("$PY" -c '
import re,sys
s=sys.argv[1]; m=re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?", s)
u={"B":1,"KB":1e3,"MB":1e6,"GB":1e9,"TB":1e12,"KiB":2**10,"MiB":2**20,"GiB":2**30,"TiB":2**40}
print(int(float(m.group(1))*u[m.group(2) or "B"]/1024) if m else 4*2**20)' "$mem_limit")

clock_start
start_server

# run SIZE ROUND VARIANT CMD...: one run, its JSON line wrapped with its labels and the
# official server's CPU use and RSS over the run.
run() {
  local size=$1 round=$2 variant=$3
  shift 3
  if (($(server_rss_kib) > 2 * limit_kib + 524288)); then
    echo "  official server RSS $(server_rss_kib) KiB: restarting it" >&2
    start_server
  fi
  local load line t0 t1 w0 w1 rss
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(server_ticks)
  w0=$(date +%s.%N)
  if line=$("$@" 2>"$DIR/stderr"); then
    w1=$(date +%s.%N)
    t1=$(server_ticks)
    rss=$(server_rss_kib)
    local cpu
    cpu=$("$PY" -c "print(round(($t1-$t0)/$TCK, 3), round(100*($t1-$t0)/$TCK/($w1-$w0), 1))")
    printf '{"size":"%s","round":%d,"variant":"%s","load1":%s,"server_cpu_s":%s,"server_cpu_pct":%s,"server_rss_mib":%d,"result":%s}\n' \
      "$size" "$round" "$variant" "$load" "${cpu% *}" "${cpu#* }" "$((rss / 1024))" "$line" >>"$RUNS"
    printf '  %-5s round %d  %-16s %7.0f MB/s   official server %5s%% of a core\n' "$size" "$round" "$variant" \
      "$(sed -E 's/.*"mb_per_s": *([0-9.eE+-]+).*/\1/' <<<"$line")" "${cpu#* }" >&2
  else
    record_failure "$size" "$round" "$variant" "$load"
    kill -0 "$server_pid" 2>/dev/null || start_server
  fi
}

# clouds_for POINTS: the clouds per run for that cloud size.
clouds_for() {
  local spec
  for spec in "${sizes[@]}"; do
    if [[ ${spec%%:*} == "$1" ]]; then echo "${spec##*:}"; return; fi
  done
}
size_name() { if [[ $1 -ge 1000000 ]]; then echo "$(($1 / 1000000))M"; else echo "$(($1 / 1000))k"; fi; }

# spate_run inproc|official POINTS:HTTP2:BATCH
spate_run() {
  local mode=$1 points h batch name
  IFS=: read -r points h batch <<<"$2"
  name=$mode
  [[ $h == hyper ]] && name="$name-hyper"
  local extra=()
  if [[ $batch == unbatched ]]; then name="$name-unbatched"; extra=(--batch-bytes 1); fi
  local target=()
  [[ $mode == official ]] && target=("$URL")
  run "$(size_name "$points")" "$r" "$name" "$BIN" "$mode" "${target[@]}" \
    --points "$points" --clouds "$(clouds_for "$points")" --http2 "$h" "${extra[@]}"
}

for ((r = 1; r <= repeats; r++)); do
  echo "== round $r of $repeats" >&2
  # A: the raw limit, with spate's and with hyper's HTTP/2 settings.
  for h in $(shuf -e spate hyper); do
    run "4MiB" "$r" "raw-$h" "$BIN" raw --bytes "$raw_bytes" --message 4MiB --http2 "$h"
  done
  # B: spate -> in-process receiver; C: spate -> official server. Variant specs are
  # POINTS:HTTP2:BATCH ("unbatched" = GrpcBatchPolicy max_bytes 1: every message its own
  # HTTP/2 write).
  for v in $(shuf -e 1000000:spate:batched 100000:spate:batched 1000000:hyper:batched 100000:spate:unbatched); do
    spate_run inproc "$v"
  done
  for v in $(shuf -e 1000000:spate:batched 100000:spate:batched 100000:spate:unbatched); do
    spate_run official "$v"
  done
  # D: official SDK -> official server.
  for v in $(shuf -e "${sizes[@]}"); do
    points=${v%%:*}; clouds=${v##*:}
    run "$(size_name "$points")" "$r" "sdk" "$PY" perf/official_grpc_sink.py "$URL" --points "$points" --clouds "$clouds"
  done
done
stop_server

clock_end

# ---- machine / context ----
machine_context

mkdir -p perf/results
REPORT="perf/results/${stamp}-${host}-grpc_sink.md"

export RUNS REPORT host commit cpu mem rustc_v sdk server_v elapsed load_start load_end quick repeats mem_limit server_starts
export KERNEL="$(uname -srm)" NPROC="$(nproc)" WHEN="$(date -Is)"
"$PY" - <<'EOF'
import json, os, statistics as st, sys
from collections import defaultdict

sys.path.insert(0, "perf")
from report import finish

runs = [json.loads(l) for l in open(os.environ["RUNS"])]
ok = [r for r in runs if "result" in r]

# by[(size, variant)][round] = run
by = defaultdict(dict)
for r in ok:
    by[(r["size"], r["variant"])][r["round"]] = r

def fmt(x, d=0):
    return f"{x:,.{d}f}"

def summary(xs, d=0):
    if not xs:
        return "n/a", ""
    return fmt(st.median(xs), d), f"{fmt(min(xs), d)}–{fmt(max(xs), d)}"

lines = []
P = lines.append
P("# GrpcSink throughput on loopback: raw tonic vs spate vs the official SDK")
P("")
P(f"- when: {os.environ['WHEN']} ({'quick' if os.environ['quick']=='1' else 'full'} mode, "
  f"{os.environ['repeats']} rounds, {os.environ['elapsed']} s)")
P(f"- machine: {os.environ['host']}, {os.environ['NPROC']} cores ({os.environ['cpu']}), {os.environ['mem']} RAM")
P(f"- kernel: {os.environ['KERNEL']}")
P(f"- commit: {os.environ['commit']}; {os.environ['rustc_v']}; {os.environ['sdk']}; "
  f"official server {os.environ['server_v']} `--serve-grpc --server-memory-limit {os.environ['mem_limit']}` "
  f"(started {os.environ['server_starts']}×, warmed with one untimed run)")
loads = [r["load1"] for r in runs]
P(f"- load average (1/5/15 min) at start {os.environ['load_start']}, at end {os.environ['load_end']}; "
  f"1-min load seen by the runs {min(loads):.2f}–{max(loads):.2f} (median {st.median(loads):.2f}). "
  "Shared 2-core VM with other builds running: expect noise; compare the paired ratios and the spread.")
P("")
P("MB/s = 10^6 B/s of point data (20 B/point; for raw: message bytes); wire = bytes of the "
  "gRPC messages (spate: uncompressed; the SDK LZ4-compresses, its wire bytes are not counted). "
  "client CPU = the client process's CPU time ÷ wall time (raw and inproc: the server thread "
  "is in the same process). server CPU = the official server's utime+stime ÷ wall time over "
  "the run (100% = one core). Median and min–max over rounds.")
P("")
P("| workload | variant | median MB/s | min–max MB/s | median wire MB/s | client CPU | official server CPU (median, min–max) | server RSS after (MiB) |")
P("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
order = [("4MiB", "raw-spate", "(a) raw tonic, spate HTTP/2 tuning"),
         ("4MiB", "raw-hyper", "(a') raw tonic, hyper HTTP/2 defaults"),
         ("1M", "inproc", "(b) spate → in-process receiver, 1M points"),
         ("100k", "inproc", "(b) spate → in-process receiver, 100k points"),
         ("1M", "inproc-hyper", "(b') same, 1M, hyper HTTP/2 defaults"),
         ("100k", "inproc-unbatched", "(b'') same, 100k, unbatched (GrpcBatchPolicy max_bytes 1)"),
         ("1M", "official", "(c) spate → official server, 1M"),
         ("100k", "official", "(c) spate → official server, 100k"),
         ("100k", "official-unbatched", "(c'') same, 100k, unbatched"),
         ("1M", "sdk", "(d) official SDK → official server, 1M"),
         ("100k", "sdk", "(d) official SDK → official server, 100k")]
for size, v, label in order:
    rs = list(by[(size, v)].values())
    if not rs:
        continue
    mb = [r["result"]["mb_per_s"] for r in rs]
    wire = [r["result"].get("wire_mb_per_s") for r in rs if r["result"].get("wire_mb_per_s")]
    ccpu = [100 * r["result"]["cpu_seconds"] / r["result"]["seconds"] for r in rs if "cpu_seconds" in r["result"]]
    med, rng = summary(mb)
    wmed = summary(wire)[0] if wire else "—"
    cc = f"{st.median(ccpu):.0f}%" if ccpu else "—"
    if v.startswith(("official", "sdk")):
        sc = [r["server_cpu_pct"] for r in rs]
        scm, scr = summary(sc)
        sc_s = f"{scm}% ({scr}%)"
        rss = f"{st.median([r['server_rss_mib'] for r in rs]):,.0f}"
    else:
        sc_s, rss = "—", "—"
    P(f"| {label} | {size} {v} | {med} | {rng} | {wmed} | {cc} | {sc_s} | {rss} |")
P("")
P("## Ratios (paired within a round; median, min–max)")
P("")
P("| ratio | target | median | min–max | rounds |")
P("| --- | --- | ---: | ---: | ---: |")
def paired(num, den):
    out = []
    for rnd, r in by[num].items():
        d = by[den].get(rnd)
        if d:
            out.append(r["result"]["mb_per_s"] / d["result"]["mb_per_s"])
    return out
for label, target, num, den in [
        ("(b) 1M ÷ (a)", "≥ 0.8", ("1M", "inproc"), ("4MiB", "raw-spate")),
        ("(b) 100k ÷ (a)", "≥ 0.8", ("100k", "inproc"), ("4MiB", "raw-spate")),
        ("(b'') 100k unbatched ÷ (a)", "", ("100k", "inproc-unbatched"), ("4MiB", "raw-spate")),
        ("(c) ÷ (d), 1M", "≥ 3", ("1M", "official"), ("1M", "sdk")),
        ("(c) ÷ (d), 100k", "≥ 3", ("100k", "official"), ("100k", "sdk")),
        ("(c'') 100k unbatched ÷ (d)", "", ("100k", "official-unbatched"), ("100k", "sdk")),
        ("raw: spate tuning ÷ hyper defaults", "", ("4MiB", "raw-spate"), ("4MiB", "raw-hyper")),
        ("inproc 1M: spate tuning ÷ hyper defaults", "", ("1M", "inproc"), ("1M", "inproc-hyper"))]:
    xs = paired(num, den)
    m, rng = summary(xs, 2)
    P(f"| {label} | {target} | {m} | {rng} | {len(xs)} |")
P("")

finish(lines, runs, os.environ["REPORT"])
EOF
