"""Resources picked from the environment: the warehouse and dlt's Dagster resource."""

from __future__ import annotations

from typing import Any

from dagster_dlt import DagsterDltResource

from dataforge_assets.lib.environment import Environment
from dataforge_assets.lib.warehouse import DuckDBWarehouse, Warehouse


def warehouse_for(env: Environment) -> Warehouse:
    if env.warehouse == "duckdb":
        env.home.mkdir(parents=True, exist_ok=True)
        return DuckDBWarehouse(database=str(env.duckdb_path))
    raise NotImplementedError(f"warehouse {env.warehouse!r} is not available yet")


def resources_for(env: Environment) -> dict[str, Any]:
    return {"warehouse": warehouse_for(env), "dlt": DagsterDltResource()}
