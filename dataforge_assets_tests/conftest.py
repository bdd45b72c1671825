"""Shared fixtures: every test gets its own data home (warehouse, landing folder, dlt dir) and instance."""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.__main__ import WEATHER_API_URL_ENV
from dataforge_assets.lib.environment import Environment, current_environment

REQUIRE_SERVICES = os.environ.get("DATAFORGE_REQUIRE_SERVICES") == "1"


@dataclass
class Platform:
    """A data home plus a persistent Dagster instance, with helpers to run the real definitions."""

    env: Environment
    instance: dg.DagsterInstance

    def definitions(self) -> dg.Definitions:
        from dataforge_assets.definitions import load_definitions

        return load_definitions()

    def materialize(self, selection: str = "*", raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        defs = self.definitions()
        # Comma-separated, as `dagster asset materialize --select` takes it; checks of chosen assets run too.
        parts = [dg.AssetSelection.from_string(part.strip()) for part in selection.split(",")]
        return dg.materialize(
            [*(defs.assets or []), *(defs.asset_checks or [])],
            selection=functools.reduce(operator.or_, parts),
            resources=defs.resources,
            instance=self.instance,
            raise_on_error=raise_on_error,
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
