"""normalized.flights: typed flights with a scheduled-departure timestamp and the carrier's name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import dagster as dg

from dataforge_assets.lib.contracts import CAST_FAILURES, safe_cast
from dataforge_assets.lib.dimensions import DimensionJoin
from dataforge_assets.lib.normalize import MonthColumns, NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset
from dataforge_assets.lib.tables.columns import DeclaredContract, column

if TYPE_CHECKING:
    import polars as pl

AIRPORT_CODE = r"^[A-Z0-9]{3,4}$"
# The raw text columns typed as Int32 (polars, in `transform`).
INT32_COLUMNS = (
    "year",
    "month",
    "day",
    "dep_time",
    "sched_dep_time",
    "dep_delay",
    "arr_time",
    "sched_arr_time",
    "arr_delay",
    "flight",
    "air_time",
    "distance",
)

# The carrier's name is copied from airlines when a flight is built, and rewritten in every flight when
# an airline is renamed (lib/dimensions.py).
CARRIER_NAME = DimensionJoin(
    lookup="airlines", key="carrier", lookup_key="carrier", columns=(("carrier_name", "name"),)
)

# What every row of normalized.flights guarantees: pandera's DataFrameSchema is built from this when
# rows are validated; the UI shows it as the column schema (rules included) before the first run.
CONTRACT = DeclaredContract(
    "FlightsContract",
    [
        column("flight_date", "date"),
        column("carrier", "string", regex=r"^[A-Z0-9]{2}$"),
        column("carrier_name", "string", nullable=True),
        column("flight", "int32", ge=1),
        column("tailnum", "string", nullable=True),
        column("origin", "string", regex=AIRPORT_CODE),
        column("dest", "string", regex=AIRPORT_CODE),
        column("scheduled_departure", "local_datetime"),
        column("sched_dep_time", "int32", ge=0, le=2359),
        column("dep_time", "int32", nullable=True, ge=0, le=2400),
        column("sched_arr_time", "int32", nullable=True, ge=0, le=2359),
        column("arr_time", "int32", nullable=True, ge=0, le=2400),
        column("dep_delay", "int32", nullable=True, ge=-1440, le=2880),
        column("arr_delay", "int32", nullable=True, ge=-1440, le=2880),
        column("air_time", "int32", nullable=True, ge=1),
        column("distance", "int32", ge=1),
        column("cancelled", "bool"),
    ],
)


def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Type the raw text, derive the timestamp and the cancelled flag, join the carrier's name.

    A flight without a departure time never left: that is the data set's mark of a cancellation.
    """
    import polars as pl  # at run time, not when the definitions load

    typed = safe_cast(raw, {name: pl.Int32() for name in INT32_COLUMNS})
    flights = typed.with_columns(
        flight_date=_flight_date(),
        cancelled=pl.col("dep_time").is_null(),
        _cast_failures=_impossible_date(),
    ).with_columns(
        scheduled_departure=pl.col("flight_date").cast(pl.Datetime("us"))
        + pl.duration(hours=pl.col("sched_dep_time") // 100, minutes=pl.col("sched_dep_time") % 100)
    )
    return CARRIER_NAME.join(flights, lookups)


def _flight_date() -> pl.Expr:
    """The date of year, month and day; null where they make no date (month 13, 30 February): polars'
    `pl.date` raises on those, which would fail the whole build over one bad row."""
    import polars as pl

    year, month, day = pl.col("year"), pl.col("month"), pl.col("day")
    first = pl.date(year, pl.when(month.is_between(1, 12)).then(month).otherwise(1), 1)
    possible = month.is_between(1, 12) & day.is_between(1, first.dt.month_end().dt.day())
    return pl.when(possible).then(first + pl.duration(days=day - 1))


def _impossible_date() -> pl.Expr:
    """The quarantine reason of a row whose year, month and day are numbers that make no date."""
    import polars as pl

    parts = [pl.col(name) for name in ("year", "month", "day")]
    impossible = pl.all_horizontal(part.is_not_null() for part in parts) & _flight_date().is_null()
    reason = pl.when(impossible).then(pl.format("year {}, month {}, day {}: not a date", *parts))
    return pl.concat_str([pl.col(CAST_FAILURES), reason], separator="; ", ignore_nulls=True).replace("", None)


FLIGHTS = NormalizedTable(
    name="flights",
    raw_table="flights",
    key=("year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"),
    contract=CONTRACT,
    transform=transform,
    raw_columns=(*INT32_COLUMNS, "carrier", "tailnum", "origin", "dest"),
    lookups=("airlines",),
    dimensions=(CARRIER_NAME,),
    # Partitioned by month: a backfill of a month range rebuilds those months from raw.
    months=MonthColumns(raw_year="year", raw_month="month", date="flight_date"),
    description=(
        "One row per scheduled flight of 2013 from New York: typed, with scheduled departure (local "
        "time), delays in minutes, a cancelled flag and the carrier's current name. Rows that break the "
        "contract are in quarantine.flights."
    ),
)

RAW_FLIGHTS, RAW_AIRLINES = dg.AssetKey(["raw", "flights"]), dg.AssetKey(["raw", "airlines"])
# The columns the transform derives (all others are the raw column of the same name).
DERIVED = {
    "flight_date": [(RAW_FLIGHTS, c) for c in ("year", "month", "day")],
    "scheduled_departure": [(RAW_FLIGHTS, c) for c in ("year", "month", "day", "sched_dep_time")],
    "cancelled": [(RAW_FLIGHTS, "dep_time")],
    "carrier_name": [(RAW_AIRLINES, "name")],
}

flights_asset, *flights_checks = normalized_table_asset(FLIGHTS, DERIVED)
