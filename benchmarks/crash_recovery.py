"""Seconds to recover after a kill -9: a CLI run is killed while it holds the DuckDB writer lock and the
next one is launched at once; measured is kill -> the next run holding the lock.
`.venv/bin/python -m benchmarks.crash_recovery`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dataforge_assets.lib.environment import REPO_ROOT, current_environment
from dataforge_assets.lib.warehouse.writer_lock import lock_path_for, read_holder

BIN = Path(sys.executable).parent


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="crash_recovery_"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env |= {"DATAFORGE_HOME": str(root / "home"), "DAGSTER_HOME": str(root / "dagster_home")}
    (root / "dagster_home").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", root / "dagster_home" / "dagster.yaml")
    os.environ.update(env)
    from dataforge_assets_tests.demo_data import land_flights, month_sample

    data = current_environment()
    for month in (1, 2, 3):
        land_flights(data, month, month_sample(month, 300))
    lock = lock_path_for(str(data.duckdb_path))
    assert lock is not None

    def launch(name: str) -> subprocess.Popen:
        command = [
            BIN / "dagster",
            "asset",
            "materialize",
            "-m",
            "dataforge_assets",
            "--select",
            "raw/flights",
        ]
        log = open(root / f"{name}.log", "w")  # noqa: SIM115
        return subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    def holding(process: subprocess.Popen) -> float:
        while not ((h := read_holder(lock)) and h.worker.pid == process.pid):
            if process.poll() is not None:
                raise SystemExit(f"run {process.pid} ended before taking the lock; see {root}")
            time.sleep(0.01)
        return time.monotonic()

    first = launch("killed")
    holding(first)
    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    first.wait()
    second = launch("next")
    locked_at = holding(second)
    assert second.wait() == 0, (root / "next.log").read_text()[-3000:]
    waited = "waiting" in (root / "next.log").read_text()
    # The same run with no crash before it: launch -> lock is start-up alone.
    launched_at = time.monotonic()
    third = launch("baseline")
    baseline = holding(third) - launched_at
    assert third.wait() == 0, (root / "baseline.log").read_text()[-3000:]
    # Launched at the kill, so this is the run's own start-up (Python, Dagster, definitions) plus any wait.
    print(f"kill -9 -> next run holds the writer lock: {locked_at - killed_at:.1f} s (it waited: {waited})")
    print(f"a run with no crash before it, launch -> writer lock: {baseline:.1f} s")
    print(f"load average {os.getloadavg()[0]:.1f}; logs in {root}")


if __name__ == "__main__":
    main()
