"""A stats table: one portable SQL SELECT over normalized tables, rebuilt by the warehouse: whole, or,
for a table partitioned by month, the run's months only."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from dataforge_assets.lib import month_changes
from dataforge_assets.lib.asset_docs import PLATFORM_OWNER, lineage_of, schema_of
from dataforge_assets.lib.code_version import sql_text, version_of
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.partitions import (
    FLIGHT_MONTHS,
    SINGLE_RUN,
    Month,
    date_months_sql,
    month_of,
    report_months,
    run_months,
    year_and_month_sql,
)
from dataforge_assets.lib.warehouse import Warehouse

STATS = "stats"
# Which SELECT built each stats table that is rebuilt by month: a changed SELECT rebuilds all months.
BUILT_VERSIONS = "_built_versions"


@dataclass(frozen=True)
class StatsCheck:
    """A check of a stats table, run in the table's own step after its build (one step, one warehouse
    session; a check of its own was a step with its own session and ~3 instance writes)."""

    name: str
    description: str
    blocking: bool
    run: Callable[[Warehouse], dg.AssetCheckResult]


def sql_stats_asset(
    name: str,
    select_sql: str,
    deps: Sequence[dg.AssetKey],
    description: str,
    columns: Mapping[str, tuple[str, str]] | None = None,
    lineage: Mapping[str, Sequence[tuple[dg.AssetKey, str]]] | None = None,
    month_column: str | None = None,
    checks: Sequence[StatsCheck] = (),
) -> dg.AssetsDefinition:
    """`columns` {name: (type, description)} and `lineage` {column: [(asset, column)]} are shown before
    the first run (the SELECT's own output is not known until a warehouse runs it). With `month_column`
    (a date column of the output) the table is partitioned by month (partitions.py).

    `checks` run in the asset's step, after the build, each with its own result; a failed blocking one
    stops what is built downstream (Dagster fails the step once the results are recorded). A check
    selected alone (the UI, a sensor) runs without a build: the asset can be subset."""
    code_version = version_of([sql_text(select_sql)])
    key = dg.AssetKey([STATS, name])
    by_name = {check.name: check for check in checks}

    @dg.multi_asset(
        # The op (and step) name an `@asset` of this key had.
        name=f"{STATS}__{name}",
        specs=[
            dg.AssetSpec(
                key,
                deps=list(deps),
                group_name=STATS,
                kinds={"sql"},
                description=description,
                # The SELECT is the whole computation; its version shows a changed query as a changed asset.
                code_version=code_version,
                partitions_def=FLIGHT_MONTHS if month_column else None,
                tags={"dataforge/layer": STATS},
                owners=[PLATFORM_OWNER],
                metadata={
                    "dagster/table_name": f"{STATS}.{name}",
                    **({"dagster/column_schema": schema_of(columns)} if columns else {}),
                    **({"dagster/column_lineage": lineage_of(lineage)} if lineage else {}),
                },
            )
        ],
        check_specs=[
            dg.AssetCheckSpec(check.name, asset=key, blocking=check.blocking, description=check.description)
            for check in checks
        ],
        can_subset=True,
        backfill_policy=SINGLE_RUN,
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: Warehouse
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        build_it = key in context.selected_asset_keys
        with warehouse.session(read_only=not build_it):
            if build_it:
                yield _build(context, warehouse)
            for check in context.selected_asset_check_keys:
                result = by_name[check.name].run(warehouse)
                yield result._replace(asset_key=key, check_name=check.name)

    def _build(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        months = run_months(context) if month_column else None
        with warehouse.table_lock(STATS, name):
            # How far the upstream tables' month changes go, read before this build reads their rows.
            upstream = [dep.path[-1] for dep in deps if dep.path[0] == month_changes.NORMALIZED]
            seen = {table: month_changes.latest(warehouse, table) for table in upstream}
            if month_column and months and _built_by(warehouse, name) == code_version:
                # The run's months, and the months whose upstream changed since this table was last
                # built (a normalized run brings new loads of any month in): as the warehouse recorded
                # them with the rows, and as Dagster's events say.
                stale = {*months_changed_upstream(context, deps), *_behind(warehouse, name, seen)}
                behind = [m for m in sorted(stale) if m not in set(months)]
                replace_months(warehouse, name, select_sql, month_column, sorted({*months, *behind}))
                report_months(context, behind, "rebuilt: its upstream month changed")
                scope = {"months_rebuilt": len(months) + len(behind), "months_caught_up": len(behind)}
            else:
                warehouse.replace_table_as(STATS, name, select_sql)
                scope = {"months_rebuilt": "all"} if month_column else {}
                if month_column and months:
                    # Every month was rebuilt: each partition with rows is materialized, not only the run's.
                    rebuilt = [m for m in _months_in(warehouse, name, month_column) if m not in months]
                    report_months(context, rebuilt, "rebuilt: the table was rebuilt whole")
            if month_column:
                _record_built(warehouse, name, code_version)
                month_changes.record_read(warehouse, name, seen)
            return dg.MaterializeResult(
                asset_key=key, metadata={**scope, **table_metadata(warehouse, STATS, name)}
            )

    return _asset


def replace_months(
    warehouse: Warehouse, name: str, select_sql: str, month_column: str, months: list[Month]
) -> None:
    """Replace these months' rows with the SELECT's rows of the same months, in one transaction."""
    where = date_months_sql(month_column, months)
    with warehouse.transaction():
        warehouse.execute(f'DELETE FROM "{STATS}"."{name}" WHERE {where}')
        warehouse.execute(
            f'INSERT INTO "{STATS}"."{name}" SELECT * FROM ({select_sql}) AS stats WHERE {where}'
        )


def _months_in(warehouse: Warehouse, name: str, month_column: str) -> list[Month]:
    found = warehouse.query(
        f'SELECT DISTINCT {year_and_month_sql(month_column)} FROM "{STATS}"."{name}" '
        f'WHERE "{month_column}" IS NOT NULL'
    )
    return [(int(y), int(m)) for y, m in zip(*(c.to_pylist() for c in found.columns), strict=True)]


def months_changed_upstream(context: dg.AssetExecutionContext, deps: Sequence[dg.AssetKey]) -> list[Month]:
    """Months of the partitioned upstream assets materialized after this asset's latest materialization."""
    latest = context.instance.fetch_materializations(context.asset_key, limit=1).records
    if not latest:
        return []
    months: set[Month] = set()
    for dep in deps:
        cursor = None
        while True:
            found = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dep, after_storage_id=latest[0].storage_id),
                limit=1000,
                cursor=cursor,
            )
            for record in found.records:
                if record.partition_key:
                    months.add(month_of(record.partition_key))
            if not found.has_more:
                break
            cursor = found.cursor
    return sorted(months)


