"""What a raw table's write disposition means downstream: which raw rows are current, which are gone.

- `scd2` (merge strategy, history kept): raw holds every version; the current one has
  `_dlt_valid_to` NULL. Normalized tables read only current rows.
- Rows leave raw when the source deletes them: a `replace` load drops rows the source no longer
  has, `scd2` retires them (valid_to set), a merge with a `hard_delete` column deletes flagged rows.
  The normalized and quarantine rows built from them must go too, or they outlive their source.

Finding them is a count first (every current raw row has exactly one normalized or quarantined row,
so more downstream rows than current raw rows means some were deleted), then a key comparison.

Those counts scan raw and both downstream tables, on every build. Most builds can skip them: rows leave
raw, they never join a load that is already there (a load is one dlt load id, written once), so a load
whose row count is what it was at the last sweep lost none. The build counts rows per load anyway to
find new loads; the sweep records those counts (`_raw_rows_swept`, in the build's transaction) and runs
again only when a load it saw has another row count or is gone, or a load was built since without a sweep (a
build killed between its groups). This follows what raw did, whatever the cause (a replace, a hard
delete, a re-delivered row's earlier version, a raw table dropped and reloaded), rather than what the
source YAML says it may do now. scd2 raw tables are always swept: a retired version keeps its row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from dataforge_assets.lib.layers import NORMALIZED, QUARANTINE, RAW, ROW_KEY
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
else:
    pl = lazy_module("polars")
    pa = lazy_module("pyarrow")

VALID_FROM, VALID_TO = "_dlt_valid_from", "_dlt_valid_to"  # dlt's scd2 validity columns
SWEPT = "_raw_rows_swept"  # per normalized table and raw load: the load's raw rows at the last sweep


def is_history(warehouse: Warehouse, raw_table: str) -> bool:
    """True for a raw table kept with dlt's scd2 strategy (it has the validity columns)."""
    # Asked several times per build: once per session (raw tables change in the raw steps, not here).
    return any(name == VALID_TO for name, _ in warehouse.session_columns(RAW, raw_table))


def current_rows(warehouse: Warehouse, raw_table: str) -> str:
    """SQL condition selecting the raw table's current rows: all of them, unless it keeps history."""
    return f'"{VALID_TO}" IS NULL' if is_history(warehouse, raw_table) else "TRUE"


def sweep_deleted(
    warehouse: Warehouse,
    table: str,
    raw_table: str,
    key: Sequence[str],
    raw_loads: Mapping[str, int] | None = None,
    built: Collection[str] = (),
) -> int:
    """Delete normalized and quarantined rows of `table` whose raw row is no longer current; call it
    inside the build's transaction, after every raw load was processed. Returns the rows deleted.

    `raw_loads` are the raw table's rows per load, counted before the build read raw, and `built` the
    loads the build (re)built whole: with them, the sweep is skipped when no raw row can have left."""
    if raw_loads is None:
        return _sweep(warehouse, table, raw_table, key)
    swept = _swept_loads(warehouse, table)
    deleted = 0
    if _may_have_lost_rows(warehouse, raw_table, raw_loads, built, swept):
        # Without history every raw row is current: the build counted them already.
        known = None if is_history(warehouse, raw_table) else sum(raw_loads.values())
        deleted = _sweep(warehouse, table, raw_table, key, known)
    if swept != raw_loads:
        _record_swept(warehouse, table, raw_loads)
    return deleted


def _may_have_lost_rows(
    warehouse: Warehouse,
    raw_table: str,
    raw_loads: Mapping[str, int],
    built: Collection[str],
    swept: Mapping[str, int] | None,
) -> bool:
    """Whether raw may miss a row that normalized or quarantine holds. Rows of a load built now came
    from raw as it is (or, having left since the build read them, make that load's count differ at the
    next build); every other load must be one the last sweep saw, with the rows it saw."""
    if swept is None or is_history(warehouse, raw_table):
        return True
    if any(load not in raw_loads for load in swept):
        return True
    return any(swept.get(load) != rows for load, rows in raw_loads.items() if load not in built)


def _swept_loads(warehouse: Warehouse, table: str) -> dict[str, int] | None:
    if not warehouse.table_exists(NORMALIZED, SWEPT):
        return None
    rows = warehouse.query(
        f"SELECT load_id, raw_rows FROM {NORMALIZED}.{SWEPT} WHERE table_name = ?", (table,)
    )
    loads = dict(zip(*(c.to_pylist() for c in rows.columns), strict=True))
    return loads or None  # none recorded: never swept with counts (or raw was empty), sweep


def _record_swept(warehouse: Warehouse, table: str, raw_loads: Mapping[str, int]) -> None:
    if warehouse.table_exists(NORMALIZED, SWEPT):
        warehouse.execute(f"DELETE FROM {NORMALIZED}.{SWEPT} WHERE table_name = ?", (table,))
    rows = pa.table(
        {
            "table_name": pa.array([table] * len(raw_loads), pa.string()),
            "load_id": pa.array(list(raw_loads), pa.string()),
            "raw_rows": pa.array(list(raw_loads.values()), pa.int64()),
        }
    )
    warehouse.write(NORMALIZED, SWEPT, [rows], mode="append")


def _sweep(
    warehouse: Warehouse, table: str, raw_table: str, key: Sequence[str], current: int | None = None
) -> int:
    """The sweep itself; `current` is the raw table's current rows if known (else counted here)."""
    from dataforge_assets.lib.normalize import row_key  # normalize.py imports this module

    present = [s for s in (NORMALIZED, QUARANTINE) if warehouse.table_exists(s, table)]
    if not present or not warehouse.table_exists(RAW, raw_table):
        return 0
    where = current_rows(warehouse, raw_table)
    downstream = sum(int(warehouse.scalar(f'SELECT count(*) FROM "{s}"."{table}"')) for s in present)
    if current is None:
        current = int(warehouse.scalar(f'SELECT count(*) FROM {RAW}."{raw_table}" WHERE {where}'))
    if downstream <= current:
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
        if warehouse.table_exists(NORMALIZED, live):
            gone = f'"{ROW_KEY}" NOT IN (SELECT "{ROW_KEY}" FROM {NORMALIZED}."{live}")'
            deleted += warehouse.modify(f'DELETE FROM "{schema}"."{table}" WHERE {gone}')
        else:  # no current raw row at all
            deleted += warehouse.modify(f'DELETE FROM "{schema}"."{table}"')
    warehouse.drop_table(NORMALIZED, live)
    return deleted
