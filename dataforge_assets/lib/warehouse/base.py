"""What every warehouse offers the assets. SQL passed here must be portable (DuckDB and PostgreSQL)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import PrivateAttr

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.worker_process import Worker

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")

WriteMode = Literal["replace", "append"]


class Warehouse(dg.ConfigurableResource):
    """Table-level operations the normalized and stats layers need, plus the dlt destination for raw.

    Subclasses implement every method; assets depend on this type, never on a concrete warehouse.
    """

    _run_id: str | None = PrivateAttr(default=None)
    _log: Any = PrivateAttr(default=None)
    # This thread's open session(): how deep, and what `session_columns` remembered in it.
    _session_state: threading.local = PrivateAttr(default_factory=threading.local)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every run that touches the warehouse says which process executes it: the dead-run sensor
        # (operations/dead_runs.py) fails the run when that process is gone.
        self._log = context.log
        run = context.run
        if run is not None and context.instance is not None:
            self._run_id = run.run_id
            context.instance.add_run_tags(run.run_id, Worker.this_process().tags())

    def _info(self, message: str) -> None:
        if self._log is not None:
            self._log.info(message)
        else:
            logging.getLogger(__name__).info(message)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[None]:
        """Hold the warehouse open for one step, so the many short operations in it share one
        opening (and one flush to disk) instead of paying for it each. Re-entrant. Writers are
        serialized; `read_only` sessions (checks that only read) may share the warehouse.
        Subclasses that override it enter `super().session()` too (it scopes `session_columns`)."""
        state = self._session_state
        depth = getattr(state, "depth", 0)
        if depth == 0:
            state.columns = {}
        state.depth = depth + 1
        try:
            yield
        finally:
            state.depth = depth
            if depth == 0:
                state.columns = {}

    @contextmanager
    def table_lock(self, schema: str, table: str) -> Iterator[None]:
        """Keep other processes from writing schema.table until the block ends (released if this
        process dies). A no-op where the session already serializes every writer (DuckDB)."""
        yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything this thread writes through the warehouse inside the block commits together, or
        (on an error, a kill, a dropped connection) not at all. Reads in other threads use their own
        connections and see the state before the block until it commits. Not re-entrant."""
        raise NotImplementedError

    def dlt_destination(self) -> Any:
        """The dlt destination that loads raw tables into this warehouse."""
        raise NotImplementedError

    def dlt_loader_file_format(self) -> str:
        """The file format dlt loads raw tables with: the destination's bulk path."""
        return "parquet"

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] | None = None) -> pa.Table:
        raise NotImplementedError

    def query_batches(self, sql: str, batch_size: int = 250_000) -> Iterator[pa.RecordBatch]:
        """Stream a query's result, so large tables never sit in memory whole."""
        raise NotImplementedError

    def write(
        self, schema: str, table: str, batches: Iterable[pa.Table | pa.RecordBatch], mode: WriteMode
    ) -> int:
        """Write Arrow data to schema.table (creating it from the first batch); returns rows written."""
        raise NotImplementedError

    def delete_keys(self, schema: str, table: str, key_column: str, keys: pa.Array) -> None:
        """Delete the rows whose key_column is in keys (no-op if the table does not exist)."""
        raise NotImplementedError

    def drop_table(self, schema: str, table: str) -> None:
        """Drop schema.table if it exists."""
        self.execute(f'DROP TABLE IF EXISTS "{schema}"."{table}"')

    def replace_table_as(self, schema: str, table: str, select_sql: str) -> None:
        """Atomically replace schema.table with the result of a SELECT (readers never see it half-built)."""
        raise NotImplementedError

    def load_fingerprints(
        self, schema: str, table: str, load_column: str, columns: Sequence[str]
    ) -> dict[str | None, tuple[int, str]]:
        """Per value of `load_column`: (rows, a sum of hashes of each row's `columns`). Any change to
        one of those values, an insert or a delete changes its load's fingerprint (barring a 64-bit hash
        collision); other columns are not read."""
        raise NotImplementedError

    def table_exists(self, schema: str, table: str) -> bool:
        raise NotImplementedError

    def columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column in order; empty if the table does not exist."""
        raise NotImplementedError

    def session_columns(self, schema: str, table: str) -> list[tuple[str, str]]:
        """`columns`, asked once per session (step) while the table exists: only for tables that the
        session itself does not alter, such as the raw tables a build reads (dlt alters them in the raw
        steps). Outside a session, or while the table does not exist, asked every time."""
        remembered = getattr(self._session_state, "columns", None)
        if not getattr(self._session_state, "depth", 0) or remembered is None:
            return self.columns(schema, table)
        if (schema, table) not in remembered:
            found = self.columns(schema, table)
            if not found:
                return found
            remembered[(schema, table)] = found
        return list(remembered[(schema, table)])

    def modify(self, sql: str, params: tuple[Any, ...] | None = None) -> int:
        """Run an UPDATE, DELETE or INSERT; returns the rows it changed (no count query beforehand)."""
        raise NotImplementedError

    def scalar(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        result = self.query(sql, params)
        return result.column(0)[0].as_py() if result.num_rows else None

    def row_count(self, schema: str, table: str) -> int:
        return int(self.scalar(f'SELECT count(*) FROM "{schema}"."{table}"'))
