"""The `files` source kind: CSV/Parquet drops in a landing folder, loaded as Arrow.

Incremental on the files' modification time (dlt's filesystem resource keeps the cursor in the
destination), so a re-run reads only new or changed files; merge on the primary key makes a
re-delivered file replace its rows instead of duplicating them.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import polars as pl
import pyarrow as pa

from dataforge_assets.lib.sources.file_checks import check_columns, check_keys, check_lines, read_header
from dataforge_assets.lib.sources.load_keys import LoadKeys, any_repeated, key_hashes
from dataforge_assets.lib.sources.spec import TableSpec

if TYPE_CHECKING:  # dlt is imported by the functions that run a load, not with the definitions
    from dlt.sources.filesystem import FileItemDict

log = logging.getLogger(__name__)

# Lineage columns added to every raw row read from a file.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

BATCH_ROWS = 200_000
FILES_PER_LOAD = 1_000_000
# dlt's table hint for "the staged rows have unique keys": its merge then skips deduplication.
DEDUPLICATED_HINT = "x-stage-data-deduplicated"


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

    def dlt_resources(self, source_name: str, home: Path, fresh_tables: Collection[str] = ()) -> list[Any]:
        """`fresh_tables`: raw tables with no rows yet, which a load with unique keys fills by plain insert."""
        folder = _resolve(self.folder, home)
        return [
            _file_table(source_name, folder, table, self.csv, fresh=table.name in fresh_tables)
            for table in self.tables
        ]


def _resolve(folder: str, home: Path) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else home / path


def _file_table(source_name: str, folder: Path, table: FileTableSpec, csv: CsvOptions, fresh: bool) -> Any:
    import dlt
    from dlt.sources.filesystem import filesystem

    listing = filesystem(
        bucket_url=folder.as_uri(),
        file_glob=table.glob,
        incremental=dlt.sources.incremental("modification_date"),
        # One page: the reader sees the whole load, so it knows when it has read the last file.
        files_per_page=FILES_PER_LOAD,
    )
    reader = dlt.transformer(
        _read_files,
        name=table.name,
        primary_key=list(table.primary_key) or None,
        write_disposition=table.write_disposition,
    )
    resource = listing | reader(source=source_name, table=table, csv=csv, folder=folder, fresh=fresh)
    # Said on every load, so a `deduplicated` a previous load stored in the schema never carries over.
    resource.apply_hints(additional_table_hints={DEDUPLICATED_HINT: False})
    return resource.with_name(table.name)


def _read_files(
    items: list[FileItemDict], source: str, table: FileTableSpec, csv: CsvOptions, folder: Path, fresh: bool
) -> Iterator[Any]:
    import dlt

    if not folder.is_dir():
        raise FileNotFoundError(f"landing folder {folder} does not exist")
    known = _known_columns(table.name)
    merging = table.write_disposition == "merge" and bool(table.primary_key)
    load_keys = LoadKeys(table.primary_key) if merging else None
    # Oldest first, so batches follow delivery order (dlt's deduplication of keys that files of one
    # load repeat still keeps an arbitrary one of them).
    ordered = sorted(items, key=lambda item: item["modification_date"])
    batches = (
        batch
        for item in ordered
        for batch in read_file_batches(
            Path(item.local_file_path), table.format, csv, source, table, known, load_keys
        )
    )
    last = None
    for batch in _coalesced(batches):
        if last is not None:
            yield last
        last = batch
    if last is None:
        return
    if load_keys is None:
        yield last
        return
    # The whole load is read: tell dlt how to write it, with its last batch.
    yield dlt.mark.with_hints(last, _merge_hints(load_keys.repeated(), fresh))


def _merge_hints(repeated: bool, fresh: bool) -> Any:
    """How a merge table takes this load: keys unique in the load let dlt skip its deduplication,
    and a table with no rows yet has nothing to merge with, so it is filled by plain insert."""
    import dlt

    if repeated:
        return dlt.mark.make_hints(
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            additional_table_hints={DEDUPLICATED_HINT: False},
        )
    if fresh:
        return dlt.mark.make_hints(write_disposition="append")
    return dlt.mark.make_hints(
        write_disposition={"disposition": "merge", "strategy": "delete-insert", "deduplicated": True},
        additional_table_hints={DEDUPLICATED_HINT: True},
    )


def _coalesced(batches: Iterable[pa.Table], rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """Small files' batches joined into batches of about `rows` rows: every batch dlt gets costs a
    schema pass and a Parquet row group, and monthly files are small. Batches of different columns
    are never joined (a file may bring a new column)."""
    pending: list[pa.Table] = []
    size = 0
    for batch in batches:
        if pending and (batch.schema != pending[0].schema or size + batch.num_rows > rows):
            yield pa.concat_tables(pending)
            pending, size = [], 0
        pending.append(batch)
        size += batch.num_rows
    if pending:
        yield pa.concat_tables(pending)


def _known_columns(table: str) -> list[str]:
    """Data columns earlier loads of the table brought (dlt's schema, restored from the destination)."""
    import dlt

    columns = dlt.current.source_schema().tables.get(table, {}).get("columns", {})
    return [c for c in columns if not c.startswith("_") and "__v_" not in c]


def read_file_batches(
    path: Path,
    file_format: str,
    csv: CsvOptions,
    source: str = "?",
    table: FileTableSpec | None = None,
    known_columns: Sequence[str] = (),
    load_keys: LoadKeys | None = None,
) -> Iterator[pa.Table]:
    """Yield the file as Arrow batches of text columns (CSV) or its own types (Parquet), plus lineage.

    The file's structure and columns are checked before anything is yielded, its keys as it streams
    (no NULL, no repeat): a bad file raises BadSourceFile, which fails the extraction, so nothing of
    the load is committed.
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
    key = list(table.primary_key) if table is not None else []
    hashes: list[pl.Series] = []
    rows = 0
    for batch in frame.with_columns(pl.lit(path.name).alias(SOURCE_FILE)).collect_batches(
        chunk_size=BATCH_ROWS
    ):
        if key:
            if batch.select(pl.any_horizontal(pl.col(c).is_null() for c in key).any()).item():
                check_keys(source, path, frame, key, SOURCE_ROW)  # raises, naming the rows
            hashes.append(key_hashes(batch, key))
        rows += batch.height
        yield batch.to_arrow()
    if key and any_repeated(hashes):
        # Exact check, only on suspicion: raises naming the rows (a hash collision passes).
        check_keys(source, path, frame, key, SOURCE_ROW)
    if load_keys is not None:
        load_keys.add_file(hashes)
    if rows == 0:
        log.warning(f"source {source!r}, file {path.name!r}: a header but no rows; nothing to load from it")
