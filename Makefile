# `make test` and `make demo` bootstrap their own virtualenv, so a fresh clone needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-slow docs lint types unit demo bench bench-workers matrix matrix-ci e2e debian-packages mutation clean

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

# The fast tests, spread over pytest-xdist workers: one per core and one more, since many tests
# wait on sockets, servers and subprocesses rather than compute. TEST_WORKERS=0 runs them in
# this process.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1)' 2>/dev/null || echo 2)
unit: $(STAMP)
	$(BIN)/pytest -m "not slow" -n $(TEST_WORKERS)

# The soak, load and subprocess tests (marked `slow`): CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/pytest -m slow

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
# driven by Debian's chromium through Playwright (which never downloads a browser here); and
# the worker recipe: arq workers over a real Redis, one of them killed mid-run.
E2E_STAMP := $(VENV)/.e2e-installed
$(E2E_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,e2e]'
	touch $(E2E_STAMP)

# Debian's chromium (the browser suite), redis-server (the worker recipe) and postgresql (the
# journal's PostgreSQL store): installed with
# apt when root, or named exactly when missing.
debian-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "make e2e needs Debian's$$missing: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; \
	fi

# Servers stopped by cancellation leave sockets for the garbage collector: not failures here.
# hypothesis is not used here; its plugin's late import at the summary tripped CPython 3.11.7's
# "AST constructor recursion depth mismatch" bug (fixed in 3.11.8) once.
e2e: $(E2E_STAMP) debian-packages
	$(BIN)/pytest -o addopts="-q -p no:cacheprovider -p no:hypothesispytest" -W ignore::ResourceWarning \
	  -W ignore::pytest.PytestUnraisableExceptionWarning tests/e2e
	@echo "screenshots of every final page: build/e2e/"

# Throughput of the worker recipe with 1 and 2 workers, into benchmarks/README.md.
bench-workers: $(E2E_STAMP) debian-packages
	$(BIN)/python -m benchmarks.workers --write

# The documentation site, into build/site; --strict turns every warning (a broken link, a
# reference that does not resolve) into a failure.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --write

# Mutation testing (mutmut) of the modules named in pyproject.toml's [tool.mutmut], from scratch,
# then the score per module and every surviving mutant; fails under 90 % on any module.
# benchmarks/MUTATION.md has the last scores and the survivors judged equivalent.
MUTATION_JOBS ?= 2
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children $(MUTATION_JOBS)
	$(BIN)/python -m benchmarks.mutation --fail-under 90

clean:
	rm -rf $(VENV) .nox build dist *.egg-info
