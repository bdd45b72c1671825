"""stats.platform_run_stats: per asset, records processed, durations, last success/failure and run count."""

import dagster as dg

from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.operations.run_stats import run_stats_table
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
    tags={"dataforge/layer": STATS},
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
