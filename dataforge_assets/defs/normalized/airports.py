"""normalized.airports: FAA code, name, position, altitude and time zone of each airport."""

from collections.abc import Mapping

import pandera.polars as pa
import polars as pl

from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.normalize import NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset

CASTS: dict[str, pl.DataType] = {
    "faa": pl.String(),
    "name": pl.String(),
    "lat": pl.Float64(),
    "lon": pl.Float64(),
    "alt": pl.Int32(),
    "tz": pl.Int32(),
    "dst": pl.String(),
    "tzone": pl.String(),
}


class AirportsContract(pa.DataFrameModel):
    faa: str = pa.Field(str_matches=r"^[A-Z0-9]{3,4}$", unique=True)
    name: str
    lat: float = pa.Field(ge=-90, le=90)
    lon: float = pa.Field(ge=-180, le=180)
    alt: pl.Int32 = pa.Field(ge=-1500, le=30000)  # feet; the Dead Sea to the highest airfields
    tz: pl.Int32 = pa.Field(ge=-12, le=14)  # hours from UTC
    dst: str = pa.Field(isin=["A", "E", "N", "O", "S", "Z", "U"])  # daylight saving zone, U = unknown
    tzone: str = pa.Field(nullable=True)  # IANA zone name

    class Config:
        strict = True
        coerce = False


def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    return safe_cast(raw, CASTS)


AIRPORTS = NormalizedTable(
    name="airports",
    raw_table="airports",
    key=("faa",),
    contract=AirportsContract,
    transform=transform,
    raw_columns=tuple(CASTS),
    description="One row per airport (FAA code): name, latitude/longitude, altitude in feet, time zone.",
)

airports_asset, *airports_checks = normalized_table_asset(AIRPORTS)
