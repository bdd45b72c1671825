"""`dg scaffold defs dataforge_assets.lib.sources.SourceComponent raw/<name> [--kind files|rest_api|sql_database]`.

Writes a defs.yaml that loads as it is (named after its folder), with every field a source of that kind
takes, so a new source starts from a file that `dg check defs` accepts and the user edits the values.
"""

from __future__ import annotations

from textwrap import dedent
from typing import Literal

import dagster as dg
from pydantic import BaseModel

SHARED = """\
  schedule:
    cron: "0 6 * * *"
    timezone: UTC
  # How stale the raw tables may get before Dagster marks them overdue (and the freshness alert fires).
  freshness:
    max_lag_minutes: 1500
  retry:
    max_retries: 3
    delay_seconds: 5
"""

CONNECTIONS = {
    "files": """\
  connection:
    kind: files
    folder: landing/{name}            # relative to DATAFORGE_HOME
    csv:
      null_values: ["", "NA"]
    tables:
      - name: {name}
        glob: "{name}_*.csv"
        format: csv                   # or parquet
        primary_key: [id]
        write_disposition: merge      # merge or replace (docs/write-dispositions.md)
        # merge_strategy: scd2        # keep every version (_dlt_valid_from / _dlt_valid_to)
""",
    "rest_api": """\
  connection:
    kind: rest_api
    base_url: https://api.example.com/v1/
    base_url_env: {upper}_API_URL     # optional: this env var overrides base_url
    # auth: {{type: bearer, token_env: {upper}_API_TOKEN}}
    paginator:
      type: page_number               # page_number, offset, cursor or link_header
      page_param: page
      total_path: total_pages
    tables:
      - name: {name}
        path: {name}
        data_selector: data
        primary_key: [id]
        cursor_field: updated_at      # a re-run asks only for rows at or past the last one loaded
        cursor_param: since
        initial_cursor_value: "2024-01-01T00:00:00Z"
""",
    "sql_database": """\
  connection:
    kind: sql_database
    url: sqlite:///sources/{name}.sqlite   # any SQLAlchemy URL; a password goes in password_env
    tables:
      - name: {name}
        primary_key: [id]
""",
}


class SourceScaffoldParams(BaseModel):
    kind: Literal["files", "rest_api", "sql_database"] = "files"


class SourceScaffolder(dg.Scaffolder[SourceScaffoldParams]):
    @classmethod
    def get_scaffold_params(cls) -> type[SourceScaffoldParams]:
        return SourceScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[SourceScaffoldParams]) -> None:
        name = request.target_path.name
        text = source_yaml(request.type_name, name, request.params.kind)
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text(text)


def source_yaml(type_name: str, name: str, kind: str) -> str:
    header = dedent(f"""\
        # Source `{name}`: one raw/<table> asset per table below. Fields: README.md, "Add a source".
        type: {type_name}
        attributes:
          name: {name}
          description: TODO what this source is.
        """)
    return header + CONNECTIONS[kind].format(name=name, upper=name.upper()) + SHARED
