#!/usr/bin/env bash
# Runs the non-GPU tests again and again, more at once than the machine has
# cores, so that races a quiet machine hides show up: a test that passes here
# N times in a row under load does not depend on timing luck.
#
# Usage: tools/stress.sh [BUILD_DIR] [extra ctest arguments, e.g. -R scheduler_test]
#   REPEAT  runs of each test, stopping at its first failure (default 3)
#   JOBS    tests at once (default 6: beyond the core count of a small box)
# Needs a built tree (make build). The failures' output is printed; ctest's
# own log is in BUILD_DIR/Testing/Temporary/LastTest.log.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
shift || true
REPEAT="${REPEAT:-3}"
JOBS="${JOBS:-6}"
if [[ ! -f "$BUILD_DIR/CTestTestfile.cmake" ]]; then
  echo "stress: no tests in $BUILD_DIR; build first (make build)" >&2
  exit 1
fi
echo "stress: ctest -j$JOBS --repeat until-fail:$REPEAT -LE gpu $* ($(nproc) cores)"
start=$(date +%s)
status=0
(cd "$BUILD_DIR" && ctest -j"$JOBS" --repeat until-fail:"$REPEAT" -LE gpu \
  --output-on-failure "$@") || status=$?
echo "stress: $([[ $status -eq 0 ]] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
exit "$status"
