"""Dimension attributes copied into a normalized table (e.g. a flight's carrier name) stay current.

A transform joins them when it builds a row; when the dimension changes later (an airline renamed),
rows built before would keep the old value. `refresh_dimensions` rewrites the copied columns of every
row from the dimension's current rows, in SQL, inside the build's transaction, and only when the
dimension's contents changed since the table last followed them (a fingerprint per dimension). The
normalized asset depends on the dimension's raw table, so automation re-runs it when the dimension
is loaded, and the stats built from the table follow.

The fingerprint reads the whole dimension; it is only needed when raw may have changed since it was
taken. Raw tables change by dlt loads, and dlt records each load in `raw._dlt_loads` once the load's data
is committed: while that table has the same loads as when the fingerprint was recorded, the fingerprint
stands. (A build between a load's commit and its record sees the old loads and keeps the old values; the
record comes before the raw asset's materialization, whose automation runs the next build.) Not the
dimension's own latest `_dlt_load_id`: a load that only deletes or retires rows leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dataforge_assets.lib.layers import NORMALIZED, RAW
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.raw_history import current_rows
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
else:
    pl = lazy_module("polars")
    pa = lazy_module("pyarrow")

FINGERPRINTS = "_dimension_fingerprints"
DLT_LOADS = "_dlt_loads"  # dlt's record of the loads completed into a dataset
LOADS_SEEN = "raw_loads_seen"  # FINGERPRINTS' column: the completed loads when the fingerprint was taken


@dataclass(frozen=True)
class DimensionJoin:
    """Columns of a normalized table copied from a dimension (a raw table read whole) by key.

    `columns` pairs (normalized column, dimension column); the value is copied as the dimension holds it.
    """

    lookup: str
    key: str  # the normalized table's column holding the dimension's key
    lookup_key: str
    columns: tuple[tuple[str, str], ...]

    def join(self, frame: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
        """The polars side, for the transform: a left join that keeps the frame's rows and order."""
        dimension = lookups[self.lookup].select(
            pl.col(self.lookup_key).alias(self.key), *(pl.col(src).alias(dst) for dst, src in self.columns)
        )
        return frame.join(dimension.unique(self.key), on=self.key, how="left", maintain_order="left")

    def current(self, warehouse: Warehouse) -> str:
        """The dimension's current rows, as a subquery: key as `k`, values as `v0`, `v1`, ..."""
        values = ", ".join(f'"{src}" AS v{i}' for i, (_, src) in enumerate(self.columns))
        where = current_rows(warehouse, self.lookup)
        return f'(SELECT "{self.lookup_key}" AS k, {values} FROM {RAW}."{self.lookup}" WHERE {where})'


def refresh_dimensions(warehouse: Warehouse, table: str, dimensions: Sequence[DimensionJoin]) -> int:
    """Rows of normalized.<table> whose copied columns were rewritten. Call inside the build's transaction."""
    refreshed = 0
    loads = _completed_loads(warehouse) if dimensions else None  # read before any fingerprint is taken
    for dimension in dimensions:
        if not warehouse.table_exists(RAW, dimension.lookup):
            continue
        recorded, recorded_loads = _recorded(warehouse, table, dimension.lookup)
        if loads is not None and loads == recorded_loads:
            continue
        fingerprint = _fingerprint(warehouse, dimension)
        if fingerprint != recorded:
            if warehouse.table_exists(NORMALIZED, table):
                refreshed += _rewrite(warehouse, table, dimension)
        elif loads == recorded_loads:
            continue
        _record(warehouse, table, dimension.lookup, fingerprint, loads)
    return refreshed


def _rewrite(warehouse: Warehouse, table: str, dimension: DimensionJoin) -> int:
    target = f'{NORMALIZED}."{table}"'
    current = dimension.current(warehouse)
    differs = " OR ".join(
        f't."{dst}" IS DISTINCT FROM d.v{i}' for i, (dst, _) in enumerate(dimension.columns)
    )
    changed = f't."{dimension.key}" = d.k AND ({differs})'
    # A key the dimension no longer has (deleted there) leaves the copied columns unknown (NULL).
    known = " OR ".join(f't."{dst}" IS NOT NULL' for dst, _ in dimension.columns)
    orphaned = f'({known}) AND NOT EXISTS (SELECT 1 FROM {current} AS d WHERE d.k = t."{dimension.key}")'
    assignments = ", ".join(f'"{dst}" = d.v{i}' for i, (dst, _) in enumerate(dimension.columns))
    cleared = ", ".join(f'"{dst}" = NULL' for dst, _ in dimension.columns)
    # Each UPDATE touches only rows that change, and says how many: no counting pass before it.
    count = warehouse.modify(f"UPDATE {target} AS t SET {assignments} FROM {current} AS d WHERE {changed}")
    return count + warehouse.modify(f"UPDATE {target} AS t SET {cleared} WHERE {orphaned}")


def _fingerprint(warehouse: Warehouse, dimension: DimensionJoin) -> str:
    """md5 of the dimension's current (key, values), in key order; NULL and '' hash apart."""
    parts = ["CAST(d.k AS VARCHAR)"] + [
        f"CASE WHEN d.v{i} IS NULL THEN 'N' ELSE 'V' || CAST(d.v{i} AS VARCHAR) END"
        for i in range(len(dimension.columns))
    ]
    row = " || chr(31) || ".join(parts)
    value = warehouse.scalar(
        f"SELECT md5(string_agg({row}, chr(30) ORDER BY CAST(d.k AS VARCHAR))) FROM {dimension.current(warehouse)} AS d"
    )
    return str(value)


def _completed_loads(warehouse: Warehouse) -> str | None:
    """The loads dlt completed into raw, as one value (how many, the latest); None without dlt's table."""
    if not warehouse.table_exists(RAW, DLT_LOADS):
        return None
    result = warehouse.query(f"SELECT count(*), max(load_id) FROM {RAW}.{DLT_LOADS}")
    count, latest = (c[0].as_py() for c in result.columns)
    return f"{count}:{latest}"


def _recorded(warehouse: Warehouse, table: str, dimension: str) -> tuple[str | None, str | None]:
    """(fingerprint, completed loads when it was taken); a table recorded before loads were: None."""
    if not warehouse.table_exists(NORMALIZED, FINGERPRINTS):
        return None, None
    rows = warehouse.query(
        f"SELECT * FROM {NORMALIZED}.{FINGERPRINTS} WHERE table_name = ? AND dimension = ?",
        (table, dimension),
    ).to_pylist()
    if not rows:
        return None, None
    return rows[0]["fingerprint"], rows[0].get(LOADS_SEEN)


def _record(warehouse: Warehouse, table: str, dimension: str, fingerprint: str, loads: str | None) -> None:
    if warehouse.table_exists(NORMALIZED, FINGERPRINTS):
        warehouse.execute(
            f"DELETE FROM {NORMALIZED}.{FINGERPRINTS} WHERE table_name = ? AND dimension = ?",
            (table, dimension),
        )
    # A table made before LOADS_SEEN gains the column here (the warehouse's append adds it).
    row = pa.table(
        {
            "table_name": [table],
            "dimension": [dimension],
            "fingerprint": [fingerprint],
            LOADS_SEEN: pa.array([loads], pa.string()),
        }
    )
    warehouse.write(NORMALIZED, FINGERPRINTS, [row], mode="append")
