"""The forked run launcher (lib/operations/forked_run_launcher.py) in a real dagster-webserver.

Runs of a location in this interpreter fork from the warm forkserver (the first, while it warms, goes to
the code server). A forked worker stays as safe as a spawned one: killed -9, its run fails and says why;
terminated from the API, its run is canceled; the forkserver's own death leaves running workers alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.operations.forked_run_launcher import (
    FORKED,
    LAUNCHER_TAG,
    PRELOAD,
    ForkedRunLauncher,
)
from dataforge_assets.lib.worker_process import Worker
from dataforge_assets_tests.launcher_location import GATE_ENV
from dataforge_assets_tests.webserver import Webserver, running_webserver

LOCATION = "launcher_test"
WAIT_SECONDS = 300  # generous bounds for a loaded 2-core machine; every wait ends as soon as it can


@dataclass(frozen=True)
class Launcher:
    server: Webserver
    client: Any
    instance: dg.DagsterInstance
    gate: Path

    def launch(self, asset: str) -> str:
        return self.client.submit_job_execution(
            "__ASSET_JOB", repository_location_name=LOCATION, asset_selection=[[asset]]
        )

    def run(self, run_id: str) -> dg.DagsterRun:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run

    def wait(self, what: str, until: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if (found := until()) is not None:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {WAIT_SECONDS}s:\n{self.server.log.read_text()[-4000:]}")

    def finished(self, run_id: str) -> dg.DagsterRun:
        return self.wait(f"end of run {run_id}", lambda: r if (r := self.run(run_id)).is_finished else None)

    def held_worker(self, run_id: str) -> int:
        """The pid of the `held` asset's worker, once it is inside the asset."""
        started = self.gate / f"{run_id}.started"
        return self.wait(
            f"run {run_id} in its asset", lambda: int(started.read_text()) if started.exists() else None
        )

    def release(self, run_id: str) -> None:
        (self.gate / f"{run_id}.release").touch()

    def messages(self, run_id: str) -> str:
        return " ".join(str(e.message) for e in self.instance.all_logs(run_id))


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    from dagster_graphql import DagsterGraphQLClient

    root = tmp_path_factory.mktemp("forked_launcher")
    gate = root / "gate"
    gate.mkdir()
    workspace = root / "workspace.yaml"
    location = {
        "module_name": "dataforge_assets_tests.launcher_location",
        "working_directory": str(REPO_ROOT),
        "location_name": LOCATION,
    }
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    # The repo's dagster.yaml (its run launcher), runs launched by the webserver at once.
    with running_webserver(root, {GATE_ENV: str(gate)}, workspace) as server:
        with dg.DagsterInstance.from_config(str(server.dagster_home)) as instance:
            client = DagsterGraphQLClient("127.0.0.1", port_number=server.port, timeout=60)
            yield Launcher(server, client, instance, gate)


@pytest.fixture(scope="module")
def warm(launcher: Launcher) -> list[dg.DagsterRun]:
    """Quick runs until one is forked: the first goes to the code server while the forkserver warms."""
    runs: list[dg.DagsterRun] = []
    while not runs or runs[-1].tags.get(LAUNCHER_TAG) != FORKED:
        assert len(runs) < 10, [r.tags for r in runs]
        runs.append(launcher.finished(launcher.launch("quick")))
    return runs


def test_the_repo_instances_use_the_forked_launcher(tmp_path: Path) -> None:
    for config in (REPO_ROOT / "dagster.yaml", REPO_ROOT / "deploy" / "postgres" / "dagster.yaml"):
        assert yaml.safe_load(config.read_text())["run_launcher"]["class"] == "ForkedRunLauncher"
    (tmp_path / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_launcher, ForkedRunLauncher)


def _run_of(executable: str | None) -> dg.DagsterRun:
    origin = None
    if executable is not None:
        pointer = ModuleCodePointer("dataforge_assets", "load_definitions", str(REPO_ROOT))
        origin = JobPythonOrigin("__ASSET_JOB", RepositoryPythonOrigin(executable, pointer))
    return dg.DagsterRun(job_name="__ASSET_JOB", job_code_origin=origin)


