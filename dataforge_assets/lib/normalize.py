"""Build a normalized table from its raw table, batch by batch, guarded by a pandera contract.

Only raw loads not processed before are read (dlt stamps every raw row with `_dlt_load_id`), so a
re-run with nothing new does nothing. Each raw row ends in exactly one place: `normalized.<table>`
when it keeps the contract, `quarantine.<table>` (as it arrived, with rule and reason) when not.
A raw row that is re-delivered replaces its earlier version in both places (matched by `_row_key`).
A build stages its rows, then swaps them in with the ledger of processed loads in one warehouse
transaction: a run killed at any point left the whole load or none of it, and is simply run again.
The ledger records the code version (code_version.py) that built each load: when the transform or
the contract changes, the loads another version built are rebuilt from raw, a group of loads per
transaction, so quarantined rows that now pass leave quarantine and rows that now fail enter it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeAlias

from dataforge_assets.lib import month_changes
from dataforge_assets.lib.code_version import declaration_text, defining_module_text, version_of
from dataforge_assets.lib.contract_suspects import split_suspects
from dataforge_assets.lib.contracts import (
    CAST_FAILURES,
    REJECT_REASON,
    REJECT_RULE,
    Contract,
    contract_columns,
    split_by_contract,
)
from dataforge_assets.lib.dimensions import DimensionJoin, refresh_dimensions
from dataforge_assets.lib.layers import LOAD_ID, NORMALIZED, QUARANTINE, RAW, ROW_KEY
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.partitions import (
    Month,
    RawSpelling,
    date_months_sql,
    raw_values_sql,
    read_raw_months,
    year_and_month_sql,
)
from dataforge_assets.lib.prefetch import prefetched
from dataforge_assets.lib.raw_history import current_rows, sweep_deleted
from dataforge_assets.lib.reject_spool import RejectSpool
from dataforge_assets.lib.sql_literal import quoted_list
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa_arrow
else:
    pl = lazy_module("polars")
    pa_arrow = lazy_module("pyarrow")

SOURCE_FILE, SOURCE_ROW = "_source_file", "_source_row"  # only rows from files sources have these
LINEAGE = (LOAD_ID, SOURCE_FILE, SOURCE_ROW)
PROCESSED_LOADS = "_processed_loads"
CODE_VERSION = "code_version"  # the ledger's column: which code version built the load
QUARANTINE_ORIGIN = "_quarantine_origin"
# Which `_row_key` format each table's rows carry. A table without an entry was built with the first
# format (values joined by `|`, NULLs dropped), whose keys can collide: it is rebuilt from raw once.
ROW_KEY_FORMATS = "_row_key_formats"
ROW_KEY_FORMAT = "v2:length-prefixed"
NULL_MARK = "~"
# Raw rows per batch a build reads, judges and writes: one DuckDB row group. Batches in flight (read,
# judged, being written) plus DuckDB's buffer pool make the build's peak memory: 250k-row batches
# peaked at 1.04 GB on 10M rows, these at ~0.75 GB for ~5% more CPU (benchmarks/README.md).
BATCH_ROWS = 122_880
# Raw rows per swap transaction when many loads are (re)built: bounds what one transaction holds in
# the warehouse (Python's memory is bounded by `batch_rows` either way).
SWAP_ROWS = 1_000_000


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
class MonthColumns:
    """Where a row's month is read, for a table partitioned by month (partitions.py): the raw
    table's year and month columns, and the normalized table's date column."""

    raw_year: str
    raw_month: str
    date: str


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
    dimensions: Sequence[DimensionJoin] = ()  # columns copied from lookups, kept current (dimensions.py)
    declaration: Any = None  # what else decides the rows (a YAML table's columns): part of the code version
    months: MonthColumns | None = None  # partitioned by month: where a row's month is read

    @property
    def contract_columns(self) -> list[str]:
        return contract_columns(self.contract)

    @cached_property
    def code_version(self) -> str:
        """Changes with the module of the transform or of the contract class, the shared typing and
        splitting code (contracts.py), the key, the lookups or the declaration."""
        parts = [
            declaration_text([self.raw_table, list(self.key), list(self.lookups), self.declaration]),
            defining_module_text(self.transform),
            defining_module_text(split_by_contract),
        ]
        if isinstance(self.contract, type):  # a DataFrameSchema object is described by `declaration`
            parts.append(defining_module_text(self.contract))
        return version_of(parts)


@dataclass
class BuildReport:
    loads: list[str]  # every load built by this run: new ones and rebuilt ones
    rebuilt: list[str] = field(default_factory=list)  # of those, built before by another code version
    raw_rows: int = 0
    normalized_rows: int = 0
    quarantined_rows: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    rows_deleted: int = 0  # their raw row left raw (raw_history.py)
    dimension_rows_refreshed: int = 0
    # Partitioned tables: the months whose rows this build wrote, and the months it rebuilt on request.
    months_written: set[Month] = field(default_factory=set)
    months_rebuilt: list[Month] = field(default_factory=list)


def normalize_batch(
    spec: NormalizedTable, raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows in contract shape + lineage, rejected raw rows + rule + reason)."""
    raw = raw.with_columns(row_key(spec.key))
    typed = spec.transform(raw, lookups)
    # pandera judges the rows that can break the contract (contract_suspects.py): same verdicts, ~1/10 the CPU.
    split = split_suspects(f"{NORMALIZED}.{spec.name}", typed, spec.contract)
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


