"""PostgreSQL warehouse: the production option. Bulk writes go through COPY, never row-by-row inserts."""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.redaction import register_url_password
from dataforge_assets.lib.warehouse.base import Warehouse, WriteMode
from dataforge_assets.lib.warehouse.postgres_lock import advisory_lock
from dataforge_assets.lib.warehouse.postgres_types import arrow_schema_for, pg_type_for
from dataforge_assets.lib.worker_process import Worker

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
else:
    pa = lazy_module("pyarrow")
    pa_csv = lazy_module("pyarrow.csv")

if TYPE_CHECKING:  # dlt and SQLAlchemy load when first used, not with the definitions
    import sqlalchemy as sa


# dlt's load files for PostgreSQL: ~30 MB of CSV is ~170k flights rows.
LOAD_FILE_BYTES = 32 * 1024 * 1024
# COPYs of one load at once (each its own connection and server process).
PARALLEL_COPIES = 4


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database reached by a SQLAlchemy URL (give it as dg.EnvVar: the URL holds the password)."""

    url: str
    # How long a writer waits for another writer of the same table before it fails.
    lock_timeout_seconds: float = 7200
    lock_log_interval_seconds: float = 30

    _engine: Any = PrivateAttr(default=None)  # a SQLAlchemy Engine, made on first use
    # The connection of this thread's open transaction(), if any: every operation of the thread uses it.
    _pinned: threading.local = PrivateAttr(default_factory=threading.local)

    def dlt_destination(self) -> Any:
        # dlt takes a plain libpq URL, without SQLAlchemy's driver suffix; it insists on a password,
        # which servers with trust or peer auth do not need.
        register_url_password(self.url)
        import dlt
        import sqlalchemy as sa
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        url = sa.make_url(self.url).set(drivername="postgresql")
        credentials = PostgresCredentials(url.render_as_string(hide_password=False))
        credentials.password = credentials.password or ""
        return dlt.destinations.postgres(
            credentials=credentials,
            # A load split in files of this size is COPY'd by several connections at once: the server
            # parses CSV on one core per connection (1M flights: 6 files, load 2x faster, benchmarks/README.md).
            recommended_file_size=LOAD_FILE_BYTES,
            max_parallel_load_jobs=PARALLEL_COPIES,
            # A replace (the files source's first load of a table, lib/sources/files.py `_merge_hints`)
            # COPYs into the staging table and swaps it in by one transaction: readers never see part
            # of a load, which several files committed one by one straight into the table would show.
            replace_strategy="staging-optimized",
        )

    def dlt_loader_file_format(self) -> str:
        # dlt writes Arrow items as CSV and loads them with COPY. Its default, insert_values, is row
        # inserts; its parquet path (binary COPY through the ADBC driver) measured slower here: the
        # driver's Arrow-to-binary conversion costs the client more than the CSV it replaces, and the
        # server's work is the same (benchmarks/README.md).
        return "csv"

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            register_url_password(self.url)
            import sqlalchemy as sa

            url = sa.make_url(self.url)
            # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; the project ships psycopg2.
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg2")
            self._engine = sa.create_engine(url, pool_pre_ping=True)
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # DDL and COPY are transactional in PostgreSQL: a killed process or a terminated backend
        # leaves none of the block behind.
        con = self.engine.raw_connection()
        try:
            with con.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
            self._pinned.con = con
            try:
                yield
            except BaseException:
                with contextlib.suppress(Exception):  # the connection may be gone: the error says why
                    con.rollback()
                raise
            con.commit()
        finally:
            self._pinned.con = None
            con.close()

    @contextmanager
    def table_lock(self, schema: str, table: str) -> Iterator[None]:
        # Its own connection, outside the pool: the lock lives exactly as long as that connection.
        holder = f"dataforge run {self._run_id or '-'} {Worker.this_process().describe()}"
        with advisory_lock(
            self._detached_connection,
            f"dataforge:{schema}.{table}",
            holder,
            self.lock_timeout_seconds,
            self.lock_log_interval_seconds,
            self._info,
        ):
            yield

    def _detached_connection(self) -> Any:
        # A DB-API connection of its own, never pooled: closing it ends the session and its advisory locks.
        dialect = self.engine.dialect
        args, kwargs = dialect.create_connect_args(self.engine.url)
        return dialect.loaded_dbapi.connect(*args, **kwargs)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A psycopg2 cursor in one transaction: committed on success, rolled back on error (or in the
        thread's open transaction(), which commits it)."""
        pinned = getattr(self._pinned, "con", None)
        if pinned is not None:
            with pinned.cursor() as cur:
                yield cur
            return
        con = self.engine.raw_connection()
        try:
            with con.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
                yield cur
            con.commit()
        except BaseException:
            con.rollback()
            raise
        finally:
            con.close()

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        with self._cursor() as cur:
            cur.execute(_pg_params(sql) if params else sql, params)

    def modify(self, sql: str, params: tuple[Any, ...] | None = None) -> int:
        with self._cursor() as cur:
            cur.execute(_pg_params(sql) if params else sql, params)
            return int(cur.rowcount)

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> pa.Table:
        with self._cursor() as cur:
            cur.execute(_pg_params(sql) if params else sql, params)
            schema = arrow_schema_for(cur.description)
            return _to_arrow(cur.fetchall(), schema)

    def query_batches(self, sql: str, batch_size: int = 250_000) -> Iterator[pa.RecordBatch]:
        con = self.engine.raw_connection()
        try:
            # A named (server-side) cursor streams the result instead of fetching it whole.
            with con.cursor(name="dataforge_batches") as cur:
                cur.itersize = batch_size
                cur.execute(sql)
                first = cur.fetchmany(batch_size)
                schema = arrow_schema_for(cur.description)
                rows = first
                while rows:
                    yield from _to_arrow(rows, schema).to_batches()
                    rows = cur.fetchmany(batch_size)
            con.commit()
        finally:
            con.close()

    def write(
        self, schema: str, table: str, batches: Iterable[pa.Table | pa.RecordBatch], mode: WriteMode
    ) -> int:
        target = f'"{schema}"."{table}"'
        written = 0
        with self._cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            created = mode == "append" and _exists(cur, schema, table)
            existing: set[str] | None = None
            for batch in batches:
                if not created:
                    cur.execute(f"DROP TABLE IF EXISTS {target}")
                    columns = ", ".join(f'"{f.name}" {pg_type_for(f.type)}' for f in batch.schema)
                    cur.execute(f"CREATE TABLE {target} ({columns})")
                    created = True
                    existing = {f.name for f in batch.schema}
                else:
                    existing = _add_missing_columns(cur, schema, table, batch.schema, existing)
                if batch.num_rows:
                    _copy_in(cur, target, batch)
                written += batch.num_rows
        return written

    def replace_table_as(self, schema: str, table: str, select_sql: str) -> None:
        # DDL is transactional in PostgreSQL: readers see the old table until the commit.
        with self._cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            cur.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}"')
            cur.execute(f'CREATE TABLE "{schema}"."{table}" AS {select_sql}')

    def delete_keys(self, schema: str, table: str, key_column: str, keys: pa.Array) -> None:
        with self._cursor() as cur:
            if not _exists(cur, schema, table):
                return
            # Within a transaction() the table outlives this call: reuse it, emptied.
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS _dataforge_keys (key text) ON COMMIT DROP")
            cur.execute("TRUNCATE _dataforge_keys")
            _copy_in(cur, "_dataforge_keys", pa.table({"key": keys.cast(pa.string())}))
            cur.execute(
                f'DELETE FROM "{schema}"."{table}" WHERE "{key_column}"::text IN (SELECT key FROM _dataforge_keys)'
            )

    def load_fingerprints(
        self, schema: str, table: str, load_column: str, columns: Sequence[str]
    ) -> dict[str | None, tuple[int, str]]:
        # 60 bits of the md5 of each row's named columns, summed as numeric (no overflow).
        row = "ROW(" + ", ".join(f'"{c}"' for c in columns) + ")::text" if columns else "''"
        rows = self.query(
            f'SELECT "{load_column}" AS load, count(*) AS n, '
            f"sum(('x' || left(md5({row}), 15))::bit(60)::bigint::numeric)::text AS total "
            f'FROM "{schema}"."{table}" GROUP BY 1'
        ).to_pylist()
        return {r["load"]: (int(r["n"]), str(r["total"])) for r in rows}

    def table_exists(self, schema: str, table: str) -> bool:
        with self._cursor() as cur:
            return _exists(cur, schema, table)

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        with self._cursor() as cur:
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, table),
            )
            return [(name, dtype) for name, dtype in cur.fetchall()]

    def health(self) -> dict[str, int | str]:
        """Database size and WAL figures, for the scheduled health observation."""
        from dataforge_assets.lib.warehouse.postgres_health import read_health

        with self._cursor() as cur:
            return read_health(cur)


