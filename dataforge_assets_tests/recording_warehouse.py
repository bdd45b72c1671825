"""The real warehouses, saying which SQL they ran: to prove a statement was (or was not) issued."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import dagster as dg

from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse


class _Recording:
    statements: ClassVar[list[str]] = []  # every statement since the last `clear`, in order

    @classmethod
    def clear(cls) -> None:
        cls.statements.clear()

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        self.statements.append(sql)
        super().execute(sql, params)  # type: ignore[misc]

    def modify(self, sql: str, params: tuple[Any, ...] | None = None) -> int:
        self.statements.append(sql)
        return super().modify(sql, params)  # type: ignore[misc]

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        self.statements.append(sql)
        return super().query(sql, params)  # type: ignore[misc]

    def query_batches(self, sql: str, batch_size: int = 250_000) -> Iterator[Any]:
        self.statements.append(sql)
        return super().query_batches(sql, batch_size)  # type: ignore[misc]


class RecordingDuckDBWarehouse(_Recording, DuckDBWarehouse):
    pass


class RecordingPostgresWarehouse(_Recording, PostgresWarehouse):
    pass


def recording(warehouse: Warehouse, postgres_url: str | None = None) -> _Recording:
    """A recording warehouse on the same database as `warehouse` (PostgreSQL: pass its URL)."""
    if isinstance(warehouse, DuckDBWarehouse):
        return RecordingDuckDBWarehouse(database=warehouse.database)
    assert postgres_url, "a PostgreSQL warehouse's URL is an EnvVar: pass it"
    return RecordingPostgresWarehouse(url=postgres_url)


def materialize_recorded(
    defs: dg.Definitions, selection: str, instance: dg.DagsterInstance, postgres_url: str | None = None
) -> list[str]:
    """Materialize the selected assets (no checks) on a recording warehouse: the SQL it ran, in order."""
    warehouse = recording(defs.resources["warehouse"], postgres_url)
    warehouse.clear()
    dg.materialize(
        list(defs.assets or []),
        # A table's checks run in its own step (normalized_asset.py, stats_asset.py): left out here.
        selection=dg.AssetSelection.from_string(selection).without_checks(),
        resources={**defs.resources, "warehouse": warehouse},
        instance=instance,
    )
    return list(warehouse.statements)
