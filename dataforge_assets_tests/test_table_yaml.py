"""A mistake in a table's YAML is refused when the definitions load, naming the file, the line and the
field. The YAML is the tutorial's (docs/tutorial-yaml-table.md), with one mistake put in at a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dataforge_assets_tests.source_yaml import load_defs_folder, write_project_files
from dataforge_assets_tests.test_source_yaml import error_text
from dataforge_assets_tests.test_tutorial_yaml_table import DEFS_PREFIX, tutorial_steps

STOCKS = "normalized/stock_prices/defs.yaml"
WEATHER = "normalized/daily_weather/defs.yaml"
STATS = "stats/symbol_weather/defs.yaml"

CASES = [
    # (file, text replaced, mistake, field named, what the error says[, the line named when not the mistake's])
    (
        STOCKS,
        "raw_table: stock_prices",
        "raw_table: stock_price",
        "attributes.raw_table",
        "unknown raw table 'stock_price'",
    ),
    (STOCKS, "type: int64", "type: integer", "attributes.columns.6.type", "'string', 'int32', 'int64'"),
    (
        STOCKS,
        "checks: {ge: 0}",
        "checks: {between: 0}",
        "attributes.columns.6.checks.between",
        "Extra inputs are not permitted",
    ),
    (
        STOCKS,
        "unique: [symbol, date]",
        "unique: [symbol, day]",
        "attributes.unique.1",
        "column 'day', which is not declared",
    ),
    (
        STOCKS,
        "key: [symbol, date]",
        "key: [ticker, date]",
        "attributes.key.0",
        "key column 'ticker' is not a declared source column",
    ),
    (
        STOCKS,
        "expression: (close - open) / open",
        "expression: (close - opening) / open",
        "attributes.columns.7.expression",
        "unknown column 'opening'",
    ),
    (
        WEATHER,
        "checks: {ge: 0, le: 500}",
        "checks: {ge: 0, regex: '[a-'}",
        "attributes.columns.4.checks.regex",
        "not a valid regular expression",
    ),
    (
        WEATHER,
        "      expression: temp_max - temp_min",
        "      source: x\n      expression: temp_max - temp_min",
        "attributes.columns.3",
        "a source or an expression, not both",
        "- name: temp_range",
    ),
    # Dagster's own YAML model names a nested model's field at its parent key's line.
    (
        WEATHER,
        "max_share: 0.2",
        "max_share: 20",
        "quarantine.QuarantinePolicy.max_share",
        "a share between 0 and 1",
        "quarantine:",
    ),
    (
        STATS,
        "key: [symbol]",
        "key: [ticker]",
        "attributes.key.0",
        "column 'ticker' is not selected by the SQL",
    ),
    (STATS, "GROUP BY p.symbol", "GROUP BY BY p.symbol", "attributes.sql", "is not valid SQL", "sql: |"),
    (STATS, "name: symbol_weather", "name: Symbol-Weather", "attributes.name", "lower-case letters"),
]


def tutorial_files() -> dict[str, str]:
    return {path.removeprefix(DEFS_PREFIX): body for kind, path, body in tutorial_steps() if kind == "file"}


@pytest.mark.parametrize("case", CASES, ids=[c[2].strip() for c in CASES])
def test_yaml_mistake_is_refused_with_file_line_and_field(
    case: tuple, tmp_path: Path, data_home: Any
) -> None:
    file, old, new, field, says = case[:5]
    at = case[5] if len(case) > 5 else new.splitlines()[-1].strip()
    files = tutorial_files()
    assert old in files[file]
    files[file] = files[file].replace(old, new)
    defs = write_project_files(tmp_path, files)
    line = next(i for i, text in enumerate((defs / file).read_text().splitlines(), 1) if at in text)
    with pytest.raises(Exception) as raised:
        load_defs_folder(defs)
    text = error_text(raised.value)
    assert f"{defs / file}:{line}" in text, text  # the file and the line
    assert field in text, text  # the field
    assert says in text, text  # what is wrong


def test_the_tutorial_yaml_loads(tmp_path: Path, data_home: Any) -> None:
    defs = load_defs_folder(write_project_files(tmp_path, tutorial_files()))
    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} == {
        "raw/daily_weather",
        "raw/stock_prices",
        "normalized/daily_weather",
        "normalized/stock_prices",
        "stats/symbol_weather",
    }


def test_raw_tables_bring_their_checks_without_a_normalized_table(tmp_path: Path, data_home: Any) -> None:
    raw_only = {"raw/markets/defs.yaml": tutorial_files()["raw/markets/defs.yaml"]}
    defs = load_defs_folder(write_project_files(tmp_path, raw_only))
    checks = {(c.asset_key.to_user_string(), c.name) for c in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        (f"raw/{table}", check)
        for table in ("daily_weather", "stock_prices")
        for check in ("schema_drift", "row_count_anomaly", "rejected_files")  # a files source
    }
