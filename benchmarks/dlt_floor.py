"""What dlt itself costs to land rows in DuckDB (issue #16): a lower bound for any raw load through dlt.

`python -m benchmarks.dlt_floor --rows 10000000` reads the generated monthly files into Arrow tables in
memory first (untimed: no CSV read, structure check, hashing or key check is timed), then times, in this
one process:

1. `import dlt`, which every raw step pays;
2. a dlt pipeline yielding those tables into a fresh DuckDB file (`replace`: no staging, no merge), by
   dlt's own stages (extract writes them as Parquet, normalize, load inserts them), from dlt's trace;
3. DuckDB storing the same tables itself (`CREATE TABLE ... AS SELECT * FROM` the Arrow table): what
   keeping the rows as text in DuckDB costs, which any raw load pays, dlt or not.

Prints the seconds; writes no RESULTS.md. Beside the CLI run floor of `RESULTS.md`, it says how far the
pipeline's raw step can go while its loader is dlt: (1) + (2) is spent before the normalized layer starts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.datagen import DATA_ROOT, data_set


def arrow_tables(files: list[Path]) -> list:
    """Each file as one Arrow table of text columns plus the raw layer's lineage, as the reader yields."""
    import polars as pl

    tables = []
    for path in files:
        frame = pl.read_csv(path, infer_schema=False, null_values=["", "NA"], row_index_name="_source_row")
        tables.append(frame.with_columns(pl.lit(path.name).alias("_source_file")).to_arrow())
    return tables


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="where generated data goes")
    args = parser.parse_args(argv)

    tables = arrow_tables(data_set(args.rows, args.data).base)
    rows = sum(t.num_rows for t in tables)
    print(f"{rows:,} rows in {len(tables)} Arrow tables, {sum(t.nbytes for t in tables) / 1e6:,.0f} MB")

    started = time.perf_counter()
    import dlt

    print(f"import dlt: {time.perf_counter() - started:.2f} s")

    with tempfile.TemporaryDirectory(prefix="dlt_floor_") as folder:
        pipeline = dlt.pipeline(
            pipeline_name="dlt_floor",
            pipelines_dir=str(Path(folder) / "pipelines"),
            destination=dlt.destinations.duckdb(str(Path(folder) / "dlt.duckdb")),
            dataset_name="raw",
        )
        resource = dlt.resource(iter(tables), name="flights", write_disposition="replace")
        started = time.perf_counter()
        pipeline.run(resource, loader_file_format="parquet")
        total = time.perf_counter() - started
        stages = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in pipeline.last_trace.steps
        }
        shown = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items())
        print(f"dlt run: {total:.2f} s ({shown})")

        import duckdb
        import pyarrow as pa

        with duckdb.connect(str(Path(folder) / "direct.duckdb")) as con:
            con.execute("SET preserve_insertion_order = false")
            started = time.perf_counter()
            # One statement over every table, as dlt's load and the single-pass script do.
            stream = pa.RecordBatchReader.from_batches(
                tables[0].schema, (batch for table in tables for batch in table.to_batches())
            )
            con.register("batches", stream)
            con.execute("CREATE SCHEMA raw")
            con.execute("CREATE TABLE raw.flights AS SELECT * FROM batches")
            con.execute("CHECKPOINT")
            print(f"DuckDB storing the same tables itself: {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
