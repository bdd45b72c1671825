"""A fix reaches the data already loaded: a tightened contract, a loosened one and a changed transform
(each a real edit of defs/normalized/flights.py, imported from a temporary file) are shown as a new code
version by Dagster before the run, and after one materialization normalized.flights and
quarantine.flights are exactly what a fresh build with the new code makes. On DuckDB and PostgreSQL,
on two months of the real flights; then the documented provenance query traces a row to its origin."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleCauseCategory
from dagster._core.loader import LoadingContextForTest

from dataforge_assets.defs.normalized import flights as original
from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.normalize import LOAD_ID, NORMALIZED, PROCESSED_LOADS, QUARANTINE, build
from dataforge_assets.lib.operations.automation import with_declarative_automation
from dataforge_assets.lib.partitions import current_month, range_tags
from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.conftest import Platform, PostgresPlatform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLIGHTS = dg.AssetKey(["normalized", "flights"])
ROWS_PER_MONTH = 1500
DOC = REPO_ROOT / "docs" / "reprocessing.md"
# Edits of flights.py, as an engineer would make them (old text -> new text).
TIGHTENED = ('column("distance", "int32", ge=1)', 'column("distance", "int32", ge=500)')
LOOSENED = ('column("distance", "int32", ge=1)', 'column("distance", "int32", ge=200)')
# A flight that never arrived counts as cancelled too.
TRANSFORM = (
    'cancelled=pl.col("dep_time").is_null(),',
    'cancelled=pl.col("dep_time").is_null() | pl.col("arr_time").is_null(),',
)


def edited_flights(tmp_path: Path, name: str, edit: tuple[str, str]) -> ModuleType:
    source = Path(original.__file__).read_text()
    assert edit[0] in source, f"flights.py no longer has {edit[0]!r}: update the test's edit"
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(edit[0], edit[1]))
    spec = importlib.util.spec_from_file_location(f"reprocessing_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an imported module is: its source is found by its name
    spec.loader.exec_module(module)
    return module


def definitions_with(platform: Platform, module: ModuleType) -> dg.Definitions:
    """The real definitions with normalized/flights (and its checks) built by `module`."""
    defs = platform.definitions()
    assets = [a for a in defs.assets or [] if FLIGHTS not in getattr(a, "keys", ())]
    checks = [c for c in defs.asset_checks or [] if all(k.asset_key != FLIGHTS for k in c.check_keys)]
    return dg.Definitions(
        assets=[*assets, module.flights_asset],
        asset_checks=[*checks, *module.flights_checks],
        resources=defs.resources,
    )


def code_version_causes(platform: Platform, defs: dg.Definitions) -> list[str]:
    """What the UI shows as the asset's stale causes of the code kind."""
    resolver = CachingStaleStatusResolver(
        platform.instance, defs.resolve_asset_graph(), LoadingContextForTest(platform.instance)
    )
    # Staleness is per partition: the month the runs materialize (the current one).
    causes = resolver.get_stale_causes(FLIGHTS, partition_key=current_month())
    return [c.reason for c in causes if c.category == StaleCauseCategory.CODE and c.key.asset_key == FLIGHTS]


def materialize(platform: Platform, defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*(defs.assets or []), *(defs.asset_checks or [])],
        selection=dg.AssetSelection.assets(FLIGHTS),
        resources=defs.resources,
        instance=platform.instance,
        tags=range_tags(),
    )


def warehouse_of(platform: Platform) -> Warehouse:
    if isinstance(platform, PostgresPlatform):
        return PostgresWarehouse(url=platform.url)
    return DuckDBWarehouse(database=str(platform.env.duckdb_path))


def contents(warehouse: Warehouse) -> dict[str, list[dict[str, Any]]]:
    """Every row of normalized.flights and quarantine.flights, by row key (the quarantine time aside)."""
    tables = {}
    for schema in (NORMALIZED, QUARANTINE):
        if not warehouse.table_exists(schema, "flights"):
            tables[schema] = []
            continue
        columns = [name for name, _ in warehouse.columns(schema, "flights") if name != "_quarantined_at"]
        select = ", ".join(f'"{c}"' for c in columns)
        tables[schema] = warehouse.query(
            f'SELECT {select} FROM "{schema}".flights ORDER BY "_row_key"'
        ).to_pylist()
    return tables


def fresh_build(warehouse: Warehouse, module: ModuleType) -> dict[str, list[dict[str, Any]]]:
    """The tables as a first build with this code makes them, from the same raw loads; one load per
    swap, so the grouped path is compared with the single-swap path of the materialization."""
    for schema in (NORMALIZED, QUARANTINE):
        warehouse.drop_table(schema, "flights")
    warehouse.execute(f"DELETE FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = 'flights'")
    report = build(warehouse, module.FLIGHTS, swap_rows=1)
    assert report.rebuilt == [] and len(report.loads) == 2
    return contents(warehouse)


def documented_query(name: str) -> str:
    blocks = dict(re.findall(r"```sql\n-- (\w+)\n(.*?)```", DOC.read_text(), flags=re.S))
    return blocks[name]


