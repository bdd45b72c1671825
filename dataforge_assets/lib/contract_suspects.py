"""Split a typed batch by its contract, with pandera's full validation run only over the rows that can fail.

pandera's polars backend collects once per column and check (about 65 passes per flights batch, plus
~35 ms of Python per call: 0.6 CPU s per 1M rows, benchmarks/README.md). The same checks, taken from
the same pandera Check objects and run as one `collect_all`, find the suspects: rows with a cast
failure, a null where the column allows none, or a check that does not pass. `split_by_contract`
(pandera) then judges those rows alone and gives every rule and reason, as it would over the whole
batch: a check of one column looks at one row at a time, so a row's verdict does not depend on the
others. Suspects are a superset (a false alarm costs time, never a verdict). Where the contract has a
part that looks across rows or that this pass cannot mirror (uniqueness, frame-wide or custom checks,
coercion, parsers, regex column names), pandera judges the whole batch as before.

Schema drift still fails loudly: a batch without suspects is validated as an empty frame of its
schema, once per contract and schema (what pandera can find in no rows depends on nothing else).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from dataforge_assets.lib.contracts import CAST_FAILURES, Contract, Split, as_schema, split_by_contract
from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl
else:
    pl = lazy_module("polars")

# pandera's built-in polars checks that map each value to True/False on its own (no aggregate, no
# Python per element): their output has one boolean per row, in the rows' order.
ROW_WISE_CHECKS = frozenset(
    {
        "equal_to",
        "not_equal_to",
        "greater_than",
        "greater_than_or_equal_to",
        "less_than",
        "less_than_or_equal_to",
        "in_range",
        "isin",
        "notin",
        "str_matches",
        "str_contains",
        "str_startswith",
        "str_endswith",
        "str_length",
    }
)
# Column types whose pandera check compares the dtype only (no look at the values).
PLAIN_TYPES = ("String", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
               "Float32", "Float64", "Boolean", "Date", "Datetime")  # fmt: skip
_SCHEMAS_SEEN_LIMIT = 64

# (id of a pandera schema, a batch's schema) -> (that pandera schema, its failure cases over no rows)
_schemas_passed: dict[tuple, tuple[object, pl.DataFrame]] = {}
_schemas_lock = threading.Lock()


def split_suspects(table: str, typed: pl.DataFrame, contract: Contract) -> Split:
    """What `split_by_contract(table, typed, contract)` returns for the rows' verdicts (valid_rows,
    rule, reason), with pandera run over the suspect rows only; failure cases index the whole batch."""
    schema = as_schema(contract)
    suspects = suspect_rows(typed, schema)
    if suspects is None:
        return split_by_contract(table, typed, contract)
    positions = suspects.arg_true()
    if positions.len() == 0:
        nothing = pl.repeat(None, typed.height, dtype=pl.String, eager=True)
        return Split(
            valid_rows=pl.repeat(True, typed.height, eager=True),
            rule=nothing.alias("rule"),
            reason=nothing.alias("reason"),
            failure_cases=_no_failures(table, typed, contract, schema),
        )
    part = split_by_contract(table, typed[positions], contract)
    rule = pl.repeat(None, typed.height, dtype=pl.String, eager=True).scatter(positions, part.rule)
    reason = pl.repeat(None, typed.height, dtype=pl.String, eager=True).scatter(positions, part.reason)
    index = part.failure_cases["index"]
    cases = part.failure_cases.with_columns(positions.gather(index).cast(index.dtype).alias("index"))
    return Split(
        valid_rows=rule.is_null(), rule=rule.alias("rule"), reason=reason.alias("reason"), failure_cases=cases
    )


def suspect_rows(typed: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.Series | None:
    """True where a row may break the contract; None when the contract has a part this pass cannot
    mirror, or the batch does not have the contract's columns and types (pandera then says why)."""
    if not _mirrorable(schema):
        return None
    frame = typed.lazy()
    flags = [pl.col(CAST_FAILURES).is_not_null()] if CAST_FAILURES in typed.columns else []
    failed = []  # one lazy boolean column per check: True where the row fails it
    for name, column in schema.columns.items():
        if name not in typed.columns or str(column.dtype) != str(typed.schema[name]):
            return None  # drift: pandera names it
        if not column.nullable:
            flags.append(pl.col(name).is_null())
            if typed.schema[name].is_float():  # pandera counts NaN as null
                flags.append(pl.col(name).is_nan())
        for check in column.checks:
            output = _check_output(check, frame, name)
            if output is None or output.collect_schema().dtypes() != [pl.Boolean]:
                return None
            # As pandera's check backend: a null output passes where the check ignores nulls, else fails.
            failed.append(
                output.select((~pl.first().fill_null(check.ignore_na)).alias(f"check_{len(failed)}"))
            )
    # One plan, one collect. An output of another length would pad with nulls: suspects, or too long.
    flagged = frame.select(flag.alias(f"flag_{i}") for i, flag in enumerate(flags or [pl.lit(False)]))
    every = pl.concat([flagged, *failed], how="horizontal")
    suspects = every.select(pl.any_horizontal(pl.all()).fill_null(True).alias("suspect")).collect()
    return suspects.to_series() if suspects.height == typed.height else None


def _check_output(check: pa.Check, frame: pl.LazyFrame, column: str) -> pl.LazyFrame | None:
    """The check's output as pandera's polars backend computes it: the built-in's polars implementation
    (registered when pandera's polars backend loads; a schema holds copies made before that)."""
    import pandera.backends.polars.builtin_checks  # noqa: F401  (registers them)
    import pandera.polars as pa
    from pandera.api.polars.types import PolarsData

    implementation = pa.Check.CHECK_FUNCTION_REGISTRY[check.name]
    output = implementation(PolarsData(frame, column), **check._check_kwargs)
    return output if isinstance(output, pl.LazyFrame) else None


def _mirrorable(schema: pa.DataFrameSchema) -> bool:
    if schema.checks or schema.parsers or schema.unique or schema.coerce or schema.dtype is not None:
        return False
    if getattr(schema, "add_missing_columns", False) or getattr(schema, "drop_invalid_rows", False):
        return False
    for column in schema.columns.values():
        if column.unique or column.coerce or column.regex or column.parsers or column.default is not None:
            return False
        if getattr(column, "drop_invalid_rows", False) or not str(column.dtype).startswith(PLAIN_TYPES):
            return False
        for check in column.checks:
            if not _builtin(check):
                return False
            if check.element_wise or check.groupby is not None:
                return False
    return True


def _builtin(check: pa.Check) -> bool:
    """One of pandera's built-in checks (a custom check is a plain function, whatever its name)."""
    from pandera.api.function_dispatch import Dispatcher

    return check.name in ROW_WISE_CHECKS and isinstance(check._check_fn, Dispatcher)


def _no_failures(
    table: str, typed: pl.DataFrame, contract: Contract, schema: pa.DataFrameSchema
) -> pl.DataFrame:
    """pandera over no rows of this schema (raises ContractViolation on drift), once per schema: its
    (empty) failure cases."""
    key = (id(schema), tuple(typed.schema.items()))
    with _schemas_lock:
        seen = _schemas_passed.get(key)
    if seen is not None and seen[0] is schema:
        return seen[1]
    cases = split_by_contract(table, typed.clear(), contract).failure_cases
    with _schemas_lock:
        if len(_schemas_passed) >= _SCHEMAS_SEEN_LIMIT:
            _schemas_passed.clear()
        _schemas_passed[key] = (schema, cases)
    return cases
