"""DuckDB warehouse: the embedded default, one file, built on dagster-duckdb's resource.

dagster-duckdb's module imports duckdb (about 0.2 s): the definitions need duckdb anyway to check the
SQL of YAML stats tables (lib/tables/sql_parse.py), so the official resource costs nothing extra there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster._utils.backoff import backoff
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.sql_literal import quoted
from dataforge_assets.lib.warehouse.base import Warehouse, WriteMode
from dataforge_assets.lib.warehouse.writer_lock import held_by_this_process, lock_path_for, writer_lock

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
else:
    duckdb = lazy_module("duckdb")
    pa = lazy_module("pyarrow")

USER_AGENT = "dagster"


class DuckDBWarehouse(DuckDBResource, Warehouse):
    """DuckDBResource (`database`, `connection_config`) plus the table operations the layers share."""

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
    # How long a run waits for another process's hold on the warehouse before it fails.
    lock_timeout_seconds: float = Field(
        default=7200, description="Wait at most this long for the writer lock."
    )
    lock_log_interval_seconds: float = Field(
        default=30, description="While waiting, log the holder this often."
    )

    # The connection of this thread's open transaction(), if any: every operation of the thread uses it.
    _pinned: threading.local = PrivateAttr(default_factory=threading.local)

    @contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        pinned = getattr(self._pinned, "con", None)
        if pinned is not None:
            yield pinned
            return
        # Every connection is made under the writer lock (writer_lock.py): exclusive unless read-only,
        # or whatever this process's open session already holds.
        with self._locked(read_only):
            read_only = held_by_this_process(self._lock_path) == "shared" if self._lock_path else read_only
            # DuckDB refuses a second connection to a database open in this process with other connect
            # options, and dlt connects with the user agent only and SETs the rest: do the same, so
            # dlt's connections and ours share one open database.
            con = backoff(
                fn=duckdb.connect,
                retry_on=(RuntimeError, duckdb.IOException),
                kwargs={
                    "database": self.database,
                    "read_only": read_only,
                    "config": {"custom_user_agent": USER_AGENT},
                },
                max_retries=10,
            )
            try:
                for name, value in self.connection_config.items():
                    con.execute(f"SET GLOBAL {name} = {_sql_literal(value)}")
                yield con
            finally:
                con.close()

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[None]:
        # DuckDB keeps a database open in a process while any connection to it is open: opening the
        # file costs ~30 ms and closing it a checkpoint, which a pipeline run otherwise paid ~80 times
        # (benchmarks/README.md). The file (and the writer lock) stay held only until the step ends.
        with super().session(read_only), self.get_connection(read_only=read_only):
            yield

    @property
    def _lock_path(self) -> Path | None:
        return lock_path_for(self.database)

    @contextmanager
    def _locked(self, read_only: bool) -> Iterator[None]:
        path = self._lock_path
        if path is None:
            yield
            return
        # Inside a session, a connection takes what the session holds; alone, it writes unless told.
        exclusive = (
            not read_only if held_by_this_process(path) is None else held_by_this_process(path) == "exclusive"
        )
        with writer_lock(
            path,
            exclusive=exclusive,
            run_id=self._run_id,
            timeout_seconds=self.lock_timeout_seconds,
            log_every_seconds=self.lock_log_interval_seconds,
            log=self._info,
        ):
            yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # DuckDB transactions are per connection: pin one for this thread. Until COMMIT nothing of it
        # is in the database (a kill leaves unreferenced blocks that the next open frees).
        with self.get_connection() as con:
            con.execute("BEGIN TRANSACTION")
            self._pinned.con = con
            try:
                yield
            except BaseException:
                _rollback(con)
                raise
            else:
                con.execute("COMMIT")
            finally:
                self._pinned.con = None

    @contextmanager
    def _atomic(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """A transaction of its own, unless the thread's transaction() already holds one."""
        if getattr(self._pinned, "con", None) is con:
            yield
            return
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            _rollback(con)
            raise
        con.execute("COMMIT")

    def dlt_destination(self) -> Any:
        import dlt  # at run time: dlt is a third of the definitions' load time when imported there
        from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

        credentials = DuckDbCredentials(self.database)
        credentials.global_config = {"custom_user_agent": USER_AGENT, **self.connection_config}
        return dlt.destinations.duckdb(credentials=credentials)

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        with self.get_connection() as con:
            con.execute(sql, params)

    def modify(self, sql: str, params: tuple[Any, ...] | None = None) -> int:
        with self.get_connection() as con:
            # DuckDB answers a data-changing statement with one row: the rows it changed.
            rows = con.execute(sql, params).fetchall()
        return int(rows[0][0]) if rows else 0

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
        # Consecutive batches of one schema go in as one statement reading an Arrow stream: DuckDB then
        # writes compressed row groups as they fill (one INSERT per batch left partial row groups that
        # the checkpoint compressed again: twice the CPU and 1.8x the file, benchmarks/README.md).
        target = f'"{schema}"."{table}"'
        written = 0
        with self.get_connection() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            created = mode == "append" and self._exists(con, schema, table)
            with self._atomic(con):
                for run in _runs_of_one_schema(batches, table_exists=created):
                    con.register("_dataforge_batch", run.reader)
                    try:
                        if not created:
                            con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM _dataforge_batch")
                            created = True
                        else:
                            _add_missing_columns(con, schema, table)
                            con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM _dataforge_batch")
                    except duckdb.Error as error:  # the transaction is aborted: it is rolled back whole
                        run.reraise_source_error(error)
                        raise
                    con.unregister("_dataforge_batch")
                    written += run.rows
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
        self, schema: str, table: str, load_column: str, columns: Sequence[str]
    ) -> dict[str | None, tuple[int, str]]:
        # hash(a, b, ...) of the named columns: a third of hash(t) over the whole row at 10M rows
        # (the lineage columns' long strings were most of it).
        hashed = "sum(hash(" + ", ".join(f'"{c}"' for c in columns) + "))" if columns else "0"
        with self.get_connection() as con:
            rows = con.execute(
                f'SELECT "{load_column}", count(*), {hashed} FROM "{schema}"."{table}" GROUP BY 1'
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


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # A failed statement may have ended the transaction already; the original error is what matters.
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


class _Run:
    """Consecutive batches of one schema as an Arrow stream DuckDB can read (the iterator is shared:
    the run ends where a batch of another schema starts, which begins the next run)."""

    def __init__(self, first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> None:
        self.schema = first.schema
        self.rows = 0
        self.next_first: pa.RecordBatch | None = None
        self.source_error: BaseException | None = None
        self._first, self._rest = first, rest
        self.reader = pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        batch: pa.RecordBatch | None = self._first
        try:
            while batch is not None:
                self.rows += batch.num_rows
                yield batch
                batch = next(self._rest, None)
                while batch is not None and batch.num_rows == 0 and not batch.schema.equals(self.schema):
                    batch = next(self._rest, None)  # an empty batch of another schema adds nothing
                if batch is not None and not batch.schema.equals(self.schema):
                    self.next_first = batch
                    return
        except GeneratorExit:  # the reader was dropped unread: nothing failed here
            raise
        except BaseException as error:  # raised where the batches are made: DuckDB only sees a failed scan
            self.source_error = error
            raise

    def reraise_source_error(self, error: Exception) -> None:
        if self.source_error is not None:
            raise self.source_error from error


def _runs_of_one_schema(batches: Iterable[pa.Table | pa.RecordBatch], table_exists: bool) -> Iterator[_Run]:
    """The batches as runs of one schema. A write of only empty batches still creates a missing table;
    into an existing table, an empty batch of another schema adds nothing (not even its columns)."""
    record_batches = _record_batches(batches)
    first = next(record_batches, None)
    while table_exists and first is not None and first.num_rows == 0:
        first = next(record_batches, None)
    while first is not None:
        run = _Run(first, record_batches)
        yield run
        first = run.next_first


def _record_batches(batches: Iterable[pa.Table | pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if isinstance(batch, pa.RecordBatch):
            yield batch
        else:  # a table is one batch of its schema (an empty table too)
            yield from batch.to_batches() or [pa.RecordBatch.from_pylist([], schema=batch.schema)]


def _add_missing_columns(con: Any, schema: str, table: str) -> None:
    """Columns of the registered batch the table lacks are added first: a raw table that evolved (a new
    column accepted) brings it to its quarantine rows, and INSERT BY NAME would refuse it."""
    existing = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            (schema, table),
        ).fetchall()
    }
    for name, dtype, *_ in con.execute("DESCRIBE SELECT * FROM _dataforge_batch").fetchall():
        if name not in existing:
            con.execute(f'ALTER TABLE "{schema}"."{table}" ADD COLUMN "{name}" {dtype}')


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return quoted(str(value))
