"""Normalized layer: typing, derived fields, carrier join, quarantine, incremental processing."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib.normalize import normalize_batch
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import flights, land_flights, land_reference, month_sample

AIRLINES = pl.DataFrame(
    {"carrier": ["UA", "AA"], "name": ["United Air Lines Inc.", "American Airlines Inc."]}
)


@pytest.fixture(scope="module")
def real_rows() -> pl.DataFrame:
    sample = flights().head(2000)
    return sample.filter(pl.col("carrier").is_in(["UA", "AA"]))


def test_types_and_derived_fields(real_rows: pl.DataFrame) -> None:
    valid, rejects = normalize_batch(FLIGHTS, real_rows, {"airlines": AIRLINES})
    assert rejects.height == 0
    assert valid.height == real_rows.height
    first = valid.row(0, named=True)
    source = real_rows.row(0, named=True)
    assert first["flight_date"] == dt.date(2013, 1, 1)
    hhmm = int(source["sched_dep_time"])
    assert first["scheduled_departure"] == dt.datetime(2013, 1, 1, hhmm // 100, hhmm % 100)
    assert first["dep_delay"] == int(source["dep_delay"])
    assert first["carrier_name"] in set(AIRLINES["name"])
    assert valid.schema["dep_delay"] == pl.Int32


def test_cancelled_means_no_departure_time(real_rows: pl.DataFrame) -> None:
    valid, _ = normalize_batch(FLIGHTS, real_rows, {"airlines": AIRLINES})
    expected = real_rows["dep_time"].is_null().sum()
    assert expected > 0, "the sample should hold cancelled flights"
    assert valid["cancelled"].sum() == expected
    assert valid.filter(pl.col("cancelled"))["dep_time"].null_count() == expected


def test_bad_rows_are_quarantined_with_reason(real_rows: pl.DataFrame) -> None:
    bad = real_rows.head(5).with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("late"))
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay"),
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit("-5"))
        .otherwise(pl.col("distance"))
        .alias("distance"),
    )
    valid, rejects = normalize_batch(FLIGHTS, bad, {"airlines": AIRLINES})
    assert valid.height == 3 and rejects.height == 2
    reasons = dict(
        zip(
            rejects["_source_row"] if "_source_row" in rejects.columns else [1, 3],
            rejects["_quarantine_reason"],
            strict=True,
        )
    )
    assert any("dep_delay: late is not a valid Int32" in r for r in reasons.values())
    assert any("distance = -5" in r for r in reasons.values())
    # Quarantine keeps the row as it arrived.
    assert "late" in rejects["dep_delay"].to_list()


def test_unknown_carrier_keeps_row_without_name(real_rows: pl.DataFrame) -> None:
    valid, _ = normalize_batch(FLIGHTS, real_rows, {"airlines": AIRLINES.head(1)})
    assert (
        valid.filter(pl.col("carrier") == "AA")["carrier_name"].null_count()
        == valid.filter(pl.col("carrier") == "AA").height
    )


def test_asset_processes_only_new_loads(platform: Platform) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 400))
    first = platform.materialize("raw/flights,raw/airlines,normalized/flights")
    meta = materialization_metadata(first, ["normalized", "flights"])
    assert meta["rows_normalized"] + meta["rows_quarantined"] == 400
    assert platform.count("normalized.flights") == 400
    assert first.get_asset_check_evaluations()[0].passed

    again = platform.materialize("normalized/flights")
    assert materialization_metadata(again, ["normalized", "flights"])["raw_rows_processed"] == 0
    assert platform.count("normalized.flights") == 400

    land_flights(platform.env, 2, month_sample(2, 100))
    platform.materialize("raw/flights")
    third = platform.materialize("normalized/flights")
    assert materialization_metadata(third, ["normalized", "flights"])["raw_rows_processed"] == 100
    assert platform.count("normalized.flights") == 500
    names = platform.sql("SELECT count(*) FROM normalized.flights WHERE carrier_name IS NULL")
    assert names == [(0,)]
