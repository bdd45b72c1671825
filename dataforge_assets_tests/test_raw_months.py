"""One rule for a raw row's month (`partitions.read_raw_months`): the month the transform builds the row
in, the month a rebuild selects it by (`raw_values_sql`), the month its checks count it in."""

from __future__ import annotations

import duckdb
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dataforge_assets.defs.normalized.flights import transform
from dataforge_assets.lib.partitions import raw_values_sql, read_raw_months

# Whitespace the transform strips (polars' strip_chars: Unicode White_Space) and some it does not.
SPACES = ["", " ", "\t", "\n", "\u00a0", "\u3000", "\u2009", "\u200b"]
NUMBERS = [0, 1, 2, 3, 9, 10, 12, 13, 99, 2012, 2013, 2014]
ODD = ["", "x", "1.0", "3e0", "0x3", "1_0", "٣", "--3", "+-3", "0+3", "20 13", "2147483648", "'3'"]


@st.composite
def spelling(draw: st.DrawFn) -> str | None:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, *ODD]))
    sign = draw(st.sampled_from(["", "", "+", "-"]))
    zeros = "0" * draw(st.integers(0, 3))
    return (
        draw(st.sampled_from(SPACES))
        + sign
        + zeros
        + str(draw(st.sampled_from(NUMBERS)))
        + draw(st.sampled_from(SPACES))
    )


def _raw_flights(years: list[str | None], months: list[str | None]) -> pl.DataFrame:
    """Raw flights rows (text, as a files source lands them) valid but for their year and month."""
    n = len(years)
    text = {"day": "1", "dep_time": "517", "sched_dep_time": "515", "dep_delay": "2", "arr_time": "830",
            "sched_arr_time": "819", "arr_delay": "11", "flight": "1545", "air_time": "227", "distance": "1400",
            "carrier": "UA", "tailnum": "N14228", "origin": "EWR", "dest": "IAH"}  # fmt: skip
    return pl.DataFrame(
        {"year": years, "month": months, **{name: [value] * n for name, value in text.items()}},
        schema={name: pl.String for name in ["year", "month", *text]},
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(spelling(), spelling()), min_size=1, max_size=25))
def test_a_raw_month_is_the_month_the_transform_builds_its_row_in(pairs: list[tuple]) -> None:
    years, months = [y for y, _ in pairs], [m for _, m in pairs]
    built = transform(
        _raw_flights(years, months), {"airlines": pl.DataFrame({"carrier": ["UA"], "name": ["United"]})}
    )
    read = read_raw_months(years, months)
    dates = built.select(
        pl.col("flight_date").dt.year().alias("y"), pl.col("flight_date").dt.month().alias("m")
    ).rows()
    for found, (year, month) in zip(read, dates, strict=True):
        assert found == ((year, month) if year is not None else None)

    # A rebuild selects a month's rows by the spellings read as that month, on the warehouse.
    con = duckdb.connect()
    con.execute("CREATE TABLE raw (i INTEGER, year VARCHAR, month VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?, ?, ?)", [(i, y, m) for i, (y, m) in enumerate(pairs)])
    for month in {m for m in read if m is not None}:
        spellings = {pair for pair, found in zip(pairs, read, strict=True) if found == month}
        where = raw_values_sql("year", "month", spellings)
        selected = {i for (i,) in con.execute(f"SELECT i FROM raw WHERE {where}").fetchall()}
        assert selected == {i for i, found in enumerate(read) if found == month}


def test_numbers_from_a_sql_source_read_as_numbers() -> None:
    assert read_raw_months([2013, 2013, None, 2013], [3, 13, 1, None]) == [(2013, 3), None, None, None]
    assert read_raw_months([2013.0, 2013.5], [3.0, 3.0]) == [(2013, 3), None]
