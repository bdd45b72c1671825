"""The benchmark: `python -m benchmarks.run --rows 1000000 10000000` (or `make bench`).

Generates (or reuses) scaled flights data, measures every case in its own process on the same files,
prints the results and writes them to benchmarks/RESULTS.md. Speed is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from benchmarks.cases.postgres_load import warehouse_available
from benchmarks.datagen import DATA_ROOT, data_set
from benchmarks.measure import in_subprocess
from benchmarks.report import Measurement, render

RESULTS = Path(__file__).parent / "RESULTS.md"


# name -> (case in benchmarks.measure, extra kwargs); the run order interleaves baselines and pipeline.
TIMED = {
    "duckdb_native": ("duckdb_native", {}),
    "duckdb_naive": ("duckdb_native", {"script": "duckdb_naive"}),
    "polars_native": ("polars_native", {}),
    "pipeline": ("pipeline", {}),
    "incremental": ("pipeline", {}),
    "pipeline_process": ("pipeline_process", {}),
    "incremental_process": ("pipeline_process", {}),
}


def measure_scale(
    rows: int,
    root: Path,
    timeout: float,
    profiles: Path | None = None,
    repeat: int = 1,
    cases: tuple[str, ...] = tuple(TIMED),
) -> list[Measurement]:
    """Each case `repeat` times, interleaved (native, naive, polars, pipeline, ..., native, ...) so a
    change in the shared machine's speed hits both sides of a ratio; the median run is reported.

    `pipeline`/`incremental` time the materialization inside one process; `pipeline_process` and
    `incremental_process` time the CLI command a user runs, cold, start-up and definitions included.
    """
    data = data_set(rows, root)
    print(f"[{data.rows:,} rows] {len(data.base)} monthly files; measuring {repeat}x...", flush=True)
    figures: dict[str, list[dict]] = {name: [] for name in cases}
    for attempt in range(repeat):
        work = root / f"work_{data.rows}"
        shutil.rmtree(work, ignore_errors=True)
        home, cli_home = work / "home", work / "cli_home"
        homes = {
            "duckdb_native": work / "native",
            "duckdb_naive": work / "naive",
            "polars_native": work / "polars",
            "pipeline": home,
            "incremental": home,
            "pipeline_process": cli_home,
            "incremental_process": cli_home,
        }
        for name in cases:
            case, extra = TIMED[name]
            files = [*data.base, data.extra] if name.startswith("incremental") else data.base
            kwargs = dict(home=homes[name], files=files, **extra)
            if profiles and case == "pipeline" and attempt == 0:
                kwargs["profile"] = profiles / f"{name}_{data.rows}.txt"
            figures[name].append(in_subprocess(case, timeout, **kwargs))
            seconds = figures[name][-1]["seconds"]
            print(f"  {name:20} run {attempt + 1}/{repeat}: {seconds:8.2f} s", flush=True)
        shutil.rmtree(work, ignore_errors=True)
    results = []
    for name in cases:
        case_rows = data.extra_rows if name.startswith("incremental") else data.rows
        results.append(Measurement(name, data.rows, case_rows, median_run(figures[name])))
        print(f"  {results[-1].line()}", flush=True)
    return results


def measure_fixed_cost(root: Path, rows: int, timeout: float, repeat: int = 3) -> list[Measurement]:
    """Before any row moves: definitions loading (the listing command's wall minus a bare `import
    dagster`'s), the CLI run's floor (the same command on a one-asset project) and a UI/GraphQL-launched
    one-step run's wait from launch to its first step."""
    data = data_set(rows, root)
    results = []
    for case in ("definitions_load", "launch_floor", "launch_latency"):
        work = root / f"work_{case}"
        shutil.rmtree(work, ignore_errors=True)
        figures = in_subprocess(case, timeout, home=work, repeat=repeat)
        shutil.rmtree(work, ignore_errors=True)
        results.append(Measurement(case, data.rows, 0, figures))
        print(f"  {results[-1].line()}", flush=True)
    return results


def median_run(runs: list[dict]) -> dict:
    """The run with the median time (its steps and counts), with every run's seconds and the highest
    peak RSS of them all."""
    ordered = sorted(runs, key=lambda figures: figures["seconds"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs_seconds"] = [figures["seconds"] for figures in runs]
    chosen["peak_rss_mb"] = max(figures["peak_rss_mb"] for figures in runs)
    return chosen


def measure_per_row(rows: int, root: Path, sample: int, pg_rows: int, timeout: float) -> list[Measurement]:
    """Cases too slow to run at scale: measured on a sample of the same files, compared per row."""
    data = data_set(rows, root)
    work = root / "work_sample"
    shutil.rmtree(work, ignore_errors=True)
    runs = [
        ("dlt_naive", dict(home=work / "naive", files=data.base, sample_rows=min(sample, data.rows))),
        ("pg_executemany", dict(files=data.base, rows=min(pg_rows, data.rows))),
        ("pg_copy", dict(files=data.base, rows=min(pg_rows, data.rows))),
        # The yardstick of the warehouse load: the whole data set COPY'd as it is.
        ("pg_plain_copy", dict(files=data.base)),
    ]
    results = []
    if warehouse_available():
        # The project's own load (dlt -> CSV -> COPY -> merge) on the whole data set, compared per row.
        runs.append(("pg_warehouse", dict(home=work / "pg_home", files=data.base)))
    for name, kwargs in runs:
        figures = in_subprocess(name, timeout, **kwargs)
        results.append(Measurement(name, data.rows, figures["sample_rows"], figures))
        print(f"  {results[-1].line()}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return results


def measure_postgres(rows: int, root: Path, repeat: int, timeout: float) -> None:
    """Only the PostgreSQL warehouse load against plain COPY, `repeat` interleaved pairs; prints each
    pair's ratio (COPY seconds / warehouse seconds = rows/s ratio) and the median. Writes no RESULTS.md."""
    data = data_set(rows, root)
    ratios = []
    for attempt in range(repeat):
        work = root / "work_pg"
        shutil.rmtree(work, ignore_errors=True)
        copy = in_subprocess("pg_plain_copy", timeout, files=data.base)
        load = in_subprocess("pg_warehouse", timeout, home=work / "pg_home", files=data.base)
        shutil.rmtree(work, ignore_errors=True)
        ratios.append(copy["seconds"] / load["seconds"])
        steps = ", ".join(f"{k} {v:.1f}" for k, v in load["steps"].items())
        print(
            f"  run {attempt + 1}/{repeat}: COPY {copy['seconds']:.2f} s, warehouse {load['seconds']:.2f} s "
            f"({steps}): ratio {ratios[-1]:.3f}",
            flush=True,
        )
    print(f"  median ratio {sorted(ratios)[(len(ratios) - 1) // 2]:.3f} over {repeat} runs", flush=True)


def main(argv: list[str] | None = None) -> list[Measurement]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--dlt-sample", type=int, default=20_000, help="rows for the naive dlt baseline")
    parser.add_argument("--pg-rows", type=int, default=100_000, help="rows for each PostgreSQL load")
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="where generated data and work go")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--profile", type=Path, help="write pyinstrument call trees of the pipeline runs here"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per case")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each timed case per scale; the median is reported"
    )
    parser.add_argument(
        "--postgres-only",
        action="store_true",
        help="only the PostgreSQL warehouse load vs plain COPY, printed (RESULTS.md is not written)",
    )
    parser.add_argument(
        "--cases",
        default=",".join(TIMED),
        help="the timed cases to run at each scale, comma-separated (e.g. duckdb_native,pipeline_process "
        "for a 100M run, where the naive script would need tens of GB)",
    )
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help="only the timed cases at each scale: no fixed-cost, per-row or PostgreSQL cases",
    )
    args = parser.parse_args(argv)
    cases = tuple(args.cases.split(","))
    if unknown := set(cases) - set(TIMED):
        parser.error(f"unknown case(s) {sorted(unknown)}; known: {', '.join(TIMED)}")
    if args.postgres_only:
        measure_postgres(min(args.rows), args.data, args.repeat, args.timeout)
        return []
    measurements = []
    for rows in sorted(args.rows):
        measurements += measure_scale(rows, args.data, args.timeout, args.profile, args.repeat, cases)
    if not args.scale_only:
        measurements += measure_fixed_cost(args.data, min(args.rows), args.timeout, args.repeat)
        measurements += measure_per_row(
            min(args.rows), args.data, args.dlt_sample, args.pg_rows, args.timeout
        )
    command = "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(measurements, command)
    args.out.write_text(text)
    print(text)
    return measurements


if __name__ == "__main__":
    main()
