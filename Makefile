# `make test` and `make demo` bootstrap their own virtualenv, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint types unit demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy --strict epay_async

unit: $(STAMP)
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python -m epay_async demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --write

clean:
	rm -rf $(VENV) build dist *.egg-info
