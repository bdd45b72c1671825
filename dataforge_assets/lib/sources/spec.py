"""YAML fields every source kind shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import dagster as dg


class TableSpec(dg.Model):
    """One raw table of a source."""

    name: str
    primary_key: Sequence[str] = ()
    write_disposition: Literal["merge", "append", "replace"] = "merge"
    description: str | None = None


class ScheduleSpec(dg.Model):
    cron: str
    timezone: str = "UTC"


class FreshnessSpec(dg.Model):
    """How stale the source's raw tables may get before the freshness check fails."""

    max_lag_minutes: int


class RetrySpec(dg.Model):
    max_retries: int = 3
    delay_seconds: float = 10.0
