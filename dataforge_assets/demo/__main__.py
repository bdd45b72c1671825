"""`python -m dataforge_assets.demo`: set up the demo sources, materialize every asset, print what was built.

The three source kinds: flights are CSV files in the landing folder, airlines/airports/planes a SQLite
database, and weather a JSON API, served for the run by the replay server (the demo's stand-in for a SaaS
API) on a free local port that the weather YAML reads from DATAFORGE_WEATHER_API_URL.
Materialization goes through the real CLI (`dagster asset materialize`), as a user would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.setup import set_up
from dataforge_assets.lib.environment import current_environment

WEATHER_API_URL_ENV = "DATAFORGE_WEATHER_API_URL"  # named by defs/raw/weather/defs.yaml


def materialize_all() -> None:
    """Materialize everything with the weather replay server up; it is stopped when this returns."""
    dagster = Path(sys.executable).with_name("dagster")
    with replay_server.running() as server:
        print(f"weather replay API (demo stand-in for a SaaS API) on {server.url}")
        subprocess.run(
            [str(dagster), "asset", "materialize", "-m", "dataforge_assets", "--select", "*"],
            check=True,
            env={**os.environ, WEATHER_API_URL_ENV: server.url},
        )


def summary(database: Path) -> str:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'normalized', 'quarantine', 'stats') AND table_name NOT LIKE '\\_%' ESCAPE '\\' "
            "ORDER BY 1, 2"
        ).fetchall()
        lines = [
            f"  {schema + '.' + table:<36} {con.execute(f'SELECT count(*) FROM {schema}.{table}').fetchall()[0][0]:>9,} rows"
            for schema, table in rows
        ]
    return "\n".join(lines)


def main() -> None:
    env = current_environment()
    started = time.perf_counter()
    set_up(env, months=list(range(1, 13)))
    materialize_all()
    print(f"\nDemo pipeline done in {time.perf_counter() - started:.1f}s. Warehouse {env.duckdb_path}:")
    print(summary(env.duckdb_path))
    print("\nOpen the UI with `make dev` (http://127.0.0.1:3000).")


if __name__ == "__main__":
    main()
