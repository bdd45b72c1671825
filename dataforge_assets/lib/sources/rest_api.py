"""The `rest_api` source kind: a paginated JSON API read by dlt's declarative `rest_api` source.

The YAML names everything dlt needs (base URL, paginator, cursor parameter, auth by env var name); the
incremental cursor is passed to the API as a request parameter so a second run asks only for newer rows.
Pages are turned into Arrow (json_arrow) after dlt's incremental step has filtered them.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from pydantic import Field, field_validator, model_validator

from dataforge_assets.lib.sources.http import (
    ApiKeyAuth,
    BearerAuth,
    RateLimit,
    RequestRetries,
    make_auth,
    make_session,
    rate_limiter,
    read_env,
)
from dataforge_assets.lib.sources.json_arrow import ColumnType, page_to_arrow
from dataforge_assets.lib.sources.spec import TableSpec

# Never requested: stands in at definitions-load time for a base URL whose env var is not set yet.
UNSET_URL = "http://base-url-env-var-not-set.invalid/"


class PageNumberPaginator(dg.Model):
    type: Literal["page_number"]
    page_param: str = "page"
    base_page: int = 1
    total_path: str | None = None  # JSON path of the page count; without it, stops at the first empty page


class OffsetPaginator(dg.Model):
    type: Literal["offset"]
    limit: int

    @field_validator("limit")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number of rows per page")
        return value

    offset_param: str = "offset"
    limit_param: str = "limit"
    total_path: str | None = None  # JSON path of the row count; without it, stops at the first empty page


class CursorPaginator(dg.Model):
    type: Literal["cursor"]
    cursor_path: str = "next_cursor"  # JSON path of the next page's cursor in the response
    cursor_param: str = "cursor"


class LinkHeaderPaginator(dg.Model):
    type: Literal["link_header"]  # follows the `Link: <...>; rel="next"` response header


Paginator = Annotated[
    PageNumberPaginator | OffsetPaginator | CursorPaginator | LinkHeaderPaginator,
    Field(discriminator="type"),
]


class RestTableSpec(TableSpec):
    path: str
    data_selector: str | None = None  # JSON path of the rows in a response; detected when omitted
    params: dict[str, str | int | float | bool] = {}
    cursor_param: str | None = None  # request parameter that carries the cursor, e.g. `since`
    paginator: Paginator | None = None  # overrides the connection's paginator
    columns: dict[str, ColumnType] = {}  # fixed types; other numbers load as double

    @field_validator("merge_strategy")
    @classmethod
    def _no_history(cls, value: str) -> str:
        # scd2 needs the whole table each load and a row hash on the Arrow pages (history.py): not here yet.
        if value == "scd2":
            raise ValueError(
                "merge_strategy: scd2 is for sql_database and files tables; allowed here: delete-insert"
            )
        return value

    @model_validator(mode="after")
    def _cursor_param_needs_field(self) -> RestTableSpec:
        if self.cursor_param and not self.cursor_field:
            raise ValueError("cursor_param needs cursor_field (the response field the cursor follows)")
        return self


class RestApiConnection(dg.Model):
    kind: Literal["rest_api"]
    base_url: str | None = None
    base_url_env: str | None = None  # name of an env var that, when set, overrides base_url
    auth: Annotated[BearerAuth | ApiKeyAuth, Field(discriminator="type")] | None = None
    paginator: Paginator | None = None
    timeout_seconds: float = 30.0
    request_retries: RequestRetries = RequestRetries()
    rate_limit: RateLimit | None = None
    tables: Sequence[RestTableSpec]

    @field_validator("timeout_seconds")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a positive number of seconds")
        return value

    @field_validator("tables")
    @classmethod
    def _some_tables(cls, value: Sequence[RestTableSpec]) -> Sequence[RestTableSpec]:
        if not value:
            raise ValueError("must list at least one table")
        return value

    @model_validator(mode="after")
    def _has_base_url(self) -> RestApiConnection:
        if not self.base_url and not self.base_url_env:
            raise ValueError("needs base_url or base_url_env (the name of an env var holding it)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return self

    def check_environment(self) -> None:
        """Run-time check that every env var the YAML names is set (raises MissingSecretError)."""
        self.resolved_base_url(strict=True)
        if self.auth:
            name = self.auth.token_env if isinstance(self.auth, BearerAuth) else self.auth.key_env
            read_env(name, f"the {self.auth.type} secret of this source")

    def resolved_base_url(self, strict: bool = False) -> str:
        from_env = os.environ.get(self.base_url_env) if self.base_url_env else None
        if from_env or self.base_url:
            return from_env or self.base_url  # type: ignore[return-value]
        if strict:
            read_env(self.base_url_env, "the base URL of this source")  # type: ignore[arg-type]
        return UNSET_URL

    def dlt_resources(self, source_name: str, home: Path, fresh_tables: Collection[str] = ()) -> list[Any]:
        # `fresh_tables` is not used: pages are not key-checked before loading, so every load merges.
        from dlt.sources.rest_api import rest_api_resources  # at run time, not at definitions load

        from dataforge_assets.lib.sources.paging import new_trail, record_responses

        # One client per table: its session's response hook knows which table a failed request was for.
        limiter = rate_limiter(self.rate_limit)
        resources = []
        for table in self.tables:
            trail = new_trail(source_name, table.name)
            session = make_session(
                self.timeout_seconds, self.request_retries, limiter, record_responses(trail)
            )
            config = {
                "client": {
                    "base_url": self.resolved_base_url(),
                    "auth": make_auth(self.auth),
                    "session": session,
                },
                "resources": [self._resource_config(source_name, table)],
            }
            (resource,) = rest_api_resources(config)  # type: ignore[arg-type]
            # Appended after dlt's incremental step, which filters the dict rows by their cursor.
            resource.add_step(_arrow_step(dict(table.columns), tuple(table.primary_key)))
            resources.append(resource)
        return resources

    def _resource_config(self, source_name: str, table: RestTableSpec) -> dict[str, Any]:
        paginator = table.paginator or self.paginator
        endpoint: dict[str, Any] = {"path": table.path, "params": dict(table.params)}
        if paginator:
            from dlt.sources.rest_api.config_setup import create_paginator

            from dataforge_assets.lib.sources.paging import CheckedPaginator

            endpoint["paginator"] = CheckedPaginator(
                create_paginator(_dlt_paginator(paginator)), source_name, table.name
            )
        if table.data_selector:
            endpoint["data_selector"] = table.data_selector
        if table.cursor_field:
            incremental = {
                "cursor_path": table.cursor_field,
                "initial_value": table.initial_cursor_value,
                "start_param": table.cursor_param,
            }
            endpoint["incremental"] = {k: v for k, v in incremental.items() if v is not None}
        return {
            "name": table.name,
            "primary_key": list(table.primary_key) or None,
            "write_disposition": table.dlt_write_disposition,
            "columns": _column_hints(table),
            "endpoint": endpoint,
        }


def _column_hints(table: Any) -> dict[str, dict[str, Any]]:
    """Declared types, plus the deleted flag's hard_delete hint."""
    hints: dict[str, dict[str, Any]] = {name: {"data_type": kind} for name, kind in table.columns.items()}
    for name, hint in (table.dlt_columns or {}).items():
        hints[name] = {**hints.get(name, {}), **hint}
    return hints


def _arrow_step(declared: dict[str, ColumnType], primary_key: tuple[str, ...]) -> Any:
    def to_arrow(page: list[dict[str, Any]]) -> Any:
        return page_to_arrow(page, declared, primary_key) if page else page

    return to_arrow


def _dlt_paginator(paginator: Any) -> dict[str, Any]:
    config = paginator.model_dump()
    config["type"] = {"link_header": "header_link"}.get(paginator.type, paginator.type)
    return config
