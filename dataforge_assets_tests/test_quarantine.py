"""Quarantine and the checks around it, on the real definitions: a broken row is kept with its rule, reason
and origin; raw rows reconcile with normalized + quarantined; drift on a raw table is named."""

from __future__ import annotations

import duckdb
import polars as pl

from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLOW = "raw/flights,raw/airlines,normalized/flights"


def test_text_in_a_delay_column_is_quarantined_with_origin(platform: Platform) -> None:
    land_reference(platform.env)
    sample = month_sample(1, 40).with_columns(
        pl.when(pl.int_range(pl.len()) == 6)
        .then(pl.lit("late"))
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay")
    )
    land_flights(platform.env, 1, sample)
    result = platform.materialize(FLOW)

    assert platform.count("normalized.flights") == 39
    quarantined = platform.sql(
        "SELECT dep_delay, _quarantine_rule, _quarantine_reason, _quarantine_origin FROM quarantine.flights"
    )
    assert quarantined == [
        ("late", "type", "dep_delay: late is not a valid Int32", "file flights_2013_01.csv row 7")
    ]
    reconciliation = check(
        result, "normalized/flights", "reconciliation_by_load"
    )  # the whole table, per load
    assert reconciliation.passed
    assert meta(reconciliation) == {
        "raw_rows": 40,
        "normalized_rows": 39,
        "quarantined_rows": 1,
        "unaccounted_rows": 0,
        "loads_checked": 1,
        "loads_not_reconciled": {},
    }
    assert check(result, "normalized/flights", "contract").passed

    # The source corrects the row: it leaves quarantine and joins the normalized table.
    land_flights(platform.env, 1, month_sample(1, 40))
    platform.materialize(FLOW)
    assert platform.count("normalized.flights") == 40
    assert platform.count("quarantine.flights") == 0

    # A later delivery breaks another row: it leaves the normalized table for quarantine, and every
    # load still adds up (the re-delivered rows belong to the new load now).
    third = pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("-3")).otherwise(pl.col("distance"))
    land_flights(platform.env, 1, month_sample(1, 40).with_columns(third.alias("distance")))
    broken = platform.materialize(FLOW)
    assert (platform.count("normalized.flights"), platform.count("quarantine.flights")) == (39, 1)
    reconciliation = check(broken, "normalized/flights", "reconciliation_by_load")
    assert reconciliation.passed and meta(reconciliation)["loads_not_reconciled"] == {}
    # The run's own check covers January too: the run wrote it.
    month = check(broken, "normalized/flights", "reconciliation")
    assert month.passed and meta(month)["rows_per_month"]["2013-01-01"] == {
        "raw": 40,
        "normalized": 39,
        "quarantined": 1,
    }
    assert platform.sql("SELECT _quarantine_rule, _quarantine_origin FROM quarantine.flights") == [
        ("distance:greater_than_or_equal_to(1)", "file flights_2013_01.csv row 3")
    ]


def test_reconciliation_fails_when_a_row_goes_missing(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 20))
    platform.materialize(FLOW)
    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute("DELETE FROM normalized.flights WHERE _source_row = 3")
    result = platform.materialize("normalized/flights", raise_on_error=False)
    # A run of the current month: the month's own check does not look at January; the whole-table
    # check does, and names the loss.
    evaluation = check(result, "normalized/flights", "reconciliation_by_load")
    assert not evaluation.passed
    assert meta(evaluation)["unaccounted_rows"] == 1
    assert check(result, "normalized/flights", "reconciliation").passed
    platform.materialize("normalized/flights", months="2013-01-01...2013-01-01")
    assert platform.count("normalized.flights") == 20  # the month's rebuild brought the row back
    assert "1 row(s) unaccounted for" in (evaluation.description or "")


