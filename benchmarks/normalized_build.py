"""A full normalized/flights build (issue #16): this checkout against another, in interleaved pairs.

`python -m benchmarks.normalized_build --rows 1000000 --pairs 5 --before /work/wt/x-before` loads the
scaled flights into raw once (kept under benchmarks/.data/), then builds normalized/flights from them
and runs its contract check, with the code of `--before` and of this checkout in turn, each in a fresh
process on a fresh copy of that warehouse, order alternating. Prints each pair's seconds, CPU seconds
and peak RSS, the ratios (after / before) and their medians, and fails if the two wrote different
rows, reasons, keys or ledgers. Writes no RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.datagen import DATA_ROOT, data_set
from benchmarks.fixed_cost import HERE, run_case

SCRIPT = "normalized_build.py"
FIGURES = ("build_seconds", "build_cpu_seconds", "build_peak_rss_mb", "check_seconds", "check_cpu_seconds")


def prepared_home(rows: int, root: Path, timeout: float) -> Path:
    home = root / f"normbuild_duckdb_{rows}"
    if not (home / "prepared").exists():
        files = [str(f) for f in data_set(rows, root).base]
        figures = run_case(SCRIPT, HERE, {"prepare": True, "home": str(home), "files": files}, timeout)
        (home / "prepared").write_text(json.dumps(figures["counts"]))
    return home


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--before", type=Path, required=True, help="checkout whose code is the baseline")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="where generated data and work go")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per process")
    args = parser.parse_args(argv)
    home = prepared_home(args.rows, args.data, args.timeout)
    scratch = args.data / f"normbuild_scratch_{args.rows}"
    ratios: dict[str, list[float]] = {name: [] for name in FIGURES}
    for pair in range(args.pairs):
        order = [args.before, HERE] if pair % 2 == 0 else [HERE, args.before]
        runs = {
            code: run_case(SCRIPT, code, {"home": str(home), "scratch": str(scratch)}, args.timeout)
            for code in order
        }
        old, new = runs[args.before], runs[HERE]
        if old["digest"] != new["digest"]:
            raise SystemExit(f"pair {pair + 1}: the builds differ:\n{old['digest']}\n{new['digest']}")
        for name in FIGURES:
            ratios[name].append(new[name] / old[name])
        shown = ", ".join(f"{name} {old[name]:.2f} -> {new[name]:.2f}" for name in FIGURES)
        print(f"pair {pair + 1}/{args.pairs} ({args.rows} rows): {shown}; same rows", flush=True)
    medians = ", ".join(f"{name} {statistics.median(values):.3f}" for name, values in ratios.items())
    print(f"median ratio after/before ({args.pairs} pairs): {medians}", flush=True)


if __name__ == "__main__":
    main()
