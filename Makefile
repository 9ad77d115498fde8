# Two commands for a newcomer: `make serve` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch that lies on this machine's disk is picked when asked for exactly;
# nothing here depends on torch yet, so it is not installed.

.PHONY: serve test venv venv-test lint typecheck fmt clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

serve: venv
	$(BIN)/modelworks serve

lint: venv-test
	$(BIN)/ruff check modelworks tests benchmarks
	$(BIN)/ruff format --check modelworks tests benchmarks

typecheck: venv-test
	$(BIN)/mypy

fmt: venv-test
	$(BIN)/ruff format modelworks tests benchmarks
	$(BIN)/ruff check --fix modelworks tests benchmarks

test: lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
