#!/usr/bin/env bash
# Every method (and the IAK configurations of iak_variants) through the
# cluster's trainer on two data sets, with and without validation-based
# selection: `iak compare --job` (one worker, the
# job's own phases and settings; bit-identical to a one-worker cluster job of
# the same spec, tests/cluster/compare_matches_cluster_test.cc).
#   MovieLens periods (the demo's job) and synthetic schema data with
#   conversions (ESMM base, CTR and CTCVR); specs from tools/method_jobs.sh.
# Usage: tools/method_table.sh [BUILD_DIR] [RUN_DIR]; tables in RUN_DIR/*/compare/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
RUN="${2:-runs/method_table}"
IAK="$BUILD_DIR/iak"
mkdir -p "$RUN"
root=$(pwd)
source tools/method_jobs.sh

for data in movielens synth; do
  block=$(method_data "$data")
  method_job "$data-validated" "$block" ""
  method_job "$data-last" "$block" "validation { disabled: true }"
  if [[ ! -d "$RUN/model-$data" ]]; then
    "$IAK" pretrain --job="$RUN/$data-validated.pbtxt" --key_dropout=0.3
  fi
  for mode in validated last; do
    "$IAK" compare --job="$RUN/$data-$mode.pbtxt" --compare_variants="$(iak_variants "$data")" \
      > "$RUN/$data-$mode.log" 2>&1
    echo "== $data, $mode: $RUN/$data-$mode/compare/results.md"
  done
done
