#!/usr/bin/env bash
# Issue 16 item 6: what one `spate serve` gateway takes in and ships out on this VM, against
# the floors, in ONE run (rounds interleave everything, so the VM's fast/slow regimes hit
# every variant alike):
#
#   floor-file   perf_file_sink raw: write(2) of the payload's bytes into a file (no fsync)
#   floor-grpc   perf_grpc_sink raw: bare tonic client -> bare tonic server (discarding), same
#                bytes in 4 MiB messages: the gRPC stack's limit on loopback
#   floor-client perf_grpc_sink inproc: one spate GrpcSink client -> an in-process receiver
#                that discards: the client side's limit (K = 1)
#   gateway      K perf_grpc_sink clients (spate Recording -> GrpcSink, point clouds of POINTS
#                points, 20 B/point) -> `spate serve --save DIR/run.rrd --rotate-bytes ROTATE`
#                with   save: no upload
#                       file: --upload file:///STORE
#                       s3:   --upload s3://spate-perf/fleet against moto (a fresh moto_server
#                             from the tools venv per run, started outside the clock)
#
# Clock of a gateway run (script wall clock): t0 = clients launched (the gateway is already
# listening); t1 = the last client exited (its Recording::shutdown got the gateway's
# WriteMessagesResponse: everything was received); then SIGTERM; t2 = the gateway exited
# (last file finished and, with --upload, every file uploaded: spool drained).
#   ingest MB/s = payload / (t1 - t0)   drain s = t2 - t1   landed MB/s = file bytes / (t2 - t0)
# CPU: the gateway's utime+stime (/proc/PID/stat, polled every 0.1 s until it exits), moto's
# (read before it is killed), the clients' own cpu_seconds (timed region); shown as % of one
# core over the wall time. disk MB = sectors written to the root block device over the run
# (/proc/diskstats): page-cache writes reach the disk later, so this is what writeback did.
#
# usage: perf/fleet.sh [--rounds 3] [--total 1GB] [--points 200000] [--clients "1 4"]
#                      [--rotate 256MiB] [--targets "save file s3"] [--dir TMPDIR]
# output: perf/results/<date>-<host>-fleet.md (+ the raw runs as JSON lines at its end)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

rounds=3; total=1000000000; points=200000; clients="1 4"; rotate=256MiB
targets="save file s3"; workdir="${TMPDIR:-/tmp}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift ;;
    --total) total=$(numfmt --from=auto "${2%B}"); shift ;;
    --points) points="$2"; shift ;;
    --clients) clients="$2"; shift ;;
    --rotate) rotate="$2"; shift ;;
    --targets) targets="$2"; shift ;;
    --dir) workdir="$2"; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=perf/lib.sh
source perf/lib.sh
official_python
MOTO_BIN="$VENV/bin/moto_server"
[[ -x $MOTO_BIN ]] || { echo "no moto_server in $VENV (run scripts/rerun-tools.sh)" >&2; exit 1; }

echo "building (release) ..." >&2
cargo build --release --quiet --bin spate --example perf_grpc_sink --example perf_file_sink >&2
T="${CARGO_TARGET_DIR:-$ROOT/target}/release"
SPATE="$T/spate"; GRPC="$T/examples/perf_grpc_sink"; FILE="$T/examples/perf_file_sink"

