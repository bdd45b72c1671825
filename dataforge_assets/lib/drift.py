"""Schema drift of a raw table: new, dropped and retyped columns, against the previous load and the
declared contract.

Each check run records the table's columns for its latest load (in `quality.column_snapshots`), so
the next load is compared with the one before it, and re-running the check still reports the drift
of the latest load. dlt never drops a column and puts a value of a new type into a variant column
(`<column>__v_<type>`), so a dropped column shows as one with no values in the latest load, and a
type change as a variant column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from dataforge_assets.lib.warehouse import Warehouse

RAW = "raw"
QUALITY = "quality"
SNAPSHOTS = "column_snapshots"
LOAD_ID = "_dlt_load_id"
VARIANT = "__v_"
SOURCE_FILE = "_source_file"  # files sources only


@dataclass
class Drift:
    latest_load: str | None = None
    previous_load: str | None = None
    added: dict[str, str] = field(default_factory=dict)  # column -> type
    dropped: dict[str, str] = field(default_factory=dict)  # column -> type it had
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (old, new)
    undeclared_missing: list[str] = field(default_factory=list)  # declared but absent
    files: dict[str, list[str]] = field(default_factory=dict)  # new column -> files that brought it

    @property
    def breaking(self) -> bool:
        return bool(self.dropped or self.retyped or self.undeclared_missing)

    def lines(self) -> list[str]:
        out = [f"new column {c!r} ({t}){_in_files(self.files.get(c))}" for c, t in self.added.items()]
        out += [
            f"column {c!r} ({t}) dropped: no values in load {self.latest_load}"
            for c, t in self.dropped.items()
        ]
        out += [f"column {c!r} changed type: {old} -> {new}" for c, (old, new) in self.retyped.items()]
        out += [f"declared column {c!r} is missing from the raw table" for c in self.undeclared_missing]
        return out


def data_columns(warehouse: Warehouse, table: str) -> dict[str, str]:
    return {n: t for n, t in warehouse.columns(RAW, table) if not n.startswith("_dlt")}


def detect(warehouse: Warehouse, table: str, declared: Sequence[str]) -> Drift:
    columns = data_columns(warehouse, table)
    drift = Drift(undeclared_missing=[c for c in declared if c not in columns])
    if not columns:
        return drift
    drift.latest_load = warehouse.scalar(f'SELECT max({LOAD_ID}) FROM {RAW}."{table}"')
    previous = _previous_snapshot(warehouse, table, drift.latest_load)
    if previous is not None:
        drift.previous_load, before = previous
        drift.added = {c: t for c, t in columns.items() if c not in before and VARIANT not in c}
        drift.retyped = {c: (before[c], t) for c, t in columns.items() if c in before and before[c] != t}
    for column in columns:
        base, sep, new_type = column.partition(VARIANT)
        if sep and base in columns and (previous is None or column not in previous[1]):
            drift.retyped[base] = (columns[base], new_type)
    drift.dropped = _emptied(warehouse, table, columns, drift.latest_load)
    if SOURCE_FILE in columns:
        drift.files = {c: _files_with(warehouse, table, c) for c in drift.added}
    _record(warehouse, table, drift.latest_load, columns)
    return drift


def _in_files(files: list[str] | None) -> str:
    return f" in {', '.join(files)}" if files else ""


def _files_with(warehouse: Warehouse, table: str, column: str) -> list[str]:
    rows = warehouse.query(
        f'SELECT DISTINCT {SOURCE_FILE} FROM {RAW}."{table}" WHERE "{column}" IS NOT NULL ORDER BY 1 LIMIT 5'
    )
    return [str(v) for v in rows.column(0).to_pylist()]


def _previous_snapshot(
    warehouse: Warehouse, table: str, latest: str | None
) -> tuple[str, dict[str, str]] | None:
    if not warehouse.table_exists(QUALITY, SNAPSHOTS):
        return None
    load = warehouse.scalar(
        f"SELECT max(load_id) FROM {QUALITY}.{SNAPSHOTS} WHERE table_name = '{table}' AND load_id <> '{latest}'"
    )
    if load is None:
        return None
    rows = warehouse.query(
        f"SELECT column_name, data_type FROM {QUALITY}.{SNAPSHOTS} WHERE table_name = '{table}' AND load_id = '{load}'"
    ).to_pylist()
    return str(load), {r["column_name"]: r["data_type"] for r in rows}


def _emptied(warehouse: Warehouse, table: str, columns: dict[str, str], latest: str | None) -> dict[str, str]:
    """Columns with values in earlier loads and none in the latest one (which has rows)."""
    names = [c for c in columns if VARIANT not in c]
    if latest is None or not names:
        return {}
    # Every count named: PostgreSQL calls them all `count`, and a dict keeps only one of them.
    in_latest = ", ".join(
        f"count(CASE WHEN {LOAD_ID} = '{latest}' THEN \"{c}\" END) AS now_{i}" for i, c in enumerate(names)
    )
    before = ", ".join(
        f"count(CASE WHEN {LOAD_ID} <> '{latest}' THEN \"{c}\" END) AS before_{i}"
        for i, c in enumerate(names)
    )
    latest_rows = f"count(CASE WHEN {LOAD_ID} = '{latest}' THEN 1 END) AS latest_rows"
    row = warehouse.query(f'SELECT {latest_rows}, {in_latest}, {before} FROM {RAW}."{table}"').to_pylist()[0]
    counts = list(row.values())
    if not counts[0]:
        return {}
    now, earlier = counts[1 : 1 + len(names)], counts[1 + len(names) :]
    return {c: columns[c] for c, n, e in zip(names, now, earlier, strict=True) if n == 0 and e > 0}


def _record(warehouse: Warehouse, table: str, load: str | None, columns: dict[str, str]) -> None:
    if load is None:
        return
    now = datetime.now(UTC)
    rows = pa.table(
        {
            "table_name": [table] * len(columns),
            "load_id": [load] * len(columns),
            "column_name": list(columns),
            "data_type": list(columns.values()),
            "recorded_at": [now] * len(columns),
        }
    )
    with warehouse.transaction():  # a kill between delete and insert must not lose the snapshot
        if warehouse.table_exists(QUALITY, SNAPSHOTS):
            warehouse.execute(
                f"DELETE FROM {QUALITY}.{SNAPSHOTS} WHERE table_name = '{table}' AND load_id = '{load}'"
            )
        warehouse.write(QUALITY, SNAPSHOTS, [rows], mode="append")
