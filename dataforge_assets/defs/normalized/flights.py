"""normalized.flights: typed flights with a scheduled-departure timestamp and the carrier's name."""

from collections.abc import Mapping

import dagster as dg
import pandera.polars as pa
import polars as pl

from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.dimensions import DimensionJoin
from dataforge_assets.lib.normalize import NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset

AIRPORT_CODE = r"^[A-Z0-9]{3,4}$"

CASTS: dict[str, pl.DataType] = {
    "year": pl.Int32(),
    "month": pl.Int32(),
    "day": pl.Int32(),
    "dep_time": pl.Int32(),
    "sched_dep_time": pl.Int32(),
    "dep_delay": pl.Int32(),
    "arr_time": pl.Int32(),
    "sched_arr_time": pl.Int32(),
    "arr_delay": pl.Int32(),
    "flight": pl.Int32(),
    "air_time": pl.Int32(),
    "distance": pl.Int32(),
}


# The carrier's name is copied from airlines when a flight is built, and rewritten in every flight when
# an airline is renamed (lib/dimensions.py).
CARRIER_NAME = DimensionJoin(
    lookup="airlines", key="carrier", lookup_key="carrier", columns=(("carrier_name", "name"),)
)


class FlightsContract(pa.DataFrameModel):
    """What every row of normalized.flights guarantees."""

    flight_date: pl.Date
    carrier: str = pa.Field(str_matches=r"^[A-Z0-9]{2}$")
    carrier_name: str = pa.Field(nullable=True)
    flight: pl.Int32 = pa.Field(ge=1)
    tailnum: str = pa.Field(nullable=True)
    origin: str = pa.Field(str_matches=AIRPORT_CODE)
    dest: str = pa.Field(str_matches=AIRPORT_CODE)
    scheduled_departure: pl.Datetime
    sched_dep_time: pl.Int32 = pa.Field(ge=0, le=2359)
    dep_time: pl.Int32 = pa.Field(ge=0, le=2400, nullable=True)
    sched_arr_time: pl.Int32 = pa.Field(ge=0, le=2359, nullable=True)
    arr_time: pl.Int32 = pa.Field(ge=0, le=2400, nullable=True)
    dep_delay: pl.Int32 = pa.Field(ge=-1440, le=2880, nullable=True)
    arr_delay: pl.Int32 = pa.Field(ge=-1440, le=2880, nullable=True)
    air_time: pl.Int32 = pa.Field(ge=1, nullable=True)
    distance: pl.Int32 = pa.Field(ge=1)
    cancelled: bool

    class Config:
        strict = True
        coerce = False


def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Type the raw text, derive the timestamp and the cancelled flag, join the carrier's name.

    A flight without a departure time never left: that is the data set's mark of a cancellation.
    """
    typed = safe_cast(raw, CASTS)
    flights = typed.with_columns(
        flight_date=pl.date(pl.col("year"), pl.col("month"), pl.col("day")),
        cancelled=pl.col("dep_time").is_null(),
    ).with_columns(
        scheduled_departure=pl.col("flight_date").cast(pl.Datetime("us"))
        + pl.duration(hours=pl.col("sched_dep_time") // 100, minutes=pl.col("sched_dep_time") % 100)
    )
    return CARRIER_NAME.join(flights, lookups)


FLIGHTS = NormalizedTable(
    name="flights",
    raw_table="flights",
    key=("year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"),
    contract=FlightsContract,
    transform=transform,
    raw_columns=(*CASTS, "carrier", "tailnum", "origin", "dest"),
    lookups=("airlines",),
    dimensions=(CARRIER_NAME,),
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
