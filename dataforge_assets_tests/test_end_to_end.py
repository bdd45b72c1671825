"""The demo, end to end, as a user runs it: `python -m dataforge_assets.demo`, then the CLI again.

Expected figures are computed here independently, with DuckDB straight from the vendored CSV.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dataforge_assets.demo import replay_server
from dataforge_assets.demo.__main__ import WEATHER_API_URL_ENV
from dataforge_assets.demo.setup import DATA_DIR
from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.partitions import current_month

BIN = Path(sys.executable).parent
LAYER_TABLES = [
    *(f"raw/{t}" for t in ("flights", "airlines", "airports", "planes", "weather")),
    *(f"normalized/{t}" for t in ("flights", "airlines", "airports", "planes", "weather")),
    *(f"stats/{t}" for t in ("carrier_daily_performance", "route_stats", "platform_run_stats")),
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo's data home and what it printed."""
    home = tmp_path_factory.mktemp("demo")
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    env = {**os.environ, "DATAFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    done = subprocess.run(
        [BIN / "python", "-m", "dataforge_assets.demo"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return home, done.stdout + done.stderr


@pytest.fixture(scope="module")
def demo_home(demo_run: tuple[Path, str]) -> Path:
    return demo_run[0]


def test_demo_prints_a_short_digest_and_logs_the_rest(demo_run: tuple[Path, str]) -> None:
    home, printed = demo_run
    lines = printed.splitlines()
    assert len(lines) < 50, printed  # make demo's own lines (install, set-up) stay under 60 in all
    assert "DEBUG" not in printed and "Warning" not in printed, printed
    log = next(Path(word) for word in printed.split() if word.endswith(".log"))
    assert log.is_file() and "ASSET_MATERIALIZATION" in log.read_text()
    # One progress line per asset as it finishes, then the summary table.
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["table", "rows"])
    progress = [line.split()[-1] for line in lines[:header] if line.strip().endswith(tuple(LAYER_TABLES))]
    assert sorted(progress) == sorted(LAYER_TABLES)
    rows = {w[0]: w[1:] for w in (line.split() for line in lines[header + 2 :]) if w and "/" in w[0]}
    assert set(rows) == set(LAYER_TABLES)
    assert rows["raw/flights"][:2] == ["336,776", "336,776"]
    # normalized/weather: 26,115 raw rows, one quarantined (a 1,048 mph wind), its 2 blocking checks passed.
    assert rows["normalized/weather"][:5] == ["26,114", "26,114", "1", "2", "0"]
    # stats/platform_run_stats is built in a second run, so the first run's assets are in it.
    assert int(rows["stats/platform_run_stats"][0]) == len(LAYER_TABLES) - 1
    assert _sql(home, "SELECT count(*) FROM stats.platform_run_stats")[0][0] == len(LAYER_TABLES) - 1


def _sql(home: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(query).fetchall()


def _source(query: str) -> list[tuple]:
    csv = DATA_DIR / "flights.csv.gz"
    with duckdb.connect() as con:
        con.execute(f"CREATE VIEW flights AS SELECT * FROM read_csv('{csv}', nullstr='NA')")
        return con.execute(query).fetchall()


def test_every_table_holds_what_the_source_implies(demo_home: Path) -> None:
    (total,) = _source("SELECT count(*) FROM flights")[0]
    assert total == 336_776
    assert _sql(demo_home, "SELECT count(*) FROM raw.flights")[0][0] == total
    normalized = _sql(demo_home, "SELECT count(*) FROM normalized.flights")[0][0]
    quarantined = _sql(demo_home, "SELECT count(*) FROM quarantine.flights")[0][0]
    assert (normalized, quarantined) == (total, 0)
    assert _sql(demo_home, "SELECT count(*) FROM raw.weather")[0][0] == 26_115
    assert _sql(demo_home, "SELECT count(*) FROM raw.planes")[0][0] == 3_322
    assert _sql(demo_home, "SELECT count(*) FROM raw.airports")[0][0] == 1_458
    assert _sql(demo_home, "SELECT count(*) FROM raw.airlines")[0][0] == 16
    cancelled = _source("SELECT count(*) FROM flights WHERE dep_time IS NULL")[0][0]
    assert (
        _sql(demo_home, "SELECT count(*) FROM normalized.flights WHERE cancelled")[0][0] == cancelled == 8_255
    )


def test_known_aggregates(demo_home: Path) -> None:
    routes = _source("SELECT count(*) FROM (SELECT DISTINCT origin, dest FROM flights)")[0][0]
    assert _sql(demo_home, "SELECT count(*) FROM stats.route_stats")[0][0] == routes
    jfk_lax = _source("SELECT count(*), avg(air_time) FROM flights WHERE origin = 'JFK' AND dest = 'LAX'")[0]
    got = _sql(
        demo_home, "SELECT flights, avg_air_time FROM stats.route_stats WHERE origin = 'JFK' AND dest = 'LAX'"
    )
    assert got[0][0] == jfk_lax[0] == 11_262
    assert abs(got[0][1] - jfk_lax[1]) < 1e-9
    ua_new_year = _source(
        "SELECT count(*), avg(dep_delay), count(*) FILTER (WHERE arr_delay < 15) / count(arr_delay) "
        "FROM flights WHERE carrier = 'UA' AND month = 1 AND day = 1"
    )[0]
    got = _sql(
        demo_home,
        "SELECT flights, avg_dep_delay, on_time_share, carrier_name FROM stats.carrier_daily_performance "
        "WHERE carrier = 'UA' AND flight_date = DATE '2013-01-01'",
    )[0]
    assert got[0] == ua_new_year[0]
    assert abs(got[1] - ua_new_year[1]) < 1e-9 and abs(got[2] - ua_new_year[2]) < 1e-9
    assert got[3] == "United Air Lines Inc."
    days = _sql(demo_home, "SELECT count(DISTINCT flight_date) FROM stats.carrier_daily_performance")[0][0]
    assert days == 365


def _latest_check(home: Path, asset: str, name: str) -> dg.AssetCheckEvaluation:
    os.environ["DAGSTER_HOME"], saved = str(home / "dagster_home"), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            key = dg.AssetCheckKey(dg.AssetKey(asset.split("/")), name)
            records = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert records, f"check {asset}:{name} never ran"
            return records[0].event.dagster_event.event_specific_data
    finally:
        if saved is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = saved


def test_referential_checks_report_the_real_orphans(demo_home: Path) -> None:
    """Counted independently here, with DuckDB straight from the vendored CSVs."""
    with duckdb.connect() as con:
        for name in ("flights", "planes", "airports"):
            con.execute(
                f"CREATE VIEW {name} AS SELECT * FROM read_csv('{DATA_DIR / name}.csv.gz', nullstr='NA')"
            )
        tailnums = con.execute(
            "SELECT count(*), count(DISTINCT tailnum) FROM flights "
            "WHERE tailnum IS NOT NULL AND tailnum NOT IN (SELECT tailnum FROM planes)"
        ).fetchall()[0]
        dests = con.execute(
            "SELECT count(*), count(DISTINCT dest) FROM flights WHERE dest NOT IN (SELECT faa FROM airports)"
        ).fetchall()[0]
    assert tailnums == (50_094, 721) and dests == (7_602, 4)  # the nycflights13 figures
    for check, (rows, values) in (("tailnum_in_planes", tailnums), ("dest_in_airports", dests)):
        evaluation = _latest_check(demo_home, "normalized/flights", check)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
        assert evaluation.metadata["orphan_rows"].value == rows
        assert evaluation.metadata["orphan_values"].value == values
    sample = _latest_check(demo_home, "normalized/flights", "dest_in_airports").metadata["sample"].value
    assert {"SJU", "BQN", "STT", "PSE"} <= set(sample.replace("|", " ").split())


def test_every_raw_row_is_normalized_or_quarantined(demo_home: Path) -> None:
    for table in ("flights", "weather", "airports", "planes", "airlines"):
        raw, normalized, quarantined = _sql(
            demo_home,
            f"SELECT (SELECT count(*) FROM raw.{table}), (SELECT count(*) FROM normalized.{table}), "
            f"(SELECT count(*) FROM quarantine.{table})",
        )[0]
        assert raw == normalized + quarantined, table
        assert _latest_check(demo_home, f"normalized/{table}", "reconciliation").passed
        assert _latest_check(demo_home, f"normalized/{table}", "contract").passed
    # One real sensor error in the data: a 1,048 mph wind at EWR, kept in quarantine with its reason and
    # its origin (weather comes from the API: the dlt load, there is no file and row).
    ((origin, wind, rule, came_from),) = _sql(
        demo_home, "SELECT origin, wind_speed, _quarantine_rule, _quarantine_origin FROM quarantine.weather"
    )
    assert (origin, float(wind), rule) == ("EWR", 1048.36058, "wind_speed:less_than_or_equal_to(250)")
    assert came_from.startswith("load ")


def test_second_run_loads_nothing_and_changes_nothing(demo_home: Path) -> None:
    before = _sql(
        demo_home, "SELECT (SELECT count(*) FROM raw.flights), (SELECT count(*) FROM normalized.flights)"
    )
    env = {**os.environ, "DATAFORGE_HOME": str(demo_home), "DAGSTER_HOME": str(demo_home / "dagster_home")}
    with replay_server.running() as weather_api:  # the weather source's API, as the demo runs it
        rerun = subprocess.run(
            # The current month, as automation would run it: every new load comes in, no month is rebuilt.
            [BIN / "dagster", "asset", "materialize", "-m", "dataforge_assets", "--select", "*"]
            + ["--partition", current_month()],
            env={**env, WEATHER_API_URL_ENV: weather_api.url},
            capture_output=True,
            text=True,
        )
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert (
        _sql(
            demo_home, "SELECT (SELECT count(*) FROM raw.flights), (SELECT count(*) FROM normalized.flights)"
        )
        == before
    )
    os.environ["DAGSTER_HOME"], saved = str(demo_home / "dagster_home"), os.environ.get("DAGSTER_HOME")
    try:
        with dg.DagsterInstance.get() as instance:
            raw = instance.get_latest_materialization_event(dg.AssetKey(["raw", "flights"]))
            norm = instance.get_latest_materialization_event(dg.AssetKey(["normalized", "flights"]))
            assert raw.asset_materialization.metadata["rows_loaded"].value == 0
            weather = instance.get_latest_materialization_event(dg.AssetKey(["raw", "weather"]))
            assert weather.asset_materialization.metadata["rows_loaded"].value == 0
            assert norm.asset_materialization.metadata["raw_rows_processed"].value == 0
            assert instance.get_runs_count() == 3  # the demo's two runs and this one
    finally:
        if saved is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = saved
