# Workbench: `make run` runs the quickstart sweep, `make test` runs the test suite.
# Both create .venv on first use and install what they need into it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: install install-dev run ui test test-heavy test-fast lint bench bench-kfp-venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	@touch $@

# Tests also need the dev tools and torch (Optuna's GPSampler behind "bayesianoptimization").
# torch 2.13.0 is taken from the local wheel cache where the machine has one (a CPU build).
$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q 'torch==2.13.0' || echo "torch not installed: bayesianoptimization tests will be skipped"
	$(PIP) install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(VENV)/bin/workbench run examples/quickstart.yaml
	@echo "Open the dashboard with: make ui   (or: $(VENV)/bin/workbench ui, then http://127.0.0.1:8501)"

ui: install
	$(VENV)/bin/workbench ui

# `make test` runs everything but the long reliability runs (marked heavy: the 20-kill-point crash
# torture, the 200-trial Kubernetes fault run, store restarts, a killed scheduler); CI runs `make test-heavy` after it.
test: install-dev
	$(PY) -m pytest -q -p no:cacheprovider -m "not heavy"

test-heavy: install-dev
	$(PY) -m pytest -q -p no:cacheprovider -m heavy

test-fast: install-dev
	$(PY) -m pytest -q -m "not slow"

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install-dev
	$(PY) benchmarks/bench_local.py

# The peer of benchmarks/bench_cache.py: kfp.local needs protobuf 6, which ml-metadata's venv cannot hold.
bench-kfp-venv: .venv-kfp/bin/python
.venv-kfp/bin/python:
	$(PYTHON) -m venv .venv-kfp
	.venv-kfp/bin/python -m pip install -q --disable-pip-version-check 'kfp==2.17.3'

clean:
	rm -rf .workbench .pytest_cache
