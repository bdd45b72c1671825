"""The fault-injection suite, short: real dagster processes killed with SIGKILL at chosen points of each
phase (and a PostgreSQL connection cut mid-load); after one clean run nothing is lost, duplicated or
stale, every load is whole and the stats equal a recomputation from the landed files. The long version
is `make chaos` (dataforge_assets_tests/chaos/), which writes docs/reliability.md."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
import pytest

from dataforge_assets_tests.chaos.deliveries import read_expected
from dataforge_assets_tests.chaos.lab import lab
from dataforge_assets_tests.chaos.scenarios import Result, connection_cuts, kill_series, start
from dataforge_assets_tests.chaos.verify import verify

SEED = 20261201
# The first kill hits an empty warehouse mid-dlt-load; then one point of each phase, early steps twice
# (they are where most writes happen), the costly late ones once.
DUCKDB_POINTS = [
    ("dlt", "raw_flights"),
    ("normalized", "normalized__flights"),
    ("dlt", "raw_weather"),
    # normalized.flights' own checks (contract, reconciliations) run in its step: the normalized points
    # cover them; this is a check step of its own.
    ("checks", "normalized__flights_dest_in_airports"),
    ("normalized", "normalized__weather"),
    ("stats", "stats__route_stats"),
    ("dlt", "raw_flights"),
    ("normalized", "normalized__flights"),
]
POSTGRES_POINTS = [("normalized", "normalized__flights"), ("dlt", "raw_flights")]


def assert_exact(result: Result, kills: int) -> None:
    assert result.faults >= kills, f"only {result.faults} of {kills} faults landed: runs ended first"
    f = result.findings
    assert (f.lost, f.duplicated, f.stale, f.misplaced_loads, f.stats_mismatches) == (0, 0, 0, 0, 0), f.notes
    assert result.clean_runs_failed == 0, f.notes


def test_kill_9_in_every_phase_loses_and_duplicates_nothing_on_duckdb(tmp_path: Path) -> None:
    with lab(tmp_path / "duckdb", "duckdb") as here:
        start(here, clean_run=False)
        result = kill_series(
            here, len(DUCKDB_POINTS), len(DUCKDB_POINTS), random.Random(SEED), 1.0, DUCKDB_POINTS
        )
        expected = read_expected(here.env, here.deliveries.weather)
        tampered = tmp_path / "tampered.duckdb"
        shutil.copy(here.env.duckdb_path, tampered)
    assert_exact(result, len(DUCKDB_POINTS))
    assert set(result.faults_by_phase) == {"dlt", "normalized", "checks", "stats"}

    # The comparison sees what it must: one row lost, one duplicated, one not replaced by its newest version.
    with duckdb.connect(str(tampered)) as con:
        con.execute(
            "DELETE FROM normalized.flights WHERE rowid = (SELECT min(rowid) FROM normalized.flights)"
        )
        con.execute("INSERT INTO quarantine.flights SELECT * FROM quarantine.flights LIMIT 1")
        con.execute(
            "UPDATE normalized.flights SET dep_delay = dep_delay + 1 "
            "WHERE rowid = (SELECT max(rowid) FROM normalized.flights)"
        )

    def sql(query: str) -> list[tuple]:
        with duckdb.connect(str(tampered), read_only=True) as con:
            return con.execute(query).fetchall()

    found = verify(sql, expected)
    assert (found.lost, found.duplicated, found.stale) == (1, 1, 1), found.notes


@pytest.mark.postgres
def test_kill_9_and_a_cut_connection_lose_nothing_on_postgres(tmp_path: Path) -> None:
    with lab(tmp_path / "postgres", "postgres") as here:
        start(here, clean_run=False)
        rng = random.Random(SEED)
        # The kills leave their damage for the cut's clean run and comparison: one clean run for all three.
        killed = kill_series(here, len(POSTGRES_POINTS), 99, rng, 1.0, POSTGRES_POINTS, recover_at_end=False)
        cut = connection_cuts(here, 1, rng, 0.5, [("normalized", "normalized__flights")])
    assert killed.faults == len(POSTGRES_POINTS)
    assert_exact(cut, 1)
