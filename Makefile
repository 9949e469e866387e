# The two commands a newcomer types: `make run` and `make test`. Each builds .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-aps4 clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cronwork serve examples/jobs.toml --store sqlite:///cronwork.db

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/timing.py
	$(BIN)/python benchmarks/dispatch.py
	$(BIN)/python benchmarks/persistent.py

# APScheduler 4.0.0a6 for benchmarks/cluster.py, in a folder of its own (see pyproject.toml).
# sniffio is imported by its SQLAlchemy data store but not declared by that alpha.
bench-aps4: $(STAMP)
	$(BIN)/python -m pip install --quiet --target $(VENV)/aps4 \
		'apscheduler[sqlalchemy,asyncpg]==4.0.0a6' sniffio

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
