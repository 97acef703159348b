#!/usr/bin/env bash
# Runs the libFuzzer targets (docs/fuzzing.md), one at a time.
#   tools/fuzz.sh smoke            each target on its seed corpus only (seconds)
#   tools/fuzz.sh run [TARGET...]  each target for FUZZ_SECONDS (default 600) or
#                                  FUZZ_RUNS executions (default: no limit)
# Builds build-fuzz (clang, -DIAK_FUZZ=ON) first. New inputs go to
# build-fuzz/corpus/<target>/ (fuzz/corpus/ holds the committed seeds);
# crashes to build-fuzz/findings/<target>/. Prints one line per target:
#   <target> <executions> <seconds> <ok|CRASH>
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
mode=${1:-smoke}
shift || true

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DIAK_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j"$JOBS" --target iak_fuzz >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then read -r -a targets < <(tr ";" " " < "$BUILD/fuzz_targets.txt") || true; fi

status=0
for t in "${targets[@]}"; do
  bin="$BUILD/fuzz/fuzz_$t"
  seeds="fuzz/corpus/$t"
  log="$BUILD/fuzz_$t.log"
  start=$(date +%s)
  if [ "$mode" = smoke ]; then
    # Every seed once: the decoders take valid input without a finding.
    if "$bin" -runs=0 "$seeds" >"$log" 2>&1; then result=ok; else result=CRASH; status=1; fi
    runs=$(ls "$seeds" | wc -l)
  else
    mkdir -p "$BUILD/corpus/$t" "$BUILD/findings/$t"
    args=(-max_total_time="${FUZZ_SECONDS:-600}" -timeout=10 -rss_limit_mb=4096
          -artifact_prefix="$BUILD/findings/$t/" -print_final_stats=1)
    [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
    if "$bin" "${args[@]}" "$BUILD/corpus/$t" "$seeds" >"$log" 2>&1; then
      result=ok
    else
      result=CRASH
      status=1
    fi
    runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  fi
  echo "$t $runs $(( $(date +%s) - start )) $result"
done
exit $status
