# mini-pipeline: `make run` serves the embedded default, `make test` proves it on real servers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv run test lint typecheck unit servers bench clean

help:
	@echo "make run    - serve the embedded default at http://127.0.0.1:8000"
	@echo "make test   - install test needs, build/start real servers, lint and run all tests"
	@echo "make bench  - benchmarks"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[api,processor,dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) -m api

# Test servers are built from source once per machine (cached in ~/.cache/mini-pipeline).
servers:
	@start=$$(date +%s); bash scripts/build-weed.sh; \
	  echo "test server builds took $$(( $$(date +%s) - start ))s"

lint: venv
	$(VENV)/bin/ruff check api processor tests
	$(VENV)/bin/ruff format --check api processor

typecheck: venv
	$(VENV)/bin/mypy --strict api processor

test: venv servers lint typecheck
	$(VENV)/bin/pytest -q

bench: venv  ## make bench ARGS="bench_processor" runs one
	$(PY) -m bench $(ARGS)

clean:
	rm -rf .mini-data tests/artifacts .pytest_cache .mypy_cache .ruff_cache
