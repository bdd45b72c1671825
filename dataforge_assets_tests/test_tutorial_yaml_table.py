"""docs/tutorial-yaml-table.md, followed literally: its YAML blocks become the files of a temporary
project, its shell blocks run, its `dagster asset materialize` selections are materialized; then what
the page says happened is checked in the warehouse and the check results."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.selector.subset_selector import parse_asset_selection
from dagster.components.scaffold.scaffold import get_scaffolder

from dataforge_assets import scaffold
from dataforge_assets.lib.environment import REPO_ROOT, Environment
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets.lib.tables import NormalizedTableComponent, StatsTableComponent
from dataforge_assets.lib.tables import scaffold as tables_scaffold
from dataforge_assets_tests.source_yaml import load_defs_folder, write_project_files

TUTORIAL = REPO_ROOT / "docs" / "tutorial-yaml-table.md"
DEFS_PREFIX = "dataforge_assets/defs/"
# A block is the fenced text after a marker comment: `<!-- file: path -->`, `<!-- run -->`, `<!-- materialize -->`.
BLOCK = re.compile(r"<!-- (file: (?P<path>\S+)|run|materialize) -->\n```\w*\n(?P<body>.*?)```", re.DOTALL)


def tutorial_steps() -> list[tuple[str, str, str]]:
    """(kind, path, body) in page order; kind is `file`, `run` or `materialize`."""
    return [
        (m.group(1).split(":")[0], m.group("path") or "", m.group("body"))
        for m in BLOCK.finditer(TUTORIAL.read_text())
    ]


def selection_of(command: str) -> list[str]:
    """The --select of a `dagster asset materialize -m dataforge_assets --select ...` line, as the CLI splits it."""
    words = shlex.split(command)
    assert words[:3] == ["dagster", "asset", "materialize"] and "-m" in words, command
    return words[words.index("--select") + 1].split(",")


def check_result(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey.from_user_string(asset), name)
    evaluations = [e for e in result.get_asset_check_evaluations() if e.asset_check_key == key]
    assert evaluations, f"no evaluation of {asset} {name}"
    return evaluations[-1]


Query = Callable[[str], list[tuple]]
# How each warehouse names the types the tutorial declares (date, float64, int64).
TYPES = {"duckdb": ("DATE", "DOUBLE", "BIGINT"), "postgres": ("date", "double precision", "bigint")}


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(
    request: pytest.FixtureRequest, data_home: Environment, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Query]:
    """The warehouse the tutorial runs on, and how the test reads it."""
    if request.param == "duckdb":

        def query(sql: str) -> list[tuple]:
            with duckdb.connect(str(data_home.duckdb_path), read_only=True) as con:
                return con.execute(sql).fetchall()

        return "duckdb", query
    url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("DATAFORGE_WAREHOUSE", "postgres")
    monkeypatch.setenv("DATAFORGE_POSTGRES_URL", url)

    def pg_query(sql: str) -> list[tuple]:
        import psycopg2

        con = psycopg2.connect(url)
        try:
            with con.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            con.close()

    return "postgres", pg_query


def test_tutorial_builds_raw_normalized_and_stats_from_yaml_only(
    tmp_path: Path, data_home: Environment, warehouse: tuple[str, Query]
) -> None:
    kind, sql = warehouse
    steps = tutorial_steps()
    files = {path.removeprefix(DEFS_PREFIX): body for step, path, body in steps if step == "file"}
    assert not any(path.endswith(".py") for path in files), "the tutorial must need no Python"
    assert set(files) == {
        "raw/markets/defs.yaml",
        "normalized/daily_weather/defs.yaml",
        "normalized/stock_prices/defs.yaml",
        "stats/symbol_weather/defs.yaml",
    }
    defs = load_defs_folder(write_project_files(tmp_path / "project", files))
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["stats", "symbol_weather"])).parent_keys == {
        dg.AssetKey(["normalized", "stock_prices"]),
        dg.AssetKey(["normalized", "daily_weather"]),
    }
    # The column schema is there before the first run.
    schema = graph.get(dg.AssetKey(["normalized", "daily_weather"])).metadata["dagster/column_schema"]
    assert [(c.name, c.type) for c in schema.columns][:2] == [("date", "DATE"), ("temp_max", "DOUBLE")]

    with dg.instance_for_test() as instance:
        runs = follow(steps, defs, instance, data_home)
        _section_4(next(runs), kind, sql)
        _section_5(next(runs), sql)
        _section_6(next(runs), sql)
        assert next(runs, None) is None


def follow(
    steps: list[tuple[str, str, str]], defs: dg.Definitions, instance: dg.DagsterInstance, home: Environment
) -> Iterator[dg.ExecuteInProcessResult]:
    """Run the page's shell blocks and materialize its selections in order; yield each materialization."""
    for step, _, body in steps:
        if step == "run":
            done = subprocess.run(
                ["bash", "-euc", body],
                cwd=REPO_ROOT,
                env={**os.environ, "DATAFORGE_HOME": str(home.home)},
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr
        elif step == "materialize":
            (command,) = [line for line in body.splitlines() if line.strip()]
            chosen = parse_asset_selection(list(defs.assets or []), selection_of(command))
            yield dg.materialize(
                [*(defs.assets or []), *(defs.asset_checks or [])],
                selection=dg.AssetSelection.assets(*chosen),
                resources=defs.resources,
                instance=instance,
                tags=range_tags(),
            )


def _section_4(first: dg.ExecuteInProcessResult, kind: str, sql: Query) -> None:
    """Typed, contracted, a stats table."""
    assert check_result(first, "normalized/daily_weather", "contract").passed
    assert check_result(first, "normalized/stock_prices", "contract").passed
    assert check_result(first, "normalized/stock_prices", "date_in_daily_weather").passed
    assert check_result(first, "stats/symbol_weather", "key").passed
    types = dict(
        sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'normalized' AND table_name = 'stock_prices'",
        )
    )
    assert (types["date"], types["close"], types["volume"]) == TYPES[kind]
    assert sql("SELECT symbol, trading_days FROM stats.symbol_weather ORDER BY 1") == [
        ("ACME", 21),
        ("GLBX", 21),
        ("NRTH", 21),
    ]


