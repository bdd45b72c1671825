"""Bad-input corpus, files source: every broken file is named with its source, file, row and column, and
nothing is lost - the file stays, nothing of the load is committed, and the fixed file then loads."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from dataforge_assets_tests.bad_input import failure_text
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, month_sample

ROWS = 30


def _csv(frame: pl.DataFrame) -> str:
    return frame.write_csv(null_value="NA")


def _land_text(platform: Platform, data: bytes) -> Path:
    path = platform.env.landing_dir / "flights" / "flights_2013_02.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _fails_and_recovers(platform: Platform, data: bytes, *expected: str) -> str:
    """Land the bad file: the run fails naming what is expected and loads nothing; the fixed file loads."""
    path = _land_text(platform, data)
    result = platform.materialize("raw/flights", raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    for text in ("source 'flights'", "file 'flights_2013_02.csv'", *expected):
        assert text in message, f"{text!r} not in:\n{message}"
    assert path.exists(), "the bad file must stay in the landing folder"
    assert platform.count("raw.flights") == ROWS, "nothing of the bad load may be committed"

    # Fixed: the same file, whole and valid, loads on the next run.
    land_flights(platform.env, 2, month_sample(2, ROWS))
    os.utime(path)
    assert platform.materialize("raw/flights").success
    assert platform.count("raw.flights") == 2 * ROWS
    return message


@pytest.fixture
def loaded(platform: Platform) -> Platform:
    """January is loaded; the bad February file comes next."""
    land_flights(platform.env, 1, month_sample(1, ROWS))
    platform.materialize("raw/flights")
    return platform


def _february_lines() -> list[str]:
    return _csv(month_sample(2, ROWS)).splitlines()


def test_missing_column(loaded: Platform) -> None:
    data = _csv(month_sample(2, ROWS).drop("dep_delay")).encode()
    message = _fails_and_recovers(loaded, data, "column 'dep_delay'", "missing from the header")
    assert "re-run" in message


def test_null_key(loaded: Platform) -> None:
    bad = month_sample(2, ROWS).with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(None).otherwise(pl.col("carrier")).alias("carrier")
    )
    _fails_and_recovers(loaded, _csv(bad).encode(), "row 3", "column 'carrier'", "primary key")


def test_duplicate_key(loaded: Platform) -> None:
    sample = month_sample(2, ROWS)
    bad = pl.concat([sample.head(5), sample.slice(1, 1), sample.slice(5)])  # row 6 repeats row 2
    _fails_and_recovers(loaded, _csv(bad).encode(), "rows 2, 6 repeat the primary key", "row 6")


def test_empty_file(loaded: Platform) -> None:
    _fails_and_recovers(loaded, b"", "empty (0 bytes")


def test_truncated_file(loaded: Platform) -> None:
    data = "\n".join(_february_lines()).encode()
    cut = data[
        : data.rfind(b"\n") + 12
    ]  # the last row cut after a few fields, as an interrupted copy leaves it
    _fails_and_recovers(loaded, cut, f"row {ROWS}", "expected 19 fields, found", "truncated")


def test_non_utf8_file(loaded: Platform) -> None:
    lines = _february_lines()
    row = lines[4].split(",")
    row[11] = "N\xe9" + row[11]  # tailnum, written in Latin-1 below
    lines[4] = ",".join(row)
    data = ("\n".join(lines) + "\n").encode("latin-1")
    _fails_and_recovers(loaded, data, "row 4", "column 'tailnum'", "not valid UTF-8")


def test_broken_quoting(loaded: Platform) -> None:
    lines = _february_lines()
    row = lines[6].split(",")
    row[11] = '"' + row[11]  # an opening quote that never closes
    lines[6] = ",".join(row)
    _fails_and_recovers(
        loaded, ("\n".join(lines) + "\n").encode(), "row 6", "column 'tailnum'", "quoted value"
    )


def test_extra_field_in_a_row(loaded: Platform) -> None:
    lines = _february_lines()
    lines[9] += ",surplus"
    _fails_and_recovers(loaded, ("\n".join(lines) + "\n").encode(), "row 9", "found 20", "more values")


def test_header_only_file_loads_nothing_and_says_so(
    loaded: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    _land_text(loaded, (_february_lines()[0] + "\n").encode())
    with caplog.at_level("WARNING"):
        assert loaded.materialize("raw/flights").success
    assert loaded.count("raw.flights") == ROWS
    assert "file 'flights_2013_02.csv': a header but no rows" in caplog.text
