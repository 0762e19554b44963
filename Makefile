# One command to run the app, one to test it. Both set up .venv from scratch when needed.
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# `make serve` worker processes: one per core, 4 when the count is unknown.
WORKERS ?= $(shell nproc 2>/dev/null || echo 4)

.PHONY: install run serve test lint format bench bench-rollup bench-gateway clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), "Python 3.12+ is required (found " + sys.version.split()[0] + ")"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Development server on SQLite (or DATABASE_URL); seeds the AI configuration from the
# environment / .env on migrate; on a database without users, creates `admin` and
# prints its one-time password (ai_bootstrap).
run: install
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py ai_bootstrap --url http://$(HOST):$(PORT)/
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production: DEBUG off unless you say otherwise (SECRET_KEY etc. from the environment or
# .env, see "Running in production" in the README); migrate, collect the hashed static
# files whitenoise serves, then uvicorn with $(WORKERS) workers. Django has no ASGI
# lifespan, hence --lifespan off; uvicorn trusts X-Forwarded-* only from
# FORWARDED_ALLOW_IPS (default 127.0.0.1, a proxy on the same machine).
serve: install
	DEBUG=$${DEBUG:-false} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-false} $(BIN)/python manage.py collectstatic --no-input
	DEBUG=$${DEBUG:-false} $(BIN)/uvicorn aiconfig.asgi:application --workers $(WORKERS) \
		--host $(HOST) --port $(PORT) --lifespan off

# Lint, format check, then the whole test suite (browser tests included).
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench

# What the usage rollup adds to writing a call's log row (before/after, interleaved).
bench-rollup: install
	$(BIN)/python -m bench.rollup

# The Usage page and `ai_usage --json` on a big call log, read through the rollup.
.PHONY: bench-usage
bench-usage: install
	$(BIN)/python -m bench.usage_page

# The HTTP gateway over uvicorn (one worker) against the fake provider directly.
bench-gateway: install
	$(BIN)/python -m bench.gateway

# The call explorer and the admin's call-log list on a 1M-row log (BENCH_DATABASE_URL: PostgreSQL).
.PHONY: bench-calls
bench-calls: install
	$(BIN)/python -m bench.calls

# What a stop budget adds to a call (paired, interleaved), and the gate's queries.
.PHONY: bench-budgets
bench-budgets: install
	$(BIN)/python -m bench.budgets

# 20 concurrent playground streams over uvicorn: provider -> browser time of each first token.
.PHONY: bench-playground
bench-playground: install
	$(BIN)/python -m bench.playground

# The reports (Usage page, ai_usage, admin list, explorer) on a call log generated in the
# database: 1M rows on SQLite, 10M on PostgreSQL (BENCH_DATABASE_URL / DATABASE_URL).
.PHONY: bench-reports
bench-reports: install
	$(BIN)/python -m bench.reports

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
