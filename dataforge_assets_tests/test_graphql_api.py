"""The GraphQL API of a real dagster-webserver: list assets, launch a selection, wait, read its metadata.

The raw queries are read from docs/graphql.md, so the doc users follow is what is tested. Runs launched
by the webserver execute in their own process; every wait is bounded.
"""

from __future__ import annotations

import requests

from dataforge_assets_tests.conftest import UI_SELECTION, LaunchedUi
from dataforge_assets_tests.graphql_queries import graphql, metadata_of, wait_for_run


def test_lists_our_assets_in_their_groups(ui: LaunchedUi) -> None:
    nodes = graphql(ui.server.url, "ListAssets")["assetNodes"]
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert groups["raw/flights"] == groups["raw/weather"] == "raw"
    assert groups["normalized/flights"] == "normalized"
    assert groups["stats/route_stats"] == groups["stats/carrier_daily_performance"] == "stats"
    assert "warehouse/postgres_health" not in groups  # only on the PostgreSQL warehouse


def test_client_launch_succeeds_and_metadata_has_the_row_counts(ui: LaunchedUi) -> None:
    assert ui.status == "SUCCESS", ui.server.log.read_text()[-3000:]
    run = graphql(ui.server.url, "RunStatus", runId=ui.run_id)["runOrError"]
    assert sorted(a["path"] for a in run["assetSelection"]) == sorted(UI_SELECTION)
    for key, label in ((["raw", "flights"], "rows_loaded"), (["normalized", "flights"], "rows_normalized")):
        asset = graphql(ui.server.url, "LatestMaterialization", assetKey={"path": key})["assetOrError"]
        (latest,) = asset["assetMaterializations"]
        assert latest["runId"] == ui.run_id
        metadata = metadata_of(latest)
        assert metadata["dagster/row_count"] == metadata[label] == ui.flights
    checks = graphql(ui.server.url, "AssetChecks", assetKey={"path": ["normalized", "flights"]})
    by_name = {c["name"]: c for c in checks["assetNodeOrError"]["assetChecksOrError"]["checks"]}
    contract = by_name["contract"]
    execution = contract["executionForLatestMaterialization"]
    assert (contract["name"], contract["blocking"], execution["runId"]) == ("contract", True, ui.run_id)
    assert execution["status"] == "SUCCEEDED" and execution["evaluation"]["success"] is True


def test_documented_mutation_launches_a_run(ui: LaunchedUi) -> None:
    target = {"path": ["stats", "carrier_daily_performance"]}
    january = [{"key": "dagster/partition", "value": "2013-01-01"}]
    launched = graphql(ui.server.url, "LaunchAssets", assets=[target], tags=january)[
        "launchPipelineExecution"
    ]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert wait_for_run(ui.server.url, run_id)["status"] == "SUCCESS", ui.server.log.read_text()[-3000:]
    asset = graphql(ui.server.url, "LatestMaterialization", assetKey=target)["assetOrError"]
    (latest,) = asset["assetMaterializations"]
    # 600 January flights of the sample: one row per carrier and day, all on 2013-01-01.
    assert latest["runId"] == run_id and 0 < metadata_of(latest)["dagster/row_count"] <= 16


def test_a_bad_selection_is_refused_with_a_clear_error(ui: LaunchedUi) -> None:
    launched = graphql(ui.server.url, "LaunchAssets", assets=[{"path": ["raw", "no_such_table"]}])
    result = launched["launchPipelineExecution"]
    assert result["__typename"] != "LaunchRunSuccess"
    assert "no_such_table" in str(result)


def test_server_health_endpoint(ui: LaunchedUi) -> None:
    info = requests.get(f"{ui.server.url}/server_info", timeout=10).json()
    assert info["dagster_webserver_version"]
