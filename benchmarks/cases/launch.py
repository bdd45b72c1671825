"""Launch latency: a one-step run launched through the GraphQL API, from the launch to its STEP_START.

A real `dagster-webserver` and `dagster-daemon` on 127.0.0.1 with the repo's dagster.yaml (the run
queue, run monitoring, retries) and workspace.yaml; dagster_graphql's client launches
`stats/platform_run_stats` (one step, ~0.5-1 s of work) and the run's own events say when its step started.
What the wait holds: the queue daemon's next look at the queue, the run launcher starting the run worker
(forked from its warm forkserver, or, for the first run after the daemon starts, a fresh interpreter the
code server spawns: each run says which), the worker loading the definitions, the run's start.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.cases.process import BIN, REPO, _environment

ASSET = ["stats", "platform_run_stats"]
STARTUP_SECONDS = 300
RUN_SECONDS = 300


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)  # its own process group: the code servers it spawned go too
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def _wait_ready(client: Any, webserver: subprocess.Popen, daemon: subprocess.Popen, logs: Path) -> None:
    """The location is loaded and the daemon's run queue is heartbeating."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } }
      instance { daemonHealth { daemonStatus(daemonType: "QUEUED_RUN_COORDINATOR") { healthy } } } }"""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for process in (webserver, daemon):
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited: see {logs}")
        try:
            data = client._execute(query)
            entries = data["workspaceOrError"]["locationEntries"]
            healthy = data["instance"]["daemonHealth"]["daemonStatus"]["healthy"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries) and healthy:
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(1)
    raise TimeoutError(f"webserver/daemon not ready in {STARTUP_SECONDS}s: see {logs}")


def _step_start_seconds(instance: Any, run_id: str, launched_at: float) -> dict[str, Any]:
    """Seconds from the launch to the run's milestones, from the run's own events."""
    from dagster import DagsterEventType, DagsterRunStatus

    from dataforge_assets.lib.operations.forked_run_launcher import FORKED, LAUNCHER_TAG

    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE):
            break
        time.sleep(0.5)
    else:
        raise TimeoutError(f"run {run_id} did not finish in {RUN_SECONDS}s")
    if run.status != DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"run {run_id} failed")
    firsts: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        name = event.event_type_value
        if name == DagsterEventType.ENGINE_EVENT.value and (event.message or "").startswith(
            "Started process"
        ):
            name = "WORKER_STARTED"  # the run worker process is up: Dagster imported, the instance open
        firsts.setdefault(name, record.timestamp)
    return {
        "worker": "forked" if run.tags.get(LAUNCHER_TAG) == FORKED else "code server",
        "enqueued": firsts[DagsterEventType.RUN_ENQUEUED.value] - launched_at,
        "dequeued": firsts[DagsterEventType.RUN_STARTING.value] - launched_at,
        "worker_started": firsts.get("WORKER_STARTED", float("nan")) - launched_at,
        "run_start": firsts[DagsterEventType.RUN_START.value] - launched_at,
        "step_start": firsts[DagsterEventType.STEP_START.value] - launched_at,
        "run_end": firsts[DagsterEventType.RUN_SUCCESS.value] - launched_at,
    }


def _import_dagster_seconds(env: dict[str, str]) -> float:
    """The floor of any run worker: a fresh interpreter importing Dagster (timed beside each launch)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import dagster"], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def launch_latency(home: Path, repeat: int = 3) -> dict[str, Any]:
    """Median seconds from a GraphQL launch of a one-step run to its STEP_START, over `repeat` runs."""
    from dagster import DagsterInstance
    from dagster_graphql import DagsterGraphQLClient

    env = _environment(home)
    port = _free_port()
    workspace = ["-w", str(REPO / "workspace.yaml")]
    runs: list[dict[str, float]] = []
    with ExitStack() as stack:
        # The instance's SQLite storage is made here first: processes creating it at once can race.
        os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
        instance = stack.enter_context(DagsterInstance.get())
        webserver = _start(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), *workspace],
            env,
            home / "webserver.log",
        )
        stack.callback(_stop, webserver)
        daemon = _start([str(BIN / "dagster-daemon"), "run", *workspace], env, home / "daemon.log")
        stack.callback(_stop, daemon)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        _wait_ready(client, webserver, daemon, home)
        for _ in range(repeat):
            bare = _import_dagster_seconds(env)
            launched_at = time.time()
            run_id = client.submit_job_execution("__ASSET_JOB", asset_selection=[ASSET])
            runs.append({**_step_start_seconds(instance, run_id, launched_at), "import_dagster": bare})
    median = statistics.median(r["step_start"] for r in runs)
    return {
        "seconds": median,
        "import_dagster_seconds": statistics.median(r["import_dagster"] for r in runs),
        "runs": runs,
        "command": "DagsterGraphQLClient.submit_job_execution('__ASSET_JOB', asset_selection=[stats/platform_run_stats])"
        " against dagster-webserver + dagster-daemon (dagster.yaml, workspace.yaml)",
        "sample_rows": 0,
    }


if __name__ == "__main__":  # python -m benchmarks.cases.launch [home]
    import json
    import tempfile

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="launch_"))
    print(json.dumps(launch_latency(root), indent=1))
