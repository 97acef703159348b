#!/usr/bin/env bash
# `make torch-check`: the PyTorch round trip (docs/python.md). Creates a venv
# (BUILD/torch-venv, from the interpreter the extension was built for) with
# CPU torch and safetensors, exports a job with `iak export --torch`, loads it
# with iakps.torch.load_model and compares its scores with `iak predict`'s;
# prints the largest absolute difference and fails above 1e-5.
#
# Usage: tools/torch_check.sh BUILD_DIR [JOB_SPEC]
#   JOB_SPEC: a finished adapter job (default: runs/demo/job.pbtxt when
#   `make demo` ran, else a small job pre-trained and fine-tuned here).
set -euo pipefail
build="$(cd "${1:?usage: tools/torch_check.sh BUILD_DIR [JOB_SPEC]}" && pwd)"
job="${2:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"
python="$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [ -z "$python" ] || ! ls "$build"/python/iakps/_iakps*.so >/dev/null 2>&1; then
  echo "torch-check: $build has no iakps extension (needs pybind11-dev; docs/python.md)" >&2
  exit 1
fi
venv="$build/torch-venv"
if ! "$venv/bin/python" -c "import torch, safetensors, numpy" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  # The CPU wheel index first (smaller); PyPI's torch where it is unreachable.
  "$venv/bin/pip" install -q --timeout 20 --retries 1 torch \
      --index-url https://download.pytorch.org/whl/cpu ||
    "$venv/bin/pip" install -q torch
  "$venv/bin/pip" install -q numpy safetensors
fi
if [ -z "$job" ] && [ -f "$root/runs/demo/job.pbtxt" ]; then job="$root/runs/demo/job.pbtxt"; fi
PYTHONPATH="$build/python" IAK_BINARY="$build/iak" \
  "$venv/bin/python" "$root/tests/python/torch_roundtrip.py" ${job:+"$job"}
