"""`python -m dataforge_assets.demo.postgres`: create the production stack's databases if they are missing.

The Dagster instance's database comes from DAGSTER_PG_* (as deploy/postgres/dagster.yaml reads them), the
warehouse's from DATAFORGE_POSTGRES_URL. Passwords are never printed.
"""

from __future__ import annotations

import os

import psycopg2
import sqlalchemy as sa
from psycopg2 import sql

from dataforge_assets.lib.environment import POSTGRES_URL_VAR


def instance_url() -> sa.URL:
    return sa.URL.create(
        "postgresql",
        username=os.environ["DAGSTER_PG_USER"],
        password=os.environ.get("DAGSTER_PG_PASSWORD") or None,
        host=os.environ["DAGSTER_PG_HOST"],
        port=int(os.environ.get("DAGSTER_PG_PORT", "5432")),
        database=os.environ["DAGSTER_PG_DB"],
    )


def ensure_database(url: sa.URL) -> bool:
    """Create url's database through the server's `postgres` database; True if it was created."""
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    con = psycopg2.connect(admin, connect_timeout=10)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
            return True
    finally:
        con.close()


def main() -> None:
    for role, url in (
        ("Dagster instance", instance_url()),
        ("warehouse", sa.make_url(os.environ[POSTGRES_URL_VAR])),
    ):
        created = ensure_database(url)
        print(
            f"{role}: database {url.database} on {url.host}:{url.port} {'created' if created else 'exists'}"
        )


if __name__ == "__main__":
    main()