def raw_loads(warehouse: Warehouse, spec: NormalizedTable) -> dict[str, int]:
    """Rows per load of the raw table, oldest load first."""
    if not warehouse.table_exists(RAW, spec.raw_table):
        raise LookupError(f"raw.{spec.raw_table} does not exist yet: materialize the raw layer first")
    counts = warehouse.query(
        f'SELECT {LOAD_ID}, count(*) FROM {RAW}."{spec.raw_table}" GROUP BY {LOAD_ID} ORDER BY 1'
    )
    return {str(load): int(n) for load, n in zip(*(c.to_pylist() for c in counts.columns), strict=True)}


def built_versions(warehouse: Warehouse, table: str) -> dict[str, str | None]:
    """The code version that built each processed load (None: recorded before versions were)."""
    if not warehouse.table_exists(NORMALIZED, PROCESSED_LOADS):
        return {}
    if CODE_VERSION not in {name for name, _ in warehouse.columns(NORMALIZED, PROCESSED_LOADS)}:
        column = "CAST(NULL AS VARCHAR)"
    else:
        column = CODE_VERSION
    rows = warehouse.query(
        f"SELECT load_id, {column} FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = ?", (table,)
    )
    return dict(zip(*(c.to_pylist() for c in rows.columns), strict=True))


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


def build(
    warehouse: Warehouse,
    spec: NormalizedTable,
    batch_rows: int = BATCH_ROWS,
    swap_rows: int = SWAP_ROWS,
    months: Sequence[Month] | None = None,
    rebuild: bool = False,
) -> BuildReport:
    """Build the raw loads no ledger entry says were built by this code version: new loads, and loads
    built by another version (rebuilt whole: their rows are re-read from raw and judged again).
    `months` (a partitioned run's): these months are then rebuilt from raw too, whatever built them.
    `rebuild`: build the whole table again from raw (a full refresh, refresh.py)."""
    report = _build_loads(warehouse, spec, batch_rows, swap_rows, rebuild)
    if months and not rebuild:  # a whole rebuild has just written every month
        _rebuild_months(warehouse, spec, report, months, batch_rows, swap_rows)
    return report


