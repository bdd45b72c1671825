"""stats.route_stats: traffic and air time per route."""

import dagster as dg

from dataforge_assets.lib.stats_asset import sql_stats_asset

# Two routes (EWR-EGE, JFK-EGE) list two distances one mile apart in the source; the longer is kept.
SQL = """
SELECT
    origin,
    dest,
    count(*) AS flights,
    CAST(avg(air_time) AS DOUBLE PRECISION) AS avg_air_time,
    max(distance) AS distance
FROM normalized.flights
GROUP BY origin, dest
ORDER BY origin, dest
"""

FLIGHTS = dg.AssetKey(["normalized", "flights"])

route_stats = sql_stats_asset(
    "route_stats",
    SQL,
    deps=[FLIGHTS],
    columns={
        "origin": ("text", "Departure airport (FAA code)."),
        "dest": ("text", "Arrival airport (FAA code)."),
        "flights": ("bigint", "Scheduled flights on the route."),
        "avg_air_time": ("double", "Mean minutes in the air, over flights with a known air time."),
        "distance": ("integer", "Route distance in miles (the longer one where the source lists two)."),
    },
    lineage={
        "origin": [(FLIGHTS, "origin")],
        "dest": [(FLIGHTS, "dest")],
        "flights": [(FLIGHTS, "origin"), (FLIGHTS, "dest")],
        "avg_air_time": [(FLIGHTS, "air_time")],
        "distance": [(FLIGHTS, "distance")],
    },
    description="One row per (origin, dest): flights, average air time (non-null), distance in miles.",
)
