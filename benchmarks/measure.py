"""Run one case in a fresh process, so its peak RSS is its own: `python -m benchmarks.measure CASE JSON`
(JSON `-`: read from stdin).

The child prints one JSON line: the case's figures plus `peak_rss_mb` (getrusage of the child itself).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CASES = {
    "pipeline": ("benchmarks.cases.pipeline", "materialize"),
    "duckdb_native": ("benchmarks.cases.duckdb_native", "run"),
    "polars_native": ("benchmarks.cases.polars_native", "run"),
    "pipeline_process": ("benchmarks.cases.process", "materialize"),
    "definitions_load": ("benchmarks.cases.process", "definitions_load"),
    "launch_floor": ("benchmarks.cases.process", "launch_floor"),
    "launch_latency": ("benchmarks.cases.launch", "launch_latency"),
    "pg_plain_copy": ("benchmarks.cases.postgres_load", "plain_copy"),
    "dlt_naive": ("benchmarks.cases.dlt_naive", "run"),
    "pg_executemany": ("benchmarks.cases.postgres_load", "executemany_upsert"),
    "pg_copy": ("benchmarks.cases.postgres_load", "copy_upsert"),
    "pg_warehouse": ("benchmarks.cases.postgres_load", "warehouse_load"),
    "noop_prepare": ("benchmarks.cases.noop_build", "prepare"),
}
RESULT_PREFIX = "BENCHMARK-RESULT "


def in_subprocess(case: str, timeout: float, **kwargs: Any) -> dict[str, Any]:
    """Run `case` with kwargs (paths as strings) in a child interpreter; returns its figures."""
    args = {
        k: [str(p) for p in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v
        for k, v in kwargs.items()
    }
    # The arguments go through stdin: a 100M-row data set is thousands of file paths, too long for argv.
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.measure", case, "-"],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).parent.parent,
    )
    process_seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"case {case} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    figures = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    # The whole child process (interpreter start, imports, the case): what a user would wait for.
    figures["process_seconds"] = process_seconds
    return figures


def own_peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM). getrusage's ru_maxrss is not used: Linux carries
    the forking parent's peak over exec, so every case would report at least the runner's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the best there is


def _main() -> None:
    import importlib

    case, text = sys.argv[1], sys.argv[2]
    raw = json.loads(sys.stdin.read() if text == "-" else text)
    module, function = CASES[case]
    kwargs = {
        k: [Path(p) for p in v] if k == "files" else Path(v) if k == "home" else v for k, v in raw.items()
    }
    figures = getattr(importlib.import_module(module), function)(**kwargs)
    figures["peak_rss_mb"] = figures.pop("child_peak_rss_mb", None) or own_peak_rss_mb()
    print(RESULT_PREFIX + json.dumps(figures), flush=True)


if __name__ == "__main__":
    _main()
