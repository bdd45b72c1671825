"""scd2 row hashes (lib/sources/history.py): DuckDB's vectorized md5 gives each row the value the
row-by-row hashlib loop gave, so an scd2 table loaded before sees no row as changed after upgrade."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl
import pyarrow as pa

from dataforge_assets.lib.sources.history import ROW_HASH, with_row_hash


def hashlib_hashes(table: pa.Table) -> list[str]:
    """The hashes as the previous code computed them: md5 (hashlib) of each row's text, row by row."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    columns = [c for c in frame.columns if c not in ("_source_row", ROW_HASH, "_dlt_load_id")]
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
    return [hashlib.md5(v.encode(), usedforsecurity=False).hexdigest() for v in text]


def test_hashes_are_the_md5_values_scd2_tables_already_hold() -> None:
    table = pa.table(
        {
            "name": ["Zürich ✈", None, "", "a\x1fb", "nul\x00byte"],
            "seats": pa.array([1, 2, None, 4, 5], pa.int32()),
            "ratio": [0.5, None, 1e-9, 2.0, -1.25],
            "day": [date(2013, 1, 1), None, date(2013, 12, 31), date(2000, 2, 29), date(1999, 1, 1)],
            "flag": [True, False, None, True, False],
            "_source_row": [1, 2, 3, 4, 5],  # left out: a row that moved in its file is no new version
            ROW_HASH: ["stale"] * 5,  # replaced
        }
    )
    hashes = with_row_hash(table).column(ROW_HASH).to_pylist()
    assert hashes == hashlib_hashes(table)
    # Pinned: the value of the first row as stored in warehouses loaded before (md5 of
    # "VZürich ✈\x1fV1\x1fV0.5\x1fV2013-01-01\x1fVtrue").
    assert hashes[0] == hashlib.md5("VZürich ✈\x1fV1\x1fV0.5\x1fV2013-01-01\x1fVtrue".encode()).hexdigest()
    moved = table.set_column(table.column_names.index("_source_row"), "_source_row", pa.array([9] * 5))
    assert with_row_hash(moved).column(ROW_HASH).to_pylist() == hashes


def test_every_row_keeps_its_own_hash_across_batches() -> None:
    """Many rows in several chunks: DuckDB's parallel scan must not move a hash to another row."""
    rows = 300_000
    frame = pl.DataFrame({"id": range(rows), "text": [f"row {i}" for i in range(rows)]})
    table = pa.Table.from_batches(frame.to_arrow().to_batches(max_chunksize=70_000))
    assert table.column("id").num_chunks > 1
    hashed = with_row_hash(table)
    assert hashed.column(ROW_HASH).to_pylist() == hashlib_hashes(table)
    assert hashed.column("id").to_pylist() == list(range(rows))
    batch = with_row_hash(table.to_batches()[1])
    assert batch.column(ROW_HASH).to_pylist() == hashlib_hashes(
        pa.Table.from_batches([table.to_batches()[1]])
    )
