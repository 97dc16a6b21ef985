#!/usr/bin/env bash
# spate's Python package against the official Python SDK (rerun-sdk 0.41.0), side by side in
# one run (issue 15, point 6): the same script (perf/official_sdk.py, `import spate as rr`
# or `import rerun as rr`) on the workloads of perf/run.py, with `spate check` and the raw
# limits beside them for reference.
#
#   perf/python.sh [--quick] [--rounds R] [--duration S] [--only SUBSTRING]
#                  [--workloads a,b,...] [--verify-rounds V] [--no-build] [--dir DIR]
#
#   workloads  100k- and 1M-point clouds x {file, grpc, tee} x {1, 2} producers and one-point
#              rows x {file, grpc} x {1, 2} producers (perf/scenarios/*.toml); --quick: 5 of
#              them (file-100k-1p, grpc-100k-1p, tee-1M-1p, file-rows-1p, grpc-rows-1p)
#   rounds     R (default 4; --quick 3), workloads shuffled per round, each workload's three
#              variants (spate-py, official, spate-rust) back to back in shuffled order;
#              S seconds of logging per run (default 1; --quick 0.5)
#   checks     spate-py: every sink delivered every row logged (stats() after disconnect());
#              the files of both Python sides in the first V rounds (default 1): `rerun rrd
#              verify` and rerun.chunk.RrdReader rows = calls. A failed check drops the run.
#
# Builds the package into .venv-spate-py (maturin develop -r; made if missing) and the
# release `spate`, perf_file_sink and perf_grpc_sink, unless --no-build. gRPC goes to the
# official server (`rerun --serve-grpc`) perf/run.py starts. Writes
# perf/results/<date>-<host>-python.md (machine, commit, the table of medians and paired
# ratios against the targets: clouds ≥ 5×, one-point rows ≥ 20× the SDK, the checks, every
# run's JSON line), and the per-call cost of the one-point path piece by piece on both sides
# (perf/python_calls.py, twice each, alternating). Full: about 13 minutes on 2 cores once built; --quick: about 2.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

quick=0
build=1
workdir="${TMPDIR:-/tmp}"
pass=()
rounds=""
duration=""
verify_rounds=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1; pass+=(--quick) ;;
    --rounds) rounds="$2"; shift ;;
    --duration) duration="$2"; shift ;;
    --only) pass+=(--only "$2"); shift ;;
    --workloads) pass+=(--workloads "$2"); shift ;;
    --verify-rounds) verify_rounds="$2"; shift ;;
    --no-build) build=0 ;;
    --dir) workdir="$2"; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $quick == 1 ]]; then
  rounds="${rounds:-3}"; duration="${duration:-0.5}"
else
  rounds="${rounds:-4}"; duration="${duration:-1}"
fi

# shellcheck source=perf/lib.sh
source perf/lib.sh
official_python
"$VENV/bin/rerun" analytics disable >/dev/null 2>&1 || true

SPATE_VENV="${SPATE_PY_VENV:-$ROOT/.venv-spate-py}"
if [[ $build == 1 ]]; then
  if [[ ! -x "$SPATE_VENV/bin/python" ]]; then
    python3 -m venv "$SPATE_VENV"
    "$SPATE_VENV/bin/pip" install -q "numpy>=1.23" maturin
  fi
  echo "building the Python package (release) into $SPATE_VENV ..." >&2
  VIRTUAL_ENV="$SPATE_VENV" "$SPATE_VENV/bin/maturin" develop -q -r -m python/Cargo.toml >&2
  echo "building spate, perf_file_sink, perf_grpc_sink (release) ..." >&2
  cargo build --release --bin spate --example perf_file_sink --example perf_grpc_sink >&2
fi
export SPATE_PY_VENV="$SPATE_VENV"
SPATE_PY_VERSION=$("$SPATE_VENV/bin/python" -c 'import spate; print(spate.__version__)')

runs_dir python
# The runs outlive a failed report: kept in $TMPDIR/spate-perf-python-last/ (then
# `perf/python.py --report .../runs.jsonl --out FILE` with the same environment).
keep="${TMPDIR:-/tmp}/spate-perf-python-last"
trap 'rm -rf "$keep"; mkdir -p "$keep"; cp "$DIR"/*.jsonl "$keep"/ 2>/dev/null; rm -rf "$DIR"' EXIT
"$PY" perf/python.py --runs "$RUNS" --rounds "$rounds" --duration "$duration" \
  --verify-rounds "$verify_rounds" "${pass[@]}"
# The one-point path piece by piece (perf/python_calls.py), both sides, alternating twice.
CALLS="$DIR/calls.jsonl"
: >"$CALLS"
echo "== per-call cost of the one-point path" >&2
for pass_ in 1 2; do
  for side in spate official; do
    if [[ $side == spate ]]; then py="$SPATE_VENV/bin/python"; else py="$PY"; fi
    "$py" perf/python_calls.py --sdk "$side" --pass "$pass_" >>"$CALLS" ||
      echo "  python_calls.py --sdk $side FAILED" >&2
  done
done
clock_end

machine_context
mkdir -p perf/results
suffix=""
if [[ $quick == 1 ]]; then suffix="-quick"; fi
REPORT="perf/results/${stamp}-${host}-python${suffix}.md"
PY_VERSION=$("$PY" -c 'import platform; print(platform.python_version())')
export host commit cpu mem rustc_v sdk elapsed load_start load_end SPATE_PY_VERSION PY_VERSION
export QUICK=$quick DURATION=$duration VERIFY_ROUNDS=$verify_rounds CALLS
export KERNEL="$(uname -srm)" NPROC="$(nproc)" WHEN="$(date -Is)"
"$PY" perf/python.py --report "$RUNS" --out "$REPORT"
