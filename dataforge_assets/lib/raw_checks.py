"""Checks on a raw table: schema drift (against the previous load and the declared columns) and
row-count anomaly. Both warn or fail without blocking: the normalized contract is the gate."""

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import dagster as dg

from dataforge_assets.lib.anomaly import load_sizes
from dataforge_assets.lib.drift import RAW, detect, materialized_schemas
from dataforge_assets.lib.warehouse import Warehouse


def raw_table_checks(table: str, declared_columns: Sequence[str]) -> list[Any]:
    key = dg.AssetKey([RAW, table])

    @dg.asset_check(
        asset=key,
        name="schema_drift",
        description=(
            f"raw.{table} has the column schema of its previous materialization and every declared "
            "column; a new column warns, a dropped or retyped one fails."
        ),
    )
    def _drift(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        schemas = materialized_schemas(context.instance, key)
        # A reader: the columns come from the materializations; the warehouse only answers which columns
        # the latest load left empty (and no materialization with a schema means no table to ask).
        with warehouse.session(read_only=True) if schemas.latest else nullcontext():
            drift = detect(warehouse, table, declared_columns, schemas)
        lines = drift.lines()
        return dg.AssetCheckResult(
            passed=not lines,
            severity=dg.AssetCheckSeverity.ERROR if drift.breaking else dg.AssetCheckSeverity.WARN,
            description="; ".join(lines) if lines else "no schema drift",
            metadata={
                "latest_load": drift.latest_load or "",
                "compared_with_run": drift.previous_run or "",
                "new_columns": dg.MetadataValue.json(drift.added),
                "new_columns_in_files": dg.MetadataValue.json(drift.files),
                "dropped_columns": dg.MetadataValue.json(drift.dropped),
                "changed_types": dg.MetadataValue.json(
                    {c: {"old": o, "new": n} for c, (o, n) in drift.retyped.items()}
                ),
                "missing_declared_columns": dg.MetadataValue.json(drift.undeclared_missing),
            },
        )

    @dg.asset_check(
        asset=key,
        name="row_count_anomaly",
        description=f"The latest load of raw.{table} is not far outside the row counts of its recent loads.",
    )
    def _anomaly(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        sizes = load_sizes(context.instance, key)
        return dg.AssetCheckResult(
            passed=not sizes.anomalous,
            severity=dg.AssetCheckSeverity.WARN,
            description=sizes.describe(),
            metadata={
                "latest_rows_loaded": sizes.latest or 0,
                "recent_loads": dg.MetadataValue.json(sizes.history),
            },
        )

    return [_drift, _anomaly]
