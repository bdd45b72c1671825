"""StatsTableComponent: a stats table declared in one YAML file, one portable SQL SELECT (stats_asset.py)
with its key and not-null checks; its lineage is read from the SQL unless `deps` says otherwise."""

from __future__ import annotations

from typing import Self

import dagster as dg
from pydantic import BaseModel, field_validator

from dataforge_assets.lib.sources.spec import sql_name
from dataforge_assets.lib.stats_asset import STATS, StatsCheck, sql_stats_asset
from dataforge_assets.lib.tables.scaffold import StatsTableScaffolder
from dataforge_assets.lib.tables.sql_parse import parse_select, selected_columns, tables_read
from dataforge_assets.lib.tables.yaml_errors import located, refuse
from dataforge_assets.lib.warehouse import Warehouse

LAYERS = ("raw", "normalized", "stats")
SAMPLE = 5


def dependencies(sql: str) -> list[dg.AssetKey]:
    """The assets the SQL reads: its `<layer>.<table>` references (CTE names and other schemas are not)."""
    return [dg.AssetKey([schema, table]) for schema, table in tables_read(sql) if schema in LAYERS]


class StatsColumn(dg.Model):
    """A column as the UI shows it before the first run: its type, what it means, where it comes from."""

    type: str
    description: str
    # Upstream columns as <asset key>.<column>, e.g. normalized/flights.origin
    from_columns: list[str] = []


@dg.scaffold_with(StatsTableScaffolder)
class StatsTableComponent(dg.Component, dg.Model, dg.Resolvable):
    """`stats.<name>`: the result of `sql`, replaced whole on each run."""

    name: str
    description: str | None = None
    sql: str
    key: list[str] = []  # unique and never null (a blocking check)
    not_null: list[str] = []  # never null (a blocking check)
    deps: list[str] | None = None  # asset keys like normalized/flights; read from the SQL when omitted
    columns: dict[str, StatsColumn] = {}  # optional: column schema and lineage shown before the first run
    # optional: a date column of the SQL's output; the table is then partitioned by month like
    # normalized.flights, and a run (or a backfill of a month range) rebuilds its months only
    month_column: str | None = None

    @field_validator("name")
    @classmethod
    def _table_name(cls, value: str) -> str:
        return sql_name(value)

    @field_validator("sql")
    @classmethod
    def _one_select(cls, value: str) -> str:
        parse_select(value)  # SqlError (a ValueError) says what is wrong
        return value

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Self:
        positions = context.resolution_context.source_position_tree
        component = located(positions, lambda: super(StatsTableComponent, cls).load(attributes, context))
        columns = selected_columns(component.sql)
        for field in ("key", "not_null"):
            for i, column in enumerate(getattr(component, field)):
                if columns is not None and column not in columns:
                    raise refuse(
                        positions,
                        [field, i],
                        f"column {column!r} is not selected by the SQL (it selects {', '.join(columns)})",
                    )
        if component.month_column and columns is not None and component.month_column not in columns:
            raise refuse(
                positions,
                ["month_column"],
                f"column {component.month_column!r} is not selected by the SQL (it selects {', '.join(columns)})",
            )
        for column in component.columns:
            if columns is not None and column not in columns:
                raise refuse(
                    positions,
                    ["columns", column],
                    f"column {column!r} is not selected by the SQL (it selects {', '.join(columns)})",
                )
        if component.deps is None and not dependencies(component.sql):
            raise refuse(
                positions, ["sql"], f"reads no table of {', '.join(LAYERS)}: name them as <layer>.<table>"
            )
        return component

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        deps = (
            [dg.AssetKey.from_user_string(d) for d in self.deps]
            if self.deps is not None
            else dependencies(self.sql)
        )
        checks = []
        if self.key:
            checks.append(self._key_check())
        if self.not_null:
            checks.append(self._not_null_check())
        asset = sql_stats_asset(
            self.name,
            self.sql,
            deps=deps,
            description=self.description or "",
            columns={name: (c.type, c.description) for name, c in self.columns.items()},
            lineage={name: [_upstream(ref) for ref in c.from_columns] for name, c in self.columns.items()},
            month_column=self.month_column,
            checks=checks,
        )
        return dg.Definitions(assets=[asset])

    # The checks run in the stats asset's own step, after its build (stats_asset.py).
    def _key_check(self) -> StatsCheck:
        table, key = self.name, list(self.key)
        columns = ", ".join(f'"{c}"' for c in key)

        def _key(warehouse: Warehouse) -> dg.AssetCheckResult:
            duplicates = warehouse.query(
                f'SELECT {columns}, count(*) AS "rows" FROM "{STATS}"."{table}" GROUP BY {columns} '
                f'HAVING count(*) > 1 ORDER BY "rows" DESC LIMIT {SAMPLE}'
            ).to_pylist()
            nulls = int(
                warehouse.scalar(
                    f'SELECT count(*) FROM "{STATS}"."{table}" WHERE '
                    + " OR ".join(f'"{c}" IS NULL' for c in key)
                )
            )
            problems = [f"{len(duplicates)}+ duplicated key(s), e.g. {duplicates[0]}"] if duplicates else []
            problems += [f"{nulls} row(s) with a null key column"] if nulls else []
            return dg.AssetCheckResult(
                passed=not problems,
                description="; ".join(problems) or f"({', '.join(key)}) is unique and never null",
                metadata={"duplicated_keys_sample": dg.MetadataValue.json(duplicates), "null_keys": nulls},
            )

        return StatsCheck(
            "key", f"({', '.join(key)}) is unique and never null in {STATS}.{table}.", blocking=True, run=_key
        )

    def _not_null_check(self) -> StatsCheck:
        table, columns = self.name, list(self.not_null)

        def _not_null(warehouse: Warehouse) -> dg.AssetCheckResult:
            counts = warehouse.query(
                "SELECT "
                + ", ".join(f'count(*) - count("{c}") AS "{c}"' for c in columns)
                + f' FROM "{STATS}"."{table}"'
            ).to_pylist()[0]
            nulls = {c: int(n) for c, n in counts.items() if n}
            return dg.AssetCheckResult(
                passed=not nulls,
                description=", ".join(f"{c}: {n} null(s)" for c, n in nulls.items()) or "no nulls",
                metadata={"null_counts": dg.MetadataValue.json(nulls)},
            )

        return StatsCheck(
            "not_null", f"{', '.join(columns)} never null in {STATS}.{table}.", blocking=True, run=_not_null
        )


def _upstream(ref: str) -> tuple[dg.AssetKey, str]:
    """`normalized/flights.origin` -> (normalized/flights, origin)."""
    key, _, column = ref.rpartition(".")
    return dg.AssetKey.from_user_string(key), column
