"""A normalized flights build with nothing new to build: what every automation-triggered run pays.

`prepare` loads raw/flights and raw/airlines and builds normalized/flights once (the real definitions).
`noop_build` then times `normalize.build` on that warehouse as the asset calls it (in a session, under
the table's lock), `builds` times in one process. It imports nothing from `benchmarks`, so it can be run
as a script against another checkout's code: `PYTHONPATH=<checkout> python noop_build.py '<json>'`.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCHMARK-RESULT "  # as benchmarks/measure.py reads it


def prepare(home: Path, files: list[Path], postgres_url: str | None = None) -> dict[str, Any]:
    """raw/flights, raw/airlines and normalized/flights materialized by the real definitions."""
    from benchmarks.cases.pipeline import materialize

    assets = ("raw/flights", "raw/airlines", "normalized/flights")
    return materialize(home, files, assets=assets, groups=(), postgres_url=postgres_url)


def noop_build(home: Path, postgres_url: str | None = None, builds: int = 3) -> dict[str, Any]:
    """Seconds of each of `builds` builds that find no new raw load (the first pays lazy imports)."""
    import dataforge_assets
    from dataforge_assets.defs.normalized.flights import FLIGHTS
    from dataforge_assets.lib.normalize import NORMALIZED, build
    from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse

    os.environ["DATAFORGE_HOME"] = str(home)
    warehouse = (
        PostgresWarehouse(url=postgres_url)
        if postgres_url
        else DuckDBWarehouse(database=str(home / "warehouse.duckdb"))
    )
    seconds = []
    for _ in range(builds):
        started = time.perf_counter()
        with warehouse.session(), warehouse.table_lock(NORMALIZED, FLIGHTS.name):
            report = build(warehouse, FLIGHTS)
        seconds.append(time.perf_counter() - started)
        if report.loads or report.rows_deleted or report.dimension_rows_refreshed:
            raise RuntimeError(f"not a no-op build: {report}")
    return {
        "seconds": seconds,
        "warm_median": statistics.median(seconds[1:] or seconds),
        "code": str(Path(dataforge_assets.__file__).parent.parent),
    }


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    figures = noop_build(Path(args["home"]), args.get("postgres_url"), int(args.get("builds", 3)))
    print(RESULT_PREFIX + json.dumps(figures), flush=True)
