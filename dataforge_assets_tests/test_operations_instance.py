"""The instance settings and pools that keep runs safe: run retries, run monitoring, one warehouse writer."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.sources.component import WAREHOUSE_WRITER_POOL
from dataforge_assets_tests.conftest import Platform

WRITER_LAYERS = {"raw", "normalized", "stats"}


def test_every_warehouse_writer_is_in_the_one_pool(platform: Platform) -> None:
    defs = platform.definitions()
    graph = defs.resolve_asset_graph()
    writers = [k for k in graph.get_all_asset_keys() if k.path[0] in WRITER_LAYERS]
    assert len(writers) >= 9  # 5 raw, 1 normalized, 3 stats: a layer can not silently drop out
    for key in writers:
        assets_def = graph.get(key).assets_def
        assert assets_def.op.pool == WAREHOUSE_WRITER_POOL, key.to_user_string()


def test_repo_dagster_yaml_enables_retries_monitoring_and_a_limit_of_one(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert not instance.run_retries_retry_on_asset_or_op_failure  # steps have their own RetryPolicy
        assert instance.run_monitoring_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

        # The limit is given to the warehouse pool the first time a step of the pool runs.
        @dg.asset(pool=WAREHOUSE_WRITER_POOL)
        def writer() -> None: ...

        assert dg.materialize([writer], instance=instance).success
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_WRITER_POOL).slot_count == 1
    finally:
        instance.dispose()
