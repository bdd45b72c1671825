"""Schema drift of a raw table: new, dropped and retyped columns against its previous materialization, and
declared columns missing.

The comparison is Dagster's: `TableSchemaDiff`, what `dg.build_column_schema_change_checks` runs, between
the `dagster/column_schema` the table's two latest materializations reported. Dagster's own check is not
used as it is: it would name a dlt variant column as a new column, and it has no declared columns. On top
of the diff, what only dlt's way of loading explains: dlt never drops a column and puts a value of a new
type into a variant column (`<column>__v_<type>`), so a variant column is reported as a type change of its
column, and a dropped column as one with no values in the latest load (read from the warehouse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_factories.schema_change_checks import (
    TableSchemaDiff,
)
from dagster._core.definitions.metadata import TableMetadataSet

from dataforge_assets.lib.layers import LOAD_ID, RAW
from dataforge_assets.lib.warehouse import Warehouse

VARIANT = "__v_"
SOURCE_FILE = "_source_file"  # files sources only


@dataclass
class Drift:
    latest_load: str | None = None
    previous_run: str | None = None  # the run of the materialization compared with
    added: dict[str, str] = field(default_factory=dict)  # column -> type
    dropped: dict[str, str] = field(default_factory=dict)  # column -> type it had
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (old, new)
    undeclared_missing: list[str] = field(default_factory=list)  # declared but absent
    files: dict[str, list[str]] = field(default_factory=dict)  # new column -> files that brought it

    @property
    def breaking(self) -> bool:
        return bool(self.dropped or self.retyped or self.undeclared_missing)

    def lines(self) -> list[str]:
        out = [f"new column {c!r} ({t}){_in_files(self.files.get(c))}" for c, t in self.added.items()]
        out += [
            f"column {c!r} ({t}) dropped: no values in load {self.latest_load}"
            for c, t in self.dropped.items()
        ]
        out += [f"column {c!r} changed type: {old} -> {new}" for c, (old, new) in self.retyped.items()]
        out += [f"declared column {c!r} is missing from the raw table" for c in self.undeclared_missing]
        return out


@dataclass(frozen=True)
class Schemas:
    """The column schemas of a table's latest and previous materializations (None where there is none)."""

    latest: dg.TableSchema | None = None
    previous: dg.TableSchema | None = None
    previous_run: str | None = None


def materialized_schemas(instance: dg.DagsterInstance, key: dg.AssetKey) -> Schemas:
    """As `build_column_schema_change_checks` reads them: the two latest materializations' metadata."""
    records = instance.fetch_materializations(limit=2, records_filter=key).records
    found = [
        TableMetadataSet.extract(record.asset_materialization.metadata).column_schema
        for record in records
        if record.asset_materialization is not None
    ]
    return Schemas(
        latest=found[0] if found else None,
        previous=found[1] if len(found) > 1 else None,
        previous_run=records[1].run_id if len(records) > 1 else None,
    )


def data_columns(schema: dg.TableSchema | None) -> dict[str, str]:
    return {c.name: c.type for c in (schema.columns if schema else []) if not c.name.startswith("_dlt")}


def detect(warehouse: Warehouse, table: str, declared: Sequence[str], schemas: Schemas) -> Drift:
    columns = data_columns(schemas.latest)
    drift = Drift(undeclared_missing=[c for c in declared if c not in columns])
    if not columns:
        return drift
    drift.latest_load = warehouse.scalar(f'SELECT max({LOAD_ID}) FROM {RAW}."{table}"')
    variants = [c for c in columns if VARIANT in c]
    if schemas.previous is not None:
        drift.previous_run = schemas.previous_run
        before = dg.TableSchema(
            columns=[dg.TableColumn(name, dtype) for name, dtype in data_columns(schemas.previous).items()]
        )
        after = dg.TableSchema(columns=[dg.TableColumn(name, dtype) for name, dtype in columns.items()])
        diff = TableSchemaDiff.from_table_schemas(before, after)
        drift.added = {c.name: c.type for c in diff.added_columns if VARIANT not in c.name}
        drift.retyped = {c: (t.old_type, t.new_type) for c, t in diff.column_type_changes.items()}
        variants = [c.name for c in diff.added_columns if VARIANT in c.name]
    for column in variants:  # a value of a new type: dlt's variant column beside the column
        base, _, new_type = column.partition(VARIANT)
        if base in columns:
            drift.retyped[base] = (columns[base], new_type)
    drift.dropped = _emptied(warehouse, table, columns, drift.latest_load)
    if SOURCE_FILE in columns:
        drift.files = {c: _files_with(warehouse, table, c) for c in drift.added}
    return drift


def _in_files(files: list[str] | None) -> str:
    return f" in {', '.join(files)}" if files else ""


def _files_with(warehouse: Warehouse, table: str, column: str) -> list[str]:
    rows = warehouse.query(
        f'SELECT DISTINCT {SOURCE_FILE} FROM {RAW}."{table}" WHERE "{column}" IS NOT NULL ORDER BY 1 LIMIT 5'
    )
    return [str(v) for v in rows.column(0).to_pylist()]


def _emptied(warehouse: Warehouse, table: str, columns: dict[str, str], latest: str | None) -> dict[str, str]:
    """Columns with values in earlier loads and none in the latest one (which has rows).

    The latest load is counted first (its rows only); earlier loads are looked at only for the columns it
    left empty, which is usually none: no scan of the whole table on every run.
    """
    names = [c for c in columns if VARIANT not in c]
    if latest is None or not names:
        return {}
    # Every count named: PostgreSQL calls them all `count`, and a dict keeps only one of them.
    in_latest = ", ".join(f'count("{c}") AS now_{i}' for i, c in enumerate(names))
    row = warehouse.query(
        f"SELECT count(*) AS latest_rows, {in_latest} FROM {RAW}.\"{table}\" WHERE {LOAD_ID} = '{latest}'"
    ).to_pylist()[0]
    counts = list(row.values())
    empty = [c for c, n in zip(names, counts[1:], strict=True) if n == 0]
    if not counts[0] or not empty:
        return {}
    before = ", ".join(f'count("{c}") AS before_{i}' for i, c in enumerate(empty))
    earlier = warehouse.query(
        f"SELECT {before} FROM {RAW}.\"{table}\" WHERE {LOAD_ID} <> '{latest}'"
    ).to_pylist()[0]
    return {c: columns[c] for c, e in zip(empty, earlier.values(), strict=True) if e > 0}
