# Shared by perf/file_sink.sh, perf/grpc_sink.sh and perf/small_rows.sh: sourced after they `cd` to the repo root
# and set ROOT. Each function sets or reads the caller's globals, as named below.

# official_python: VENV and PY = the venv with rerun-sdk 0.41.0 (installed if missing).
official_python() {
  VENV="${SPATE_RERUN_VENV:-$ROOT/.venv-rerun}"
  PY="$VENV/bin/python"
  if ! "$PY" -c 'import rerun; assert rerun.__version__ == "0.41.0"' 2>/dev/null; then
    scripts/rerun-tools.sh
  fi
}

# record_failure SIZE ROUND VARIANT LOAD: a failed run into $RUNS as {"error": the tail of
# $DIR/stderr} with its labels, and a FAILED line on stderr.
record_failure() {
  local size=$1 round=$2 variant=$3 load=$4
  printf '{"size":"%s","round":%d,"variant":"%s","load1":%s,"error":%s}\n' \
    "$size" "$round" "$variant" "$load" \
    "$("$PY" -c 'import json,sys;print(json.dumps(sys.stdin.read()[-400:]))' <"$DIR/stderr")" >>"$RUNS"
  echo "  $size round $round $variant FAILED: $(tail -c 300 "$DIR/stderr")" >&2
}

# machine_context: host, stamp, commit (marked when src/ has uncommitted changes), cpu, mem,
# rustc_v, sdk for the report.
machine_context() {
  host=$(hostname -s 2>/dev/null || hostname)
  stamp=$(date +%Y-%m-%d-%H%M)
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git status --porcelain -- src 2>/dev/null)" ]]; then commit="$commit (+ uncommitted changes in src/)"; fi
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
  rustc_v=$(rustc --version)
  sdk=$("$PY" -c 'import rerun;print("rerun-sdk", rerun.__version__)')
}

# runs_dir NAME: DIR = a new scratch folder under $workdir (removed at exit), RUNS = its empty
# runs.jsonl; started and load_start for the report.
runs_dir() {
  DIR=$(mktemp -d "$workdir/spate-perf-$1.XXXXXX")
  trap 'rm -rf "$DIR"' EXIT
  RUNS="$DIR/runs.jsonl"
  : >"$RUNS"
  clock_start
}

# clock_start / clock_end: started and load_start, then elapsed (s) and load_end.
clock_start() {
  started=$(date +%s)
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
}
clock_end() {
  elapsed=$(($(date +%s) - started))
  load_end=$(cut -d' ' -f1-3 /proc/loadavg)
}
