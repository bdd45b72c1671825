"""The fixed cost of a normalized build with nothing new (issue #16): this checkout against another.

`python -m benchmarks.fixed_cost --rows 1000000 --pairs 5 --before /work/main` loads the scaled flights
into a DuckDB and a PostgreSQL warehouse once (kept under benchmarks/.data/ for the next run), then times
`normalize.build` of normalized/flights with no new raw load, with the code of `--before` and of this
checkout in turn: interleaved pairs on the same warehouse, order alternating, each in a fresh process.
`--row-hash` also times the scd2 row hash of the same rows (lib/sources/history.py) the same way.
Prints each pair's ratio (after / before: below 1 is faster) and the median. Writes no RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.cases.postgres_load import DSN
from benchmarks.datagen import DATA_ROOT, data_set
from benchmarks.measure import RESULT_PREFIX, in_subprocess

HERE = Path(__file__).resolve().parent.parent
CASES = HERE / "benchmarks" / "cases"


def prepared_home(rows: int, root: Path, warehouse: str, timeout: float) -> tuple[Path, str | None]:
    """A data home (and PostgreSQL URL) where raw and normalized flights are loaded; made once."""
    home = root / f"noop_{warehouse}_{rows}"
    url = None
    if warehouse == "postgres":
        url = _database(f"dataforge_bench_noop_{rows}", fresh=not (home / "prepared").exists())
    if not (home / "prepared").exists():
        data = data_set(rows, root)
        figures = in_subprocess("noop_prepare", timeout, home=home, files=data.base, postgres_url=url)
        print(f"  prepared {warehouse} in {figures['seconds']:.0f} s: {figures['counts']}", flush=True)
        (home / "prepared").write_text(json.dumps(figures["counts"]))
    return home, url


def _database(name: str, fresh: bool) -> str:
    import psycopg2

    admin = psycopg2.connect(DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        if fresh:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    params = dict(part.split("=", 1) for part in DSN.split())
    return f"postgresql://{params['user']}@{params['host']}:{params.get('port', 5432)}/{name}"


def run_case(script: str, code: Path, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """A case script of benchmarks/cases run with `code`'s dataforge_assets first on the path, in a
    fresh interpreter."""
    done = subprocess.run(
        [sys.executable, str(CASES / script), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{script} with {code} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    figures = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    if Path(figures["code"]).resolve() != code.resolve():
        raise RuntimeError(f"ran the code of {figures['code']}, not {code}")
    return figures


def compare(script: str, args: dict[str, Any], before: Path, pairs: int, timeout: float) -> None:
    """`pairs` interleaved runs of the case with each code; the first timing of a process is its cold one."""
    for code in (before, HERE):  # unmeasured: the first build of each version may record bookkeeping
        run_case(script, code, args, timeout)
    warm, cold = [], []
    for pair in range(pairs):
        order = [before, HERE] if pair % 2 == 0 else [HERE, before]
        runs = {code: run_case(script, code, args, timeout) for code in order}
        old, new = runs[before], runs[HERE]
        warm.append(new["warm_median"] / old["warm_median"])
        cold.append(new["seconds"][0] / old["seconds"][0])
        print(
            f"  pair {pair + 1}/{pairs}: before {_seconds(old)}, after {_seconds(new)}: "
            f"ratio warm {warm[-1]:.3f}, first in the process {cold[-1]:.3f}",
            flush=True,
        )
    print(
        f"  median ratio after/before: warm {statistics.median(warm):.3f}, "
        f"first in the process {statistics.median(cold):.3f} ({pairs} pairs)",
        flush=True,
    )


def _seconds(figures: dict[str, Any]) -> str:
    return "/".join(f"{s:.3f}" for s in figures["seconds"]) + " s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--before", type=Path, required=True, help="checkout whose code is the baseline")
    parser.add_argument("--pairs", type=int, default=5, help="interleaved before/after pairs")
    parser.add_argument("--builds", type=int, default=4, help="builds per process (the first is cold)")
    parser.add_argument(
        "--warehouses", nargs="*", default=["duckdb", "postgres"], choices=["duckdb", "postgres"]
    )
    parser.add_argument("--row-hash", action="store_true", help="also time the scd2 row hash")
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="where generated data and work go")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per process")
    args = parser.parse_args(argv)
    for warehouse in args.warehouses:
        print(f"{warehouse}, {args.rows} rows: no-op build of normalized/flights, {args.before} vs {HERE}")
        home, url = prepared_home(args.rows, args.data, warehouse, args.timeout)
        case = {"home": str(home), "postgres_url": url, "builds": args.builds}
        compare("noop_build.py", case, args.before, args.pairs, args.timeout)
    if args.row_hash:
        print(f"{args.rows} rows: scd2 row hash (with_row_hash), {args.before} vs {HERE}")
        files = [str(f) for f in data_set(args.rows, args.data).base]
        compare("row_hash.py", {"files": files, "repeat": 3}, args.before, args.pairs, args.timeout)


if __name__ == "__main__":
    main()
