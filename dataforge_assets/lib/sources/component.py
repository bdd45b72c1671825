"""SourceComponent: the YAML-declared source. Adding a source is adding a defs.yaml, not Python."""

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import dagster as dg
from pydantic import BaseModel

from dataforge_assets.lib.environment import Environment, current_environment
from dataforge_assets.lib.metadata import table_metadata
from dataforge_assets.lib.operations.landing_sensor import landing_sensors_for
from dataforge_assets.lib.partitions import SINGLE_RUN
from dataforge_assets.lib.privacy import PrivacySpec, register
from dataforge_assets.lib.raw_checks import RawTableChecks, raw_check_specs, run_raw_checks
from dataforge_assets.lib.refresh import DLT_REFRESH_MODE, Refresh
from dataforge_assets.lib.retry import retry_policy
from dataforge_assets.lib.sources.committed_state import committed_state, resource_state
from dataforge_assets.lib.sources.connection import ConnectionYaml, resolve_connection
from dataforge_assets.lib.sources.pipeline import (
    RAW_SCHEMA,
    make_dlt_source,
    make_pipeline,
    pipeline_name,
    raw_asset_spec,
    raw_table_translator,
)
from dataforge_assets.lib.sources.redacted_errors import raised_errors_redacted
from dataforge_assets.lib.sources.rejected_files import rejections_since
from dataforge_assets.lib.sources.scaffold import SourceScaffolder
from dataforge_assets.lib.sources.schema_contract import SchemaContractMode, dlt_schema_contract
from dataforge_assets.lib.sources.spec import FreshnessSpec, RetrySpec, ScheduleSpec
from dataforge_assets.lib.sources.yaml_model import source_yaml_model
from dataforge_assets.lib.warehouse import Warehouse


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
    # Row data allowed into the metadata store (previews, failure samples); tables may override it.
    privacy: PrivacySpec = PrivacySpec()

    @property
    def is_files(self) -> bool:
        return getattr(self.connection, "kind", None) == "files"

    @classmethod
    def model(cls) -> type[BaseModel]:
        # Errors located at the wrong field (not at `connection:`), once; see yaml_model.py.
        return source_yaml_model(super().model())

    def dlt_source(self, env: Environment, fresh_tables: Collection[str] = ()) -> Any:
        if self.is_files or self.connection.kind == "sql_database":
            # A files source applies `freeze` per file (a file bringing a new column is set aside);
            # a SQLite source notes the contract among the settings its load ran under.
            resources = self.connection.dlt_resources(
                self.name, env.home, fresh_tables, schema_contract=self.schema_contract
            )
        else:
            resources = self.connection.dlt_resources(self.name, env.home, fresh_tables)
        return make_dlt_source(self.name, resources)

    def fresh_tables(self, warehouse: Warehouse) -> list[str]:
        """Raw tables with no rows yet: a load into them has nothing to merge with."""
        return [t.name for t in self.connection.tables if not _has_rows(warehouse, t.name)]

    def nothing_new(self, warehouse: Warehouse, env: Environment, tables: Collection[str]) -> bool:
        """Proven from the destination's committed dlt state, without importing dlt, that a load of
        `tables` would find nothing to load (files and SQLite sources; other kinds always run dlt)."""
        if getattr(self.connection, "nothing_new", None) is None:
            return False
        state = committed_state(warehouse, RAW_SCHEMA, pipeline_name(self.name))
        if state is None:
            return False
        return self.connection.nothing_new(
            env.home, tables, lambda table: resource_state(state, self.name, table), self.schema_contract
        )

    def table_privacy(self) -> dict[str, PrivacySpec]:
        return {t.name: t.privacy or self.privacy for t in self.connection.tables}

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        env = current_environment()
        privacy = self.table_privacy()
        for table, policy in privacy.items():
            register(table, policy)  # normalized tables built from it follow the same policy
        freshness_policy = (
            dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=self.freshness.max_lag_minutes))
            if self.freshness
            else None
        )
        component = self
        checked = self.checked_tables()

        # One multi_asset per source so the op gets the retry policy (dagster-dlt's dlt_assets takes none).
        # The specs come from the YAML's tables, not from a dlt source: building one at load imports dlt.
        @dg.multi_asset(
            name=f"raw_{self.name}",
            specs=[
                raw_asset_spec(self.name, t.name, t.description, env.warehouse, freshness_policy)
                for t in self.connection.tables
            ],
            # Drift, anomaly and set-aside files are checked in the load's step (raw_checks.py).
            check_specs=[spec for table in checked.values() for spec in raw_check_specs(table)],
            can_subset=True,
            retry_policy=retry_policy(self.retry.max_retries, self.retry.delay_seconds),
            # Unpartitioned, but selectable in a partition-range run of the monthly tables (partitions.py).
            backfill_policy=SINGLE_RUN,
        )
        def _raw_assets(
            context: dg.AssetExecutionContext,
            dlt: dg.ResourceParam[Any],
            warehouse: Warehouse,
            refresh: Refresh,
        ) -> Iterator[Any]:
            with raised_errors_redacted():
                if context.selected_asset_keys:  # not when only checks are selected
                    yield from _load(context, dlt, warehouse, refresh.full)
                # After the load's session: its materializations are recorded, which drift and
                # anomaly compare.
                yield from run_raw_checks(context, warehouse, checked)

        def _load(
            context: dg.AssetExecutionContext, dlt: Any, warehouse: Warehouse, full_refresh: bool
        ) -> Iterator[Any]:
            from dataforge_assets.lib.sources.http import MissingSecretError

            run_env = current_environment()
            try:
                check = getattr(component.connection, "check_environment", None)
                if check:
                    check()
            except MissingSecretError as error:
                # Retrying cannot set an env var: fail at once, naming the variable (never its value).
                raise dg.Failure(f"source `{component.name}`: {error}", allow_retries=False) from None
            started = datetime.now(UTC)
            # Two loads of one source never interleave (its dlt pipeline and its raw tables).
            with warehouse.session(), warehouse.table_lock(RAW_SCHEMA, component.name):
                tables = [key.path[-1] for key in context.selected_asset_keys]
                if not full_refresh and component.nothing_new(warehouse, run_env, tables):
                    yield from _nothing_new_results(context, warehouse, tables, privacy, component.is_files)
                    return
                # Run-time helpers import dlt and requests: loaded here, not with the definitions.
                from dataforge_assets.lib.sources.bad_input import bad_input_fails_without_retry
                from dataforge_assets.lib.sources.errors import explain_failure

                pipeline = make_pipeline(component.name, run_env, warehouse.dlt_destination())
                if full_refresh:
                    from dataforge_assets.lib.sources.refresh import start_over

                    fresh = start_over(context, component.name, component.connection.tables, pipeline)
                else:
                    fresh = component.fresh_tables(warehouse)
                results = dlt.run(
                    context=context,
                    dlt_source=component.dlt_source(run_env, fresh),
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=raw_table_translator(component.name, run_env.warehouse),
                    loader_file_format=warehouse.dlt_loader_file_format(),
                    schema_contract=dlt_schema_contract(component.schema_contract),
                    refresh=DLT_REFRESH_MODE if full_refresh else None,
                )
                with bad_input_fails_without_retry(component.name):
                    for result in explain_failure(component.name, results):
                        table = result.asset_key.path[-1]
                        rejected = (
                            _report_rejections(context, warehouse, table, started)
                            if component.is_files
                            else {}
                        )
                        yield dg.MaterializeResult(
                            asset_key=result.asset_key,
                            metadata={
                                **(result.metadata or {}),
                                **rejected,
                                **({"full_refresh": True} if full_refresh else {}),
                                "rows_loaded": (result.metadata or {}).get("rows_loaded", 0),
                                **table_metadata(warehouse, RAW_SCHEMA, table, privacy[table]),
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
        return dg.Definitions(
            assets=[_raw_assets],
            schedules=schedules,
            sensors=sensors,
        )

    def checked_tables(self) -> dict[str, RawTableChecks]:
        """Drift and row-count anomaly checks belong to each raw table, whatever reads it later; files
        set aside to each table of a files source."""
        return {t.name: RawTableChecks(t.name, _declared(t), self.is_files) for t in self.connection.tables}


def _declared(table: Any) -> list[str]:
    """The columns a raw table's YAML names (key, cursor, typed columns): missing ones fail the drift check."""
    named = [*table.primary_key, *([table.cursor_field] if table.cursor_field else [])]
    return list(dict.fromkeys([*named, *(getattr(table, "columns", None) or {})]))


def _nothing_new_results(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    tables: list[str],
    privacy: dict[str, PrivacySpec],
    files: bool,
) -> Iterator[dg.MaterializeResult]:
    """What a dlt run that finds nothing new reports (0 rows loaded, no file set aside, the table as it
    is), without running it: the step still materializes every selected table, as the run asked."""
    none_rejected = {"rejected_files": dg.MetadataValue.json([]), "rejected_file_count": 0} if files else {}
    for table in tables:
        context.log.info(
            f"raw/{table}: its source is unchanged since its last load (dlt state in the warehouse)"
        )
        yield dg.MaterializeResult(
            asset_key=dg.AssetKey([RAW_SCHEMA, table]),
            metadata={
                **none_rejected,
                "rows_loaded": 0,
                "nothing_new": True,
                **table_metadata(warehouse, RAW_SCHEMA, table, privacy[table]),
            },
        )


def _report_rejections(
    context: dg.AssetExecutionContext, warehouse: Warehouse, table: str, since: datetime
) -> dict[str, Any]:
    """Files of this run set aside: logged one by one and listed in the materialization's metadata."""
    rejected = rejections_since(warehouse, table, since)
    for row in rejected:
        context.log.warning(f"raw/{table}: file set aside, {row['reason']}")
    return {
        "rejected_files": dg.MetadataValue.json(rejected),
        "rejected_file_count": len(rejected),
    }


def _has_rows(warehouse: Warehouse, table: str) -> bool:
    # LIMIT 1, not count(*): on PostgreSQL a count scans the whole raw table before every load.
    return warehouse.table_exists(RAW_SCHEMA, table) and bool(
        warehouse.scalar(f'SELECT count(*) FROM (SELECT 1 FROM "{RAW_SCHEMA}"."{table}" LIMIT 1) AS one')
    )
