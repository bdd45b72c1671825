"""What lands between runs, and what the warehouse must then hold, read from the landed files alone.

Every run gets something new to load and normalize: a month file re-delivered with changed delays (its
rows must replace their old versions everywhere), now and then a new month, a few more weather hours.
Some rows carry a delay that is not a number, so the quarantine is exercised too; which rows changes
between deliveries, so rows move between normalized and quarantine.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dataforge_assets.demo.replay_server import ReplayServer
from dataforge_assets.lib.environment import Environment
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

FLIGHT_KEY = ("year", "month", "day", "carrier", "flight", "origin", "sched_dep_time")
NOT_A_NUMBER = "late"  # breaks the dep_delay cast: the row must be quarantined


@dataclass
class Deliveries:
    env: Environment
    weather: ReplayServer
    rows_per_month: int = 120
    max_months: int = 6
    weather_step: int = 24
    generation: int = 0
    months: list[int] = field(default_factory=list)

    def first(self, months: int = 2) -> None:
        land_reference(self.env)
        self.weather.visible_rows = self.weather_step
        for month in range(1, months + 1):
            self._land(month)

    def next(self, rng: random.Random) -> None:
        """One more delivery: a month re-delivered with changed values, sometimes a new month."""
        if len(self.months) < self.max_months and rng.random() < 0.3:
            self._land(len(self.months) + 1)
        else:
            self._land(rng.choice(self.months))
        self.weather.visible_rows = min(len(self.weather.rows), self.weather.visible_rows + self.weather_step)

    def _land(self, month: int) -> None:
        self.generation += 1
        frame = month_sample(month, self.rows_per_month).with_row_index("i")
        delay = pl.col("dep_delay").cast(pl.Int64, strict=False)
        bad = (pl.col("i") + self.generation) % 17 == 0
        frame = frame.with_columns(
            dep_delay=pl.when(bad)
            .then(pl.lit(NOT_A_NUMBER))
            .otherwise((delay + self.generation % 50).cast(pl.String))
        ).drop("i")
        land_flights(self.env, month, frame)
        if month not in self.months:
            self.months.append(month)


@dataclass(frozen=True)
class Expected:
    """The landed files as a reader without the pipeline sees them."""

    flights: dict[tuple[str, ...], dict[str, str]]  # key -> the row as text ("NA" -> None)
    weather_rows: int

    @property
    def quarantined_keys(self) -> set[tuple[str, ...]]:
        return {k for k, row in self.flights.items() if row["dep_delay"] == NOT_A_NUMBER}

    def route_stats(self) -> dict[tuple[str, str], tuple[int, float | None, int]]:
        """(flights, mean air time over known values, longest distance) per route, normalized rows only."""
        groups: dict[tuple[str, str], list[dict[str, str | None]]] = defaultdict(list)
        for key, row in self.flights.items():
            if key not in self.quarantined_keys:
                groups[(str(row["origin"]), str(row["dest"]))].append(row)
        stats = {}
        for route, rows in groups.items():
            air = [int(r["air_time"]) for r in rows if r["air_time"] is not None]
            mean = sum(air) / len(air) if air else None
            stats[route] = (len(rows), mean, max(int(str(r["distance"])) for r in rows))
        return stats

    def carrier_days(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(flights, cancelled) per carrier and date; a flight without departure time was cancelled."""
        days: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for key, row in self.flights.items():
            if key not in self.quarantined_keys:
                date = f"{int(str(row['year'])):04d}-{int(str(row['month'])):02d}-{int(str(row['day'])):02d}"
                day = days[(str(row["carrier"]), date)]
                day[0] += 1
                day[1] += row["dep_time"] is None
        return {k: (v[0], v[1]) for k, v in days.items()}


def read_expected(env: Environment, weather: ReplayServer) -> Expected:
    flights: dict[tuple[str, ...], dict[str, str]] = {}
    for path in sorted((env.landing_dir / "flights").glob("flights_*.csv")):
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                clean = {k: (None if v == "NA" else v) for k, v in row.items()}
                flights[tuple(str(clean[c]) for c in FLIGHT_KEY)] = clean  # type: ignore[misc]
    return Expected(flights=flights, weather_rows=weather.visible_rows)


def landed_files(env: Environment) -> list[Path]:
    return sorted((env.landing_dir / "flights").glob("flights_*.csv"))
