"""A source's reaction to schema drift comes from its YAML (`schema_contract`), enforced by dlt."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import month_sample
from dataforge_assets_tests.source_yaml import load_source, materialize

KEY = "[year, month, day, carrier, flight, origin, sched_dep_time]"


def _yaml(mode: str) -> str:
    return f"""
        type: dataforge_assets.lib.sources.SourceComponent
        attributes:
          name: contract_{mode}
          connection:
            kind: files
            folder: landing/{mode}
            tables:
              - name: {mode}_flights
                glob: "*.csv"
                primary_key: {KEY}
          schema_contract: {mode}
          retry:
            max_retries: 0
    """


def _land(platform: Platform, mode: str, name: str, frame: pl.DataFrame) -> None:
    folder = platform.env.landing_dir / mode
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(folder / name, null_value="NA")


@pytest.mark.parametrize("mode", ["freeze", "discard_value"])
def test_new_column_reaction(platform: Platform, tmp_path: Path, mode: str) -> None:
    defs = load_source(tmp_path, _yaml(mode))
    _land(platform, mode, "a.csv", month_sample(1, 10))
    assert materialize(defs, platform.instance).success
    _land(platform, mode, "b.csv", month_sample(2, 10).with_columns(meal=pl.lit("snack")))
    result: dg.ExecuteInProcessResult = materialize(defs, platform.instance, raise_on_error=False)
    columns = {
        c
        for (c,) in platform.sql(
            f"SELECT column_name FROM information_schema.columns WHERE table_name = '{mode}_flights'"
        )
    }
    assert "meal" not in columns
    if mode == "freeze":
        # The file bringing the column is set aside whole, with its reason; the run goes on.
        assert result.success
        assert platform.count(f"raw.{mode}_flights") == 10
        reasons = platform.sql("SELECT file_name, reason FROM raw._rejected_files")
        assert len(reasons) == 1 and reasons[0][0] == "b.csv"
        assert "new column(s) 'meal'" in reasons[0][1] and "`freeze`" in reasons[0][1]
    else:
        assert result.success
        assert platform.count(f"raw.{mode}_flights") == 20  # rows kept, the new column's values dropped


PARQUET = f"""
    type: dataforge_assets.lib.sources.SourceComponent
    attributes:
      name: parquet_drift
      connection:
        kind: files
        folder: landing/parquet_drift
        tables:
          - name: parquet_flights
            glob: "*.parquet"
            format: parquet
            primary_key: {KEY}
      retry:
        max_retries: 0
"""


def test_parquet_file_with_a_changed_type_is_set_aside_and_a_widened_one_loads(
    platform: Platform, tmp_path: Path
) -> None:
    defs = load_source(tmp_path, PARQUET)
    folder = platform.env.landing_dir / "parquet_drift"
    folder.mkdir(parents=True)

    def typed(month: int, delay: pl.DataType) -> pl.DataFrame:
        return month_sample(month, 10).with_columns(pl.col("dep_delay").cast(pl.Int64).cast(delay))

    typed(1, pl.Int64).write_parquet(folder / "a.parquet")
    assert materialize(defs, platform.instance).success
    typed(2, pl.String).write_parquet(folder / "b.parquet")  # the delays now arrive as text
    typed(3, pl.Int32).write_parquet(folder / "c.parquet")  # narrower integers: still bigint in dlt
    typed(4, pl.Int64).write_parquet(folder / "d.parquet")  # in the same load as the narrower ones
    assert materialize(defs, platform.instance).success
    assert platform.sql("SELECT _source_file, count(*) FROM raw.parquet_flights GROUP BY 1 ORDER BY 1") == [
        ("a.parquet", 10),
        ("c.parquet", 10),
        ("d.parquet", 10),
    ]
    ((name, reason),) = platform.sql("SELECT file_name, reason FROM raw._rejected_files")
    assert name == "b.parquet"
    assert "column 'dep_delay' is text here but bigint in earlier loads" in reason
