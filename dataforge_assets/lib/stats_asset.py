"""A stats table: one portable SQL SELECT over normalized tables, rebuilt whole by the warehouse."""

from collections.abc import Sequence

import dagster as dg

from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.warehouse import Warehouse

STATS = "stats"


def sql_stats_asset(
    name: str, select_sql: str, deps: Sequence[dg.AssetKey], description: str
) -> dg.AssetsDefinition:
    @dg.asset(
        key=dg.AssetKey([STATS, name]),
        deps=list(deps),
        group_name=STATS,
        kinds={"sql"},
        description=description,
        tags={"dataforge/layer": STATS},
    )
    def _asset(warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.session(), warehouse.table_lock(STATS, name):
            warehouse.replace_table_as(STATS, name, select_sql)
            return dg.MaterializeResult(metadata=table_metadata(warehouse, STATS, name))

    return _asset
