"""One data home, Dagster home, warehouse (DuckDB file or a fresh PostgreSQL database) and weather
replay server: where a scenario runs its dagster processes and reads the outcome."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg2

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.__main__ import WEATHER_API_URL_ENV
from dataforge_assets.lib.environment import REPO_ROOT, Environment
from dataforge_assets_tests.chaos.deliveries import Deliveries, read_expected
from dataforge_assets_tests.chaos.runner import Run, RunOutcome
from dataforge_assets_tests.chaos.verify import Findings, verify

RUN_TIMEOUT = 900.0  # one dagster run on a loaded 2-core machine (~25 s idle)


@dataclass
class Lab:
    root: Path
    warehouse: str
    postgres_url: str | None
    env: Environment
    process_env: dict[str, str]
    deliveries: Deliveries
    runs: int = 0

    def log(self, name: str) -> Path:
        self.runs += 1
        return self.root / "logs" / f"{self.runs:04d}_{name}.log"

    def clean_run(self) -> RunOutcome:
        return Run(self.process_env, self.log("clean")).finish(RUN_TIMEOUT)

    def sql(self, query: str) -> list[tuple]:
        if self.postgres_url:
            with psycopg2.connect(self.postgres_url) as con, con.cursor() as cur:
                cur.execute(query)
                rows = cur.fetchall()
            con.close()
            return rows
        with duckdb.connect(str(self.env.duckdb_path), read_only=True) as con:
            return con.execute(query).fetchall()

    def verify(self) -> Findings:
        return verify(self.sql, read_expected(self.env, self.deliveries.weather))

    def terminate_warehouse_backends(self) -> int:
        """pg_terminate_backend on every other session of the warehouse database: what a failover,
        a restart or an idle-session killer does to a run mid-load."""
        assert self.postgres_url
        with psycopg2.connect(self.postgres_url) as con, con.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (terminated,) = cur.fetchone()
        con.close()
        return int(terminated)


@contextmanager
def lab(root: Path, warehouse: str) -> Iterator[Lab]:
    shutil.rmtree(root, ignore_errors=True)
    (root / "logs").mkdir(parents=True)
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")  # the policies as shipped
    env = Environment(home=root / "home", warehouse=warehouse)  # type: ignore[arg-type]
    with _database(warehouse) as url, replay_server.running() as weather:
        process_env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PYTEST_"))}
        process_env |= {
            "DAGSTER_HOME": str(dagster_home),
            "DATAFORGE_HOME": str(env.home),
            "DATAFORGE_WAREHOUSE": warehouse,
            WEATHER_API_URL_ENV: weather.url,
        }
        if url:
            process_env["DATAFORGE_POSTGRES_URL"] = url
        yield Lab(root, warehouse, url, env, process_env, Deliveries(env, weather))


@contextmanager
def _database(warehouse: str) -> Iterator[str | None]:
    if warehouse != "postgres":
        yield None
        return
    from dataforge_assets_tests.services import temporary_database

    with temporary_database("dataforge_chaos") as url:
        yield url.render_as_string(hide_password=False)
