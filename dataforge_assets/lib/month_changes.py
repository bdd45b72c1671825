"""Which months of a monthly normalized table changed, kept in the warehouse.

A build records the months it wrote in the same transaction as the rows; a monthly stats table records
how far it has read. So a stats run finds every month it is behind on from the warehouse itself, even
when the run that wrote the rows was killed before Dagster stored its materialization events (those are
written after the commit, and a stats table that read only them missed such months for ever).
"""

from collections.abc import Iterable

from dataforge_assets.lib.partitions import Month
from dataforge_assets.lib.warehouse import Warehouse

NORMALIZED = "normalized"
STATS = "stats"
MONTH_CHANGES = "_month_changes"  # normalized: (table, month) -> the sequence number of its last write
READ_UP_TO = "_month_changes_read"  # stats: (stats table, upstream table) -> the last sequence read


def record(warehouse: Warehouse, table: str, months: Iterable[Month]) -> None:
    """Mark `months` of normalized.`table` changed; call inside the transaction that writes them (the
    table's lock serializes builds, so the sequence only grows)."""
    months = sorted(set(months))
    if not months:
        return
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {NORMALIZED}.{MONTH_CHANGES} "
        "(table_name VARCHAR, year INTEGER, month INTEGER, seq BIGINT)"
    )
    seq = latest(warehouse, table) + 1
    listed = " OR ".join(f"(year = {int(y)} AND month = {int(m)})" for y, m in months)
    warehouse.execute(
        f"DELETE FROM {NORMALIZED}.{MONTH_CHANGES} WHERE table_name = ? AND ({listed})", (table,)
    )
    values = ", ".join(f"(?, {int(y)}, {int(m)}, {seq})" for y, m in months)
    warehouse.execute(f"INSERT INTO {NORMALIZED}.{MONTH_CHANGES} VALUES {values}", (table,) * len(months))


def latest(warehouse: Warehouse, table: str) -> int:
    """The sequence number of normalized.`table`'s last recorded write (0: none)."""
    if not warehouse.table_exists(NORMALIZED, MONTH_CHANGES):
        return 0
    found = warehouse.scalar(
        f"SELECT max(seq) FROM {NORMALIZED}.{MONTH_CHANGES} WHERE table_name = ?", (table,)
    )
    return int(found or 0)


def changed_after(warehouse: Warehouse, table: str, seq: int) -> list[Month]:
    """Months of normalized.`table` written after sequence number `seq`."""
    if not warehouse.table_exists(NORMALIZED, MONTH_CHANGES):
        return []
    found = warehouse.query(
        f"SELECT year, month FROM {NORMALIZED}.{MONTH_CHANGES} WHERE table_name = ? AND seq > ?",
        (table, seq),
    )
    return sorted((int(y), int(m)) for y, m in zip(*(c.to_pylist() for c in found.columns), strict=True))


def read_up_to(warehouse: Warehouse, stats_table: str, upstream: str) -> int | None:
    """How far stats.`stats_table` has read normalized.`upstream`'s changes (None: never recorded)."""
    if not warehouse.table_exists(STATS, READ_UP_TO):
        return None
    found = warehouse.scalar(
        f"SELECT seq FROM {STATS}.{READ_UP_TO} WHERE table_name = ? AND upstream = ?", (stats_table, upstream)
    )
    return None if found is None else int(found)


def record_read(warehouse: Warehouse, stats_table: str, seen: dict[str, int]) -> None:
    """Record how far stats.`stats_table` has read each upstream table, in one transaction. Written
    after the stats rows commit: a kill in between only makes the next run rebuild those months again."""
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {STATS}.{READ_UP_TO} (table_name VARCHAR, upstream VARCHAR, seq BIGINT)"
    )
    with warehouse.transaction():
        warehouse.execute(f"DELETE FROM {STATS}.{READ_UP_TO} WHERE table_name = ?", (stats_table,))
        for upstream, seq in seen.items():
            warehouse.execute(
                f"INSERT INTO {STATS}.{READ_UP_TO} VALUES (?, ?, ?)", (stats_table, upstream, seq)
            )
