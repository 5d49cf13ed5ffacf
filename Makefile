# pinsim — the two commands of the README, each self-contained on a fresh machine.
#   make run    run the main job (the built-in default scenario) into out/default
#   make test   lint, type-check, the whole test suite and every shipped scenario
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest scenarios bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pinsim run

test: lint typecheck scenarios pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# -n auto: pytest-xdist, one worker per core
pytest: $(STAMP)
	$(BIN)/pytest -q -n auto

# every shipped scenario, judged by its invariants and [expect] bounds, then each one's
# closed forms set beside that same run (pinsim plan reads the outputs, no second simulation)
scenarios: $(STAMP)
	$(BIN)/pinsim check scenarios --out out/check
	$(BIN)/pinsim plan scenarios --runs out/check

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
