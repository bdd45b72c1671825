"""The `columns:` of a YAML normalized table: each column's type, origin and checks, turned into the
typing transform and a pandera `DataFrameSchema` (the contract)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import ValidationError, field_validator, model_validator

from dataforge_assets.lib.asset_docs import column_description
from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.sources.spec import sql_name
from dataforge_assets.lib.tables.yaml_errors import refuse

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl
else:
    pa = lazy_module("pandera.polars")
    pl = lazy_module("polars")

# `datetime` is an instant (kept in UTC); `local_datetime` a wall-clock time with no zone (a timetable's).
ColumnType = Literal["string", "int32", "int64", "float64", "bool", "date", "datetime", "local_datetime"]
# Each type's name as pandera reports it (`str(column.dtype)`), known without importing pandera.
PANDERA_TYPE_NAMES = {
    "string": "String",
    "int32": "Int32",
    "int64": "Int64",
    "float64": "Float64",
    "bool": "Boolean",
    "date": "Date",
    "datetime": "Datetime(time_unit='us', time_zone='UTC')",
    "local_datetime": "Datetime(time_unit='us', time_zone=None)",
}


def polars_type(column_type: ColumnType) -> pl.DataType:
    return {
        "string": pl.String(),
        "int32": pl.Int32(),
        "int64": pl.Int64(),
        "float64": pl.Float64(),
        "bool": pl.Boolean(),
        "date": pl.Date(),
        "datetime": pl.Datetime("us", "UTC"),
        "local_datetime": pl.Datetime("us"),
    }[column_type]


# The warehouse type a column gets, shown as the column schema before the first run.
WAREHOUSE_TYPES = {
    "string": "VARCHAR",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP WITH TIME ZONE",
    "local_datetime": "TIMESTAMP",
}


class Reference(dg.Model):
    """A foreign key: every non-null value is in `column` of `normalized.<table>` (checked, warns)."""

    table: str
    column: str


class ColumnChecks(dg.Model):
    """Row rules (a breaking row goes to quarantine with the rule) and `unique`/`references`."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    isin: list[str | int | float] | None = None
    notin: list[str | int | float] | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: str | None = None
    unique: bool = False
    references: Reference | None = None

    def pandera_checks(self) -> list[pa.Check]:
        # The order of pandera's own Field(...), so rule names and reasons read as for a Python contract.
        checks = []
        for bound, make in (
            (self.gt, pa.Check.greater_than),
            (self.ge, pa.Check.greater_than_or_equal_to),
            (self.lt, pa.Check.less_than),
            (self.le, pa.Check.less_than_or_equal_to),
        ):
            if bound is not None:
                checks.append(make(_number(bound)))
        if self.isin is not None:
            checks.append(pa.Check.isin(self.isin))
        if self.notin is not None:
            checks.append(pa.Check.notin(self.notin))
        if self.min_length is not None or self.max_length is not None:
            checks.append(pa.Check.str_length(min_value=self.min_length, max_value=self.max_length))
        if self.regex is not None:
            checks.append(pa.Check.str_matches(self.regex))
        return checks

    def rules(self) -> list[str]:
        """The rules as pandera names them (each check's `error`), in pandera_checks' order, without pandera."""
        rules = [
            f"{name}({_number(bound)!r})"
            for bound, name in (
                (self.gt, "greater_than"),
                (self.ge, "greater_than_or_equal_to"),
                (self.lt, "less_than"),
                (self.le, "less_than_or_equal_to"),
            )
            if bound is not None
        ]
        if self.isin is not None:
            rules.append(f"isin({self.isin!r})")
        if self.notin is not None:
            rules.append(f"notin({self.notin!r})")
        if self.min_length is not None or self.max_length is not None:
            rules.append(f"str_length({self.min_length!r}, {self.max_length!r})")
        if self.regex is not None:
            rules.append(f"str_matches({self.regex!r})")
        return rules

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        import re

        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"is not a valid regular expression: {error}") from None
        return value


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class ColumnSpec(dg.Model):
    """One column of the normalized table: read from `source` (a raw column, default: the same name)
    or computed by `expression` (SQL, evaluated by polars over the columns declared above it)."""

    name: str
    type: ColumnType
    source: str | None = None
    expression: str | None = None
    nullable: bool = False
    description: str | None = None
    checks: ColumnChecks = ColumnChecks()

    @field_validator("name")
    @classmethod
    def _column_name(cls, value: str) -> str:
        return sql_name(value)

    @field_validator("expression")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                pl.sql_expr(value)
            except Exception as error:  # polars' SQL errors have no common base
                raise ValueError(f"is not an SQL expression polars can evaluate: {error}") from None
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSpec:
        if self.source is not None and self.expression is not None:
            raise ValueError("a column has a source or an expression, not both")
        return self

    @property
    def raw_column(self) -> str | None:
        return None if self.expression is not None else (self.source or self.name)

    @property
    def dtype(self) -> pl.DataType:
        return polars_type(self.type)

    def referenced_columns(self) -> list[str]:
        return pl.sql_expr(self.expression).meta.root_names() if self.expression else []


