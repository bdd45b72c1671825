"""A stats table: one portable SQL SELECT over normalized tables, rebuilt whole by the warehouse."""

from collections.abc import Mapping, Sequence

import dagster as dg

from dataforge_assets.lib.asset_docs import PLATFORM_OWNER, lineage_of, schema_of
from dataforge_assets.lib.code_version import sql_text, version_of
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.warehouse import Warehouse

STATS = "stats"


def sql_stats_asset(
    name: str,
    select_sql: str,
    deps: Sequence[dg.AssetKey],
    description: str,
    columns: Mapping[str, tuple[str, str]] | None = None,
    lineage: Mapping[str, Sequence[tuple[dg.AssetKey, str]]] | None = None,
) -> dg.AssetsDefinition:
    """`columns` {name: (type, description)} and `lineage` {column: [(asset, column)]} are shown before
    the first run (the SELECT's own output is not known until a warehouse runs it)."""

    @dg.asset(
        key=dg.AssetKey([STATS, name]),
        deps=list(deps),
        group_name=STATS,
        kinds={"sql"},
        description=description,
        # The SELECT is the whole computation; its version shows a changed query as a changed asset.
        code_version=version_of([sql_text(select_sql)]),
        tags={"dataforge/layer": STATS},
        owners=[PLATFORM_OWNER],
        metadata={
            "dagster/table_name": f"{STATS}.{name}",
            **({"dagster/column_schema": schema_of(columns)} if columns else {}),
            **({"dagster/column_lineage": lineage_of(lineage)} if lineage else {}),
        },
    )
    def _asset(warehouse: Warehouse) -> dg.MaterializeResult:
        with warehouse.session(), warehouse.table_lock(STATS, name):
            warehouse.replace_table_as(STATS, name, select_sql)
            return dg.MaterializeResult(metadata=table_metadata(warehouse, STATS, name))

    return _asset
