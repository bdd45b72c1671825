"""dlt pipeline and Dagster asset specs for a source: the glue between dlt and the warehouse."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

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

    def _resources() -> Sequence[Any]:
        return resources

    return dlt.source(_resources, name=name, max_table_nesting=0)()


def make_pipeline(source_name: str, env: Environment, destination: Any | None = None) -> dlt.Pipeline:
    """One pipeline per source; its state (the incremental cursors) lives in the destination."""
    return dlt.pipeline(
        pipeline_name=f"dataforge_{source_name}",
        destination=destination,
        dataset_name=RAW_SCHEMA,
        pipelines_dir=str(env.dlt_pipelines_dir),
    )


class RawTableTranslator(DagsterDltTranslator):
    """raw/<table> keys in the `raw` group; no phantom upstream source assets."""

    def __init__(
        self,
        source_name: str,
        descriptions: dict[str, str | None],
        warehouse_kind: str,
        freshness_policy: dg.FreshnessPolicy | None = None,
    ):
        self._source_name = source_name
        self._descriptions = descriptions
        self._warehouse_kind = warehouse_kind
        self._freshness_policy = freshness_policy

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        name = data.resource.name
        return spec.replace_attributes(
            key=dg.AssetKey([RAW_SCHEMA, name]),
            group_name=RAW_SCHEMA,
            deps=[],
            description=self._descriptions.get(name)
            or f"Raw `{name}` rows as loaded from source `{self._source_name}`.",
            kinds={"dlt", self._warehouse_kind},
            tags={**spec.tags, "dataforge/source": self._source_name, "dataforge/layer": RAW_SCHEMA},
            freshness_policy=self._freshness_policy,
            owners=[PLATFORM_OWNER],
            metadata={**spec.metadata, "dagster/table_name": f"{RAW_SCHEMA}.{name}"},
        )
