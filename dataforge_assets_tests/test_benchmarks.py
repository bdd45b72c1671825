"""The benchmark cannot rot: its data generator keeps keys unique and a tiny run writes its table.

Speed is never asserted here; only that every case runs on the same rows and is reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import psycopg2
import pytest

from benchmarks import run
from benchmarks.cases.postgres_load import DSN
from benchmarks.datagen import data_set
from dataforge_assets_tests.conftest import REQUIRE_SERVICES

KEY = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]


def _postgres_or_skip() -> None:
    try:
        psycopg2.connect(DSN, connect_timeout=5).close()
    except psycopg2.OperationalError as error:
        if REQUIRE_SERVICES:
            pytest.fail(f"PostgreSQL is required (DATAFORGE_REQUIRE_SERVICES=1): {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")


def test_scaled_data_replicates_months_with_unique_natural_keys(tmp_path: Path) -> None:
    data = data_set(400_000, tmp_path)  # more than 2013's 336,776 rows: needs a second copy
    frame = pl.concat([pl.read_csv(p, infer_schema=False) for p in [*data.base, data.extra]])
    assert data.rows == 400_000 and frame.height == 400_000 + data.extra_rows
    assert frame.select(KEY).is_unique().all()
    # Every row stays in 2013 (inside the monthly partitions); the copies differ by flight number.
    assert frame["year"].unique().to_list() == ["2013"]
    assert frame["flight"].cast(pl.Int64).max() > 10_000
    assert data.extra.name not in {p.name for p in data.base}
    assert data_set(400_000, tmp_path) == data  # cached, not generated again


@pytest.mark.postgres
def test_benchmark_runs_every_case_on_a_tiny_data_set_and_writes_its_table(tmp_path: Path) -> None:
    _postgres_or_skip()
    out = tmp_path / "RESULTS.md"
    argv = [
        "--rows",
        "20000",
        "--dlt-sample",
        "1000",
        "--pg-rows",
        "1000",
        "--data",
        str(tmp_path),
        "--out",
        str(out),
        "--repeat",
        "1",
    ]
    measurements = {m.case: m for m in run.main(argv)}

    assert set(measurements) == {
        "duckdb_native",
        "duckdb_naive",
        "polars_native",
        "pipeline",
        "incremental",
        "pipeline_process",  # the CLI command as a whole cold process
        "incremental_process",
        "definitions_load",
        "launch_floor",  # the same CLI run on a one-asset project: Dagster's own per-run floor
        "launch_latency",  # a GraphQL-launched run's wait for its first step (webserver + daemon)
        "pg_plain_copy",
        "dlt_naive",
        "pg_executemany",
        "pg_copy",
        "pg_warehouse",  # the project's PostgreSQL warehouse load (dlt CSV COPY + merge)
    }
    pipeline, native, incremental = (
        measurements["pipeline"],
        measurements["duckdb_native"],
        measurements["incremental"],
    )
    # Every side did the same work on the same 20,000 rows, and the incremental runs added one month.
    same_work = ("pipeline", "pipeline_process", "duckdb_native", "duckdb_naive", "polars_native")
    for table in ("raw.flights", "normalized.flights", "quarantine.flights"):
        assert len({measurements[c].figures["counts"].get(table, 0) for c in same_work}) == 1, table
    assert pipeline.figures["counts"]["raw.flights"] == 20_000
    for name in ("incremental", "incremental_process"):
        assert measurements[name].figures["counts"]["raw.flights"] == 20_000 + incremental.rows
    assert measurements["pg_plain_copy"].figures["counts"] == {"flights": 20_000}
    assert (
        measurements["pg_copy"].figures["counts"]
        == measurements["pg_executemany"].figures["counts"]
        == {"flights": 1000}
    )
    assert measurements["pg_warehouse"].figures["counts"]["raw.flights"] == 20_000
    assert all(m.rss_mb > 0 and m.seconds > 0 for m in measurements.values())
    for timed in (pipeline, native, incremental):
        assert timed.figures["runs_seconds"] == [timed.seconds]
    # Whole processes take longer than the work inside them; listing the definitions was timed.
    assert native.figures["process_seconds"] > native.seconds
    assert measurements["definitions_load"].figures["list_runs"]
    floor = measurements["launch_floor"].figures
    assert floor["command"].split()[-1] == "one" and floor["import_dagster_runs"]
    # A run of a do-nothing asset still costs more than importing Dagster; ours costs more than that.
    assert floor["import_dagster_seconds"] < floor["seconds"] < measurements["pipeline_process"].seconds
    assert [run["step_start"] > 0 for run in measurements["launch_latency"].figures["runs"]] == [True]
    text = out.read_text()
    for ratio in (
        "pipeline whole process / single-pass DuckDB script process at 20,000",
        "definitions load (s)",
        "GraphQL launch -> first step",
        "CLI run floor (s)",
        "pipeline whole process minus the CLI run floor / single-pass script at 20,000",
        "PostgreSQL warehouse raw load / plain COPY throughput",
    ):
        assert ratio in text
    assert f"{os.cpu_count()} CPUs" in text
    assert not (tmp_path / "work_20000").exists()  # the work folders are cleaned up
