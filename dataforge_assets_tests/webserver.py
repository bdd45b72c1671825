"""A real `dagster-webserver` for the GraphQL and browser tests: own DAGSTER_HOME, own data home, free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from dataforge_assets.lib.environment import REPO_ROOT

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 180


@dataclass(frozen=True)
class Webserver:
    url: str
    port: int
    dagster_home: Path
    data_home: Path
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_webserver(
    root: Path, extra_env: dict[str, str] | None = None, workspace: Path = REPO_ROOT / "workspace.yaml"
) -> Iterator[Webserver]:
    """Start dagster-webserver on 127.0.0.1 with the embedded instance; stop it, and what it spawned, after.

    Launched runs start at once (DefaultRunCoordinator) and no daemon runs: with one, the platform's own
    sensors and automation would launch runs of their own and race the runs a test launches and reads.
    """
    dagster_home, data_home = root / "dagster_home", root / "data"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    config["run_coordinator"] = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "DATAFORGE_HOME": str(data_home),
        "DATAFORGE_WAREHOUSE": "duckdb",
        **(extra_env or {}),
    }
    log = root / "webserver.log"
    webserver = _start([BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(port)], env, log, workspace)
    server = Webserver(f"http://127.0.0.1:{port}", port, dagster_home, data_home, log)
    try:
        _wait_until_loaded(server, webserver)
        yield server
    finally:
        _stop(webserver)


def _start(command: list[Any], env: dict[str, str], log: Path, workspace: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*command, "-w", str(workspace)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with everything it spawned
        )


def _wait_until_loaded(server: Webserver, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"dagster-webserver exited with {proc.returncode}:\n{server.log.read_text()[-3000:]}"
            )
        try:
            reply = requests.post(f"{server.url}/graphql", json={"query": query}, timeout=5).json()
            entries = reply["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (requests.RequestException, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(
        f"dagster-webserver not ready in {STARTUP_SECONDS}s:\n{server.log.read_text()[-3000:]}"
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
