"""Run a pandera contract over a batch and split it: valid rows go on, broken rows go to quarantine.

Row-level failures (a value out of range, a text that is no number) quarantine the row with the rule
and a reason. Schema-level failures (a missing column, a changed type) are not the row's fault: they
raise ContractViolation naming the column, the expected and the found type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl

    from dataforge_assets.lib.tables.columns import DeclaredContract
else:
    pa = lazy_module("pandera.polars")
    pl = lazy_module("polars")


CAST_FAILURES = "_cast_failures"
# ISO 8601 as text sources write it (a space or a T; with an offset, or UTC when none).
TIMESTAMP_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M",
)
REJECT_RULE = "_quarantine_rule"
REJECT_REASON = "_quarantine_reason"
# A contract: a DataFrameModel class, a DataFrameSchema, or a declared contract (tables/columns.py: known
# by its columns when the definitions load, built into a DataFrameSchema when rows are validated).
Contract: TypeAlias = "type[pa.DataFrameModel] | pa.DataFrameSchema | DeclaredContract"


def as_schema(contract: Contract) -> pa.DataFrameSchema:
    declared = getattr(contract, "pandera_schema", None)
    if declared is not None:
        return declared
    return contract if isinstance(contract, pa.DataFrameSchema) else contract.to_schema()


def contract_name(contract: Contract) -> str:
    if isinstance(contract, type):  # a DataFrameModel class
        return contract.__name__
    return contract.name or "contract"


def contract_columns(contract: Contract) -> list[str]:
    declared = getattr(contract, "column_names", None)
    return list(declared) if declared is not None else list(as_schema(contract).columns)


class ContractViolation(Exception):
    """The data no longer has the shape the contract declares (schema drift)."""

    def __init__(self, table: str, failures: pl.DataFrame):
        self.failures = failures
        lines = [_describe(row) for row in failures.iter_rows(named=True)]
        super().__init__(f"contract for {table} broken by schema drift:\n  " + "\n  ".join(lines))


def _describe(failure: dict) -> str:
    if failure["check"] == "column_in_dataframe":  # pandera names the schema, the column is the case
        return f"column {failure['failure_case']!r} is missing"
    return f"column {failure['column']!r}: {failure['check']} failed (found {failure['failure_case']})"


def safe_cast(frame: pl.DataFrame, casts: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast columns; a value that does not convert becomes null and is named in `_cast_failures`.

    Works whether a column arrived as text (CSV) or typed (SQL, JSON): text is parsed, numbers are
    converted (a fractional number is no integer), timestamps are brought to UTC. Failures already
    named in `_cast_failures` (from an earlier cast) are kept.
    """
    # Most values convert as they are: text is cast first without stripping it, and stripped and cast
    # again only in the columns where a value did not convert (text that converts converts the same
    # once stripped); reasons are written only for the columns where a value was lost. Same result,
    # a quarter of the CPU (benchmarks/README.md).
    staged = {name: f"{CAST_FAILURES}:{name}" for name in casts}  # no raw column has such a name
    quick = {name: _quick(frame.schema[name], name, dtype) for name, dtype in casts.items()}
    typed = frame.with_columns(
        (expr if expr is not None else _converted(frame.schema[name], name, casts[name])).alias(staged[name])
        for name, expr in quick.items()
    )
    lost = _columns_losing(frame, typed, casts, staged, list(casts))
    retry = [name for name in lost if quick[name] is not None]
    if retry:
        typed = typed.with_columns(
            _converted(frame.schema[name], name, casts[name]).alias(staged[name]) for name in retry
        )
        still = set(_columns_losing(frame, typed, casts, staged, retry))
        lost = [name for name in lost if name not in retry or name in still]
    failures = [
        pl.when(_lost(frame.schema[name], name, pl.col(staged[name]), casts[name])).then(
            pl.format(
                "{}: {} is not a valid {}",
                pl.lit(name),
                pl.col(name).cast(pl.String),
                pl.lit(str(casts[name])),
            )
        )
        for name in lost
    ]
    if CAST_FAILURES in frame.columns:
        failures.insert(0, pl.col(CAST_FAILURES))
    reasons = pl.concat_str(failures, separator="; ", ignore_nulls=True) if failures else pl.lit(None)
    return typed.with_columns(
        pl.when(reasons == "").then(None).otherwise(reasons).cast(pl.String).alias(CAST_FAILURES),
        *[pl.col(staged[name]).alias(name) for name in casts],
    ).drop(staged.values())


def _quick(source: pl.DataType, name: str, target: pl.DataType) -> pl.Expr | None:
    """Text cast as it is, where `_converted` would strip it first (None: the same as `_converted`)."""
    if source == pl.String and target != pl.Date and not isinstance(target, pl.Datetime):
        return pl.col(name).cast(target, strict=False)
    return None


