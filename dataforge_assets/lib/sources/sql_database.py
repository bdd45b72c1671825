"""The `sql_database` source kind: tables of any SQLAlchemy database, read by dlt's `sql_table` as Arrow.

The pyarrow backend turns each chunk of rows straight into an Arrow table (dlt's fast path). With a
`cursor_field`, dlt adds `WHERE cursor >= last value` to the query, so a re-run reads only new rows.
The password comes from the env var the YAML names and goes only into the SQLAlchemy engine.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.sources.committed_state import SPEC_STATE_KEY, spec_fingerprint
from dataforge_assets.lib.sources.http import read_env
from dataforge_assets.lib.sources.spec import TableSpec

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = lazy_module("sqlalchemy")

# The resource-state key of the SQLite database file a load read, as it was before the read.
DATABASE_FILE_STATE_KEY = "database_file"
QUIET_SECONDS = 2.0
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

    def dlt_resources(
        self,
        source_name: str,
        home: Path,
        fresh_tables: Collection[str] = (),
        schema_contract: str | None = None,
    ) -> list[Any]:
        # `fresh_tables` is not used: rows are not key-checked before loading, so every load merges.
        engine = self.engine(home)
        path = self.sqlite_path(home)
        read = database_file_identity(path) if path else None  # taken before anything is read
        if read is not None and not _quiet(read):
            read = None  # not trusted: a write in the same clock tick could follow unseen
        resources = []
        for table in self.tables:
            resource = self._table(engine, table)
            if path is not None:
                resource.add_map(_recording(table.name, read, self._spec(table, schema_contract)))
            resources.append(resource)
        return resources

    def sqlite_path(self, home: Path) -> Path | None:
        """The database file of a `sqlite:///<path>` URL (relative paths under `home`), as SQLAlchemy
        reads it; None for other databases, in-memory SQLite or a URL with options."""
        match = URL_FORM.match(self.url)
        if not match or match["name"] not in ("sqlite", "sqlite+pysqlite") or match.group(0) != "sqlite://":
            return None
        database = self.url[match.end() :]
        if not database.startswith("/") or len(database) < 2 or "?" in database:
            return None
        path = Path(database[1:])
        return path if path.is_absolute() else home / path

    def nothing_new(
        self,
        home: Path,
        tables: Collection[str],
        state_of: Callable[[str], dict[str, Any] | None],
        schema_contract: str | None = None,
    ) -> bool:
        """True when the source is a SQLite file unchanged (sizes and times of it and its WAL) since
        the last completed load of each of `tables` read it, under the same table spec: a load would
        read the same rows again. Other databases have no such cheap proof: False."""
        path = self.sqlite_path(home)
        now = database_file_identity(path) if path else None
        if now is None:
            return False
        for table in self.tables:
            if table.name not in tables:
                continue
            state = state_of(table.name) or {}
            if state.get(DATABASE_FILE_STATE_KEY) != now or state.get(SPEC_STATE_KEY) != self._spec(
                table, schema_contract
            ):
                return False
        return True

    def _spec(self, table: SqlTableSpec, schema_contract: str | None) -> str:
        settings = self.model_dump_json(exclude={"tables"})
        return spec_fingerprint(settings, table.model_dump_json(), str(schema_contract))

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


def database_file_identity(path: Path) -> dict[str, Any] | None:
    """Size and time of a SQLite file and of its write-ahead log (committed rows may sit there); None
    when the file is missing or a rollback journal exists (a write under way, or one to roll back)."""
    if not path.is_file() or path.with_name(f"{path.name}-journal").exists():
        return None
    identity: dict[str, Any] = {}
    for part, file in (("db", path), ("wal", path.with_name(f"{path.name}-wal"))):
        try:
            stat = file.stat()
        except FileNotFoundError:
            identity[part] = None
            continue
        identity[part] = [stat.st_size, stat.st_mtime_ns]
    return identity


def _quiet(identity: dict[str, Any]) -> bool:
    """Every part last written QUIET_SECONDS ago or more: file times are coarse (a clock tick, 2 s on
    some file systems), so a write right after this look could leave size and time as they are."""
    before = time.time_ns() - int(QUIET_SECONDS * 1e9)
    return all(part is None or part[1] <= before for part in identity.values())


def _recording(table: str, read: dict[str, Any] | None, spec: str) -> Callable[[Any], Any]:
    """A map step that notes, in the table's resource state (committed by dlt with the load), which
    version of the database file the load read (None: not trusted, so no later step matches it) and
    under which spec. A load that yields no row changes nothing in raw and notes nothing."""
    import dlt  # at run time, not at definitions load

    def record(item: Any) -> Any:
        state = dlt.current.resource_state(table)
        state[DATABASE_FILE_STATE_KEY] = read
        state[SPEC_STATE_KEY] = spec
        return item

    return record


def _cursor_value(value: str | int | float | None) -> Any:
    """An ISO timestamp in YAML is compared as a timestamp: cursor columns are typically `updated_at`."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value
