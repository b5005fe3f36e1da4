# `make repro` installs what the pipeline needs into .venv and runs it; `make test` runs the tests.
VENV := .venv
BIN := $(VENV)/bin
export DVC_NO_ANALYTICS := 1

.PHONY: repro test lint install report readme seeds robust-seeds sizes pull stage-times

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps -e .  # the steel-defect command
	touch $@

# The README's generated tables follow the run (the benchmark re-measures this machine's speed, and
# compare shows it), so `make test` after `make repro` checks the README against this run's files.
repro: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	$(BIN)/python -m steel_defect.readme

# Test workers (pytest-xdist), one per core of the 2-core target; a test file stays on one worker
# (--dist loadfile), so a module's fixtures are built once (the tiny `dvc repro` project once per run, for
# both workers: tests/conftest.py), and files go out in collection order (tests/conftest.py's ORDER puts the
# slowest first), not largest first.
TEST_JOBS ?= 2

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=15  # the slowest tests, so a slow CI log says where the time went

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Pull-request report: params, metrics and changed plots of the workspace against REV (default main) -> report/report.md
REV ?= main
report: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m steel_defect.report --rev $(REV) --out report

# Data and trained models from the project's DVC remote (README: "Trained models without retraining"),
# so a fresh clone predicts and compares without an hour of retraining
pull: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc pull

# Copy the generated tables (metrics/headline.md, metrics/seeds.md, ...) into README.md and docs/
readme: install
	$(BIN)/python -m steel_defect.readme

# Aggregates over DVC experiments (queue the runs first: docs/results.md). Each reads `dvc exp show`
# and never touches the workspace; ARGS passes options (e.g. ARGS=--replace), then `make readme`.
seeds: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tools.seeds $(ARGS)

robust-seeds: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tools.robust_seeds $(ARGS)

sizes: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tools.sizes $(ARGS)

# Where `dvc repro` spends its time: each stage forced alone and timed -> metrics/stage_times.* (idle machine)
stage-times: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m tools.stage_times $(ARGS)
