"""The reconciliations counted in one pass per table (lib/reconcile.py) say what per-month queries say:
rows per month as a month's rebuild selects them (`partitions.read_raw_months` reads each raw spelling
of a year and month, `raw_values_sql` selects them) and `date_months_sql` selects normalized rows, rows
in no month, rows per processed load, current raw rows only."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib.partitions import (
    Month,
    date_months_sql,
    partition_months,
    raw_values_sql,
    read_raw_months,
)
from dataforge_assets.lib.reconcile import by_load, by_month, count_rows, per_month
from dataforge_assets.lib.warehouse.duckdb import DuckDBWarehouse

# Raw rows as they arrive (text): (load, year, month, current); the odd ones are in no month.
RAW_ROWS = [
    *[("a", "2013", "1", True)] * 3,
    *[("a", "2013", "01", True)] * 2,
    ("a", "2013", "1.0", True),  # not a month as the transform reads it
    ("a", None, "1", True),
    ("a", "2012", "5", True),  # before the first partition
    ("a", " 2013", "+02", True),  # padded and signed: February, as the transform reads it
    *[("b", "2013", "2", True)] * 4,
    ("b", "2013", "2", False),  # an old version (scd2): replaced downstream, not counted
    *[("c", "2013", "3", True)] * 2,  # a load the build has not processed
]
# Normalized rows: (load, flight date); quarantined rows: (load, raw year, raw month).
NORMALIZED_ROWS = [*[("a", "2013-01-15")] * 5, ("a", "2013-02-03"), *[("b", "2013-02-01")] * 3]
QUARANTINED_ROWS = [("a", "2013", "1.0"), ("a", None, "1"), ("a", "2012", "5"), ("b", "2013", "02")]


def _warehouse(path: Path, lose_one: bool = False) -> DuckDBWarehouse:
    with duckdb.connect(str(path)) as con:
        for schema in ("raw", "normalized", "quarantine"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute(
            "CREATE TABLE raw.flights (_dlt_load_id VARCHAR, year VARCHAR, month VARCHAR, _dlt_valid_to TIMESTAMP)"
        )
        con.executemany(
            "INSERT INTO raw.flights VALUES (?, ?, ?, ?)",
            [(load, y, m, None if current else "2026-01-01") for load, y, m, current in RAW_ROWS],
        )
        con.execute("CREATE TABLE normalized.flights (_dlt_load_id VARCHAR, flight_date DATE)")
        rows = NORMALIZED_ROWS[1:] if lose_one else NORMALIZED_ROWS
        con.executemany("INSERT INTO normalized.flights VALUES (?, ?)", rows)
        con.execute("CREATE TABLE quarantine.flights (_dlt_load_id VARCHAR, year VARCHAR, month VARCHAR)")
        con.executemany("INSERT INTO quarantine.flights VALUES (?, ?, ?)", QUARANTINED_ROWS)
        con.execute("CREATE TABLE normalized._processed_loads (load_id VARCHAR, table_name VARCHAR)")
        con.executemany(
            "INSERT INTO normalized._processed_loads VALUES (?, ?)",
            [("a", "flights"), ("b", "flights"), ("c", "other")],
        )
    return DuckDBWarehouse(database=str(path))


def _per_query(path: Path, months: list[Month]) -> dict[Month | None, dict[str, int]]:
    """What the checks counted with one query per month set and table."""
    every = partition_months()
    with duckdb.connect(str(path), read_only=True) as con:

        def count(table: str, where: str) -> int:
            return con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0]

        # Each raw spelling of a year and month, and the month it reads as.
        spelled = con.execute(
            "SELECT DISTINCT year, month FROM (SELECT year, month FROM raw.flights "
            "UNION ALL SELECT year, month FROM quarantine.flights)"
        ).fetchall()
        read = read_raw_months([y for y, _ in spelled], [m for _, m in spelled])
        spellings = {m: [s for s, r in zip(spelled, read, strict=True) if r == m] for m in [*every, *months]}
        in_a_month = [s for s, r in zip(spelled, read, strict=True) if r in every]

        def raw_of(month: Month) -> str:
            return raw_values_sql("year", "month", spellings[month])

        outside_raw = f"NOT COALESCE({raw_values_sql('year', 'month', in_a_month)}, FALSE)"
        current = "_dlt_valid_to IS NULL"
        found = {
            month: {
                "raw": count("raw.flights", f"{raw_of(month)} AND {current}"),
                "normalized": count("normalized.flights", date_months_sql("flight_date", [month])),
                "quarantined": count("quarantine.flights", raw_of(month)),
            }
            for month in months
        }
        found[None] = {
            "raw": count("raw.flights", f"{outside_raw} AND {current}"),
            "normalized": count(
                "normalized.flights", f"NOT COALESCE({date_months_sql('flight_date', every)}, FALSE)"
            ),
            "quarantined": count("quarantine.flights", outside_raw),
        }
    return found


def test_months_and_rows_in_no_month_match_the_per_month_queries(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    warehouse = _warehouse(path)
    months = [(2013, 1), (2013, 2), (2013, 3), (2026, 12)]
    with warehouse.session(read_only=True):
        counts = count_rows(warehouse, FLIGHTS)
    assert per_month(counts, months) == _per_query(path, months)
    assert per_month(counts, months) == {
        (2013, 1): {"raw": 5, "normalized": 5, "quarantined": 0},
        (2013, 2): {"raw": 5, "normalized": 4, "quarantined": 1},
        (2013, 3): {"raw": 2, "normalized": 0, "quarantined": 0},
        (2026, 12): {"raw": 0, "normalized": 0, "quarantined": 0},
        None: {"raw": 3, "normalized": 0, "quarantined": 3},
    }
    # Load c is not built yet: March does not reconcile; January and February do.
    result = by_month(counts, [(2013, 1), (2013, 2)])
    assert result.passed, result.description
    assert result.metadata["unaccounted_rows"].value == 0
    assert not by_month(counts, [(2013, 3)]).passed


def test_per_load_counts_processed_loads_and_names_a_lost_row(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "warehouse.duckdb", lose_one=True)
    with warehouse.session(read_only=True):
        counts = count_rows(warehouse, FLIGHTS)
    result = by_load(counts)
    assert not result.passed
    # Load a: 9 current raw rows, 5 normalized (one lost) + 3 quarantined; load c is not processed.
    assert result.metadata["loads_not_reconciled"].value == {
        "a": {"raw": 9, "normalized": 5, "quarantined": 3}
    }
    assert result.metadata["raw_rows"].value == 13
    assert result.metadata["unaccounted_rows"].value == 1
    assert not by_month(counts, [(2013, 1)]).passed  # the lost row's month


@pytest.mark.parametrize("lose_one", [False, True])
def test_a_table_without_months_reconciles_per_load(tmp_path: Path, lose_one: bool) -> None:
    from dataclasses import replace

    warehouse = _warehouse(tmp_path / "warehouse.duckdb", lose_one=lose_one)
    with warehouse.session(read_only=True):
        counts = count_rows(warehouse, replace(FLIGHTS, months=None))
    assert by_load(counts).passed is not lose_one
    assert set(counts.raw) == {("a", None), ("b", None), ("c", None)}
