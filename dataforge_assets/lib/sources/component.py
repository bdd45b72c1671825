"""SourceComponent: the YAML-declared source. Adding a source is adding a defs.yaml, not Python."""

from collections.abc import Collection, Iterator
from datetime import timedelta
from typing import Annotated, Any

import dagster as dg
from dagster_dlt import DagsterDltResource, build_dlt_asset_specs
from pydantic import BaseModel

from dataforge_assets.lib.environment import Environment, current_environment
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.operations.landing_sensor import landing_sensors_for
from dataforge_assets.lib.retry import retry_policy
from dataforge_assets.lib.sources.bad_input import bad_input_fails_without_retry
from dataforge_assets.lib.sources.connection import ConnectionYaml, resolve_connection
from dataforge_assets.lib.sources.errors import explain_failure
from dataforge_assets.lib.sources.http import MissingSecretError
from dataforge_assets.lib.sources.pipeline import (
    RAW_SCHEMA,
    RawTableTranslator,
    make_dlt_source,
    make_pipeline,
)
from dataforge_assets.lib.sources.scaffold import SourceScaffolder
from dataforge_assets.lib.sources.schema_contract import SchemaContractMode, dlt_schema_contract
from dataforge_assets.lib.sources.spec import FreshnessSpec, RetrySpec, ScheduleSpec
from dataforge_assets.lib.sources.yaml_model import source_yaml_model
from dataforge_assets.lib.warehouse import Warehouse

# Every DuckDB writer shares this pool (limit 1 in dagster.yaml): DuckDB has one writing process.
WAREHOUSE_WRITER_POOL = "warehouse_writer"


@dg.scaffold_with(SourceScaffolder)
class SourceComponent(dg.Component, dg.Model, dg.Resolvable):
    """A data source loaded by dlt into `raw.<table>` assets, with its schedule."""

    name: str
    description: str | None = None
    # Always a `Connection` (files | rest_api | sql_database); validated by ConnectionYaml.
    connection: Annotated[Any, dg.Resolver(resolve_connection, model_field_type=ConnectionYaml)]
    schedule: ScheduleSpec | None = None
    freshness: FreshnessSpec | None = None
    retry: RetrySpec = RetrySpec()
    # Reaction to schema drift (dlt schema contracts): evolve (default), freeze, discard_row, discard_value.
    schema_contract: SchemaContractMode | None = None

    @classmethod
    def model(cls) -> type[BaseModel]:
        # Errors located at the wrong field (not at `connection:`), once; see yaml_model.py.
        return source_yaml_model(super().model())

    def dlt_source(self, env: Environment, fresh_tables: Collection[str] = ()) -> Any:
        return make_dlt_source(self.name, self.connection.dlt_resources(self.name, env.home, fresh_tables))

    def fresh_tables(self, warehouse: Warehouse) -> list[str]:
        """Raw tables with no rows yet: a load into them has nothing to merge with."""
        return [t.name for t in self.connection.tables if not _has_rows(warehouse, t.name)]

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        env = current_environment()
        translator = RawTableTranslator(
            self.name,
            {t.name: t.description for t in self.connection.tables},
            env.warehouse,
            freshness_policy=(
                dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=self.freshness.max_lag_minutes))
                if self.freshness
                else None
            ),
        )
        component = self

        # dagster-dlt's own specs, in a multi_asset so the op gets the retry policy (dlt_assets takes none).
        @dg.multi_asset(
            name=f"raw_{self.name}",
            specs=build_dlt_asset_specs(self.dlt_source(env), make_pipeline(self.name, env), translator),
            can_subset=True,
            pool=WAREHOUSE_WRITER_POOL,
            retry_policy=retry_policy(self.retry.max_retries, self.retry.delay_seconds),
        )
        def _raw_assets(
            context: dg.AssetExecutionContext, dlt: DagsterDltResource, warehouse: Warehouse
        ) -> Iterator[Any]:
            run_env = current_environment()
            try:
                check = getattr(component.connection, "check_environment", None)
                if check:
                    check()
            except MissingSecretError as error:
                # Retrying cannot set an env var: fail at once, naming the variable (never its value).
                raise dg.Failure(f"source `{component.name}`: {error}", allow_retries=False) from None
            with warehouse.session():
                results = dlt.run(
                    context=context,
                    dlt_source=component.dlt_source(run_env, component.fresh_tables(warehouse)),
                    dlt_pipeline=make_pipeline(component.name, run_env, warehouse.dlt_destination()),
                    dagster_dlt_translator=translator,
                    loader_file_format=warehouse.dlt_loader_file_format(),
                    schema_contract=dlt_schema_contract(component.schema_contract),
                )
                with bad_input_fails_without_retry(component.name):
                    for result in explain_failure(component.name, results):
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
        sensors = landing_sensors_for(self.name, self.connection, _raw_assets, env)
        return dg.Definitions(assets=[_raw_assets], schedules=schedules, sensors=sensors)


def _has_rows(warehouse: Warehouse, table: str) -> bool:
    # LIMIT 1, not count(*): on PostgreSQL a count scans the whole raw table before every load.
    return warehouse.table_exists(RAW_SCHEMA, table) and bool(
        warehouse.scalar(f'SELECT count(*) FROM (SELECT 1 FROM "{RAW_SCHEMA}"."{table}" LIMIT 1) AS one')
    )
