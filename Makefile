# Two entry points for a fresh clone:
#   make run   - set everything up and start the node (engine + configured workers)
#   make test  - set everything up and run the whole test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU torch wheel first: anything that pulls torch later finds it satisfied.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/agentos start --config config.yaml

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check engine workers tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/invoke.py

clean:
	rm -rf $(VENV) data .pytest_cache
