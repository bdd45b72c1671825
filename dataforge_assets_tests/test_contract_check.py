"""The blocking contract check re-validates only what it has not vouched for, and still catches rows
changed after the fact and a changed contract."""

from __future__ import annotations

import dagster as dg
import duckdb

from dataforge_assets.defs.normalized.flights import CONTRACT
from dataforge_assets.lib.contract_ledger import contract_version
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets.lib.tables.columns import DeclaredContract, column
from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLOW = "raw/flights,raw/airlines,normalized/flights"


def test_a_new_load_is_checked_and_earlier_unchanged_loads_are_not_read_again(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 60))
    first = check(platform.materialize(FLOW), "normalized/flights", "contract")
    assert first.passed and meta(first)["rows_checked"] == 60

    land_flights(platform.env, 2, month_sample(2, 25))
    second = check(platform.materialize(FLOW), "normalized/flights", "contract")
    assert second.passed
    assert (meta(second)["rows_checked"], meta(second)["rows_unchanged_since_checked"]) == (25, 60)
    assert second.description == "85 rows keep the contract (25 checked now, 60 unchanged since checked)"

    # Nothing new and nothing touched: nothing to read.
    third = check(platform.materialize("normalized/flights"), "normalized/flights", "contract")
    assert (meta(third)["rows_checked"], meta(third)["rows_unchanged_since_checked"]) == (0, 85)


def test_rows_changed_after_their_check_are_checked_again(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 30))
    land_flights(platform.env, 2, month_sample(2, 30))
    platform.materialize(FLOW)
    land_flights(platform.env, 3, month_sample(3, 10))
    platform.materialize(FLOW)  # two loads, both vouched for

    with duckdb.connect(str(platform.env.duckdb_path)) as con:  # a valid change is a change too
        con.execute("UPDATE normalized.flights SET dep_delay = dep_delay + 1 WHERE month(flight_date) = 3")
    evaluation = check(platform.materialize("normalized/flights"), "normalized/flights", "contract")
    assert evaluation.passed
    assert (meta(evaluation)["rows_checked"], meta(evaluation)["rows_unchanged_since_checked"]) == (10, 60)

    with duckdb.connect(str(platform.env.duckdb_path)) as con:  # a deleted row changes its load too
        con.execute("DELETE FROM normalized.flights WHERE month(flight_date) = 1 AND _source_row = 1")
    # (the reconciliation check fails on the lost row; the contract check only re-reads its load)
    result = platform.materialize("normalized/flights", raise_on_error=False)
    evaluation = check(result, "normalized/flights", "contract")
    assert (meta(evaluation)["rows_checked"], meta(evaluation)["rows_unchanged_since_checked"]) == (59, 10)


def test_only_contract_columns_are_fingerprinted(platform: Platform) -> None:
    """The fingerprint hashes what the contract judges: a lineage column rewritten is not re-read, a
    contract column rewritten (even to the value it would get anyway, by type) is."""
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 30))
    platform.materialize(FLOW)

    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute(
            "UPDATE normalized.flights SET _source_file = 'renamed.csv', _source_row = _source_row + 100"
        )
    evaluation = check(platform.materialize("normalized/flights"), "normalized/flights", "contract")
    assert (meta(evaluation)["rows_checked"], meta(evaluation)["rows_unchanged_since_checked"]) == (0, 30)

    with duckdb.connect(str(platform.env.duckdb_path)) as con:  # one value of one row, made invalid
        con.execute("UPDATE normalized.flights SET carrier = 'not a code' WHERE _source_row = 101")
    evaluation = check(
        platform.materialize("normalized/flights", raise_on_error=False), "normalized/flights", "contract"
    )
    assert not evaluation.passed
    assert (meta(evaluation)["rows_checked"], meta(evaluation)["failures"]) == (30, 1)


def _with_distance(name: str, **checks: float) -> DeclaredContract:
    columns = [column("distance", "int32", **checks) if c.name == "distance" else c for c in CONTRACT.columns]
    return DeclaredContract(name, columns)


def test_contract_version_follows_columns_and_check_arguments() -> None:
    stricter = _with_distance(CONTRACT.name, ge=100)
    renamed = _with_distance("SameRulesOtherName", ge=1)  # same columns and checks: the same contract
    assert contract_version(CONTRACT) == contract_version(_with_distance(CONTRACT.name, ge=1))
    assert contract_version(stricter) != contract_version(CONTRACT)
    assert contract_version(renamed) == contract_version(CONTRACT)


def test_a_contract_column_gone_from_the_table_fails_the_check_naming_it(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 20))
    platform.materialize(FLOW)
    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute("ALTER TABLE normalized.flights DROP COLUMN air_time")
    evaluation = check(
        platform.materialize("normalized/flights", raise_on_error=False), "normalized/flights", "contract"
    )
    assert not evaluation.passed
    assert "column 'air_time' is missing" in (evaluation.description or "")


def test_a_failed_contract_stops_the_stats_and_a_check_selected_alone_builds_nothing(
    platform: Platform,
) -> None:
    """The checks run in the asset's step (normalized_asset.py): each still has its own result, a failed
    blocking one still keeps what is built from the table from running, and a check selected alone
    runs without a build."""
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 30))
    platform.materialize(f"{FLOW},stats/route_stats")
    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute("UPDATE normalized.flights SET distance = -1 WHERE _source_row = 3")

    result = platform.materialize("normalized/flights,stats/route_stats", raise_on_error=False)
    assert not check(result, "normalized/flights", "contract").passed
    assert check(result, "normalized/flights", "reconciliation").passed  # every check still reports
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "normalized/flights" in materialized and "stats/route_stats" not in materialized
    assert not result.success

    defs = platform.definitions()
    alone = dg.materialize(
        [*defs.assets, *defs.asset_checks],
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(dg.AssetKey(["normalized", "flights"]), "contract")
        ),
        resources=defs.resources,
        instance=platform.instance,
        raise_on_error=False,
        tags=range_tags(),
    )
    assert [e.check_name for e in alone.get_asset_check_evaluations()] == ["contract"]
    assert not alone.get_asset_check_evaluations()[0].passed
    assert alone.get_asset_materialization_events() == []
