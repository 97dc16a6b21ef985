#!/usr/bin/env bash
# Seeds fuzz/corpus/{decode_rrd,decode_ipc} with small valid, compressed and truncated files.
# Usage: fuzz/seed.sh   (from anywhere; needs cargo and python3)
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=${FIXTURES:-../shared/fixtures/rerun-0.41}
out=fuzz/corpus/decode_rrd
mkdir -p "$out" fuzz/corpus/decode_ipc

install -m 644 "$fixtures"/*.rrd "$out"/
points() { cargo run -q --example points -- --out "$out/$1.rrd" "${@:2}"; }
points p1x1          --points 1  --frames 1 --entities 1
points p10x3e2       --points 10 --frames 3 --entities 2
points p10x3e2_lz4   --points 10 --frames 3 --entities 2 --lz4
points p100x2_lz4    --points 100 --frames 2 --entities 1 --lz4
# A crashed writer: cut inside the last message, and inside the footer.
head -c 700 "$out/p10x3e2.rrd" > "$out/p10x3e2_cut700.rrd"
size=$(wc -c < "$out/p10x3e2_lz4.rrd")
head -c $((size - 10)) "$out/p10x3e2_lz4.rrd" > "$out/p10x3e2_lz4_cut_footer.rrd"

# decode_ipc takes one mode byte + a raw Arrow IPC stream: extract them from the files above.
python3 fuzz/extract_ipc.py fuzz/corpus/decode_ipc "$out"/*.rrd
echo "corpus: $(ls "$out" | wc -l) decode_rrd seeds, $(ls fuzz/corpus/decode_ipc | wc -l) decode_ipc seeds"
