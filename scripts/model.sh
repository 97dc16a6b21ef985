#!/usr/bin/env bash
# Runs the engine's model-based test (tests/engine/model.rs) for as long as asked:
#   scripts/model.sh [MINUTES] [FIRST_SEED]      (default: 10 minutes, a seed from the clock)
# A failure prints the seed that reproduces it:
#   SPATE_MODEL_SEED=<seed> SPATE_MODEL_CASES=1 cargo test --release --test engine model
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
seed="${2:-$(date +%s)}"
echo "model test: ${minutes} min from seed ${seed} (release build)"
SPATE_MODEL_SECONDS=$((minutes * 60)) SPATE_MODEL_SEED="$seed" \
    cargo test --release --test engine model -- --nocapture
