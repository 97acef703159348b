#!/usr/bin/env bash
# Checks that layers point one way (docs/architecture.md, "Layers"): every
# project include ("folder/file.h") of every C++/CUDA source under a top-level
# folder must name a folder that this folder may include, and third-party
# headers of the outside world (ZeroMQ, MPI, NCCL, CUDA, Gloo, RocksDB) may be
# included only by the folders that wrap them. Prints one line per violation
# (file:line, the include, what the folder may include) and exits 1 if there
# is any; exits 0 and prints a one-line summary otherwise.
#
# Usage: tools/check_layers.sh [--root DIR]   (default: the repository root)
#        tools/check_layers.sh --self-test    (plants violations in a scratch
#                                              tree and checks they are caught)
# ctest runs both (tests/CMakeLists.txt, label unit).
#
# To add a folder or a dependency, edit ALLOWED below and the table in
# docs/architecture.md together.
set -u -o pipefail

# Folder -> the project folders its sources may include (besides itself).
# Bottom to top; a folder may include only folders listed before it.
declare -A ALLOWED=(
  [common]=""
  [proto]=""
  [net]="common proto"
  [job]="common proto"
  [data]="common proto"
  [embedding]="common proto"
  [model]="common proto data"
  [cuda]="common proto data model"
  [collective]="common proto net cuda"
  [ps]="common proto net embedding"
  [scheduler]="common proto net collective ps"
  [worker]="common proto net collective cuda job data model embedding ps scheduler"
  [compare]="common proto job data model embedding worker"
  [cluster]="common proto net collective job data model embedding ps scheduler worker"
  [bench]="common proto net collective cuda job data model embedding ps scheduler worker cluster"
  [cli]="common proto net collective cuda job data model embedding ps scheduler worker compare cluster bench"
  # libFuzzer targets: harnesses over the decoders, like tests (any library).
  [fuzz]="common proto net collective cuda job data model embedding ps scheduler worker compare cluster"
)
# Top-level folders that hold no layered library code.
SKIP_DIRS=" tests tools docs datasets examples shared python "

# Outside-world headers (extended regex on the include's path) -> the folders
# that may include them. Everything else reaches them through these folders'
# interfaces (net::Transport, collective::Communicator, cuda/ statuses, ...).
declare -A SYSTEM_HEADERS=(
  ['^zmq\.h$']="net"
  ['^mpi\.h$']="collective"
  ['^nccl\.h$']="collective"
  ['^gloo/']="collective"
  ['^(cuda_runtime|cuda_runtime_api|cuda|cublas_v2|cublas)\.h$']="cuda collective bench"
  ['^rocksdb/']="embedding"
)

check_tree() {  # check_tree ROOT: prints violations, returns 1 if any
  local root="$1" violations=0 files=0 includes=0
  local dir name
  for dir in "$root"/*/; do
    name="$(basename "$dir")"
    case "$SKIP_DIRS" in *" $name "*) continue ;; esac
    case "$name" in build*) continue ;; esac
    # Only folders with sources are layers.
    if ! find "$dir" -type f \( -name '*.cc' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) \
         -print -quit | grep -q .; then
      continue
    fi
    if [ -z "${ALLOWED[$name]+set}" ]; then
      echo "check_layers: folder $name/ is not in the layer table of tools/check_layers.sh;" \
           "add it (and to docs/architecture.md) with the folders it may include"
      violations=$((violations + 1))
      continue
    fi
    local allowed=" ${ALLOWED[$name]} $name "
    local file line include target pattern
    while IFS= read -r file; do
      files=$((files + 1))
      while IFS=: read -r line include; do
        includes=$((includes + 1))
        if [[ "$include" == \"*/* ]]; then
          target="${include#\"}"
          target="${target%%/*}"
          # Only project folders are layered ("gtest/..." and friends are not).
          [ -n "${ALLOWED[$target]+set}" ] || continue
          case "$allowed" in
            *" $target "*) ;;
            *) echo "check_layers: ${file#"$root"/}:$line includes $include: $name/ may include" \
                    "only: ${ALLOWED[$name]:-nothing of the project}"
               violations=$((violations + 1)) ;;
          esac
        else
          target="${include#<}"
          target="${target#\"}"
          target="${target%>}"
          target="${target%\"}"
          for pattern in "${!SYSTEM_HEADERS[@]}"; do
            if [[ "$target" =~ $pattern ]]; then
              case " ${SYSTEM_HEADERS[$pattern]} " in
                *" $name "*) ;;
                *) echo "check_layers: ${file#"$root"/}:$line includes $include: only" \
                        "${SYSTEM_HEADERS[$pattern]} may include it"
                   violations=$((violations + 1)) ;;
              esac
            fi
          done
        fi
      done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$file" \
               | sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*([<"][^>"]+[>"]).*/\1:\2/')
    done < <(find "$dir" -type f \( -name '*.cc' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
  done
  if [ "$violations" -gt 0 ]; then
    echo "check_layers: $violations violation(s) in $files files; the layers and what each may" \
         "include: docs/architecture.md"
    return 1
  fi
  echo "check_layers: ok ($files files, $includes includes, ${#ALLOWED[@]} layers)"
  return 0
}

self_test() {
  local scratch
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/check_layers.XXXXXX")" || return 1
  trap 'rm -rf "$scratch"' RETURN
  mkdir -p "$scratch"/{common,ps,scheduler,cuda,collective,worker,tests}
  printf '#include "common/status.h"\n' > "$scratch/ps/ok.h"
  printf '#include "ps/ok.h"\n#include "collective/c.h"\n' > "$scratch/scheduler/ok.cc"
  printf '#include "gtest/gtest.h"\n#include "scheduler/x.h"\n' > "$scratch/tests/t.cc"
  printf '#include <vector>\n#include "common/status.h"\n' > "$scratch/common/status.h"
  if ! out="$(check_tree "$scratch")"; then
    echo "check_layers self-test: a clean tree was refused:"; echo "$out"; return 1
  fi
  # Planted: ps -> scheduler, cuda -> collective, mpi.h in worker, an unknown folder.
  printf '#include "ps/ok.h"\n#include "scheduler/scheduler_client.h"\n' > "$scratch/ps/bad.cc"
  printf '  #  include "collective/nccl_communicator.h"\n' > "$scratch/cuda/bad.cc"
  printf '#include <mpi.h>\n' > "$scratch/worker/bad.cc"
  mkdir -p "$scratch/newthing" && printf '#include "ps/ok.h"\n' > "$scratch/newthing/n.h"
  if out="$(check_tree "$scratch")"; then
    echo "check_layers self-test: planted violations passed:"; echo "$out"; return 1
  fi
  local expect
  for expect in 'ps/bad.cc:2 includes "scheduler/scheduler_client.h"' \
                'cuda/bad.cc:1 includes "collective/nccl_communicator.h"' \
                'worker/bad.cc:1 includes <mpi.h>' 'folder newthing/' '4 violation(s)'; do
    if ! grep -qF "$expect" <<<"$out"; then
      echo "check_layers self-test: expected '$expect' in:"; echo "$out"; return 1
    fi
  done
  echo "check_layers self-test: ok (a clean tree passes; 4 planted violations caught)"
}

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  --self-test) self_test; exit $? ;;
  --root) ROOT="${2:?--root needs a directory}" ;;
  "") ;;
  -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
  *) echo "check_layers.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
check_tree "$ROOT"