@pytest.fixture(params=["duckdb", "postgres"])
def loaded(request: pytest.FixtureRequest) -> Platform:
    """Two months of real flights in raw (two loads) and normalized by the code as it is."""
    platform: Platform = request.getfixturevalue("platform" if request.param == "duckdb" else "pg_platform")
    land_reference(platform.env)
    for month in (1, 2):
        land_flights(platform.env, month, month_sample(month, ROWS_PER_MONTH))
        platform.materialize("raw/flights,raw/airlines")
    first = platform.materialize("normalized/flights")
    assert materialization_metadata(first, ["normalized", "flights"])["new_loads"] == 2
    return platform


def test_code_and_contract_changes_rebuild_to_what_a_fresh_build_makes(loaded: Platform) -> None:
    platform, tmp = loaded, loaded.env.home
    warehouse = warehouse_of(platform)
    assert code_version_causes(platform, platform.definitions()) == []
    before = contents(warehouse)
    assert len(before[NORMALIZED]) == 2 * ROWS_PER_MONTH and before[QUARANTINE] == []

    expected_quarantined = {"tightened": (0, 500), "loosened": (0, 200), "transform": (0, 1)}
    for name, edit in (("tightened", TIGHTENED), ("loosened", LOOSENED), ("transform", TRANSFORM)):
        module = edited_flights(tmp, name, edit)
        defs = definitions_with(platform, module)
        # Before the run, Dagster shows the asset as changed: a code version unlike the last run's.
        assert code_version_causes(platform, defs) == ["has a new code version"], name

        result = materialize(platform, defs)
        metadata = materialization_metadata(result, ["normalized", "flights"])
        assert (metadata["new_loads"], metadata["rebuilt_loads"]) == (0, 2), name
        assert metadata["code_version"] == module.FLIGHTS.code_version != original.FLIGHTS.code_version
        assert check(result, "normalized/flights", "contract").passed, name
        reconciliation = check(result, "normalized/flights", "reconciliation")
        # Per month in a partitioned run: the current month and every month the rebuild wrote.
        assert reconciliation.passed and meta(reconciliation)["unaccounted_rows"] == 0, name
        assert meta(reconciliation)["months_checked"] >= 2, name
        assert code_version_causes(platform, defs) == [], name
        # Incremental afterwards: the same code has nothing left to build.
        assert build(warehouse, module.FLIGHTS).loads == [], name

        rebuilt = contents(warehouse)
        # Quarantined: exactly the rows the new contract refuses, with rule, reason and origin.
        low, high = expected_quarantined[name]
        short = [r for r in before[NORMALIZED] if low <= r["distance"] < high]
        assert len(rebuilt[QUARANTINE]) == len(short), name
        assert short or name == "transform"  # the real data has flights below 200 and 500 miles
        assert len(rebuilt[NORMALIZED]) + len(rebuilt[QUARANTINE]) == 2 * ROWS_PER_MONTH
        for row in rebuilt[QUARANTINE]:
            assert row["_quarantine_rule"] == f"distance:greater_than_or_equal_to({high})"
            assert row["_quarantine_origin"] == f"file {row['_source_file']} row {row['_source_row']}"
            assert row[LOAD_ID] and row["_quarantine_reason"].startswith("distance = ")
        if name == "transform":
            assert [r["cancelled"] for r in rebuilt[NORMALIZED]] == [
                r["dep_time"] is None or r["arr_time"] is None for r in rebuilt[NORMALIZED]
            ]
            assert any(r["cancelled"] and r["dep_time"] is not None for r in rebuilt[NORMALIZED])
        assert rebuilt == fresh_build(warehouse, module), f"{name}: rebuilt tables differ from a fresh build"

    # Provenance: the documented query leads from a normalized row to its load, file, row and version.
    (row,) = warehouse.query(documented_query("provenance")).to_pylist()
    assert (row["source_file"], row["source_row"], row["raw_dep_time"]) == ("flights_2013_01.csv", 1, "517")
    assert row["code_version"] == module.FLIGHTS.code_version and row["loaded_at"] is not None
    assert row["load_id"] == min(r[LOAD_ID] for r in before[NORMALIZED])  # January's, the first load


def test_automation_requests_the_rebuild_when_the_code_version_changes(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 50))
    platform.materialize("raw/flights,raw/airlines,normalized/flights")
    defs = platform.definitions()
    first = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance)
    settled = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=first.cursor)
    assert FLIGHTS not in requested(settled)

    # The code location reloads with an edited flights.py: the automation sensor asks for the rebuild.
    edited = with_declarative_automation(
        definitions_with(platform, edited_flights(platform.env.home, "auto", TIGHTENED))
    )
    changed = dg.evaluate_automation_conditions(
        defs=edited, instance=platform.instance, cursor=settled.cursor
    )
    assert FLIGHTS in requested(changed)
    after = dg.evaluate_automation_conditions(defs=edited, instance=platform.instance, cursor=changed.cursor)
    assert FLIGHTS not in requested(after)  # asked once, not on every tick


def requested(result: dg.EvaluateAutomationConditionsResult) -> set[dg.AssetKey]:
    return {FLIGHTS} if result.get_num_requested(FLIGHTS) else set()
