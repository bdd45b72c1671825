"""A full build of normalized/flights (every raw load new): what the first run at a scale pays.

`prepare` loads raw/flights and raw/airlines with the real definitions (no normalized table). `build`
copies that warehouse to `scratch`, then times `normalize.build` as the asset calls it (in a session,
under the table's lock) and the contract check after it, each with its process CPU seconds and the
process's peak RSS, and digests what they wrote (rows, quarantine reasons, row keys, ledgers) so that
two checkouts' results can be compared. Imports nothing from `benchmarks` when building, so it can run
against another checkout's code: `PYTHONPATH=<checkout> python normalized_build.py '<json>'`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCHMARK-RESULT "  # as benchmarks/measure.py reads it
# What a build wrote, order-independent; build times (`_quarantined_at`, `processed_at`) left out.
DIGESTS = {
    "normalized": "SELECT count(*), sum(hash(t)), count(DISTINCT _row_key) FROM normalized.flights t",
    "quarantine": "SELECT count(*), sum(hash(t)), count(DISTINCT _row_key) "
    "FROM (SELECT * EXCLUDE (_quarantined_at) FROM quarantine.flights) t",
    "reasons": "SELECT _quarantine_rule, count(*), sum(hash(_quarantine_reason, _quarantine_origin)) "
    "FROM quarantine.flights GROUP BY 1 ORDER BY 1",
    "columns": "SELECT table_schema, table_name, list(column_name || ' ' || data_type ORDER BY ordinal_position) "
    "FROM information_schema.columns WHERE table_schema IN ('normalized', 'quarantine') GROUP BY 1, 2 ORDER BY 1, 2",
    "processed_loads": "SELECT table_name, load_id, code_version FROM normalized._processed_loads ORDER BY ALL",
    "contract_checks": "SELECT table_name, load_id, contract_version, row_count, fingerprint "
    "FROM normalized._contract_checks ORDER BY ALL",
}


def prepare(home: Path, files: list[Path]) -> dict[str, Any]:
    from benchmarks.cases.pipeline import materialize

    return materialize(home, files, assets=("raw/flights", "raw/airlines"), groups=())


def build(home: Path, scratch: Path) -> dict[str, Any]:
    scratch.mkdir(parents=True, exist_ok=True)
    for old in scratch.glob("warehouse.duckdb*"):
        old.unlink()
    database = scratch / "warehouse.duckdb"
    shutil.copyfile(home / "warehouse.duckdb", database)
    os.environ["DATAFORGE_HOME"] = str(scratch)
    import duckdb
    import pandera.polars  # noqa: F401  (imported before the clock starts, as in a warm worker)

    import dataforge_assets
    from dataforge_assets.defs.normalized.flights import FLIGHTS
    from dataforge_assets.lib.normalize import NORMALIZED
    from dataforge_assets.lib.normalize import build as build_table
    from dataforge_assets.lib.normalized_asset import check_contract
    from dataforge_assets.lib.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse(database=str(database))
    figures: dict[str, Any] = {"code": str(Path(dataforge_assets.__file__).parent.parent)}
    for step, run in (("build", build_table), ("check", check_contract)):
        started, cpu = time.perf_counter(), time.process_time()
        with warehouse.session(), warehouse.table_lock(NORMALIZED, FLIGHTS.name):
            result = run(warehouse, FLIGHTS)
        figures[f"{step}_seconds"] = time.perf_counter() - started
        figures[f"{step}_cpu_seconds"] = time.process_time() - cpu
        figures[f"{step}_peak_rss_mb"] = _peak_rss_mb()  # the process's peak so far
    assert result.passed, result.description
    con = duckdb.connect(str(database), read_only=True)
    figures["digest"] = {name: con.execute(sql).fetchall() for name, sql in DIGESTS.items()}
    con.close()
    return figures


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    if args.get("prepare"):
        figures = prepare(Path(args["home"]), [Path(f) for f in args["files"]])
        figures["code"] = str(Path(__file__).resolve().parent.parent.parent)
    else:
        figures = build(Path(args["home"]), Path(args["scratch"]))
    print(RESULT_PREFIX + json.dumps(figures, default=str), flush=True)
