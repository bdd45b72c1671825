"""The whole demo graph on the production stack, each half on the real PostgreSQL server.

1. Dagster INSTANCE on PostgreSQL (deploy/postgres/dagster.yaml), warehouse on DuckDB: runs and events land in
   the instance database's tables.
2. WAREHOUSE on PostgreSQL, instance embedded: every table holds the same rows as the DuckDB run of (1).
Both run the full nycflights13 demo as a user does (`python -m dataforge_assets.demo`, the real CLI).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest
import sqlalchemy as sa

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets_tests.demo_data import DEMO_TABLES
from dataforge_assets_tests.services import temporary_database

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BIN = Path(sys.executable).parent
TABLES = DEMO_TABLES
ASSETS = [t.split(".") for t in TABLES if not t.startswith("quarantine")]


def _instance_env(url) -> dict[str, str]:
    return {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }


def _run_demo(home: Path, dagster_yaml: Path, extra: dict[str, str]) -> None:
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").symlink_to(dagster_yaml)
    env = {**os.environ, "DATAFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home), **extra}
    done = subprocess.run(
        [BIN / "python", "-m", "dataforge_assets.demo"], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


@pytest.fixture(scope="module")
def pg_instance_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The demo with the Dagster instance on PostgreSQL and the DuckDB warehouse: (data home, instance URL)."""
    with temporary_database("dataforge_instance") as url:
        home = tmp_path_factory.mktemp("pg_instance")
        _run_demo(home, REPO_ROOT / "deploy" / "postgres" / "dagster.yaml", _instance_env(url))
        yield home, url.render_as_string(hide_password=False)


def _pg(url: str, query: str) -> list[tuple]:
    con = psycopg2.connect(url)
    try:
        with con.cursor() as cur:
            cur.execute(query)
            return cur.fetchall()
    finally:
        con.close()


def _duck(home: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def test_runs_and_events_are_in_postgres_tables(pg_instance_run: tuple[Path, str]) -> None:
    home, url = pg_instance_run
    # The demo's two runs: every table, then stats/platform_run_stats (which counts the first).
    assert _pg(url, "SELECT status FROM runs") == [("SUCCESS",), ("SUCCESS",)]
    materialized = _pg(
        url,
        "SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY 1",
    )
    assert {tuple(dg.AssetKey.from_db_string(k).path) for (k,) in materialized} >= {tuple(a) for a in ASSETS}
    checks = _pg(url, "SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_CHECK_EVALUATION'")
    assert checks[0][0] >= 1
    # The warehouse (DuckDB here) holds the full demo.
    assert _duck(home, "SELECT count(*) FROM normalized.flights")[0][0] == 336_776


def test_the_instance_config_is_the_production_one(
    pg_instance_run: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    home, url = pg_instance_run
    for key, value in _instance_env(sa.make_url(url)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 4
        # No step waited on a pool slot (one held by a killed run would block every writer after it).
        assert not instance.event_log_storage.get_concurrency_keys()
        assert instance.get_runs_count() == 2  # the demo's two runs


def test_the_warehouse_on_postgres_matches_the_duckdb_run(
    pg_instance_run: tuple[Path, str], tmp_path: Path
) -> None:
    duck_home, _ = pg_instance_run
    with temporary_database("dataforge_warehouse") as url:
        wh_url = url.render_as_string(hide_password=False)
        _run_demo(
            tmp_path / "home",
            REPO_ROOT / "dagster.yaml",
            {"DATAFORGE_WAREHOUSE": "postgres", "DATAFORGE_POSTGRES_URL": wh_url},
        )
        counts = {t: _pg(wh_url, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
        assert counts == {t: _duck(duck_home, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
        assert counts["raw.flights"] == counts["normalized.flights"] == 336_776
        query = (
            "SELECT carrier, flight_date, flights, cancelled, avg_dep_delay, on_time_share "
            "FROM stats.carrier_daily_performance ORDER BY carrier, flight_date"
        )
        on_pg, on_duck = _pg(wh_url, query), _duck(duck_home, query)
        assert len(on_pg) == len(on_duck) == counts["stats.carrier_daily_performance"]
        for a, b in zip(on_pg, on_duck, strict=True):
            assert a[:4] == b[:4], (a, b)
            for x, y in zip(a[4:], b[4:], strict=True):
                assert (x is None and y is None) or math.isclose(x, y, rel_tol=1e-9), (a, b)
        # dlt loaded the raw tables from CSV files with COPY, not with INSERT statements (only dlt's own
        # one-row state table is inserted). Its completed load jobs are named <table>.<id>.<n>.<format>.
        jobs = [p.name for p in (tmp_path / "home" / "dlt").glob("*/load/loaded/*/completed_jobs/*")]
        loaded = {(name.split(".")[0], name.split(".")[3]) for name in jobs if not name.startswith("_dlt")}
        raw_tables = {t.split(".")[1] for t in TABLES if t.startswith("raw.")}
        assert {table for table, fmt in loaded if fmt == "csv"} == raw_tables
        assert not {table for table, fmt in loaded if fmt == "insert_values"}
