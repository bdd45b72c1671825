"""A normalized build run in its own process that stops half-way, so a test can kill it there.

`python -m dataforge_assets_tests.atomic_child duckdb|postgres <path or URL> <writes> [<swap rows>]` runs
the real `normalize.build` of a small table and, once its `<writes>`-th batch has gone to a table write,
prints PAUSED and sleeps: rows of some batches are then written inside the build's transaction, not yet
committed. A write streams its batches (DuckDB: one statement), so the pause can fall inside a statement. With
`<swap rows>`, loads are swapped in by groups of about that many rows, a transaction each.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping

import pandera.polars as pa
import polars as pl
import pyarrow as pa_arrow

from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.normalize import SWAP_ROWS, NormalizedTable, build
from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse

PAUSED = "PAUSED"


class Readings(pa.DataFrameModel):
    k: str
    v: pl.Int32 = pa.Field(ge=0)

    class Config:
        strict = True
        coerce = False


def _transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    return safe_cast(raw, {"v": pl.Int32()})


READINGS = NormalizedTable(
    name="readings", raw_table="readings", key=("k",), contract=Readings, transform=_transform
)


def raw_load(load_id: str, keys: Iterable[int], value: int) -> pa_arrow.Table:
    """Raw rows as dlt would leave them: text values, every 7th one not a number (quarantined)."""
    keys = list(keys)
    return pa_arrow.table(
        {
            "k": [f"k{n}" for n in keys],
            "v": ["x" if n % 7 == 0 else str(value + n) for n in keys],
            "_dlt_load_id": [load_id] * len(keys),
        }
    )


_writes = [0]


def _pausing(base: type[Warehouse], after_writes: int) -> type[Warehouse]:
    class Pausing(base):  # type: ignore[valid-type, misc]
        def write(self, schema, table, batches, mode):  # type: ignore[no-untyped-def]
            return super().write(schema, table, _counted(batches, after_writes), mode)

    return Pausing


def _counted(batches: Iterable[pa_arrow.Table], after_writes: int) -> Iterator[pa_arrow.Table]:
    for batch in batches:
        yield batch
        _writes[0] += 1  # the writer has taken the batch and asks for the next one
        if _writes[0] >= after_writes:
            print(PAUSED, flush=True)
            time.sleep(600)


def main() -> None:
    kind, where, after_writes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    swap_rows = int(sys.argv[4]) if len(sys.argv) > 4 else SWAP_ROWS
    if kind == "duckdb":
        warehouse = _pausing(DuckDBWarehouse, after_writes)(database=where)
    else:
        warehouse = _pausing(PostgresWarehouse, after_writes)(url=where)
    build(warehouse, READINGS, batch_rows=100, swap_rows=swap_rows)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
