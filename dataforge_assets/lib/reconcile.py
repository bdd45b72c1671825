"""Nothing lost: raw rows = normalized rows + quarantined rows, per load (the whole table) and per month
(a partitioned run's months, plus the rows in no month).

Both views come from one pass over each table: its rows counted per (load, month). The two checks ran
three and six table scans of their own (the month counts, the rows in no month, the load counts); at
10M rows that was ~2.5 s of every run (benchmarks/README.md).
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dataforge_assets.lib.normalize import (
    LOAD_ID,
    NORMALIZED,
    PROCESSED_LOADS,
    QUARANTINE,
    RAW,
    NormalizedTable,
)
from dataforge_assets.lib.partitions import (
    Month,
    partition_key,
    partition_months,
    read_raw_months,
    year_and_month_sql,
)
from dataforge_assets.lib.raw_history import current_rows
from dataforge_assets.lib.warehouse import Warehouse

SAMPLE_FAILURES = 20
KINDS = ("raw", "normalized", "quarantined")

Load = Any  # a load id as the warehouse returns it (None for rows without one)


@dataclass(frozen=True)
class RowCounts:
    """Rows of each table per (load, month); month None: the row is in no partition (or the table
    has no months). Raw rows are current versions only (a raw table keeping history)."""

    raw: Counter[tuple[Load, Month | None]]
    normalized: Counter[tuple[Load, Month | None]]
    quarantined: Counter[tuple[Load, Month | None]]
    processed: frozenset[Load]  # the raw loads the build has processed

    def of(self, kind: str) -> Counter[tuple[Load, Month | None]]:
        return getattr(self, kind)


def count_rows(warehouse: Warehouse, spec: NormalizedTable) -> RowCounts:
    """One GROUP BY per table (inside the caller's warehouse session)."""
    every = set(partition_months())

    def raw_months(years: Any, months: Any) -> list[Month | None]:
        return [m if m in every else None for m in read_raw_months(years, months)]

    def normalized_months(years: Any, months: Any) -> list[Month | None]:
        found = ((y, m) for y, m in zip(years.to_pylist(), months.to_pylist(), strict=True))
        return [(int(y), int(m)) if y is not None and (int(y), int(m)) in every else None for y, m in found]

    raw_values = normalized_parts = ""
    if spec.months is not None:
        # Grouped by the raw values as they are: `read_raw_months` reads each group's month.
        raw_values = f'"{spec.months.raw_year}", "{spec.months.raw_month}", '
        normalized_parts = f"{year_and_month_sql(spec.months.date)}, "
    keys = "1, 2, 3" if spec.months is not None else "1"
    counts = {}
    for kind, schema, table, months, months_of in (
        ("raw", RAW, spec.raw_table, raw_values, raw_months),
        ("quarantined", QUARANTINE, spec.name, raw_values, raw_months),
        ("normalized", NORMALIZED, spec.name, normalized_parts, normalized_months),
    ):
        if not warehouse.table_exists(schema, table):
            counts[kind] = Counter()
            continue
        # Old versions in a raw table keeping history (scd2) were replaced downstream: current rows count.
        where = current_rows(warehouse, table) if schema == RAW else "TRUE"
        sql = f'SELECT {LOAD_ID}, {months}count(*) FROM {schema}."{table}" WHERE {where} GROUP BY {keys}'
        counts[kind] = _counts(warehouse, sql, months_of if spec.months is not None else None)
    return RowCounts(**counts, processed=_processed_loads(warehouse, spec))


def _counts(
    warehouse: Warehouse, sql: str, months_of: Callable[[Any, Any], list[Month | None]] | None
) -> Counter[tuple[Load, Month | None]]:
    rows = warehouse.query(sql)
    loads, numbers = rows.column(0).to_pylist(), rows.column(rows.num_columns - 1).to_pylist()
    months = months_of(rows.column(1), rows.column(2)) if months_of else [None] * rows.num_rows
    found: Counter[tuple[Load, Month | None]] = Counter()
    for load, month, n in zip(loads, months, numbers, strict=True):
        found[(load, month)] += int(n)
    return found


def _processed_loads(warehouse: Warehouse, spec: NormalizedTable) -> frozenset[Load]:
    if not warehouse.table_exists(NORMALIZED, PROCESSED_LOADS):
        return frozenset()
    rows = warehouse.query(
        f"SELECT load_id FROM {NORMALIZED}.{PROCESSED_LOADS} WHERE table_name = ?", (spec.name,)
    )
    return frozenset(rows.column(0).to_pylist())


def by_load(counts: RowCounts) -> dg.AssetCheckResult:
    """Per processed load: its raw rows = its normalized rows + its quarantined rows."""
    raw: Counter[Load] = Counter()
    for (load, _), n in counts.raw.items():
        if load is not None and load in counts.processed:
            raw[load] += n
    normalized, quarantined = (_per_load(counts.of(kind)) for kind in ("normalized", "quarantined"))
    loads = sorted(set(raw) | set(normalized) | set(quarantined), key=str)
    off = {
        str(load): {
            "raw": raw.get(load, 0),
            "normalized": normalized.get(load, 0),
            "quarantined": quarantined.get(load, 0),
        }
        for load in loads
        if raw.get(load, 0) != normalized.get(load, 0) + quarantined.get(load, 0)
    }
    totals = [sum(c.values()) for c in (raw, normalized, quarantined)]
    missing = totals[0] - totals[1] - totals[2]
    return dg.AssetCheckResult(
        passed=not off,
        description=(
            f"every load of {len(loads)}: raw = normalized + quarantined "
            f"({totals[0]} = {totals[1]} + {totals[2]})"
            if not off
            else f"{len(off)} load(s) of {len(loads)} do not reconcile, e.g. load {next(iter(off))}: "
            f"{next(iter(off.values()))}; in all raw {totals[0]} vs normalized {totals[1]} + quarantined "
            f"{totals[2]}: {missing} row(s) unaccounted for"
        ),
        metadata={
            "raw_rows": totals[0],
            "normalized_rows": totals[1],
            "quarantined_rows": totals[2],
            "unaccounted_rows": missing,
            "loads_checked": len(loads),
            "loads_not_reconciled": dg.MetadataValue.json(dict(list(off.items())[:SAMPLE_FAILURES])),
        },
    )


def _per_load(counts: Counter[tuple[Load, Month | None]]) -> Counter[Load]:
    found: Counter[Load] = Counter()
    for (load, _), n in counts.items():
        found[load] += n
    return found


def per_month(counts: RowCounts, months: list[Month]) -> dict[Month | None, dict[str, int]]:
    """Raw, normalized and quarantined rows of each of these months, and of no month (rows no month's
    check would see, so every partitioned check counts them too)."""
    found: dict[Month | None, dict[str, int]] = {m: dict.fromkeys(KINDS, 0) for m in [*months, None]}
    for kind in KINDS:
        for (_, month), n in counts.of(kind).items():
            if month in found:
                found[month][kind] += n
    return found


def by_month(counts: RowCounts, months: list[Month]) -> dg.AssetCheckResult:
    """For each month: its raw rows = its normalized rows + its quarantined rows."""
    rows = {_label(m): c for m, c in per_month(counts, months).items()}
    off = {month: c for month, c in rows.items() if c["raw"] != c["normalized"] + c["quarantined"]}
    totals = {name: sum(c[name] for c in rows.values()) for name in KINDS}
    return dg.AssetCheckResult(
        passed=not off,
        description=(
            f"each of {len(months)} month(s): raw = normalized + quarantined "
            f"({totals['raw']} = {totals['normalized']} + {totals['quarantined']})"
            if not off
            else f"{len(off)} month(s) of {len(months)} do not reconcile, e.g. {next(iter(off))}: "
            f"{next(iter(off.values()))}"
        ),
        metadata={
            "raw_rows": totals["raw"],
            "normalized_rows": totals["normalized"],
            "quarantined_rows": totals["quarantined"],
            "unaccounted_rows": totals["raw"] - totals["normalized"] - totals["quarantined"],
            "months_checked": len(months),
            "months_not_reconciled": dg.MetadataValue.json(dict(list(off.items())[:SAMPLE_FAILURES])),
            "rows_per_month": dg.MetadataValue.json(
                {m: c for m, c in list(rows.items())[:SAMPLE_FAILURES] if any(c.values())}
            ),
        },
    )


def _label(month: Month | None) -> str:
    return "no month" if month is None else partition_key(month)
