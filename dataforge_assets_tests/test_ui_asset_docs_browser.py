"""normalized/flights in the real UI (headless Chromium), before it was ever materialized and after.

Before: the column schema (the contract, with each column's rule) and the checks are already there.
After a run: the row count too, and the schema still carries the contract's descriptions.
"""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from dataforge_assets.lib.environment import Environment
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample
from dataforge_assets_tests.test_ui_browser import _skip_welcome, page  # noqa: F401 - the page fixture
from dataforge_assets_tests.webserver import running_webserver

pytestmark = pytest.mark.browser

FLIGHTS_ROWS = 300
SELECTION = [["raw", "flights"], ["raw", "airlines"], ["normalized", "flights"]]


def _shows(page, text: str) -> None:  # noqa: F811 - page is the fixture's browser tab
    page.get_by_text(text, exact=False).first.wait_for(state="attached")


def test_flights_page_documents_the_table_before_and_after_its_first_run(page, tmp_path: Path) -> None:  # noqa: F811
    from dagster_graphql import DagsterGraphQLClient

    env = Environment(home=tmp_path / "data", warehouse="duckdb")
    land_reference(env)
    land_flights(env, 1, month_sample(1, FLIGHTS_ROWS))
    with running_webserver(tmp_path) as server:
        url = f"{server.url}/assets/normalized/flights"
        page.goto(url, wait_until="domcontentloaded")
        _skip_welcome(page)
        # Never materialized: the schema comes from the contract, with each column's rule.
        _shows(page, "scheduled_departure")
        _shows(page, "str_matches('^[A-Z0-9]{2}$')")
        assert str(FLIGHTS_ROWS) not in page.locator("body").inner_text()
        page.goto(f"{url}?view=checks", wait_until="domcontentloaded")
        for check in ("contract", "reconciliation", "tailnum_in_planes"):
            _shows(page, check)
        page.screenshot(path=str(tmp_path / "before.png"), full_page=True)

        client = DagsterGraphQLClient("127.0.0.1", port_number=server.port, timeout=60)
        run_id = client.submit_job_execution(
            "__ASSET_JOB",
            repository_location_name="dataforge_assets",
            asset_selection=SELECTION,
            tags=range_tags(),  # the current month of normalized/flights
        )
        deadline = time.monotonic() + 300
        while (status := client.get_run_status(run_id)) not in (
            dg.DagsterRunStatus.SUCCESS,
            dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED,
        ):
            assert time.monotonic() < deadline, f"run {run_id} still {status}"
            time.sleep(1)
        assert status == dg.DagsterRunStatus.SUCCESS

        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("Latest materialization").wait_for(state="visible")
        row_count = page.get_by_text("Row count").locator("xpath=..")
        row_count.get_by_text(f"{FLIGHTS_ROWS}", exact=True).wait_for(state="visible")
        _shows(page, "scheduled_departure")
        _shows(page, "str_matches('^[A-Z0-9]{2}$')")
        page.goto(f"{url}?view=checks", wait_until="domcontentloaded")
        _shows(page, "reconciliation")
        _shows(page, "Passed")
        page.screenshot(path=str(tmp_path / "after.png"), full_page=True)
