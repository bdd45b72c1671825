"""The commented defs.yaml a new table starts from: written by `dg scaffold defs <component> <path>`
(Dagster's scaffolder hook) or `python -m dataforge_assets.scaffold normalized|stats <name>`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

NORMALIZED_TEMPLATE = """\
# normalized.{name}: declared in YAML (docs/tutorial-yaml-table.md). Loading the definitions checks this
# file: a mistake is reported with the file, the line and the field.
type: dataforge_assets.lib.tables.NormalizedTableComponent
attributes:
  name: {name}
  raw_table: {raw_table}             # raw.<table> from a source YAML under defs/raw/
  key: [id]                         # the raw table's primary key: a re-delivered row replaces its old version
  description: One row per ...
  columns:                          # exactly these columns, in this order (the pandera contract is strict)
    - name: id                      # the normalized column
      type: string                  # string | int32 | int64 | float64 | bool | date | datetime (UTC)
      # source: id                  # the raw column it is read from (default: the same name)
      # expression: "upper(code)"   # or computed: SQL over the columns declared above it (polars)
      nullable: false               # a null quarantines the row unless true
      description: The identifier.
      checks:                       # a row breaking one goes to quarantine.{name} with the rule and reason
        unique: true
        # ge: 0, gt: 0, le: 100, lt: 100, isin: [A, B], notin: [X], min_length: 1, max_length: 8,
        # regex: "^[A-Z]{{3}}$", references: {{table: other_normalized_table, column: id}}
  # unique: [a, b]                  # columns unique together
  # quarantine: {{max_share: 0.01}}   # the quarantine_share check fails beyond 1% of rows quarantined
  # freshness: {{max_lag_minutes: 1500}}
"""

STATS_TEMPLATE = """\
# stats.{name}: one SQL SELECT over normalized (or stats) tables, portable to DuckDB and PostgreSQL,
# rebuilt whole on each run. Lineage comes from the tables the SQL reads (or `deps:` when given).
type: dataforge_assets.lib.tables.StatsTableComponent
attributes:
  name: {name}
  description: One row per ...
  sql: |
    SELECT id, count(*) AS n
    FROM normalized.some_table
    GROUP BY id
  key: [id]                         # checked after each run: unique and never null
  # not_null: [n]                   # more columns that must never be null
  # deps: [normalized/some_table]   # only when the SQL alone does not tell
"""


def normalized_yaml(name: str, raw_table: str | None = None) -> str:
    return NORMALIZED_TEMPLATE.format(name=name, raw_table=raw_table or name)


def stats_yaml(name: str) -> str:
    return STATS_TEMPLATE.format(name=name)


def write_new(path: Path, text: str) -> Path:
    """Write `path/defs.yaml`; an existing one is never overwritten."""
    target = path / "defs.yaml"
    if target.exists():
        raise FileExistsError(f"{target} exists already: edit it, or remove it first")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


class NormalizedTableScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        write_new(request.target_path, normalized_yaml(request.target_path.name))


class StatsTableScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        write_new(request.target_path, stats_yaml(request.target_path.name))
