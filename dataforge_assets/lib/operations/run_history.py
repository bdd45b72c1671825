"""What happened to each asset in a run, read from Dagster's instance (runs, event log, step stats).

Shared by the alert sensors (which assets failed, and why) and stats.platform_run_stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._utils.error import SerializableErrorInfo

from dataforge_assets.lib.redaction import RedactedError, redact

__all__ = ["AssetAttempt", "asset_attempts", "error_reason", "redact"]

# Metadata that says how many records a materialization processed, per layer (raw, normalized, stats).
RECORD_COUNT_KEYS = ("rows_loaded", "raw_rows_processed", "dagster/row_count")
REASON_MAX_CHARS = 1000

_EVENTS = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.PIPELINE_FAILURE,
}


@dataclass(frozen=True)
class AssetAttempt:
    """One asset in one run: did it materialize, how many records, how long its step took, why it failed."""

    asset_key: str
    run_id: str
    succeeded: bool
    records: int | None
    started_at: float | None
    ended_at: float | None
    error: str | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


def error_reason(error: SerializableErrorInfo | None) -> str | None:
    """The root cause's message: what the user's code raised, not Dagster's wrapper around it."""
    if error is None:
        return None
    while error.cause is not None:
        error = error.cause
    # A redacted stand-in (lib/redaction.py) names the original exception type itself.
    message = error.message.strip().removeprefix(f"{RedactedError.__module__}.{RedactedError.__name__}: ")
    return redact(message)[:REASON_MAX_CHARS]


def asset_attempts(instance: dg.DagsterInstance, run_id: str) -> list[AssetAttempt]:
    """Every asset the run planned to materialize, with its outcome; empty for runs of no asset."""
    planned: dict[str, str | None] = {}
    done: dict[str, int | None] = {}
    step_errors: dict[str, str | None] = {}
    run_error: str | None = None
    for record in instance.get_records_for_run(run_id, of_type=_EVENTS).records:
        event = record.event_log_entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
            planned[event.asset_key.to_user_string()] = event.step_key
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            done[event.asset_key.to_user_string()] = _records(event.step_materialization_data.materialization)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            step_errors[event.step_key] = error_reason(event.step_failure_data.error)
        else:
            run_error = error_reason(event.event_specific_data.error) or redact(
                record.event_log_entry.message or ""
            )
    steps = {s.step_key: s for s in instance.get_run_step_stats(run_id)}
    attempts = []
    for key, step_key in planned.items():
        stats = steps.get(step_key) if step_key else None
        failed = key not in done
        if failed and run_error is None and (step_key or "") not in step_errors:
            continue  # skipped in a run that did not fail (e.g. an optional output): no attempt
        attempts.append(
            AssetAttempt(
                asset_key=key,
                run_id=run_id,
                succeeded=not failed,
                records=done.get(key),
                started_at=stats.start_time if stats else None,
                ended_at=stats.end_time if stats else None,
                error=(step_errors.get(step_key or "") or _not_run(run_error)) if failed else None,
            )
        )
    return attempts


def _not_run(run_error: str | None) -> str:
    return f"not materialized: {run_error}" if run_error else "not materialized"


def _records(materialization: dg.AssetMaterialization) -> int | None:
    for name in RECORD_COUNT_KEYS:
        value = materialization.metadata.get(name)
        if value is not None and isinstance(value.value, int):
            return value.value
    return None
