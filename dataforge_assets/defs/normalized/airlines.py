"""normalized.airlines: carrier code and name."""

from collections.abc import Mapping

import pandera.polars as pa
import polars as pl

from dataforge_assets.lib.contracts import safe_cast
from dataforge_assets.lib.normalize import NormalizedTable
from dataforge_assets.lib.normalized_asset import normalized_table_asset


class AirlinesContract(pa.DataFrameModel):
    carrier: str = pa.Field(str_matches=r"^[A-Z0-9]{2}$", unique=True)
    name: str = pa.Field(str_length={"min_value": 1})

    class Config:
        strict = True
        coerce = False


def transform(raw: pl.DataFrame, lookups: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    return safe_cast(raw, {"carrier": pl.String(), "name": pl.String()})


AIRLINES = NormalizedTable(
    name="airlines",
    raw_table="airlines",
    key=("carrier",),
    contract=AirlinesContract,
    transform=transform,
    raw_columns=("carrier", "name"),
    description="One row per airline: its two-character carrier code and its name.",
)

airlines_asset, *airlines_checks = normalized_table_asset(AIRLINES)
