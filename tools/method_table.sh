#!/usr/bin/env bash
# Every method through the cluster's trainer on two data sets, with and
# without validation-based selection: `iak compare --job` (one worker, the
# job's own phases and settings; bit-identical to a one-worker cluster job of
# the same spec, tests/cluster/compare_matches_cluster_test.cc).
#   MovieLens periods (the demo's job) and synthetic schema data with
#   conversions (ESMM base, CTR and CTCVR).
# Usage: tools/method_table.sh [BUILD_DIR] [RUN_DIR]; tables in RUN_DIR/*/compare/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
RUN="${2:-runs/method_table}"
IAK="$BUILD_DIR/iak"
mkdir -p "$RUN"
root=$(pwd)

# A job spec over `data`, with or without validation.
job() {  # name data_block validation_block
  cat > "$RUN/$1.pbtxt" <<SPEC
name: "$1"
model_dir: "$root/$RUN/model-${1%%-*}"
output_dir: "$root/$RUN/$1"
$2
iak { latent_dim: 16 encoder_hidden: 32 decoder_hidden: 32 }
phases { phase: PHASE_COMPRESSION steps: 600 beta: 0.001 learning_rate: 0.002 }
phases { phase: PHASE_MATCHING steps: 300 beta: 0.0001 learning_rate: 0.001 }
batch_size: 256
seed: 20250124
$3
SPEC
}

movielens='data { movielens_dir: "'$root'/datasets/ml-latest-small" period_bounds: [1996, 2004, 2008, 2012, 2016, 2019] pretrain_periods: 1 train_fraction: 0.8 validation_fraction: 0.1 }'
"$IAK" data synth --out="$RUN/synth.csv" --samples=300000 --keys=20000 --domains=12 --seed=1 \
  --domain_size_skew=3 > /dev/null
synth='data { schema_file: "'$root'/examples/synth.schema.pbtxt" input_files: "'$root/$RUN'/synth.csv" pretrain_periods: 1 }'

for data in movielens synth; do
  job "$data-validated" "${!data}" ""
  job "$data-last" "${!data}" "validation { disabled: true }"
  if [[ ! -d "$RUN/model-$data" ]]; then
    "$IAK" pretrain --job="$RUN/$data-validated.pbtxt" --key_dropout=0.3
  fi
  for mode in validated last; do
    "$IAK" compare --job="$RUN/$data-$mode.pbtxt" > "$RUN/$data-$mode.log" 2>&1
    echo "== $data, $mode: $RUN/$data-$mode/compare/results.md"
  done
done
