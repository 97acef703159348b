#!/usr/bin/env bash
# Installs IAK-PS's build and test dependencies from Debian 12's archive when
# any is missing. Needs root (or sudo) only when something must be installed.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libzmq3-dev cppzmq-dev
  librocksdb-dev
  libprotobuf-dev protobuf-compiler
  libgflags-dev libgoogle-glog-dev
  libgtest-dev libgmock-dev
  libzstd-dev       # zstd-compressed blocks of the binary data shards (docs/data.md)
  libopenmpi-dev openmpi-bin
  libopenblas-dev
  libdnnl-dev       # oneDNN: -DIAK_BLAS=onednn and the bf16 frozen bottom (docs/benchmarks.md)
  slurm-wlm munge   # the Slurm launcher and its test (a single-node cluster)
  gnuplot-nox       # the run report's plots
  libgloo-dev       # the Gloo communicator of elastic jobs (optional in CMake)
  iproute2          # network-namespace tests (ip netns)
  clang libclang-rt-14-dev  # `make fuzz`: libFuzzer, ASan, UBSan (docs/fuzzing.md)
  pybind11-dev python3-dev python3-pip python3-venv  # the iakps Python package (docs/python.md)
)

# The Python tests' packages (tests/python, docs/python.md), from PyPI for the
# python3 first on PATH (the one CMake builds the extension for). Debian marks
# its own python3 externally managed; CI machines are disposable, so pip may
# install next to it. Without them the Python tests skip with a message.
python_packages() {
  command -v python3 >/dev/null || return 0
  python3 -c "import numpy, safetensors" 2>/dev/null && return 0
  echo "Installing Python packages: numpy safetensors"
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -q numpy safetensors ||
    echo "warning: could not pip install numpy safetensors; the Python tests will skip" >&2
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  python_packages
  exit 0
fi

echo "Installing missing packages: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
python_packages
