"""The Dagster side of a normalized table: the asset that builds it, its blocking contract check and
the reconciliation check (every processed raw row is in the normalized table or in quarantine)."""

from collections.abc import Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import dagster as dg

from dataforge_assets.lib.asset_docs import PLATFORM_OWNER, Lineage, column_lineage, contract_schema
from dataforge_assets.lib.contract_ledger import contract_version, record_checked, vouched_loads
from dataforge_assets.lib.contract_suspects import split_suspects
from dataforge_assets.lib.contracts import ContractViolation, contract_name
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.normalize import (
    BATCH_ROWS,
    LINEAGE,
    LOAD_ID,
    NORMALIZED,
    QUARANTINE,
    RAW,
    BuildReport,
    NormalizedTable,
    build,
    iter_table,
    origin,
)
from dataforge_assets.lib.partitions import (
    FLIGHT_MONTHS,
    SINGLE_RUN,
    Month,
    in_partitions,
    partition_key,
    report_months,
    run_months,
)
from dataforge_assets.lib.privacy import MASK, PrivacySpec, policy_for
from dataforge_assets.lib.reconcile import by_load, by_month, count_rows
from dataforge_assets.lib.refresh import Refresh
from dataforge_assets.lib.sql_literal import quoted_list
from dataforge_assets.lib.warehouse import Warehouse

# Annotations naming polars are strings: Dagster evaluates the asset functions' annotations (so no
# `from __future__ import annotations` here), and polars is imported when a check first uses it.
if TYPE_CHECKING:
    import polars as pl
    import polars.selectors as cs
else:
    pl = lazy_module("polars")
    cs = lazy_module("polars.selectors")

SAMPLE_FAILURES = 20


