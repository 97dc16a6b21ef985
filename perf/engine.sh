#!/usr/bin/env bash
# The engine's small-row numbers, paired in one run (issue: small rows at ring speed):
#   - `log()` against its floor, a bare rtrb push of a row of the same size to a thread that
#     consumes it (interleaved rounds, medians, ratio);
#   - one-point rows/s end to end with 1 and 2 producers, 1k-point rows in GB/s, clouds;
# all into a null sink, so the engine itself is measured. Writes
# perf/results/STAMP-HOST-engine.md. Usage: perf/engine.sh [criterion filter]
set -euo pipefail
cd "$(dirname "$0")/.."
filter="${1:-engine/}"
stamp=$(date +%Y-%m-%d-%H%M)
host=$(hostname -s 2>/dev/null || hostname)
# Only this run's benchmarks go into the report (criterion keeps older ones beside them).
rm -rf target/criterion/log_vs_floor.json target/criterion/engine_*
cargo bench --bench engine -- "$filter" 2>&1 | tee "target/engine-bench.log"
out="perf/results/$stamp-vm-engine.md"
python3 perf/engine_report.py target/criterion "$out" "$host" "$(git rev-parse --short HEAD)" \
  "$(cat /proc/loadavg | cut -d' ' -f1-3)"
echo "wrote $out"
