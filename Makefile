# IAK-PS: `make demo` and `make test` do everything on a fresh Debian 12
# machine (as root): install dependencies, build, run.
BUILD_DIR ?= build
JOBS ?= 2
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

.PHONY: all deps build demo test stress clean results fuzz fuzz-smoke bench-peer torch-check python-install

all: build

deps:
	@bash tools/install_deps.sh

$(BUILD_DIR)/Makefile:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j$(JOBS)

demo: build
	$(BUILD_DIR)/iak demo

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600

# The non-GPU tests STRESS_REPEAT times each, STRESS_JOBS at once (more than
# the cores): races show up here before they flake in CI. STRESS_ARGS go to
# ctest, e.g. make stress STRESS_ARGS='-R scheduler_test' STRESS_REPEAT=20.
STRESS_REPEAT ?= 3
STRESS_JOBS ?= 6
STRESS_ARGS ?=
stress: build
	REPEAT=$(STRESS_REPEAT) JOBS=$(STRESS_JOBS) bash tools/stress.sh $(BUILD_DIR) $(STRESS_ARGS)

# docs/results.md + docs/results.json: every method with 10 seeds and 95 % intervals on three
# data families (MovieLens periods, MovieLens genres of known users, synthetic two-task data).
results: build
	bash tools/make_results.sh $(BUILD_DIR)

# libFuzzer targets (docs/fuzzing.md): a separate clang build in build-fuzz.
# `make fuzz` runs each target FUZZ_SECONDS (default 600) or FUZZ_RUNS
# executions, one after another; `make fuzz-smoke` runs each on its seed
# corpus only (a few seconds in all, for CI).
FUZZ_SECONDS ?= 600
FUZZ_RUNS ?=
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) JOBS=$(JOBS) bash tools/fuzz.sh run $(FUZZ_TARGETS)

fuzz-smoke: deps
	JOBS=$(JOBS) bash tools/fuzz.sh smoke $(FUZZ_TARGETS)

# W2 against PyTorch 2 in one run (docs/benchmarks.md): ours and the PyTorch
# peer (bench/peers/w2_step_torch.py) alternate; skipped with a message when
# PEER_PYTHON has no torch (`python3 -m venv v && v/bin/pip install torch`).
PEER_PYTHON ?= python3
bench-peer: build
	$(BUILD_DIR)/iak bench step --peer --peer_python=$(PEER_PYTHON)
	$(BUILD_DIR)/iak bench step --peer --peer_python=$(PEER_PYTHON) --step_bf16

# The iakps Python package into the python3 on PATH (docs/python.md), and the
# PyTorch round trip: a venv in $(BUILD_DIR)/torch-venv with CPU torch, a job
# exported with `iak export --torch` scored in PyTorch against `iak predict`
# (TORCH_JOB: a finished job's spec; default runs/demo if `make demo` ran,
# else a small job made on the spot).
TORCH_JOB ?=
python-install: build
	python3 -m pip install ./python

torch-check: build
	bash tools/torch_check.sh $(BUILD_DIR) $(TORCH_JOB)

clean:
	rm -rf $(BUILD_DIR)
