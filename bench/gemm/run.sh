#!/usr/bin/env bash
# Builds bench/gemm/w2_gemm_bench.cc once per GEMM library found on this
# machine and runs the builds alternately, ROUNDS times, so every library
# sees the same background load (the machines here are shared).
# Usage: bench/gemm/run.sh [ROUNDS] [STEPS]; MKL_ROOT=<prefix of the mkl,
# mkl-include pip wheels> adds Intel MKL.
set -euo pipefail
rounds=${1:-5}
steps=${2:-200}
src=$(dirname "$0")/w2_gemm_bench.cc
out=${TMPDIR:-/tmp}/iak-gemm-bench
mkdir -p "$out"
cxx=(g++ -O2 -std=c++17 -march=native)
libs=()
build() {  # name, then compiler arguments
  local name=$1; shift
  if "${cxx[@]}" -DLIB_NAME="\"$name\"" "$src" -o "$out/$name" "$@" 2>"$out/$name.log"; then
    libs+=("$name")
  else
    echo "skipped $name (see $out/$name.log)"
  fi
}
build openblas -DUSE_CBLAS -DIAK_OPENBLAS -I/usr/include/x86_64-linux-gnu/openblas-pthread \
  -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas
build blis -DUSE_CBLAS -DIAK_BLIS -I/usr/include/x86_64-linux-gnu/blis-openmp \
  -L/usr/lib/x86_64-linux-gnu/blis-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/blis-openmp -lblis
build onednn -DUSE_DNNL -ldnnl
build libxsmm -DUSE_XSMM -I/usr/include/libxsmm -lxsmm -L/usr/lib/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread -ldl
if [ -n "${MKL_ROOT:-}" ]; then
  build mkl -DUSE_MKL -I"$MKL_ROOT/include" -L"$MKL_ROOT/lib" -Wl,-rpath,"$MKL_ROOT/lib" \
    -l:libmkl_intel_lp64.so.3 -l:libmkl_sequential.so.3 -l:libmkl_core.so.3 -lpthread -lm -ldl
fi
for r in $(seq "$rounds"); do
  for lib in "${libs[@]}"; do
    OMP_NUM_THREADS=1 "$out/$lib" "$steps"
  done
done
