"""Shared fixtures: every test gets its own data home (warehouse, landing folder, dlt dir) and instance."""

from __future__ import annotations

import functools
import operator
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.__main__ import WEATHER_API_URL_ENV
from dataforge_assets.lib.environment import Environment, current_environment
from dataforge_assets.lib.partitions import range_tags

REQUIRE_SERVICES = os.environ.get("DATAFORGE_REQUIRE_SERVICES") == "1"


@dataclass
class Platform:
    """A data home plus a persistent Dagster instance, with helpers to run the real definitions."""

    env: Environment
    instance: dg.DagsterInstance

    def definitions(self) -> dg.Definitions:
        from dataforge_assets.definitions import load_definitions

        return load_definitions()

    def materialize(
        self,
        selection: str = "*",
        raise_on_error: bool = True,
        run_config: dict | None = None,
        months: str | None = None,
    ) -> dg.ExecuteInProcessResult:
        """`months`: the partition range of the monthly tables (`<first>...<last>`), else the current month."""
        defs = self.definitions()
        # Comma-separated, as `dagster asset materialize --select` takes it; checks of chosen assets run too.
        parts = [dg.AssetSelection.from_string(part.strip()) for part in selection.split(",")]
        return dg.materialize(
            [*(defs.assets or []), *(defs.asset_checks or [])],
            selection=functools.reduce(operator.or_, parts),
            resources=defs.resources,
            instance=self.instance,
            raise_on_error=raise_on_error,
            run_config=run_config,
            tags=range_tags(months),
        )

    def sql(self, query: str) -> list[tuple]:
        with duckdb.connect(str(self.env.duckdb_path), read_only=True) as con:
            return con.execute(query).fetchall()

    def count(self, table: str) -> int:
        return self.sql(f"SELECT count(*) FROM {table}")[0][0]


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Environment:
    monkeypatch.setenv("DATAFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATAFORGE_WAREHOUSE", "duckdb")
    return current_environment()


@pytest.fixture
def platform(data_home: Environment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    # raw/weather reads the demo's weather API: run its replay server, as `python -m dataforge_assets.demo` does.
    with dg.instance_for_test() as instance, replay_server.running() as weather_api:
        monkeypatch.setenv(WEATHER_API_URL_ENV, weather_api.url)
        yield Platform(env=data_home, instance=instance)


def materialization_metadata(result: dg.ExecuteInProcessResult, key: Sequence[str]) -> dict:
    events = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == dg.AssetKey(list(key))
    ]
    assert events, f"no materialization of {key}"
    return {k: v.value for k, v in events[-1].metadata.items()}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of its own (created and dropped around the test)."""
    from dataforge_assets_tests.services import temporary_database

    with temporary_database("dataforge_test") as url:
        yield url.render_as_string(hide_password=False)


@dataclass
class PostgresPlatform(Platform):
    """A Platform whose warehouse is PostgreSQL: `sql` queries the database instead of the DuckDB file."""

    url: str = ""

    def sql(self, query: str) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(self.url) as con, con.cursor() as cur:
            cur.execute(query)
            rows = cur.fetchall()
        con.close()
        return rows


@pytest.fixture
def pg_platform(
    data_home: Environment, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    monkeypatch.setenv("DATAFORGE_WAREHOUSE", "postgres")
    monkeypatch.setenv("DATAFORGE_POSTGRES_URL", postgres_url)
    with dg.instance_for_test() as instance, replay_server.running() as weather_api:
        monkeypatch.setenv(WEATHER_API_URL_ENV, weather_api.url)
        yield PostgresPlatform(env=current_environment(), instance=instance, url=postgres_url)


@dataclass(frozen=True)
class LaunchedUi:
    """A real dagster-webserver with small landed data, and a run it launched through the GraphQL client."""

    server: Any
    run_id: str
    status: str
    flights: int


UI_SELECTION = [["raw", "flights"], ["raw", "airlines"], ["normalized", "flights"], ["stats", "route_stats"]]


@pytest.fixture(scope="session")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedUi]:
    from dagster_graphql import DagsterGraphQLClient

    from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
    from dataforge_assets_tests.webserver import running_webserver

    root = tmp_path_factory.mktemp("ui")
    env = Environment(home=root / "data", warehouse="duckdb")
    land_reference(env)
    land_flights(env, 1, month_sample(1, 600))
    with running_webserver(root) as server:
        client = DagsterGraphQLClient("127.0.0.1", port_number=server.port, timeout=60)
        run_id = client.submit_job_execution(
            "__ASSET_JOB",
            repository_location_name="dataforge_assets",
            asset_selection=UI_SELECTION,
            tags=range_tags(),  # the current month of normalized/flights
        )
        deadline = time.monotonic() + 300
        while (status := client.get_run_status(run_id)) not in (
            dg.DagsterRunStatus.SUCCESS,
            dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED,
        ):
            assert time.monotonic() < deadline, f"run {run_id} still {status} after 300 s"
            time.sleep(1)
        yield LaunchedUi(server=server, run_id=run_id, status=status.value, flights=600)
