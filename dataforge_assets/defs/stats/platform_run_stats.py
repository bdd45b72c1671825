"""stats.platform_run_stats: per asset, records processed, durations, last success/failure and run count."""

import dagster as dg

from dataforge_assets.lib.asset_docs import PLATFORM_OWNER, schema_of
from dataforge_assets.lib.code_version import defining_module_text, version_of
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.operations.run_stats import run_stats_table
from dataforge_assets.lib.partitions import SINGLE_RUN
from dataforge_assets.lib.stats_asset import STATS
from dataforge_assets.lib.warehouse import Warehouse

NAME = "platform_run_stats"


@dg.asset(
    key=dg.AssetKey([STATS, NAME]),
    group_name=STATS,
    kinds={"dagster"},
    description=(
        "One row per asset, read from Dagster's instance: run count, failures, records processed (total "
        "and last), step duration (total and last), last success, last failure and its reason."
    ),
    # The aggregation is run_stats.py: a change there shows this asset as changed.
    code_version=version_of([defining_module_text(run_stats_table)]),
    backfill_policy=SINGLE_RUN,  # selectable in a partition-range run (partitions.py)
    tags={"dataforge/layer": STATS},
    owners=[PLATFORM_OWNER],
    metadata={
        "dagster/table_name": f"{STATS}.{NAME}",
        # Read from Dagster's instance, not from tables: a schema but no column lineage.
        "dagster/column_schema": schema_of(
            {
                "asset_key": ("text", "The asset, e.g. raw/flights."),
                "run_count": ("bigint", "Runs that tried to materialize it."),
                "failure_count": ("bigint", "Of those, runs where it failed."),
                "records_processed": ("bigint", "Records over all successful runs."),
                "last_records_processed": ("bigint", "Records of the last successful run."),
                "total_duration_seconds": ("double", "Step time over all runs."),
                "last_duration_seconds": ("double", "Step time of the last run."),
                "last_run_id": ("text", "The last run that tried it."),
                "last_success_at": ("timestamptz", "When it last succeeded."),
                "last_failure_at": ("timestamptz", "When it last failed."),
                "last_failure_reason": ("text", "Why it last failed (secrets redacted)."),
                "last_failure_run_id": ("text", "The run it last failed in."),
            }
        ),
    },
    # It reads run history, not tables: refreshed hourly rather than on upstream change.
    automation_condition=dg.AutomationCondition.on_cron("0 * * * *"),
)
def platform_run_stats(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    table = run_stats_table(context.instance)
    with warehouse.session(), warehouse.table_lock(STATS, NAME):
        warehouse.write(STATS, NAME, [table], mode="replace")
        return dg.MaterializeResult(
            metadata={"assets": table.num_rows, **table_metadata(warehouse, STATS, NAME)}
        )
