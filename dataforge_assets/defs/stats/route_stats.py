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

route_stats = sql_stats_asset(
    "route_stats",
    SQL,
    deps=[dg.AssetKey(["normalized", "flights"])],
    description="One row per (origin, dest): flights, average air time (non-null), distance in miles.",
)
