"""The `files` source kind: CSV/Parquet drops in a landing folder, loaded as Arrow.

Each file is its own unit: known by identity (name, size, sha256; `landing.py`), read and checked
alone, and either loaded or set aside whole in `raw._rejected_files` with its reason, never blocking
the other files of the delivery. The identities of the files handled live in dlt's resource state,
which dlt commits in the destination with the load. Files of one load are aligned to one column set
(dlt buffers a table's Arrow batches together, and they must share a schema). Merge on the primary
key makes a changed file replace its rows instead of duplicating them.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import dagster as dg
from pydantic import field_validator

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.prefetch import mapped_ahead
from dataforge_assets.lib.sources.committed_state import SPEC_STATE_KEY, spec_fingerprint
from dataforge_assets.lib.sources.file_checks import (
    BadSourceFile,
    check_columns,
    check_keys,
    check_lines,
    read_header,
)
from dataforge_assets.lib.sources.landing import (
    Identity,
    LandedFile,
    landed_files,
    settled,
    sha256_of,
    unchanged_since,
)
from dataforge_assets.lib.sources.load_keys import LoadKeys, any_repeated, key_hashes
from dataforge_assets.lib.sources.rejected_files import REJECTED_FILES, Rejection, rejection_rows
from dataforge_assets.lib.sources.spec import TableSpec

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq
else:
    pl = lazy_module("polars")
    pa = lazy_module("pyarrow")
    pq = lazy_module("pyarrow.parquet")

log = logging.getLogger(__name__)
R = TypeVar("R")

# Lineage columns added to every raw row read from a file.
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"

BATCH_ROWS = 200_000
# dlt's table hint for "the staged rows have unique keys": its merge then skips deduplication.
DEDUPLICATED_HINT = "x-stage-data-deduplicated"
# A file must keep its size and time this long to be read (the second look of `landing.settled`).
SETTLE_SECONDS = 1.0


class CsvOptions(dg.Model):
    delimiter: str = ","
    null_values: list[str] = ["", "NA"]
    encoding: Literal["utf8"] = "utf8"


class FileTableSpec(TableSpec):
    glob: str
    format: Literal["csv", "parquet"] = "csv"

    @field_validator("deleted_flag")
    @classmethod
    def _no_deleted_flag(cls, value: str | None) -> str | None:
        # CSV cells are text, and dlt deletes a row whose non-boolean flag holds any value at all.
        if value is not None:
            raise ValueError(
                "deleted_flag is for sql_database and rest_api tables; a file re-delivered without a row "
                "keeps it (merge) - use merge_strategy: scd2 to retire rows a file's new version lacks"
            )
        return value


class FilesConnection(dg.Model):
    kind: Literal["files"]
    folder: str
    csv: CsvOptions = CsvOptions()
    tables: Sequence[FileTableSpec]
    # Seconds a new file must keep its size and time before it is read: longer for slow uploads.
    settle_seconds: float = SETTLE_SECONDS

    def dlt_resources(
        self,
        source_name: str,
        home: Path,
        fresh_tables: Collection[str] = (),
        schema_contract: str | None = None,
    ) -> list[Any]:
        """`fresh_tables`: raw tables with no rows yet, which a load with unique keys fills by plain insert."""
        folder = _resolve(self.folder, home)
        return [
            _file_table(
                FileLoad(
                    source=source_name,
                    table=table,
                    csv=self.csv,
                    folder=folder,
                    fresh=table.name in fresh_tables,
                    freeze=schema_contract == "freeze",
                    settle_seconds=self.settle_seconds,
                )
            )
            for table in self.tables
        ]

    def nothing_new(
        self,
        home: Path,
        tables: Collection[str],
        state_of: Callable[[str], dict[str, Any] | None],
        schema_contract: str | None = None,
    ) -> bool:
        """True when a load of `tables` would read no file: the committed state of each (`state_of`, see
        committed_state.py) was written under the same table spec and records every landed file with
        its size and time as they are now (what `_new_files` skips without hashing). Cheap: one stat
        per file; anything else (a new, touched or re-delivered file, no state yet) answers False."""
        folder = _resolve(self.folder, home)
        if not folder.is_dir():
            return False  # the load says the folder is missing
        for table in self.tables:
            if table.name not in tables:
                continue
            state = state_of(table.name)
            if (
                state is None
                or "required_columns" not in state  # a load would record them
                or state.get(SPEC_STATE_KEY) != _spec(table, self.csv, schema_contract == "freeze")
            ):
                return False
            handled = state.get("files", {})
            if not all(unchanged_since(handled.get(f.name), f) for f in landed_files(folder, [table.glob])):
                return False
        return True


def _spec(table: FileTableSpec, csv: CsvOptions, freeze: bool) -> str:
    return spec_fingerprint(table.model_dump_json(), csv.model_dump_json(), str(freeze))


@dataclass(frozen=True)
class FileLoad:
    source: str
    table: FileTableSpec
    csv: CsvOptions
    folder: Path
    fresh: bool
    freeze: bool  # the source's schema contract: a file bringing a new column is set aside
    settle_seconds: float


def _resolve(folder: str, home: Path) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else home / path


def _file_table(load: FileLoad) -> Any:
    import dlt  # at run time, not when the definitions load

    history = load.table.keeps_history
    resource = dlt.resource(
        _read_landing,
        name=load.table.name,
        primary_key=list(load.table.primary_key) or None,
        write_disposition=load.table.dlt_write_disposition,
        # A load reads only new files: scd2 retires the rows absent from a file's new version, never
        # the rows of files the load did not read.
        merge_key=SOURCE_FILE if history else None,
        columns=load.table.dlt_columns,
    )(load)
    if history:
        from dataforge_assets.lib.sources.history import with_row_hash

        resource.add_map(with_row_hash)
    # Said on every load, so a `deduplicated` a previous load stored in the schema never carries over.
    resource.apply_hints(additional_table_hints={DEDUPLICATED_HINT: False})
    return resource


@dataclass
class _Candidate:
    landed: LandedFile
    identity: Identity
    columns: list[str] | None = None  # after the structure checks
    schema: pa.Schema | None = None  # Parquet only


def _read_landing(load: FileLoad) -> Iterator[Any]:
    import dlt  # at run time, not when the definitions load

    if not load.folder.is_dir():
        raise FileNotFoundError(f"landing folder {load.folder} does not exist")
    state = dlt.current.resource_state()
    state[SPEC_STATE_KEY] = _spec(load.table, load.csv, load.freeze)
    handled: dict[str, dict] = state.setdefault("files", {})
    new = _new_files(load, handled)
    rejections: list[Rejection] = []
    known = _known_columns(load.table.name)
    # The columns of the table's first load are required of every file; columns a later file brought
    # (schema evolution) are optional: a file without them loads with NULLs there.
    if known and "required_columns" not in state:
        state["required_columns"] = list(known)
    required = state.get("required_columns", [])
    with tempfile.TemporaryDirectory(prefix="dataforge_landing_") as scratch:
        accepted = []
        for candidate, outcome in _two_at_a_time(
            lambda candidate: _inspect(load, candidate, known, required, Path(scratch)), new
        ):
            if isinstance(outcome, BadSourceFile):
                rejections.append(_rejection(load, candidate, outcome))
            else:
                accepted.append(candidate)
        union = _union_schema(load, accepted, known, rejections)
        if not required and accepted:
            # The first load: what every one of its files has is required from now on.
            state["required_columns"] = [
                c for c in union.names if all(c in (a.columns or []) for a in accepted)
            ]
        # scd2 takes every row as it is (its merge compares whole rows, not keys).
        merging = (
            load.table.write_disposition == "merge"
            and load.table.merge_strategy == "delete-insert"
            and bool(load.table.primary_key)
        )
        load_keys = LoadKeys(load.table.primary_key, spill_folder=Path(scratch)) if merging else None
        batches = _accepted_batches(load, accepted, union, load_keys, rejections, Path(scratch))
        last = None
        for batch in _coalesced(batches):
            if last is not None:
                yield last
            last = batch
        # Asked while the scratch folder (where a large load's key hashes went) still exists.
        repeated = load_keys is not None and load_keys.repeated()
    for candidate in new:
        handled[candidate.identity.name] = {
            "size": candidate.identity.size,
            "sha256": candidate.identity.sha256,
            "mtime_ns": candidate.landed.mtime_ns,
        }
    if rejections:
        for rejection in rejections:
            log.warning(f"file set aside: {rejection.reason}")
        yield dlt.mark.with_hints(
            rejection_rows(rejections),
            dlt.mark.make_hints(table_name=REJECTED_FILES, write_disposition="append", primary_key=[]),
            create_table_variant=True,
        )
    if last is None:
        return
    if load_keys is None:
        yield last
        return
    # The whole load is read: tell dlt how to write it, with its last batch.
    # A table with a deleted flag is always merged: a plain insert would load the deleted rows.
    fresh = load.fresh and load.table.deleted_flag is None
    yield dlt.mark.with_hints(last, _merge_hints(repeated, fresh))


def _new_files(load: FileLoad, handled: dict[str, dict]) -> list[_Candidate]:
    """Landed files whose identity differs from the one last handled under their name, and that are
    not still being written; a file only touched or re-copied unchanged just gets its time noted."""
    first_look = time.monotonic()
    new = []
    changed = [
        landed
        for landed in landed_files(load.folder, [load.table.glob])
        if not unchanged_since(handled.get(landed.name), landed)
    ]

    def digest(landed: LandedFile) -> str | None:
        try:
            return sha256_of(landed.path)
        except FileNotFoundError:
            return None

    # Hashed two files at a time (hashlib and file reads release the GIL).
    for landed, sha256 in zip(changed, mapped_ahead(digest, changed), strict=True):
        record = handled.get(landed.name)
        if sha256 is None:
            log.warning(f"file {landed.name!r} vanished while being read; skipped")
            continue
        identity = Identity(landed.name, landed.size, sha256)
        if identity.same_as(record):
            record["mtime_ns"] = landed.mtime_ns
            log.info(f"file {landed.name!r}: same name, size and content as already handled; nothing to load")
            continue
        new.append(_Candidate(landed, identity))
    steady = {c.path for c in settled([c.landed for c in new], first_look, load.settle_seconds)}
    # Oldest first, so batches follow delivery order (a key repeated across files keeps the last).
    return sorted(
        (c for c in new if c.landed.path in steady), key=lambda c: (c.landed.mtime_ns, c.landed.name)
    )


def _rejection(load: FileLoad, candidate: _Candidate, bad: BadSourceFile) -> Rejection:
    return Rejection(
        source=load.source,
        table=load.table.name,
        file_name=candidate.identity.name,
        size=candidate.identity.size,
        sha256=candidate.identity.sha256,
        reason=bad.problem_text(),
    )


def _readable_path(load: FileLoad, candidate: _Candidate, scratch: Path) -> Path:
    """The file itself, or for `.gz` its decompressed copy in the scratch folder."""
    path = candidate.landed.path
    if not path.name.endswith(".gz"):
        return path
    plain = scratch / path.name[: -len(".gz")]
    if not plain.exists():
        try:
            with gzip.open(path, "rb") as source, open(plain, "wb") as target:
                shutil.copyfileobj(source, target)
        except (EOFError, OSError, zlib.error) as error:
            plain.unlink(missing_ok=True)
            raise BadSourceFile(
                load.source, path, f"the gzip file cannot be decompressed ({error}): a transfer cut short?"
            ) from None
    return plain


def _inspect(
    load: FileLoad, candidate: _Candidate, known: dict[str, str], required: list[str], scratch: Path
) -> None:
    """Structure and columns of a file, before anything of it is read: raises BadSourceFile."""
    path = _readable_path(load, candidate, scratch)
    shown = candidate.landed.path  # messages name the file as landed
    if load.table.format == "csv":
        header = read_header(load.source, shown, load.csv.delimiter, read_from=path)
        check_lines(load.source, shown, header, load.csv.delimiter, read_from=path)
        candidate.columns = header
    else:
        try:
            candidate.schema = pq.read_schema(path)
        except Exception as error:  # noqa: BLE001 - any unreadable Parquet is a bad file
            raise BadSourceFile(load.source, shown, f"not a readable Parquet file ({error})") from None
        candidate.columns = list(candidate.schema.names)
        for field in candidate.schema:
            if field.name in known and known[field.name] != _dlt_type(field.type):
                raise BadSourceFile(
                    load.source,
                    shown,
                    f"column {field.name!r} is {_dlt_type(field.type)} here but {known[field.name]} in "
                    "earlier loads of the table; re-deliver it with the table's type",
                    column=field.name,
                )
    check_columns(load.source, shown, candidate.columns, required)
    added = [c for c in candidate.columns if c not in known]
    if load.freeze and known and added:
        raise BadSourceFile(
            load.source,
            shown,
            f"new column(s) {', '.join(map(repr, added))} and the source's schema contract is `freeze`",
            column=added[0],
        )


def _union_schema(
    load: FileLoad, accepted: list[_Candidate], known: dict[str, str], rejections: list[Rejection]
) -> pa.Schema:
    """One schema for every file of the load: the table's known columns, then new ones as files
    bring them (text for CSV; for Parquet the first file's type, a later file disagreeing is set aside)."""
    fields: dict[str, pa.Field] = {}
    for candidate in list(accepted):
        if load.table.format == "csv":
            for name in candidate.columns or []:
                fields.setdefault(name, pa.field(name, pa.large_string()))
            continue
        assert candidate.schema is not None
        clash = next(
            (
                f
                for f in candidate.schema
                if f.name in fields and _dlt_type(fields[f.name].type) != _dlt_type(f.type)
            ),
            None,
        )
        if clash is not None:
            accepted.remove(candidate)
            bad = BadSourceFile(
                load.source,
                candidate.landed.path,
                f"column {clash.name!r} is {clash.type} here but {fields[clash.name].type} in another file "
                "of this delivery",
                column=clash.name,
            )
            rejections.append(_rejection(load, candidate, bad))
            continue
        for field in candidate.schema:
            # Types dlt stores alike (int32, int64) share the wider one.
            fields[field.name] = _wider(fields[field.name], field) if field.name in fields else field
    ordered = [fields[c] for c in known if c in fields] + [f for n, f in fields.items() if n not in known]
    return pa.schema(ordered)


def _accepted_batches(
    load: FileLoad,
    accepted: list[_Candidate],
    union: pa.Schema,
    load_keys: LoadKeys | None,
    rejections: list[Rejection],
    scratch: Path,
) -> Iterator[pa.Table]:
    """Each accepted file read whole (its keys checked before any of it is handed on), aligned to the
    load's schema; a file failing its key checks is set aside.

    The next two files are read in threads while dlt writes this one's batches (polars and pyarrow
    release the GIL): the load's files are small and polars reads each on about one core."""

    def read(candidate: _Candidate) -> list[pa.Table]:
        return list(
            read_file_batches(
                _readable_path(load, candidate, scratch),
                load.table.format,
                load.csv,
                load.source,
                load.table,
                load_keys=load_keys,
                shown_as=candidate.landed.path,
            )
        )

    for candidate, batches in _two_at_a_time(read, accepted):
        if isinstance(batches, BadSourceFile):
            rejections.append(_rejection(load, candidate, batches))
            continue
        for batch in batches:
            yield _aligned(batch, union)


def _two_at_a_time(
    work: Callable[[_Candidate], R], candidates: list[_Candidate]
) -> Iterator[tuple[_Candidate, R | BadSourceFile]]:
    """Each candidate with what `work` made of it, or the BadSourceFile it raised (the file is set
    aside, the others go on), in file order; two files are worked on at once in threads (polars,
    pyarrow and file reads release the GIL)."""

    def attempt(candidate: _Candidate) -> R | BadSourceFile:
        try:
            return work(candidate)
        except BadSourceFile as bad:
            return bad

    return zip(candidates, mapped_ahead(attempt, candidates), strict=True)


def _aligned(batch: pa.Table, union: pa.Schema) -> pa.Table:
    """The batch with the load's columns in the load's order (absent ones NULL), lineage last."""
    columns, fields = [], []
    for field in union:
        if field.name in batch.column_names:
            columns.append(batch[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
        fields.append(field)
    for name in (SOURCE_FILE, SOURCE_ROW):
        columns.append(batch[name])
        fields.append(batch.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _wider(a: pa.Field, b: pa.Field) -> pa.Field:
    return pa.unify_schemas([pa.schema([a]), pa.schema([b])], promote_options="permissive").field(0)


def _dlt_type(arrow_type: pa.DataType) -> str:
    from dlt.common.libs.pyarrow import get_column_type_from_py_arrow

    try:
        return str(get_column_type_from_py_arrow(arrow_type)["data_type"])
    except Exception:  # noqa: BLE001 - a type dlt cannot hold compares as its Arrow name
        return str(arrow_type)


def _merge_hints(repeated: bool, fresh: bool) -> Any:
    """How a merge table takes this load: keys unique in the load let dlt skip its deduplication,
    and a table with no rows yet has nothing to merge with, so it is filled without a merge: a
    replace of nothing (DuckDB inserts; PostgreSQL swaps in its staging table, whole or not at all)."""
    import dlt  # at run time, not when the definitions load

    if repeated:
        return dlt.mark.make_hints(
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            additional_table_hints={DEDUPLICATED_HINT: False},
        )
    if fresh:
        return dlt.mark.make_hints(write_disposition="replace")
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


def _known_columns(table: str) -> dict[str, str]:
    """Data columns (and their dlt types) earlier loads of the table brought (dlt's schema, restored
    from the destination)."""
    import dlt  # at run time, not when the definitions load

    columns = dlt.current.source_schema().tables.get(table, {}).get("columns", {})
    return {
        name: str(column.get("data_type"))
        for name, column in columns.items()
        if not name.startswith("_") and "__v_" not in name
    }


def read_file_batches(
    path: Path,
    file_format: str,
    csv: CsvOptions,
    source: str = "?",
    table: FileTableSpec | None = None,
    load_keys: LoadKeys | None = None,
    shown_as: Path | None = None,
) -> Iterator[pa.Table]:
    """Yield a checked file (`_inspect`) as Arrow batches of text columns (CSV) or its own types
    (Parquet), plus lineage; its keys are checked as it streams (no NULL, no repeat) and a bad key
    raises BadSourceFile naming the rows. `shown_as`: the landed file `path` was decompressed from.
    """
    shown = shown_as or path
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
    key = list(table.primary_key) if table is not None else []
    hashes: list[pl.Series] = []
    rows = 0
    for batch in frame.with_columns(pl.lit(shown.name).alias(SOURCE_FILE)).collect_batches(
        chunk_size=BATCH_ROWS
    ):
        if key:
            if batch.select(pl.any_horizontal(pl.col(c).is_null() for c in key).any()).item():
                check_keys(source, shown, frame, key, SOURCE_ROW)  # raises, naming the rows
            hashes.append(key_hashes(batch, key))
        rows += batch.height
        yield batch.to_arrow()
    if key and any_repeated(hashes):
        # Exact check, only on suspicion: raises naming the rows (a hash collision passes).
        check_keys(source, shown, frame, key, SOURCE_ROW)
    if load_keys is not None:
        load_keys.add_file(hashes)
    if rows == 0:
        log.warning(f"source {source!r}, file {shown.name!r}: a header but no rows; nothing to load from it")
