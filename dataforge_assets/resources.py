"""Resources picked from the environment: the warehouse, dlt's Dagster resource, the refresh switch."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dataforge_assets.lib.environment import POSTGRES_URL_VAR, Environment, warehouse_lock_settings
from dataforge_assets.lib.refresh import RESOURCE_KEY, Refresh
from dataforge_assets.lib.sources.dlt_resource import DltRunner
from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse


def warehouse_for(env: Environment) -> Warehouse:
    if env.warehouse == "duckdb":
        # No folder is made here (definitions load without I/O): the writer lock makes it on first connect.
        return DuckDBWarehouse(database=str(env.duckdb_path), **warehouse_lock_settings())
    if not env.postgres_url_set:
        raise ValueError(
            f"DATAFORGE_WAREHOUSE=postgres needs {POSTGRES_URL_VAR}, "
            "e.g. postgresql://user:password@host:5432/database"
        )
    # An EnvVar, not the value: the URL (and its password) never shows in the UI or the logs.
    return PostgresWarehouse(url=dg.EnvVar(POSTGRES_URL_VAR), **warehouse_lock_settings())


def resources_for(env: Environment) -> dict[str, Any]:
    return {"warehouse": warehouse_for(env), "dlt": DltRunner(), RESOURCE_KEY: Refresh()}
