"""Build a normalized table from its raw table, batch by batch, guarded by a pandera contract.

Only raw loads not processed before are read (dlt stamps every raw row with `_dlt_load_id`), so a
re-run with nothing new does nothing. Each raw row ends in exactly one place: `normalized.<table>`
when it keeps the contract, `quarantine.<table>` (as it arrived, with rule and reason) when not.
A raw row that is re-delivered replaces its earlier version in both places (matched by `_row_key`).
A build stages its rows, then swaps them in with the ledger of processed loads in one warehouse
transaction: a run killed at any point left the whole load or none of it, and is simply run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias

from dataforge_assets.lib.contracts import (
    CAST_FAILURES,
    REJECT_REASON,
    REJECT_RULE,
    Contract,
    contract_columns,
    split_by_contract,
)
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.prefetch import prefetched
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa_arrow
else:
    pl = lazy_module("polars")
    pa_arrow = lazy_module("pyarrow")

NORMALIZED = "normalized"
QUARANTINE = "quarantine"
RAW = "raw"
ROW_KEY = "_row_key"
LOAD_ID = "_dlt_load_id"
SOURCE_FILE, SOURCE_ROW = "_source_file", "_source_row"  # only rows from files sources have these
LINEAGE = (LOAD_ID, SOURCE_FILE, SOURCE_ROW)
PROCESSED_LOADS = "_processed_loads"
QUARANTINE_ORIGIN = "_quarantine_origin"
# Which `_row_key` format each table's rows carry. A table without an entry was built with the first
# format (values joined by `|`, NULLs dropped), whose keys can collide: it is rebuilt from raw once.
ROW_KEY_FORMATS = "_row_key_formats"
ROW_KEY_FORMAT = "v2:length-prefixed"
NULL_MARK = "~"


def row_key(key: Sequence[str]) -> pl.Expr:
    """`_row_key`: how a re-delivered row finds its earlier version. Each key value is written as
    `<length>:<value>` (its text in the column's type) and a NULL as `~`; no length starts with `~`,
    so the key reads back into exactly one tuple: distinct key tuples never share a `_row_key`."""
    parts = []
    for column in key:
        text = pl.col(column).cast(pl.String)
        parts.append(
            pl.when(text.is_null())
            .then(pl.lit(NULL_MARK))
            .otherwise(pl.format("{}:{}", text.str.len_chars(), text))
        )
    return pl.concat_str(parts, separator="").alias(ROW_KEY)


Transform: TypeAlias = "Callable[[pl.DataFrame, Mapping[str, pl.DataFrame]], pl.DataFrame]"


@dataclass(frozen=True)
class NormalizedTable:
    """What one normalized table needs: where it comes from, how it is typed, what it must satisfy."""

    name: str
    raw_table: str
    key: Sequence[str]  # the raw table's primary key columns
    contract: Contract  # a pandera DataFrameModel class or DataFrameSchema
    transform: Transform  # raw text batch (+ lookups) -> typed frame, same rows in the same order
    lookups: Sequence[str] = field(default_factory=tuple)  # small raw tables read whole, e.g. airlines
    description: str = ""
    raw_columns: Sequence[str] = ()  # the raw columns the transform reads: the declared raw contract

    @property
    def contract_columns(self) -> list[str]:
        return contract_columns(self.contract)


@dataclass
class BuildReport:
    loads: list[str]
    raw_rows: int = 0
    normalized_rows: int = 0
    quarantined_rows: int = 0
    rules: dict[str, int] = field(default_factory=dict)


def normalize_batch(
    spec: NormalizedTable, raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows in contract shape + lineage, rejected raw rows + rule + reason)."""
    raw = raw.with_columns(row_key(spec.key))
    typed = spec.transform(raw, lookups)
    split = split_by_contract(f"{NORMALIZED}.{spec.name}", typed, spec.contract)
    lineage = [c for c in (ROW_KEY, *LINEAGE) if c in raw.columns]
    valid = typed.filter(split.valid_rows).select(*spec.contract_columns, *lineage)
    rejects = raw.filter(~split.valid_rows).with_columns(
        split.rule.filter(~split.valid_rows).alias(REJECT_RULE),
        split.reason.filter(~split.valid_rows).alias(REJECT_REASON),
        origin(raw).alias(QUARANTINE_ORIGIN),
        pl.lit(datetime.now(UTC)).alias("_quarantined_at"),
    )
    return valid, rejects.drop(CAST_FAILURES, strict=False)


def origin(frame: pl.DataFrame) -> pl.Expr:
    """Where a row came from, for people: `file flights_2013_01.csv row 17`, else `load <dlt load id>`."""
    if SOURCE_FILE in frame.columns and SOURCE_ROW in frame.columns:
        return pl.format("file {} row {}", pl.col(SOURCE_FILE), pl.col(SOURCE_ROW))
    if LOAD_ID in frame.columns:
        return pl.format("load {}", pl.col(LOAD_ID))
    return pl.lit("unknown")


def unprocessed_loads(warehouse: Warehouse, spec: NormalizedTable) -> list[str]:
    if not warehouse.table_exists(RAW, spec.raw_table):
        raise LookupError(f"raw.{spec.raw_table} does not exist yet: materialize the raw layer first")
    seen = ""
    if warehouse.table_exists(NORMALIZED, PROCESSED_LOADS):
        seen = f" WHERE {LOAD_ID} NOT IN (SELECT load_id FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = '{spec.name}')"
    loads = warehouse.query(f'SELECT DISTINCT {LOAD_ID} FROM {RAW}."{spec.raw_table}"{seen} ORDER BY 1')
    return [str(v) for v in loads.column(0).to_pylist()]


def all_loads(warehouse: Warehouse, spec: NormalizedTable) -> list[str]:
    loads = warehouse.query(f'SELECT DISTINCT {LOAD_ID} FROM {RAW}."{spec.raw_table}" ORDER BY 1')
    return [str(v) for v in loads.column(0).to_pylist()]


def has_legacy_keys(warehouse: Warehouse, spec: NormalizedTable) -> bool:
    """Rows built with the first `_row_key` format: a table exists but no format is recorded for it."""
    if not any(warehouse.table_exists(schema, spec.name) for schema in (NORMALIZED, QUARANTINE)):
        return False
    if not warehouse.table_exists(NORMALIZED, ROW_KEY_FORMATS):
        return True
    recorded = warehouse.scalar(
        f"SELECT max(row_key_format) FROM {NORMALIZED}.{ROW_KEY_FORMATS} WHERE table_name = ?", (spec.name,)
    )
    return recorded != ROW_KEY_FORMAT


def build(warehouse: Warehouse, spec: NormalizedTable, batch_rows: int = 250_000) -> BuildReport:
    # Old keys cannot be translated (colliding keys lost rows already, and normalized rows no longer
    # hold the raw values): rebuild the table from raw, which holds every row's latest version.
    legacy = has_legacy_keys(warehouse, spec)
    report = BuildReport(loads=all_loads(warehouse, spec) if legacy else unprocessed_loads(warehouse, spec))
    if not report.loads:
        return report
    # Batches go to staging tables, each committed on its own (memory stays bounded: one transaction
    # holding every batch kept them all in memory, 5 GB at 10M rows). Then one transaction swaps them in
    # with the ledger; a kill before it leaves only staging tables, which the next build drops.
    staging = f"_staging_{spec.name}"
    for schema in (NORMALIZED, QUARANTINE):
        warehouse.drop_table(schema, staging)
    _write_loads(warehouse, spec, report, batch_rows, staging)
    with warehouse.transaction():
        if legacy:
            _forget_table(warehouse, spec.name)
        _swap_in(warehouse, spec.name, staging)
        _record_key_format(warehouse, spec.name)
        _record_processed(warehouse, spec.name, report.loads)
    return report


def _swap_in(warehouse: Warehouse, table: str, staging: str) -> None:
    """Replace earlier versions of the staged rows (by `_row_key`, in either table: a row may move
    between normalized and quarantine) and add the staged rows; a new table is the staging table renamed."""
    staged_keys = " UNION ALL ".join(
        f'SELECT "{ROW_KEY}" FROM "{schema}"."{staging}"' for schema in (NORMALIZED, QUARANTINE)
    )
    for schema in (NORMALIZED, QUARANTINE):
        if not warehouse.table_exists(schema, table):
            warehouse.execute(f'ALTER TABLE "{schema}"."{staging}" RENAME TO "{table}"')
            continue
        warehouse.execute(f'DELETE FROM "{schema}"."{table}" WHERE "{ROW_KEY}" IN ({staged_keys})')
        staged = warehouse.columns(schema, staging)
        # A raw column that arrived in a later load (schema evolution) reaches quarantine as it arrived:
        # the table gains it (NULL in earlier rows) inside this transaction.
        present = {name for name, _ in warehouse.columns(schema, table)}
        for name, dtype in staged:
            if name not in present:
                warehouse.execute(f'ALTER TABLE "{schema}"."{table}" ADD COLUMN "{name}" {dtype}')
        columns = ", ".join(f'"{name}"' for name, _ in staged)
        warehouse.execute(
            f'INSERT INTO "{schema}"."{table}" ({columns}) SELECT {columns} FROM "{schema}"."{staging}"'
        )
    for schema in (NORMALIZED, QUARANTINE):
        warehouse.drop_table(schema, staging)


def _write_loads(
    warehouse: Warehouse, spec: NormalizedTable, report: BuildReport, batch_rows: int, staging: str
) -> None:
    lookups = {name: pl.from_arrow(warehouse.query(f'SELECT * FROM {RAW}."{name}"')) for name in spec.lookups}
    load_list = ", ".join(f"'{load}'" for load in report.loads)
    batches = warehouse.query_batches(
        f'SELECT * FROM {RAW}."{spec.raw_table}" WHERE {LOAD_ID} IN ({load_list})', batch_rows
    )

    def normalized_batches() -> Iterator[tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]]:
        for batch in batches:
            raw = pl.from_arrow(batch)
            assert isinstance(raw, pl.DataFrame)
            yield (raw.select(row_key(spec.key)), *normalize_batch(spec, raw, lookups))

    # Batch n+1 is read and validated while batch n is written (prefetch.py).
    for keys, valid, rejects in prefetched(normalized_batches()):
        for schema, rows in ((NORMALIZED, valid), (QUARANTINE, rejects)):
            warehouse.write(schema, staging, [rows.to_arrow()], mode="append")
        report.raw_rows += keys.height  # one key per raw row
        report.normalized_rows += valid.height
        report.quarantined_rows += rejects.height
        for rule, count in rejects.group_by(REJECT_RULE).len().iter_rows():
            report.rules[rule] = report.rules.get(rule, 0) + count


