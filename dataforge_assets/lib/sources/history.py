"""Row hashes for tables kept with dlt's `scd2` merge strategy.

scd2 tells versions apart by a hash of the whole row in `_dlt_id`. dlt computes it for Python rows,
but Arrow tables (the fast path every source here yields) reach it as they are: without the hash, every
load would look like all new versions (dlt would even refuse the table). The hash is md5 over the row's
values as text, so it is the same on every run and every library version; `_source_row` (a row's
line in its file) is left out, so a row that only moved within a re-delivered file is no new version.
The md5 of the text is DuckDB's (`md5`, hex digest of the UTF-8 bytes): the same values hashlib gave
row by row before, so tables loaded then see no change on upgrade, in a fraction of the time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    import pyarrow as pa
else:
    duckdb = lazy_module("duckdb")
    pl = lazy_module("polars")
    pa = lazy_module("pyarrow")


ROW_HASH = "_dlt_id"  # the column dlt's scd2 reads the row hash from
IGNORED = ("_source_row", ROW_HASH, "_dlt_load_id")


def with_row_hash(item: Any) -> Any:
    """The Arrow table with `_dlt_id` set to its rows' content hash (other items pass unchanged)."""
    if not isinstance(item, (pa.Table, pa.RecordBatch)):
        return item
    frame = pl.from_arrow(item)
    assert isinstance(frame, pl.DataFrame)
    columns = [c for c in frame.columns if c not in IGNORED]
    text = frame.select(
        pl.concat_str(
            [
                pl.when(pl.col(c).is_null())
                .then(pl.lit("N"))
                .otherwise(pl.lit("V") + pl.col(c).cast(pl.String))
                for c in columns
            ],
            separator="\x1f",
        )
    ).to_series()
    hashes = md5_hex(text.to_arrow())
    table = item if isinstance(item, pa.Table) else pa.Table.from_batches([item])
    if ROW_HASH in table.column_names:
        table = table.drop_columns([ROW_HASH])
    return table.append_column(ROW_HASH, hashes)


def md5_hex(text: pa.Array) -> pa.Array:
    """md5 hex digest of each string, in order (vectorized: DuckDB, in memory, off any warehouse)."""
    # A connection of its own (threads may extract at once); insertion order kept: rows stay in place.
    with duckdb.connect(config={"preserve_insertion_order": True}) as con:
        con.register("rows", pa.table({"text": text}))
        hashes = con.sql("SELECT md5(text) FROM rows").to_arrow_table().column(0)
    return hashes.combine_chunks().cast(pa.string())
