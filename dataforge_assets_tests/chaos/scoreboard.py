"""The scoreboard the suite writes to docs/reliability.md: per scenario, what was done and what it cost."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dataforge_assets_tests.chaos.scenarios import Result

HEADER = """# Reliability: the fault-injection scoreboard

Written by the suite itself (`make chaos`, i.e. `python -m dataforge_assets_tests.chaos`); do not edit by
hand. Every fault is real: `dagster asset materialize -m dataforge_assets --select '*'` processes killed
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


def render(results: Sequence[Result], command: str, seed: int) -> str:
    lines = [
        HEADER,
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `{command}`; seed {seed}",
        f"- machine: {platform.platform()}, Python {sys.version.split()[0]}",
        "",
        "| scenario | warehouse | runs | faults | faults per phase | lost | duplicated | stale | split loads "
        "| stats off | failed clean runs | lock errors | recover (s) | result |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        phases = ", ".join(f"{p} {n}" for p, n in sorted(r.faults_by_phase.items())) or "-"
        f = r.findings
        lines.append(
            f"| {r.scenario} | {r.warehouse} | {r.runs} | {r.faults} | {phases} | {f.lost} | {f.duplicated} "
            f"| {f.stale} | {f.misplaced_loads} | {f.stats_mismatches} | {r.clean_runs_failed} | {r.lock_errors} "
            f"| {r.recovery} | {'exact' if r.passed else 'FAILED'} |"
        )
    notes = [f"- {r.scenario} ({r.warehouse}): {n}" for r in results for n in r.findings.notes]
    if notes:
        lines += ["", "## Findings", "", *notes]
    return "\n".join(lines) + "\n"


def write(path: Path, results: Sequence[Result], command: str, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, command, seed))
