"""The project's pipeline: raw -> normalized (with its blocking contract) -> stats, through Dagster.

The real definitions are materialized in-process on a fresh data home (or the one a previous full run
left, for the incremental case), with a SQLite instance in a temporary folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

SELECTION = ("raw/flights", "raw/airlines", "normalized/flights")


def land(home: Path | str, files: list[Path] | list[str]) -> None:
    """Hard-link the generated months into the landing folder (no copy of gigabytes), plus the demo's
    reference database (built once, so the incremental run finds nothing new there)."""
    from dataforge_assets.demo.setup import REFERENCE_DATABASE, build_reference_database
    from dataforge_assets.lib.environment import current_environment

    home = Path(home)
    os.environ["DATAFORGE_HOME"] = str(home)
    folder = home / "landing" / "flights"
    folder.mkdir(parents=True, exist_ok=True)
    for path in map(Path, files):
        target = folder / path.name
        if not target.exists():
            os.link(path, target)
    if not (home / REFERENCE_DATABASE).exists():
        build_reference_database(current_environment())


def materialize(
    home: Path,
    files: list[Path],
    profile: str | None = None,
    assets: tuple[str, ...] = SELECTION,
    groups: tuple[str, ...] = ("stats",),
    postgres_url: str | None = None,
) -> dict[str, Any]:
    """Materialize the selection; with `profile`, write pyinstrument's call tree to that file.

    With `postgres_url` the warehouse is the project's PostgreSQL warehouse instead of DuckDB.
    """
    os.environ["DATAFORGE_HOME"] = str(home)
    os.environ["DATAFORGE_WAREHOUSE"] = "postgres" if postgres_url else "duckdb"
    if postgres_url:
        os.environ["DATAFORGE_POSTGRES_URL"] = postgres_url
    import dagster as dg

    from dataforge_assets.definitions import load_definitions
    from dataforge_assets.lib.partitions import range_tags

    land(home, files)
    defs = load_definitions()
    selection = dg.AssetSelection.assets(*(dg.AssetKey(k.split("/")) for k in assets))
    if groups:
        selection = selection | dg.AssetSelection.groups(*groups)
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(home / "dagster_home"))
    profiler = _profiler(profile)
    started = time.perf_counter()
    result = dg.materialize(
        [*(defs.assets or []), *(defs.asset_checks or [])],
        selection=selection,
        resources=defs.resources,
        instance=instance,
        tags=range_tags(),
    )
    seconds = time.perf_counter() - started
    if profiler:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    steps = {
        event.step_key: event.event_specific_data.duration_ms / 1000
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }
    counts = _postgres_counts(postgres_url) if postgres_url else duckdb_counts(home / "warehouse.duckdb")
    instance.dispose()
    return {"seconds": seconds, "steps": steps, "counts": counts}


def _profiler(path: str | None) -> Any:
    if not path:
        return None
    from pyinstrument import Profiler

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.01)
    profiler.start()
    return profiler


def duckdb_counts(database: Path) -> dict[str, int]:
    """Rows of every data table (dlt's and the platform's bookkeeping tables start with `_`)."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('raw', 'normalized', 'quarantine', 'stats')"
        ).fetchall()
        return {
            f"{schema}.{name}": con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchall()[0][0]
            for schema, name in tables
            if not name.startswith("_")
        }


def _postgres_counts(url: str) -> dict[str, int]:
    import psycopg2

    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM raw.flights")
        return {"raw.flights": cur.fetchall()[0][0]}
