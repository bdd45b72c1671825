"""What a user runs, timed as whole processes: the CLI materialize (start-up, imports and definitions
loading count), and the fixed cost of loading the definitions (`dagster asset list` minus `import dagster`).

`dg` (dagster-dg-cli) is used when installed in this environment (`dg launch`, `dg list defs`);
otherwise `dagster asset materialize` / `dagster asset list`, which load the same definitions.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.cases.pipeline import SELECTION, duckdb_counts

REPO = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
STATS = ("stats/carrier_daily_performance", "stats/route_stats", "stats/platform_run_stats")


def _dg() -> Path | None:
    dg = BIN / "dg"
    return dg if dg.exists() else None


def materialize_command(assets: tuple[str, ...] = (*SELECTION, *STATS)) -> list[str]:
    # The current month's partition, as automation runs the monthly tables: every new raw load is
    # built and the stats catch up on the months it changed; no month is rebuilt twice.
    # (lib/partitions.current_month, without importing Dagster into this process: monthly, UTC.)
    month = ["--partition", datetime.now(UTC).strftime("%Y-%m-01")]
    if dg := _dg():
        return [str(dg), "launch", "--assets", ",".join(assets), *month]
    return [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "dataforge_assets",
        "--select",
        ",".join(assets),
        *month,
    ]


def list_command() -> list[str]:
    if dg := _dg():
        return [str(dg), "list", "defs"]
    return [str(BIN / "dagster"), "asset", "list", "-m", "dataforge_assets"]


def _environment(home: Path) -> dict[str, str]:
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    link = dagster_home / "dagster.yaml"
    if not link.exists():
        link.symlink_to(REPO / "dagster.yaml")
    return {
        **os.environ,
        "DATAFORGE_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DATAFORGE_WAREHOUSE": "duckdb",
    }


def _timed(command: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process.

    wait4 gives this child's own rusage; this process stays small (nothing heavy imported), because
    Linux counts the forking parent's peak in the child's ru_maxrss.
    """
    started = time.perf_counter()
    with open(os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-4000:]
            raise RuntimeError(f"{' '.join(command)} failed (exit {child.returncode}):\n{tail}")
    return seconds, usage.ru_maxrss / 1024


def materialize(home: Path, files: list[Path]) -> dict[str, Any]:
    """The CLI materialize of the pipeline's selection as one cold process, on `home`."""
    env = _environment(home)
    # Landing imports the project (Dagster, polars): done in a child of its own, untimed. The file list
    # goes through a file: a 100M-row data set's thousands of paths are too long for argv.
    listed = home / "landing_files.json"
    listed.write_text(json.dumps([str(f) for f in files]))
    landing = (
        "import json; from benchmarks.cases.pipeline import land; "
        f"land({str(home)!r}, json.loads(open({str(listed)!r}).read()))"
    )
    _timed([sys.executable, "-c", landing], env)
    command = materialize_command()
    seconds, peak_rss_mb = _timed(command, env)
    return {
        "seconds": seconds,
        "command": " ".join([Path(command[0]).name, *command[1:]]),
        "counts": duckdb_counts(home / "warehouse.duckdb"),
        "child_peak_rss_mb": peak_rss_mb,
    }


# The definitions alone: what every process that loads them (code server, run worker, sensor) pays.
BUILD = "from dataforge_assets.definitions import load_definitions; load_definitions().get_repository_def()"
# The listing command's own floor: the same command on a dg project of one asset.
ONE_ASSET_PROJECT = {
    "pyproject.toml": '[project]\nname = "one_asset"\nversion = "0"\n\n[tool.dg]\ndirectory_type = "project"\n\n'
    '[tool.dg.project]\nroot_module = "one_asset"\ncode_location_name = "one_asset"\n',
    "one_asset/__init__.py": "",
    "one_asset/defs/__init__.py": "",
    # In-process steps, as ours run (Dagster's default executor would spawn a process for the step).
    "one_asset/definitions.py": "import dagster as dg\n\n\n@dg.asset\ndef one() -> None:\n    pass\n\n\n"
    "defs = dg.Definitions(assets=[one], executor=dg.in_process_executor)\n",
}


def _one_asset_project(root: Path) -> Path:
    for name, text in ONE_ASSET_PROJECT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def launch_floor(home: Path, repeat: int = 3) -> dict[str, Any]:
    """The CLI run's own floor: the same materialize command on a dg project of one asset that does nothing,
    with the same instance (`dagster.yaml`), beside `python -c "import dagster"`. Whatever a run of ours costs
    above this floor is ours; the floor is Dagster's (and dg's) for any project."""
    env = _environment(home)
    floor = _one_asset_project(home / "one_asset_project")
    command = (
        [str(dg), "launch", "--assets", "one"]
        if (dg := _dg())
        else [str(BIN / "dagster"), "asset", "materialize", "-m", "one_asset.definitions", "--select", "one"]
    )
    bare = [sys.executable, "-c", "import dagster"]
    launch_runs, bare_runs = [], []
    for _ in range(repeat):  # interleaved, so a change in the machine's load hits both
        bare_runs.append(_timed(bare, env)[0])
        launch_runs.append(_timed(command, env, cwd=floor)[0])
    return {
        "seconds": statistics.median(launch_runs),
        "import_dagster_seconds": statistics.median(bare_runs),
        "runs_seconds": launch_runs,
        "import_dagster_runs": bare_runs,
        "command": " ".join([Path(command[0]).name, *command[1:]]),
        "sample_rows": 0,
    }


def definitions_load(home: Path, repeat: int = 3) -> dict[str, Any]:
    """Median wall of listing the definitions minus median wall of `python -c "import dagster"`; beside
    it the same for importing and building the definitions in a bare interpreter (no CLI start-up)."""
    env = _environment(home)
    bare = [sys.executable, "-c", "import dagster"]
    build = [sys.executable, "-c", BUILD]
    listing = list_command()
    floor = _one_asset_project(home / "one_asset_project")
    bare_runs, list_runs, build_runs, floor_runs = [], [], [], []
    for _ in range(repeat):  # interleaved, so a change in the machine's load hits all of them
        bare_runs.append(_timed(bare, env)[0])
        list_runs.append(_timed(listing, env)[0])
        build_runs.append(_timed(build, env)[0])
        if _dg():
            floor_runs.append(_timed(listing, env, cwd=floor)[0])
    bare_median = statistics.median(bare_runs)
    fixed = statistics.median(list_runs) - bare_median
    return {
        "seconds": fixed,
        "definitions_only_seconds": statistics.median(build_runs) - bare_median,
        **({"one_asset_list_seconds": statistics.median(floor_runs) - bare_median} if floor_runs else {}),
        "one_asset_list_runs": floor_runs,
        "import_dagster_runs": bare_runs,
        "list_runs": list_runs,
        "build_runs": build_runs,
        "command": " ".join([Path(listing[0]).name, *listing[1:]]),
        "sample_rows": 0,
    }
