"""Metadata every table asset reports: row count, column schema and a small preview."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dataforge_assets.lib.warehouse import Warehouse

PREVIEW_ROWS = 5


def table_metadata(warehouse: Warehouse, schema: str, table: str) -> dict[str, Any]:
    if not warehouse.table_exists(schema, table):
        return {"dagster/row_count": 0}
    columns = [dg.TableColumn(name, dtype) for name, dtype in warehouse.columns(schema, table)]
    preview = warehouse.query(f'SELECT * FROM "{schema}"."{table}" LIMIT {PREVIEW_ROWS}')
    return {
        "dagster/row_count": warehouse.row_count(schema, table),
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": f"{schema}.{table}",
        "preview": dg.MetadataValue.md(_markdown(preview.to_pylist(), [c.name for c in columns])),
    }


def _markdown(rows: list[dict[str, Any]], names: list[str]) -> str:
    header = "| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n"
    body = "".join("| " + " | ".join(_cell(row.get(n)) for n in names) + " |\n" for row in rows)
    return header + body


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
