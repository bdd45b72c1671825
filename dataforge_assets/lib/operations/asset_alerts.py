"""Alerts on what matters besides runs: a blocking check that failed, a table past its freshness policy, and
the recovery of each. Read from Dagster's instance: each blocking check's latest execution record, and the
freshness state changes Dagster's freshness daemon records from each asset's FreshnessPolicy (declared
once, in the source YAML).

Each sensor alerts on a change of state only (pass -> fail, fail -> pass), so a check that keeps failing or
a table that stays stale alerts once, and its recovery once. The state lives in the sensor's cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from dataforge_assets.lib.operations.alert_channels import AlertChannels

BATCH = 500


@dataclass
class Cursor:
    """The last event read, and what is currently failing (check keys or asset keys)."""

    after: int | None
    failing: set[str]

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls(None, set())
        data = json.loads(text)
        return cls(data["after"], set(data["failing"]))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "failing": sorted(self.failing)})


def _records(instance: dg.DagsterInstance, event_type: dg.DagsterEventType, after: int) -> Iterator:
    while True:
        records = instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(event_type=event_type, after_cursor=after), limit=BATCH, ascending=True
        )
        yield from records
        if len(records) < BATCH:
            return
        after = records[-1].storage_id


def _latest_id(instance: dg.DagsterInstance, event_type: dg.DagsterEventType) -> int:
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(event_type=event_type), limit=1
    )
    return records[0].storage_id if records else 0


def _tick(
    context: dg.SensorEvaluationContext,
    alerts: AlertChannels,
    event_type: dg.DagsterEventType,
    judge: Callable[[dg.SensorEvaluationContext, object], tuple[str, bool, str] | None],
) -> dg.SkipReason:
    """Read new events; `judge` says (what, failing now?, detail) for events that matter."""
    cursor = Cursor.parse(context.cursor)
    if cursor.after is None:  # first tick: start from now, as Dagster's run status sensors do
        context.update_cursor(Cursor(_latest_id(context.instance, event_type), set()).dump())
        return dg.SkipReason("started; alerting on events from now on")
    sent = 0
    for record in _records(context.instance, event_type, cursor.after):
        cursor.after = record.storage_id
        event = record.event_log_entry.dagster_event
        verdict = judge(context, event) if event else None
        if verdict is None:
            continue
        what, failing, detail = verdict
        if failing and what not in cursor.failing:
            cursor.failing.add(what)
            _send(context, alerts, f"[dataforge] FAILED: {what}", f":red_circle: {detail}")
            sent += 1
        elif not failing and what in cursor.failing:
            cursor.failing.discard(what)
            _send(context, alerts, f"[dataforge] recovered: {what}", f":large_green_circle: {detail}")
            sent += 1
    context.update_cursor(cursor.dump())
    return dg.SkipReason(f"{sent} alert(s) sent; failing now: {sorted(cursor.failing) or 'nothing'}")


def _send(context: dg.SensorEvaluationContext, alerts: AlertChannels, subject: str, text: str) -> None:
    for channel, error in alerts.send(subject, text).items():
        context.log.error(f"alert via {channel} failed: {error}")


def _judge_freshness(context: dg.SensorEvaluationContext, event: object) -> tuple[str, bool, str] | None:
    change = event.asset_freshness_state_change_data  # type: ignore[attr-defined]
    asset = change.key.to_user_string()
    if change.new_state == FreshnessState.FAIL:
        return f"freshness of {asset}", True, f"{asset} is stale: past its freshness policy's fail window."
    if change.new_state == FreshnessState.PASS:
        return f"freshness of {asset}", False, f"{asset} is fresh again."
    return None


@dg.sensor(
    name="alert_on_blocking_check",
    description="Alerts (webhook / email) when a blocking asset check fails, and when it passes again.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def alert_on_blocking_check(context: dg.SensorEvaluationContext, alerts: AlertChannels) -> dg.SkipReason:
    """Compares each blocking check's latest result (Dagster's check execution records, which every event
    log storage keeps) with the failing set in the cursor."""
    graph = context.repository_def.asset_graph if context.repository_def else None
    blocking = [k for k in (graph.asset_check_keys if graph else []) if graph.get_check_spec(k).blocking]
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(blocking)
    failed = {
        key: record
        for key, record in latest.items()
        if record.status == AssetCheckExecutionRecordStatus.FAILED
    }
    passed = {k for k, r in latest.items() if r.status == AssetCheckExecutionRecordStatus.SUCCEEDED}
    cursor = Cursor.parse(context.cursor)
    failing_now = {_name(key) for key in failed}
    if cursor.after is None:  # first tick: what fails already failed before this sensor ran
        context.update_cursor(Cursor(0, failing_now).dump())
        return dg.SkipReason("started; alerting on changes from now on")
    for key, record in sorted(failed.items(), key=lambda item: _name(item[0])):
        if _name(key) not in cursor.failing:
            evaluation = record.event.dagster_event.event_specific_data if record.event else None
            detail = getattr(evaluation, "description", None) or ""
            text = f"Blocking check {_name(key)} failed (downstream assets were not built). {detail}".strip()
            _send(context, alerts, f"[dataforge] FAILED: check {_name(key)}", f":red_circle: {text}")
    for key in sorted(passed, key=_name):
        if _name(key) in cursor.failing:
            text = f"Blocking check {_name(key)} passes again."
            _send(
                context, alerts, f"[dataforge] recovered: check {_name(key)}", f":large_green_circle: {text}"
            )
    recovered = {_name(key) for key in passed}
    context.update_cursor(Cursor(0, (cursor.failing - recovered) | failing_now).dump())
    return dg.SkipReason(f"failing now: {sorted(failing_now) or 'nothing'}")


def _name(key: dg.AssetCheckKey) -> str:
    return f"{key.name} on {key.asset_key.to_user_string()}"


@dg.sensor(
    name="alert_on_freshness",
    description="Alerts (webhook / email) when a table breaks its freshness policy, and when it is fresh again.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
def alert_on_freshness(context: dg.SensorEvaluationContext, alerts: AlertChannels) -> dg.SkipReason:
    return _tick(context, alerts, dg.DagsterEventType.FRESHNESS_STATE_CHANGE, _judge_freshness)
