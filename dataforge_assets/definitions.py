"""The code location: everything under defs/ is loaded; platform-wide policies are applied once here."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.lib.operations import with_operations
from dataforge_assets.lib.warehouse_health import warehouse_health_defs
from dataforge_assets.resources import resources_for


@dg.definitions
def load_definitions() -> dg.Definitions:
    env = current_environment()
    loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    platform = dg.Definitions(
        resources=resources_for(env),
        # One process runs every step: no ~4 s spawn per step, and one DuckDB writer at a time.
        executor=dg.in_process_executor,
    )
    # Database and WAL size are watched where they matter: on the PostgreSQL warehouse.
    health = warehouse_health_defs() if env.warehouse == "postgres" else dg.Definitions()
    # Automation and alerts: one policy over every loaded asset, not per-asset copies.
    return dg.Definitions.merge(with_operations(dg.Definitions.merge(loaded, platform)), health)
