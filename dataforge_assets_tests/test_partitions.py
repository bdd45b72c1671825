"""Monthly partitions: a month range rebuilt from raw through each interface, the other months untouched.

One data home (six months of real flights) is built by a CLI range run. Each test then damages the
months it will rebuild and one month it will not (a bystander), rebuilds through one interface
(`dg launch`, `dagster asset materialize`, a GraphQL backfill carried out by the daemon), and checks:
the rebuilt months equal the first build again, every other month is exactly as before the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from dataforge_assets.lib.environment import REPO_ROOT, Environment
from dataforge_assets.lib.partitions import current_month
from dataforge_assets_tests.conftest import Platform, materialization_metadata
from dataforge_assets_tests.daemon import Daemon
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
from dataforge_assets_tests.graphql_queries import graphql
from dataforge_assets_tests.webserver import running_webserver

BIN = Path(sys.executable).parent
MONTHS = range(1, 7)
ROWS_PER_MONTH = 1_500
MONTHLY = ("normalized/flights", "stats/carrier_daily_performance")
FLIGHTS = dg.AssetKey(["normalized", "flights"])
SELECTION = ",".join(
    [
        *(f"raw/{t}" for t in ("flights", "airlines", "airports", "planes")),
        *(f"normalized/{t}" for t in ("airlines", "airports", "planes")),
        *MONTHLY,
    ]
)
# Per month: rows and a sum of row hashes, of each monthly table (a changed value changes the sum).
DIGEST = {
    "normalized.flights": "SELECT month(flight_date), count(*), sum(hash(t)) FROM normalized.flights t GROUP BY 1",
    "stats.carrier_daily_performance": (
        "SELECT month(flight_date), count(*), sum(hash(t)) FROM stats.carrier_daily_performance t GROUP BY 1"
    ),
}
Digest = dict[str, dict[int, tuple[int, int]]]


@dataclass(frozen=True)
class Home:
    root: Path  # dagster_home/ and data/ below it, as running_webserver expects
    env: dict[str, str]
    built: Digest  # after the first build

    @property
    def warehouse(self) -> Path:
        return self.root / "data" / "warehouse.duckdb"

    def run(self, *command: str) -> str:
        done = subprocess.run(
            [BIN / command[0], *command[1:]], cwd=REPO_ROOT, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        return done.stdout + done.stderr

    def digest(self) -> Digest:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return {
                table: {int(m): (int(n), int(h)) for m, n, h in con.execute(sql).fetchall()}
                for table, sql in DIGEST.items()
            }

    def damage(self, *months: int) -> None:
        """Lose half of these months' normalized rows and falsify their stats, behind the platform's back."""
        listed = ", ".join(str(m) for m in months)
        with duckdb.connect(str(self.warehouse)) as con:
            con.execute(
                f"DELETE FROM normalized.flights WHERE month(flight_date) IN ({listed}) AND flight % 2 = 0"
            )
            con.execute(
                f"UPDATE stats.carrier_daily_performance SET flights = -1 WHERE month(flight_date) IN ({listed})"
            )

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.root / "dagster_home"))


def _built_home(root: Path, months: range = MONTHS) -> Home:
    """A data home with these months of real flights, built by one CLI range run."""
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    data = Environment(home=root / "data", warehouse="duckdb")
    land_reference(data)
    for month in months:
        land_flights(data, month, month_sample(month, ROWS_PER_MONTH))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "DATAFORGE_", "PYTEST_"))}
    env |= {"DAGSTER_HOME": str(root / "dagster_home"), "DATAFORGE_HOME": str(data.home)}
    first = Home(root, env, {})
    first.run("dagster", "asset", "materialize", "-m", "dataforge_assets", "--select", SELECTION,
              "--partition-range", f"2013-{months[0]:02d}-01...2013-{months[-1]:02d}-01")  # fmt: skip
    return Home(root, env, first.digest())


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return _built_home(tmp_path_factory.mktemp("partitions"))


def test_the_first_build_materializes_every_month_of_both_tables(home: Home) -> None:
    assert set(home.built["normalized.flights"]) == set(MONTHS)
    assert sum(n for n, _ in home.built["normalized.flights"].values()) == ROWS_PER_MONTH * len(MONTHS)
    with home.instance() as instance:
        for key in MONTHLY:
            partitions = instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
            assert partitions == {f"2013-{m:02d}-01" for m in MONTHS}, key


def assert_rebuilt_only(home: Home, before: Digest, months: set[int], after: Digest | None = None) -> None:
    after = after or home.digest()
    for table, per_month in after.items():
        for month in MONTHS:
            expected = home.built[table][month] if month in months else before[table][month]
            assert per_month[month] == expected, (table, month)


def test_dg_launch_of_a_month_range_rebuilds_those_months_only(home: Home) -> None:
    home.damage(2, 3, 6)  # 6 is outside the range: it must stay damaged
    before = home.digest()
    assert before["normalized.flights"][3] != home.built["normalized.flights"][3]
    printed = home.run(
        "dg", "launch", "--assets", ",".join(MONTHLY), "--partition-range", "2013-02-01...2013-03-01"
    )
    assert "RUN_SUCCESS" in printed
    assert_rebuilt_only(home, before, {2, 3})
    with home.instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["normalized", "flights"]))
        metadata = event.asset_materialization.metadata
        assert metadata["months_rebuilt"].value == ["2013-02-01", "2013-03-01"]
        assert metadata["raw_rows_processed"].value == 2 * ROWS_PER_MONTH  # those months' raw rows only


def test_cli_materialize_of_one_month_rebuilds_it_and_checks_that_partition(home: Home) -> None:
    home.damage(5, 1)
    before = home.digest()
    home.run("dagster", "asset", "materialize", "-m", "dataforge_assets", "--select", ",".join(MONTHLY),
             "--partition", "2013-05-01")  # fmt: skip
    assert_rebuilt_only(home, before, {5})
    with home.instance() as instance:
        run = instance.get_runs(limit=1)[0]
        evaluations = [
            record.event_log_entry.dagster_event.event_specific_data
            for record in instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
        ]
    by_name = {e.check_name: e for e in evaluations if e.asset_key == dg.AssetKey(["normalized", "flights"])}
    # The partitioned checks judged this partition: recorded against it, reconciling its own month.
    for name in ("contract", "reconciliation"):
        assert by_name[name].partition == "2013-05-01" and by_name[name].passed, name
    rows = by_name["reconciliation"].metadata["rows_per_month"].value
    assert rows == {"2013-05-01": {"raw": ROWS_PER_MONTH, "normalized": ROWS_PER_MONTH, "quarantined": 0}}


@pytest.fixture
def webserver_and_daemon(home: Home, tmp_path: Path) -> Iterator[str]:
    """The UI's server and the daemon that carries out backfills, on the home's instance and data."""
    workspace = tmp_path / "workspace.yaml"
    location = {"module_name": "dataforge_assets", "working_directory": str(REPO_ROOT)}
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    daemon = Daemon(workspace, home.env, tmp_path / "daemon.log")
    with running_webserver(home.root) as server:
        daemon.start()
        try:
            yield server.url
        finally:
            daemon.kill()  # with what it launched: the digest is read once no writer is left


def test_graphql_backfill_rebuilds_its_months_only(home: Home, webserver_and_daemon: str) -> None:
    url = webserver_and_daemon
    home.damage(4, 1)
    before = home.digest()
    launched = graphql(
        url,
        "BackfillMonths",
        months=["2013-04-01"],
        assets=[{"path": key.split("/")} for key in MONTHLY],
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    deadline = time.monotonic() + 600
    while (
        backfill := graphql(url, "BackfillStatus", backfillId=launched["backfillId"])[
            "partitionBackfillOrError"
        ]
    )["status"] in ("REQUESTED", "CANCELING", "FAILING"):
        assert time.monotonic() < deadline, backfill
        time.sleep(2)
    assert backfill["status"] in ("COMPLETED_SUCCESS", "COMPLETED"), backfill
    (run,) = backfill["runs"]  # one run for the range: the single-run backfill policy
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2013-04-01",
        "2013-04-01",
    )
    assert run["status"] == "SUCCESS", run
    assert_rebuilt_only(home, before, {4}, after=_digest_between_writers(home))


def _digest_between_writers(home: Home, seconds: float = 300) -> Digest:
    """The daemon's sensors and automation may launch runs of their own (they change nothing here):
    read when no run holds the warehouse."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return home.digest()
        except duckdb.IOException:
            assert time.monotonic() < deadline, "the warehouse stayed locked by a writer"
            time.sleep(2)