def _build_loads(
    warehouse: Warehouse, spec: NormalizedTable, batch_rows: int, swap_rows: int, rebuild: bool
) -> BuildReport:
    # Old keys cannot be translated (colliding keys lost rows already, and normalized rows no longer
    # hold the raw values): rebuild the table from raw, which holds every row's latest version.
    legacy = rebuild or has_legacy_keys(warehouse, spec)
    version = spec.code_version
    counts = raw_loads(warehouse, spec)
    built = {} if legacy else built_versions(warehouse, spec.name)
    report = BuildReport(loads=[load for load in counts if built.get(load) != version])
    report.rebuilt = [load for load in report.loads if load in built]
    rebuilt = set(report.rebuilt)
    if not report.loads:
        with warehouse.transaction():
            if legacy:  # a rebuild of a raw table with no rows: nothing is left
                _forget_table(warehouse, spec.name)
            _follow_raw(warehouse, spec, report, counts)
        return report
    # Batches go to staging tables, each committed on its own (memory stays bounded: one transaction
    # holding every batch kept them all in memory, 5 GB at 10M rows). Then one transaction swaps them in
    # with the ledger; a kill before it leaves only staging tables, which the next build drops. Many
    # loads (a rebuild of the whole table) are swapped in groups of about `swap_rows` raw rows: a kill
    # between groups leaves whole loads at one version or the other, and the next build goes on.
    staging = f"_staging_{spec.name}"
    groups = list(_groups(report.loads, counts, swap_rows))
    for number, group in enumerate(groups, start=1):
        for schema in (NORMALIZED, QUARANTINE):
            warehouse.drop_table(schema, staging)
        written = _write_rows(
            warehouse, spec, report, f"{LOAD_ID} IN ({quoted_list(group)})", batch_rows, staging
        )
        with warehouse.transaction():
            if spec.months is not None:  # with the rows: monthly stats find them even if this run dies
                month_changes.record(warehouse, spec.name, written)
            if legacy:
                _forget_table(warehouse, spec.name)
                legacy = False
            _swap_in(
                warehouse,
                spec.name,
                staging,
                [load for load in group if load in rebuilt],
                earlier_versions_in=_months_holding_keys(spec, written),
            )
            _record_key_format(warehouse, spec.name)
            _record_processed(warehouse, spec.name, group, version)
            if number == len(groups):
                if report.rebuilt:
                    _drop_obsolete_columns(warehouse, spec)
                _follow_raw(warehouse, spec, report, counts)
    return report


def _rebuild_months(
    warehouse: Warehouse,
    spec: NormalizedTable,
    report: BuildReport,
    months: Sequence[Month],
    batch_rows: int,
    swap_rows: int,
) -> None:
    """Re-derive these months' rows from raw: each raw row of the months replaces its normalized or
    quarantined version (by `_row_key`), a group of months per transaction. Months whose every raw
    row this build just wrote are not written twice."""
    if spec.months is None:
        raise ValueError(f"{NORMALIZED}.{spec.name} is not partitioned by month")
    pending, spellings = _raw_rows_per_month(warehouse, spec, months, report.loads)
    todo = [month for month in months if month in pending]
    staging = f"_staging_{spec.name}"
    for group in _groups(todo, pending, swap_rows):
        for schema in (NORMALIZED, QUARANTINE):
            warehouse.drop_table(schema, staging)
        group_spellings = [spelling for month in group for spelling in spellings[month]]
        where = raw_values_sql(spec.months.raw_year, spec.months.raw_month, group_spellings)
        written = _write_rows(warehouse, spec, report, where, batch_rows, staging)
        with warehouse.transaction():
            _swap_in(warehouse, spec.name, staging)
            month_changes.record(warehouse, spec.name, {*written, *group})
        report.months_rebuilt.extend(group)


def _raw_rows_per_month(
    warehouse: Warehouse, spec: NormalizedTable, months: Sequence[Month], written: Sequence[str]
) -> tuple[dict[Month, int], dict[Month, list[RawSpelling]]]:
    """Raw rows per requested month that this build has not just written (their load is not in
    `written`): the rows a rebuild of the month has to re-derive; and how each month is spelled in
    raw (its year and month as text), to select its rows by. One pass over raw's current rows,
    grouped by the raw values: a month is what `read_raw_months` reads in them."""
    assert spec.months is not None
    year, month = spec.months.raw_year, spec.months.raw_month
    fresh = f"CASE WHEN {LOAD_ID} IN ({quoted_list(written)}) THEN 0 ELSE 1 END" if written else "1"
    rows = warehouse.query(
        f'SELECT "{year}", "{month}", CAST("{year}" AS VARCHAR), CAST("{month}" AS VARCHAR), sum({fresh}) '
        f'FROM {RAW}."{spec.raw_table}" WHERE {current_rows(warehouse, spec.raw_table)} GROUP BY 1, 2, 3, 4'
    )
    wanted = set(months)
    per_month: dict[Month, int] = {}
    spellings: dict[Month, list[RawSpelling]] = {}
    read = read_raw_months(rows.column(0), rows.column(1))
    texts = zip(rows.column(2).to_pylist(), rows.column(3).to_pylist(), strict=True)
    for found, spelling, n in zip(read, texts, rows.column(4).to_pylist(), strict=True):
        if found in wanted:
            spellings.setdefault(found, []).append(spelling)
            if n:
                per_month[found] = per_month.get(found, 0) + int(n)
    return per_month, spellings


