"""Size and WAL figures of the PostgreSQL warehouse, read for the scheduled health observation."""

from __future__ import annotations

from typing import Any

import psycopg2.errors


def read_health(cur: Any) -> dict[str, int | str]:
    cur.execute(
        "SELECT current_database(), pg_database_size(current_database()), pg_current_wal_lsn()::text, "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
    )
    database, size, lsn, wal_written = cur.fetchone()
    health: dict[str, int | str] = {
        "database": database,
        "database_size_bytes": int(size),
        "wal_lsn": lsn,
        "wal_written_bytes": int(wal_written),
    }
    # pg_ls_waldir needs superuser or pg_monitor; without it the LSN figures above still tell the story.
    cur.execute("SAVEPOINT wal_dir")
    try:
        cur.execute("SELECT count(*), coalesce(sum(size), 0)::bigint FROM pg_ls_waldir()")
        files, wal_size = cur.fetchone()
        health.update(wal_files=int(files), wal_size_bytes=int(wal_size))
    except psycopg2.errors.InsufficientPrivilege:
        cur.execute("ROLLBACK TO SAVEPOINT wal_dir")
    return health
