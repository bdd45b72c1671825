"""dlt's Parquet load files without column statistics.

dlt writes every Arrow batch of a load to a Parquet file that is read once, whole, and deleted: by
DuckDB's `INSERT ... SELECT * FROM read_parquet(...)` or by dlt's normalize (PostgreSQL's CSV files).
Nothing filters on them, so the min/max pyarrow computes per column chunk is never read, and for a
raw table of text columns it is a third of the file's write CPU (~0.45 of 1.3 CPU s per 1M rows,
benchmarks/README.md). dlt passes no option for it, so its Arrow writer is given one that says it.
"""

from __future__ import annotations

from typing import Any

_PATCHED = "_dataforge_without_statistics"
# dlt's own method, kept on the class: tests compare the files both write.
DLT_CREATE_WRITER = "_dataforge_dlt_create_writer"


def parquet_writer_kwargs(parquet_format: Any) -> dict[str, Any]:
    """dlt's own settings for pyarrow's ParquetWriter (dlt's `ParquetDataWriter._create_writer`)."""
    return {
        "flavor": parquet_format.flavor,
        "version": parquet_format.version,
        "compression": parquet_format.compression,
        "data_page_size": parquet_format.data_page_size,
        "coerce_timestamps": parquet_format.coerce_timestamps,
        "allow_truncated_timestamps": parquet_format.allow_truncated_timestamps,
        "use_compliant_nested_type": parquet_format.use_compliant_nested_type,
        "write_page_index": parquet_format.write_page_index,
        "use_content_defined_chunking": parquet_format.use_content_defined_chunking,
    }


def write_load_files_without_statistics() -> None:
    """From now on in this process, dlt's Arrow-to-Parquet writer writes no column statistics (else
    the same file). Idempotent; called where a run makes its dlt pipeline."""
    import pyarrow.parquet as pq
    from dlt.common.data_writers.writers import ArrowToParquetWriter

    if getattr(ArrowToParquetWriter, _PATCHED, False):
        return

    def _create_writer(self: Any, schema: Any) -> Any:
        return pq.ParquetWriter(
            self._f, schema, **parquet_writer_kwargs(self.parquet_format), write_statistics=False
        )

    setattr(ArrowToParquetWriter, DLT_CREATE_WRITER, ArrowToParquetWriter._create_writer)
    ArrowToParquetWriter._create_writer = _create_writer
    setattr(ArrowToParquetWriter, _PATCHED, True)
