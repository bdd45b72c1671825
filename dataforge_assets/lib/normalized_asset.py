"""The Dagster side of a normalized table: the asset that builds it and its blocking contract check."""

from typing import Any

import dagster as dg
import polars as pl

from dataforge_assets.lib.contracts import ContractViolation, split_by_contract
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.normalize import NORMALIZED, QUARANTINE, RAW, NormalizedTable, build, iter_table
from dataforge_assets.lib.sources.component import WAREHOUSE_WRITER_POOL
from dataforge_assets.lib.warehouse import Warehouse

SAMPLE_FAILURES = 20


def normalized_table_asset(spec: NormalizedTable) -> list[Any]:
    key = dg.AssetKey([NORMALIZED, spec.name])

    @dg.asset(
        key=key,
        deps=[dg.AssetKey([RAW, t]) for t in (spec.raw_table, *spec.lookups)],
        group_name=NORMALIZED,
        kinds={"polars", "pandera"},
        description=spec.description,
        pool=WAREHOUSE_WRITER_POOL,
        tags={"dataforge/layer": NORMALIZED},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        report = build(warehouse, spec)
        context.log.info(
            f"{NORMALIZED}.{spec.name}: {len(report.loads)} new load(s), {report.raw_rows} raw rows -> "
            f"{report.normalized_rows} normalized, {report.quarantined_rows} quarantined"
        )
        return dg.MaterializeResult(
            metadata={
                "new_loads": len(report.loads),
                "raw_rows_processed": report.raw_rows,
                "rows_normalized": report.normalized_rows,
                "rows_quarantined": report.quarantined_rows,
                "quarantine_rules": dg.MetadataValue.json(report.rules),
                "quarantine_table": f"{QUARANTINE}.{spec.name}",
                **table_metadata(warehouse, NORMALIZED, spec.name),
            }
        )

    @dg.asset_check(
        asset=key,
        name="contract",
        blocking=True,
        description=f"Every row of {NORMALIZED}.{spec.name} keeps the {spec.contract.__name__} contract.",
    )
    def _contract(warehouse: Warehouse) -> dg.AssetCheckResult:
        return check_contract(warehouse, spec)

    return [_asset, _contract]


def check_contract(warehouse: Warehouse, spec: NormalizedTable) -> dg.AssetCheckResult:
    rows = 0
    failures: list[pl.DataFrame] = []
    try:
        # Only the contract's columns leave the warehouse (lineage columns are a third of the bytes).
        for frame in iter_table(warehouse, NORMALIZED, spec.name, columns=_present(warehouse, spec)):
            rows += frame.height
            split = split_by_contract(
                f"{NORMALIZED}.{spec.name}", frame.select(spec.contract_columns), spec.contract
            )
            failures.append(split.failure_cases)
    except ContractViolation as violation:
        return dg.AssetCheckResult(
            passed=False,
            description=str(violation),
            metadata={"schema_failures": dg.MetadataValue.md(_markdown(violation.failures))},
        )
    cases = pl.concat(failures) if failures else pl.DataFrame()
    per_rule = (
        {f"{c}:{k}": n for c, k, n in cases.group_by("column", "check").len().iter_rows()}
        if cases.height
        else {}
    )
    return dg.AssetCheckResult(
        passed=cases.height == 0,
        metadata={
            "rows_checked": rows,
            "failures_per_rule": dg.MetadataValue.json(per_rule),
            "failure_sample": dg.MetadataValue.md(_markdown(cases.head(SAMPLE_FAILURES)))
            if cases.height
            else "",
        },
    )


def _present(warehouse: Warehouse, spec: NormalizedTable) -> list[str]:
    """The contract's columns the table has; a missing one is left to the contract to report."""
    existing = {name for name, _ in warehouse.columns(NORMALIZED, spec.name)}
    return [c for c in spec.contract_columns if c in existing]


def _markdown(cases: pl.DataFrame) -> str:
    cols = [c for c in ("index", "column", "check", "failure_case") if c in cases.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in cases.select(cols).iter_rows()]
    return "\n".join(lines)
