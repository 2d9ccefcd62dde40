# `make test` and `make demo` bootstrap their own virtualenv, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint types unit demo bench matrix matrix-ci clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,matrix]'
	touch $(STAMP)

test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy --strict epay_async
	$(BIN)/python -m tests.readme_snippets build/readme_snippets.py
	$(BIN)/mypy --strict build/readme_snippets.py

unit: $(STAMP)
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python -m epay_async demo

# pyenv's shims show only its global interpreter; name every supported one so nox finds them.
PYENV_PYTHONS := $(shell command -v pyenv >/dev/null 2>&1 && pyenv versions --bare --skip-aliases 2>/dev/null | grep -E '^3\.1[0-9]+\.[0-9]+$$' | tr '\n' ':')
NOX := PYENV_VERSION="$(PYENV_PYTHONS)" $(BIN)/nox

# Every supported Python it finds, the lowest dependency versions, and the built wheel alone.
matrix: $(STAMP)
	$(NOX)

# CI: the oldest and the newest supported Python must both be there.
matrix-ci: $(STAMP)
	CI=true $(NOX) -s tests-3.10 tests-3.13 lowest package

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --write

clean:
	rm -rf $(VENV) .nox build dist *.egg-info
