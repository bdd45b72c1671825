"""The polars-only yardstick: the pipeline's work written as one lazy polars script over Parquet files.

raw as text (one Parquet file per table), one typed and checked pass, valid rows joined with the
carrier's name into normalized, rejected rows with their reason into quarantine, the two stats tables.
polars has no warehouse: each table is a Parquet file under `home`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl

# The demo's data folder by path: importing the package would import Dagster into a baseline's process.
DATA_DIR = Path(__file__).parents[2] / "dataforge_assets" / "demo" / "data"

INTS = (
    "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time",
    "arr_delay", "flight", "air_time", "distance",
)  # fmt: skip
AIRPORT = r"^[A-Z0-9]{3,4}$"


def _between(name: str, low: int, high: int, nullable: bool = True) -> pl.Expr:
    typed = pl.col(f"{name}_i")
    out_of_range = ~typed.is_between(low, high)
    bad_text = pl.col(name).is_not_null() & typed.is_null()
    return (out_of_range | bad_text) if nullable else (out_of_range | typed.is_null())


def _reasons() -> pl.Expr:
    y, m, d = (pl.col(f"{c}_i") for c in ("year", "month", "day"))
    rules = {
        "flight_date: not a date": y.is_null() | m.is_null() | d.is_null(),
        "carrier: str_matches": ~pl.col("carrier").fill_null("").str.contains(r"^[A-Z0-9]{2}$"),
        "flight: ge(1)": pl.col("flight_i").is_null() | (pl.col("flight_i") < 1),
        "origin: str_matches": ~pl.col("origin").fill_null("").str.contains(AIRPORT),
        "dest: str_matches": ~pl.col("dest").fill_null("").str.contains(AIRPORT),
        "sched_dep_time: in_range": _between("sched_dep_time", 0, 2359, nullable=False),
        "dep_time: in_range": _between("dep_time", 0, 2400),
        "sched_arr_time: in_range": _between("sched_arr_time", 0, 2359),
        "arr_time: in_range": _between("arr_time", 0, 2400),
        "dep_delay: in_range": _between("dep_delay", -1440, 2880),
        "arr_delay: in_range": _between("arr_delay", -1440, 2880),
        "air_time: ge(1)": (pl.col("air_time_i") < 1) | (pl.col("air_time").is_not_null() & pl.col("air_time_i").is_null()),
        "distance: ge(1)": pl.col("distance_i").is_null() | (pl.col("distance_i") < 1),
    }  # fmt: skip
    parts = [pl.when(rule.fill_null(False)).then(pl.lit(reason)) for reason, rule in rules.items()]
    return pl.concat_str(parts, separator="; ", ignore_nulls=True).fill_null("")


def run(home: Path, files: list[Path]) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    raw = home / "raw_flights.parquet"
    pl.scan_csv(
        files, infer_schema=False, null_values=["", "NA"], include_file_paths="_source_file"
    ).sink_parquet(raw)
    airlines = pl.read_csv(DATA_DIR / "airlines.csv.gz", infer_schema=False)
    airlines.write_parquet(home / "raw_airlines.parquet")
    carriers = airlines.select("carrier", pl.col("name").alias("carrier_name")).unique("carrier")

    checked = (
        pl.scan_parquet(raw)
        .with_columns(pl.col(c).cast(pl.Int32, strict=False).alias(f"{c}_i") for c in INTS)
        .with_columns(_quarantine_reason=_reasons())
    )
    flight_date = pl.date(pl.col("year_i"), pl.col("month_i"), pl.col("day_i"))
    normalized = (
        checked.filter(pl.col("_quarantine_reason") == "")
        .select(
            flight_date.alias("flight_date"),
            "carrier",
            pl.col("flight_i").alias("flight"),
            "tailnum",
            "origin",
            "dest",
            (
                flight_date.cast(pl.Datetime("us"))
                + pl.duration(
                    hours=pl.col("sched_dep_time_i") // 100, minutes=pl.col("sched_dep_time_i") % 100
                )
            ).alias("scheduled_departure"),
            *(pl.col(f"{c}_i").alias(c) for c in INTS[3:9] + INTS[10:]),
            pl.col("dep_time_i").is_null().alias("cancelled"),
            "_source_file",
        )
        .join(carriers.lazy(), on="carrier", how="left")
    )
    quarantine = checked.filter(pl.col("_quarantine_reason") != "").drop(f"{c}_i" for c in INTS)
    pl.collect_all(
        [
            normalized.sink_parquet(home / "normalized_flights.parquet", lazy=True),
            quarantine.sink_parquet(home / "quarantine_flights.parquet", lazy=True),
        ]
    )
    flights = pl.scan_parquet(home / "normalized_flights.parquet")
    pl.collect_all(
        [
            flights.group_by("carrier", "flight_date")
            .agg(
                pl.col("carrier_name").max(),
                pl.len().alias("flights"),
                pl.col("cancelled").sum(),
                pl.col("dep_delay").mean().alias("avg_dep_delay"),
                pl.col("arr_delay").mean().alias("avg_arr_delay"),
                ((pl.col("arr_delay") < 15).sum() / pl.col("arr_delay").count()).alias("on_time_share"),
            )
            .sort("carrier", "flight_date")
            .sink_parquet(home / "stats_carrier_daily_performance.parquet", lazy=True),
            flights.group_by("origin", "dest")
            .agg(
                pl.len().alias("flights"),
                pl.col("air_time").mean().alias("avg_air_time"),
                pl.col("distance").max(),
            )
            .sort("origin", "dest")
            .sink_parquet(home / "stats_route_stats.parquet", lazy=True),
        ]
    )
    seconds = time.perf_counter() - started
    counts = {
        f"{table.replace('_', '.', 1)}": pl.scan_parquet(home / f"{table}.parquet")
        .select(pl.len())
        .collect()
        .item()
        for table in (
            "raw_flights",
            "normalized_flights",
            "quarantine_flights",
            "stats_carrier_daily_performance",
        )
    }
    return {"seconds": seconds, "counts": counts}
