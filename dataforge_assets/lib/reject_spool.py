"""Rejected rows held aside while a build streams its valid rows into the warehouse.

Rejects are usually few, but a contract change can reject every row: they go to an unnamed temporary
file (Arrow IPC, gone with the process even on a kill), not to memory, and are read back batch by batch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.ipc as ipc
else:
    pa = lazy_module("pyarrow")
    ipc = lazy_module("pyarrow.ipc")


class RejectSpool:
    """Tables added (one schema, as batches of one query have) come back in order by `batches()`."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> RejectSpool:
        self._file = tempfile.TemporaryFile(prefix="dataforge-rejects-")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        assert self._file is not None
        self._file.close()

    def add(self, table: pa.Table) -> None:
        assert self._file is not None
        if self._writer is None:
            self._schema = table.schema
            self._writer = ipc.new_stream(self._file, table.schema)
        elif not table.schema.equals(self._schema):
            # Batches of one query share their columns; a type polars chose differently is cast back.
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Every batch added, in order; one empty batch if only empty tables were added (the table is
        made all the same); nothing if nothing was added."""
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        assert self._file is not None
        self._file.seek(0)
        read = 0
        for batch in ipc.open_stream(self._file):  # an empty table writes no batch to the stream
            read += 1
            yield batch
        if not read:
            yield pa.RecordBatch.from_pylist([], schema=self._schema)
