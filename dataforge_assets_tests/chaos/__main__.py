"""`python -m dataforge_assets_tests.chaos [--kills 100] [--warehouses duckdb postgres]` (`make chaos`).

Runs the scenarios per warehouse, prints each result as it comes, and rewrites docs/reliability.md
after every scenario (so a long run that is stopped still leaves what it measured). Exit code 1 when
any scenario found a row lost, duplicated or stale, a split load, wrong stats or a lock error.
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets_tests.chaos import scoreboard
from dataforge_assets_tests.chaos.lab import lab
from dataforge_assets_tests.chaos.scenarios import (
    Result,
    concurrent_writers,
    connection_cuts,
    kill_series,
    start,
)

SCOREBOARD = REPO_ROOT / "docs" / "reliability.md"


def run_suite(
    root: Path,
    warehouses: list[str],
    kills: int,
    series: int,
    cuts: int,
    concurrent: bool,
    seed: int,
    max_delay: float,
    report: Path | None = None,
    command: str = "",
) -> list[Result]:
    rng = random.Random(seed)
    results: list[Result] = []

    def progress(result: Result) -> None:
        """A series ended: the scoreboard shows the scenario so far (a stopped run keeps its figures)."""
        if report is not None:
            scoreboard.write(report, [*results, result], command, seed)

    def record(result: Result) -> None:
        results.append(result)
        f = result.findings
        print(
            f"[{time.strftime('%H:%M:%S')}] {result.warehouse}: {result.scenario}: {result.runs} runs, "
            f"{result.faults} faults, lost {f.lost}, duplicated {f.duplicated}, stale {f.stale}, "
            f"split loads {f.misplaced_loads}, stats off {f.stats_mismatches}, lock errors {result.lock_errors}, "
            f"recover {result.recovery} s -> {'exact' if result.passed else 'FAILED'}",
            flush=True,
        )
        for note in f.notes:
            print(f"    {note}", flush=True)
        if report is not None:
            scoreboard.write(report, results, command, seed)

    for warehouse in warehouses:
        with lab(root / warehouse, warehouse) as here:
            start(here)
            if kills:
                record(kill_series(here, kills, series, rng, max_delay, progress=progress))
            if warehouse == "postgres" and cuts:
                record(connection_cuts(here, cuts, rng, max_delay))
            if concurrent:
                record(concurrent_writers(here, rng))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--warehouses", nargs="+", default=["duckdb", "postgres"], choices=["duckdb", "postgres"]
    )
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs per warehouse")
    parser.add_argument("--series", type=int, default=10, help="kills between two clean runs")
    parser.add_argument("--cuts", type=int, default=10, help="PostgreSQL connection cuts")
    parser.add_argument("--no-concurrent", action="store_true", help="skip the concurrent-writers scenario")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--max-delay", type=float, default=2.0, help="longest wait after a step starts (s)")
    parser.add_argument("--report", type=Path, default=SCOREBOARD)
    parser.add_argument("--root", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)
    command = "python -m dataforge_assets_tests.chaos " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    with tempfile.TemporaryDirectory(prefix="dataforge_chaos_") as tmp:
        results = run_suite(
            args.root or Path(tmp),
            args.warehouses,
            args.kills,
            args.series,
            args.cuts,
            not args.no_concurrent,
            args.seed,
            args.max_delay,
            args.report,
            command.strip(),
        )
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
