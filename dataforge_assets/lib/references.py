"""A referential check between two normalized tables: orphans counted and sampled, at warning severity."""

from __future__ import annotations

import dagster as dg

from dataforge_assets.lib.warehouse import Warehouse

NORMALIZED = "normalized"
SAMPLE = 10


def check_reference(
    warehouse: Warehouse, table: str, column: str, parent: str, parent_column: str
) -> dg.AssetCheckResult:
    """Rows of `table` whose non-null `column` has no `parent_column` in `parent` (NULL is unknown, not orphan)."""
    if not warehouse.table_exists(NORMALIZED, parent):
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{NORMALIZED}.{parent} does not exist yet: materialize it to check {table}.{column}",
        )
    orphans = (
        f'FROM {NORMALIZED}."{table}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
        f'(SELECT 1 FROM {NORMALIZED}."{parent}" p WHERE p."{parent_column}" = t."{column}")'
    )
    rows, values = (
        warehouse.query(f'SELECT count(*) AS n, count(DISTINCT t."{column}") AS v {orphans}')
        .to_pylist()[0]
        .values()
    )
    sample = warehouse.query(
        f'SELECT t."{column}" AS value, count(*) AS n {orphans} GROUP BY t."{column}" ORDER BY n DESC, value LIMIT {SAMPLE}'
    ).to_pylist()
    return dg.AssetCheckResult(
        passed=rows == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{rows} {table} row(s) reference {values} {column} value(s) missing from {NORMALIZED}.{parent}"
            if rows
            else f"every {table}.{column} is in {NORMALIZED}.{parent}"
        ),
        metadata={
            "orphan_rows": rows,
            "orphan_values": values,
            "sample": dg.MetadataValue.md(
                f"| {column} | {table} rows |\n|---|---|\n"
                + "".join(f"| {s['value']} | {s['n']} |\n" for s in sample)
            ),
        },
    )
