"""A normalized build streams its valid rows into staging as one DuckDB statement and spools its rejects
to a temporary file meanwhile: the same rows, reasons and counts whatever the batch size, an error raised
while judging a batch surfaces as itself and leaves nothing, and a write of batches of several schemas
adds the columns it brings, as one INSERT per batch did."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from dataforge_assets.lib.normalize import NORMALIZED, PROCESSED_LOADS, QUARANTINE, NormalizedTable, build
from dataforge_assets.lib.reject_spool import RejectSpool
from dataforge_assets.lib.warehouse import DuckDBWarehouse
from dataforge_assets_tests.atomic_child import READINGS, raw_load


def rows(warehouse: DuckDBWarehouse, schema: str, table: str, leave_out: tuple[str, ...] = ()) -> list[tuple]:
    """Every row, order-independent, without the columns that differ by build time."""
    frame = pl.from_arrow(warehouse.query(f'SELECT * FROM "{schema}"."{table}"'))
    assert isinstance(frame, pl.DataFrame)
    return sorted(frame.drop(leave_out, strict=False).rows(), key=repr)


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))


def test_the_batch_size_changes_no_row_reason_or_count(tmp_path: Path) -> None:
    results = []
    for batch_rows in (7, 100, 10_000):  # many batches (each with rejects), some, one
        warehouse = DuckDBWarehouse(database=str(tmp_path / f"w{batch_rows}.duckdb"))
        warehouse.write("raw", "readings", [raw_load("load_a", range(300), 1000)], mode="append")
        report = build(warehouse, READINGS, batch_rows=batch_rows)
        results.append(
            (
                (report.raw_rows, report.normalized_rows, report.quarantined_rows, report.rules),
                rows(warehouse, NORMALIZED, READINGS.name),
                rows(warehouse, QUARANTINE, READINGS.name, leave_out=("_quarantined_at",)),
            )
        )
    assert results[0][0] == (300, 257, 43, {"type": 43})  # every 7th value is no number
    assert results[0] == results[1] == results[2]
    reasons = {row[-2] for row in results[0][2]}  # (..., reason, origin)
    assert "v: x is not a valid Int32" in reasons


class JudgeFailed(Exception):
    pass


def _failing_transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    if "k150" in raw["k"].to_list():
        raise JudgeFailed("the transform broke on the batch holding k150")
    return READINGS.transform(raw, lookups)


def test_an_error_while_judging_a_batch_surfaces_as_itself_and_leaves_nothing(
    warehouse: DuckDBWarehouse,
) -> None:
    failing = NormalizedTable(
        name=READINGS.name,
        raw_table=READINGS.raw_table,
        key=READINGS.key,
        contract=READINGS.contract,
        transform=_failing_transform,
    )
    warehouse.write("raw", "readings", [raw_load("load_a", range(300), 1000)], mode="append")
    # Batches before k150's are already in the staging statement when the error comes.
    with pytest.raises(JudgeFailed):
        build(warehouse, failing, batch_rows=50)
    for schema, table in (
        (NORMALIZED, READINGS.name),
        (QUARANTINE, READINGS.name),
        (NORMALIZED, PROCESSED_LOADS),
    ):
        assert not warehouse.table_exists(schema, table)
    assert not warehouse.table_exists(NORMALIZED, f"_staging_{READINGS.name}")

    report = build(warehouse, READINGS, batch_rows=50)  # run again: the whole load, once
    assert (report.normalized_rows, report.quarantined_rows) == (257, 43)
    assert (
        warehouse.row_count(NORMALIZED, READINGS.name) + warehouse.row_count(QUARANTINE, READINGS.name) == 300
    )


def test_one_write_of_batches_of_several_schemas_adds_their_columns(warehouse: DuckDBWarehouse) -> None:
    def batches() -> Iterator[pa.Table]:
        yield pa.table({"a": [1, 2]})
        yield pa.table({"a": [3]})
        yield pa.table({"a": pa.array([], pa.int64()), "c": pa.array([], pa.string())})  # adds nothing
        yield pa.table({"a": [4], "b": ["x"]})  # a column arrives (raw schema evolution)
        yield pa.table({"a": [5], "b": ["y"]})

    assert warehouse.write("s", "t", batches(), mode="append") == 5
    assert [name for name, _ in warehouse.columns("s", "t")] == ["a", "b"]
    assert rows(warehouse, "s", "t") == [(1, None), (2, None), (3, None), (4, "x"), (5, "y")]


def test_a_write_of_only_empty_batches_makes_the_table(warehouse: DuckDBWarehouse) -> None:
    empty = pa.table({"a": pa.array([], pa.int64())})
    assert warehouse.write("s", "t", [empty, empty], mode="append") == 0
    assert warehouse.table_exists("s", "t") and warehouse.row_count("s", "t") == 0
    # Into the existing table an empty batch of another schema adds no column.
    warehouse.write("s", "t", [pa.table({"z": pa.array([], pa.string())})], mode="append")
    assert [name for name, _ in warehouse.columns("s", "t")] == ["a"]


def test_an_error_raised_by_the_batches_surfaces_as_itself_and_writes_nothing(
    warehouse: DuckDBWarehouse,
) -> None:
    warehouse.write("s", "t", [pa.table({"a": [0]})], mode="append")

    def batches() -> Iterator[pa.Table]:
        yield pa.table({"a": [1]})
        raise JudgeFailed("no second batch")

    with pytest.raises(JudgeFailed):
        warehouse.write("s", "t", batches(), mode="append")
    assert rows(warehouse, "s", "t") == [(0,)]


def test_the_reject_spool_gives_back_what_it_was_given_in_order() -> None:
    first = pa.table({"k": ["a", "b"], "n": [1, 2]})
    second = pa.table({"k": ["c"], "n": [3]})
    with RejectSpool() as spool:
        spool.add(first)
        spool.add(first.slice(0, 0))
        spool.add(second)
        assert pa.Table.from_batches(list(spool.batches())).equals(pa.concat_tables([first, second]))
    with RejectSpool() as spool:  # only empty tables: one empty batch, so the table is still made
        spool.add(first.slice(0, 0))
        (batch,) = spool.batches()
        assert batch.num_rows == 0 and batch.schema.equals(first.schema)
    with RejectSpool() as spool:
        assert list(spool.batches()) == []
