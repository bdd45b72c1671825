"""sql_database sources on SQLite and on the real PostgreSQL server: Arrow backend, cursor column, merge."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from dataforge_assets.demo.setup import DATA_DIR
from dataforge_assets_tests.conftest import REQUIRE_SERVICES, Platform, materialization_metadata
from dataforge_assets_tests.source_yaml import failure_message, load_source, materialize

POSTGRES_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
START = datetime(2024, 1, 1)


def planes(first: int, count: int) -> list[dict]:
    """Real planes rows, each stamped `updated_at` one hour after the previous."""
    frame = pl.read_csv(DATA_DIR / "planes.csv.gz", null_values=["NA"]).slice(first, count)
    rows = frame.select("tailnum", "year", "manufacturer", "model", "seats").to_dicts()
    return [{**row, "updated_at": START + timedelta(hours=first + i)} for i, row in enumerate(rows)]


def create_planes(engine: sa.Engine) -> sa.Table:
    table = sa.Table(
        "fleet",
        sa.MetaData(),
        sa.Column("tailnum", sa.Text, primary_key=True),
        sa.Column("year", sa.Integer),
        sa.Column("manufacturer", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("seats", sa.Integer),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    table.metadata.create_all(engine)
    return table


def source_yaml(url: str, extra: str = "") -> str:
    return f"""
    type: dataforge_assets.lib.sources.SourceComponent
    attributes:
      name: ops
      connection:
        kind: sql_database
        url: "{url}"
        {extra}
        tables:
          - name: planes
            table: fleet
            primary_key: [tailnum]
            cursor_field: updated_at
            initial_cursor_value: "2024-01-01T00:00:00"
      retry: {{max_retries: 0}}
    """


def assert_cursor_advances(
    platform: Platform, engine: sa.Engine, root: Path, url: str, extra: str = ""
) -> None:
    fleet = create_planes(engine)
    with engine.begin() as con:
        con.execute(fleet.insert(), planes(0, 20))
    defs = load_source(root, source_yaml(url, extra))

    first = materialize(defs, platform.instance)
    assert materialization_metadata(first, ["raw", "planes"])["rows_loaded"] == 20
    # Arrow keeps the database's types: raw columns are typed, not text.
    assert platform.sql("SELECT typeof(seats), typeof(updated_at) FROM raw.planes LIMIT 1") == [
        ("BIGINT", "TIMESTAMP")
    ]

    # 10 new planes and one changed plane: only those 11 rows are read, the change is merged by key.
    changed = planes(3, 1)[0]
    with engine.begin() as con:
        con.execute(fleet.insert(), planes(20, 10))
        con.execute(
            fleet.update()
            .where(fleet.c.tailnum == changed["tailnum"])
            .values(seats=999, updated_at=START + timedelta(days=30))
        )
    second = materialize(defs, platform.instance)
    assert materialization_metadata(second, ["raw", "planes"])["rows_loaded"] == 11
    assert platform.count("raw.planes") == 30
    assert platform.sql(f"SELECT seats FROM raw.planes WHERE tailnum = '{changed['tailnum']}'") == [(999,)]

    third = materialize(defs, platform.instance)  # nothing new: nothing read
    assert materialization_metadata(third, ["raw", "planes"])["rows_loaded"] == 0


def test_sqlite_cursor_advances_and_merges(platform: Platform, tmp_path: Path) -> None:
    database = platform.env.home / "ops.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{database}")
    # A relative SQLite path in the YAML is under DATAFORGE_HOME.
    assert_cursor_advances(platform, engine, tmp_path, "sqlite:///ops.sqlite")
    engine.dispose()


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A uniquely named database on the real server, dropped afterwards."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError as error:
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL not reachable: {error}")
    name = f"dataforge_sqlsrc_{uuid.uuid4().hex[:10]}"
    with admin.connect() as con:
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_postgres_cursor_advances_and_merges(
    platform: Platform, tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_OPS_DB_PASSWORD", "pg-s3cret-value")  # trust auth accepts it; it must be passed
    engine = sa.create_engine(postgres_database.replace("postgresql://", "postgresql+psycopg2://"))
    assert_cursor_advances(
        platform, engine, tmp_path, postgres_database, "password_env: TEST_OPS_DB_PASSWORD"
    )
    engine.dispose()


@pytest.mark.postgres
def test_missing_password_env_var_fails_naming_it(
    platform: Platform, tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_OPS_DB_PASSWORD", raising=False)
    defs = load_source(tmp_path, source_yaml(postgres_database, "password_env: TEST_OPS_DB_PASSWORD"))
    failed = materialize(defs, platform.instance, raise_on_error=False)
    assert "environment variable TEST_OPS_DB_PASSWORD" in failure_message(failed)
