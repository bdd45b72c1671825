"""The warehouse resource: one interface over DuckDB (default) and PostgreSQL (production)."""

from dataforge_assets.lib.warehouse.base import Warehouse
from dataforge_assets.lib.warehouse.duckdb import DuckDBWarehouse
from dataforge_assets.lib.warehouse.postgres import PostgresWarehouse

__all__ = ["DuckDBWarehouse", "PostgresWarehouse", "Warehouse"]
