"""Declarative automation: normalized and stats tables update when what they read from changes.

No hand-written job chains: each downstream asset carries AutomationCondition.eager() and one automation
sensor, running by default, evaluates them. A new code version (a changed transform, contract or SQL,
lib/code_version.py) requests the asset too: its build rebuilds what the old version built.

Monthly-partitioned tables (lib/partitions.py): a normalized one is requested for its latest month
when raw changes (its run brings every new raw load in, whatever the month, and reports the months
it changed); a stats one is requested for exactly the months whose normalized partition changed.
"""

import warnings

import dagster as dg

AUTOMATED_LAYERS = ("normalized", "stats")
UPDATE = dg.AutomationCondition.eager() | (
    dg.AutomationCondition.code_version_changed()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.in_progress()
).with_label("code version changed")


# A partitioned table's new code version is one request, for its latest month: the run rebuilds
# whatever the old version built (every month), not one run per month.
LATEST_UPDATE = dg.AutomationCondition.eager() | (
    dg.AutomationCondition.in_latest_time_window()
    & dg.AutomationCondition.code_version_changed()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.in_progress()
).with_label("code version changed")
# Months whose upstream month changed (eager() would only look at the latest month).
CHANGED_MONTHS = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("upstream months changed") | LATEST_UPDATE


def _condition_for(spec: dg.AssetSpec, partitioned: list[dg.AssetKey]) -> dg.AutomationCondition | None:
    # An asset that chose its own condition (e.g. a cron) keeps it.
    layer = spec.key.path[0]
    if layer not in AUTOMATED_LAYERS or spec.automation_condition is not None:
        return None
    if spec.partitions_def is not None:
        return LATEST_UPDATE if layer == "normalized" else CHANGED_MONTHS
    # A table reading a monthly one reads every month: months never materialized (before the data
    # begins) are no reason to wait. Its other dependencies must exist, as before.
    return UPDATE.replace(
        "any_deps_missing",
        dg.AutomationCondition.any_deps_missing().ignore(dg.AssetSelection.assets(*partitioned)),
    )


def _specs(defs: dg.Definitions) -> list[dg.AssetSpec]:
    specs: list[dg.AssetSpec] = []
    for asset in defs.assets or []:
        if isinstance(asset, dg.AssetsDefinition):
            specs.extend(asset.specs)
        elif isinstance(asset, dg.AssetSpec):
            specs.append(asset)
    return specs


def with_declarative_automation(defs: dg.Definitions) -> dg.Definitions:
    sensor = dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.groups(*AUTOMATED_LAYERS),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the normalized and stats layers' automation conditions.",
    )
    partitioned = [spec.key for spec in _specs(defs) if spec.partitions_def is not None]

    def _eager(spec: dg.AssetSpec) -> dg.AssetSpec:
        condition = _condition_for(spec, partitioned)
        return spec if condition is None else spec.replace_attributes(automation_condition=condition)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # map_asset_specs: the documented way, in preview
        mapped = defs.map_asset_specs(func=_eager)
    return dg.Definitions.merge(mapped, dg.Definitions(sensors=[sensor]))
