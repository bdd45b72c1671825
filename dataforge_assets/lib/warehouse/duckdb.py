"""DuckDB warehouse: the embedded default, one file, built on dagster-duckdb's resource."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import pyarrow as pa
from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBResource
from pydantic import Field

from dataforge_assets.lib.warehouse.base import Warehouse, WriteMode

USER_AGENT = "dagster"


class DuckDBWarehouse(DuckDBResource, Warehouse):
    """DuckDBResource plus the table operations the layers share."""

    # Bounded memory: DuckDB's default limit is 80% of RAM (the hand-written SQL baseline peaks at
    # 6.6 GB on 10M rows); over the limit DuckDB spills to <database>.tmp instead. With merges that
    # need no deduplication (sources/files.py) 256 MB costs little time and holds the pipeline's peak
    # at 10M rows to 1.25x that at 1M (1 GB: 1.65x), benchmarks/README.md.
    # Insertion order is never relied on (every ordered read says ORDER BY), and keeping it costs
    # DuckDB buffering on every bulk insert.
    connection_config: dict[str, Any] = Field(
        default={"memory_limit": "256MB", "preserve_insertion_order": False},
        description="DuckDB settings, https://duckdb.org/docs/sql/configuration.html",
    )

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # DuckDB refuses a second connection to a database open in this process with other connect
        # options, and dlt connects with the user agent only and SETs the rest: do the same, so
        # dlt's connections and ours share one open database.
        con = backoff(
            fn=duckdb.connect,
            retry_on=(RuntimeError, duckdb.IOException),
            kwargs={"database": self.database, "config": {"custom_user_agent": USER_AGENT}},
            max_retries=10,
        )
        try:
            for name, value in self.connection_config.items():
                con.execute(f"SET GLOBAL {name} = {_sql_literal(value)}")
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self) -> Iterator[None]:
        # DuckDB keeps a database open in a process while any connection to it is open: opening the
        # file costs ~30 ms and closing it a checkpoint, which a pipeline run otherwise paid ~80 times
        # (benchmarks/README.md). The file stays locked to this process only until the step ends.
        with self.get_connection():
            yield

    def dlt_destination(self) -> Any:
        import dlt  # at run time: dlt is a third of the definitions' load time when imported there
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        credentials = DuckDbCredentials(self.database)
        credentials.global_config = {"custom_user_agent": USER_AGENT, **self.connection_config}
        return dlt.destinations.duckdb(credentials=credentials)

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        with self.get_connection() as con:
            con.execute(sql, params)

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> pa.Table:
        with self.get_connection() as con:
            return con.sql(sql, params=params).to_arrow_table()

    def query_batches(self, sql: str, batch_size: int = 250_000) -> Iterator[pa.RecordBatch]:
        with self.get_connection() as con:
            reader = con.sql(sql).to_arrow_reader(batch_size)
            yield from reader

    def write(
        self, schema: str, table: str, batches: Iterable[pa.Table | pa.RecordBatch], mode: WriteMode
    ) -> int:
        target = f'"{schema}"."{table}"'
        written = 0
        with self.get_connection() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            created = mode == "append" and self._exists(con, schema, table)
            con.execute("BEGIN TRANSACTION")
            try:
                for batch in batches:
                    if batch.num_rows == 0 and created:
                        continue
                    con.register("_dataforge_batch", batch)
                    if not created:
                        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM _dataforge_batch")
                        created = True
                    else:
                        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _dataforge_batch")
                    con.unregister("_dataforge_batch")
                    written += batch.num_rows
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return written

    def replace_table_as(self, schema: str, table: str, select_sql: str) -> None:
        with self.get_connection() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f'CREATE OR REPLACE TABLE "{schema}"."{table}" AS {select_sql}')

    def delete_keys(self, schema: str, table: str, key_column: str, keys: pa.Array) -> None:
        with self.get_connection() as con:
            if not self._exists(con, schema, table):
                return
            con.register("_dataforge_keys", pa.table({"key": keys}))
            con.execute(
                f'DELETE FROM "{schema}"."{table}" WHERE "{key_column}" IN (SELECT key FROM _dataforge_keys)'
            )
            con.unregister("_dataforge_keys")

    def load_fingerprints(
        self, schema: str, table: str, load_column: str
    ) -> dict[str | None, tuple[int, str]]:
        with self.get_connection() as con:
            rows = con.execute(
                f'SELECT "{load_column}", count(*), sum(hash(t)) FROM "{schema}"."{table}" AS t GROUP BY 1'
            ).fetchall()
        return {load: (int(n), str(total)) for load, n, total in rows}

    def table_exists(self, schema: str, table: str) -> bool:
        with self.get_connection() as con:
            return self._exists(con, schema, table)

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        with self.get_connection() as con:
            rows = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                (schema, table),
            ).fetchall()
        return [(name, dtype) for name, dtype in rows]

    @staticmethod
    def _exists(con: Any, schema: str, table: str) -> bool:
        # fetchall, not fetchone: DuckDB 2.0 keeps a half-read result open and blocks the connection.
        rows = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            (schema, table),
        ).fetchall()
        return bool(rows[0][0])


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
