"""The reference and weather tables normalize the real data whether raw columns arrive as text (CSV) or
typed (a SQL or REST source): both give the same normalized rows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dataforge_assets.definitions import DEFS
from dataforge_assets.demo.setup import DATA_DIR
from dataforge_assets.lib.normalize import NormalizedTable, normalize_batch
from dataforge_assets.lib.tables.normalized_component import normalized_table_from_yaml

AIRLINES, AIRPORTS, PLANES, WEATHER = (
    normalized_table_from_yaml(DEFS / "normalized" / name / "defs.yaml")
    for name in ("airlines", "airports", "planes", "weather")
)

SPECS = {"airlines": AIRLINES, "airports": AIRPORTS, "planes": PLANES, "weather": WEATHER}


def _raw(name: str, typed: bool) -> pl.DataFrame:
    frame = pl.read_csv(
        DATA_DIR / f"{name}.csv.gz", null_values=["NA"], infer_schema=typed, infer_schema_length=None
    )
    if typed and "time_hour" in frame.columns:  # a typed source delivers instants, not text
        frame = frame.with_columns(pl.col("time_hour").str.to_datetime(time_zone="UTC"))
    return frame.with_columns(pl.lit("1").alias("_dlt_load_id"))


@pytest.mark.parametrize("name", list(SPECS))
def test_text_and_typed_raw_give_the_same_rows(name: str) -> None:
    spec: NormalizedTable = SPECS[name]
    from_text, text_rejects = normalize_batch(spec, _raw(name, typed=False), {})
    from_typed, typed_rejects = normalize_batch(spec, _raw(name, typed=True), {})
    assert from_text.select(spec.contract_columns).equals(from_typed.select(spec.contract_columns))
    assert text_rejects.height == typed_rejects.height
    assert from_text.height + text_rejects.height == _raw(name, typed=False).height


def test_real_weather_has_one_broken_reading() -> None:
    valid, rejects = normalize_batch(WEATHER, _raw("weather", typed=False), {})
    assert rejects.select("origin", "wind_speed", "_quarantine_rule").rows() == [
        ("EWR", "1048.36058", "wind_speed:less_than_or_equal_to(250)")
    ]
    first = valid.row(0, named=True)
    assert first["time_hour"] == dt.datetime(2013, 1, 1, 6, tzinfo=dt.UTC)
    assert valid.schema["wind_dir"] == pl.Int32


def test_planes_year_is_the_year_built() -> None:
    valid, rejects = normalize_batch(PLANES, _raw("planes", typed=False), {})
    assert rejects.height == 0
    n10156 = valid.filter(pl.col("tailnum") == "N10156").row(0, named=True)
    assert (n10156["year_built"], n10156["seats"], n10156["speed"]) == (2004, 55, None)
