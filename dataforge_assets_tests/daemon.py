"""`dagster-daemon run` as a test's child: its own process group, so nothing it spawned outlives the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
STOP_SECONDS = 60


class Daemon:
    """`dagster-daemon run` in its own process group, so nothing it spawned outlives the test."""

    def __init__(self, workspace: Path, env: dict[str, str], log: Path):
        self.workspace, self.env, self.log = workspace, env, log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "a") as out:
            self.process = subprocess.Popen(
                [BIN / "dagster-daemon", "run", "-w", str(self.workspace)],
                env=self.env,
                cwd=self.workspace.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        """SIGTERM to the daemon and wait (the clean shutdown); kill the whole group if it does not go in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"dagster-daemon did not stop within {STOP_SECONDS}s:\n{self.tail()}"
            ) from None

    def kill(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=STOP_SECONDS)

    def tail(self) -> str:
        return self.log.read_text()[-6000:] if self.log.exists() else ""