def normalized_table_asset(spec: NormalizedTable, derived: Lineage | None = None) -> list[Any]:
    """The asset, with its checks run in its own step (the raw table it reads brings its own drift and
    anomaly checks).

    The checks are the asset's check specs, not checks of their own: a run of the asset builds and checks
    in one step, one warehouse session and one table lock (each check of its own was a step with its own
    session and ~3 instance writes; benchmarks/README.md). Each check keeps its own result and history,
    and a failed blocking check still stops what is built downstream (Dagster fails the step after its
    results are recorded). A check selected alone (the UI, a sensor) runs without a build: the asset can
    be subset.

    `derived` names the sources of columns that are not a raw column of the same name (column lineage).
    """
    key = dg.AssetKey([NORMALIZED, spec.name])
    raw_key = dg.AssetKey([RAW, spec.raw_table])
    # A table with month columns is partitioned by month (partitions.py); its checks judge each run's months.
    partitions = FLIGHT_MONTHS if spec.months else None
    checks = [
        dg.AssetCheckSpec(
            CONTRACT,
            asset=key,
            blocking=True,
            partitions_def=partitions,
            description=f"Every row of {NORMALIZED}.{spec.name} keeps the {contract_name(spec.contract)} contract.",
        ),
        dg.AssetCheckSpec(
            RECONCILIATION,
            asset=key,
            blocking=True,
            partitions_def=partitions,
            description=(
                f"Nothing lost: processed raw.{spec.raw_table} rows = {NORMALIZED}.{spec.name} rows + "
                f"{QUARANTINE}.{spec.name} rows (no deliberate filters)."
            ),
        ),
    ]
    if spec.months:
        checks.append(
            dg.AssetCheckSpec(
                RECONCILIATION_BY_LOAD,
                asset=key,
                # Not blocking: a month's own check guards what is built from it; this one reports a loss
                # anywhere in the table (a month no run targets) without holding up the repair of other months.
                blocking=False,
                description=(
                    f"Nothing lost anywhere in the table: for every processed raw.{spec.raw_table} load, its "
                    f"rows = its {NORMALIZED}.{spec.name} rows + its {QUARANTINE}.{spec.name} rows."
                ),
            )
        )

    @dg.multi_asset(
        # The op (and step) name an `@asset` of this key had.
        name=f"{NORMALIZED}__{spec.name}",
        specs=[
            dg.AssetSpec(
                key,
                deps=[dg.AssetKey([RAW, t]) for t in (spec.raw_table, *spec.lookups)],
                group_name=NORMALIZED,
                kinds={"polars", "pandera"},
                description=spec.description,
                # Transform + contract (normalize.py): Dagster shows the asset as changed when it differs
                # from the version of the last materialization, and the build rebuilds what another version
                # built.
                code_version=spec.code_version,
                partitions_def=partitions,
                tags={"dataforge/layer": NORMALIZED},
                owners=[PLATFORM_OWNER],
                # Shown before the first run: the contract is the table's schema, and where each column
                # comes from.
                metadata={
                    "dagster/table_name": f"{NORMALIZED}.{spec.name}",
                    "dagster/column_schema": contract_schema(spec.contract),
                    "dagster/column_lineage": column_lineage(
                        spec.contract_columns, raw_key, spec.raw_columns, derived or {}
                    ),
                },
            )
        ],
        check_specs=checks,
        can_subset=True,
        backfill_policy=SINGLE_RUN,
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: Warehouse, refresh: Refresh
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        selected = {check.name for check in context.selected_asset_check_keys}
        build_it = key in context.selected_asset_keys
        # The build and the contract check (it records the loads it vouched for) write; the
        # reconciliations alone only read.
        writes = build_it or CONTRACT in selected
        with warehouse.session(read_only=not writes):
            with warehouse.table_lock(NORMALIZED, spec.name) if writes else nullcontext():
                written: list[Month] = []
                if build_it:
                    result, written = _build_and_report(context, warehouse, spec, rebuild=refresh.full)
                    yield result
                yield from _run_checks(context, warehouse, spec, selected, written)

    return [_asset]


CONTRACT, RECONCILIATION, RECONCILIATION_BY_LOAD = "contract", "reconciliation", "reconciliation_by_load"


def _run_checks(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    spec: NormalizedTable,
    selected: set[str],
    written: list[Month],
) -> Iterator[dg.AssetCheckResult]:
    """The selected checks' results, each named for its check; every one runs, pass or fail."""
    key = dg.AssetKey([NORMALIZED, spec.name])

    def named(name: str, result: dg.AssetCheckResult) -> dg.AssetCheckResult:
        return result._replace(asset_key=key, check_name=name)

    if CONTRACT in selected:
        yield named(CONTRACT, check_contract(warehouse, spec))
    if not selected & {RECONCILIATION, RECONCILIATION_BY_LOAD}:
        return
    # Both reconciliations from one count of each table's rows per (load, month) (reconcile.py).
    counts = count_rows(warehouse, spec)
    if RECONCILIATION in selected:
        months = run_months(context) if spec.months else None
        if months is None:
            yield named(RECONCILIATION, by_load(counts))
        else:
            # A partition's check judges its months: the run's, and any month the run's build wrote.
            yield named(RECONCILIATION, by_month(counts, sorted({*months, *written})))
    if RECONCILIATION_BY_LOAD in selected:
        yield named(RECONCILIATION_BY_LOAD, by_load(counts))


def _build_and_report(
    context: dg.AssetExecutionContext, warehouse: Warehouse, spec: NormalizedTable, rebuild: bool = False
) -> tuple[dg.MaterializeResult, list[Month]]:
    """The build's materialization, and the months it wrote rows of (new loads bring rows of any month)."""
    if rebuild:
        context.log.info(
            f"full refresh: {NORMALIZED}.{spec.name} is rebuilt whole from {RAW}.{spec.raw_table}"
        )
    months = run_months(context) if spec.months else None
    report = build(warehouse, spec, months=months, rebuild=rebuild)
    fresh = len(report.loads) - len(report.rebuilt)
    context.log.info(
        f"{NORMALIZED}.{spec.name}: {fresh} new load(s), {len(report.rebuilt)} rebuilt for code version "
        f"{spec.code_version}, {len(report.months_rebuilt)} month(s) rebuilt on request, "
        f"{report.raw_rows} raw rows -> {report.normalized_rows} normalized, "
        f"{report.quarantined_rows} quarantined"
    )
    _report_other_months(context, spec, report, months or [])
    result = dg.MaterializeResult(
        asset_key=context.asset_key,
        metadata={
            **(_months_metadata(report, months) if months is not None else {}),
            "new_loads": fresh,
            "rebuilt_loads": len(report.rebuilt),
            "code_version": spec.code_version,
            **({"full_refresh": True} if rebuild else {}),
            "raw_rows_processed": report.raw_rows,
            "rows_normalized": report.normalized_rows,
            "rows_quarantined": report.quarantined_rows,
            "rows_deleted_with_raw": report.rows_deleted,
            "dimension_rows_refreshed": report.dimension_rows_refreshed,
            "quarantine_rules": dg.MetadataValue.json(report.rules),
            "quarantine_table": f"{QUARANTINE}.{spec.name}",
            **documented(
                table_metadata(warehouse, NORMALIZED, spec.name, policy_for(spec.raw_table)),
                contract_schema(spec.contract),
            ),
        },
    )
    # The months reported as materialized by this step (those that are partitions).
    return result, in_partitions(report.months_written)


def _months_metadata(report: BuildReport, months: list[Month]) -> dict[str, Any]:
    return {
        "months_requested": len(months),
        "months_rebuilt": dg.MetadataValue.json([partition_key(m) for m in report.months_rebuilt]),
    }


def _report_other_months(
    context: dg.AssetExecutionContext, spec: NormalizedTable, report: BuildReport, months: list[Month]
) -> None:
    """New raw loads bring rows of any month: each month they changed outside the run's own partitions
    is reported as materialized too, so its partition (and the stats partitions built from it) are
    known to have changed; automation then updates exactly those stats months."""
    report_months(
        context,
        [m for m in report.months_written if m not in set(months)],
        "rows of this month arrived in new raw loads (or were rebuilt for a new code version)",
        {"code_version": spec.code_version},
    )


def documented(metadata: dict[str, Any], contract: dg.TableSchema) -> dict[str, Any]:
    """The warehouse's column schema with the contract's description on each contract column."""
    actual = metadata.get("dagster/column_schema")
    if not isinstance(actual, dg.TableSchema):
        return metadata
    described = {c.name: c for c in contract.columns}
    columns = [
        dg.TableColumn(
            c.name,
            c.type,
            description=described[c.name].description if c.name in described else "lineage column",
            constraints=described[c.name].constraints if c.name in described else c.constraints,
        )
        for c in actual.columns
    ]
    return {**metadata, "dagster/column_schema": dg.TableSchema(columns=columns)}


def check_contract(warehouse: Warehouse, spec: NormalizedTable) -> dg.AssetCheckResult:
    """Validate every row the check has not vouched for already (contract_ledger.py): new loads,
    loads checked under another contract version, loads whose rows changed since."""
    if not warehouse.table_exists(NORMALIZED, spec.name):
        return dg.AssetCheckResult(passed=True, description="no rows yet", metadata={"rows_checked": 0})
    version = contract_version(spec.contract)
    present = {name for name, _ in warehouse.columns(NORMALIZED, spec.name)}
    # Only what the contract judges: a change to a lineage column cannot break it. A contract column
    # gone from the table changes every load's fingerprint (the check then names it).
    judged = [c for c in spec.contract_columns if c in present]
    fingerprints = warehouse.load_fingerprints(NORMALIZED, spec.name, LOAD_ID, judged)
    vouched = vouched_loads(warehouse, spec.name, version, fingerprints)
    to_check = {load: fp for load, fp in fingerprints.items() if load not in vouched}
    rows = 0
    samples: list[pl.DataFrame] = []
    per_rule: dict[str, int] = {}
    try:
        for frame in _rows_of_loads(warehouse, spec, list(to_check)):
            # The warehouse session's time zone is no property of the data: instants are compared in UTC.
            frame = frame.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone("UTC"))
            data = frame.select(c for c in spec.contract_columns if c in frame.columns)
            # pandera judges the rows that can break the contract (the build's own split: same
            # verdicts and failure cases, a fraction of pandera's passes and memory).
            split = split_suspects(f"{NORMALIZED}.{spec.name}", data, spec.contract)
            cases = split.failure_cases
            for column, check, count in cases.group_by("column", "check").len().iter_rows():
                per_rule[f"{column}:{check}"] = per_rule.get(f"{column}:{check}", 0) + count
            if cases.height and sum(s.height for s in samples) < SAMPLE_FAILURES:
                samples.append(_locate(cases.head(SAMPLE_FAILURES), frame, rows))
            rows += frame.height
    except ContractViolation as violation:
        return dg.AssetCheckResult(
            passed=False,
            description=str(violation),
            metadata={"schema_failures": dg.MetadataValue.md(_markdown(violation.failures))},
        )
    failed = sum(per_rule.values())
    if not failed:
        record_checked(warehouse, spec.name, version, to_check)
    unchanged = sum(fingerprints[load][0] for load in vouched)
    return dg.AssetCheckResult(
        passed=failed == 0,
        description=f"{failed} failure(s) over {rows} rows checked"
        if failed
        else f"{rows + unchanged} rows keep the contract ({rows} checked now, {unchanged} unchanged since checked)",
        metadata={
            "rows_checked": rows,
            "rows_unchanged_since_checked": unchanged,
            "contract_version": version,
            "failures": failed,
            "failures_per_rule": dg.MetadataValue.json(per_rule),
            "failure_sample": _failure_sample(samples, policy_for(spec.raw_table)),
        },
    )


