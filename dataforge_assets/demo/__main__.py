"""`python -m dataforge_assets.demo`: set up the demo sources, materialize every asset, print what was built.

The three source kinds: flights are CSV files in the landing folder, airlines/airports/planes a SQLite
database, and weather a JSON API, served for the run by the replay server (the demo's stand-in for a SaaS
API) on a free local port that the weather YAML reads from DATAFORGE_WEATHER_API_URL.
Materialization goes through the real CLI (`dg launch --assets ...`), as a user would run it, in two runs:
every table (with every month of the monthly-partitioned flights tables, lib/partitions.py), then
stats/platform_run_stats, which is built from the instance's finished runs and so counts the first. Dagster's full log goes to a file; the terminal gets a line per asset and a summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import dagster as dg

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.report import LiveProgress, format_table, summary_rows
from dataforge_assets.demo.setup import set_up
from dataforge_assets.lib.environment import REPO_ROOT, Environment, current_environment
from dataforge_assets.lib.partitions import all_months

WEATHER_API_URL_ENV = "DATAFORGE_WEATHER_API_URL"  # named by defs/raw/weather/defs.yaml
RUN_STATS = 'key:"stats/platform_run_stats"'
# Run 1 builds every table, every month (a month-range run: the monthly tables' partitions are all
# materialized, so automation in `make dev` finds none missing); run 2 the run statistics, once run 1
# is a finished run of the instance.
RUNS = ((f"* and not {RUN_STATS}", True), (RUN_STATS, False))


def launch(
    selection: str,
    all_partitions: bool,
    env: dict[str, str],
    log: TextIO,
    progress: LiveProgress,
    started: float,
) -> None:
    """`dg launch --assets <selection>`: its whole output to the log, a line per finished asset to stdout."""
    dg_cli = Path(sys.executable).with_name("dg")
    months = ["--partition-range", all_months()] if all_partitions else []
    with subprocess.Popen(
        [str(dg_cli), "launch", "--assets", selection, *months],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            shown = progress.feed(line.rstrip("\n"), time.perf_counter() - started)
            if shown:
                print(shown, flush=True)
    if process.returncode != 0:
        raise SystemExit(f"dg launch --assets '{selection}' failed; the full log is {log.name}")


def ensure_dagster_home(env: Environment) -> Path:
    """DAGSTER_HOME as `make` sets it: a folder whose dagster.yaml is the repo's."""
    home = Path(os.environ.get("DAGSTER_HOME") or env.home / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    return home


def main() -> None:
    env = current_environment()
    started = time.perf_counter()
    dagster_home = ensure_dagster_home(env)
    log_path = env.home / "logs" / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    set_up(env, months=list(range(1, 13)))
    print(f"Demo data landed under {env.home}. Full Dagster log: {log_path}")
    progress = LiveProgress()
    with replay_server.running() as server, log_path.open("w") as log:
        print(f"Weather replay API (the demo's stand-in for a SaaS API) on {server.url}")
        run_env = {
            **os.environ,
            WEATHER_API_URL_ENV: server.url,
            "DAGSTER_HOME": str(dagster_home),
            "VIRTUAL_ENV": sys.prefix,
        }
        for selection, all_partitions in RUNS:
            launch(selection, all_partitions, run_env, log, progress, started)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        table = format_table(summary_rows(instance, progress.run_ids))
    where = env.duckdb_path if env.warehouse == "duckdb" else "PostgreSQL"
    print(f"\nDone in {time.perf_counter() - started:.0f}s. Warehouse: {where}")
    print(table)
    print("\nOpen the UI with `make dev` (dg dev, http://127.0.0.1:3000).")


if __name__ == "__main__":
    main()