def _follow_raw(
    warehouse: Warehouse, spec: NormalizedTable, report: BuildReport, counts: Mapping[str, int]
) -> None:
    """Rows whose raw row was deleted go; copied dimension columns take the dimension's current values.
    `counts` (raw rows per load, read before the build read raw) let the sweep skip when none left."""
    report.rows_deleted = sweep_deleted(warehouse, spec.name, spec.raw_table, spec.key, counts, report.loads)
    report.dimension_rows_refreshed = refresh_dimensions(warehouse, spec.name, spec.dimensions)
    if spec.months is not None and (report.rows_deleted or report.dimension_rows_refreshed):
        # Rows changed in place, in any month: every month of the table counts as written.
        column = spec.months.date
        months = warehouse.query(
            f"SELECT DISTINCT {year_and_month_sql(column)} "
            f'FROM {NORMALIZED}."{spec.name}" WHERE "{column}" IS NOT NULL'
        )
        changed = {(int(y), int(m)) for y, m in zip(*(c.to_pylist() for c in months.columns), strict=True)}
        report.months_written |= changed
        month_changes.record(warehouse, spec.name, changed)  # in the caller's transaction


def _drop_obsolete_columns(warehouse: Warehouse, spec: NormalizedTable) -> None:
    """Once every load is at the current version, a column the old contract had and this one has not
    goes, as a fresh build would not have it (raw columns in quarantine stay: they are the raw row's)."""
    expected = {*spec.contract_columns, ROW_KEY, *LINEAGE}
    for name, _ in warehouse.columns(NORMALIZED, spec.name):
        if name not in expected:
            warehouse.execute(f'ALTER TABLE "{NORMALIZED}"."{spec.name}" DROP COLUMN "{name}"')


def _groups(loads: Sequence[Any], counts: Mapping[Any, int], swap_rows: int) -> Iterator[list[Any]]:
    """Consecutive groups of loads (or months) of about `swap_rows` raw rows."""
    group: list[Any] = []
    rows = 0
    for load in loads:
        if group and rows + counts[load] > swap_rows:
            yield group
            group, rows = [], 0
        group.append(load)
        rows += counts[load]
    if group:
        yield group


def _swap_in(
    warehouse: Warehouse,
    table: str,
    staging: str,
    rebuilt: Sequence[str] = (),
    earlier_versions_in: tuple[str, list[Month]] | None = None,
) -> None:
    """Replace earlier versions of the staged rows (by `_row_key`, in either table: a row may move
    between normalized and quarantine) and add the staged rows; a new table is the staging table renamed.
    Rows of `rebuilt` loads go whatever their key (a changed key would otherwise leave them behind).

    `earlier_versions_in` (a date column and months): where normalized rows sharing a staged row's key
    can be, so the search skips the other months' row groups instead of reading every `_row_key`."""
    staged_keys = " UNION ALL ".join(
        f'SELECT "{ROW_KEY}" FROM "{schema}"."{staging}"' for schema in (NORMALIZED, QUARANTINE)
    )
    for schema in (NORMALIZED, QUARANTINE):
        if not warehouse.table_exists(schema, table):
            warehouse.execute(f'ALTER TABLE "{schema}"."{staging}" RENAME TO "{table}"')
            continue
        where = f'"{ROW_KEY}" IN ({staged_keys})'
        if schema == NORMALIZED and earlier_versions_in is not None:
            column, months = earlier_versions_in
            within = f"{date_months_sql(column, months)} OR " if months else ""
            where = f'({within}"{column}" IS NULL) AND {where}'
        warehouse.execute(f'DELETE FROM "{schema}"."{table}" WHERE {where}')
        if rebuilt:
            warehouse.execute(f'DELETE FROM "{schema}"."{table}" WHERE {LOAD_ID} IN ({quoted_list(rebuilt)})')
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


