"""Invalid source YAML fails at definitions-load time with the file, the field and what is allowed."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataforge_assets_tests.source_yaml import load_source, write_project

REST: dict[str, Any] = {
    "type": "dataforge_assets.lib.sources.SourceComponent",
    "attributes": {
        "name": "api",
        "connection": {
            "kind": "rest_api",
            "base_url": "http://127.0.0.1:9/",
            "paginator": {"type": "page_number", "total_path": "total_pages"},
            "tables": [
                {"name": "items", "path": "items", "primary_key": ["id"], "cursor_field": "updated_at"}
            ],
        },
        "schedule": {"cron": "0 * * * *", "timezone": "UTC"},
        "freshness": {"max_lag_minutes": 60},
        "retry": {"max_retries": 1, "delay_seconds": 1},
    },
}
SQL: dict[str, Any] = {
    "type": "dataforge_assets.lib.sources.SourceComponent",
    "attributes": {
        "name": "ops",
        "connection": {"kind": "sql_database", "url": "sqlite:///ops.sqlite", "tables": [{"name": "fleet"}]},
    },
}


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `base` with the dotted `path` (list items by index) set to `value`; None deletes it."""
    doc = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = doc["attributes"]
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is None:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return doc


CASES = [
    # Write dispositions (docs/write-dispositions.md): append is refused, merge options need merge.
    (
        SQL,
        "connection.tables.0.write_disposition",
        "append",
        "connection.tables.0.write_disposition",
        "append is not supported",
    ),
    (
        SQL,
        "connection.tables.0.write_disposition",
        "upsert",
        "connection.tables.0.write_disposition",
        "'merge' or 'replace'",
    ),
    (
        SQL,
        "connection.tables.0",
        {"name": "fleet", "write_disposition": "replace", "merge_strategy": "scd2"},
        "connection.tables.0",
        "merge_strategy needs write_disposition: merge",
    ),
    (
        SQL,
        "connection.tables.0",
        {"name": "fleet", "merge_strategy": "scd2", "cursor_field": "updated_at"},
        "connection.tables.0",
        "each load must read the whole table: remove cursor_field",
    ),
    (
        REST,
        "connection.tables.0.merge_strategy",
        "scd2",
        "connection.tables.0.merge_strategy",
        "scd2 is for sql_database and files tables",
    ),
    # (base, field path, bad value, where the error is (YAML path), what the error says is allowed)
    (REST, "connection.kind", "ftp", "connection.kind", "'files', 'rest_api', 'sql_database'"),
    (
        REST,
        "connection.paginator",
        {"type": "pages"},
        "connection.paginator.type",
        "'page_number', 'offset', 'cursor', 'link_header'",
    ),
    (REST, "connection.paginator", {"type": "offset"}, "connection.paginator.limit", "Field required"),
    (
        REST,
        "connection.base_url",
        "ftp://example.com",
        "connection",
        "base_url must start with http:// or https://",
    ),
    (REST, "connection.base_url", None, "connection", "needs base_url or base_url_env"),
    (
        REST,
        "connection.timeout_seconds",
        0,
        "connection.timeout_seconds",
        "must be a positive number of seconds",
    ),
    (
        REST,
        "connection.auth",
        {"type": "basic", "token_env": "X"},
        "connection.auth.type",
        "'bearer', 'api_key'",
    ),
    (
        REST,
        "connection.auth",
        {"type": "bearer", "token_env": "X", "token": "abc"},
        "connection.auth.token",
        "unknown field; allowed here: token_env, type",
    ),
    (
        REST,
        "connection.request_retries",
        {"max_attempts": 0},
        "connection.request_retries.max_attempts",
        "must be between 1 and 20",
    ),
    (
        REST,
        "connection.rate_limit",
        {"requests_per_second": 0},
        "connection.rate_limit.requests_per_second",
        "must be a positive number",
    ),
    (REST, "connection.tables", [], "connection.tables", "must list at least one table"),
    (
        REST,
        "connection.tables.0.name",
        "Bad-Name",
        "connection.tables.0.name",
        "lower-case letters, digits and _",
    ),
    (
        REST,
        "connection.tables.0.write_disposition",
        "upsert",
        "connection.tables.0.write_disposition",
        "'merge' or 'replace'",
    ),
    (
        REST,
        "connection.tables.0.cursor_field",
        None,
        "connection.tables.0",
        "initial_cursor_value needs cursor_field",
    ),
    (
        REST,
        "connection.tables.0.cursor_param",
        "since",
        "connection.tables.0",
        "cursor_param needs cursor_field",
    ),
    (
        REST,
        "connection.tables.0.columns",
        {"id": "integer"},
        "connection.tables.0.columns.id",
        "'bigint', 'double', 'text'",
    ),
    (
        REST,
        "connection.tables.0.tabels",
        "x",
        "connection.tables.0.tabels",
        "allowed here: columns, cursor_field",
    ),
    (REST, "schedule.cron", "every day", "schedule.cron", "cron expression of 5 fields"),
    (REST, "schedule.timezone", "Mars/Olympus", "schedule.timezone", "IANA time zone"),
    (REST, "freshness.max_lag_minutes", 0, "freshness.max_lag_minutes", "positive number of minutes"),
    (REST, "retry.max_retries", 99, "retry.max_retries", "between 0 and 20"),
    (
        REST,
        "privacy",
        {"mask_columns": ["email"], "drop_columns": ["email"]},
        "privacy",
        "column `email` is in both mask_columns and drop_columns",
    ),
    (REST, "privacy", {"previews": False}, "privacy.previews", "allowed here"),
    (
        REST,
        "connection.tables.0.privacy",
        {"preview": "sometimes"},
        "connection.tables.0.privacy.preview",
        "valid boolean",
    ),
    (SQL, "connection.url", "not a url", "connection.url", "must be a SQLAlchemy URL"),
    (SQL, "connection.chunk_size", 0, "connection.chunk_size", "positive number of rows"),
    (SQL, "connection.backend", "pandas", "connection.backend", "'pyarrow'"),
]


