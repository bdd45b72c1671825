"""YAML fields every source kind shares."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster._utils.schedules import is_valid_cron_string
from pydantic import field_validator, model_validator

from dataforge_assets.lib.privacy import PrivacySpec
from dataforge_assets.lib.retry import DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRIES

TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def sql_name(value: str) -> str:
    """A table or column name that needs no quoting in SQL on DuckDB and PostgreSQL alike."""
    if not TABLE_NAME.fullmatch(value):
        raise ValueError("must be lower-case letters, digits and _, starting with a letter")
    return value


class TableSpec(dg.Model):
    """One raw table of a source: `raw.<name>`, merged on `primary_key`, incremental on `cursor_field`."""

    name: str
    primary_key: Sequence[str] = ()
    write_disposition: Literal["merge", "append", "replace"] = "merge"
    description: str | None = None
    # Rows whose cursor is not past the last loaded value are skipped; the cursor lives in the warehouse.
    cursor_field: str | None = None
    initial_cursor_value: str | int | float | None = None
    # What of this table's rows may be shown in previews and failure samples (overrides the source's).
    privacy: PrivacySpec | None = None

    @field_validator("name")
    @classmethod
    def _table_name(cls, value: str) -> str:
        return sql_name(value)

    @model_validator(mode="after")
    def _cursor_value_needs_field(self) -> TableSpec:
        if self.initial_cursor_value is not None and self.cursor_field is None:
            raise ValueError("initial_cursor_value needs cursor_field (the field the cursor follows)")
        return self


class ScheduleSpec(dg.Model):
    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if not is_valid_cron_string(value):
            raise ValueError("must be a cron expression of 5 fields, e.g. '0 6 * * *'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone, e.g. 'UTC' or 'America/New_York'") from None
        return value


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
