"""Stats layer: the aggregates match a computation made independently with polars on the same rows."""

from __future__ import annotations

import math

import polars as pl
import pytest

from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample


@pytest.fixture
def built(platform: Platform) -> tuple[Platform, pl.DataFrame]:
    land_reference(platform.env)
    sample = pl.concat([month_sample(1, 1500), month_sample(7, 1500)])
    land_flights(platform.env, 1, sample.filter(pl.col("month") == "1"))
    land_flights(platform.env, 7, sample.filter(pl.col("month") == "7"))
    platform.materialize("*")
    typed = sample.with_columns(pl.col("dep_delay", "arr_delay", "air_time", "distance").cast(pl.Int64))
    return platform, typed


def test_carrier_daily_performance(built: tuple[Platform, pl.DataFrame]) -> None:
    platform, rows = built
    expected = (
        rows.group_by("carrier", "month", "day")
        .agg(
            flights=pl.len(),
            cancelled=pl.col("dep_time").is_null().sum(),
            avg_dep_delay=pl.col("dep_delay").mean(),
            avg_arr_delay=pl.col("arr_delay").mean(),
            on_time_share=(pl.col("arr_delay") < 15).sum() / pl.col("arr_delay").count(),
        )
        .sort("carrier", "month", "day")
    )
    got = platform.sql(
        "SELECT carrier, month(flight_date), day(flight_date), flights, cancelled, avg_dep_delay, avg_arr_delay, "
        "on_time_share FROM stats.carrier_daily_performance ORDER BY 1, 2, 3"
    )
    assert len(got) == expected.height
    for row, exp in zip(got, expected.iter_rows(), strict=True):
        assert row[:5] == (exp[0], int(exp[1]), int(exp[2]), exp[3], exp[4])
        for a, b in zip(row[5:], exp[5:], strict=True):
            assert _close(a, b), (row, exp)


def test_route_stats(built: tuple[Platform, pl.DataFrame]) -> None:
    platform, rows = built
    expected = rows.group_by("origin", "dest").agg(
        flights=pl.len(), avg_air_time=pl.col("air_time").mean(), distance=pl.col("distance").max()
    )
    got = {(o, d): (n, a, dist) for o, d, n, a, dist in platform.sql("SELECT * FROM stats.route_stats")}
    assert len(got) == expected.height
    for o, d, n, a, dist in expected.iter_rows():
        assert got[(o, d)][0] == n and got[(o, d)][2] == dist
        assert _close(got[(o, d)][1], a), (o, d)


def _close(a: float | None, b: float | None) -> bool:
    """Equal as means: both missing (no non-null value), or equal to rounding."""
    return (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9))
