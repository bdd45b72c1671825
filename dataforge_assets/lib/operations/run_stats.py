"""The platform's own run history per asset, computed from Dagster's instance (not from a home-made log)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.operations.run_history import AssetAttempt, asset_attempts

# The newest runs read each time: bounded, so the table's cost does not grow with the instance's age.
MAX_RUNS = 1000


def _schema() -> pa.Schema:
    return pa.schema(
        [
            ("asset_key", pa.string()),
            ("run_count", pa.int64()),
            ("failure_count", pa.int64()),
            ("records_processed", pa.int64()),
            ("last_records_processed", pa.int64()),
            ("total_duration_seconds", pa.float64()),
            ("last_duration_seconds", pa.float64()),
            ("last_run_id", pa.string()),
            ("last_success_at", pa.timestamp("us", tz="UTC")),
            ("last_failure_at", pa.timestamp("us", tz="UTC")),
            ("last_failure_reason", pa.string()),
            ("last_failure_run_id", pa.string()),
        ]
    )


if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")


def run_stats_table(instance: dg.DagsterInstance, max_runs: int = MAX_RUNS) -> pa.Table:
    """One row per asset that any of the newest `max_runs` finished runs tried to materialize."""
    finished = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
    per_asset: dict[str, list[AssetAttempt]] = defaultdict(list)
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=finished), limit=max_runs):
        for attempt in asset_attempts(instance, record.dagster_run.run_id):
            per_asset[attempt.asset_key].append(attempt)
    rows = [_row(key, attempts) for key, attempts in sorted(per_asset.items())]
    return pa.Table.from_pylist(rows, schema=_schema())


def _row(key: str, attempts: list[AssetAttempt]) -> dict:
    attempts = sorted(attempts, key=lambda a: a.ended_at or a.started_at or 0.0)
    successes = [a for a in attempts if a.succeeded]
    failures = [a for a in attempts if not a.succeeded]
    durations = [a.duration_seconds for a in attempts if a.duration_seconds is not None]
    last, last_failure = attempts[-1], (failures[-1] if failures else None)
    return {
        "asset_key": key,
        "run_count": len({a.run_id for a in attempts}),
        "failure_count": len(failures),
        "records_processed": sum(a.records or 0 for a in successes),
        "last_records_processed": successes[-1].records if successes else None,
        "total_duration_seconds": sum(durations),
        "last_duration_seconds": last.duration_seconds,
        "last_run_id": last.run_id,
        "last_success_at": _time(successes[-1].ended_at) if successes else None,
        "last_failure_at": _time(last_failure.ended_at) if last_failure else None,
        "last_failure_reason": last_failure.error if last_failure else None,
        "last_failure_run_id": last_failure.run_id if last_failure else None,
    }


def _time(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp is not None else None
