"""Operations: how the platform runs itself. Applied once, in definitions.py, over everything loaded.

Landing-folder sensors come with each files source (SourceComponent calls landing_sensors_for). Freshness is
each source's native FreshnessPolicy (from its YAML), evaluated by Dagster's freshness daemon.
"""

import dagster as dg

from dataforge_assets.lib.operations.alert_channels import alert_channels_from_env
from dataforge_assets.lib.operations.alert_sensors import alert_on_recovery, alert_on_run_failure
from dataforge_assets.lib.operations.asset_alerts import alert_on_blocking_check, alert_on_freshness
from dataforge_assets.lib.operations.automation import with_declarative_automation
from dataforge_assets.lib.operations.dead_runs import fail_dead_runs


def with_operations(defs: dg.Definitions) -> dg.Definitions:
    """Automation on downstream layers; alerts on failed runs, failed blocking checks, stale tables and
    the recovery of each; and the sensor that fails runs whose worker died."""
    alerts = dg.Definitions(
        sensors=[
            alert_on_run_failure,
            alert_on_recovery,
            alert_on_blocking_check,
            alert_on_freshness,
            fail_dead_runs,
        ],
        resources={"alerts": alert_channels_from_env()},
    )
    return dg.Definitions.merge(with_declarative_automation(defs), alerts)
