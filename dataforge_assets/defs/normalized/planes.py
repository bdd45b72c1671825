"""normalized.planes: each aircraft by tail number, with its make, age and capacity."""

from collections.abc import Mapping

import dagster as dg
import pandera.polars as pa
import polars as pl

from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.normalize import NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset

CASTS: dict[str, pl.DataType] = {
    "tailnum": pl.String(),
    "year": pl.Int32(),
    "type": pl.String(),
    "manufacturer": pl.String(),
    "model": pl.String(),
    "engines": pl.Int32(),
    "seats": pl.Int32(),
    "speed": pl.Int32(),
    "engine": pl.String(),
}


class PlanesContract(pa.DataFrameModel):
    tailnum: str = pa.Field(str_matches=r"^N[A-Z0-9]{1,5}$", unique=True)  # US registrations
    year_built: pl.Int32 = pa.Field(ge=1900, le=2100, nullable=True)
    type: str
    manufacturer: str
    model: str
    engines: pl.Int32 = pa.Field(ge=0, le=8)
    seats: pl.Int32 = pa.Field(ge=1, le=1000)
    speed: pl.Int32 = pa.Field(ge=1, le=1000, nullable=True)  # mph, known for few planes
    engine: str

    class Config:
        strict = True
        coerce = False


def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """`year` is the year the plane was built: named so, it is not mistaken for a flight's year."""
    return safe_cast(raw, CASTS).rename({"year": "year_built"})


PLANES = NormalizedTable(
    name="planes",
    raw_table="planes",
    key=("tailnum",),
    contract=PlanesContract,
    transform=transform,
    raw_columns=tuple(CASTS),
    description="One row per aircraft (tail number): year built, type, manufacturer, model, engines, seats.",
)

planes_asset, *planes_checks = normalized_table_asset(
    PLANES, {"year_built": [(dg.AssetKey(["raw", "planes"]), "year")]}
)
