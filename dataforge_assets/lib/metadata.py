"""Metadata every table asset reports: row count, column schema and a small preview (as the source's
privacy settings allow: lib/privacy.py)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from dataforge_assets.lib.privacy import SHOW_ALL, PrivacySpec
from dataforge_assets.lib.warehouse import Warehouse

PREVIEW_ROWS = 5


def table_metadata(
    warehouse: Warehouse, schema: str, table: str, privacy: PrivacySpec = SHOW_ALL
) -> dict[str, Any]:
    if not warehouse.table_exists(schema, table):
        return {"dagster/row_count": 0}
    columns = [dg.TableColumn(name, dtype) for name, dtype in warehouse.columns(schema, table)]
    metadata: dict[str, Any] = {
        "dagster/row_count": warehouse.row_count(schema, table),
        "dagster/column_schema": dg.TableSchema(columns=columns),
        "dagster/table_name": f"{schema}.{table}",
    }
    shown = [c.name for c in columns if privacy.shown(c.name)]
    if privacy.preview and shown:
        # Dropped columns are never read, so their values never reach this process's memory either.
        select = ", ".join(f'"{name}"' for name in shown)
        preview = warehouse.query(f'SELECT {select} FROM "{schema}"."{table}" LIMIT {PREVIEW_ROWS}')
        metadata["preview"] = dg.MetadataValue.md(_markdown(preview.to_pylist(), shown, privacy))
    return metadata


def _markdown(rows: list[dict[str, Any]], names: list[str], privacy: PrivacySpec) -> str:
    header = "| " + " | ".join(names) + " |\n|" + "---|" * len(names) + "\n"
    body = "".join(
        "| " + " | ".join(_cell(privacy.cell(n, row.get(n))) for n in names) + " |\n" for row in rows
    )
    return header + body


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|")
