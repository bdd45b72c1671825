"""YAML fields every source kind shares."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal
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


WRITE_DISPOSITIONS = ("merge", "replace")
# Why `append` is refused: a normalized table keeps one row per key (a re-delivered row replaces its
# earlier version), and raw = normalized + quarantined must hold; appended raw rows repeat keys.
APPEND_REFUSED = (
    "append is not supported: a raw table must hold one row per key for its normalized table "
    "(merge replaces a re-delivered row, replace reloads the whole table); allowed: merge, replace. "
    "To keep every version, use write_disposition: merge with merge_strategy: scd2"
)


class TableSpec(dg.Model):
    """One raw table of a source: `raw.<name>`, merged on `primary_key`, incremental on `cursor_field`.

    What each write disposition does with updates and deletes: docs/write-dispositions.md.
    """

    name: str
    primary_key: Sequence[str] = ()
    write_disposition: Literal["merge", "replace"] = "merge"
    # merge only: `delete-insert` replaces a row by key; `scd2` keeps every version with
    # _dlt_valid_from/_dlt_valid_to and retires rows the source no longer has (needs the whole table).
    merge_strategy: Literal["delete-insert", "scd2"] = "delete-insert"
    # merge only: a source column that is true for rows deleted at the source (dlt's hard_delete hint):
    # such rows are deleted from raw and downstream instead of loaded.
    deleted_flag: str | None = None
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

    @field_validator("write_disposition", mode="before")
    @classmethod
    def _no_append(cls, value: Any) -> Any:
        if value == "append":
            raise ValueError(APPEND_REFUSED)
        return value

    @model_validator(mode="after")
    def _cursor_value_needs_field(self) -> TableSpec:
        if self.initial_cursor_value is not None and self.cursor_field is None:
            raise ValueError("initial_cursor_value needs cursor_field (the field the cursor follows)")
        return self

    @model_validator(mode="after")
    def _merge_options_need_merge(self) -> TableSpec:
        chosen = [f for f in ("merge_strategy", "deleted_flag") if f in self.model_fields_set]
        merge_only = chosen if self.write_disposition != "merge" else []
        if merge_only:
            raise ValueError(f"{merge_only[0]} needs write_disposition: merge")
        if self.merge_strategy == "scd2" and self.cursor_field is not None:
            raise ValueError(
                "merge_strategy: scd2 retires every row a load does not bring, so each load must read the "
                "whole table: remove cursor_field"
            )
        if self.merge_strategy == "scd2" and self.deleted_flag is not None:
            raise ValueError(
                "deleted_flag is for merge_strategy: delete-insert; scd2 retires deleted rows itself"
            )
        return self

    @property
    def keeps_history(self) -> bool:
        return self.write_disposition == "merge" and self.merge_strategy == "scd2"

    @property
    def dlt_write_disposition(self) -> Any:
        """The table's write disposition as dlt takes it."""
        if self.write_disposition == "merge":
            return {"disposition": "merge", "strategy": self.merge_strategy}
        return self.write_disposition

    @property
    def dlt_columns(self) -> dict[str, Any] | None:
        """Column hints for dlt: the deleted flag marks rows to delete (dlt's hard_delete)."""
        return {self.deleted_flag: {"hard_delete": True}} if self.deleted_flag else None


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
