"""Operations: how the platform runs itself. Applied once, in definitions.py, over everything loaded.

Landing-folder sensors come with each files source (SourceComponent calls landing_sensors_for).
"""

import dagster as dg

from dataforge_assets.lib.operations.alert_channels import alert_channels_from_env
from dataforge_assets.lib.operations.alert_sensors import alert_on_recovery, alert_on_run_failure
from dataforge_assets.lib.operations.automation import with_declarative_automation
from dataforge_assets.lib.operations.dead_runs import fail_dead_runs
from dataforge_assets.lib.operations.freshness import with_freshness_checks


def with_operations(defs: dg.Definitions) -> dg.Definitions:
    """Automation on downstream layers, freshness checks + sensor, failure/recovery alerts, and the
    sensor that fails runs whose worker died."""
    defs = with_freshness_checks(with_declarative_automation(defs))
    alerts = dg.Definitions(
        sensors=[alert_on_run_failure, alert_on_recovery, fail_dead_runs],
        resources={"alerts": alert_channels_from_env()},
    )
    return dg.Definitions.merge(defs, alerts)
