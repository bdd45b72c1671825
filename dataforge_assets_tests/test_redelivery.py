"""A re-delivered file replaces each row's earlier version wherever it is (normalized or quarantine),
searching only the months a key can be in; other months' rows stay as they were."""

from __future__ import annotations

import dataclasses
import os
import time

import polars as pl

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib.normalize import _months_holding_keys
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLOW = "raw/flights,raw/airlines,normalized/flights"


def _with_delays(frame: pl.DataFrame, delays: dict[int, str]) -> pl.DataFrame:
    index = pl.int_range(pl.len())
    delay = pl.col("dep_delay")
    for row, value in delays.items():
        delay = pl.when(index == row).then(pl.lit(value)).otherwise(delay)
    return frame.with_columns(delay.alias("dep_delay"))


def test_a_redelivered_month_replaces_its_rows_in_both_tables_and_leaves_other_months(
    platform: Platform,
) -> None:
    land_reference(platform.env)
    january = month_sample(1, 30)
    path = land_flights(platform.env, 1, _with_delays(january, {2: "soon"}))  # row 3 quarantined
    land_flights(platform.env, 2, month_sample(2, 30))
    platform.materialize(FLOW)
    assert (platform.count("normalized.flights"), platform.count("quarantine.flights")) == (59, 1)
    february = platform.sql(
        "SELECT * EXCLUDE (_dlt_load_id) FROM normalized.flights WHERE month(flight_date) = 2 ORDER BY _row_key"
    )

    # Row 1 corrected, row 2 now broken, row 3 fixed: each replaces its earlier version.
    time.sleep(0.01)
    _with_delays(january, {0: "999", 1: "late", 2: "5"}).write_csv(path, null_value="NA")
    os.utime(path)
    platform.materialize(FLOW)

    assert (platform.count("normalized.flights"), platform.count("quarantine.flights")) == (59, 1)
    assert platform.sql("SELECT dep_delay FROM quarantine.flights") == [("late",)]
    keys = platform.sql(
        "SELECT count(*), count(DISTINCT _row_key) FROM "
        "(SELECT _row_key FROM normalized.flights UNION ALL SELECT _row_key FROM quarantine.flights)"
    )
    assert keys == [(60, 60)]  # one version of every row
    fixed = platform.sql(
        "SELECT _source_row, dep_delay FROM normalized.flights "
        "WHERE month(flight_date) = 1 AND _source_row IN (1, 3) ORDER BY 1"
    )
    assert fixed == [(1, 999), (3, 5)]
    assert february == platform.sql(
        "SELECT * EXCLUDE (_dlt_load_id) FROM normalized.flights WHERE month(flight_date) = 2 ORDER BY _row_key"
    )


def test_earlier_versions_are_searched_by_month_only_when_the_key_holds_the_month() -> None:
    assert _months_holding_keys(FLIGHTS, {(2013, 2), (2013, 1)}) == ("flight_date", [(2013, 1), (2013, 2)])
    # A key without the month lets a corrected row move to another month: every month is searched.
    no_month = dataclasses.replace(FLIGHTS, key=("carrier", "flight", "origin", "sched_dep_time"))
    assert _months_holding_keys(no_month, {(2013, 1)}) is None
    assert _months_holding_keys(dataclasses.replace(FLIGHTS, months=None), {(2013, 1)}) is None
