#!/usr/bin/env bash
# One command: spate against the machine's raw limits and the official Rerun SDK, side by side.
#
#   perf/run.sh [--quick] [--repeats N] [--only SUBSTRING]
#
# Builds the release binaries, installs the official tools into .venv-rerun if missing
# (scripts/rerun-tools.sh), then runs perf/run.py (see its docstring for what is measured and
# how): raw limits (memcpy, file write, tonic loopback), every perf/scenarios/*.toml through
# `spate check --scenario` and the same workload through the official Python SDK, 5 rounds.
# Writes perf/results/<date>-<host>.md and .svg. Full run: under 15 minutes on 2 cores;
# --quick (4 workloads, shorter runs): under 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "building (release) ..." >&2
cargo build --release --bin spate --example perf_memcpy --example perf_file_sink \
  --example perf_grpc_sink >&2
VENV="${SPATE_RERUN_VENV:-$PWD/.venv-rerun}"
if ! "$VENV/bin/python" -c 'import rerun; assert rerun.__version__ == "0.41.0"' 2>/dev/null; then
  scripts/rerun-tools.sh
fi
"$VENV/bin/rerun" analytics disable >/dev/null 2>&1 || true
exec "$VENV/bin/python" perf/run.py "$@"
