# `make test` and `make demo` bootstrap their own virtualenv, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint types unit demo bench matrix matrix-ci e2e chromium clean

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

# The browser suite: both example shops on their real servers and the sandbox, on 127.0.0.1,
# driven by Debian's chromium through Playwright (which never downloads a browser here).
E2E_STAMP := $(VENV)/.e2e-installed
$(E2E_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,e2e]'
	touch $(E2E_STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else \
	    echo "make e2e needs Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

# Servers stopped by cancellation leave sockets for the garbage collector: not failures here.
e2e: $(E2E_STAMP) chromium
	$(BIN)/pytest -o addopts="-q -p no:cacheprovider" -W ignore::ResourceWarning \
	  -W ignore::pytest.PytestUnraisableExceptionWarning tests/e2e
	@echo "screenshots of every final page: build/e2e/"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --write

clean:
	rm -rf $(VENV) .nox build dist *.egg-info