def test_automation_updates_exactly_the_stats_months_that_new_loads_changed(platform: Platform) -> None:
    """New raw rows of March: normalized/flights runs for the current month (every new load comes in)
    and reports March as changed; automation then asks for March of the stats, not the other months."""
    for month in (1, 2):
        land_flights(platform.env, month, month_sample(month, 200))
    land_reference(platform.env)
    platform.materialize("raw/flights, raw/airlines, normalized/flights, stats/carrier_daily_performance")
    defs = platform.definitions()
    settled = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance)
    land_flights(platform.env, 3, month_sample(3, 200))
    platform.materialize("raw/flights")
    tick = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=settled.cursor)
    assert tick.get_requested_partitions(FLIGHTS) == {current_month()}  # the current month only
    built = platform.materialize("normalized/flights")  # what that request runs
    changed = {
        event.event_specific_data.materialization.partition
        for event in built.all_events
        if event.is_step_materialization and event.asset_key == FLIGHTS
    }
    assert changed == {"2013-03-01", current_month()}
    after = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=tick.cursor)
    requested = after.get_requested_partitions(dg.AssetKey(["stats", "carrier_daily_performance"]))
    assert "2013-03-01" in requested and not requested & {"2013-01-01", "2013-02-01"}, requested
    before = platform.sql("SELECT count(*) FROM stats.carrier_daily_performance WHERE month(flight_date) = 3")
    assert before == [(0,)]
    platform.materialize("stats/carrier_daily_performance")  # current month, and March, which changed since
    march = platform.sql(
        "SELECT sum(flights) FROM stats.carrier_daily_performance WHERE month(flight_date) = 3"
    )
    assert march == [(200,)]


