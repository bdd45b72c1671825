"""What a raw table's write disposition means downstream: which raw rows are current, which are gone.

- `scd2` (merge strategy, history kept): raw holds every version; the current one has
  `_dlt_valid_to` NULL. Normalized tables read only current rows.
- Rows leave raw when the source deletes them: a `replace` load drops rows the source no longer
  has, `scd2` retires them (valid_to set), a merge with a `hard_delete` column deletes flagged rows.
  The normalized and quarantine rows built from them must go too, or they outlive their source.

Finding them is a count first (every current raw row has exactly one normalized or quarantined row,
so more downstream rows than current raw rows means some were deleted), then a key comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dataforge_assets.lib.layers import NORMALIZED, QUARANTINE, RAW, ROW_KEY
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")

VALID_FROM, VALID_TO = "_dlt_valid_from", "_dlt_valid_to"  # dlt's scd2 validity columns


def is_history(warehouse: Warehouse, raw_table: str) -> bool:
    """True for a raw table kept with dlt's scd2 strategy (it has the validity columns)."""
    return any(name == VALID_TO for name, _ in warehouse.columns(RAW, raw_table))


def current_rows(warehouse: Warehouse, raw_table: str) -> str:
    """SQL condition selecting the raw table's current rows: all of them, unless it keeps history."""
    return f'"{VALID_TO}" IS NULL' if is_history(warehouse, raw_table) else "TRUE"


def sweep_deleted(warehouse: Warehouse, table: str, raw_table: str, key: Sequence[str]) -> int:
    """Delete normalized and quarantined rows of `table` whose raw row is no longer current; call it
    inside the build's transaction, after every raw load was processed. Returns the rows deleted."""
    from dataforge_assets.lib.normalize import row_key  # normalize.py imports this module

    present = [s for s in (NORMALIZED, QUARANTINE) if warehouse.table_exists(s, table)]
    if not present or not warehouse.table_exists(RAW, raw_table):
        return 0
    where = current_rows(warehouse, raw_table)
    downstream = sum(int(warehouse.scalar(f'SELECT count(*) FROM "{s}"."{table}"')) for s in present)
    if downstream <= int(warehouse.scalar(f'SELECT count(*) FROM {RAW}."{raw_table}" WHERE {where}')):
        return 0
    # The keys computed as the build computes them (same columns, same Arrow types), staged in the
    # warehouse so the comparison is one anti-join there.
    live = f"_live_keys_{table}"
    warehouse.drop_table(NORMALIZED, live)
    columns = ", ".join(f'"{c}"' for c in key)
    # Read whole before writing: inside the transaction one connection does both (about 30 bytes a row).
    batches = [
        pl.from_arrow(batch).select(row_key(key)).to_arrow()  # type: ignore[union-attr]
        for batch in warehouse.query_batches(f'SELECT {columns} FROM {RAW}."{raw_table}" WHERE {where}')
    ]
    warehouse.write(NORMALIZED, live, batches, mode="append")
    deleted = 0
    for schema in present:
        gone = f'"{ROW_KEY}" NOT IN (SELECT "{ROW_KEY}" FROM {NORMALIZED}."{live}")'
        if warehouse.table_exists(NORMALIZED, live):
            deleted += int(warehouse.scalar(f'SELECT count(*) FROM "{schema}"."{table}" WHERE {gone}'))
            warehouse.execute(f'DELETE FROM "{schema}"."{table}" WHERE {gone}')
        else:  # no current raw row at all
            deleted += int(warehouse.scalar(f'SELECT count(*) FROM "{schema}"."{table}"'))
            warehouse.execute(f'DELETE FROM "{schema}"."{table}"')
    warehouse.drop_table(NORMALIZED, live)
    return deleted
