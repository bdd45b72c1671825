"""`raw._rejected_files`: every landed file set aside whole, with its identity and the reason.

It is written by dlt in the same load as the good files (so a file is never both loaded and lost),
and read back for the raw asset's metadata and its `rejected_files` check (raw_checks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")

REJECTED_FILES = "_rejected_files"
RAW = "raw"


@dataclass(frozen=True)
class Rejection:
    source: str
    table: str
    file_name: str
    size: int
    sha256: str
    reason: str


def rejection_rows(rejections: list[Rejection]) -> pa.Table:
    now = datetime.now(UTC)
    return pa.table(
        {
            "source": pa.array([r.source for r in rejections], pa.string()),
            "table_name": pa.array([r.table for r in rejections], pa.string()),
            "file_name": pa.array([r.file_name for r in rejections], pa.string()),
            "size_bytes": pa.array([r.size for r in rejections], pa.int64()),
            "sha256": pa.array([r.sha256 for r in rejections], pa.string()),
            "reason": pa.array([r.reason for r in rejections], pa.string()),
            "rejected_at": pa.array([now] * len(rejections), pa.timestamp("us", tz="UTC")),
        }
    )


def outstanding_rejections(warehouse: Warehouse, table: str) -> list[dict]:
    """The latest rejection of each file of `table` that has not been loaded since (fixed and
    re-dropped files drop out: their rows carry a later load id)."""
    if not warehouse.table_exists(RAW, REJECTED_FILES):
        return []
    loaded_later = ""
    if warehouse.table_exists(RAW, table) and "_source_file" in dict(warehouse.columns(RAW, table)):
        loaded_later = (
            f'AND NOT EXISTS (SELECT 1 FROM {RAW}."{table}" AS t WHERE t._source_file = r.file_name '
            "AND t._dlt_load_id > r._dlt_load_id)"
        )
    return warehouse.query(
        "SELECT file_name, size_bytes, sha256, reason, rejected_at FROM ("
        "SELECT *, row_number() OVER (PARTITION BY file_name ORDER BY _dlt_load_id DESC) AS latest "
        f"FROM {RAW}.{REJECTED_FILES} WHERE table_name = ?) AS r "
        f"WHERE latest = 1 {loaded_later} ORDER BY file_name",
        (table,),
    ).to_pylist()


def rejections_since(warehouse: Warehouse, table: str, since: datetime) -> list[dict]:
    if not warehouse.table_exists(RAW, REJECTED_FILES):
        return []
    return warehouse.query(
        f"SELECT file_name, size_bytes, sha256, reason FROM {RAW}.{REJECTED_FILES} "
        "WHERE table_name = ? AND rejected_at >= ? ORDER BY file_name",
        (table, since),
    ).to_pylist()


def rejected_files_result(warehouse: Warehouse, table: str) -> dg.AssetCheckResult:
    """Warns while a landed file of `table` stays set aside (until a fixed version of it loads)."""
    # Only reads: a shared session, which waits while a writer holds the warehouse.
    with warehouse.session(read_only=True):
        outstanding = outstanding_rejections(warehouse, table)
    return dg.AssetCheckResult(
        passed=not outstanding,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "; ".join(str(r["reason"]) for r in outstanding) if outstanding else "no file set aside"
        ),
        metadata={
            "rejected_files": dg.MetadataValue.json([{k: str(v) for k, v in r.items()} for r in outstanding]),
            "rejected_file_count": len(outstanding),
        },
    )