def _behind(warehouse: Warehouse, name: str, seen: Mapping[str, int]) -> set[Month]:
    """Months the upstream tables wrote since this table last read their changes. A table that never
    recorded how far it read (built before the record existed) relies on Dagster's events alone."""
    behind: set[Month] = set()
    for table in seen:
        read = month_changes.read_up_to(warehouse, name, table)
        if read is not None:
            behind |= set(month_changes.changed_after(warehouse, table, read))
    return behind


def _built_by(warehouse: Warehouse, name: str) -> str | None:
    """The version of the SELECT that built the table (None: no table, or built before versions were kept)."""
    if not (warehouse.table_exists(STATS, name) and warehouse.table_exists(STATS, BUILT_VERSIONS)):
        return None
    return warehouse.scalar(
        f"SELECT code_version FROM {STATS}.{BUILT_VERSIONS} WHERE table_name = ?", (name,)
    )


def _record_built(warehouse: Warehouse, name: str, code_version: str) -> None:
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {STATS}.{BUILT_VERSIONS} (table_name VARCHAR PRIMARY KEY, code_version VARCHAR)"
    )
    with warehouse.transaction():
        warehouse.execute(f"DELETE FROM {STATS}.{BUILT_VERSIONS} WHERE table_name = ?", (name,))
        warehouse.execute(f"INSERT INTO {STATS}.{BUILT_VERSIONS} VALUES (?, ?)", (name, code_version))
