"""The instance settings that keep runs safe: run retries, run monitoring, and no pool slot to wedge writers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets_tests.conftest import Platform

WRITER_LAYERS = {"raw", "normalized", "stats"}


def test_no_warehouse_writer_waits_on_a_pool_slot(platform: Platform) -> None:
    # A Dagster pool slot outlives a killed run and blocks every later writer; the writer lock
    # (lib/warehouse/writer_lock.py) dies with its holder instead (test_crash_recovery.py).
    defs = platform.definitions()
    graph = defs.resolve_asset_graph()
    writers = [k for k in graph.get_all_asset_keys() if k.path[0] in WRITER_LAYERS]
    assert len(writers) >= 9  # 5 raw, 1 normalized, 3 stats: a layer can not silently drop out
    for key in writers:
        assert graph.get(key).assets_def.op.pool is None, key.to_user_string()
    for checks in defs.asset_checks or []:
        assert checks.op.pool is None, checks.op.name


def test_the_dead_run_sensor_is_on(platform: Platform) -> None:
    sensor = platform.definitions().get_sensor_def("fail_dead_runs")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_repo_dagster_yaml_enables_retries_and_monitoring(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert not instance.run_retries_retry_on_asset_or_op_failure  # steps have their own RetryPolicy
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
    finally:
        instance.dispose()