def _columns_losing(
    frame: pl.DataFrame,
    typed: pl.DataFrame,
    casts: dict[str, pl.DataType],
    staged: dict[str, str],
    names: list[str],
) -> list[str]:
    """Of `names`, the columns where a value did not survive its cast (in `typed`'s staged column)."""
    if not names:
        return []
    flags = typed.select(
        _lost(frame.schema[name], name, pl.col(staged[name]), casts[name]).any().alias(name) for name in names
    ).row(0)
    return [name for name, flag in zip(names, flags, strict=True) if flag]


def _converted(source: pl.DataType, name: str, target: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(target, pl.Datetime):
        if isinstance(source, pl.Datetime):
            zoned = column.dt.replace_time_zone("UTC") if source.time_zone is None else column
            return zoned.dt.convert_time_zone("UTC").cast(target)
        text = column.cast(pl.String).str.strip_chars().str.replace(" ", "T").str.replace(r"Z$", "+00:00")
        return pl.coalesce(
            text.str.to_datetime(fmt, strict=False, time_unit="us").dt.convert_time_zone("UTC")
            if "%z" in fmt
            else text.str.to_datetime(fmt, strict=False, time_unit="us").dt.replace_time_zone("UTC")
            for fmt in TIMESTAMP_FORMATS
        ).cast(target, strict=False)
    if target == pl.Date and source != pl.Date:  # polars 2 no longer casts text to a date
        if isinstance(source, pl.Datetime):
            return column.dt.date()
        return column.cast(pl.String).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    if source.is_numeric() or source == pl.Boolean:
        return column.cast(target, strict=False)
    return column.cast(pl.String).str.strip_chars().cast(target, strict=False)


def _lost(source: pl.DataType, name: str, converted: pl.Expr, target: pl.DataType) -> pl.Expr:
    """A value that was there and did not survive the cast (or lost its fraction on the way to an integer)."""
    lost = pl.col(name).is_not_null() & converted.is_null()
    if source.is_float() and target.is_integer():
        lost = lost | (pl.col(name).is_not_null() & (pl.col(name) != pl.col(name).floor()))
    return lost


@dataclass(frozen=True)
class Split:
    valid_rows: pl.Series  # boolean mask over the batch
    rule: pl.Series  # first broken rule per row (null where valid)
    reason: pl.Series  # every broken rule per row, human-readable
    failure_cases: pl.DataFrame  # pandera's failure cases, for metadata


def split_by_contract(table: str, typed: pl.DataFrame, contract: Contract) -> Split:
    """Validate `typed` (which may carry a `_cast_failures` column) against `contract`."""
    columns = list(as_schema(contract).columns)
    present = [c for c in columns if c in typed.columns]
    failure_cases = _failure_cases(typed.select(present) if len(present) == len(columns) else typed, contract)
    schema_level = failure_cases.filter(pl.col("index").is_null())
    if schema_level.height:
        raise ContractViolation(table, schema_level)

    per_row = [
        failure_cases.select(
            pl.col("index").cast(pl.Int64),
            pl.format("{}:{}", pl.col("column"), pl.col("check")).alias("rule"),
            pl.format(
                "{} = {} breaks {}",
                pl.col("column"),
                pl.col("failure_case"),
                pl.col("check"),
            ).alias("reason"),
        )
    ]
    if CAST_FAILURES in typed.columns:
        per_row.insert(
            0,
            typed.with_row_index("index")
            .filter(pl.col(CAST_FAILURES).is_not_null())
            .select(
                pl.col("index").cast(pl.Int64),
                pl.lit("type").alias("rule"),
                pl.col(CAST_FAILURES).alias("reason"),
            ),
        )
    broken = (
        pl.concat(per_row)
        .group_by("index", maintain_order=True)
        .agg(pl.col("rule").first(), pl.col("reason").str.join("; "))
    )
    rows = pl.DataFrame({"index": pl.int_range(typed.height, eager=True, dtype=pl.Int64)}).join(
        broken, on="index", how="left", maintain_order="left"
    )
    return Split(
        valid_rows=rows["rule"].is_null(),
        rule=rows["rule"],
        reason=rows["reason"],
        failure_cases=failure_cases,
    )


def _failure_cases(frame: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    try:
        as_schema(contract).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return pl.DataFrame(errors.failure_cases).with_columns(pl.col("failure_case").cast(pl.String))
    return pl.DataFrame(
        schema={
            "failure_case": pl.String,
            "schema_context": pl.String,
            "column": pl.String,
            "check": pl.String,
            "check_number": pl.Int32,
            "index": pl.Int32,
        }
    )