def resolve_columns(context: dg.ResolutionContext, value: list[dict[str, Any]]) -> list[ColumnSpec]:
    """Each column validated on its own, so a mistake is reported at its own line, not the list's."""
    columns = []
    for i, item in enumerate(value):
        try:
            columns.append(ColumnSpec.model_validate(item))
        except ValidationError as error:
            first = error.errors()[0]
            field = ["columns", i, *(p for p in first["loc"] if isinstance(p, str | int))]
            raise refuse(context.source_position_tree, field, first["msg"]) from None
    return columns


def contract_schema(
    table: str, columns: Sequence[ColumnSpec], unique: Sequence[str] = (), name: str | None = None
) -> pa.DataFrameSchema:
    """The pandera contract: exactly these columns (strict), typed, with their rules; no coercion,
    since the transform already typed every value it could (and named the ones it could not)."""
    return pa.DataFrameSchema(
        {
            c.name: pa.Column(
                c.dtype,
                checks=c.checks.pandera_checks() or None,
                nullable=c.nullable,
                unique=c.checks.unique,
                description=c.description,
            )
            for c in columns
        },
        strict=True,
        coerce=False,
        unique=list(unique) or None,
        name=name or f"{table}_contract",
    )


class DeclaredContract:
    """A pandera contract declared as columns: the column schema the UI shows is known without pandera
    (the definitions load without it), and the DataFrameSchema is built when rows are first validated."""

    def __init__(self, name: str, columns: Sequence[ColumnSpec], unique: Sequence[str] = ()) -> None:
        self.name = name
        self.columns = tuple(columns)
        self.unique = tuple(unique)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @functools.cached_property
    def pandera_schema(self) -> pa.DataFrameSchema:
        return contract_schema(self.name, self.columns, self.unique, name=self.name)

    def table_schema(self) -> dg.TableSchema:
        """What asset_docs.contract_schema reads from the built schema, read from the declaration."""
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    c.name,
                    PANDERA_TYPE_NAMES[c.type],
                    description=column_description(c.description, c.checks.rules(), c.nullable),
                    constraints=dg.TableColumnConstraints(
                        nullable=c.nullable, unique=c.checks.unique, other=c.checks.rules()
                    ),
                )
                for c in self.columns
            ]
        )


def column(
    name: str, type: ColumnType, nullable: bool = False, description: str | None = None, **checks: Any
) -> ColumnSpec:
    """A contract column declared in Python, e.g. `column("flight", "int32", ge=1)`."""
    return ColumnSpec(
        name=name, type=type, nullable=nullable, description=description, checks=ColumnChecks(**checks)
    )


def typing_transform(columns: Sequence[ColumnSpec]) -> Any:
    """raw text batch -> typed frame (raw columns kept for lineage), as NormalizedTable.transform wants.

    Source columns are cast first (a value that does not convert is named in the quarantine reason),
    then renamed, then expressions are evaluated in the order declared and cast to their type.
    """
    sources = [c for c in columns if c.raw_column is not None]
    renamed = [c for c in columns if c.raw_column is not None and c.raw_column != c.name]
    computed = [c for c in columns if c.expression is not None]

    def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
        casts = {c.raw_column: c.dtype for c in sources}
        missing = [c for c in casts if c not in raw.columns]
        if missing:
            raise MissingRawColumns(missing)
        typed = safe_cast(raw, casts)
        if renamed:
            typed = typed.with_columns(pl.col(c.raw_column).alias(c.name) for c in renamed)  # type: ignore[arg-type]
        for column in computed:
            typed = typed.with_columns(pl.sql_expr(column.expression).alias(column.name))  # type: ignore[arg-type]
            if typed.schema[column.name] != column.dtype:
                typed = safe_cast(typed, {column.name: column.dtype})
        return typed

    return transform


class MissingRawColumns(LookupError):
    def __init__(self, columns: Sequence[str]):
        super().__init__(
            "the raw table has no column " + ", ".join(repr(c) for c in columns) + " (declared as a source)"
        )
