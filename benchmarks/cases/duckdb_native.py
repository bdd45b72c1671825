"""The DuckDB baselines: a hand-written SQL script doing the pipeline's work on the same files.

`duckdb_native.sql` is what a DuckDB user would write (one typed and checked pass, no copies);
`duckdb_naive.sql` is the earlier script (three copies of the table), kept so history stays comparable.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb

# The demo's data folder by path: importing the package would import Dagster into a baseline's process.
DATA_DIR = Path(__file__).parents[2] / "dataforge_assets" / "demo" / "data"

SCRIPTS = Path(__file__).parent


def run(home: Path, files: list[Path], script: str = "duckdb_native") -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    airlines = home / "airlines.csv"
    with gzip.open(DATA_DIR / "airlines.csv.gz", "rb") as src, open(airlines, "wb") as dst:
        shutil.copyfileobj(src, dst)
    folders = {path.parent for path in files}
    assert len(folders) == 1, "the baseline reads one folder of monthly files"
    # str.replace, not format: the script's regexes have braces of their own.
    sql = (
        (SCRIPTS / f"{script}.sql")
        .read_text()
        .replace("{csv_glob}", f"{folders.pop()}/*.csv")
        .replace("{airlines_csv}", str(airlines))
    )
    started = time.perf_counter()
    with duckdb.connect(str(home / "native.duckdb")) as con:
        con.execute(sql)
        counts = {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in (
                "raw.flights",
                "normalized.flights",
                "quarantine.flights",
                "stats.carrier_daily_performance",
            )
        }
    return {"seconds": time.perf_counter() - started, "counts": counts}
