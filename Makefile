# Postback developer commands. `make help` lists them.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x -k click"`.
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core. Each has its own databases and servers.
TEST_WORKERS ?= auto
# Extra benchmark arguments, e.g. `make bench BENCH_ARGS="--databases sqlite"`.
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test test-sqlite lint format bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The stamp is newer than pyproject.toml once its dependencies are installed in the venv.
$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
		echo "could not create $(VENV): on Debian or Ubuntu, apt-get install python3-venv"; \
		exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/.installed ## Create .venv and install Postback with its dev tools

run: install ## Start the server with a demo campaign and traffic (http://127.0.0.1:8000)
	$(BIN)/postback serve --demo

test: install ## Run the test suite on SQLite and PostgreSQL (starts PostgreSQL if needed)
	bash scripts/ensure-postgres.sh
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-sqlite: install ## Run the test suite on SQLite only
	POSTBACK_TEST_DATABASES=sqlite $(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install ## Check formatting, lint rules and types
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## Reformat the code and apply safe lint fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install ## Run the benchmarks (bench/run.sh)
	bash bench/run.sh $(BENCH_ARGS)

clean: ## Remove caches and build output (keeps .venv and your database)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist src/*.egg-info
