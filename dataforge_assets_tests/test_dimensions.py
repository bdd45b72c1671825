"""Dimension attributes stay current downstream: an airline renamed in the SQL source shows its new
name in every normalized flight and in the stats after the next run (lib/dimensions.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dataforge_assets.defs.normalized.flights import CARRIER_NAME
from dataforge_assets.demo.setup import REFERENCE_DATABASE
from dataforge_assets.lib.dimensions import refresh_dimensions
from dataforge_assets.lib.warehouse.duckdb import DuckDBWarehouse
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
from dataforge_assets_tests.recording_warehouse import materialize_recorded

SELECTION = "raw/flights, raw/airlines, normalized/flights, stats/carrier_daily_performance"
NEW_NAME = "United Airlines Holdings Inc."


def names(platform: Platform, table: str) -> set[tuple[str, str | None]]:
    return set(
        platform.sql(f"SELECT DISTINCT carrier, carrier_name FROM {table} WHERE carrier IN ('UA', 'AA')")
    )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest) -> Platform:
    """The refresh is SQL run by the warehouse: both warehouses run it."""
    return request.getfixturevalue("platform" if request.param == "duckdb" else "pg_platform")


def test_renamed_carrier_reaches_normalized_flights_and_stats(stack: Platform) -> None:
    platform = stack
    land_reference(platform.env)
    sample = month_sample(1, 2000)
    land_flights(platform.env, 1, sample)
    platform.materialize(SELECTION)
    before = {("UA", "United Air Lines Inc."), ("AA", "American Airlines Inc.")}
    assert names(platform, "normalized.flights") == before
    assert names(platform, "stats.carrier_daily_performance") == before

    with sqlite3.connect(platform.env.home / REFERENCE_DATABASE) as con:
        con.execute("UPDATE airlines SET name = ? WHERE carrier = 'UA'", (NEW_NAME,))
    con.close()
    # No new flight: only the dimension changed. Loading it is what makes automation rebuild the flights
    # (they depend on raw/airlines) and, after them, the stats.
    defs = platform.definitions()
    settled = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance)
    platform.materialize("raw/airlines")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=settled.cursor)
    for key in ("normalized/flights", "stats/carrier_daily_performance"):
        assert tick.get_num_requested(dg.AssetKey.from_user_string(key)) == 1, key
    result = platform.materialize("normalized/flights, stats/carrier_daily_performance")
    after = {("UA", NEW_NAME), ("AA", "American Airlines Inc.")}
    assert names(platform, "normalized.flights") == after
    assert names(platform, "stats.carrier_daily_performance") == after
    built = materialization_metadata(result, ["normalized", "flights"])
    assert built["new_loads"] == 0
    assert built["dimension_rows_refreshed"] == sample.filter(pl.col("carrier") == "UA").height > 0
    # The contract and reconciliation checks still pass over the rewritten rows.
    checks = {(c.asset_key.path[-1], c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert checks[("flights", "contract")] and checks[("flights", "reconciliation")]

    # Unchanged dimension: nothing rewritten.
    again = platform.materialize("raw/airlines, normalized/flights")
    assert materialization_metadata(again, ["normalized", "flights"])["dimension_rows_refreshed"] == 0
    # No load since the fingerprint was taken (raw._dlt_loads as it was): it is not taken again.
    url = getattr(platform, "url", None)
    statements = materialize_recorded(platform.definitions(), "normalized/flights", platform.instance, url)
    assert any("_dlt_loads" in s for s in statements)
    assert not any("string_agg" in s for s in statements), "fingerprint taken with no new load"


def test_a_key_gone_from_the_dimension_leaves_the_name_unknown(tmp_path: Path) -> None:
    """As after a `replace` load of airlines without AA: AA flights lose their name, others keep theirs."""
    warehouse = DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))
    airlines = pl.DataFrame({"carrier": ["AA", "UA"], "name": ["American", "United"]})
    flights = pl.DataFrame({"carrier": ["AA", "UA", "AA", "ZZ"], "flight": [1, 2, 3, 4]})
    with warehouse.session():
        warehouse.write("raw", "airlines", [airlines.to_arrow()], mode="replace")
        joined = CARRIER_NAME.join(flights, {"airlines": airlines})
        warehouse.write("normalized", "flights", [joined.to_arrow()], mode="replace")
        with warehouse.transaction():
            assert refresh_dimensions(warehouse, "flights", [CARRIER_NAME]) == 0  # built current
        warehouse.write(
            "raw", "airlines", [airlines.filter(pl.col("carrier") == "UA").to_arrow()], mode="replace"
        )
        with warehouse.transaction():
            assert refresh_dimensions(warehouse, "flights", [CARRIER_NAME]) == 2
        rows = warehouse.query(
            "SELECT flight, carrier_name FROM normalized.flights ORDER BY flight"
        ).to_pylist()
    assert [(r["flight"], r["carrier_name"]) for r in rows] == [
        (1, None),
        (2, "United"),
        (3, None),
        (4, None),
    ]
