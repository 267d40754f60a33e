# Two commands on a fresh machine (Python 3.11 only):
#   make run    set up the pinned environment and run the workflow on config/config.yaml
#   make test   set up the pinned environment and run the test suite
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
CONFIG ?= config/config.yaml
REPORT ?= reports/report.html
UI_PORT ?= 5000
DASHBOARD_PORT ?= 8080
BIN := $(VENV)/bin
LOCK_HASH := $(shell sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(LOCK_HASH)
# cffconvert pins jsonschema<4 (Snakemake needs 4): its own small venv, pinned too.
CITATION_VENV ?= .venv-citation
CITATION_HASH := $(shell sha256sum tools/requirements-citation.lock | cut -c1-16)
CITATION_STAMP := $(CITATION_VENV)/.installed-$(CITATION_HASH)

.PHONY: setup run quick apply paper repro zenodo report results-doc test test-fast lint format envs lock bench clean citation ui

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

$(CITATION_STAMP): tools/requirements-citation.lock
	$(PYTHON) -m venv $(CITATION_VENV)
	$(CITATION_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-citation.lock
	rm -f $(CITATION_VENV)/.installed-*
	touch $@

citation: $(CITATION_STAMP)
	$(CITATION_VENV)/bin/cffconvert --validate -i CITATION.cff

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --rerun-incomplete
	mkdir -p $(dir $(REPORT))
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --report $(REPORT)

# docs/results.md is the default run's findings.md, committed: rerun this after any change to
# the code or config/config.yaml (tests/test_findings.py says when it is stale).
results-doc: run
	cp results/default/findings.md docs/results.md

report: $(STAMP)
	mkdir -p $(dir $(REPORT))
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --report $(REPORT)

quick:
	$(MAKE) run CONFIG=config/quick.yaml REPORT=reports/quick/report.html

apply: $(STAMP)
	$(BIN)/python tools/check_apply.py $(CONFIG) --cores $(CORES)
	$(BIN)/snakemake apply --cores $(CORES) --configfile $(CONFIG)

paper: $(STAMP)
	$(BIN)/snakemake paper --cores $(CORES) --configfile $(CONFIG)

ui: $(STAMP)
	$(BIN)/python tools/ui.py --config $(CONFIG) --port $(UI_PORT) --dashboard-port $(DASHBOARD_PORT)

# Tiers (markers in pyproject.toml): make test runs every test that starts no workflow, no
# cluster job and no browser on both cores, then those serially (they share one quick
# workflow run and each runs Snakemake with --cores 2); make test-fast leaves out slow tests.
SERIAL_TESTS := workflow or slurm or browser
FAST_TESTS := not slow and not ($(SERIAL_TESTS))
PYTEST_WORKERS ?= 2
test: $(STAMP) $(CITATION_STAMP)
	$(BIN)/python -m pytest -m "not ($(SERIAL_TESTS))" -n $(PYTEST_WORKERS) --durations=25
	$(BIN)/python -m pytest -m "$(SERIAL_TESTS)" --durations=25

test-fast: $(STAMP) $(CITATION_STAMP)
	$(BIN)/python -m pytest -m "$(FAST_TESTS)" -n $(PYTEST_WORKERS) --durations=25

lint: $(STAMP)
	$(BIN)/snakemake --lint --configfile config/quick.yaml 2>&1 | tee /tmp/uhecr-lint.txt; grep -q "Congratulations" /tmp/uhecr-lint.txt
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/ruff check src scripts tests bench tools
	$(BIN)/ruff format --check src scripts tests bench tools

format: $(STAMP)
	$(BIN)/snakefmt Snakefile rules/
	$(BIN)/ruff format src scripts tests bench tools
	$(BIN)/ruff check --fix src scripts tests bench tools

envs: $(STAMP)
	$(BIN)/python tools/make_envs.py

lock:
	$(PYTHON) -m venv /tmp/uhecr-lock-venv
	/tmp/uhecr-lock-venv/bin/pip install --quiet -r requirements.in
	/tmp/uhecr-lock-venv/bin/pip freeze --all --exclude-editable > requirements.lock

BENCH_STATIONS ?= 20000
# Interleaved rounds of the extraction, layout and codec timings (each a best of min(3, rounds)
# in bench_extraction's own-pass timings); 1 in the README's short bench.
BENCH_ROUNDS ?= 5
BENCH_TRIALS ?= 16
BENCH_REPEATS ?= 5
BENCH_WORKER_TRIALS ?= 48
BENCH_WORKER_ROUNDS ?= 2
BENCH_TRAIN ?= 20000
BENCH_EPOCHS ?= 20
BENCH_WORKER_EPOCHS ?= 5
BENCH_SCHEDULE_WORKERS ?= 4
bench: $(STAMP)
	$(BIN)/python bench/bench_extraction.py --stations $(BENCH_STATIONS) --rounds $(BENCH_ROUNDS)
	$(BIN)/python bench/bench_layouts.py --stations $(BENCH_STATIONS) --repeat $(BENCH_ROUNDS)
	$(BIN)/python bench/bench_codecs.py --rounds $(BENCH_ROUNDS)
	$(BIN)/python bench/bench_search.py --models xgboost dae --trials $(BENCH_TRIALS) --repeats $(BENCH_REPEATS) \
		--worker-trials $(BENCH_WORKER_TRIALS) --worker-rounds $(BENCH_WORKER_ROUNDS) --max-train $(BENCH_TRAIN) --epochs $(BENCH_EPOCHS) \
		--worker-epochs $(BENCH_WORKER_EPOCHS) --schedule-workers $(BENCH_SCHEDULE_WORKERS)
	$(BIN)/python bench/bench_run.py
	$(BIN)/python bench/render_performance.py

clean:
	rm -rf results/quick reports/quick mlruns .snakemake

# Compared with the quick run in results/quick when make quick made one; else two runs.
REPRO_REFERENCE ?= results/quick
repro: $(STAMP)
	$(BIN)/python tools/reproducibility_check.py --config config/quick.yaml --out results/repro \
		--reference $(REPRO_REFERENCE)

zenodo: $(STAMP)
	$(BIN)/snakemake zenodo --cores $(CORES) --configfile $(CONFIG)