def _write_rows(
    warehouse: Warehouse,
    spec: NormalizedTable,
    report: BuildReport,
    where: str,
    batch_rows: int,
    staging: str,
) -> set[Month]:
    """Normalize the raw rows matching `where` into the staging tables; returns the rows' months."""
    lookups = {
        name: pl.from_arrow(
            warehouse.query(f'SELECT * FROM {RAW}."{name}" WHERE {current_rows(warehouse, name)}')
        )
        for name in spec.lookups
    }
    # A raw table keeping history (scd2) holds old versions too: only current rows are normalized.
    batches = warehouse.query_batches(
        f'SELECT * FROM {RAW}."{spec.raw_table}" WHERE {where} AND {current_rows(warehouse, spec.raw_table)}',
        batch_rows,
    )

    def normalized_batches() -> Iterator[_NormalizedBatch]:
        for batch in batches:
            raw = pl.from_arrow(batch)
            assert isinstance(raw, pl.DataFrame)
            valid, rejects = normalize_batch(spec, raw, lookups)
            yield _NormalizedBatch(
                raw_rows=raw.height,
                # polars' own string layout (Arrow string views): handed over without a copy.
                valid=valid.to_arrow(compat_level=pl.CompatLevel.newest()),
                rejects=rejects.to_arrow(compat_level=pl.CompatLevel.newest()),
                rules=dict(rejects.group_by(REJECT_RULE).len().iter_rows()),
                months=_months_of(spec.months, valid, rejects) if spec.months is not None else set(),
            )

    # Batch n+1 is read and validated (and its counts taken) while batch n is written (prefetch.py).
    # The valid rows go to staging as one stream (one statement in DuckDB); rejected rows wait in a
    # spool file meanwhile (a warehouse connection writes one stream at a time), then follow.
    written: set[Month] = set()
    with RejectSpool() as spool:

        def valid_batches() -> Iterator[pa_arrow.Table]:
            for done in prefetched(normalized_batches()):
                report.raw_rows += done.raw_rows
                report.normalized_rows += done.valid.num_rows
                report.quarantined_rows += done.rejects.num_rows
                for rule, count in done.rules.items():
                    report.rules[rule] = report.rules.get(rule, 0) + count
                written.update(done.months)
                spool.add(done.rejects)
                yield done.valid

        warehouse.write(NORMALIZED, staging, valid_batches(), mode="append")
        warehouse.write(QUARANTINE, staging, spool.batches(), mode="append")
    report.months_written |= written
    return written


@dataclass(frozen=True)
class _NormalizedBatch:
    """One raw batch judged: its rows split (as Arrow, ready to write) and what the report counts."""

    raw_rows: int
    valid: pa_arrow.Table
    rejects: pa_arrow.Table
    rules: dict[str, int]
    months: set[Month]


def _months_holding_keys(spec: NormalizedTable, written: set[Month]) -> tuple[str, list[Month]] | None:
    """The date column and the months where a normalized row can share a key with rows of these months,
    or None when that is not known. A key that holds the raw year and month gives every version of a
    row the same month (the transform and `read_raw_months` read them alike; `test_raw_months.py`), and
    a staged row in no month (its month unreadable) has no version with a date. A key without them lets
    a corrected row move to another month: then every month is searched."""
    months = spec.months
    if months is None or not {months.raw_year, months.raw_month} <= set(spec.key):
        return None
    return months.date, sorted(written)


def _months_of(columns: MonthColumns, valid: pl.DataFrame, rejects: pl.DataFrame) -> set[Month]:
    """The months of a batch's rows: normalized rows by their date, quarantined ones by their raw
    year and month as `read_raw_months` reads them (a row whose month cannot be read is in none)."""
    typed = valid.select(
        pl.col(columns.date).dt.year().alias("y"), pl.col(columns.date).dt.month().alias("m")
    )
    spelled = rejects.select(columns.raw_year, columns.raw_month).unique()
    found = {m for m in read_raw_months(spelled[columns.raw_year], spelled[columns.raw_month]) if m}
    found.update((int(y), int(m)) for y, m in typed.drop_nulls().unique().iter_rows())
    return found


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


def _record_processed(warehouse: Warehouse, table: str, loads: list[str], version: str) -> None:
    if warehouse.table_exists(NORMALIZED, PROCESSED_LOADS):
        # A ledger written before code versions were recorded gains the column (NULL: unknown version).
        if CODE_VERSION not in {name for name, _ in warehouse.columns(NORMALIZED, PROCESSED_LOADS)}:
            warehouse.execute(f"ALTER TABLE {NORMALIZED}.{PROCESSED_LOADS} ADD COLUMN {CODE_VERSION} VARCHAR")
        warehouse.execute(
            f"DELETE FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = ? AND load_id IN ({quoted_list(loads)})",
            (table,),
        )
    now = datetime.now(UTC)
    rows = pa_arrow.table(
        {
            "table_name": [table] * len(loads),
            "load_id": loads,
            "processed_at": [now] * len(loads),
            CODE_VERSION: [version] * len(loads),
        }
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
