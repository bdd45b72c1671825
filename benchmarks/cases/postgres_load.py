"""PostgreSQL loads of the same rows: bulk COPY paths against a row-by-row executemany upsert.

Each variant upserts into a table keyed on the flights' natural key, in its own throw-away database.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg2
import pyarrow as pa
import pyarrow.csv as pa_csv

KEY = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]
DSN = os.environ.get("DATAFORGE_BENCH_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


@contextmanager
def scratch_database() -> Iterator[str]:
    """A uniquely named database, dropped afterwards; yields its DSN."""
    name = f"dataforge_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(DSN)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"{DSN} dbname={name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def warehouse_available() -> bool:
    """The project's PostgreSQL warehouse, once it exists (until then the COPY case stands in)."""
    return importlib.util.find_spec("dataforge_assets.lib.warehouse.postgres") is not None


def warehouse_load(home: Path, files: list[Path]) -> dict[str, Any]:
    """raw/flights materialized by the real definitions into the project's PostgreSQL warehouse."""
    from benchmarks.cases.pipeline import materialize

    with scratch_database() as dsn:
        params = dict(part.split("=", 1) for part in dsn.split())
        url = f"postgresql://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
        figures = materialize(home, files, assets=("raw/flights",), groups=(), postgres_url=url)
    figures["sample_rows"] = figures["counts"]["raw.flights"]
    return figures


def sample(files: list[Path], limit: int) -> tuple[list[str], list[tuple[str | None, ...]]]:
    def every_row() -> Iterator[list[str]]:
        for path in files:
            with open(path, newline="") as handle:
                reader = csv.reader(handle)
                next(reader)
                yield from reader

    with open(files[0], newline="") as handle:
        header = next(csv.reader(handle))
    rows = [
        tuple(None if v in ("", "NA") else v for v in row) for row in itertools.islice(every_row(), limit)
    ]
    return header, rows


def _create(con: Any, header: list[str], table: str = "flights", temporary: bool = False) -> None:
    columns = ", ".join(f'"{c}" text' for c in header)
    key = "" if temporary else f", PRIMARY KEY ({', '.join(KEY)})"
    with con.cursor() as cur:
        cur.execute(f"CREATE {'TEMP ' if temporary else ''}TABLE {table} ({columns}{key})")


def _upsert_sql(header: list[str], source: str) -> str:
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in header if c not in KEY)
    return (
        f"INSERT INTO flights SELECT * FROM {source} ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {updates}"
    )


def executemany_upsert(files: list[Path], rows: int) -> dict[str, Any]:
    header, data = sample(files, rows)
    placeholders = ", ".join(["%s"] * len(header))
    with scratch_database() as dsn, psycopg2.connect(dsn) as con:
        _create(con, header)
        sql = _upsert_sql(header, f"(VALUES ({placeholders})) AS v")
        started = time.perf_counter()
        with con.cursor() as cur:
            cur.executemany(sql, data)  # psycopg2 sends one statement per row
        con.commit()
        seconds = time.perf_counter() - started
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM flights")
            loaded = cur.fetchall()[0][0]
    return {"seconds": seconds, "counts": {"flights": loaded}, "sample_rows": len(data)}


def copy_upsert(files: list[Path], rows: int) -> dict[str, Any]:
    """Arrow -> CSV -> COPY into a staging table, then one INSERT .. ON CONFLICT (dlt's postgres way).

    The rows come as an Arrow table (what the pipeline's readers yield), as executemany gets tuples.
    """
    header, data = sample(files, rows)
    table = pa.table({name: [row[i] for row in data] for i, name in enumerate(header)})
    with scratch_database() as dsn, psycopg2.connect(dsn) as con:
        _create(con, header)
        started = time.perf_counter()  # serializing to CSV counts: executemany gets tuples as they are
        buffer = io.BytesIO()
        pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
        buffer.seek(0)
        _create(con, header, "staging", temporary=True)
        with con.cursor() as cur:
            cur.copy_expert("COPY staging FROM STDIN WITH (FORMAT csv)", buffer)
            cur.execute(_upsert_sql(header, "staging"))
        con.commit()
        seconds = time.perf_counter() - started
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM flights")
            loaded = cur.fetchall()[0][0]
    return {"seconds": seconds, "counts": {"flights": loaded}, "sample_rows": len(data)}


def plain_copy(files: list[Path]) -> dict[str, Any]:
    """The yardstick of the warehouse load: the same files, as they are, `COPY`'d into a text table.

    No key, no merge, no typing: the fastest way these rows get into PostgreSQL with psycopg2.
    """
    with open(files[0], newline="") as handle:
        header = next(csv.reader(handle))
    with scratch_database() as dsn, psycopg2.connect(dsn) as con:
        with con.cursor() as cur:  # a logged table like the warehouse's (a temporary one skips the WAL)
            columns = ", ".join(f'"{c}" text' for c in header)
            cur.execute(f"CREATE TABLE flights_copy ({columns})")
        started = time.perf_counter()
        with con.cursor() as cur:
            for path in files:
                with open(path, "rb") as handle:
                    cur.copy_expert(
                        "COPY flights_copy FROM STDIN WITH (FORMAT csv, HEADER true, NULL 'NA')", handle
                    )
        con.commit()
        seconds = time.perf_counter() - started
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM flights_copy")
            loaded = cur.fetchall()[0][0]
    return {"seconds": seconds, "counts": {"flights": loaded}, "sample_rows": loaded}
