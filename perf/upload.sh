#!/usr/bin/env bash
# Upload throughput of spate::upload to moto (S3 API on loopback) and to a file:// store,
# against a raw file write of the same bytes in the same run (examples/perf_upload.rs).
#
#   perf/upload.sh [--total-mib 512] [--segment-mib 64] [--rounds 2] [--dir DIR]
#
# moto comes from the tools venv (scripts/rerun-tools.sh; $SPATE_RERUN_VENV or .venv-rerun).
# moto keeps objects in memory (Python): its rate is moto's, not S3's; it bounds what the
# uploader's own cost could be, and shows the per-segment overhead (multipart, head check).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SPATE_RERUN_VENV:-$PWD/.venv-rerun}"
DIR=/tmp/spate-perf-upload
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    *) ARGS+=("$1" "$2"); shift 2 ;;
  esac
done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >/tmp/spate-perf-moto.log 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
  sleep 0.1
done
curl -s -X PUT "http://127.0.0.1:$PORT/spate-perf" >/dev/null
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  AWS_ENDPOINT="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
cargo run --release --quiet --example perf_upload -- --dir "$DIR" "${ARGS[@]}" \
  --url "file://$DIR/store" --url "s3://spate-perf/runs"
