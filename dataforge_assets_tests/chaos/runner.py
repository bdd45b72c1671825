"""Real `dagster asset materialize` processes, and SIGKILL (or a cut connection) at a chosen moment.

A kill point is a step of the run (raw_flights is dlt's extract, normalize and load; normalized__x a
normalized build; ..._contract a check; stats__x a stats table) plus a random delay after the step's
STEP_START line appears in the run's log.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.partitions import current_month

DAGSTER = Path(sys.executable).with_name("dagster")
# Every asset, for the current month (as automation runs the monthly tables): every new load is built.
SELECT_ALL = [
    "asset",
    "materialize",
    "-m",
    "dataforge_assets",
    "--select",
    "*",
    "--partition",
    current_month(),
]
STEP_START = re.compile(r' - (\S+) - STEP_START - Started execution of step "')
RUN_START = "RUN_START"

# (phase, step whose start opens the kill window)
KILL_POINTS: list[tuple[str, str]] = [
    ("startup", RUN_START),
    ("dlt", "raw_flights"),
    ("dlt", "raw_weather"),
    ("dlt", "raw_reference"),
    ("normalized", "normalized__flights"),
    ("normalized", "normalized__weather"),
    # A normalized table's contract and reconciliation checks run in its own step (normalized_asset.py),
    # a raw table's drift, anomaly and set-aside files checks in its load's (raw_checks.py): the
    # normalized and dlt points cover them. This is a check step of its own.
    ("checks", "normalized__flights_dest_in_airports"),
    ("stats", "stats__route_stats"),
    ("stats", "stats__carrier_daily_performance"),
    ("stats", "stats__platform_run_stats"),
]


@dataclass
class RunOutcome:
    returncode: int | None  # None: killed by us
    seconds: float
    log: Path
    fired: bool  # the kill point was reached and the fault injected

    def text(self) -> str:
        return self.log.read_text(errors="replace")


class Run:
    """One dagster CLI run in its own process group, its log lines both saved and watched."""

    def __init__(self, env: dict[str, str], log: Path, args: list[str] | None = None) -> None:
        self.log = log
        self.started = time.monotonic()
        self._lines: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            [str(DAGSTER), *(args or SELECT_ALL)],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with open(self.log, "w") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                self._lines.put(line)
        self._lines.put("")  # end of output

    def wait_for(self, marker: str, timeout: float) -> bool:
        """Until a line marks `marker` (a step's start, or RUN_START); False if the run ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line == "":
                return False
            if marker == RUN_START and RUN_START in line:
                return True
            started = STEP_START.search(line)
            if started and started.group(1) == marker:
                return True
        return False

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float) -> RunOutcome:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
            code = -999
        self._reader.join(timeout=10)
        return RunOutcome(code, time.monotonic() - self.started, self.log, fired=False)


def run_with_fault(
    env: dict[str, str],
    log: Path,
    marker: str,
    delay: float,
    fault: Callable[[Run], None],
    timeout: float,
) -> RunOutcome:
    """Start a run, inject `fault` `delay` seconds after `marker`; the run is then let finish (a cut
    connection) or is already dead (a kill)."""
    run = Run(env, log)
    fired = False
    if run.wait_for(marker, timeout):
        time.sleep(delay)
        if run.process.poll() is None:
            fault(run)
            fired = True
    outcome = run.finish(timeout)
    outcome.fired = fired
    return outcome


def sigkill(run: Run) -> None:
    run.kill()
