"""dlt pipeline and Dagster asset specs for a source: the glue between dlt and the warehouse.

dlt and dagster-dlt are imported when a run needs them, never when the definitions load (they are
about a third of the load time, benchmarks/README.md): `raw_asset_spec` builds the specs from the YAML.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import dagster as dg

from dataforge_assets.lib.asset_docs import PLATFORM_OWNER
from dataforge_assets.lib.environment import Environment

RAW_SCHEMA = "raw"

# Arrow rows get `_dlt_load_id` too, so downstream layers can process only loads they have not seen.
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
# Load files are local and read once: gzip on dlt's CSV files (the PostgreSQL path) cost 47 of 53 s
# for 1M rows, benchmarks/README.md.
os.environ.setdefault("NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION", "true")
# dlt asks the network for telemetry by default; a data platform should not phone home.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def make_dlt_source(name: str, resources: Sequence[Any]) -> Any:
    """A dlt source named after the YAML source; nested data stays in one table (max_table_nesting=0)."""
    import dlt

    def _resources() -> Sequence[Any]:
        return resources

    return dlt.source(_resources, name=name, max_table_nesting=0)()


def pipeline_name(source_name: str) -> str:
    return f"dataforge_{source_name}"


def make_pipeline(source_name: str, env: Environment, destination: Any | None = None) -> Any:
    """One pipeline per source; its state (the incremental cursors) lives in the destination."""
    import dlt

    from dataforge_assets.lib.sources.parquet_statistics import write_load_files_without_statistics

    write_load_files_without_statistics()
    return dlt.pipeline(
        pipeline_name=pipeline_name(source_name),
        destination=destination,
        dataset_name=RAW_SCHEMA,
        pipelines_dir=str(env.dlt_pipelines_dir),
    )


def raw_asset_spec(
    source_name: str,
    table: str,
    description: str | None,
    warehouse_kind: str,
    freshness_policy: dg.FreshnessPolicy | None = None,
) -> dg.AssetSpec:
    """raw/<table> in the `raw` group; no phantom upstream source assets (dagster-dlt's default)."""
    return dg.AssetSpec(
        key=dg.AssetKey([RAW_SCHEMA, table]),
        group_name=RAW_SCHEMA,
        description=description or f"Raw `{table}` rows as loaded from source `{source_name}`.",
        kinds={"dlt", warehouse_kind},
        metadata={"dagster/table_name": f"{RAW_SCHEMA}.{table}"},
        tags={"dataforge/source": source_name, "dataforge/layer": RAW_SCHEMA},
        freshness_policy=freshness_policy,
        owners=[PLATFORM_OWNER],
    )


def raw_table_translator(source_name: str, warehouse_kind: str) -> Any:
    """dagster-dlt's translator for a run: maps each dlt resource to its raw/<table> key."""
    from dagster_dlt import DagsterDltTranslator

    class RawTableTranslator(DagsterDltTranslator):
        def get_asset_spec(self, data: Any) -> dg.AssetSpec:
            return raw_asset_spec(source_name, data.resource.name, None, warehouse_kind)

    return RawTableTranslator()
