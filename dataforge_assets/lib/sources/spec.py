"""YAML fields every source kind shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import dagster as dg
from pydantic import field_validator

from dataforge_assets.lib.retry import DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRIES


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
    """How stale the source's raw tables may get (the SLA) before they count as overdue."""

    max_lag_minutes: int

    @field_validator("max_lag_minutes")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number of minutes")
        return value


class RetrySpec(dg.Model):
    """How often a failed load is retried, with exponential backoff and jitter from the first delay."""

    max_retries: int = DEFAULT_MAX_RETRIES
    delay_seconds: float = DEFAULT_DELAY_SECONDS

    @field_validator("max_retries")
    @classmethod
    def _retries_in_range(cls, value: int) -> int:
        if not 0 <= value <= 20:
            raise ValueError("must be between 0 and 20")
        return value

    @field_validator("delay_seconds")
    @classmethod
    def _delay_not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 or more seconds")
        return value
