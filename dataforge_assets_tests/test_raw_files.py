"""Raw layer, files source: incremental by file, merge on the natural key, metadata reported."""

from __future__ import annotations

import os
import time

import polars as pl
import pytest

from dataforge_assets.lib.sources import load_keys
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, month_sample


def test_loads_only_new_files_and_never_duplicates(platform: Platform) -> None:
    january, february = month_sample(1, 300), month_sample(2, 200)
    land_flights(platform.env, 1, january)

    first = platform.materialize("raw/flights")
    assert platform.count("raw.flights") == 300
    meta = materialization_metadata(first, ["raw", "flights"])
    assert meta["dagster/row_count"] == 300
    assert "carrier" in {c.name for c in meta["dagster/column_schema"].columns}

    # Nothing new: nothing loaded, nothing changed.
    again = platform.materialize("raw/flights")
    assert materialization_metadata(again, ["raw", "flights"])["rows_loaded"] == 0
    assert platform.count("raw.flights") == 300

    # A new month: only that file is read.
    land_flights(platform.env, 2, february)
    added = platform.materialize("raw/flights")
    assert materialization_metadata(added, ["raw", "flights"])["rows_loaded"] == 200
    assert platform.count("raw.flights") == 500
    assert platform.sql("SELECT count(DISTINCT _dlt_load_id) FROM raw.flights")[0][0] == 2


def test_redelivered_file_replaces_rows_by_key(platform: Platform) -> None:
    january = month_sample(1, 100)
    path = land_flights(platform.env, 1, january)
    platform.materialize("raw/flights")

    # The same file again, one delay corrected and 10 more rows: merged, not appended.
    corrected = pl.concat([january, month_sample(1, 110).tail(10)]).with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("999"))
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay")
    )
    time.sleep(0.01)
    corrected.write_csv(path, null_value="NA")
    os.utime(path)
    platform.materialize("raw/flights")

    assert platform.count("raw.flights") == 110
    first = january.row(0, named=True)
    delay = platform.sql(
        f"SELECT dep_delay FROM raw.flights WHERE carrier = '{first['carrier']}' AND flight = '{first['flight']}' "
        f"AND day = '{first['day']}' AND sched_dep_time = '{first['sched_dep_time']}'"
    )
    assert delay == [("999",)]


def test_raw_keeps_text_and_lineage(platform: Platform) -> None:
    land_flights(platform.env, 3, month_sample(3, 50))
    platform.materialize("raw/flights")
    rows = platform.sql("SELECT _source_file, min(_source_row), max(_source_row) FROM raw.flights GROUP BY 1")
    assert rows == [("flights_2013_03.csv", 1, 50)]
    types = dict(
        platform.sql(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'flights' AND table_schema = 'raw'"
        )
    )
    assert types["dep_delay"] == "VARCHAR"  # raw keeps what arrived; typing is the normalized layer's job


KEY = "year, month, day, carrier, flight, origin, sched_dep_time"


def _distinct_keys(platform: Platform) -> int:
    return platform.sql(f"SELECT count(*) FROM (SELECT DISTINCT {KEY} FROM raw.flights)")[0][0]


def test_first_load_fills_an_empty_table_without_staging(platform: Platform) -> None:
    land_flights(platform.env, 1, month_sample(1, 120))
    land_flights(platform.env, 2, month_sample(2, 80))
    platform.materialize("raw/flights")

    assert platform.count("raw.flights") == 200 == _distinct_keys(platform)
    # Unique keys into a table with no rows: a plain insert, no staging copy to merge from.
    staged = platform.sql(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw_staging' AND table_name = 'flights'"
    )
    assert staged == [(0,)]


@pytest.mark.parametrize("spilled", [False, True], ids=["hashes_in_memory", "hashes_on_disk"])
def test_files_of_one_load_repeating_keys_still_merge_to_one_row_per_key(
    platform: Platform, spilled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if spilled:  # a load too large to hold its key hashes: they go to disk after every file
        monkeypatch.setattr(load_keys, "MEMORY_HASHES", 1)
    folder = platform.env.landing_dir / "flights"
    land_flights(platform.env, 1, month_sample(1, 100))
    platform.materialize("raw/flights")  # unique keys: the schema now says the load was deduplicated

    # Two files in the next load carry the same 50 February flights, one with a changed delay.
    february = month_sample(2, 50)
    land_flights(platform.env, 2, february)
    time.sleep(0.01)
    february.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("777"))
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay")
    ).write_csv(folder / "flights_2013_02_resent.csv", null_value="NA")
    platform.materialize("raw/flights")
    assert platform.count("raw.flights") == 150 == _distinct_keys(platform)

    # A load with unique keys again, then one more repeating load: the flag never carries over.
    land_flights(platform.env, 3, month_sample(3, 30))
    platform.materialize("raw/flights")
    assert platform.count("raw.flights") == 180 == _distinct_keys(platform)
    april = month_sample(4, 20)
    land_flights(platform.env, 4, april)
    april.write_csv(folder / "flights_2013_04_copy.csv", null_value="NA")
    platform.materialize("raw/flights")
    assert platform.count("raw.flights") == 200 == _distinct_keys(platform)