def _section_5(damaged: dg.ExecuteInProcessResult, sql: Query) -> None:
    """The damaged delivery: kept in raw, named by the drift check, three rows quarantined with reasons."""
    assert sql("SELECT count(*), count(humidity) FROM raw.daily_weather") == [(60, 29)]
    drift = check_result(damaged, "raw/daily_weather", "schema_drift")
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert "new column 'humidity'" in (drift.description or "")
    quarantined = sql(
        "SELECT CAST(date AS VARCHAR), _quarantine_rule, _quarantine_reason, _quarantine_origin "
        "FROM quarantine.daily_weather ORDER BY 1",
    )
    assert [row[0] for row in quarantined] == ["2024-02-06", "2024-02-13", "2024-02-21"]
    for _, rule, reason, origin in quarantined:
        assert rule == "type" and reason.startswith("temp_max: n/a is not a valid Float64"), reason
        assert origin.startswith("file weather_2024_02.csv row ")
    assert sql("SELECT count(*) FROM normalized.daily_weather") == [(57,)]
    assert check_result(damaged, "normalized/daily_weather", "contract").passed
    assert check_result(damaged, "normalized/daily_weather", "reconciliation").passed
    share = check_result(damaged, "normalized/daily_weather", "quarantine_share")
    assert share.passed and share.description.startswith("3 of 60 rows quarantined")


def _section_6(corrected: dg.ExecuteInProcessResult, sql: Query) -> None:
    """The corrected file replaces the quarantined rows."""
    assert sql("SELECT count(*) FROM quarantine.daily_weather") == [(0,)]
    assert sql("SELECT count(*), count(temp_max) FROM normalized.daily_weather") == [(60, 60)]
    assert check_result(corrected, "normalized/daily_weather", "reconciliation").passed


@pytest.mark.parametrize("layer", ["normalized", "stats"])
def test_scaffolded_yaml_is_the_documented_starting_point(
    layer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scaffold.main([layer, "new_table", "--defs", str(tmp_path)]) == 0
    written = (tmp_path / layer / "new_table" / "defs.yaml").read_text()
    assert "name: new_table" in written and "# " in written
    component = NormalizedTableComponent if layer == "normalized" else StatsTableComponent
    assert component.model_validate(yaml.safe_load(written)["attributes"]).name == "new_table"
    with pytest.raises(SystemExit):
        scaffold.main([layer, "new_table", "--defs", str(tmp_path)])
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize("component", [NormalizedTableComponent, StatsTableComponent])
def test_dg_scaffolder_writes_the_same_starting_point(component: type, tmp_path: Path) -> None:
    """What `dg scaffold defs dataforge_assets.lib.tables.<Component> <layer>/trips` calls."""
    target = tmp_path / "trips"
    request = dg.ScaffoldRequest(
        type_name=f"dataforge_assets.lib.tables.{component.__name__}",
        target_path=target,
        scaffold_format="yaml",
        project_root=None,
        params=None,
    )
    get_scaffolder(component).scaffold(request)
    expected = (
        tables_scaffold.normalized_yaml("trips")
        if component is NormalizedTableComponent
        else tables_scaffold.stats_yaml("trips")
    )
    assert (target / "defs.yaml").read_text() == expected
