"""normalized.weather: hourly weather at each New York airport, one row per airport and UTC hour."""

from collections.abc import Mapping

import pandera.polars as pa
import polars as pl

from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.normalize import NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset

CASTS: dict[str, pl.DataType] = {
    "origin": pl.String(),
    "time_hour": pl.Datetime("us", "UTC"),
    "temp": pl.Float64(),
    "dewp": pl.Float64(),
    "humid": pl.Float64(),
    "wind_dir": pl.Int32(),
    "wind_speed": pl.Float64(),
    "wind_gust": pl.Float64(),
    "precip": pl.Float64(),
    "pressure": pl.Float64(),
    "visib": pl.Float64(),
}


class WeatherContract(pa.DataFrameModel):
    origin: str = pa.Field(str_matches=r"^[A-Z0-9]{3,4}$")
    time_hour: pl.Datetime("us", "UTC")  # type: ignore[valid-type]
    temp: float = pa.Field(ge=-80, le=140, nullable=True)  # °F
    dewp: float = pa.Field(ge=-100, le=100, nullable=True)  # °F
    humid: float = pa.Field(ge=0, le=100, nullable=True)  # %
    wind_dir: pl.Int32 = pa.Field(ge=0, le=360, nullable=True)  # degrees
    # mph; the strongest gust ever measured at ground level is 253 mph: faster is a sensor error.
    wind_speed: float = pa.Field(ge=0, le=250, nullable=True)
    wind_gust: float = pa.Field(ge=0, le=260, nullable=True)
    precip: float = pa.Field(ge=0, le=20, nullable=True)  # inches per hour
    pressure: float = pa.Field(ge=850, le=1100, nullable=True)  # millibars
    visib: float = pa.Field(ge=0, le=100, nullable=True)  # miles

    class Config:
        strict = True
        coerce = False


def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Types only: `time_hour` is the observation's hour in UTC; year/month/day/hour repeat it locally."""
    return safe_cast(raw, CASTS)


WEATHER = NormalizedTable(
    name="weather",
    raw_table="weather",
    key=("origin", "time_hour"),
    contract=WeatherContract,
    transform=transform,
    raw_columns=tuple(CASTS),
    description=(
        "One row per airport and hour (UTC): temperature and dew point (°F), humidity (%), wind "
        "direction, speed and gusts (mph), precipitation (in), pressure (mb), visibility (mi)."
    ),
)

weather_asset, *weather_checks = normalized_table_asset(WEATHER)
