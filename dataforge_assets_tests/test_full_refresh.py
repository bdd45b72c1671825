"""A full refresh (`{"resources": {"refresh": {"config": {"full": true}}}}` in a run's config) starts the
selected tables over and touches nothing else.

- SQL source, DuckDB and PostgreSQL: refreshing raw/planes reloads it from the source (a correction
  its cursor could not see arrives, a row deleted at the source is gone), while raw/carriers of the
  same source keeps its rows, load ids and dlt state. The next normalized build equals a fresh one
  (a full refresh of normalized/planes), its reconciliation check passes; normalized/carriers is untouched.
- Files source, real `dg launch` and `dagster asset materialize` processes: raw/flights is reloaded
  (one new load, the same rows), the files set aside stay recorded, the reference tables and their
  dlt state are untouched; normalized/flights is rebuilt with the same rows.
- Files source, in process on DuckDB and PostgreSQL: the same, from a first load that is a full refresh.
- A refresh killed (SIGKILL) once it started leaves the next plain run reading the source whole.
- GraphQL: the same run config, through the official client, refreshes raw/airlines alone.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dataforge_assets.lib.partitions import current_month
from dataforge_assets.lib.refresh import FULL_REFRESH_RUN_CONFIG
from dataforge_assets_tests.bad_input import check, meta
from dataforge_assets_tests.chaos.runner import Run
from dataforge_assets_tests.conftest import LaunchedUi, Platform, materialization_metadata
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
from dataforge_assets_tests.source_yaml import load_defs_folder, write_project_files
from dataforge_assets_tests.test_dg_cli import REPO, dagster_home, output  # noqa: F401
from dataforge_assets_tests.test_raw_history import NORMALIZED_PLANES
from dataforge_assets_tests.test_source_sql_database import create_planes, planes

BIN = Path(sys.executable).parent
DOC = REPO / "docs" / "reprocessing.md"


def documented_config() -> str:
    """The run config docs/reprocessing.md tells users to pass (its `FULL='...'` line)."""
    (config,) = re.findall(r"^FULL='(.*)'$", DOC.read_text(), flags=re.M)
    assert json.loads(config) == FULL_REFRESH_RUN_CONFIG
    return config


CONFIG_JSON = documented_config()

SOURCE = """
type: dataforge_assets.lib.sources.SourceComponent
attributes:
  name: ops
  connection:
    kind: sql_database
    url: sqlite:///ops.sqlite
    tables:
      - name: planes
        table: fleet
        primary_key: [tailnum]
        cursor_field: updated_at
      - name: carriers
        primary_key: [carrier]
        cursor_field: updated_at
  retry: {max_retries: 0}
"""

NORMALIZED_CARRIERS = """
type: dataforge_assets.lib.tables.NormalizedTableComponent
attributes:
  name: carriers
  raw_table: carriers
  key: [carrier]
  columns:
    - {name: carrier, type: string, checks: {unique: true}}
    - {name: name, type: string}
"""


def dlt_resource_states(sql, pipeline: str, source: str) -> dict:  # noqa: ANN001 - Platform.sql
    """The resources' state dlt keeps in the warehouse (its newest version) for a pipeline's source."""
    from dlt.common.versioned_state import decompress_state

    ((stored,),) = sql(
        "SELECT state FROM raw._dlt_pipeline_state "
        f"WHERE pipeline_name = '{pipeline}' ORDER BY version DESC LIMIT 1"
    )
    return decompress_state(stored).get("sources", {}).get(source, {}).get("resources", {})


def stored_states(sql, pipeline: str) -> list[tuple]:  # noqa: ANN001 - Platform.sql
    """Every version of a pipeline's state dlt stored in the warehouse."""
    return sql(
        "SELECT version, version_hash, _dlt_load_id FROM raw._dlt_pipeline_state "
        f"WHERE pipeline_name = '{pipeline}' ORDER BY version"
    )


def rows(platform: Platform, table: str, order: str) -> list[tuple]:
    return platform.sql(f"SELECT * FROM {table} ORDER BY {order}")


