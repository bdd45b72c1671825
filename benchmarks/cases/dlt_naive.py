"""The naive dlt baseline: csv.DictReader row dicts into dlt's DuckDB destination, merged on the key.

This is how a first dlt pipeline is usually written; it runs on a sample and is extrapolated per row.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt

KEY = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]


def _rows(files: list[Path], limit: int) -> Iterator[dict[str, str]]:
    def every_row() -> Iterator[dict[str, str]]:
        for path in files:
            with open(path, newline="") as handle:
                yield from csv.DictReader(handle)

    return itertools.islice(every_row(), limit)


def run(home: Path, files: list[Path], sample_rows: int) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    pipeline = dlt.pipeline(
        pipeline_name="naive_flights",
        destination=dlt.destinations.duckdb(str(home / "naive.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(home / "dlt"),
    )
    resource = dlt.resource(
        _rows(files, sample_rows), name="flights", primary_key=KEY, write_disposition="merge"
    )
    started = time.perf_counter()
    pipeline.run(resource)
    seconds = time.perf_counter() - started
    with pipeline.sql_client() as client:
        loaded = client.execute_sql("SELECT count(*) FROM flights")[0][0]
    return {"seconds": seconds, "counts": {"raw.flights": loaded}, "sample_rows": loaded}
