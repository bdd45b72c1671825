"""`_row_key` cannot collide: distinct key tuples (separators, NULLs, digits and colons in values) get
distinct keys; a warehouse built with the old `|`-joined keys is rebuilt once, and a re-delivered row
still replaces its old version."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa_arrow
from hypothesis import given, settings
from hypothesis import strategies as st

from dataforge_assets.lib.normalize import NORMALIZED, QUARANTINE, ROW_KEY, build, row_key
from dataforge_assets.lib.warehouse import DuckDBWarehouse
from dataforge_assets_tests.atomic_child import READINGS, raw_load

# The characters the encoding itself uses, so hypothesis reaches the tricky cases quickly.
VALUE = st.one_of(st.none(), st.text(alphabet="|~:0123456789ab", max_size=6), st.text(max_size=4))
TUPLES = st.lists(st.tuples(VALUE, VALUE, VALUE), min_size=1, max_size=40)


def keys_of(rows: list[tuple]) -> list[str]:
    frame = pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String, "c": pl.String}, orient="row")
    return frame.select(row_key(["a", "b", "c"]))[ROW_KEY].to_list()


@settings(max_examples=300, deadline=None)
@given(TUPLES)
def test_distinct_key_tuples_get_distinct_row_keys(rows: list[tuple]) -> None:
    keys = keys_of(rows)
    assert None not in keys
    assert len(set(keys)) == len(set(rows))
    # ... and the same tuple always gets the same key (a re-delivered row finds its old version).
    assert {r: k for r, k in zip(rows, keys, strict=True)} == dict(zip(rows, keys_of(rows), strict=True))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=30))
def test_typed_values_get_distinct_row_keys(values: list[int | None]) -> None:
    frame = pl.DataFrame({"n": values, "m": list(reversed(values))}, schema={"n": pl.Int64, "m": pl.Int64})
    keys = frame.select(row_key(["n", "m"]))[ROW_KEY].to_list()
    assert len(set(keys)) == len(set(zip(values, reversed(values), strict=True)))


def test_the_collisions_of_the_old_format_are_gone() -> None:
    assert len(set(keys_of([("x|y", "z", None), ("x", "y|z", None)]))) == 2
    assert len(set(keys_of([("k", None, None), (None, "k", None)]))) == 2
    assert len(set(keys_of([("", None, None), (None, "", None), (None, None, None)]))) == 3
    assert len(set(keys_of([("1:a", "", None), ("", "1:a", None), ("~", None, None)]))) == 3


def test_a_warehouse_with_old_row_keys_is_rebuilt_and_replaces_redelivered_rows(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))
    warehouse.write("raw", "readings", [raw_load("load_a", range(300), 1000)], mode="append")
    build(warehouse, READINGS)
    # What the first format left: `_row_key` = the values joined by `|`, and no recorded format.
    for schema in (NORMALIZED, QUARANTINE):
        warehouse.execute(f'UPDATE {schema}.readings SET "{ROW_KEY}" = k')
    warehouse.drop_table(NORMALIZED, "_row_key_formats")

    # k1 and k14 (quarantined before: 14 is a multiple of 7) are delivered again, as dlt's merge leaves them.
    warehouse.execute("DELETE FROM raw.readings WHERE k IN ('k1', 'k14')")
    again = pa_arrow.table({"k": ["k1", "k14"], "v": ["7", "8"], "_dlt_load_id": ["load_b"] * 2})
    warehouse.write("raw", "readings", [again], mode="append")
    report = build(warehouse, READINGS)

    assert report.loads == ["load_a", "load_b"]  # rebuilt whole from raw, once
    rows = warehouse.query(
        f"SELECT k, v, {ROW_KEY} FROM {NORMALIZED}.readings UNION ALL "
        f"SELECT k, NULL, {ROW_KEY} FROM {QUARANTINE}.readings"
    ).to_pylist()
    assert len(rows) == len({r["k"] for r in rows}) == 300
    by_key = {r["k"]: r for r in rows}
    assert by_key["k1"]["v"] == 7 and by_key["k14"]["v"] == 8  # the new versions, in normalized now
    assert by_key["k2"][ROW_KEY] == "2:k2"  # every row carries the new format
    assert build(warehouse, READINGS).loads == []  # and the rebuild happens once