def _rows_of_loads(
    warehouse: Warehouse, spec: NormalizedTable, loads: list[str | None]
) -> "Iterator[pl.DataFrame]":
    """The contract's columns and the lineage that names a failing row's origin, of these loads."""
    if not loads:
        return
    present = {name for name, _ in warehouse.columns(NORMALIZED, spec.name)}
    # A contract column missing from the table is left out here and named by pandera's schema check.
    columns = [c for c in (*spec.contract_columns, *LINEAGE) if c in present]
    named = [load for load in loads if load is not None]
    where = [f"{LOAD_ID} IN ({quoted_list(named)})"] if named else []
    if None in loads:
        where.append(f"{LOAD_ID} IS NULL")
    # The build's batch size: the check's batches in flight make the step's peak memory.
    yield from iter_table(
        warehouse, NORMALIZED, spec.name, batch_rows=BATCH_ROWS, where=" OR ".join(where), columns=columns
    )


def _locate(cases: "pl.DataFrame", frame: "pl.DataFrame", offset: int) -> "pl.DataFrame":
    """Failure cases with the row they are in: its table position and where it came from."""
    rows = frame.with_row_index("index").select(pl.col("index").cast(pl.Int64), origin(frame).alias("origin"))
    return (
        cases.with_columns(pl.col("index").cast(pl.Int64))
        .join(rows, on="index", how="left")
        .with_columns((pl.col("index") + offset + 1).alias("row"))
        .select("row", "origin", "column", "check", pl.col("failure_case").alias("value"))
    )


def _failure_sample(samples: "list[pl.DataFrame]", privacy: PrivacySpec) -> Any:
    """The first failing values, as the raw table's privacy settings allow (lib/privacy.py)."""
    if not samples:
        return ""
    if not privacy.failure_samples:
        return "(failure samples are off for this table: privacy.failure_samples in its source's YAML)"
    sample = pl.concat(samples).head(SAMPLE_FAILURES * 10)
    if privacy.drop_columns or privacy.mask_columns:
        masked = [
            MASK if column in privacy.mask_columns and value is not None else value
            for column, value in zip(sample["column"].to_list(), sample["value"].to_list(), strict=True)
        ]
        sample = sample.with_columns(pl.Series("value", [_text(v) for v in masked], dtype=pl.String))
        sample = sample.filter(~pl.col("column").is_in(list(privacy.drop_columns)))
    return dg.MetadataValue.md(_markdown(sample.head(SAMPLE_FAILURES)))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _markdown(cases: "pl.DataFrame") -> str:
    cols = [
        c
        for c in ("row", "origin", "index", "column", "check", "value", "failure_case")
        if c in cases.columns
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in cases.select(cols).iter_rows()]
    return "\n".join(lines)