def test_the_forkservers_preload_starts_no_thread() -> None:
    """Workers are forked from the forkserver: a thread running there at the fork (polars' pool, say)
    would be missing in the child, holding whatever lock it held."""
    imports = "; ".join(f"import {module}" for module in PRELOAD if module != "__main__")
    done = subprocess.run(
        [sys.executable, "-c", f"{imports}; import os; print(len(os.listdir('/proc/self/task')))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split()[-1] == "1", done.stdout
    # The check can fail: polars would start its pool.
    threaded = subprocess.run(
        [sys.executable, "-c", "import polars, os; print(len(os.listdir('/proc/self/task')))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert threaded.stdout.split()[-1] != "1"


def test_only_runs_of_this_interpreter_are_forked() -> None:
    assert ForkedRunLauncher._forks(_run_of(sys.executable))
    assert not ForkedRunLauncher._forks(_run_of("/opt/other-venv/bin/python"))  # the code server's job
    assert not ForkedRunLauncher._forks(_run_of(None))


def test_runs_fork_from_the_warm_forkserver(launcher: Launcher, warm: list[dg.DagsterRun]) -> None:
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in warm), launcher.server.log.read_text()[-4000:]
    assert LAUNCHER_TAG not in warm[0].tags  # launched while the forkserver warmed: the code server's worker
    forked = warm[-1]
    worker = Worker.from_tags(dict(forked.tags))
    assert worker is not None and f"Started process for run (pid: {worker.pid})" in launcher.messages(
        forked.run_id
    )

    run_id = launcher.launch("held")
    pid = launcher.held_worker(run_id)
    # Tagged at launch with the process that executes it, a child of Python's forkserver.
    tagged = Worker.from_tags(dict(launcher.run(run_id).tags))
    assert tagged is not None and (tagged.pid, tagged.host) == (pid, worker.host) and tagged.alive()
    assert "multiprocessing.forkserver" in _command(_parent(pid))
    launcher.release(run_id)
    assert launcher.finished(run_id).status == dg.DagsterRunStatus.SUCCESS


def test_a_killed_forked_worker_fails_its_run_saying_why(launcher: Launcher, warm: list) -> None:
    run_id = launcher.launch("held")
    pid = launcher.held_worker(run_id)
    os.kill(pid, signal.SIGKILL)
    run = launcher.finished(run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert "terminated by signal 9" in launcher.messages(run_id)


def test_terminating_a_forked_run_cancels_it(launcher: Launcher, warm: list) -> None:
    run_id = launcher.launch("held")
    pid = launcher.held_worker(run_id)
    launcher.client.terminate_run(run_id)
    assert launcher.finished(run_id).status == dg.DagsterRunStatus.CANCELED
    launcher.wait("the worker's exit", lambda: True if not Path(f"/proc/{pid}").exists() else None)


def test_the_forkservers_death_leaves_running_workers_alone(launcher: Launcher, warm: list) -> None:
    run_id = launcher.launch("held")
    pid = launcher.held_worker(run_id)
    forkserver = _parent(pid)
    assert "multiprocessing.forkserver" in _command(forkserver)
    os.kill(forkserver, signal.SIGKILL)
    launcher.wait("the forkserver's end", lambda: True if _parent(pid) != forkserver else None)
    launcher.release(run_id)
    assert launcher.finished(run_id).status == dg.DagsterRunStatus.SUCCESS
    # The launcher saw its worker's exit report vanish with the forkserver, and did not take it for a death.
    events = [e.dagster_event.event_type for e in launcher.instance.all_logs(run_id) if e.dagster_event]
    assert dg.DagsterEventType.RUN_FAILURE not in events
    # The next run starts a new forkserver and forks from it.
    after = launcher.finished(launcher.launch("quick"))
    assert after.status == dg.DagsterRunStatus.SUCCESS and after.tags.get(LAUNCHER_TAG) == FORKED