class Ops:
    """The `ops` database (fleet, carriers) and a project loading it into raw and normalized."""

    def __init__(self, platform: Platform, tmp_path: Path) -> None:
        database = platform.env.home / "ops.sqlite"
        database.parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(f"sqlite:///{database}")
        self.fleet = create_planes(self.engine)
        self.carriers = sa.Table(
            "carriers",
            sa.MetaData(),
            sa.Column("carrier", sa.Text, primary_key=True),
            sa.Column("name", sa.Text),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        )
        self.carriers.metadata.create_all(self.engine)
        first = planes(0, 8)
        self.start = first[0]["updated_at"]
        with self.engine.begin() as con:
            con.execute(self.fleet.insert(), first)
            con.execute(self.carriers.insert(), [self.carrier("AA", 0), self.carrier("B6", 1)])
        files = {
            "raw/ops/defs.yaml": SOURCE,
            "normalized/planes/defs.yaml": NORMALIZED_PLANES,
            "normalized/carriers/defs.yaml": NORMALIZED_CARRIERS,
        }
        self.defs = load_defs_folder(write_project_files(tmp_path, files))
        self.platform = platform

    def carrier(self, code: str, hours: int) -> dict:
        return {"carrier": code, "name": f"{code} Airways", "updated_at": self.start + timedelta(hours=hours)}

    def run(self, selection: str, full: bool = False) -> dg.ExecuteInProcessResult:
        keys = [dg.AssetKey.from_user_string(part) for part in selection.split(",")]
        return dg.materialize(
            [*(self.defs.assets or []), *(self.defs.asset_checks or [])],
            selection=dg.AssetSelection.assets(*keys),
            resources=self.defs.resources,
            instance=self.platform.instance,
            run_config=FULL_REFRESH_RUN_CONFIG if full else None,
        )

    def source_planes(self) -> list[tuple]:
        with self.engine.connect() as con:
            return sorted(con.execute(sa.select(self.fleet.c.tailnum, self.fleet.c.seats)).all())

    def states(self) -> dict:
        return dlt_resource_states(self.platform.sql, "dataforge_ops", "ops")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops(request: pytest.FixtureRequest, tmp_path: Path) -> Ops:
    platform = request.getfixturevalue("platform" if request.param == "duckdb" else "pg_platform")
    made = Ops(platform, tmp_path)
    yield made
    made.engine.dispose()


EVERYTHING = "raw/planes,raw/carriers,normalized/planes,normalized/carriers"
# normalized rows without the time a row was quarantined (quarantine has none for these tables)
PLANES = "SELECT tailnum, seats, manufacturer, _row_key, _dlt_load_id FROM normalized.planes ORDER BY 1"


