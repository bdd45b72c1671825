"""The `files` source kind: CSV/Parquet drops in a landing folder, loaded as Arrow.

Incremental on the files' modification time (dlt's filesystem resource keeps the cursor in the
destination), so a re-run reads only new or changed files; merge on the primary key makes a
re-delivered file replace its rows instead of duplicating them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import dlt
import polars as pl
import pyarrow as pa
from dlt.sources.filesystem import FileItemDict, filesystem

from dataforge_assets.lib.sources.file_checks import check_columns, check_keys, check_lines, read_header
from dataforge_assets.lib.sources.spec import TableSpec

log = logging.getLogger(__name__)

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
        return [_file_table(source_name, folder, table, self.csv) for table in self.tables]


def _resolve(folder: str, home: Path) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else home / path


def _file_table(source_name: str, folder: Path, table: FileTableSpec, csv: CsvOptions) -> Any:
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
    return (listing | reader(source=source_name, table=table, csv=csv, folder=folder)).with_name(table.name)


def _read_files(
    items: list[FileItemDict], source: str, table: FileTableSpec, csv: CsvOptions, folder: Path
) -> Iterator[pa.Table]:
    if not folder.is_dir():
        raise FileNotFoundError(f"landing folder {folder} does not exist")
    known = _known_columns(table.name)
    for item in items:
        yield from read_file_batches(Path(item.local_file_path), table.format, csv, source, table, known)


def _known_columns(table: str) -> list[str]:
    """Data columns earlier loads of the table brought (dlt's schema, restored from the destination)."""
    columns = dlt.current.source_schema().tables.get(table, {}).get("columns", {})
    return [c for c in columns if not c.startswith("_") and "__v_" not in c]


def read_file_batches(
    path: Path,
    file_format: str,
    csv: CsvOptions,
    source: str = "?",
    table: FileTableSpec | None = None,
    known_columns: Sequence[str] = (),
) -> Iterator[pa.Table]:
    """Yield the file as Arrow batches of text columns (CSV) or its own types (Parquet), plus lineage.

    The whole file is checked first (structure, columns, keys): a bad file raises BadSourceFile and
    nothing of it is yielded.
    """
    if file_format == "csv":
        header = read_header(source, path, csv.delimiter)
        check_lines(source, path, header, csv.delimiter)
        check_columns(source, path, header, known_columns)
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
        check_columns(source, path, list(pl.read_parquet_schema(path)), known_columns)
        frame = pl.scan_parquet(path, row_index_name=SOURCE_ROW, row_index_offset=1)
    if table is not None:
        check_keys(source, path, frame, table.primary_key, SOURCE_ROW)
    frame = frame.with_columns(pl.lit(path.name).alias(SOURCE_FILE))
    rows = 0
    for batch in frame.collect_batches(chunk_size=BATCH_ROWS):
        rows += batch.height
        yield batch.to_arrow()
    if rows == 0:
        log.warning(f"source {source!r}, file {path.name!r}: a header but no rows; nothing to load from it")