machine_context
runs_dir fleet
TCK=$(getconf CLK_TCK)
DEV=$(lsblk -no pkname "$(findmnt -no source "$workdir" 2>/dev/null || findmnt -no source /)" 2>/dev/null | head -1)
DEV=${DEV:-$(awk '$3 ~ /^(vd|sd|nvme)[a-z0-9]*$/ && $3 !~ /p?[0-9]$/ {print $3; exit}' /proc/diskstats)}
SERVE_PID=""; MOTO_PID=""
cleanup() {
  [[ -n $SERVE_PID ]] && kill -TERM "$SERVE_PID" 2>/dev/null || true
  [[ -n $MOTO_PID ]] && kill "$MOTO_PID" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
cpu_s() { awk -v t="$TCK" '{print ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null || echo ""; }
now() { date +%s.%N; }
disk_mb() { awk -v d="$DEV" '$3==d {print $10*512/1e6}' /proc/diskstats; }
load1() { cut -d' ' -f1 /proc/loadavg; }
emit() { echo "$1" >>"$RUNS"; echo "  $1" >&2; }

per_client_clouds() { echo $(( total / ($1 * points * 20) )); }

floors() { # $1 = round
  local r=$1 j
  j=$("$FILE" raw --bytes "$total" --out "$DIR/raw.bin")
  rm -f "$DIR/raw.bin"
  emit "{\"round\":$r,\"variant\":\"floor-file\",\"k\":0,\"load1\":$(load1),\"run\":$j}"
  j=$("$GRPC" raw --bytes "$total")
  emit "{\"round\":$r,\"variant\":\"floor-grpc\",\"k\":0,\"load1\":$(load1),\"run\":$j}"
  j=$("$GRPC" inproc --points "$points" --clouds "$(per_client_clouds 1)")
  emit "{\"round\":$r,\"variant\":\"floor-client\",\"k\":1,\"load1\":$(load1),\"run\":$j}"
}

start_moto() {
  local port; port=$(free_port)
  "$MOTO_BIN" -H 127.0.0.1 -p "$port" >"$DIR/moto.log" 2>&1 & MOTO_PID=$!
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  curl -sf -X PUT "http://127.0.0.1:$port/spate-perf" >/dev/null
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true
}

gateway() { # $1 = round, $2 = target (save|file|s3), $3 = K clients
  local r=$1 target=$2 k=$3 port spool="$DIR/spool" store="$DIR/store" up=()
  rm -rf "$spool" "$store"; mkdir -p "$spool" "$store"
  case $target in
    file) up=(--upload "file://$store") ;;
    s3) start_moto; up=(--upload "s3://spate-perf/fleet") ;;
  esac
  port=$(free_port)
  "$SPATE" serve --bind 127.0.0.1 --port "$port" --save "$spool/run.rrd" --rotate-bytes "$rotate" \
    --shutdown-timeout 600s "${up[@]}" 2>"$DIR/serve.log" & SERVE_PID=$!
  wait_port "$port"
  local clouds t0 t1 t2 d0 d1 d2 cpu_moto0=0 cpu_moto=0 cpu1 cpu last spool1 i pids=()
  clouds=$(per_client_clouds "$k")
  [[ -n $MOTO_PID ]] && cpu_moto0=$(cpu_s "$MOTO_PID")
  d0=$(disk_mb); t0=$(now)
  for i in $(seq "$k"); do
    ( "$GRPC" official "rerun+http://127.0.0.1:$port/proxy" --points "$points" --clouds "$clouds" \
        >"$DIR/client-$i.json" 2>"$DIR/client-$i.err"; now >"$DIR/client-$i.end" ) & pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  t1=$(now); d1=$(disk_mb); cpu1=$(cpu_s "$SERVE_PID")
  spool1=$(du -sb "$spool" | cut -f1)
  kill -TERM "$SERVE_PID"
  cpu=$cpu1
  while last=$(cpu_s "$SERVE_PID") && [[ -n $last ]] && kill -0 "$SERVE_PID" 2>/dev/null; do
    cpu=$last; sleep 0.1
  done
  local rc=0; wait "$SERVE_PID" || rc=$?
  t2=$(now); d2=$(disk_mb); SERVE_PID=""
  if [[ -n $MOTO_PID ]]; then
    cpu_moto=$("$PY" -c "print(round(float('$(cpu_s "$MOTO_PID")') - $cpu_moto0, 2))")
    kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true; MOTO_PID=""
  fi
  local clients_json file_bytes uploaded
  clients_json=$("$PY" - "$DIR" "$k" <<'PY'
import json, sys
d, k = sys.argv[1], int(sys.argv[2])
out = []
for i in range(1, k + 1):
    try:
        j = json.loads(open(f"{d}/client-{i}.json").read().strip().splitlines()[-1])
        j["end"] = float(open(f"{d}/client-{i}.end").read())
    except Exception as e:  # noqa: BLE001
        j = {"error": repr(e) + open(f"{d}/client-{i}.err").read()[-300:]}
    out.append(j)
print(json.dumps(out))
PY
)
  case $target in
    save) file_bytes=$(du -sb --apparent-size "$spool" | cut -f1) ;;
    file) file_bytes=$(find "$store" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}') ;;
    s3) file_bytes=$(sed -n 's/.*upload: [0-9]* segments (\([0-9]*\) bytes.*/\1/p' "$DIR/serve.log" | tail -1) ;;
  esac
  uploaded=$( (grep -o "upload: .*" "$DIR/serve.log" || true) | head -1 | "$PY" -c 'import json,sys;print(json.dumps(sys.stdin.read().strip()))')
  emit "$(printf '{"round":%d,"variant":"%s","k":%d,"load1":%s,"t_ingest":%s,"t_drain":%s,"serve_cpu_ingest":%s,"serve_cpu":%s,"moto_cpu":%s,"disk_mb_ingest":%s,"disk_mb":%s,"spool_at_stop":%s,"file_bytes":%s,"rc":%d,"upload":%s,"clients":%s}' \
    "$r" "$target" "$k" "$(load1)" \
    "$(awk -v a="$t1" -v b="$t0" 'BEGIN{print a-b}')" "$(awk -v a="$t2" -v b="$t1" 'BEGIN{print a-b}')" \
    "${cpu1:-0}" "${cpu:-0}" "$cpu_moto" \
    "$(awk -v a="$d1" -v b="$d0" 'BEGIN{print a-b}')" "$(awk -v a="$d2" -v b="$d0" 'BEGIN{print a-b}')" \
    "$spool1" "${file_bytes:-0}" "$rc" "$uploaded" "$clients_json")"
  if [[ $rc != 0 ]]; then echo "  gateway exited $rc: $(tail -c 600 "$DIR/serve.log")" >&2; fi
  rm -rf "$spool" "$store"
}

echo "fleet: $rounds rounds, $total B per run, clouds of $points points, K in {$clients}, targets {$targets}, rotate $rotate, disk $DEV" >&2
for r in $(seq "$rounds"); do
  echo "round $r" >&2
  floors "$r"
  for k in $clients; do
    for target in $targets; do gateway "$r" "$target" "$k"; done
  done
done
clock_end

OUT="perf/results/$stamp-$host-fleet.md"
mkdir -p perf/results
"$PY" perf/fleet_report.py "$RUNS" "$OUT" \
  "$host" "$stamp" "$commit" "$cpu" "$mem" "$rustc_v" "$rounds" "$total" "$points" "$rotate" \
  "$load_start" "$load_end" "$elapsed" "$(uname -r)" "$DEV"
cat "$OUT"
