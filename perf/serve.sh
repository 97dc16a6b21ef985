#!/usr/bin/env bash
# Issue 8 item 6: the official Rerun SDK (rr.GrpcSink) streams the same point clouds to
#   A) spate serve --save FILE     (release build)
#   B) rerun --save FILE           (the official receiver; the real binary, not the wrapper)
# in interleaved rounds (A B A B ...), one fresh receiver per round on 127.0.0.1.
#
# Per round: the sender logs CLOUDS clouds of POINTS points (20 B/point) and flushes; then
# the script waits until the receiver's file stops growing (no change for SETTLE_MS, polled
# every 50 ms, bounded by 120 s), reads the receiver's CPU time (utime+stime from
# /proc/PID/stat) and stops it with SIGTERM (background jobs of a script inherit an ignored
# SIGINT, which rerun does not re-enable). "done_s" = from the sender's start to the last
# growth of the file (measured by the script), so it covers receive + decode + write.
#
# usage: perf/serve.sh [ROUNDS=5] [CLOUDS=100] [POINTS=200000]
# output: perf/results/<date>-<host>-serve.md (+ a .jsonl of the raw rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}; CLOUDS=${2:-100}; POINTS=${3:-200000}
SETTLE_MS=${SETTLE_MS:-500}
VENV="${SPATE_RERUN_VENV:-$PWD/.venv-rerun}"
PY="$VENV/bin/python"
RERUN_BIN=$("$PY" -c 'import rerun_cli,os;print(os.path.dirname(rerun_cli.__file__))')/rerun
cargo build --release --quiet --bin spate
SPATE=target/release/spate
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
STAMP=$(date +%Y-%m-%d-%H%M); HOST=$(hostname -s)
OUT=perf/results/$STAMP-$HOST-serve.md; RAW=${OUT%.md}.jsonl
mkdir -p perf/results; : > "$RAW"
TCK=$(getconf CLK_TCK)

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_s() { awk -v t="$TCK" '{print ($14+$15)/t}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 600); do (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }

round() { # $1 = spate|official, $2 = round index
  local which=$1 i=$2 port file pid
  port=$(free_port); file="$TMP/$which-$i.rrd"
  if [ "$which" = spate ]; then
    "$SPATE" serve --bind 127.0.0.1 --port "$port" --save "$file" 2>"$TMP/$which-$i.log" & pid=$!
  else
    "$RERUN_BIN" --save "$file" --bind 127.0.0.1 --port "$port" >"$TMP/$which-$i.log" 2>&1 & pid=$!
  fi
  wait_port "$port"
  local t0 sent last size now stable=0 last_change
  t0=$(date +%s.%N)
  sent=$("$PY" perf/official_serve_sender.py "rerun+http://127.0.0.1:$port/proxy" "$CLOUDS" "$POINTS")
  last=-1; last_change=$(date +%s.%N)
  for _ in $(seq 2400); do
    size=$(stat -c %s "$file" 2>/dev/null || echo 0); now=$(date +%s.%N)
    if [ "$size" != "$last" ]; then last=$size; last_change=$now; fi
    if awk -v a="$now" -v b="$last_change" -v s="$SETTLE_MS" 'BEGIN{exit !((a-b)*1000 >= s)}'; then stable=1; break; fi
    sleep 0.05
  done
  local cpu; cpu=$(cpu_s "$pid")
  kill -TERM "$pid"; wait "$pid" || true  # not INT: a background job of a script ignores SIGINT
  local done_s; done_s=$(awk -v a="$last_change" -v b="$t0" 'BEGIN{print a-b}')
  echo "{\"receiver\":\"$which\",\"round\":$i,\"sender\":$sent,\"done_s\":$done_s,\"cpu_s\":$cpu,\"file_bytes\":$last,\"settled\":$stable}" >> "$RAW"
  echo "$which round $i: done ${done_s}s, receiver cpu ${cpu}s, file $last B" >&2
}

for i in $(seq "$ROUNDS"); do round spate "$i"; round official "$i"; done

"$PY" - "$RAW" "$OUT" "$ROUNDS" "$CLOUDS" "$POINTS" <<'PYEOF'
import json, statistics as st, sys, platform, os
raw, out, rounds, clouds, points = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
rows = [json.loads(l) for l in open(raw)]
by = {w: [r for r in rows if r["receiver"] == w] for w in ("spate", "official")}
payload = clouds * points * 20
def med(w, k): return st.median(r[k] for r in by[w])
def mbps(w): return payload / med(w, "done_s") / 1e6
pairs = list(zip(by["spate"], by["official"]))
speed_ratio = st.median(o["done_s"] / s["done_s"] for s, o in pairs)
cpu_ratio = st.median(o["cpu_s"] / s["cpu_s"] for s, o in pairs)
lines = [
 f"# spate serve vs rerun --save: official SDK sender ({platform.node()}, {os.cpu_count()} CPUs)", "",
 f"{rounds} interleaved rounds; each: {clouds} clouds x {points} points x 20 B = {payload/1e6:.0f} MB payload "
 "(positions f32x3, colors u32, radii f32), official Python SDK `rr.GrpcSink` (LZ4) on 127.0.0.1, "
 "fresh receiver per round. done = sender start to the receiver's last file growth; CPU = receiver utime+stime.", "",
 "| receiver | median done (s) | payload MB/s | median receiver CPU (s) | CPU s per GB | file MB |",
 "| --- | --- | --- | --- | --- | --- |",
]
for w, name in (("spate", "spate serve --save"), ("official", "rerun --save")):
    lines.append(f"| {name} | {med(w,'done_s'):.2f} | {mbps(w):.0f} | {med(w,'cpu_s'):.2f} | "
                 f"{med(w,'cpu_s')/payload*1e9:.2f} | {med(w,'file_bytes')/1e6:.0f} |")
lines += ["", f"**Paired ratios (median over rounds): rerun --save takes {speed_ratio:.2f}x the time and "
          f"{cpu_ratio:.2f}x the CPU of spate serve.**", "",
          "Sender time (s, median): " + ", ".join(f"{w} {med_s:.2f}" for w, med_s in
          ((w, st.median(r['sender']['send_s'] for r in by[w])) for w in by)), "",
          "Raw rounds: " + os.path.basename(raw)]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
