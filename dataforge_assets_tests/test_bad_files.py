"""Two damaged month files dropped together with a good one never block, hide or lose the others.

(Every other kind of bad file is in the corpus, test_delivery_corpus.py.)
"""

from __future__ import annotations

import duckdb
import polars as pl

from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLOW = "raw/flights,raw/airlines,normalized/flights"
ROWS = 30


def test_two_damaged_files_with_a_good_month_block_nothing(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, ROWS))
    platform.materialize(FLOW)

    # Dropped at once: text in dep_delay (March), an extra column `gate` (April), a good February.
    land_flights(platform.env, 2, month_sample(2, ROWS))
    march = month_sample(3, ROWS).with_columns(
        pl.when(pl.int_range(pl.len()).is_in([4, 9]))
        .then(pl.lit("delayed"))
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay")
    )
    land_flights(platform.env, 3, march)
    land_flights(platform.env, 4, month_sample(4, ROWS).with_columns(gate=pl.lit("C7")))
    result = platform.materialize(FLOW)

    assert result.success
    per_file = dict(platform.sql("SELECT _source_file, count(*) FROM raw.flights GROUP BY 1"))
    assert per_file == {f"flights_2013_{m:02d}.csv": ROWS for m in (1, 2, 3, 4)}
    # Raw keeps the text; the two rows are quarantined with a reason naming the column.
    assert platform.sql(
        "SELECT _source_row, dep_delay, _quarantine_reason FROM quarantine.flights ORDER BY 1"
    ) == [
        (5, "delayed", "dep_delay: delayed is not a valid Int32"),
        (10, "delayed", "dep_delay: delayed is not a valid Int32"),
    ]
    assert platform.count("normalized.flights") == 4 * ROWS - 2
    # The extra column is kept (the source's policy is `evolve`) and named by the drift check.
    assert platform.sql("SELECT count(gate) FROM raw.flights") == [(ROWS,)]
    drift = check(result, "raw/flights", "schema_drift")
    assert drift.description == "new column 'gate' (VARCHAR) in flights_2013_04.csv"
    assert check(result, "raw/flights", "rejected_files").passed
    assert materialization_metadata(result, ["raw", "flights"])["rejected_file_count"] == 0

    # The next delivery is not blocked: May loads on its own.
    land_flights(platform.env, 5, month_sample(5, ROWS))
    after = platform.materialize(FLOW)
    assert materialization_metadata(after, ["raw", "flights"])["rows_loaded"] == ROWS
    assert platform.count("raw.flights") == 5 * ROWS
    assert meta(check(after, "normalized/flights", "reconciliation"))["unaccounted_rows"] == 0


def test_a_raw_check_that_cannot_run_fails_as_a_check_and_the_load_goes_on(platform: Platform) -> None:
    """The raw checks run in the load's step, after the load is committed: one that cannot run (its
    table damaged behind the platform's back) is a failed check naming the error, never a failed load
    that would stop the normalized build."""
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, ROWS))
    platform.materialize(FLOW)
    with duckdb.connect(str(platform.env.duckdb_path)) as con:
        con.execute("DROP TABLE IF EXISTS raw._rejected_files")
        # Lost the column the check orders rejections by (the load's own report does not read it).
        con.execute(
            "CREATE TABLE raw._rejected_files (source VARCHAR, table_name VARCHAR, file_name VARCHAR, "
            "size_bytes BIGINT, sha256 VARCHAR, reason VARCHAR, rejected_at TIMESTAMPTZ)"
        )

    land_flights(platform.env, 2, month_sample(2, ROWS))
    result = platform.materialize(FLOW)

    assert result.success
    assert materialization_metadata(result, ["raw", "flights"])["rows_loaded"] == ROWS
    assert platform.count("normalized.flights") == 2 * ROWS
    broken = check(result, "raw/flights", "rejected_files")
    assert not broken.passed and broken.severity.value == "ERROR"
    assert (broken.description or "").startswith("the check could not run: BinderException")
    assert "_dlt_load_id" in (broken.description or "")
    assert check(result, "raw/flights", "schema_drift").passed
    assert check(result, "raw/flights", "row_count_anomaly").passed