def test_a_month_rebuild_on_the_postgres_warehouse(pg_platform: Platform) -> None:
    """The same SQL on PostgreSQL: months matched in raw text and by date, per-month reconciliation."""
    for month in (1, 2, 3):
        land_flights(pg_platform.env, month, month_sample(month, 300))
    land_reference(pg_platform.env)
    selection = "raw/flights, raw/airlines, normalized/flights, stats/carrier_daily_performance"
    pg_platform.materialize(selection, months="2013-01-01...2013-03-01")
    per_month = (
        "SELECT EXTRACT(MONTH FROM flight_date)::int, count(*) FROM normalized.flights GROUP BY 1 ORDER BY 1"
    )
    built = pg_platform.sql(per_month)
    assert built == [(1, 300), (2, 300), (3, 300)]
    pg_platform.sql(
        "DELETE FROM normalized.flights WHERE EXTRACT(MONTH FROM flight_date) IN (2, 3) RETURNING 1"
    )
    result = pg_platform.materialize(
        "normalized/flights, stats/carrier_daily_performance", months="2013-02-01...2013-02-01"
    )
    assert pg_platform.sql(per_month) == [(1, 300), (2, 300)]  # March stays as it was left
    metadata = materialization_metadata(result, ["normalized", "flights"])
    assert metadata["months_rebuilt"] == ["2013-02-01"] and metadata["raw_rows_processed"] == 300
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["reconciliation"].passed
    assert checks["reconciliation"].metadata["rows_per_month"].value == {
        "2013-02-01": {"raw": 300, "normalized": 300, "quarantined": 0}
    }


