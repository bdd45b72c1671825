"""A stats table: one portable SQL SELECT over normalized tables, rebuilt whole by the warehouse."""

from collections.abc import Sequence

import dagster as dg

from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.sources.component import WAREHOUSE_WRITER_POOL
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
        pool=WAREHOUSE_WRITER_POOL,
        tags={"dataforge/layer": STATS},
    )
    def _asset(warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.session():
            warehouse.replace_table_as(STATS, name, select_sql)
            return dg.MaterializeResult(metadata=table_metadata(warehouse, STATS, name))

    return _asset