def _forget_table(warehouse: Warehouse, table: str) -> None:
    """Drop a table's normalized and quarantined rows and its processed loads, to rebuild it whole."""
    for schema in (NORMALIZED, QUARANTINE):
        warehouse.drop_table(schema, table)
    if warehouse.table_exists(NORMALIZED, PROCESSED_LOADS):
        warehouse.execute(f"DELETE FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = ?", (table,))


def _record_key_format(warehouse: Warehouse, table: str) -> None:
    if warehouse.table_exists(NORMALIZED, ROW_KEY_FORMATS):
        warehouse.execute(f"DELETE FROM {NORMALIZED}.{ROW_KEY_FORMATS} WHERE table_name = ?", (table,))
    row = pa_arrow.table({"table_name": [table], "row_key_format": [ROW_KEY_FORMAT]})
    warehouse.write(NORMALIZED, ROW_KEY_FORMATS, [row], mode="append")


def _record_processed(warehouse: Warehouse, table: str, loads: list[str]) -> None:
    now = datetime.now(UTC)
    rows = pa_arrow.table(
        {"table_name": [table] * len(loads), "load_id": loads, "processed_at": [now] * len(loads)}
    )
    warehouse.write(NORMALIZED, PROCESSED_LOADS, [rows], mode="append")


def iter_table(
    warehouse: Warehouse,
    schema: str,
    table: str,
    batch_rows: int = 250_000,
    where: str = "TRUE",
    columns: Sequence[str] = (),
) -> Iterator[pl.DataFrame]:
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    for batch in warehouse.query_batches(
        f'SELECT {select} FROM "{schema}"."{table}" WHERE {where}', batch_rows
    ):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield frame