@pytest.mark.browser
def test_ui_backfill_of_a_month_rebuilds_it_only(
    home: Home, webserver_and_daemon: str, tmp_path: Path
) -> None:
    """The asset page's Materialize dialog in a real headless Chromium: two months typed into its partition
    selection, a backfill launched (one run: the single-run backfill policy), carried out by the daemon."""
    from playwright.sync_api import sync_playwright

    from dataforge_assets_tests.services import chromium
    from dataforge_assets_tests.test_ui_browser import CHROMIUM_ARGS, TIMEOUT_MS, _skip_welcome

    url = webserver_and_daemon
    home.damage(5, 6, 2)
    before = _digest_between_writers(home)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium()), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(f"{url}/assets/normalized/flights", wait_until="domcontentloaded")
            _skip_welcome(page)
            page.get_by_role("button", name="Materialize…").first.click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Partition selection").wait_for(state="visible")
            dialog.get_by_text("Show all partitions").click()  # the dialog opens on the last 90 days
            selection = dialog.locator("input[type=text]").first
            selection.fill("[2013-05-01...2013-06-01]")
            selection.press("Enter")
            dialog.get_by_text("2 partitions").wait_for(state="visible")
            dialog.get_by_role("button", name="Launch backfill").click()
            dialog.wait_for(state="hidden")
        finally:
            page.screenshot(path=str(tmp_path / "ui_backfill.png"), full_page=True)
            browser.close()
    deadline = time.monotonic() + 600
    with home.instance() as instance:
        while not (backfills := instance.get_backfills()) or backfills[0].status.value == "REQUESTED":
            assert time.monotonic() < deadline, backfills
            time.sleep(2)
        backfill = backfills[0]
        assert backfill.status.value in ("COMPLETED_SUCCESS", "COMPLETED"), backfill.status
        (run,) = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
    assert (
        run.tags["dagster/asset_partition_range_start"],
        run.tags["dagster/asset_partition_range_end"],
    ) == ("2013-05-01", "2013-06-01")
    # The dialog materializes the page's asset: normalized months 5 and 6 now; automation (the daemon's
    # sensor) then rebuilds the same months of the stats, which read them, and no other month.
    deadline = time.monotonic() + 300
    while (after := _digest_between_writers(home))["stats.carrier_daily_performance"][5] != home.built[
        "stats.carrier_daily_performance"
    ][5]:
        assert time.monotonic() < deadline, "automation did not rebuild the stats of the backfilled months"
        time.sleep(5)
    assert_rebuilt_only(home, before, {5, 6}, after=after)


# The normalized step's build in a process of its own that is killed once the build has committed: what a
# run worker killed between the warehouse commit and Dagster's events leaves (rows, no materialization).
BUILD_THEN_DIE = """
import os, signal, sys
from dataforge_assets.defs.normalized.flights import FLIGHTS
from dataforge_assets.lib.normalize import build
from dataforge_assets.lib.warehouse import DuckDBWarehouse
warehouse = DuckDBWarehouse(database=sys.argv[1])
with warehouse.session(), warehouse.table_lock("normalized", "flights"):
    print(build(warehouse, FLIGHTS).months_written, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_stats_catch_up_on_a_month_whose_build_was_killed_before_dagster_recorded_it(tmp_path: Path) -> None:
    home = _built_home(tmp_path, range(2, 4))
    late = (
        Environment(home=home.root / "data", warehouse="duckdb").landing_dir
        / "flights"
        / "flights_2013_02_late.csv"
    )
    month_sample(2, ROWS_PER_MONTH + 300).tail(300).write_csv(late, null_value="NA")
    home.run("dagster", "asset", "materialize", "-m", "dataforge_assets", "--select", "raw/flights")
    killed = subprocess.run(
        [sys.executable, "-c", BUILD_THEN_DIE, str(home.warehouse)],
        env=home.env,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "(2013, 2)" in killed.stdout  # the build wrote February's new rows, then died
    with home.instance() as instance:  # Dagster never heard of it
        february = instance.get_latest_materialization_event(FLIGHTS)
        assert february is not None and february.dagster_event.partition != "2013-02-01"

    # Another month's stats run: February is rebuilt too, because the warehouse recorded it changed.
    home.run("dagster", "asset", "materialize", "-m", "dataforge_assets",
             "--select", "stats/carrier_daily_performance", "--partition", "2013-03-01")  # fmt: skip
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        counted = con.execute(
            "SELECT (SELECT sum(flights) FROM stats.carrier_daily_performance WHERE month(flight_date) = 2), "
            "(SELECT count(*) FROM normalized.flights WHERE month(flight_date) = 2)"
        ).fetchone()
    assert counted == (ROWS_PER_MONTH + 300, ROWS_PER_MONTH + 300)
