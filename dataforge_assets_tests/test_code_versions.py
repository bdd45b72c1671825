"""Code versions (lib/code_version.py): what changes them and what does not, on the real definitions and
the real YAML; and a ledger from before versions were recorded rebuilds its loads once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dataforge_assets.defs.normalized import flights
from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.normalize import NORMALIZED, PROCESSED_LOADS, build
from dataforge_assets.lib.stats_asset import sql_stats_asset
from dataforge_assets.lib.tables.normalized_component import normalized_table_from_yaml
from dataforge_assets.lib.warehouse import DuckDBWarehouse
from dataforge_assets_tests.atomic_child import READINGS, Readings, raw_load
from dataforge_assets_tests.test_reprocessing import edited_flights

WEATHER_YAML = Path(flights.__file__).parent / "weather" / "defs.yaml"


def test_every_normalized_and_stats_asset_has_a_code_version(data_home: object) -> None:
    from dataforge_assets.definitions import load_definitions

    graph = load_definitions().resolve_asset_graph()
    versions = {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()}
    derived = {key: v for key, v in versions.items() if key.split("/")[0] in ("normalized", "stats")}
    assert len(derived) >= 7 and all(derived.values()), derived
    assert len(set(derived.values())) == len(derived)  # no two tables share one by accident


def test_a_python_table_version_follows_its_code_not_its_comments(tmp_path: Path) -> None:
    base = flights.FLIGHTS.code_version
    commented = edited_flights(
        tmp_path, "commented", ("AIRPORT_CODE = ", "# airports: 3-4 characters\nAIRPORT_CODE = ")
    )
    redocumented = edited_flights(tmp_path, "redoc", ("Type the raw text,", "Types the raw text,"))
    assert commented.FLIGHTS.code_version == redocumented.FLIGHTS.code_version == base
    cast = edited_flights(
        tmp_path,
        "cast",
        ("{name: pl.Int32() for name in INT32_COLUMNS}", "{name: pl.Int64() for name in INT32_COLUMNS}"),
    )
    assert cast.FLIGHTS.code_version != base


@pytest.mark.parametrize(
    ("old", "new", "changes"),
    [
        ("checks: {ge: 0, le: 250}", "checks: {ge: 0, le: 200}", True),  # a rule
        (
            "    - name: visib\n      type: float64\n      nullable: true",
            "    - name: visib\n      type: float64\n      nullable: false",
            True,
        ),
        ("description: inches per hour", "description: inches of rain per hour", False),
        ("# normalized.weather, declared in YAML", "# the weather, declared in YAML", False),
    ],
)
def test_a_yaml_table_version_follows_its_declaration(
    tmp_path: Path, old: str, new: str, changes: bool
) -> None:
    text = WEATHER_YAML.read_text()
    assert old in text
    edited = tmp_path / "defs.yaml"
    edited.write_text(text.replace(old, new))
    before = normalized_table_from_yaml(WEATHER_YAML).code_version
    assert (normalized_table_from_yaml(edited).code_version != before) is changes


def test_a_stats_version_follows_its_sql_not_its_layout() -> None:
    def version(sql: str) -> str | None:
        asset = sql_stats_asset("s", sql, deps=[], description="")
        return asset.code_versions_by_key[dg.AssetKey(["stats", "s"])]

    sql = "SELECT origin, count(*) AS flights FROM normalized.flights GROUP BY origin"
    assert version(sql) == version(
        "SELECT origin,\n    count(*) AS flights\nFROM normalized.flights\nGROUP BY origin"
    )
    assert version(sql) != version(sql.replace("count(*)", "count(dest)"))


def test_a_ledger_without_versions_rebuilds_each_load_once(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))
    for load in ("load_a", "load_b"):
        offset = 0 if load == "load_a" else 100
        warehouse.write("raw", "readings", [raw_load(load, range(offset, offset + 100), 1000)], mode="append")
    assert build(warehouse, READINGS).loads == ["load_a", "load_b"]
    # The ledger as the code before versions wrote it.
    warehouse.execute(f"ALTER TABLE {NORMALIZED}.{PROCESSED_LOADS} DROP COLUMN code_version")
    rebuilt = build(warehouse, READINGS, swap_rows=100)  # one load per swap
    assert rebuilt.rebuilt == ["load_a", "load_b"] and rebuilt.raw_rows == 200
    assert (
        warehouse.row_count(NORMALIZED, READINGS.name) + warehouse.row_count("quarantine", READINGS.name)
        == 200
    )
    versions = warehouse.query(f"SELECT DISTINCT code_version FROM {NORMALIZED}.{PROCESSED_LOADS}").column(0)
    assert versions.to_pylist() == [READINGS.code_version]
    assert build(warehouse, READINGS).loads == []


class ReadingsWithDouble(Readings):
    double: pl.Int32


def _with_double(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    return safe_cast(raw, {"v": pl.Int32()}).with_columns(double=pl.col("v") * 2)


def test_a_column_added_then_dropped_by_the_contract_comes_and_goes(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))
    warehouse.write("raw", "readings", [raw_load("load_a", range(100), 1000)], mode="append")
    warehouse.write("raw", "readings", [raw_load("load_b", range(100, 200), 1000)], mode="append")
    build(warehouse, READINGS)
    doubled = replace(READINGS, contract=ReadingsWithDouble, transform=_with_double)
    assert build(warehouse, doubled, swap_rows=100).rebuilt == ["load_a", "load_b"]
    assert warehouse.scalar(f"SELECT count(*) FROM {NORMALIZED}.readings WHERE double = 2 * v") == 200 - 29
    build(warehouse, READINGS, swap_rows=100)
    assert "double" not in {name for name, _ in warehouse.columns(NORMALIZED, "readings")}
