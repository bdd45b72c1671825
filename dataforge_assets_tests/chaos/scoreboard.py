"""The scoreboard the suite writes to docs/reliability.md: per scenario, what was done and what it cost."""

from __future__ import annotations

import fcntl
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dataforge_assets_tests.chaos.scenarios import Result

HEADER = """# Reliability: the fault-injection scoreboard

Written by the suite itself (`make chaos`, i.e. `python -m dataforge_assets_tests.chaos`); do not edit by
hand. Every fault is real: `dagster asset materialize -m dataforge_assets --select '*' --partition <current month>` processes killed
with SIGKILL at a random delay after a chosen step starts (dlt extract/normalize/load in `raw_*`,
normalized builds, checks, stats), PostgreSQL backends terminated with `pg_terminate_backend`, two
materializations plus a sensor-launched run at once. Before every run something new lands (a month file
re-delivered with changed values, sometimes a new month, more weather hours), so every phase has work.
After each series one clean run; then the warehouse is compared with the landed CSV files read directly
(and the weather rows the replay server served):

- **lost**: rows of the files missing from raw, or from normalized + quarantine;
- **duplicated**: rows present more than once, or present but in no file;
- **stale**: normalized/quarantined rows that are not the newest delivery's version;
- **split loads**: raw loads whose rows are not all in normalized + quarantine (raw = normalized +
  quarantined, per load);
- **stats off**: `stats.route_stats` / `stats.carrier_daily_performance` rows that differ from a
  recomputation from the files;
- **recover (s)**: wall time of the clean run after a series (median / max), dagster start-up included.
"""


TABLE_HEAD = [
    "| scenario | warehouse | runs | faults | faults per phase | lost | duplicated | stale | split loads "
    "| stats off | failed clean runs | lock errors | recover (s) | result |",
    "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
]


def _row(r: Result) -> str:
    phases = ", ".join(f"{p} {n}" for p, n in sorted(r.faults_by_phase.items())) or "-"
    f = r.findings
    return (
        f"| {r.scenario} | {r.warehouse} | {r.runs} | {r.faults} | {phases} | {f.lost} | {f.duplicated} "
        f"| {f.stale} | {f.misplaced_loads} | {f.stats_mismatches} | {r.clean_runs_failed} | {r.lock_errors} "
        f"| {r.recovery} | {'exact' if r.passed else 'FAILED'} |"
    )


def render(results: Sequence[Result], command: str, seed: int, keep: str = "") -> str:
    """The scoreboard of `results`, keeping what `keep` (the file as it was) says about other warehouses,
    so one process per warehouse can share the file."""
    mine = {r.warehouse for r in results}
    runs, rows, notes = [], [], []
    for line in keep.splitlines():
        if line.startswith("- run on ") and line.split()[3].rstrip(":") not in mine:
            runs.append(line)
        elif line.startswith("| ") and line not in TABLE_HEAD and line.split(" | ")[1] not in mine:
            rows.append(line)
        elif line.startswith("- [") and line[3:].split("]")[0] not in mine:
            notes.append(line)
    machine = f"{platform.platform()}, Python {sys.version.split()[0]}"
    for warehouse in sorted(mine):
        runs.append(
            f"- run on {warehouse}: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command}`, seed {seed}, {machine}"
        )
    rows += [_row(r) for r in results]
    notes += [f"- [{r.warehouse}] {r.scenario}: {n}" for r in results for n in r.findings.notes]
    lines = [HEADER, *sorted(runs), "", *TABLE_HEAD, *rows]
    if notes:
        lines += ["", "## Findings", "", *notes]
    return "\n".join(lines) + "\n"


def write(path: Path, results: Sequence[Result], command: str, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / f"dataforge_chaos_{path.stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two suites (one per warehouse) may write at once
        keep = path.read_text() if path.exists() else ""
        path.write_text(render(results, command, seed, keep))
