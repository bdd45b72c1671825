"""Checks on a raw table: schema drift (against the previous load and the declared columns), row-count
anomaly and, for a files source, files set aside. They warn or fail without blocking: the normalized
contract is the gate.

They run in the raw load's own step, after its materializations are recorded (one step per source
instead of one more per check, each with its own start, events and warehouse session; issue #16). A
check selected alone (the UI, a sensor) runs without a load: the source's asset can be subset.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import dagster as dg

from dataforge_assets.lib.anomaly import load_sizes
from dataforge_assets.lib.drift import RAW, detect, materialized_schemas
from dataforge_assets.lib.redaction import redact
from dataforge_assets.lib.sources.rejected_files import REJECTED_FILES, rejected_files_result
from dataforge_assets.lib.warehouse import Warehouse

SCHEMA_DRIFT, ROW_COUNT_ANOMALY, REJECTED = "schema_drift", "row_count_anomaly", "rejected_files"


@dataclass(frozen=True)
class RawTableChecks:
    """What a raw table's checks need: its declared columns, and whether files land for it."""

    table: str
    declared_columns: Sequence[str]
    files: bool


def raw_check_specs(checked: RawTableChecks) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey([RAW, checked.table])
    table = checked.table
    specs = [
        dg.AssetCheckSpec(
            SCHEMA_DRIFT,
            asset=key,
            description=(
                f"raw.{table} has the column schema of its previous materialization and every declared "
                "column; a new column warns, a dropped or retyped one fails."
            ),
        ),
        dg.AssetCheckSpec(
            ROW_COUNT_ANOMALY,
            asset=key,
            description=f"The latest load of raw.{table} is not far outside the row counts of its recent loads.",
        ),
    ]
    if checked.files:
        specs.append(
            dg.AssetCheckSpec(
                REJECTED,
                asset=key,
                description=f"No landed file of raw.{table} is set aside in raw.{REJECTED_FILES} without a "
                "fixed version loaded since.",
            )
        )
    return specs


def run_raw_checks(
    context: dg.AssetExecutionContext, warehouse: Warehouse, tables: Mapping[str, RawTableChecks]
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks' results, each named for its check; every one runs, pass or fail."""
    for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
        checked = tables[check_key.asset_key.path[-1]]
        try:
            result = _result(context, warehouse, check_key, checked)
        except Exception as error:
            # The load these checks follow is committed and reported: a check that cannot run fails as
            # a check (named, with its error), not as the load's step, which would stop everything
            # downstream of a good load.
            context.log.exception(f"check {check_key.to_user_string()} could not run")
            result = could_not_run(error)
        yield result._replace(asset_key=check_key.asset_key, check_name=check_key.name)


def _result(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    check_key: dg.AssetCheckKey,
    checked: RawTableChecks,
) -> dg.AssetCheckResult:
    if check_key.name == SCHEMA_DRIFT:
        return drift_result(context.instance, warehouse, checked.table, checked.declared_columns)
    if check_key.name == ROW_COUNT_ANOMALY:
        return anomaly_result(context.instance, check_key.asset_key)
    return rejected_files_result(warehouse, checked.table)


def could_not_run(error: Exception) -> dg.AssetCheckResult:
    reason = redact(f"{type(error).__name__}: {error}")
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"the check could not run: {reason[:500]}",
        metadata={"error": dg.MetadataValue.text(reason[:2000])},
    )


def drift_result(
    instance: dg.DagsterInstance, warehouse: Warehouse, table: str, declared_columns: Sequence[str]
) -> dg.AssetCheckResult:
    schemas = materialized_schemas(instance, dg.AssetKey([RAW, table]))
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


def anomaly_result(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.AssetCheckResult:
    sizes = load_sizes(instance, key)
    return dg.AssetCheckResult(
        passed=not sizes.anomalous,
        severity=dg.AssetCheckSeverity.WARN,
        description=sizes.describe(),
        metadata={
            "latest_rows_loaded": sizes.latest or 0,
            "recent_loads": dg.MetadataValue.json(sizes.history),
        },
    )
