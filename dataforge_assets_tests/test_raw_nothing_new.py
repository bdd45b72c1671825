"""A raw step whose source is unchanged since its last completed load reports the table without running
dlt (the proof is the dlt state committed in the warehouse); anything else goes through dlt."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from dataforge_assets.demo.setup import REFERENCE_DATABASE
from dataforge_assets.lib.refresh import FULL_REFRESH_RUN_CONFIG
from dataforge_assets.lib.sources.committed_state import committed_state, resource_state
from dataforge_assets.lib.sources.files import FilesConnection
from dataforge_assets.lib.warehouse import Warehouse
from dataforge_assets.lib.warehouse.postgres import PostgresWarehouse
from dataforge_assets.resources import resources_for
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLIGHTS_YAML = Path(__file__).parents[1] / "dataforge_assets/defs/raw/flights/defs.yaml"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_platform(request: pytest.FixtureRequest) -> Platform:
    """The skip reads dlt's state tables with the warehouse's own SQL: on both warehouses."""
    return request.getfixturevalue("platform" if request.param == "duckdb" else "pg_platform")


def _warehouse(platform: Platform) -> Warehouse:
    if url := getattr(platform, "url", ""):  # PostgresPlatform
        return PostgresWarehouse(url=url)
    return resources_for(platform.env)["warehouse"]


def _loads(platform: Platform, source: str) -> int:
    return platform.sql(f"SELECT count(*) FROM raw._dlt_loads WHERE schema_name = '{source}'")[0][0]


def _age(path: Path, seconds: float = 60) -> None:
    """As a file delivered a while ago looks (the benchmark's and a real landing folder's files)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_unchanged_landing_folder_skips_dlt_and_reports_the_table(any_platform: Platform) -> None:
    platform = any_platform
    _age(land_flights(platform.env, 1, month_sample(1, 300)))
    platform.materialize("raw/flights")
    loads = _loads(platform, "flights")

    again = platform.materialize("raw/flights")
    meta = materialization_metadata(again, ["raw", "flights"])
    assert meta["nothing_new"] is True
    assert meta["rows_loaded"] == 0 and meta["rejected_file_count"] == 0
    assert meta["dagster/row_count"] == 300
    assert _loads(platform, "flights") == loads  # dlt did not run: no load at all

    # A new month goes through dlt and is loaded; then nothing is new again.
    _age(land_flights(platform.env, 2, month_sample(2, 200)))
    added = materialization_metadata(platform.materialize("raw/flights"), ["raw", "flights"])
    assert added["rows_loaded"] == 200 and "nothing_new" not in added
    assert platform.count("raw.flights") == 500
    assert materialization_metadata(platform.materialize("raw/flights"), ["raw", "flights"])["nothing_new"]


def test_touched_file_goes_through_dlt_which_notes_its_time(platform: Platform) -> None:
    path = land_flights(platform.env, 1, month_sample(1, 100))
    _age(path)
    platform.materialize("raw/flights")

    os.utime(path)  # same name, size and content; a new time (a `cp` over it)
    touched = materialization_metadata(platform.materialize("raw/flights"), ["raw", "flights"])
    assert "nothing_new" not in touched and touched["rows_loaded"] == 0
    assert platform.count("raw.flights") == 100
    # dlt noted the new time with the load: the next step proves nothing is new.
    assert materialization_metadata(platform.materialize("raw/flights"), ["raw", "flights"])["nothing_new"]


def test_state_of_a_load_that_never_completed_proves_nothing(platform: Platform) -> None:
    """A step killed after dlt wrote the state row but before it completed the load leaves the state
    without a completed `_dlt_loads` row: only completed loads' states count."""
    _age(land_flights(platform.env, 1, month_sample(1, 100)))
    platform.materialize("raw/flights")
    _age(land_flights(platform.env, 2, month_sample(2, 50)))
    platform.materialize("raw/flights")
    warehouse = _warehouse(platform)
    with warehouse.session():
        (load_id,) = (
            warehouse.query("SELECT max(load_id) AS id FROM raw._dlt_loads WHERE schema_name = 'flights'")
            .column("id")
            .to_pylist()
        )
        # What the killed load leaves: its state row (and rows), no completed load.
        warehouse.execute("DELETE FROM raw._dlt_loads WHERE load_id = ?", (load_id,))
        state = committed_state(warehouse, "raw", "dataforge_flights")
    files = resource_state(state, "flights", "flights")["files"]  # type: ignore[index]
    assert set(files) == {"flights_2013_01.csv"}  # February's load does not count

    repaired = materialization_metadata(platform.materialize("raw/flights"), ["raw", "flights"])
    assert "nothing_new" not in repaired and repaired["rows_loaded"] == 50
    assert platform.count("raw.flights") == 150


