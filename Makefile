# Two commands for a newcomer: `make serve` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned exactly and installed first: torch==2.13.0 is a CPU build that lies on this
# machine's disk, while any looser requirement pulled in later would fetch a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: serve test venv venv-test lint typecheck fmt clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[ml]'
	touch $@

# The OpenAPI client generator pins httpx and typer below the project's: a virtualenv of its own.
GENERATOR := openapi-python-client==0.29.1

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/python -m venv $(VENV)/generator
	$(VENV)/generator/bin/pip install -q '$(GENERATOR)'
	touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

serve: venv
	$(BIN)/modelworks serve

lint: venv-test
	$(BIN)/ruff check modelworks tests benchmarks
	$(BIN)/ruff format --check modelworks tests benchmarks
	$(BIN)/lint-imports

typecheck: venv-test
	$(BIN)/mypy

fmt: venv-test
	$(BIN)/ruff format modelworks tests benchmarks
	$(BIN)/ruff check --fix modelworks tests benchmarks

test: lint typecheck
	$(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
