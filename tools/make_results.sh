#!/usr/bin/env bash
# Regenerates docs/results.md and docs/results.json: every fine-tuning method
# on the MovieLens ml-latest-small periods and on synthetic multi-domain data
# (iak compare --compare_all). Usage: tools/make_results.sh [BUILD_DIR]
# (default: build). Extra iak compare flags can follow the build dir.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
shift || true
if [[ ! -x "$BUILD_DIR/iak" ]]; then
  echo "make_results: $BUILD_DIR/iak not found; build it first (make build)" >&2
  exit 1
fi
if [[ ! -f datasets/ml-latest-small/ratings.csv ]]; then
  echo "make_results: datasets/ml-latest-small/ratings.csv not found" >&2
  exit 1
fi
start=$(date +%s)
# Key dropout 0.3 for the base: the rate the validation sweep chose
# (--compare_dropout_sweep=0,0.1,0.2,0.3,0.5, docs/results.md history).
# Batch rule n_ref = largest domain, B_min = 16: what the fixed-vs-dynamic
# grid's small-domain validation AUC picked (plain + IAK, 3 seeds, synthetic).
"$BUILD_DIR/iak" compare --compare_all \
  --compare_key_dropout=0.3 \
  --compare_batch_reference=largest --compare_min_batch=16 \
  --compare_run_dir=runs/results \
  --compare_markdown=docs/results.md \
  --compare_json=docs/results.json --compare_synth_samples=300000 "$@"
echo "make_results: docs/results.md and docs/results.json regenerated in $(( $(date +%s) - start )) s"
