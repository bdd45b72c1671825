"""The `sql_database` source kind: tables of any SQLAlchemy database, read by dlt's `sql_table` as Arrow.

The pyarrow backend turns each chunk of rows straight into an Arrow table (dlt's fast path). With a
`cursor_field`, dlt adds `WHERE cursor >= last value` to the query, so a re-run reads only new rows.
The password comes from the env var the YAML names and goes only into the SQLAlchemy engine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.sources.http import read_env
from dataforge_assets.lib.sources.spec import TableSpec

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_module("sqlalchemy")

# The start of a SQLAlchemy URL, as SQLAlchemy parses it: dialect[+driver]://[user[:password]@]...
URL_FORM = re.compile(r"(?P<name>[\w+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?")


class SqlTableSpec(TableSpec):
    table: str | None = None  # the table in the source database; defaults to `name`


class SqlDatabaseConnection(dg.Model):
    kind: Literal["sql_database"]
    # SQLAlchemy URL without the password; a relative SQLite path is under DATAFORGE_HOME.
    url: str
    password_env: str | None = None  # name of the env var holding the password
    db_schema: str | None = Field(default=None, alias="schema")
    backend: Literal["pyarrow"] = "pyarrow"
    chunk_size: int = 50_000
    tables: Sequence[SqlTableSpec]

    @field_validator("chunk_size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number of rows")
        return value

    @field_validator("tables")
    @classmethod
    def _some_tables(cls, value: Sequence[SqlTableSpec]) -> Sequence[SqlTableSpec]:
        if not value:
            raise ValueError("must list at least one table")
        return value

    @field_validator("url")
    @classmethod
    def _sqlalchemy_url(cls, value: str) -> str:
        # SQLAlchemy's own test of a URL's form (engine/url.py), without importing SQLAlchemy at load:
        # `sa.make_url` reads it when a run connects.
        if not URL_FORM.match(value):
            raise ValueError(
                "must be a SQLAlchemy URL, e.g. sqlite:///reference.sqlite or postgresql://user@host:5432/db"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            match = URL_FORM.match(data["url"])
            if match and match["password"]:
                # Redact in place first: the error echoes its input, and that must not show the secret.
                start, end = match.span("password")
                data["url"] = data["url"][:start] + "***" + data["url"][end:]
                raise ValueError("url must not hold a password: name its env var in password_env instead")
        return data

    def check_environment(self) -> None:
        if self.password_env:
            read_env(self.password_env, "the database password of this source")

    def engine(self, home: Path) -> sa.Engine:
        """Created lazily by SQLAlchemy: nothing connects until a run reads."""
        url = sa.make_url(self.url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).is_absolute():
            url = url.set(database=str(home / url.database))
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg2")  # the driver installed with the platform
        if self.password_env and os.environ.get(self.password_env):
            url = url.set(password=read_env(self.password_env, "the database password of this source"))
        return sa.create_engine(url)

    def dlt_resources(self, source_name: str, home: Path, fresh_tables: Collection[str] = ()) -> list[Any]:
        # `fresh_tables` is not used: rows are not key-checked before loading, so every load merges.
        engine = self.engine(home)
        return [self._table(engine, table) for table in self.tables]

    def _table(self, engine: sa.Engine, table: SqlTableSpec) -> Any:
        import dlt  # at run time, not at definitions load
        from dlt.sources.sql_database import sql_table

        incremental = (
            dlt.sources.incremental(
                table.cursor_field, initial_value=_cursor_value(table.initial_cursor_value)
            )
            if table.cursor_field
            else None
        )
        resource = sql_table(
            credentials=engine,
            table=table.table or table.name,
            schema=self.db_schema,
            incremental=incremental,
            chunk_size=self.chunk_size,
            backend=self.backend,
            defer_table_reflect=True,  # definitions load without touching the database
            write_disposition=table.dlt_write_disposition,
            primary_key=list(table.primary_key) or None,
        )
        if table.dlt_columns:
            resource.apply_hints(columns=table.dlt_columns)
        if table.keeps_history:
            from dataforge_assets.lib.sources.history import with_row_hash

            resource.add_map(with_row_hash)
        return resource.with_name(table.name)


def _cursor_value(value: str | int | float | None) -> Any:
    """An ISO timestamp in YAML is compared as a timestamp: cursor columns are typically `updated_at`."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value
