# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps make re-runs instant; editing pyproject.toml reinstalls.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/netexplorer

# The checks that keep the project's shape (docs/ARCHITECTURE.md): style and
# errors (ruff), types (mypy, config in pyproject.toml), import contracts
# (import-linter, .importlinter). `make test` runs them first.
lint: $(VENV)/.test-installed
	$(BIN)/ruff check netexplorer tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The suite on TEST_WORKERS processes (pytest-xdist), each test file on one worker
# so that a module's fixtures (trained runs, CLI processes) are made once. On 2
# cores one process takes ~380 s, two ~190 s. TEST_WORKERS=0 runs it in this
# process (pdb, -x, prints in order).
TEST_WORKERS ?= 2

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Every benchmark against issue 18's targets, one after another (benchmarks/README.md).
bench: $(VENV)/.test-installed
	benchmarks/run_all.sh $(BIN)/python

clean:
	rm -rf $(VENV) build *.egg-info
