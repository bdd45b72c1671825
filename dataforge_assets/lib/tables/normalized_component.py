"""NormalizedTableComponent: a normalized table declared in one YAML file, built by the same machinery
as the Python tables (normalize.py, normalized_asset.py): incremental by raw load, the contract as a
blocking check, quarantine with rule and reason, reconciliation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Self

import dagster as dg
import yaml
from pydantic import BaseModel, field_validator

from dataforge_assets.lib.normalize import NORMALIZED, QUARANTINE, RAW, NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset
from dataforge_assets.lib.references import check_reference
from dataforge_assets.lib.sources.spec import FreshnessSpec, sql_name
from dataforge_assets.lib.tables.columns import (
    WAREHOUSE_TYPES,
    ColumnSpec,
    DeclaredContract,
    resolve_columns,
    typing_transform,
)
from dataforge_assets.lib.tables.raw_tables import declared_raw_tables
from dataforge_assets.lib.tables.scaffold import NormalizedTableScaffolder
from dataforge_assets.lib.tables.yaml_errors import located, refuse
from dataforge_assets.lib.warehouse import Warehouse


class QuarantinePolicy(dg.Model):
    """How many rows may break the contract: beyond `max_share` of the table, the `quarantine_share`
    check fails (the rows are quarantined either way, never dropped)."""

    max_share: float | None = None

    @field_validator("max_share")
    @classmethod
    def _share(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 1:
            raise ValueError("must be a share between 0 and 1, e.g. 0.01 for 1%")
        return value


@dg.scaffold_with(NormalizedTableScaffolder)
class NormalizedTableComponent(dg.Component, dg.Model, dg.Resolvable):
    """`normalized.<name>`, read from `raw.<raw_table>`, typed and checked per `columns`."""

    name: str
    raw_table: str
    key: list[str]  # the raw table's primary key columns: how a re-delivered row is matched
    description: str | None = None
    columns: Annotated[list[ColumnSpec], dg.Resolver(resolve_columns, model_field_type=list[dict[str, Any]])]
    unique: list[str] = []  # columns unique together (one pandera table-level rule)
    quarantine: QuarantinePolicy = QuarantinePolicy()
    freshness: FreshnessSpec | None = None

    @field_validator("name", "raw_table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        return sql_name(value)

    @classmethod
    def load(cls, attributes: BaseModel | None, context: dg.ComponentLoadContext) -> Self:
        positions = context.resolution_context.source_position_tree
        component = located(positions, lambda: super(NormalizedTableComponent, cls).load(attributes, context))
        component.validate_together(context)
        return component

    def validate_together(self, context: dg.ComponentLoadContext) -> None:
        """What no single field can know: names that must match other fields or other files."""
        positions = context.resolution_context.source_position_tree
        if not self.columns:
            raise refuse(positions, ["columns"], "declare at least one column")
        declared: list[str] = []
        for i, column in enumerate(self.columns):
            if column.name in declared:
                raise refuse(positions, ["columns", i, "name"], f"column {column.name!r} is declared twice")
            unknown = [c for c in column.referenced_columns() if c not in declared]
            if unknown:
                raise refuse(
                    positions,
                    ["columns", i, "expression"],
                    f"unknown column {unknown[0]!r}: an expression reads columns declared above it "
                    f"({', '.join(declared) or 'none'})",
                )
            declared.append(column.name)
        sources = [c.raw_column for c in self.columns if c.raw_column is not None]
        if not self.key:
            raise refuse(positions, ["key"], "name the raw table's primary key columns")
        for i, column in enumerate(self.key):
            if column not in sources:
                raise refuse(
                    positions,
                    ["key", i],
                    f"key column {column!r} is not a declared source column ({', '.join(sources)})",
                )
        for i, column in enumerate(self.unique):
            if column not in declared:
                raise refuse(
                    positions, ["unique", i], f"unique names column {column!r}, which is not declared"
                )
        known = declared_raw_tables(context.defs_module_path)
        if self.raw_table not in known:
            raise refuse(
                positions,
                ["raw_table"],
                f"unknown raw table {self.raw_table!r}: no source YAML under {context.defs_module_path} "
                f"declares it (known: {', '.join(sorted(known)) or 'none'})",
            )

    def table(self) -> NormalizedTable:
        return NormalizedTable(
            name=self.name,
            raw_table=self.raw_table,
            key=tuple(self.key),
            contract=DeclaredContract(f"{self.name}_contract", self.columns, self.unique),
            transform=typing_transform(self.columns),
            description=self.description or "",
            raw_columns=tuple(c.raw_column for c in self.columns if c.raw_column is not None),
            # The code version (normalize.py): what decides the rows, not what only describes them.
            declaration={
                "columns": [c.model_dump(mode="json", exclude={"description"}) for c in self.columns],
                "unique": list(self.unique),
            },
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        raw_key = dg.AssetKey([RAW, self.raw_table])
        # A column read from a raw column of another name (column lineage; same names are implied).
        renamed = {
            c.name: [(raw_key, c.raw_column)]
            for c in self.columns
            if c.raw_column is not None and c.raw_column != c.name
        }
        asset, *checks = normalized_table_asset(self.table(), renamed)
        asset = asset.map_asset_specs(self._described)
        checks += [self._reference_check(c) for c in self.columns if c.checks.references]
        if self.quarantine.max_share is not None:
            checks.append(self._quarantine_share_check(self.quarantine.max_share))
        return dg.Definitions(assets=[asset], asset_checks=checks)

    def _described(self, spec: dg.AssetSpec) -> dg.AssetSpec:
        """Column schema in the warehouse's types (rules as the description where YAML gives none) and
        freshness, shown before the first run."""
        from_contract = {c.name: c for c in spec.metadata["dagster/column_schema"].columns}
        schema = dg.TableSchema(
            columns=[
                dg.TableColumn(
                    c.name,
                    WAREHOUSE_TYPES[c.type],
                    description=c.description or from_contract[c.name].description,
                    constraints=from_contract[c.name].constraints,
                )
                for c in self.columns
            ]
        )
        spec = spec.merge_attributes(
            metadata={
                "dagster/column_schema": schema,
                "dagster/table_name": f"{NORMALIZED}.{self.name}",
                "quarantine_table": f"{QUARANTINE}.{self.name}",
            }
        )
        if self.freshness:
            window = timedelta(minutes=self.freshness.max_lag_minutes)
            spec = spec.replace_attributes(
                freshness_policy=dg.FreshnessPolicy.time_window(fail_window=window)
            )
        return spec

    def _reference_check(self, column: ColumnSpec) -> Any:
        ref = column.checks.references
        assert ref is not None
        table, name = self.name, column.name

        @dg.asset_check(
            asset=dg.AssetKey([NORMALIZED, table]),
            name=f"{name}_in_{ref.table}",
            additional_deps=[dg.AssetKey([NORMALIZED, ref.table])],
            description=f"Rows whose {name} (when known) is missing from {NORMALIZED}.{ref.table}.{ref.column}.",
        )
        def _reference(warehouse: Warehouse) -> dg.AssetCheckResult:
            with warehouse.session():
                return check_reference(warehouse, table, name, ref.table, ref.column)

        return _reference

    def _quarantine_share_check(self, max_share: float) -> Any:
        table = self.name

        @dg.asset_check(
            asset=dg.AssetKey([NORMALIZED, table]),
            name="quarantine_share",
            description=f"At most {max_share:.2%} of the rows read from raw.{self.raw_table} are quarantined.",
        )
        def _share(warehouse: Warehouse) -> dg.AssetCheckResult:
            with warehouse.session():
                kept, rejected = (
                    warehouse.row_count(schema, table) if warehouse.table_exists(schema, table) else 0
                    for schema in (NORMALIZED, QUARANTINE)
                )
            share = rejected / (kept + rejected) if kept + rejected else 0.0
            return dg.AssetCheckResult(
                passed=share <= max_share,
                description=f"{rejected} of {kept + rejected} rows quarantined ({share:.2%}; at most {max_share:.2%})",
                metadata={"quarantined_rows": rejected, "share": share, "max_share": max_share},
            )

        return _share


def normalized_table_from_yaml(path: Path) -> NormalizedTable:
    """The NormalizedTable a defs.yaml declares, without loading a defs folder (for unit tests/tools)."""
    document = yaml.safe_load(path.read_text())
    return NormalizedTableComponent.model_validate(document["attributes"]).table()
