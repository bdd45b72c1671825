"""A normalized build is one transaction: killed (kill -9) or cut off (pg_terminate_backend) half-way,
it leaves the warehouse exactly as before; run again, it processes the load exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from dataforge_assets.lib.normalize import LOAD_ID, NORMALIZED, PROCESSED_LOADS, QUARANTINE, build
from dataforge_assets.lib.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from dataforge_assets_tests.atomic_child import PAUSED, READINGS, raw_load

TABLES = [
    (NORMALIZED, READINGS.name),
    (QUARANTINE, READINGS.name),
    (NORMALIZED, PROCESSED_LOADS),
    (NORMALIZED, "_row_key_formats"),
]


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Warehouse]]:
    if request.param == "duckdb":
        path = str(tmp_path / "warehouse.duckdb")
        yield "duckdb", path, DuckDBWarehouse(database=path)
        return
    from dataforge_assets_tests.services import temporary_database

    with temporary_database("dataforge_atomic") as url:
        text = url.render_as_string(hide_password=False)
        yield "postgres", text, PostgresWarehouse(url=text)


def snapshot(warehouse: Warehouse) -> dict[str, list[str]]:
    """Every row of the build's tables (and its ledgers), order-independent."""
    state = {}
    for schema, table in TABLES:
        if warehouse.table_exists(schema, table):
            rows = warehouse.query(f'SELECT * FROM "{schema}"."{table}"').to_pylist()
            state[f"{schema}.{table}"] = sorted(repr(sorted(r.items())) for r in rows)
    return state


def deliver_again(warehouse: Warehouse) -> None:
    """Load B as dlt's merge leaves it: keys 0-99 re-delivered with new values, keys 300-599 new."""
    again = ", ".join(f"'k{n}'" for n in range(100))
    warehouse.execute(f"DELETE FROM raw.readings WHERE k IN ({again})")
    warehouse.write("raw", "readings", [raw_load("load_b", range(100), 5000)], mode="append")
    warehouse.write("raw", "readings", [raw_load("load_b", range(300, 600), 5000)], mode="append")


def paused_build(kind: str, where: str, writes: int, swap_rows: int | None = None) -> subprocess.Popen:
    groups = [str(swap_rows)] if swap_rows else []
    child = subprocess.Popen(
        [sys.executable, "-m", "dataforge_assets_tests.atomic_child", kind, where, str(writes), *groups],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == PAUSED, f"the build did not reach its pause point: {line!r}"
    return child


def assert_exactly_once(warehouse: Warehouse) -> None:
    raw = warehouse.row_count("raw", "readings")
    normalized = warehouse.row_count(NORMALIZED, READINGS.name)
    quarantined = warehouse.row_count(QUARANTINE, READINGS.name)
    assert normalized + quarantined == raw == 600
    keys = warehouse.query(
        f"SELECT k FROM {NORMALIZED}.readings UNION ALL SELECT k FROM {QUARANTINE}.readings"
    ).column(0)
    assert len(set(keys.to_pylist())) == keys.length() == 600
    values = {r["k"]: r["v"] for r in warehouse.query(f"SELECT k, v FROM {NORMALIZED}.readings").to_pylist()}
    assert values["k1"] == 5001 and values["k101"] == 1101  # re-delivered replaces, the rest stays


def test_a_build_killed_half_way_leaves_none_of_it(target: tuple[str, str, Warehouse]) -> None:
    kind, where, warehouse = target
    warehouse.write("raw", "readings", [raw_load("load_a", range(300), 1000)], mode="append")
    build(warehouse, READINGS, batch_rows=100)
    before = snapshot(warehouse)
    deliver_again(warehouse)

    # Batches written: normalized staging rows of the four 100-row batches (one stream, one DuckDB
    # statement), then their rejects (4 more), then, in the transaction that swaps them in, the key
    # format (9th) and the ledger. Killed inside the normalized staging statement (3) and inside that
    # transaction, after old versions were deleted and new rows inserted (9).
    for writes in (3, 9):
        child = paused_build(kind, where, writes=writes)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert snapshot(warehouse) == before
    report = build(warehouse, READINGS, batch_rows=100)
    assert report.loads == ["load_b"] and report.raw_rows == 400
    assert_exactly_once(warehouse)
    loads = warehouse.query(f"SELECT load_id FROM {NORMALIZED}.{PROCESSED_LOADS} ORDER BY 1").column(0)
    assert loads.to_pylist() == ["load_a", "load_b"]


def test_a_load_swapped_in_by_a_killed_build_is_swept_by_the_next(target: tuple[str, str, Warehouse]) -> None:
    """The sweep is skipped when no raw load lost rows since it last ran (raw_history.py). A build killed
    between its groups swapped a load in without sweeping: the next build must sweep, or a row that
    left raw since would outlive it downstream."""
    kind, where, warehouse = target
    warehouse.write("raw", "readings", [raw_load("load_a", range(100), 1000)], mode="append")
    build(warehouse, READINGS, batch_rows=100)
    warehouse.write("raw", "readings", [raw_load("load_b", range(100, 200), 1000)], mode="append")
    warehouse.write("raw", "readings", [raw_load("load_c", range(200, 300), 1000)], mode="append")

    # One group per load. Batches written: load_b's staging rows (2), its key format and ledger in the
    # transaction that swaps it in (4, committed); load_c's staging (6): killed there, before any sweep.
    child = paused_build(kind, where, writes=6, swap_rows=100)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    downstream = f"SELECT k FROM {NORMALIZED}.readings UNION ALL SELECT k FROM {QUARANTINE}.readings"
    assert len(warehouse.query(downstream)) == 200  # load_a and load_b

    warehouse.execute("DELETE FROM raw.readings WHERE k = 'k150'")  # as a hard-delete load leaves raw
    report = build(warehouse, READINGS, batch_rows=100)
    assert report.loads == ["load_c"] and report.rows_deleted == 1
    keys = warehouse.query(downstream).column(0).to_pylist()
    assert "k150" not in keys and len(keys) == len(set(keys)) == 299


# A server connection to cut exists on PostgreSQL only.
@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_a_connection_cut_mid_build_leaves_none_of_it(target: tuple[str, str, Warehouse]) -> None:
    kind, where, warehouse = target
    warehouse.write("raw", "readings", [raw_load("load_a", range(300), 1000)], mode="append")
    build(warehouse, READINGS, batch_rows=100)
    before = snapshot(warehouse)
    deliver_again(warehouse)

    child = paused_build(kind, where, writes=9)  # inside the transaction that swaps the load in
    try:
        with psycopg2.connect(where) as con, con.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cur.fetchone()[0] >= 1
        con.close()
        assert snapshot(warehouse) == before
    finally:
        child.kill()
        child.wait(timeout=30)
    build(warehouse, READINGS, batch_rows=100)
    assert_exactly_once(warehouse)
    assert sorted(warehouse.query(f"SELECT DISTINCT {LOAD_ID} FROM raw.readings").column(0).to_pylist()) == [
        "load_a",
        "load_b",
    ]
