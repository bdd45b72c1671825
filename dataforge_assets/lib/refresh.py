"""Full refresh: one run-config switch that rebuilds the selected tables from where they come from.

Runs are incremental: raw loads only what is new at the source (dlt's cursors and file identities,
kept in the warehouse), normalized tables build only raw loads they have not built. A run launched
with `{"resources": {"refresh": {"config": {"full": true}}}}` starts each selected table over instead:
a raw table is dropped with its dlt state and loaded again from its source (dlt's `drop_resources`
refresh), a normalized table is rebuilt whole from raw. Tables not selected, and the state of the
other resources of the same source, are untouched. Run config, not a tag: `dg launch` and
`dagster asset materialize` take run config (`--config-json`), not tags.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

RESOURCE_KEY = "refresh"
# What users pass, e.g. `dg launch --assets raw/airlines --config-json '<this as JSON>'`.
FULL_REFRESH_RUN_CONFIG = {"resources": {RESOURCE_KEY: {"config": {"full": True}}}}
# dlt's refresh mode for a raw table: drop the tables and the state of the resources being loaded
# (only the selected ones: dagster-dlt loads a subset with `with_resources`); source state stays.
DLT_REFRESH_MODE = "drop_resources"


class Refresh(dg.ConfigurableResource):
    """How this run treats what was loaded and built before."""

    full: bool = Field(
        default=False,
        description="Start every selected table over: raw tables are dropped with their dlt state and "
        "loaded again from the source, normalized tables are rebuilt whole from raw.",
    )
