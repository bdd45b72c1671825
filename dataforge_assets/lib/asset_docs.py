"""What a table asset shows before it was ever materialized: its column schema and column lineage.

The schema of a normalized table is its pandera contract (type, nullable, unique, and the contract's rules as
each column's description); its lineage is the raw column of the same name unless the table names others.
Stats tables declare their lineage beside their SQL. Runs add the warehouse's own figures (metadata.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from dataforge_assets.lib.contracts import Contract, as_schema

# Every table is owned by the data platform team unless its definition names an owner.
PLATFORM_OWNER = "team:data-platform"

Lineage = Mapping[str, Sequence[tuple[dg.AssetKey, str]]]


def contract_schema(contract: Contract) -> dg.TableSchema:
    declared = getattr(contract, "table_schema", None)
    if declared is not None:  # a declared contract knows its schema without building pandera's
        return declared()
    columns = []
    for name, column in as_schema(contract).columns.items():
        rules = [check.error or check.name for check in column.checks]
        columns.append(
            dg.TableColumn(
                name,
                str(column.dtype),
                description=column_description(column.description, rules, bool(column.nullable)),
                constraints=dg.TableColumnConstraints(
                    nullable=bool(column.nullable), unique=bool(column.unique), other=rules
                ),
            )
        )
    return dg.TableSchema(columns=columns)


def column_description(description: str | None, rules: Sequence[str], nullable: bool) -> str:
    """The column's own description, else its rules and whether it may be empty."""
    return description or (
        f"{'; '.join(rules)}{'; ' if rules else ''}{'may be empty' if nullable else 'never empty'}"
    )


def column_lineage(
    columns: Sequence[str], upstream: dg.AssetKey, upstream_columns: Sequence[str], derived: Lineage
) -> dg.TableColumnLineage:
    """Each column from `derived` if named there, else from the upstream column of the same name."""
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for column in columns:
        sources = derived.get(column) or ([(upstream, column)] if column in upstream_columns else [])
        if sources:
            deps[column] = [dg.TableColumnDep(asset_key=key, column_name=name) for key, name in sources]
    return dg.TableColumnLineage(deps_by_column=deps)


def schema_of(columns: Mapping[str, tuple[str, str]]) -> dg.TableSchema:
    """A schema from {column: (type, description)}, for tables that have no pandera contract."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, dtype, description=text) for name, (dtype, text) in columns.items()]
    )


def lineage_of(deps: Mapping[str, Sequence[tuple[dg.AssetKey, str]]]) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=key, column_name=name) for key, name in sources]
            for column, sources in deps.items()
        }
    )
