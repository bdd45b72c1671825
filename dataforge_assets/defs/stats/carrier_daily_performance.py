"""stats.carrier_daily_performance: each carrier's flights, cancellations, delays and punctuality per day."""

import dagster as dg

from dataforge_assets.lib.stats_asset import sql_stats_asset

# Means are over non-null values (SQL's avg skips NULLs); on-time share is arrivals less than
# 15 minutes late over flights whose arrival delay is known.
SQL = """
SELECT
    carrier,
    max(carrier_name) AS carrier_name,
    flight_date,
    count(*) AS flights,
    sum(CASE WHEN cancelled THEN 1 ELSE 0 END) AS cancelled,
    CAST(avg(dep_delay) AS DOUBLE PRECISION) AS avg_dep_delay,
    CAST(avg(arr_delay) AS DOUBLE PRECISION) AS avg_arr_delay,
    CAST(sum(CASE WHEN arr_delay < 15 THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
        / NULLIF(count(arr_delay), 0) AS on_time_share
FROM normalized.flights
GROUP BY carrier, flight_date
ORDER BY carrier, flight_date
"""

FLIGHTS = dg.AssetKey(["normalized", "flights"])

carrier_daily_performance = sql_stats_asset(
    "carrier_daily_performance",
    SQL,
    deps=[FLIGHTS],
    columns={
        "carrier": ("text", "Two-character carrier code."),
        "carrier_name": ("text", "The carrier's name (from airlines)."),
        "flight_date": ("date", "Day of the scheduled departure."),
        "flights": ("bigint", "Scheduled flights of the carrier that day."),
        "cancelled": ("bigint", "Of those, cancelled (never departed)."),
        "avg_dep_delay": ("double", "Mean departure delay in minutes, over flights that departed."),
        "avg_arr_delay": ("double", "Mean arrival delay in minutes, over flights with a known arrival."),
        "on_time_share": ("double", "Share of known arrivals less than 15 minutes late."),
    },
    lineage={
        "carrier": [(FLIGHTS, "carrier")],
        "carrier_name": [(FLIGHTS, "carrier_name")],
        "flight_date": [(FLIGHTS, "flight_date")],
        "flights": [(FLIGHTS, "carrier"), (FLIGHTS, "flight_date")],
        "cancelled": [(FLIGHTS, "cancelled")],
        "avg_dep_delay": [(FLIGHTS, "dep_delay")],
        "avg_arr_delay": [(FLIGHTS, "arr_delay")],
        "on_time_share": [(FLIGHTS, "arr_delay")],
    },
    description="One row per carrier and flight date: flights, cancelled, average delays, on-time share.",
    # Partitioned like normalized.flights: a month's backfill rebuilds that month's rows.
    month_column="flight_date",
)
