"""SourceComponent: the YAML-declared source. Adding a source is adding a defs.yaml, not Python."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, dlt_assets

from dataforge_assets.lib.environment import Environment, current_environment
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.sources.files import FilesConnection
from dataforge_assets.lib.sources.pipeline import (
    RAW_SCHEMA,
    RawTableTranslator,
    make_dlt_source,
    make_pipeline,
)
from dataforge_assets.lib.sources.spec import ScheduleSpec
from dataforge_assets.lib.warehouse import Warehouse

# Every DuckDB writer shares this pool (limit 1 in dagster.yaml): DuckDB has one writing process.
WAREHOUSE_WRITER_POOL = "warehouse_writer"


class SourceComponent(dg.Component, dg.Model, dg.Resolvable):
    """A data source loaded by dlt into `raw.<table>` assets, with its schedule."""

    name: str
    description: str | None = None
    connection: FilesConnection
    schedule: ScheduleSpec | None = None

    def dlt_source(self, env: Environment) -> Any:
        return make_dlt_source(self.name, self.connection.dlt_resources(self.name, env.home))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        env = current_environment()
        translator = RawTableTranslator(
            self.name, {t.name: t.description for t in self.connection.tables}, env.warehouse
        )
        component = self

        @dlt_assets(
            dlt_source=self.dlt_source(env),
            dlt_pipeline=make_pipeline(self.name, env),
            name=f"raw_{self.name}",
            dagster_dlt_translator=translator,
            pool=WAREHOUSE_WRITER_POOL,
        )
        def _raw_assets(
            context: dg.AssetExecutionContext, dlt: DagsterDltResource, warehouse: Warehouse
        ) -> Iterator[Any]:
            run_env = current_environment()
            results = dlt.run(
                context=context,
                dlt_source=component.dlt_source(run_env),
                dlt_pipeline=make_pipeline(component.name, run_env, warehouse.dlt_destination()),
                loader_file_format="parquet",
            )
            for result in results:
                table = result.asset_key.path[-1]
                yield dg.MaterializeResult(
                    asset_key=result.asset_key,
                    metadata={
                        **(result.metadata or {}),
                        "rows_loaded": (result.metadata or {}).get("rows_loaded", 0),
                        **table_metadata(warehouse, RAW_SCHEMA, table),
                    },
                )

        schedules = []
        if self.schedule:
            schedules.append(
                dg.ScheduleDefinition(
                    name=f"{self.name}_schedule",
                    target=_raw_assets,
                    cron_schedule=self.schedule.cron,
                    execution_timezone=self.schedule.timezone,
                    default_status=dg.DefaultScheduleStatus.RUNNING,
                )
            )
        return dg.Definitions(assets=[_raw_assets], schedules=schedules)
