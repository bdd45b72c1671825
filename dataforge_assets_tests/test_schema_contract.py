"""A source's reaction to schema drift comes from its YAML (`schema_contract`), enforced by dlt."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dataforge_assets_tests.bad_input import failure_text
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
        assert not result.success
        message = failure_text(result)
        assert "meal" in message and f"{mode}_flights" in message and "frozen" in message
        assert platform.count(f"raw.{mode}_flights") == 10  # nothing of the refused load committed
    else:
        assert result.success
        assert platform.count(f"raw.{mode}_flights") == 20  # rows kept, the new column's values dropped
