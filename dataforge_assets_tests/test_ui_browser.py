"""The Dagster UI in a real headless Chromium (Debian's, driven by Playwright; no browser download).

The webserver is the real one of the GraphQL tests, after a run it launched: the UI must show our asset
groups in the lineage graph and the materialization on the asset's page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataforge_assets_tests.conftest import LaunchedUi
from dataforge_assets_tests.services import chromium

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 90_000


@pytest.fixture
def page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            tab = context.new_page()
            tab.set_default_timeout(TIMEOUT_MS)
            yield tab
        finally:
            browser.close()


def _skip_welcome(page) -> None:
    """A fresh instance greets the first visitor with a community sign-up dialog; it covers the page."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=10_000)
        skip.click()
    except Exception:  # noqa: BLE001 - no dialog shown: nothing to dismiss
        pass


def test_asset_graph_shows_our_groups(ui: LaunchedUi, page, tmp_path: Path) -> None:
    page.goto(f"{ui.server.url}/asset-groups", wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").wait_for(state="visible")
    _skip_welcome(page)
    for group in ("raw", "normalized", "stats"):
        # Each group is an entry of the sidebar and a (collapsed) node of the lineage graph.
        page.get_by_text(group, exact=True).filter(visible=True).nth(1).wait_for(state="visible")
    shot = tmp_path / "asset_graph.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_asset_page_shows_the_materialization(ui: LaunchedUi, page, tmp_path: Path) -> None:
    page.goto(f"{ui.server.url}/assets/normalized/flights", wait_until="domcontentloaded")
    _skip_welcome(page)
    page.get_by_text("Latest materialization").wait_for(state="visible")
    # The row count the run recorded, shown next to the latest materialization's status.
    row_count = page.get_by_text("Row count").locator("xpath=..")
    row_count.get_by_text(f"{ui.flights}", exact=True).wait_for(state="visible")
    page.get_by_text("Latest check results").wait_for(state="visible")
    shot = tmp_path / "asset_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert "ago" in page.get_by_text("Latest materialization").locator("xpath=..").inner_text()
