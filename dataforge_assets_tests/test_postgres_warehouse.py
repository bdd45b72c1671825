"""The PostgreSQL warehouse: every Warehouse method on the real server, and the graph on it as on DuckDB."""

from __future__ import annotations

import datetime as dt
import math
import shutil

import dagster as dg
import psycopg2
import pyarrow as pa
import pytest
import sqlalchemy as sa

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.lib.warehouse import PostgresWarehouse
from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.demo_data import DEMO_TABLES, land_flights, land_reference, month_sample

pytestmark = pytest.mark.postgres

TABLES = DEMO_TABLES


def _warehouse(url: str, monkeypatch: pytest.MonkeyPatch) -> PostgresWarehouse:
    monkeypatch.setenv("DATAFORGE_POSTGRES_URL", url)
    return PostgresWarehouse(url=dg.EnvVar("DATAFORGE_POSTGRES_URL")).process_config_and_initialize()


def test_every_warehouse_method(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wh = _warehouse(postgres_url, monkeypatch)
    utc = dt.UTC
    rows = pa.table(
        {
            "key": ["a", "b", "c"],
            "text": ["", None, 'comma, quote " and\nnewline'],
            "n": pa.array([1, None, 3], pa.int32()),
            "at": pa.array([dt.datetime(2013, 1, 1, 5, tzinfo=utc)] * 3, pa.timestamp("us", tz="UTC")),
            "day": [dt.date(2013, 1, 1), None, dt.date(2013, 12, 31)],
            "flag": [True, False, None],
        }
    )
    assert not wh.table_exists("normalized", "t")
    assert wh.columns("normalized", "t") == []
    assert wh.write("normalized", "t", [rows], mode="replace") == 3
    assert wh.write("normalized", "t", [rows.slice(0, 1)], mode="append") == 1
    assert wh.columns("normalized", "t") == [
        ("key", "text"),
        ("text", "text"),
        ("n", "integer"),
        ("at", "timestamp with time zone"),
        ("day", "date"),
        ("flag", "boolean"),
    ]
    back = wh.query('SELECT * FROM normalized.t WHERE "key" <> ? ORDER BY "key"', ("a",))
    # Empty string and NULL survive COPY as themselves, and so do the special characters and the types.
    assert back.to_pylist() == rows.slice(1).to_pylist()
    assert back.schema == rows.schema
    wh.delete_keys("normalized", "t", "key", pa.array(["a", "zz"]))
    assert wh.row_count("normalized", "t") == 2
    wh.delete_keys("normalized", "missing", "key", pa.array(["a"]))  # no table: nothing to do
    wh.replace_table_as("stats", "s", 'SELECT "key", count(*) AS n FROM normalized.t GROUP BY "key"')
    wh.replace_table_as("stats", "s", 'SELECT "key", 2 * count(*) AS n FROM normalized.t GROUP BY "key"')
    batches = list(wh.query_batches('SELECT * FROM stats.s ORDER BY "key"', batch_size=1))
    assert [b.num_rows for b in batches] == [1, 1]
    assert pa.Table.from_batches(batches).to_pylist() == [{"key": "b", "n": 2}, {"key": "c", "n": 2}]
    assert wh.write("normalized", "t", [rows.slice(2)], mode="replace") == 1
    assert wh.scalar("SELECT count(*) FROM normalized.t") == 1
    wh.execute("DROP TABLE normalized.t")
    assert not wh.table_exists("normalized", "t")


def test_a_failed_write_leaves_the_table_as_it_was(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = _warehouse(postgres_url, monkeypatch)
    wh.write("normalized", "t", [pa.table({"n": pa.array([1, 2], pa.int32())})], mode="replace")

    def batches():
        yield pa.table({"n": pa.array([3], pa.int32())})
        raise RuntimeError("source broke mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        wh.write("normalized", "t", batches(), mode="append")
    assert wh.query("SELECT n FROM normalized.t ORDER BY n").column(0).to_pylist() == [1, 2]


def test_the_graph_runs_on_postgres_as_on_duckdb(
    pg_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    land_reference(pg_platform.env)
    land_flights(pg_platform.env, 1, month_sample(1, 800))
    land_flights(pg_platform.env, 2, month_sample(2, 700))
    result = pg_platform.materialize("*")
    assert result.success
    raw = materialization_metadata(result, ["raw", "flights"])
    assert raw["rows_loaded"] == raw["dagster/row_count"] == 1500
    on_postgres = {t: pg_platform.count(t) for t in TABLES}
    stats_pg = pg_platform.sql("SELECT origin, dest, flights, avg_air_time, distance FROM stats.route_stats")

    # The same landed files through the same definitions, now on DuckDB.
    monkeypatch.setenv("DATAFORGE_WAREHOUSE", "duckdb")
    duck = Platform(env=current_environment(), instance=pg_platform.instance)
    assert duck.materialize("*").success
    assert on_postgres == {t: duck.count(t) for t in TABLES}
    assert on_postgres["normalized.flights"] == 1500
    stats_duck = duck.sql("SELECT origin, dest, flights, avg_air_time, distance FROM stats.route_stats")
    assert len(stats_pg) == len(stats_duck) > 10
    for a, b in zip(sorted(stats_pg), sorted(stats_duck), strict=True):
        assert a[:3] == b[:3] and a[4] == b[4], (a, b)
        assert (a[3] is None and b[3] is None) or math.isclose(a[3], b[3]), (a, b)


def test_a_rerun_on_postgres_loads_nothing_new(pg_platform: Platform) -> None:
    land_reference(pg_platform.env)
    land_flights(pg_platform.env, 3, month_sample(3, 300))
    pg_platform.materialize("*")
    # A fresh machine: dlt's local folder is gone; its cursors live in the PostgreSQL warehouse.
    shutil.rmtree(pg_platform.env.dlt_pipelines_dir)
    again = pg_platform.materialize("*")
    assert materialization_metadata(again, ["raw", "flights"])["rows_loaded"] == 0
    assert materialization_metadata(again, ["normalized", "flights"])["raw_rows_processed"] == 0
    assert pg_platform.count("normalized.flights") == pg_platform.count("raw.flights") == 300
    # The contract check vouches for the unchanged rows by their fingerprint instead of reading them.
    contract = check(again, "normalized/flights", "contract")
    assert contract.passed
    assert (meta(contract)["rows_checked"], meta(contract)["rows_unchanged_since_checked"]) == (0, 300)
    with psycopg2.connect(pg_platform.url) as con, con.cursor() as cur:
        cur.execute("UPDATE normalized.flights SET dep_delay = dep_delay + 1 WHERE _source_row = 7")
    changed = check(pg_platform.materialize("normalized/flights"), "normalized/flights", "contract")
    assert (meta(changed)["rows_checked"], meta(changed)["rows_unchanged_since_checked"]) == (300, 0)


def test_health_is_observed_on_a_schedule_and_recorded_over_time(pg_platform: Platform) -> None:
    from dataforge_assets.lib.warehouse_health import HEALTH_KEY

    defs = pg_platform.definitions()
    schedule = defs.get_schedule_def("postgres_health_schedule")
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    job = defs.resolve_job_def(schedule.job_name)

    def observe() -> dict[str, object]:
        assert job.execute_in_process(instance=pg_platform.instance).success
        event = pg_platform.instance.fetch_observations(HEALTH_KEY, limit=1).records[0]
        return {k: v.value for k, v in event.asset_observation.metadata.items()}

    before = observe()
    land_reference(pg_platform.env)
    pg_platform.materialize("raw/weather")  # some real writes: the database and the WAL grow
    after = observe()
    assert len(pg_platform.instance.fetch_observations(HEALTH_KEY, limit=10).records) == 2
    assert after["database"] == before["database"] == pg_platform.url.rsplit("/", 1)[1]
    assert after["database_size_bytes"] > before["database_size_bytes"] > 0
    assert after["wal_written_bytes"] > before["wal_written_bytes"]
    assert after["wal_size_bytes"] >= 16 * 1024 * 1024  # at least one WAL segment (superuser here)


def test_health_is_not_defined_on_duckdb(platform: Platform) -> None:
    from dataforge_assets.lib.warehouse_health import HEALTH_KEY

    defs = platform.definitions()
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    assert dg.AssetKey(["raw", "flights"]) in keys and HEALTH_KEY not in keys
    with pytest.raises(dg.DagsterInvariantViolationError):
        defs.get_schedule_def("postgres_health_schedule")


def test_the_warehouse_password_never_reaches_events_or_logs(
    pg_platform: Platform, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # The server trusts local connections, so any password works: one that is easy to spot.
    secret = "pw-never-logged-7f3a"
    url = sa.make_url(pg_platform.url).set(password=secret).render_as_string(hide_password=False)
    monkeypatch.setenv("DATAFORGE_POSTGRES_URL", url)
    land_reference(pg_platform.env)
    land_flights(pg_platform.env, 4, month_sample(4, 200))
    result = pg_platform.materialize("raw/airlines+,raw/flights")
    assert result.success
    events = pg_platform.instance.all_logs(result.run_id)
    assert events and not [e for e in events if secret in str(e)]
    out, err = capfd.readouterr()
    assert "raw" in out + err and secret not in out + err


def test_bad_delivery_on_postgres_sets_files_aside_and_evolves_quarantine(pg_platform: Platform) -> None:
    """On PostgreSQL as on DuckDB: a bad file is set aside in raw._rejected_files, and a new raw column
    reaches quarantine.flights (ALTER TABLE before COPY) after quarantine already existed."""
    import polars as pl

    land_reference(pg_platform.env)
    flow = "raw/flights,raw/airlines,normalized/flights"
    delay = pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("late")).otherwise(pl.col("dep_delay"))
    land_flights(pg_platform.env, 1, month_sample(1, 20).with_columns(delay.alias("dep_delay")))
    pg_platform.materialize(flow)

    land_flights(
        pg_platform.env, 2, month_sample(2, 20).with_columns(delay.alias("dep_delay"), gate=pl.lit("A3"))
    )
    (pg_platform.env.landing_dir / "flights" / "flights_2013_03.csv").write_bytes(b"")
    result = pg_platform.materialize(flow)

    assert result.success
    assert pg_platform.sql("SELECT count(*), count(gate) FROM raw.flights") == [(40, 20)]
    assert pg_platform.sql(
        "SELECT _source_file, gate, _quarantine_reason FROM quarantine.flights ORDER BY 1"
    ) == [
        ("flights_2013_01.csv", None, "dep_delay: late is not a valid Int32"),
        ("flights_2013_02.csv", "A3", "dep_delay: late is not a valid Int32"),
    ]
    ((name, reason),) = pg_platform.sql("SELECT file_name, reason FROM raw._rejected_files")
    assert name == "flights_2013_03.csv" and "empty (0 bytes" in reason
    assert not check(result, "raw/flights", "rejected_files").passed
    assert meta(check(result, "normalized/flights", "reconciliation"))["unaccounted_rows"] == 0