def _exists(cur: Any, schema: str, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{table}"',))
    return bool(cur.fetchone()[0])


def _add_missing_columns(
    cur: Any, schema: str, table: str, batch_schema: pa.Schema, existing: set[str] | None
) -> set[str]:
    """Columns of the batch the table lacks are added first (a raw table that evolved brings a new
    column to its quarantine rows; COPY would refuse it). Returns the table's columns."""
    if existing is None:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        )
        existing = {name for (name,) in cur.fetchall()}
    for field in batch_schema:
        if field.name not in existing:
            cur.execute(
                f'ALTER TABLE "{schema}"."{table}" ADD COLUMN "{field.name}" {pg_type_for(field.type)}'
            )
            existing.add(field.name)
    return existing


def _copy_in(cur: Any, target: str, data: pa.Table | pa.RecordBatch) -> None:
    """COPY Arrow data in as CSV: an unquoted empty field is NULL, a quoted one an empty string."""
    buffer = io.BytesIO()
    pa_csv.write_csv(_without_views(data), buffer, pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    columns = ", ".join(f'"{name}"' for name in data.schema.names)
    cur.copy_expert(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def _without_views(data: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """Arrow's CSV writer has no string or binary views (polars hands its frames over as views)."""
    views = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    if not any(field.type in views for field in data.schema):
        return data
    return data.cast(pa.schema(field.with_type(views.get(field.type, field.type)) for field in data.schema))


def _to_arrow(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema)


def _pg_params(sql: str) -> str:
    """Portable SQL uses `?` placeholders (DuckDB style); psycopg2 wants `%s`."""
    return sql.replace("%", "%%").replace("?", "%s")
