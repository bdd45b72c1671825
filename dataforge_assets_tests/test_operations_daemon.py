"""End to end: the real dagster-daemon sees a file land, launches a run of that source, and the rows arrive;
the automation sensor then brings normalized and stats up to date.

Then the daemon is restarted: the sensor's cursor lives in the instance, so the same file is not loaded again.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml

from dataforge_assets.definitions import load_definitions
from dataforge_assets.lib.environment import REPO_ROOT, Environment
from dataforge_assets.lib.operations.run_history import asset_attempts
from dataforge_assets.lib.worker_process import Worker
from dataforge_assets_tests.daemon import Daemon
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

BIN = Path(sys.executable).parent
SENSOR = "flights_landing_sensor"
STARTUP_SECONDS = 420  # generous for a loaded 2-core machine: code server, first tick, run subprocess


@pytest.fixture
def daemon(tmp_path: Path, data_home: Environment) -> Iterator[tuple[Daemon, Path]]:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())  # the repo's policies, as shipped
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    workspace = tmp_path / "workspace.yaml"
    location = {"module_name": "dataforge_assets", "working_directory": str(REPO_ROOT)}
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATAFORGE_ALERT_", "DAGSTER_", "PYTEST_"))
    }
    env |= {
        "DAGSTER_HOME": str(dagster_home),
        "DATAFORGE_HOME": str(data_home.home),
        "DATAFORGE_WAREHOUSE": "duckdb",
        "DATAFORGE_SENSOR_INTERVAL_SECONDS": "5",
    }
    process = Daemon(workspace, env, tmp_path / "daemon.log")
    try:
        yield process, dagster_home
    finally:
        process.kill()  # no-op after a clean stop; the whole group otherwise


def _wait(what: str, daemon: Daemon, until: Callable[[], Any], seconds: float = STARTUP_SECONDS) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (found := until()) is not None:
            return found
        if daemon.process is not None and daemon.process.poll() is not None:
            raise AssertionError(f"dagster-daemon exited while waiting for {what}:\n{daemon.tail()}")
        time.sleep(1)
    raise AssertionError(f"no {what} within {seconds}s:\n{daemon.tail()}")


def _source_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dataforge/source": "flights"})))


def _finished(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    runs = _source_runs(instance)
    return runs[0] if runs and runs[0].is_finished else None


def _settled(instance: dg.DagsterInstance) -> bool | None:
    """Both stats tables materialized and no run left that could hold the DuckDB file."""
    stats = [dg.AssetKey(["stats", t]) for t in ("route_stats", "carrier_daily_performance")]
    if not all(instance.get_latest_materialization_event(k) for k in stats):
        return None
    return True if all(r.is_finished for r in instance.get_runs()) else None


def _landing_ticks_after(instance: dg.DagsterInstance, since: float) -> list | None:
    for state in instance.all_instigator_state():
        if state.instigator_name == SENSOR:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since)
            return ticks or None
    return None


def test_daemon_sensor_loads_a_dropped_file_once(daemon, data_home: Environment) -> None:
    process, dagster_home = daemon
    # Create the SQLite instance before the daemon starts: processes creating it at once race on its schema.
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        # The carriers normalized.flights joins come from the SQL reference source (no landing folder).
        land_reference(data_home)
        defs = load_definitions()
        dg.materialize([*defs.assets], selection="raw/airlines", resources=defs.resources, instance=instance)
        process.start()
        land_flights(data_home, 1, month_sample(1, 50))

        run = _wait("finished run of the flights source", process, lambda: _finished(instance))
        assert run.status == dg.DagsterRunStatus.SUCCESS, process.tail()
        assert run.tags.get("dataforge/trigger") == "landing"
        attempts = asset_attempts(instance, run.run_id)
        # Only that source's raw assets, all loaded.
        assert [(a.asset_key, a.succeeded, a.records) for a in attempts] == [("raw/flights", True, 50)]

        # Declarative automation takes it from there: normalized and stats follow the raw loads.
        _wait("automated stats, all runs finished", process, lambda: _settled(instance))
        with duckdb.connect(str(data_home.duckdb_path), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM raw.flights").fetchall() == [(50,)]
            normalized = con.execute("SELECT count(*) FROM normalized.flights").fetchall()[0][0]
            assert normalized > 0
            assert con.execute("SELECT sum(flights) FROM stats.route_stats").fetchall() == [(normalized,)]

        # A clean restart: the cursor is in the instance, so the file already loaded is not loaded again.
        process.stop()
        restarted = time.time()
        process.start()
        ticks = _wait(
            "landing sensor tick after the restart",
            process,
            lambda: _landing_ticks_after(instance, restarted),
        )
        assert all(not t.run_ids for t in ticks)
        assert len(_source_runs(instance)) == 1
        process.stop()


def _run_with_worker(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    runs = [r for r in _source_runs(instance) if Worker.from_tags(dict(r.tags)) is not None]
    return runs[0] if runs else None


def _retry_of(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    retries = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
    return retries[0] if retries and retries[0].is_finished else None


def test_a_daemon_run_killed_mid_load_is_failed_and_retried_to_the_exact_rows(
    daemon, data_home: Environment
) -> None:
    process, dagster_home = daemon
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        land_reference(data_home)
        process.start()
        land_flights(data_home, 1, month_sample(1, 400))

        # The sensor-launched run's worker (a subprocess of the code server) is killed -9 as it starts.
        run = _wait("a sensor-launched run with its worker", process, lambda: _run_with_worker(instance))
        worker = Worker.from_tags(dict(run.tags))
        os.kill(worker.pid, signal.SIGKILL)

        # Nobody touches the instance: it is failed, and the retry daemon re-runs it.
        failed = _wait(
            "the killed run marked failed",
            process,
            lambda: (
                r if (r := instance.get_run_by_id(run.run_id)).status == dg.DagsterRunStatus.FAILURE else None
            ),
        )
        # Whoever saw it first says why: the code server that spawned the worker (its exit by signal 9),
        # or the dead-run sensor (the worker's pid is gone); CLI runs have only the sensor.
        said = " ".join(
            str(record.event_log_entry.message)
            for record in instance.get_records_for_run(failed.run_id, ascending=False, limit=10).records
        )
        assert "signal 9" in said or f"pid {worker.pid} on host" in said, said
        retry = _wait(
            "the retry of the killed run, finished", process, lambda: _retry_of(instance, run.run_id)
        )
        assert retry.status == dg.DagsterRunStatus.SUCCESS, process.tail()
        with duckdb.connect(str(data_home.duckdb_path), read_only=True) as con:
            assert con.execute(
                "SELECT count(*), count(DISTINCT (year, month, day, carrier, flight, origin, sched_dep_time)) FROM raw.flights"
            ).fetchall() == [(400, 400)]
        process.stop()
