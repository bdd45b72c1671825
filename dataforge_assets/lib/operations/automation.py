"""Declarative automation: normalized and stats tables update when what they read from changes.

No hand-written job chains: each downstream asset carries AutomationCondition.eager() and one automation
sensor, running by default, evaluates them. A new code version (a changed transform, contract or SQL,
lib/code_version.py) requests the asset too: its build rebuilds what the old version built.
"""

import warnings

import dagster as dg

AUTOMATED_LAYERS = ("normalized", "stats")
UPDATE = dg.AutomationCondition.eager() | (
    dg.AutomationCondition.code_version_changed()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.in_progress()
).with_label("code version changed")


def _eager(spec: dg.AssetSpec) -> dg.AssetSpec:
    # An asset that chose its own condition (e.g. a cron) keeps it.
    if spec.key.path[0] not in AUTOMATED_LAYERS or spec.automation_condition is not None:
        return spec
    return spec.replace_attributes(automation_condition=UPDATE)


def with_declarative_automation(defs: dg.Definitions) -> dg.Definitions:
    sensor = dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.groups(*AUTOMATED_LAYERS),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Evaluates the normalized and stats layers' automation conditions.",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # map_asset_specs: the documented way, in preview
        mapped = defs.map_asset_specs(func=_eager)
    return dg.Definitions.merge(mapped, dg.Definitions(sensors=[sensor]))
