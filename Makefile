# RAO-Bench: each target bootstraps .venv (and reinstalls when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
WORKERS ?= 2
# one BLAS/OpenMP thread per process: parallelism is by processes (bench/__init__.py says why)
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: leaderboard learners test test-all bench lock clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# [benchmarl] so that the TorchRL/BenchMARL adapter tests run, not skip (~150 MB; docs/learners.md)
	$(BIN)/python -m pip install -q -e ".[dev,marl,benchmarl]"
	@rm -f $(VENV)/.installed-*; touch $@

## leaderboard: evaluate every reference baseline on every task (full protocol), rebuild leaderboard/
leaderboard: $(STAMP)
	$(BIN)/rao-bench baselines --workers $(WORKERS)
	$(BIN)/rao-bench leaderboard

## learners: train every reference MARL learner RUNS times on the newest tasks (rao-bench train,
## validated, plateau-stopped), evaluate each run and merge the runs into one entry per pair
## (scripts/train_learners.py; resumes where it stopped). Measured 2026-12-08 on the shared 2-core
## machine at load 2-4 with one BLAS thread per process, per run (train + full-protocol evaluation):
## IEEE33-v2 0.7-0.9 min, Interference-v2 1.5-3, EdgeCluster-v2 1.4-3.5, Serial-v2 1.4-2.4,
## SimBenchMV-v1 3-5, ThreeTier-v2 4.5-7; so 5 runs of all 18 pairs take about 4 hours of one
## core, 2-2.5 hours with 2 jobs. Then `make leaderboard` rebuilds the tables
RUNS ?= 5
learners: $(STAMP)
	$(BIN)/python scripts/train_learners.py --jobs $(WORKERS) --runs $(RUNS)
	$(BIN)/rao-bench leaderboard

## test: the default test suite (what CI runs)
test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

## test-all: also the slow suites
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "not benchmark_suite"

## bench: the pytest-benchmark speed suite (not part of the default run; ~25 min on 2 cores, most
## of it the full reference sweep with 1 and 2 workers — BENCH_ARGS="-k 'not sweep'" skips it);
## figures and extra_info go to $(BENCH_JSON) (docs/performance.md). The peers run in their own
## venv (.venv-peer): stockpyl (Serial-v1's) needs NumPy < 2; mobile-env (Interference-v1's)
## brings pygame and shapely, which the harness does not need
BENCH_JSON ?= .benchmarks/bench.json
BENCH_ARGS ?=
PEER_STAMP := .venv-peer/.installed-stockpyl-mobile-env
bench: $(STAMP) $(PEER_STAMP)
	@mkdir -p $(dir $(BENCH_JSON))
	$(BIN)/python -m pytest -q -s -m benchmark_suite --benchmark-enable \
		--benchmark-json $(BENCH_JSON) $(BENCH_ARGS) tests/benchmarks

$(PEER_STAMP):
	test -x .venv-peer/bin/python || $(PYTHON) -m venv .venv-peer
	.venv-peer/bin/python -m pip install -q stockpyl "numpy<2" mobile-env==2.1.0 pytest pytest-benchmark
	touch $@

## lock: record released specs' hashes
lock: $(STAMP)
	$(BIN)/rao-bench lock
