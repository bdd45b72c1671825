"""A writer killed with kill -9 blocks nobody: the next run writes at once, the dead run is failed (so run
retries and alerts fire), and the operator's `status` / `heal` show and clear what is left. Real dagster
processes, real signals; nothing is mocked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psutil
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.auto_run_reexecution.auto_run_reexecution import should_retry
from pytest_httpserver import HTTPServer

from dataforge_assets import ops
from dataforge_assets.lib.environment import REPO_ROOT, Environment
from dataforge_assets.lib.operations.alert_channels import AlertChannels
from dataforge_assets.lib.operations.alert_sensors import alert_on_run_failure
from dataforge_assets.lib.operations.dead_runs import fail_dead_runs
from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse
from dataforge_assets.lib.warehouse.writer_lock import (
    WarehouseLockTimeout,
    lock_path_for,
    lock_state,
    read_holder,
    writer_lock,
)
from dataforge_assets.lib.worker_process import Worker
from dataforge_assets_tests.demo_data import land_flights, month_sample

BIN = Path(sys.executable).parent
RUN_SECONDS = 600  # a dagster CLI run on a loaded 2-core machine; ~25 s idle


@dataclass
class Home:
    env: Environment
    dagster_home: Path
    process_env: dict[str, str]
    tmp: Path

    @property
    def lock(self) -> Path:
        path = lock_path_for(str(self.env.duckdb_path))
        assert path is not None
        return path

    def materialize(self, name: str, selection: str = "raw/flights") -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - the child writes it; closed with the test
        return subprocess.Popen(
            [BIN / "dagster", "asset", "materialize", "-m", "dataforge_assets", "--select", selection],
            env=self.process_env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.dagster_home))


@pytest.fixture
def home(tmp_path: Path, data_home: Environment, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())  # the repo's policies, as shipped
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PYTEST_"))}
    env |= {
        "DAGSTER_HOME": str(dagster_home),
        "DATAFORGE_HOME": str(data_home.home),
        "DATAFORGE_WAREHOUSE": "duckdb",
        "DATAFORGE_WAREHOUSE_LOCK_LOG_SECONDS": "1",
    }
    for month in (1, 2, 3):
        land_flights(data_home, month, month_sample(month, 300))
    yield Home(data_home, dagster_home, env, tmp_path)


def _wait(what: str, until: Callable[[], Any], process: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        if (found := until()) is not None:
            return found
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process {process.pid} exited (rc {process.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {RUN_SECONDS}s")


def _finish(process: subprocess.Popen, home: Home, name: str) -> None:
    assert process.wait(timeout=RUN_SECONDS) == 0, home.log(name)[-4000:]


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _status(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = ops.main(["status"])
    return code, capsys.readouterr().out


def test_a_writer_killed_holding_the_lock_blocks_no_one_and_its_run_is_failed(
    home: Home, capsys: pytest.CaptureFixture[str], httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    alerts = AlertChannels(webhook_url=httpserver.url_for("/hook"))
    instance = home.instance()
    with dg.build_sensor_context(instance=instance, resources={"alerts": alerts}) as ctx:
        alert_cursor = alert_on_run_failure.evaluate_tick(ctx).cursor  # placed at "now", as the daemon does
    first = home.materialize("first")
    try:
        holder = _wait(
            "the first run holding the writer lock",
            lambda: h if (h := read_holder(home.lock)) and h.worker.pid == first.pid else None,
            first,
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        _kill_group(first)
    # Killed while holding it: a clean release would have emptied the file.
    assert read_holder(home.lock) == holder and holder.run_id
    assert lock_state(home.lock) == "free"

    assert instance.get_run_by_id(holder.run_id).status == dg.DagsterRunStatus.STARTED
    code, out = _status(capsys)
    assert code == 1 and f"stuck run {holder.run_id}" in out and f"pid {first.pid}" in out, out
    assert "stale" in out

    # No operator action: the next CLI run takes the lock at its first try and completes.
    second = home.materialize("second")
    _finish(second, home, "second")
    assert "waiting" not in home.log("second")

    # The daemon's sensor fails the dead run, naming the worker; run retries then apply (a worker death
    # is no step failure, so retry_on_asset_or_op_failure: false does not stop it).
    result = fail_dead_runs(dg.build_sensor_context(instance=instance))
    assert holder.run_id in str(result.skip_message)
    run = instance.get_run_by_id(holder.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    failure = (
        instance.get_records_for_run(holder.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        .records[0]
        .event_log_entry
    )
    assert (
        f"pid {first.pid} on host" in failure.dagster_event.message
        and "gone" in failure.dagster_event.message
    )
    assert should_retry(run, instance)
    # ... and the failure alert goes out, saying what happened.
    with dg.build_sensor_context(instance=instance, cursor=alert_cursor, resources={"alerts": alerts}) as ctx:
        alert_on_run_failure.evaluate_tick(ctx)
    (alert,) = [json.loads(request.get_data())["text"] for request, _ in httpserver.log]
    assert holder.run_id in alert and f"pid {first.pid}" in alert, alert
    # Failed once, not again.
    assert "no dead runs" in str(fail_dead_runs(dg.build_sensor_context(instance=instance)).skip_message)
    code, out = _status(capsys)
    assert holder.run_id not in out and code != 1, out


STEP_WITHOUT_WAREHOUSE = """
import time

