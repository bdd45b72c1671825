"""Dimension attributes copied into a normalized table (e.g. a flight's carrier name) stay current.

A transform joins them when it builds a row; when the dimension changes later (an airline renamed),
rows built before would keep the old value. `refresh_dimensions` rewrites the copied columns of every
row from the dimension's current rows, in SQL, inside the build's transaction, and only when the
dimension's contents changed since the table last followed them (a fingerprint per dimension). The
normalized asset depends on the dimension's raw table, so automation re-runs it when the dimension
is loaded, and the stats built from the table follow.
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
    for dimension in dimensions:
        if not warehouse.table_exists(RAW, dimension.lookup):
            continue
        fingerprint = _fingerprint(warehouse, dimension)
        if fingerprint == _recorded(warehouse, table, dimension.lookup):
            continue
        if warehouse.table_exists(NORMALIZED, table):
            refreshed += _rewrite(warehouse, table, dimension)
        _record(warehouse, table, dimension.lookup, fingerprint)
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
    count = int(warehouse.scalar(f"SELECT count(*) FROM {target} AS t, {current} AS d WHERE {changed}"))
    count += int(warehouse.scalar(f"SELECT count(*) FROM {target} AS t WHERE {orphaned}"))
    if count:
        assignments = ", ".join(f'"{dst}" = d.v{i}' for i, (dst, _) in enumerate(dimension.columns))
        warehouse.execute(f"UPDATE {target} AS t SET {assignments} FROM {current} AS d WHERE {changed}")
        cleared = ", ".join(f'"{dst}" = NULL' for dst, _ in dimension.columns)
        warehouse.execute(f"UPDATE {target} AS t SET {cleared} WHERE {orphaned}")
    return count


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


def _recorded(warehouse: Warehouse, table: str, dimension: str) -> str | None:
    if not warehouse.table_exists(NORMALIZED, FINGERPRINTS):
        return None
    value = warehouse.scalar(
        f"SELECT max(fingerprint) FROM {NORMALIZED}.{FINGERPRINTS} WHERE table_name = ? AND dimension = ?",
        (table, dimension),
    )
    return None if value is None else str(value)


def _record(warehouse: Warehouse, table: str, dimension: str, fingerprint: str) -> None:
    if warehouse.table_exists(NORMALIZED, FINGERPRINTS):
        warehouse.execute(
            f"DELETE FROM {NORMALIZED}.{FINGERPRINTS} WHERE table_name = ? AND dimension = ?",
            (table, dimension),
        )
    row = pa.table({"table_name": [table], "dimension": [dimension], "fingerprint": [fingerprint]})
    warehouse.write(NORMALIZED, FINGERPRINTS, [row], mode="append")