def test_full_refresh_of_one_sql_table_reloads_it_and_nothing_else(ops: Ops) -> None:
    platform = ops.platform
    ops.run(EVERYTHING)
    with ops.engine.begin() as con:  # a second load of each table
        con.execute(ops.fleet.insert(), planes(8, 2))
        con.execute(ops.carriers.insert(), [ops.carrier("DL", 20)])
    ops.run(EVERYTHING)
    carriers_before = rows(platform, "raw.carriers", "carrier")
    normalized_carriers_before = rows(platform, "normalized.carriers", "carrier")
    ledger_before = platform.sql(
        "SELECT load_id, processed_at FROM normalized._processed_loads WHERE table_name = 'carriers' ORDER BY 1"
    )
    planes_loads_before = {r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.planes")}
    states_before = ops.states()
    assert set(states_before) == {"planes", "carriers"} and len(planes_loads_before) == 2

    # At the source: a correction that keeps its `updated_at` (the cursor cannot see it), a deletion.
    corrected, deleted = ops.source_planes()[0][0], ops.source_planes()[1][0]
    with ops.engine.begin() as con:
        con.execute(ops.fleet.update().where(ops.fleet.c.tailnum == corrected).values(seats=999))
        con.execute(ops.fleet.delete().where(ops.fleet.c.tailnum == deleted))
    ops.run("raw/planes")  # incremental: sees neither
    assert platform.sql(f"SELECT seats FROM raw.planes WHERE tailnum = '{corrected}'") != [(999,)]

    refreshed = ops.run("raw/planes", full=True)

    # raw.planes is exactly the source again, in one new load; its cursor was reset and re-advanced.
    assert sorted(platform.sql("SELECT tailnum, seats FROM raw.planes")) == ops.source_planes()
    (load,) = [r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.planes")]
    assert load not in planes_loads_before
    meta_planes = materialization_metadata(refreshed, ["raw", "planes"])
    assert meta_planes["full_refresh"] is True and meta_planes["rows_loaded"] == len(ops.source_planes())
    states = ops.states()
    # The load started with no cursor (`start_value`), and stored the source's latest `updated_at`.
    cursor, cursor_before = (s["planes"]["incremental"]["updated_at"] for s in (states, states_before))
    assert cursor_before["start_value"] is not None and cursor["start_value"] is None
    assert cursor["last_value"] == cursor_before["last_value"]
    # The other table of the same source: same rows, same loads, same dlt state.
    assert rows(platform, "raw.carriers", "carrier") == carriers_before
    assert states["carriers"] == states_before["carriers"]

    # normalized.planes follows incrementally, to what a fresh build makes (checks pass in `run`).
    followed = ops.run("normalized/planes")
    assert meta(check(followed, "normalized/planes", "reconciliation"))["unaccounted_rows"] == 0
    after_raw_refresh = platform.sql(PLANES)
    assert sorted((r[0], r[1]) for r in after_raw_refresh) == ops.source_planes()
    assert {r[4] for r in after_raw_refresh} == {load}
    rebuilt = ops.run("normalized/planes", full=True)
    assert materialization_metadata(rebuilt, ["normalized", "planes"])["full_refresh"] is True
    assert meta(check(rebuilt, "normalized/planes", "reconciliation"))["unaccounted_rows"] == 0
    assert platform.sql(PLANES) == after_raw_refresh  # the fresh build
    assert platform.sql("SELECT load_id FROM normalized._processed_loads WHERE table_name = 'planes'") == [
        (load,)
    ]
    # Another normalized table: not rebuilt, not even re-read.
    assert rows(platform, "normalized.carriers", "carrier") == normalized_carriers_before
    assert (
        platform.sql(
            "SELECT load_id, processed_at FROM normalized._processed_loads "
            "WHERE table_name = 'carriers' ORDER BY 1"
        )
        == ledger_before
    )


@pytest.mark.parametrize("stack", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_full_refresh_of_a_files_table_keeps_the_files_set_aside(
    stack: str, request: pytest.FixtureRequest
) -> None:
    platform: Platform = request.getfixturevalue("platform" if stack == "duckdb" else "pg_platform")
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 30))
    (platform.env.landing_dir / "flights" / "flights_2013_03.csv").write_text("")  # set aside: empty
    # On an empty warehouse a full refresh is a first load.
    platform.materialize("raw/flights,raw/airlines", run_config=FULL_REFRESH_RUN_CONFIG)
    land_flights(platform.env, 2, month_sample(2, 30))
    platform.materialize("raw/flights")
    flights = "SELECT _source_file, _source_row, carrier, flight, dep_delay FROM raw.flights ORDER BY 1, 2"
    before = platform.sql(flights)
    loads = {r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.flights")}
    rejected = platform.sql("SELECT file_name, _dlt_load_id FROM raw._rejected_files")
    airlines = rows(platform, "raw.airlines", "carrier")
    assert len(before) == 60 and len(loads) == 2 and len(rejected) == 1

    platform.materialize("raw/flights", run_config=FULL_REFRESH_RUN_CONFIG)

    assert platform.sql(flights) == before
    (load,) = [r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.flights")]
    assert load not in loads
    again = platform.sql("SELECT file_name, _dlt_load_id FROM raw._rejected_files")
    assert set(rejected) < set(again) and len(again) == 2
    assert rows(platform, "raw.airlines", "carrier") == airlines


def run_cli(args: list[str], env_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=REPO,
        env={
            **os.environ,
            "DATAFORGE_HOME": str(env_home),
            "DAGSTER_HOME": str(env_home / "dagster_home"),
            "VIRTUAL_ENV": sys.prefix,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=900,
    )


FLIGHT_ROWS = "SELECT * EXCLUDE (_dlt_load_id) FROM raw.flights ORDER BY _source_file, _source_row"
NORMALIZED_FLIGHTS = "SELECT * EXCLUDE (_dlt_load_id) FROM normalized.flights ORDER BY _row_key"


@pytest.mark.usefixtures("dagster_home")  # test_dg_cli.py's: the repo's dagster.yaml for the CLI
def test_full_refresh_from_the_cli_reloads_raw_flights_and_rebuilds_normalized_flights(
    platform: Platform,
) -> None:
    land_reference(platform.env)
    land_flights(platform.env, 1, month_sample(1, 40))
    land_flights(platform.env, 2, month_sample(2, 40))
    (platform.env.landing_dir / "flights" / "flights_2013_03.csv").write_text("")  # set aside: empty
    flow = "raw/flights,raw/airlines,raw/airports,raw/planes,normalized/flights,normalized/airlines"
    platform.materialize(flow)
    land_flights(platform.env, 4, month_sample(4, 40))  # a second load of raw.flights
    platform.materialize("raw/flights,normalized/flights")
    flights_before = platform.sql(FLIGHT_ROWS)
    loads_before = {r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.flights")}
    rejected_before = platform.sql("SELECT file_name, _dlt_load_id FROM raw._rejected_files")
    reference = {t: rows(platform, f"raw.{t}", "1") for t in ("airlines", "airports", "planes")}
    reference_states = stored_states(platform.sql, "dataforge_reference")
    normalized_flights = platform.sql(NORMALIZED_FLIGHTS)
    airlines_ledger = platform.sql(
        "SELECT load_id, processed_at FROM normalized._processed_loads WHERE table_name = 'airlines'"
    )
    assert len(loads_before) == 2 and len(rejected_before) == 1

    done = run_cli(
        [str(BIN / "dg"), "launch", "--assets", "raw/flights", "--config-json", CONFIG_JSON],
        platform.env.home,
    )
    assert done.returncode == 0, output(done)[-4000:]
    assert "full refresh: the dlt state of raw.flights is reset" in output(done)

    # One new load with the same rows (every landed file read again); the set-aside file is recorded
    # again, and its earlier record (a table dlt's refresh would have dropped with raw.flights) stays.
    assert platform.sql(FLIGHT_ROWS) == flights_before
    (load,) = [r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.flights")]
    assert load not in loads_before
    rejected = platform.sql("SELECT file_name, _dlt_load_id FROM raw._rejected_files")
    assert set(rejected_before) < set(rejected) and {r[0] for r in rejected} == {"flights_2013_03.csv"}
    # The other source: its tables and its dlt state as they were.
    assert {t: rows(platform, f"raw.{t}", "1") for t in reference} == reference
    assert stored_states(platform.sql, "dataforge_reference") == reference_states
    # raw/flights' file identities: forgotten, then every landed file's recorded again.
    files = dlt_resource_states(platform.sql, "dataforge_flights", "flights")["flights"]["files"]
    assert sorted(files) == [f"flights_2013_{m:02d}.csv" for m in (1, 2, 3, 4)]

    # normalized.flights follows (the old loads' rows replaced by the new load's), then is rebuilt whole.
    followed = platform.materialize("normalized/flights")
    assert meta(check(followed, "normalized/flights", "reconciliation"))["unaccounted_rows"] == 0
    assert platform.sql(NORMALIZED_FLIGHTS) == normalized_flights
    assert {r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM normalized.flights")} == {load}
    done = run_cli(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "dataforge_assets",
            "--select",
            "normalized/flights",
            "--partition",  # a monthly table's run names a month: the whole table is rebuilt anyway
            current_month(),
            "--config-json",
            CONFIG_JSON,
        ],
        platform.env.home,
    )
    assert done.returncode == 0, output(done)[-4000:]
    assert "full refresh: normalized.flights is rebuilt whole from raw.flights" in output(done)
    assert platform.sql(NORMALIZED_FLIGHTS) == normalized_flights
    assert platform.sql("SELECT load_id FROM normalized._processed_loads WHERE table_name = 'flights'") == [
        (load,)
    ]
    assert (
        platform.sql(
            "SELECT load_id, processed_at FROM normalized._processed_loads WHERE table_name = 'airlines'"
        )
        == airlines_ledger
    )


def logged(run: Run) -> str:
    return run.log.read_text() if run.log.exists() else ""


@pytest.mark.usefixtures("dagster_home")
def test_a_full_refresh_killed_midway_leaves_the_next_run_reading_the_source_whole(
    platform: Platform, tmp_path: Path
) -> None:
    """The reset state is committed before dlt drops anything: killed at any later instruction, the
    refresh leaves no table dropped behind an old cursor; the next plain run reads every file again."""
    land_reference(platform.env)
    for month in (1, 2):
        land_flights(platform.env, month, month_sample(month, 30))
    platform.materialize("raw/flights,raw/airlines,normalized/flights")
    before = platform.sql("SELECT _source_file, _source_row, flight FROM raw.flights ORDER BY 1, 2")
    loads = {r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.flights")}

    args = ["asset", "materialize", "-m", "dataforge_assets", "--select", "raw/flights"]
    env = {
        **os.environ,
        "DATAFORGE_HOME": str(platform.env.home),
        "DAGSTER_HOME": str(platform.env.home / "dagster_home"),
    }
    run = Run(env, tmp_path / "refresh.log", args=[*args, "--config-json", CONFIG_JSON])
    # Killed as soon as it says the state is reset (SIGKILL: no cleanup), whatever it does next.
    while "full refresh: the dlt state of raw.flights is reset" not in logged(run):
        assert run.process.poll() is None, logged(run)[-3000:]
        time.sleep(0.05)
    run.kill()
    assert run.finish(timeout=60).returncode != 0
    # What the kill left: raw.flights' file identities forgotten in the warehouse.
    assert not dlt_resource_states(platform.sql, "dataforge_flights", "flights").get("flights")

    followed = platform.materialize("raw/flights,normalized/flights")  # no refresh asked
    assert platform.sql("SELECT _source_file, _source_row, flight FROM raw.flights ORDER BY 1, 2") == before
    assert not loads & {r[0] for r in platform.sql("SELECT DISTINCT _dlt_load_id FROM raw.flights")}
    assert meta(check(followed, "normalized/flights", "reconciliation"))["unaccounted_rows"] == 0
    assert platform.count("normalized.flights") + platform.count("quarantine.flights") == len(before)


def test_full_refresh_through_graphql(ui: LaunchedUi) -> None:
    import duckdb
    from dagster_graphql import DagsterGraphQLClient

    from dataforge_assets_tests.graphql_queries import graphql, wait_for_run

    database = ui.server.data_home / "warehouse.duckdb"

    def loads(table: str) -> set[str]:
        with duckdb.connect(str(database), read_only=True) as con:
            return {r[0] for r in con.execute(f"SELECT DISTINCT _dlt_load_id FROM raw.{table}").fetchall()}

    airlines, flights = loads("airlines"), loads("flights")
    client = DagsterGraphQLClient("127.0.0.1", port_number=ui.server.port, timeout=60)
    run_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name="dataforge_assets",
        asset_selection=[["raw", "airlines"]],
        run_config=FULL_REFRESH_RUN_CONFIG,
    )
    assert wait_for_run(ui.server.url, run_id)["status"] == "SUCCESS", ui.server.log.read_text()[-3000:]
    (load,) = loads("airlines")
    assert load not in airlines and loads("flights") == flights
    asset = graphql(ui.server.url, "LatestMaterialization", assetKey={"path": ["raw", "airlines"]})
    (latest,) = asset["assetOrError"]["assetMaterializations"]
    assert latest["runId"] == run_id
    assert "full_refresh" in {entry["label"] for entry in latest["metadataEntries"]}
