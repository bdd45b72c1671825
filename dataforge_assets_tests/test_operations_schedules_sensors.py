"""Schedules, landing sensors, automation and freshness, evaluated with Dagster's build contexts."""

from __future__ import annotations

import datetime as dt
import json
import os

import dagster as dg

from dataforge_assets_tests.conftest import Platform
from dataforge_assets_tests.demo_data import land_flights, land_reference, month_sample

RAW_FLIGHTS = dg.AssetKey(["raw", "flights"])


def _targets(defs: dg.Definitions, sensor: dg.SensorDefinition) -> set[str]:
    job = sensor.job
    graph = defs.resolve_asset_graph()
    keys = (
        job.selection.resolve(graph) if hasattr(job, "selection") else job.asset_layer.executable_asset_keys
    )
    return {k.to_user_string() for k in keys}


def _requested(defs: dg.Definitions, result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    return {k.to_user_string() for k in keys if result.get_num_requested(k)}


def _downstream(defs: dg.Definitions, *keys: str) -> set[str]:
    selection = dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(k) for k in keys))
    found = selection.downstream(include_self=False).resolve(defs.resolve_asset_graph())
    return {k.to_user_string() for k in found}


def test_schedule_from_yaml_requests_its_source(platform: Platform) -> None:
    defs = platform.definitions()
    schedule = defs.get_schedule_def("flights_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "America/New_York")
    with dg.build_schedule_context(
        instance=platform.instance, scheduled_execution_time=dt.datetime.now()
    ) as ctx:
        requests = schedule.evaluate_tick(ctx).run_requests
    assert len(requests) == 1
    assert _targets(defs, schedule) == {"raw/flights"}


def test_landing_sensor_requests_each_file_version_once(platform: Platform) -> None:
    defs = platform.definitions()
    sensor = defs.get_sensor_def("flights_landing_sensor")
    assert _targets(defs, sensor) == {"raw/flights"}  # only that source's raw assets
    # Only files sources have a landing folder (reference is SQL, weather a REST API).
    assert {s.name for s in defs.sensors if s.name.endswith("_landing_sensor")} == {"flights_landing_sensor"}

    def tick(cursor: str | None) -> dg.SensorExecutionData:
        with dg.build_sensor_context(instance=platform.instance, cursor=cursor) as ctx:
            return sensor.evaluate_tick(ctx)

    empty = tick(None)
    assert not empty.run_requests and "no new or changed file" in (empty.skip_message or "")

    january = land_flights(platform.env, 1, month_sample(1, 20))
    (platform.env.landing_dir / "flights" / "notes.txt").write_text("not a flights file")
    first = tick(None)
    assert len(first.run_requests) == 1
    assert set(json.loads(first.cursor)) == {"flights_2013_01.csv"}  # the glob decides what counts

    # The cursor is all the sensor remembers: a fresh evaluation with it (a restarted daemon) skips.
    assert not tick(first.cursor).run_requests

    # The same file delivered again with new content is a new version: requested once more.
    land_flights(platform.env, 1, month_sample(1, 25))
    os.utime(january, ns=(january.stat().st_mtime_ns + 10**9,) * 2)
    changed = tick(first.cursor)
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert not tick(changed.cursor).run_requests

    # Touched or re-copied unchanged (a new or an old time): the same identity, no run.
    os.utime(january, ns=(10**18, 10**18))
    touched = tick(changed.cursor)
    assert not touched.run_requests
    os.utime(january, (978_307_200, 978_307_200))
    assert not tick(touched.cursor).run_requests

    # A file still uploading under a temporary name is not a delivery yet.
    folder = platform.env.landing_dir / "flights"
    month_sample(2, 10).write_csv(folder / "flights_2013_02.csv.part", null_value="NA")
    (folder / ".flights_2013_02.csv").write_text("an editor's swap file")
    assert not tick(changed.cursor).run_requests

    # Renamed into place with an old modification time (`cp -p`, `rsync -a`): new, requested.
    (folder / "flights_2013_02.csv.part").rename(folder / "flights_2013_02.csv")
    os.utime(folder / "flights_2013_02.csv", (978_307_200, 978_307_200))
    added = tick(changed.cursor)
    assert len(added.run_requests) == 1
    assert set(json.loads(added.cursor)) == {"flights_2013_01.csv", "flights_2013_02.csv"}


def test_normalized_and_stats_update_when_upstream_changes(platform: Platform) -> None:
    defs = platform.definitions()
    land_flights(platform.env, 1, month_sample(1, 30))
    land_reference(platform.env)
    first = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance)
    assert first.total_requested == 0  # nothing upstream exists yet

    # Raw changed: normalized and, through it, the stats are requested in one tick (no job chains).
    # An unpartitioned table reading the monthly normalized/flights (route_stats) is not requested in
    # the same tick as a month of it (Dagster does not chain requests across partitionings): it
    # follows on the tick after that month is materialized.
    platform.materialize("raw/flights,raw/airlines")
    after_raw = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=first.cursor)
    downstream = _downstream(defs, "raw/flights", "raw/airlines")
    assert {"normalized/flights", "stats/carrier_daily_performance", "stats/route_stats"} <= downstream
    assert _requested(defs, after_raw) == downstream - {"stats/route_stats"}
    platform.materialize(",".join(sorted(downstream - {"stats/route_stats"})))
    next_tick = dg.evaluate_automation_conditions(
        defs=defs, instance=platform.instance, cursor=after_raw.cursor
    )
    assert _requested(defs, next_tick) == {"stats/route_stats"}
    after_raw = next_tick

    platform.materialize(",".join(sorted(downstream)))
    settled = dg.evaluate_automation_conditions(
        defs=defs, instance=platform.instance, cursor=after_raw.cursor
    )
    assert settled.total_requested == 0  # nothing upstream changed since

    land_flights(platform.env, 2, month_sample(2, 10))
    platform.materialize("raw/flights")
    again = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=settled.cursor)
    assert _requested(defs, again) == _downstream(defs, "raw/flights") - {"stats/route_stats"}


def test_each_source_sla_is_one_native_freshness_policy(platform: Platform) -> None:
    """Declared once, in the source YAML (freshness.max_lag_minutes), as the raw assets' FreshnessPolicy;
    Dagster's freshness daemon evaluates it (test_operations_alerts.py: stale -> alert -> recovery)."""
    defs = platform.definitions()
    graph = defs.resolve_asset_graph()
    windows = {
        key.to_user_string(): graph.get(key).freshness_policy.fail_window.to_timedelta()
        for key in graph.get_all_asset_keys()
        if graph.get(key).freshness_policy is not None
    }
    assert windows == {
        "raw/flights": dt.timedelta(minutes=1500),
        "raw/weather": dt.timedelta(minutes=120),
        **{f"raw/{t}": dt.timedelta(minutes=10080) for t in ("airlines", "airports", "planes")},
    }
    # No second declaration: no freshness checks beside the policy.
    assert not [k for c in defs.asset_checks or [] for k in c.check_keys if "freshness" in k.name]
