"""Structural checks of a landed CSV file, before any of it is loaded.

polars reads a short row as NULLs and reports bad UTF-8 or broken quoting without a row number, so
each file is first scanned line by line (vectorised, in polars): every problem is reported with the
source, the file, the row and the column. A file failing a check is set aside whole (recorded in
`raw._rejected_files`) and stays in the landing folder; the other files of the delivery load. A fixed
file dropped again is a new file (its content hash differs) and loads on the next run.
"""

from __future__ import annotations

import csv as pycsv
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import polars as pl
else:
    pl = lazy_module("polars")


MAX_LISTED = 5
_LINE = "line"
_QUOTED = r'"(?:[^"]|"")*"'


class BadSourceFile(ValueError):
    """A landed file that cannot be loaded as it is; the message says where and why."""

    def __init__(
        self, source: str, path: Path, problem: str, row: int | None = None, column: str | None = None
    ):
        where = [f"source {source!r}", f"file {path.name!r}"]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        self.source, self.path, self.row, self.column, self.problem = source, path, row, column, problem
        self.where = ", ".join(where)
        super().__init__(
            f"{self.where}: {problem}. The file was set aside and stays in {path.parent}: fix or replace "
            "it there and it loads on the next run."
        )

    def problem_text(self) -> str:
        """Where and what, without the advice: the reason recorded in `raw._rejected_files`."""
        return f"{self.where}: {self.problem}"


def read_header(source: str, path: Path, delimiter: str, read_from: Path | None = None) -> list[str]:
    """The header row (a UTF-8 byte order mark is dropped, as polars does). `read_from`: the file's
    decompressed copy, when `path` is compressed."""
    read_from = read_from or path
    if read_from.stat().st_size == 0:
        raise BadSourceFile(
            source, path, "the file is empty (0 bytes, not even a header): an upload cut short?"
        )
    with open(read_from, encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = next(pycsv.reader(handle, delimiter=delimiter), [])
    if any("\ufffd" in name for name in header):
        raise BadSourceFile(
            source, path, "the header is not valid UTF-8 (not a CSV file, or not UTF-8)", row=0
        )
    blank = [i + 1 for i, name in enumerate(header) if not name.strip()]
    if blank:
        raise BadSourceFile(source, path, f"header column {blank[0]} has no name", row=0)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise BadSourceFile(
            source,
            path,
            f"the header names column(s) {', '.join(map(repr, repeated))} twice",
            column=repeated[0],
        )
    return header


def check_lines(
    source: str, path: Path, header: Sequence[str], delimiter: str, read_from: Path | None = None
) -> None:
    """Every data row has the header's number of fields, balanced quotes and valid UTF-8.

    Row numbers count data rows from 1 (as `_source_row` does). A quoted value spanning lines is
    reported as broken quoting: the platform's CSV sources keep one record per line.
    """
    lines = pl.scan_csv(
        read_from or path,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        new_columns=[_LINE],
        infer_schema=False,
        encoding="utf8-lossy",
        skip_rows=1,
        row_index_name="row",
        row_index_offset=1,
    )
    unquoted = pl.col(_LINE).str.replace_all(_QUOTED, "")
    try:
        problems = _problems(lines, unquoted, delimiter, len(header))
    except pl.exceptions.NoDataError:
        return  # a header and no rows: nothing to check
    if problems.height:
        first = problems.row(0, named=True)
        row, problem, column = _describe(first, header, delimiter)
        more = ""
        if problems.height > 1:
            at_least = "at least " if problems.height == MAX_LISTED else ""
            more = f" ({at_least}{problems.height - 1} more bad row(s) follow: rows {', '.join(map(str, problems['row'][1:]))})"
        raise BadSourceFile(source, path, problem + more, row=row, column=column)


def _problems(lines: pl.LazyFrame, unquoted: pl.Expr, delimiter: str, width: int) -> pl.DataFrame:
    return (
        lines.with_columns(
            fields=unquoted.str.count_matches(delimiter, literal=True) + 1,
            stray_quote=unquoted.str.contains('"', literal=True),
            bad_utf8=pl.col(_LINE).str.contains("\ufffd", literal=True),
        )
        .filter(pl.col("bad_utf8") | pl.col("stray_quote") | (pl.col("fields") != width))
        .head(MAX_LISTED)
        .collect()
    )


def _describe(bad: dict, header: Sequence[str], delimiter: str) -> tuple[int, str, str | None]:
    row, line = bad["row"], bad[_LINE]
    if bad["bad_utf8"]:
        fields = line.split(delimiter)
        at = next((i for i, f in enumerate(fields) if "\ufffd" in f), 0)
        column = header[at] if at < len(header) else None
        return row, "the text is not valid UTF-8 (re-export the file as UTF-8)", column
    if bad["stray_quote"]:
        at = line.count(delimiter, 0, line.find('"') if '"' in line else len(line))
        column = header[at] if at < len(header) else None
        return row, f"a quoted value is not closed or is malformed: {line[:120]!r}", column
    found = bad["fields"]
    if found < len(header):
        return (
            row,
            f"expected {len(header)} fields, found {found} (row cut short: a truncated file?)",
            header[found],
        )
    return row, f"expected {len(header)} fields, found {found} (more values than header columns)", None


def check_keys(source: str, path: Path, frame: pl.LazyFrame, key: Sequence[str], row_column: str) -> None:
    """A primary key is never NULL and never repeats within a file (merge would silently keep one)."""
    if not key:
        return
    keys = frame.select(*key, row_column)
    # One read of the file answers both questions (polars shares the common scan).
    nulls, dupes = pl.collect_all(
        [
            keys.filter(pl.any_horizontal(pl.col(c).is_null() for c in key)).head(MAX_LISTED),
            keys.filter(pl.struct(*key).is_duplicated())
            .group_by(*key)
            .agg(pl.col(row_column).sort())
            .sort(pl.col(row_column).list.first())
            .head(MAX_LISTED),
        ]
    )
    if nulls.height:
        first = nulls.row(0, named=True)
        column = next(c for c in key if first[c] is None)
        rows = ", ".join(str(r) for r in nulls[row_column])
        raise BadSourceFile(
            source,
            path,
            f"primary key column is empty (NULL) in row(s) {rows}",
            row=first[row_column],
            column=column,
        )
    if dupes.height:
        first = dupes.row(0, named=True)
        rows = first[row_column]
        value = ", ".join(f"{c}={first[c]}" for c in key)
        raise BadSourceFile(
            source,
            path,
            f"rows {', '.join(map(str, rows))} repeat the primary key ({value}); merge would keep only one",
            row=rows[1],
            column=", ".join(key),
        )


def check_columns(source: str, path: Path, header: Sequence[str], known: Sequence[str]) -> None:
    """A required column (one the table's first load had) must not vanish: its values would silently
    become NULL. `known`: the required columns."""
    missing = [c for c in known if c not in header]
    if missing:
        raise BadSourceFile(
            source,
            path,
            f"column(s) {', '.join(map(repr, missing))} missing from the header (every file of this table must have "
            "them); re-deliver the file with every column",
            column=missing[0],
        )