def test_changed_table_spec_is_not_proven_unchanged(platform: Platform) -> None:
    _age(land_flights(platform.env, 1, month_sample(1, 100)))
    platform.materialize("raw/flights")
    attributes = yaml.safe_load(FLIGHTS_YAML.read_text())["attributes"]
    connection = FilesConnection.model_validate(attributes["connection"])
    contract = attributes["schema_contract"]
    warehouse = _warehouse(platform)
    with warehouse.session():
        state = committed_state(warehouse, "raw", "dataforge_flights")

    def state_of(table: str) -> dict | None:
        return resource_state(state, "flights", table)

    assert connection.nothing_new(platform.env.home, ["flights"], state_of, contract)
    other_key = connection.model_copy(
        update={"tables": [connection.tables[0].model_copy(update={"primary_key": ["year"]})]}
    )
    assert not other_key.nothing_new(platform.env.home, ["flights"], state_of, contract)
    assert not connection.nothing_new(platform.env.home, ["flights"], state_of, "freeze")


def test_unchanged_sqlite_source_skips_dlt_and_a_changed_one_loads(any_platform: Platform) -> None:
    platform = any_platform
    land_reference(platform.env)
    database = platform.env.home / REFERENCE_DATABASE
    _age(database)
    first = materialization_metadata(platform.materialize("raw/airlines"), ["raw", "airlines"])
    assert first["rows_loaded"] == 16
    loads = _loads(platform, "reference")

    again = materialization_metadata(platform.materialize("raw/airlines"), ["raw", "airlines"])
    assert again["nothing_new"] is True and again["rows_loaded"] == 0
    assert again["dagster/row_count"] == 16 and "rejected_files" not in again
    assert _loads(platform, "reference") == loads

    with sqlite3.connect(database) as con:
        con.execute("UPDATE airlines SET name = 'Renamed Air' WHERE carrier = '9E'")
    con.close()
    # Its time as a write just before the step looks (a loaded machine may take longer than the quiet
    # time between the UPDATE and the step: a time ahead keeps it "just written" however slow).
    ahead = time.time() + 3600
    os.utime(database, (ahead, ahead))
    changed = materialization_metadata(platform.materialize("raw/airlines"), ["raw", "airlines"])
    assert "nothing_new" not in changed and changed["rows_loaded"] == 16
    assert platform.sql("SELECT name FROM raw.airlines WHERE carrier = '9E'") == [("Renamed Air",)]
    # The version it read is not trusted: none is noted (an earlier one restored with its old time
    # must not match the rows of this load).
    warehouse = _warehouse(platform)
    with warehouse.session():
        state = committed_state(warehouse, "raw", "dataforge_reference")
    assert resource_state(state, "reference", "airlines")["database_file"] is None  # type: ignore[index]
    # Written just now: not noted (a write in the same clock tick could follow), so dlt runs again.
    assert "nothing_new" not in materialization_metadata(
        platform.materialize("raw/airlines"), ["raw", "airlines"]
    )
    _age(database)
    platform.materialize("raw/airlines")
    assert materialization_metadata(platform.materialize("raw/airlines"), ["raw", "airlines"])["nothing_new"]


def test_full_refresh_never_skips(platform: Platform) -> None:
    _age(land_flights(platform.env, 1, month_sample(1, 100)))
    platform.materialize("raw/flights")
    full = platform.materialize("raw/flights", run_config=FULL_REFRESH_RUN_CONFIG)
    meta = materialization_metadata(full, ["raw", "flights"])
    assert "nothing_new" not in meta and meta["full_refresh"] is True
    assert platform.count("raw.flights") == 100
