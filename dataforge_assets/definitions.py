"""The code location: everything under defs/ is loaded; platform-wide policies are applied once here."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import dagster as dg

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.lib.operations import with_operations
from dataforge_assets.lib.operations.worker_executor import worker_tagging_in_process_executor
from dataforge_assets.lib.warehouse_health import warehouse_health_defs
from dataforge_assets.resources import resources_for

DEFS = Path(__file__).parent / "defs"


@dg.definitions
def load_definitions() -> dg.Definitions:
    # Dagster's CLI calls the loader twice per process (find the target, then build it): build once
    # per environment. Everything the build reads from the environment is in the key.
    settings = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith(("DATAFORGE_", "DAGSTER_")))
    )
    return _build(settings)


@functools.cache
def _build(settings: tuple[tuple[str, str], ...]) -> dg.Definitions:
    env = current_environment()
    loaded = _load_defs_folder()
    platform = dg.Definitions(
        resources=resources_for(env),
        # One process runs every step (no ~4 s spawn per step, one DuckDB writer at a time), and the run
        # is tagged with that process at once, so a dead worker is always found (operations/dead_runs.py).
        executor=worker_tagging_in_process_executor,
    )
    # Database and WAL size are watched where they matter: on the PostgreSQL warehouse.
    health = warehouse_health_defs() if env.warehouse == "postgres" else dg.Definitions()
    # Automation and alerts: one policy over every loaded asset, not per-asset copies.
    return dg.Definitions.merge(with_operations(dg.Definitions.merge(loaded, platform)), health)


def _load_defs_folder() -> dg.Definitions:
    """The defs folder, as `dg.load_from_defs_folder` builds it, minus the catalogue of every installed
    plugin's component types it attaches for the UI: that imports each plugin (dlt among them) and
    renders their JSON schemas, about half of the definitions' build time (benchmarks/README.md)."""
    tree = dg.ComponentTree.for_project(path_within_project=Path(__file__).parent)
    with (
        warnings.catch_warnings()
    ):  # as load_from_defs_folder does: the preview/beta notices are ours to know
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
            warnings.simplefilter("ignore", category)
        return tree.build_defs_at_path(tree.defs_module_path)
