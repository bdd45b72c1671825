"""Raw layer, files source: incremental by file, merge on the natural key, metadata reported."""

from __future__ import annotations

import os
import time

import polars as pl

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
