"""The real definitions load, with the assets, checks and schedules users expect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dataforge_assets_tests.conftest import Platform

BIN = Path(sys.executable).parent


def test_definitions_have_every_layer(platform: Platform) -> None:
    defs = platform.definitions()
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {
        "raw/flights",
        "raw/weather",
        "raw/airlines",
        "raw/airports",
        "raw/planes",
        "normalized/flights",
        "stats/carrier_daily_performance",
        "stats/route_stats",
    } <= keys
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["raw", "flights"]) in graph.get(dg.AssetKey(["normalized", "flights"])).parent_keys
    assert dg.AssetKey(["raw", "airlines"]) in graph.get(dg.AssetKey(["normalized", "flights"])).parent_keys
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("normalized/flights", "contract") in checks
    assert {s.name for s in defs.schedules or []} >= {
        "flights_schedule",
        "weather_schedule",
        "reference_schedule",
    }


def test_groups_follow_layers(platform: Platform) -> None:
    graph = platform.definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).group_name == key.path[0], key


def test_cli_validates_and_lists(data_home) -> None:
    env = {**os.environ, "DATAFORGE_HOME": str(data_home.home)}
    validate = subprocess.run(
        [BIN / "dagster", "definitions", "validate", "-m", "dataforge_assets"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert validate.returncode == 0, validate.stderr[-3000:]
    listed = subprocess.run(
        [BIN / "dagster", "asset", "list", "-m", "dataforge_assets"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert "normalized/flights" in listed.stdout.split()
    assert "raw/flights" in listed.stdout.split()


def test_every_table_has_its_quality_checks(platform: Platform) -> None:
    graph = platform.definitions().resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    for table in ("flights", "weather", "airports", "planes", "airlines"):
        assert {
            (f"normalized/{table}", "contract"),
            (f"normalized/{table}", "reconciliation"),
            (f"raw/{table}", "schema_drift"),
            (f"raw/{table}", "row_count_anomaly"),
        } <= checks, table
    assert {("normalized/flights", "tailnum_in_planes"), ("normalized/flights", "dest_in_airports")} <= checks
    assert ("raw/flights", "rejected_files") in checks  # files sources only
    contract = graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(["normalized", "weather"]), "contract"))
    assert contract.blocking
