# pinsim — the two commands of the README, each self-contained on a fresh machine.
#   make run    run the main job (the built-in default scenario) into out/default
#   make test   lint, type-check, the whole test suite and every shipped scenario
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest scenarios bench clean

# The first time (or after pyproject.toml changed) the environment is made: say so, since pip
# is quiet and takes a minute or two.
$(STAMP): pyproject.toml
	@echo "make: setting up $(VENV) (first run, or pyproject.toml changed): a minute or two"
	@echo "make: [1/3] creating the virtual environment"
	$(PYTHON) -m venv $(VENV)
	@echo "make: [2/3] upgrading pip"
	$(BIN)/pip install --quiet --quiet --upgrade pip
	@echo "make: [3/3] installing pinsim and its dependencies"
	$(BIN)/pip install --quiet --quiet -e '.[dev,dask]'
	touch $(STAMP)
	@echo "make: environment ready"

run: $(STAMP)
	@echo "make: running the default scenario (pinsim run); its report lands in out/default/"
	$(BIN)/pinsim run

test: lint typecheck scenarios pytest

lint: $(STAMP)
	@echo "make: [lint] ruff"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	@echo "make: [typecheck] mypy"
	$(BIN)/mypy

# -n auto: pytest-xdist, one worker per core
pytest: $(STAMP)
	@echo "make: [pytest] the test suite"
	$(BIN)/pytest -q -n auto

# every shipped scenario, judged by its invariants and [expect] bounds, then each one's
# closed forms set beside that same run (pinsim plan reads the outputs, no second simulation)
scenarios: $(STAMP)
	@echo "make: [scenarios] every shipped scenario, then its closed forms"
	$(BIN)/pinsim check scenarios --out out/check --jobs 2
	$(BIN)/pinsim plan scenarios --runs out/check

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
