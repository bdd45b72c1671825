"""dlt's Parquet load files are written without column statistics, and otherwise as dlt writes them."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dataforge_assets.lib.sources.parquet_statistics import (
    DLT_CREATE_WRITER,
    write_load_files_without_statistics,
)
from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, month_sample


def _write(path: Path, table: pa.Table, dlt_own: bool) -> None:
    from dlt.common.data_writers.writers import ArrowToParquetWriter

    with open(path, "wb") as f:
        writer = ArrowToParquetWriter(f)
        if dlt_own:  # dlt's own method, as it was before the change
            writer._create_writer = getattr(ArrowToParquetWriter, DLT_CREATE_WRITER).__get__(writer)
        writer.write_header({})
        writer.write_data([table])
        writer.close()


def _layout(path: Path) -> list[tuple]:
    meta = pq.ParquetFile(path).metadata
    return [
        (meta.format_version, meta.num_rows, rg.num_rows, col.path_in_schema, col.compression, col.encodings)
        for rg in (meta.row_group(i) for i in range(meta.num_row_groups))
        for col in (rg.column(j) for j in range(rg.num_columns))
    ]


def _statistics(path: Path) -> set[bool]:
    meta = pq.ParquetFile(path).metadata
    return {
        meta.row_group(i).column(j).is_stats_set
        for i in range(meta.num_row_groups)
        for j in range(meta.num_columns)
    }


def test_the_writer_writes_dlts_file_without_statistics(tmp_path: Path) -> None:
    write_load_files_without_statistics()
    write_load_files_without_statistics()  # a second call changes nothing
    table = pa.table(
        {
            "carrier": pa.array(["UA", "AA", None, "UA"] * 500, pa.large_string()),
            "flight": pa.array([str(i) for i in range(2000)], pa.large_string()),
            "_source_row": pa.array(range(2000), pa.uint32()),
        }
    )
    ours, dlts = tmp_path / "ours.parquet", tmp_path / "dlts.parquet"
    _write(ours, table, dlt_own=False)
    _write(dlts, table, dlt_own=True)

    assert _statistics(dlts) == {True} and _statistics(ours) == {False}
    # Same settings as dlt's (format version, compression, dictionary encodings, row groups), same rows.
    assert _layout(ours) == _layout(dlts)
    assert pq.read_table(ours).equals(pq.read_table(dlts)) and pq.read_table(ours).equals(table)


def test_a_raw_load_reads_its_parquet_without_statistics_into_the_same_rows(platform: Platform) -> None:
    sample = month_sample(3, 40)
    land_flights(platform.env, 3, sample)
    platform.materialize("raw/flights")

    loaded = list(
        Path(platform.env.dlt_pipelines_dir).glob("*/load/loaded/*/completed_jobs/flights.*.parquet")
    )
    assert loaded and all(_statistics(path) == {False} for path in loaded)
    # Every value arrived as text, NULLs as NULLs, with its lineage.
    assert platform.count("raw.flights") == 40
    raw = platform.sql(
        "SELECT count(*) FILTER (dep_time IS NULL), min(_source_row), max(_source_row), count(DISTINCT tailnum) "
        "FROM raw.flights"
    )
    expected = sample.select("dep_time", "tailnum")
    assert raw == [(expected["dep_time"].null_count(), 1, 40, expected["tailnum"].drop_nulls().n_unique())]
