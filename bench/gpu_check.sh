#!/usr/bin/env bash
# G1 (docs/benchmarks.md): the GPU check, one script, well under 8 minutes on
# a lent GPU machine. It
#   1. configures and builds the CUDA path (iak_cuda, iak_collective, cuda_test,
#      nccl_rendezvous_test, gpu_job_test, iak_gpu_bench) in its own build directory;
#   2. runs the GPU tests (ctest -L gpu: GPU step == CPU step, pooling,
#      NCCL all-reduce sums, and a whole job on GPU workers whose adapters
#      match the same job on the CPU within 1e-3 of their scale);
#   3. runs W2 through the Trainer on the GPU and on the CPU (`iak bench step
#      --step_gpu`, then without it: the code workers run) and the NCCL
#      all-reduce bandwidth check for the adapter's gradient size
#      (build/bench/iak_gpu_bench);
#   4. writes a short dated table (markdown) to the output directory, ready
#      to paste into docs/benchmarks.md.
#
# Usage: bench/gpu_check.sh [--dry-run] [--no-build] [--build-dir DIR] [--out DIR]
#   --dry-run    print the steps and check the tools; run nothing heavy
#   --no-build   reuse an existing build directory (e.g. one carried over)
#   --build-dir  default build-gpucheck
#   --out        default $OUT when set (device machines), else bench-results
# Exit status: 0 when every step passed; the table says which step failed.
set -u -o pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=build-gpucheck
OUT_DIR="${OUT:-bench-results}"
DRY_RUN=0
DO_BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --no-build) DO_BUILD=0 ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --out) OUT_DIR="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# Time limits per step (seconds): 270 + 90 + 120 = 8 minutes at most.
BUILD_LIMIT=270
TEST_LIMIT=90
BENCH_LIMIT=120
JOBS="$(nproc 2>/dev/null || echo 2)"
STAMP="$(date -u +%Y-%m-%dT%H:%MZ)"
DAY="$(date -u +%Y-%m-%d)"
TABLE="$OUT_DIR/gpu_check_$DAY.md"
LOG_DIR="$OUT_DIR/gpu_check_logs"
STATUS=0

run() {  # run LIMIT LOG CMD...: one step under `timeout`, output to LOG
  local limit="$1" log="$2"; shift 2
  echo "+ (limit ${limit}s) $*"
  if [ "$DRY_RUN" = 1 ]; then return 0; fi
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
}

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "gpu_check.sh: '$1' not found on PATH ($2)" >&2
    STATUS=1
  fi
}
need cmake "install it with tools/install_deps.sh"
need nvcc "the CUDA toolkit, normally /usr/local/cuda/bin"
need timeout "coreutils"
if command -v nvidia-smi >/dev/null 2>&1; then
  GPU="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
  NGPU="$(nvidia-smi -L | wc -l)"
else
  GPU="none visible (no nvidia-smi)"
  NGPU=0
fi
echo "gpu_check.sh: $STAMP, GPU: $GPU x $NGPU, $JOBS cores, build dir $BUILD_DIR, out $OUT_DIR"
[ "$STATUS" = 0 ] || exit 2
mkdir -p "$LOG_DIR"

build_result="skipped (--no-build)"
build_s=0
if [ "$DO_BUILD" = 1 ]; then
  t0=$(date +%s)
  if run "$BUILD_LIMIT" "$LOG_DIR/configure.log" \
        cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DIAK_WITH_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES=90 &&
     run "$BUILD_LIMIT" "$LOG_DIR/build.log" \
        cmake --build "$BUILD_DIR" -j "$JOBS" --target iak cuda_test nccl_rendezvous_test gpu_job_test iak_gpu_bench; then
    build_result="ok"
  else
    build_result="FAILED (see $LOG_DIR/configure.log, build.log)"
    STATUS=1
  fi
  build_s=$(( $(date +%s) - t0 ))
fi

test_result="not run"
if [ "$STATUS" = 0 ]; then
  if run "$TEST_LIMIT" "$LOG_DIR/ctest.log" \
        ctest --test-dir "$BUILD_DIR" -L gpu --output-on-failure; then
    test_result="ok"
  else
    test_result="FAILED (see $LOG_DIR/ctest.log)"
    STATUS=1
  fi
  if [ "$DRY_RUN" = 0 ]; then
    summary="$(grep -E 'tests passed|tests failed' "$LOG_DIR/ctest.log" | tail -1)"
    skipped="$(grep -c '(Skipped)' "$LOG_DIR/ctest.log" || true)"
    test_result="$test_result: $summary; $skipped skipped"
  fi
fi

bench_result="not run"
if [ -x "$BUILD_DIR/bench/iak_gpu_bench" ] || [ "$DRY_RUN" = 1 ]; then
  if run "$BENCH_LIMIT" "$LOG_DIR/bench_step_gpu.log" \
        "$BUILD_DIR/iak" bench step --source=local --step_gpu --step_repeats=3 &&
     run "$BENCH_LIMIT" "$LOG_DIR/bench_step_cpu.log" \
        "$BUILD_DIR/iak" bench step --source=local --step_repeats=3 &&
     run "$BENCH_LIMIT" "$LOG_DIR/bench_allreduce.log" \
        "$BUILD_DIR/bench/iak_gpu_bench" --repeats=5; then
    bench_result="ok"
  else
    bench_result="FAILED (see $LOG_DIR/bench_*.log)"
    STATUS=1
  fi
  [ "$DRY_RUN" = 1 ] || cat "$LOG_DIR"/bench_step_gpu.log "$LOG_DIR"/bench_step_cpu.log \
      "$LOG_DIR"/bench_allreduce.log >"$LOG_DIR/bench.log" 2>/dev/null
fi

if [ "$DRY_RUN" = 1 ]; then
  echo "dry run: nothing built or run; the table would go to $TABLE"
  exit 0
fi

{
  echo "### G1: GPU check, $STAMP"
  echo
  echo "Command: \`bench/gpu_check.sh\` (build: cmake --build $BUILD_DIR --target iak cuda_test nccl_rendezvous_test gpu_job_test iak_gpu_bench;"
  echo "tests: ctest -L gpu; figures: $BUILD_DIR/iak bench step --source=local [--step_gpu] --step_repeats=3, $BUILD_DIR/bench/iak_gpu_bench --repeats=5)"
  echo
  echo "| item | result |"
  echo "|---|---|"
  echo "| GPU | $GPU x $NGPU |"
  echo "| build (CUDA arch 90, $JOBS cores) | $build_result, ${build_s} s |"
  echo "| GPU tests | $test_result |"
  echo "| benchmarks | $bench_result |"
  echo
  echo '```'
  grep -v '^{' "$LOG_DIR/bench.log" 2>/dev/null | grep -v '^[IWE][0-9]' || true
  echo '```'
  echo
  echo "JSON:"
  grep '^{' "$LOG_DIR/bench.log" 2>/dev/null | sed 's/^/    /' || true
} >"$TABLE"
cat "$TABLE"
exit "$STATUS"