def test_contract_check_names_rule_row_and_value(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 20))
    platform.materialize(FLOW)
    with duckdb.connect(str(platform.env.duckdb_path)) as con:  # damage after the fact
        con.execute("UPDATE normalized.flights SET distance = -1 WHERE _source_row IN (2, 5)")
    result = platform.materialize("normalized/flights", raise_on_error=False)
    evaluation = check(result, "normalized/flights", "contract")
    assert not evaluation.passed
    metadata = meta(evaluation)
    assert metadata["failures_per_rule"] == {"distance:greater_than_or_equal_to(1)": 2}
    sample = metadata["failure_sample"]
    assert "file flights_2013_01.csv row 2" in sample and "file flights_2013_01.csv row 5" in sample
    assert "| distance | greater_than_or_equal_to(1) | -1 |" in sample


def test_extra_column_is_kept_in_raw_and_named_by_the_drift_check(platform: Platform) -> None:
    land_flights(platform.env, 1, month_sample(1, 20))
    first = platform.materialize("raw/flights")
    assert check(first, "raw/flights", "schema_drift").passed

    land_flights(platform.env, 2, month_sample(2, 20).with_columns(meal=pl.lit("snack")))
    second = platform.materialize("raw/flights")
    drift = check(second, "raw/flights", "schema_drift")
    assert not drift.passed and drift.severity.value == "WARN"
    assert meta(drift)["new_columns"] == {"meal": "VARCHAR"}
    assert drift.description == "new column 'meal' (VARCHAR) in flights_2013_02.csv"
    assert meta(drift)["new_columns_in_files"] == {"meal": ["flights_2013_02.csv"]}
    assert platform.sql("SELECT count(*), count(meal) FROM raw.flights") == [(40, 20)]


def test_a_month_spelled_with_padding_or_a_sign_is_reconciled_and_rebuilt_as_its_month(
    platform: Platform,
) -> None:
    """Raw keeps the year and month as they arrived (` 2013`, `+01`); the transform reads them as
    numbers, so those rows are January's: January's check counts them there, and January's rebuild
    re-derives them (one rule for a raw row's month: `partitions.read_raw_months`). Numbers that make
    no date (month 13, 32 January) are quarantined with a reason, not a failed build."""
    land_reference(platform.env)
    row = pl.int_range(pl.len())
    sample = month_sample(1, 20).with_columns(
        pl.when(row < 5).then(pl.lit(" 2013")).otherwise(pl.col("year")).alias("year"),
        pl.when(row % 4 == 1)
        .then(pl.lit("+01"))
        .when(row == 7)
        .then(pl.lit("13"))
        .otherwise(pl.col("month"))
        .alias("month"),
        pl.when(row == 8).then(pl.lit("32")).otherwise(pl.col("day")).alias("day"),
        pl.when(row == 2).then(pl.lit("late")).otherwise(pl.col("dep_delay")).alias("dep_delay"),
    )
    land_flights(platform.env, 1, sample)
    january = "2013-01-01...2013-01-01"
    result = platform.materialize(FLOW, months=january, raise_on_error=False)
    assert (platform.count("normalized.flights"), platform.count("quarantine.flights")) == (17, 3)
    assert platform.sql(
        "SELECT year, month, day, _quarantine_reason FROM quarantine.flights ORDER BY _source_row"
    ) == [
        (" 2013", "1", "1", "dep_delay: late is not a valid Int32"),
        ("2013", "13", "1", "year 2013, month 13, day 1: not a date"),
        ("2013", "1", "32", "year 2013, month 1, day 32: not a date"),
    ]
    month = check(result, "normalized/flights", "reconciliation")
    assert month.passed, month.description
    assert meta(month)["rows_per_month"] == {
        "2013-01-01": {"raw": 19, "normalized": 17, "quarantined": 2},
        "no month": {"raw": 1, "normalized": 0, "quarantined": 1},
    }

    # Behind the platform's back, January loses every normalized and quarantined row (the month-13 row
    # is in no month: it stays); January's rebuild brings back all of them, the padded ones too.
    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute("DELETE FROM normalized.flights")
        con.execute("DELETE FROM quarantine.flights WHERE month <> '13'")
    rebuilt = platform.materialize("normalized/flights", months=january, raise_on_error=False)
    assert (platform.count("normalized.flights"), platform.count("quarantine.flights")) == (17, 3)
    assert check(rebuilt, "normalized/flights", "reconciliation").passed
