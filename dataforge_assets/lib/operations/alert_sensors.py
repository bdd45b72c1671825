"""Alert sensors: a run failed, or a run succeeded after the previous run of the same job/assets failed."""

import dagster as dg

from dataforge_assets.lib.operations.alert_channels import AlertChannels
from dataforge_assets.lib.operations.run_history import asset_attempts, redact

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
LOOKBACK_RUNS = 50


def failure_message(instance: dg.DagsterInstance, run: dg.DagsterRun, alerts: AlertChannels) -> str:
    attempts = asset_attempts(instance, run.run_id)
    failed = [a for a in attempts if not a.succeeded]
    errors = sorted({a.error for a in failed if a.error})
    if not errors:
        errors = [_run_failure_reason(instance, run.run_id)]
    lines = [
        f":red_circle: Dagster run FAILED: job `{run.job_name}`, run {run.run_id}",
        f"Failed assets: {', '.join(a.asset_key for a in failed) or '(none: the run failed outside an asset)'}",
        *(f"Error: {e}" for e in errors),
        f"Run: {alerts.run_url(run.run_id)}",
    ]
    return "\n".join(lines)


def recovery_message(
    instance: dg.DagsterInstance, run: dg.DagsterRun, failed: dg.DagsterRun, alerts: AlertChannels
) -> str:
    assets = ", ".join(sorted(k.to_user_string() for k in _targets(instance, run))) or "(no assets)"
    return "\n".join(
        [
            f":large_green_circle: Dagster run RECOVERED: job `{run.job_name}`, run {run.run_id} succeeded "
            f"after run {failed.run_id} failed",
            f"Assets: {assets}",
            f"Run: {alerts.run_url(run.run_id)}",
            f"Failed run: {alerts.run_url(failed.run_id)}",
        ]
    )


def previous_finished_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRun | None:
    """The last finished run before this one of the same job, on the same assets (or overlapping ones)."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=run.job_name, statuses=FINISHED), limit=LOOKBACK_RUNS
    )
    this = instance.get_run_record_by_id(run.run_id)
    targets = _targets(instance, run)
    for record in records:  # newest first
        other = record.dagster_run
        if other.run_id == run.run_id or (this and record.create_timestamp >= this.create_timestamp):
            continue
        other_targets = _targets(instance, other)
        if targets == other_targets or targets & other_targets:
            return other
    return None


def _targets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> frozenset[dg.AssetKey]:
    """The run's assets: its selection, or (runs launched in-process have none) what it planned."""
    if run.asset_selection:
        return frozenset(run.asset_selection)
    planned = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    return frozenset(
        r.event_log_entry.dagster_event.asset_key for r in planned if r.event_log_entry.dagster_event
    )


def _run_failure_reason(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return redact(records[-1].event_log_entry.message) if records else "unknown"


def _send(context: dg.RunStatusSensorContext, alerts: AlertChannels, subject: str, text: str) -> None:
    errors = alerts.send(subject, text)
    for channel, error in errors.items():
        context.log.error(f"alert via {channel} failed: {error}")


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    description="Posts to the webhook / sends an email naming the run, the failed assets and the error.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertChannels) -> None:
    run = context.dagster_run
    text = failure_message(context.instance, run, alerts)
    _send(context, alerts, f"[dataforge] run failed: {run.job_name} {run.run_id[:8]}", text)


@dg.run_status_sensor(
    name="alert_on_recovery",
    run_status=dg.DagsterRunStatus.SUCCESS,
    description="Posts / emails when a run succeeds and the previous run of the same job and assets failed.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alert_on_recovery(context: dg.RunStatusSensorContext, alerts: AlertChannels) -> None:
    run = context.dagster_run
    previous = previous_finished_run(context.instance, run)
    if previous is None or previous.status != dg.DagsterRunStatus.FAILURE:
        return
    text = recovery_message(context.instance, run, previous, alerts)
    _send(context, alerts, f"[dataforge] recovered: {run.job_name} {run.run_id[:8]}", text)
