"""Real services the production-stack tests need: a PostgreSQL server and headless Chromium.

When a service is missing, a test skips on a developer's machine and FAILS in CI
(DATAFORGE_REQUIRE_SERVICES=1), so CI can never pass without having run it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa

REQUIRE_SERVICES = os.environ.get("DATAFORGE_REQUIRE_SERVICES") == "1"
# The server's maintenance database; tests create and drop their own databases next to it.
ADMIN_URL = os.environ.get("DATAFORGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CHROMIUM = Path(os.environ.get("DATAFORGE_TEST_CHROMIUM", "/usr/bin/chromium"))


def missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (DATAFORGE_REQUIRE_SERVICES=1: required services must be there)")
    pytest.skip(reason)


def _admin_connection() -> psycopg2.extensions.connection:
    try:
        con = psycopg2.connect(ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as error:
        missing(f"PostgreSQL at {ADMIN_URL} is not reachable: {error}")
        raise
    con.autocommit = True
    return con


@contextmanager
def temporary_database(prefix: str) -> Iterator[sa.URL]:
    """A uniquely named database on the server, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    con = _admin_connection()
    try:
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield sa.make_url(ADMIN_URL).set(database=name)
    finally:
        with con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.close()


def chromium() -> Path:
    if not CHROMIUM.exists() and not shutil.which(str(CHROMIUM)):
        missing(
            f"headless Chromium not found at {CHROMIUM} (`apt-get install -y chromium`; `make test` does it)"
        )
    return CHROMIUM
