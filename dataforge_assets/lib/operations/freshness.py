"""Freshness: each source's SLA (the asset specs' time-window freshness policy) as a check plus a sensor.

The checks are derived from the specs, so the YAML `freshness.max_lag_minutes` is the only place the SLA lives.
"""

import warnings
from collections import defaultdict
from datetime import timedelta

import dagster as dg
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy

FRESHNESS_SENSOR = "freshness_checks_sensor"


def freshness_windows(defs: dg.Definitions) -> dict[timedelta, list[dg.AssetKey]]:
    """Asset keys grouped by the fail window of their time-window freshness policy."""
    windows: dict[timedelta, list[dg.AssetKey]] = defaultdict(list)
    for assets_def in defs.assets or []:
        for spec in getattr(assets_def, "specs", []):
            policy = spec.freshness_policy
            if isinstance(policy, TimeWindowFreshnessPolicy):
                windows[policy.fail_window.to_timedelta()].append(spec.key)
    return dict(windows)


def with_freshness_checks(defs: dg.Definitions) -> dg.Definitions:
    # Dagster's newer freshness evaluation needs no checks, but checks give a pass/fail history per SLA
    # that the UI, the alerts and the GraphQL API all see today.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return _with_checks(defs)


def _with_checks(defs: dg.Definitions) -> dg.Definitions:
    checks = [
        check
        for window, keys in sorted(freshness_windows(defs).items())
        for check in dg.build_last_update_freshness_checks(assets=keys, lower_bound_delta=window)
    ]
    if not checks:
        return defs
    sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=checks, name=FRESHNESS_SENSOR, default_status=dg.DefaultSensorStatus.RUNNING
    )
    return dg.Definitions.merge(defs, dg.Definitions(asset_checks=checks, sensors=[sensor]))