def error_text(error: BaseException) -> str:
    parts = []
    current: BaseException | None = error
    while current is not None:
        parts.append(str(current))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("base", "path", "value", "field", "allowed"), CASES, ids=[f"{c[1]}={c[2]}" for c in CASES]
)
def test_invalid_field_is_reported_with_file_field_and_allowed_values(
    base: dict, path: str, value: Any, field: str, allowed: str, tmp_path: Path, data_home: Any
) -> None:
    if path == "connection.tables.0.cursor_field":  # a cursor value for a cursor that is not there
        base = with_value(base, "connection.tables.0.initial_cursor_value", "2024-01-01")
    if path == "connection.tables.0.cursor_param":  # a cursor parameter for a cursor that is not there
        base = with_value(base, "connection.tables.0.cursor_field", None)
    document = with_value(base, path, value)
    with pytest.raises(Exception) as raised:
        load_source(tmp_path, yaml.safe_dump(document))
    text = error_text(raised.value)
    # Once, at the wrong field (its path in the YAML and the file), saying what is allowed; no second error
    # for the template-string alternative Dagster adds to every field.
    assert "1 validation error" in text, text
    assert f"`attributes.{field} at {tmp_path}" in text and "defs.yaml:" in text, text
    assert allowed in text, text
    assert ".str" not in text and "valid string" not in text, text


def test_password_in_url_is_refused_without_echoing_it(tmp_path: Path, data_home: Any) -> None:
    document = with_value(SQL, "connection.url", "postgresql://reader:hunter2-s3cret@db.internal/ops")
    with pytest.raises(Exception) as raised:
        load_source(tmp_path, yaml.safe_dump(document))
    text = error_text(raised.value)
    assert "url must not hold a password: name its env var in password_env" in text
    assert "hunter2-s3cret" not in text


def test_valid_yaml_loads(tmp_path: Path, data_home: Any) -> None:
    defs = load_source(tmp_path, yaml.safe_dump(REST))
    assert [key.to_user_string() for key in defs.resolve_all_asset_keys()] == ["raw/items"]
    assert [s.name for s in defs.schedules or []] == ["api_schedule"]


def test_dagster_definitions_validate_reports_the_field(tmp_path: Path, data_home: Any) -> None:
    data_home.home.mkdir(parents=True, exist_ok=True)
    path = write_project(tmp_path, yaml.safe_dump(with_value(REST, "connection.timeout_seconds", -5)))
    module = path.parents[3].name
    (path.parents[3] / "location.py").write_text(
        "from pathlib import Path\nimport dagster as dg\n"
        "defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent / 'defs')\n"
    )
    done = subprocess.run(
        [Path(sys.executable).with_name("dagster"), "definitions", "validate", "-m", f"{module}.location"],
        cwd=tmp_path,
        env={**os.environ, "DAGSTER_HOME": str(data_home.home)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"{path}" in output and "timeout_seconds" in output
    assert "must be a positive number of seconds" in output
