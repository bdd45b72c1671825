"""Per-table writer locks on PostgreSQL: session-level advisory locks, released when their connection
(or the process holding it) dies. Writers of different tables run side by side; writers of one table
take turns."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dataforge_assets.lib.warehouse.writer_lock import POLL_SECONDS, WarehouseLockTimeout

HOLDER_SQL = """
SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s AND l.objid::bigint = %s
  AND l.objsubid = 1
"""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL's hashtext is not promised to be stable)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


@contextmanager
def advisory_lock(
    connect: Callable[[], Any],
    name: str,
    holder: str,
    timeout_seconds: float,
    log_every_seconds: float,
    log: Callable[[str], None],
) -> Iterator[None]:
    """Hold the advisory lock `name` on a connection of its own for the block. `holder` (run, pid,
    host) is set as the connection's application_name, so a waiting run can name whom it waits for."""
    key = advisory_key(name)
    con = connect()
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("SELECT set_config('application_name', %s, false)", (holder[:63],))
            _wait_for(cur, key, name, timeout_seconds, log_every_seconds, log)
        try:
            yield
        finally:
            with con.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
    finally:
        con.close()


def _wait_for(
    cur: Any,
    key: int,
    name: str,
    timeout_seconds: float,
    log_every_seconds: float,
    log: Callable[[str], None],
) -> None:
    start = time.monotonic()
    next_log = start
    while True:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        if cur.fetchone()[0]:
            return
        now = time.monotonic()
        if now - start >= timeout_seconds:
            raise WarehouseLockTimeout(
                f"gave up after {now - start:.0f} s waiting to write {name}: held by {_holder(cur, key)}"
            )
        if now >= next_log:
            log(f"waiting {now - start:.0f} s to write {name}: held by {_holder(cur, key)}")
            next_log = now + log_every_seconds
        time.sleep(POLL_SECONDS)


def _holder(cur: Any, key: int) -> str:
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    cur.execute(HOLDER_SQL, (unsigned >> 32, unsigned & 0xFFFFFFFF))
    row = cur.fetchone()
    if row is None:
        return "another session (gone by now)"
    pid, application, address, since = row
    return f"{application or 'a session'} (backend pid {pid}, client {address or 'local'}, connected {since})"