import dagster as dg

from dataforge_assets.lib.operations.worker_executor import worker_tagging_in_process_executor


@dg.asset
def slow_step_without_warehouse() -> None:
    time.sleep(600)


defs = dg.Definitions(assets=[slow_step_without_warehouse], executor=worker_tagging_in_process_executor)
"""


def test_a_run_killed_before_it_opens_the_warehouse_is_still_failed(home: Home, tmp_path: Path) -> None:
    # The warehouse resource tags its run when it opens; a worker killed before that (or in a step that
    # never opens it) is known only through the executor's tag.
    module = tmp_path / "no_warehouse_defs.py"
    module.write_text(STEP_WITHOUT_WAREHOUSE)
    instance = home.instance()
    worker = subprocess.Popen(
        [BIN / "dagster", "asset", "materialize", "-f", module, "--select", "slow_step_without_warehouse"],
        env=home.process_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run = _wait(
            "the run's STARTED status with its worker tag",
            lambda: next(
                (
                    r
                    for r in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                    if Worker.from_tags(dict(r.tags)) is not None
                ),
                None,
            ),
            worker,
        )
    finally:
        _kill_group(worker)
    assert Worker.from_tags(dict(run.tags)).pid == worker.pid
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED

    result = fail_dead_runs(dg.build_sensor_context(instance=instance))
    assert run.run_id in str(result.skip_message)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_starting_run_whose_forked_worker_died_is_failed_and_one_without_a_worker_is_not(
    home: Home,
) -> None:
    """The forked launcher tags a run with its worker while the run is still STARTING: a worker killed
    then (before the run reaches STARTED) is found too; a STARTING run with no worker yet is left alone."""
    instance = home.instance()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a real process, now gone: its pid names no live worker
    tags = Worker(pid=gone.pid, host=socket.gethostname(), started=None).tags()
    dead = instance.create_run_for_job(
        dg.GraphDefinition(name="g").to_job(), tags=tags, status=dg.DagsterRunStatus.STARTING
    )
    waiting = instance.create_run_for_job(
        dg.GraphDefinition(name="g").to_job(), status=dg.DagsterRunStatus.STARTING
    )

    result = fail_dead_runs(dg.build_sensor_context(instance=instance))
    assert dead.run_id in str(result.skip_message) and waiting.run_id not in str(result.skip_message)
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(waiting.run_id).status == dg.DagsterRunStatus.STARTING


def test_heal_fails_a_dead_run_and_clears_the_lock_it_left(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    # A worker that takes the writer lock and is killed -9 while holding it.
    code = f"""
        import time
        from pathlib import Path
        from dataforge_assets.lib.warehouse.writer_lock import writer_lock
        with writer_lock(Path({str(home.lock)!r}), exclusive=True, run_id="RUN", timeout_seconds=60):
            print("holding", flush=True)
            time.sleep(600)
    """
    instance = home.instance()
    worker = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "holding"
        run = create_run_for_test(
            instance,
            job_name="__ASSET_JOB",
            status=dg.DagsterRunStatus.STARTED,
            tags=Worker(worker.pid, Worker.this_process().host, None).tags(),
        )
        assert "held for writing" in _status(capsys)[1]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        worker.kill()
        worker.wait()

    code_before, before = _status(capsys)
    assert code_before == 1 and f"stuck run {run.run_id}" in before and "stale" in before, before

    assert ops.main(["heal"]) == 0
    healed = capsys.readouterr().out
    assert f"failed run {run.run_id}" in healed and "removed stale writer-lock info" in healed, healed
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE

    code_after, after = _status(capsys)
    assert code_after == 0 and run.run_id not in after and "writer lock: free" in after, after


def test_a_waiting_run_names_the_holder_and_sleeps(home: Home) -> None:
    with writer_lock(home.lock, exclusive=True, run_id="holder-run", timeout_seconds=5):
        waiting = home.materialize("waiting")
        try:
            me = f"run holder-run (pid {os.getpid()} on host"
            _wait(
                "the waiting run's log naming the holder",
                lambda: me if me in home.log("waiting") else None,
                waiting,
            )
            worker = psutil.Process(waiting.pid)
            before = worker.cpu_times()
            time.sleep(3)
            after = worker.cpu_times()
            cpu = (after.user - before.user) + (after.system - before.system)
            assert cpu < 0.3, f"the waiting run used {cpu:.2f} s of CPU in 3 s"
            # It waits without opening the warehouse: nothing of it in DuckDB's file.
            assert not any(f.path == str(home.env.duckdb_path) for f in worker.open_files())
        except BaseException:
            _kill_group(waiting)
            raise
    _finish(waiting, home, "waiting")
    assert "acquired after" in home.log("waiting")


def test_readers_share_the_warehouse_and_a_writer_waits_for_them(home: Home) -> None:
    warehouse = DuckDBWarehouse(database=str(home.env.duckdb_path))
    warehouse.execute("CREATE TABLE t AS SELECT 42 AS answer")
    other = """
        from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse
        from dataforge_assets.lib.warehouse.writer_lock import WarehouseLockTimeout
        reader = DuckDBWarehouse(database={db!r})
        with reader.session(read_only=True):
            print("read", reader.scalar("SELECT answer FROM t"), flush=True)
        writer = DuckDBWarehouse(database={db!r}, lock_timeout_seconds=1, lock_log_interval_seconds=0.2)
        try:
            writer.execute("INSERT INTO t VALUES (1)")
            print("wrote", flush=True)
        except WarehouseLockTimeout as error:
            print("timeout", error, flush=True)
    """
    with warehouse.session(read_only=True):
        assert warehouse.scalar("SELECT answer FROM t") == 42
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(other).format(db=str(home.env.duckdb_path))],
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
        )
    lines = done.stdout.splitlines()
    assert lines[0] == "read 42", done.stdout + done.stderr
    assert lines[1].startswith("timeout") and "read-only session(s)" in lines[1], done.stdout
    # Released: a writer gets in, and a read-only session cannot write.
    warehouse.execute("INSERT INTO t VALUES (7)")
    assert warehouse.scalar("SELECT count(*) FROM t") == 2
    with pytest.raises(Exception, match="read-only"), warehouse.session(read_only=True):
        warehouse.execute("INSERT INTO t VALUES (8)")


def test_postgres_writers_of_one_table_take_turns_and_a_killed_holder_frees_it(postgres_url: str) -> None:
    code = f"""
        import time
        from dataforge_assets.lib.warehouse import PostgresWarehouse
        warehouse = PostgresWarehouse(url={postgres_url!r})
        with warehouse.table_lock("normalized", "flights"):
            print("holding", flush=True)
            time.sleep(600)
    """
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
    )
    waiter = PostgresWarehouse(url=postgres_url, lock_timeout_seconds=1, lock_log_interval_seconds=0.2)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        # Another table is free: no global limit.
        with waiter.table_lock("normalized", "weather"):
            pass
        with pytest.raises(WarehouseLockTimeout, match=f"pid {holder.pid} on host"):
            with waiter.table_lock("normalized", "flights"):
                pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        holder.kill()
        holder.wait()
    # Its connection died with it, and the lock with the connection.
    slow = PostgresWarehouse(url=postgres_url, lock_timeout_seconds=30)
    with slow.table_lock("normalized", "flights"):
        pass
