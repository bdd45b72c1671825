"""Property-based tests (hypothesis) of the normalization functions: safe_cast, split_by_contract and the
flights transform. Every raw row ends in exactly one place, and nothing converts silently."""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib.contracts import CAST_FAILURES, safe_cast, split_by_contract
from dataforge_assets.lib.normalize import normalize_batch

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
NOT_A_NUMBER = st.text(min_size=1, max_size=8).filter(lambda s: not s.strip().lstrip("+-").isdigit())
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(st.lists(st.one_of(st.none(), INT32), max_size=30), st.sampled_from(["", " ", "  "]))
def test_integer_text_round_trips(values: list[int | None], pad: str) -> None:
    raw = pl.DataFrame(
        {"n": [None if v is None else f"{pad}{v}{pad}" for v in values]}, schema={"n": pl.String}
    )
    typed = safe_cast(raw, {"n": pl.Int32()})
    assert typed["n"].to_list() == values
    assert typed[CAST_FAILURES].null_count() == len(values)


@FAST
@given(st.lists(st.one_of(st.none(), INT32), max_size=30))
def test_typed_integers_are_taken_as_they_are(values: list[int | None]) -> None:
    typed = safe_cast(pl.DataFrame({"n": values}, schema={"n": pl.Int64}), {"n": pl.Int32()})
    assert typed["n"].to_list() == values
    assert typed[CAST_FAILURES].null_count() == len(values)


@FAST
@given(st.lists(st.one_of(INT32.map(str), NOT_A_NUMBER), min_size=1, max_size=30))
def test_a_value_that_does_not_convert_is_named_never_silently_null(values: list[str]) -> None:
    typed = safe_cast(pl.DataFrame({"delay": values}), {"delay": pl.Int32()})
    for value, converted, failure in zip(values, typed["delay"], typed[CAST_FAILURES], strict=True):
        if converted is None:
            assert failure == f"delay: {value} is not a valid Int32"
        else:
            assert failure is None and converted == int(value)


@FAST
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=30))
def test_a_fraction_is_no_integer(values: list[float]) -> None:
    typed = safe_cast(pl.DataFrame({"seats": values}), {"seats": pl.Int32()})
    for value, failure in zip(values, typed[CAST_FAILURES], strict=True):
        assert (failure is not None) == (value != int(value))


class Distances(pa.DataFrameModel):
    distance: pl.Int32 = pa.Field(ge=1)

    class Config:
        strict = True


@FAST
@given(st.lists(st.one_of(st.integers(-50, 5000).map(str), NOT_A_NUMBER), min_size=1, max_size=40))
def test_split_partitions_rows_and_explains_each_reject(values: list[str]) -> None:
    typed = safe_cast(pl.DataFrame({"distance": values}), {"distance": pl.Int32()})
    split = split_by_contract("t", typed, Distances)
    expected_valid = [v.strip().lstrip("+-").isdigit() and int(v) >= 1 for v in values]
    assert split.valid_rows.to_list() == expected_valid
    for valid, rule, reason in zip(split.valid_rows, split.rule, split.reason, strict=True):
        assert (rule is None) == valid and (reason is None) == valid
        if not valid:
            assert reason.startswith("distance")


@st.composite
def flights(draw: st.DrawFn) -> pl.DataFrame:
    """Valid raw flight rows (text, as the CSV has them) with distinct natural keys."""
    n = draw(st.integers(1, 25))
    days = draw(st.lists(st.dates(dt.date(2013, 1, 1), dt.date(2013, 12, 31)), min_size=n, max_size=n))
    times = draw(st.lists(st.tuples(st.integers(0, 23), st.integers(0, 59)), min_size=n, max_size=n))
    cancelled = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    delays = draw(st.lists(st.one_of(st.none(), st.integers(-60, 1000)), min_size=n, max_size=n))
    return pl.DataFrame(
        {
            "year": [str(d.year) for d in days],
            "month": [str(d.month) for d in days],
            "day": [str(d.day) for d in days],
            "dep_time": [None if c else "1200" for c in cancelled],
            "sched_dep_time": [str(h * 100 + m) for h, m in times],
            "dep_delay": [None if c or d is None else str(d) for c, d in zip(cancelled, delays, strict=True)],
            "arr_time": [None] * n,
            "sched_arr_time": ["1500"] * n,
            "arr_delay": [None] * n,
            "carrier": ["UA"] * n,
            "flight": [str(i + 1) for i in range(n)],
            "tailnum": ["N14228"] * n,
            "origin": ["EWR"] * n,
            "dest": ["IAH"] * n,
            "air_time": [None] * n,
            "distance": ["1400"] * n,
            "_dlt_load_id": ["1"] * n,
        },
        schema_overrides={
            "dep_time": pl.String,
            "arr_time": pl.String,
            "arr_delay": pl.String,
            "air_time": pl.String,
        },
    )


AIRLINES = {"airlines": pl.DataFrame({"carrier": ["UA"], "name": ["United Air Lines Inc."]})}


@FAST
@given(flights())
def test_flights_transform_derives_timestamp_and_cancelled_in_order(raw: pl.DataFrame) -> None:
    valid, rejects = normalize_batch(FLIGHTS, raw, AIRLINES)
    assert rejects.height == 0 and valid.height == raw.height
    assert valid["flight"].to_list() == [int(f) for f in raw["flight"]]  # same rows, same order
    for row, source in zip(valid.iter_rows(named=True), raw.iter_rows(named=True), strict=True):
        day = dt.date(int(source["year"]), int(source["month"]), int(source["day"]))
        hhmm = int(source["sched_dep_time"])
        assert row["scheduled_departure"] == dt.datetime.combine(day, dt.time(hhmm // 100, hhmm % 100))
        assert row["cancelled"] == (source["dep_time"] is None)
        assert row["carrier_name"] == "United Air Lines Inc."


@FAST
@given(flights(), st.data())
def test_every_raw_row_ends_in_exactly_one_place(raw: pl.DataFrame, data: st.DataObject) -> None:
    junk = data.draw(
        st.lists(st.one_of(st.none(), NOT_A_NUMBER, st.just("-5")), min_size=raw.height, max_size=raw.height)
    )
    broken = raw.with_columns(
        pl.Series("distance", [j if j is not None else d for j, d in zip(junk, raw["distance"], strict=True)])
    )
    valid, rejects = normalize_batch(FLIGHTS, broken, AIRLINES)
    assert valid.height + rejects.height == raw.height
    assert rejects.height == sum(j is not None for j in junk)
    assert set(valid["_row_key"]).isdisjoint(set(rejects["_row_key"]))
    assert rejects["_quarantine_reason"].null_count() == 0
    assert (rejects["_quarantine_origin"] == "load 1").all()
