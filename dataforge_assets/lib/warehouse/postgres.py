"""PostgreSQL warehouse: the production option. Bulk writes go through COPY, never row-by-row inserts."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from pydantic import PrivateAttr

from dataforge_assets.lib.warehouse.base import Warehouse, WriteMode
from dataforge_assets.lib.warehouse.postgres_types import arrow_schema_for, pg_type_for

if TYPE_CHECKING:  # dlt and SQLAlchemy load when first used, not with the definitions
    import sqlalchemy as sa


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database reached by a SQLAlchemy URL (give it as dg.EnvVar: the URL holds the password)."""

    url: str

    _engine: Any = PrivateAttr(default=None)  # a SQLAlchemy Engine, made on first use

    def dlt_destination(self) -> Any:
        # dlt takes a plain libpq URL, without SQLAlchemy's driver suffix; it insists on a password,
        # which servers with trust or peer auth do not need.
        import dlt
        import sqlalchemy as sa
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        url = sa.make_url(self.url).set(drivername="postgresql")
        credentials = PostgresCredentials(url.render_as_string(hide_password=False))
        credentials.password = credentials.password or ""
        return dlt.destinations.postgres(credentials=credentials)

    def dlt_loader_file_format(self) -> str:
        # dlt writes Arrow items as CSV and loads them with COPY. Its default, insert_values, is row
        # inserts; its parquet path needs the ADBC driver.
        return "csv"

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            import sqlalchemy as sa

            url = sa.make_url(self.url)
            # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; the project ships psycopg2.
            if url.drivername == "postgresql":
                url = url.set(drivername="postgresql+psycopg2")
            self._engine = sa.create_engine(url, pool_pre_ping=True)
        return self._engine

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A psycopg2 cursor in one transaction: committed on success, rolled back on error."""
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
            for batch in batches:
                if not created:
                    cur.execute(f"DROP TABLE IF EXISTS {target}")
                    columns = ", ".join(f'"{f.name}" {pg_type_for(f.type)}' for f in batch.schema)
                    cur.execute(f"CREATE TABLE {target} ({columns})")
                    created = True
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
            cur.execute("CREATE TEMP TABLE _dataforge_keys (key text) ON COMMIT DROP")
            _copy_in(cur, "_dataforge_keys", pa.table({"key": keys.cast(pa.string())}))
            cur.execute(
                f'DELETE FROM "{schema}"."{table}" WHERE "{key_column}"::text IN (SELECT key FROM _dataforge_keys)'
            )

    def load_fingerprints(
        self, schema: str, table: str, load_column: str
    ) -> dict[str | None, tuple[int, str]]:
        # 60 bits of each row's md5, summed as numeric (no overflow).
        rows = self.query(
            f'SELECT "{load_column}" AS load, count(*) AS n, '
            f"sum(('x' || left(md5(t::text), 15))::bit(60)::bigint::numeric)::text AS total "
            f'FROM "{schema}"."{table}" AS t GROUP BY 1'
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


def _copy_in(cur: Any, target: str, data: pa.Table | pa.RecordBatch) -> None:
    """COPY Arrow data in as CSV: an unquoted empty field is NULL, a quoted one an empty string."""
    buffer = io.BytesIO()
    pa_csv.write_csv(data, buffer, pa_csv.WriteOptions(include_header=False))
    buffer.seek(0)
    columns = ", ".join(f'"{name}"' for name in data.schema.names)
    cur.copy_expert(f"COPY {target} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


def _to_arrow(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema)


def _pg_params(sql: str) -> str:
    """Portable SQL uses `?` placeholders (DuckDB style); psycopg2 wants `%s`."""
    return sql.replace("%", "%%").replace("?", "%s")
