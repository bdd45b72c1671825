"""The `files` source kind: CSV/Parquet drops in a landing folder, loaded as Arrow.

Incremental on the files' modification time (dlt's filesystem resource keeps the cursor in the
destination), so a re-run reads only new or changed files; merge on the primary key makes a
re-delivered file replace its rows instead of duplicating them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import dlt
import polars as pl
import pyarrow as pa
from dlt.sources.filesystem import FileItemDict, filesystem

from dataforge_assets.lib.sources.spec import TableSpec

# Lineage columns added to every raw row read from a file.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

BATCH_ROWS = 200_000


class CsvOptions(dg.Model):
    delimiter: str = ","
    null_values: list[str] = ["", "NA"]
    encoding: Literal["utf8"] = "utf8"


class FileTableSpec(TableSpec):
    glob: str
    format: Literal["csv", "parquet"] = "csv"


class FilesConnection(dg.Model):
    kind: Literal["files"]
    folder: str
    csv: CsvOptions = CsvOptions()
    tables: Sequence[FileTableSpec]

    def dlt_resources(self, source_name: str, home: Path) -> list[Any]:
        folder = _resolve(self.folder, home)
        return [_file_table(folder, table, self.csv) for table in self.tables]


def _resolve(folder: str, home: Path) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else home / path


def _file_table(folder: Path, table: FileTableSpec, csv: CsvOptions) -> Any:
    listing = filesystem(
        bucket_url=folder.as_uri(),
        file_glob=table.glob,
        incremental=dlt.sources.incremental("modification_date"),
    )
    reader = dlt.transformer(
        _read_files,
        name=table.name,
        primary_key=list(table.primary_key) or None,
        write_disposition=table.write_disposition,
    )
    return (listing | reader(file_format=table.format, csv=csv, folder=folder)).with_name(table.name)


def _read_files(
    items: list[FileItemDict], file_format: str, csv: CsvOptions, folder: Path
) -> Iterator[pa.Table]:
    if not folder.is_dir():
        raise FileNotFoundError(f"landing folder {folder} does not exist")
    for item in items:
        yield from read_file_batches(Path(item.local_file_path), file_format, csv)


def read_file_batches(path: Path, file_format: str, csv: CsvOptions) -> Iterator[pa.Table]:
    """Yield the file as Arrow batches of text columns (CSV) or its own types (Parquet), plus lineage."""
    if file_format == "csv":
        frame = pl.scan_csv(
            path,
            separator=csv.delimiter,
            null_values=csv.null_values,
            infer_schema=False,  # raw keeps what arrived; types are the normalized layer's job
            encoding=csv.encoding,
            row_index_name=SOURCE_ROW,
            row_index_offset=1,
        )
    else:
        frame = pl.scan_parquet(path, row_index_name=SOURCE_ROW, row_index_offset=1)
    frame = frame.with_columns(pl.lit(path.name).alias(SOURCE_FILE))
    for batch in frame.collect_batches(chunk_size=BATCH_ROWS):
        yield batch.to_arrow()
