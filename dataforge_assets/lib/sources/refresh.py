"""A full refresh of raw tables: dlt's `drop_resources` refresh of the selected tables, and only those.

dagster-dlt loads only the resources of the selected assets (`with_resources`), and `drop_resources`
drops the tables and the state of the resources loaded: the other tables of the source, and their
cursors and file identities, stay as they were. One table is shared by resources: dlt drops, with a
resource, every table its schema says that resource wrote, and a table records only the resource that
wrote to it last. `raw._rejected_files` is written by every files table: refreshing the table that last
set a file aside would drop every table's (and every files source's) rejections. So before such a
refresh, the source's schema (restored from the warehouse, where dlt keeps it) names each shared table
as its own resource and is stored back; the refresh then drops the selected tables only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from dataforge_assets.lib.layers import RAW
from dataforge_assets.lib.sources.rejected_files import REJECTED_FILES

SHARED_TABLES = (REJECTED_FILES,)


def start_over(
    context: dg.AssetExecutionContext, source: str, tables: Sequence[Any], pipeline: Any
) -> list[str]:
    """The source's tables this run drops (with their dlt state) and loads again: the selected ones."""
    selected = [t.name for t in tables if dg.AssetKey([RAW, t.name]) in context.selected_asset_keys]
    context.log.info(
        f"full refresh: {', '.join(f'{RAW}.{t}' for t in selected)} and their dlt state are dropped and "
        f"loaded again from source `{source}`"
    )
    detached = detach_shared_tables(pipeline, source)
    if detached:
        context.log.info(f"kept out of the refresh, shared by the source's tables: {', '.join(detached)}")
    return selected


def detach_shared_tables(pipeline: Any, schema_name: str) -> list[str]:
    """Shared tables of the source's stored schema that a resource owned, now owned by none."""
    pipeline.sync_destination()
    if schema_name not in pipeline.schema_names:
        return []  # nothing loaded yet
    schema = pipeline.schemas[schema_name]
    owned = [t for t in SHARED_TABLES if schema.tables.get(t, {}).get("resource") not in (None, t)]
    if owned:
        for table in owned:
            schema.tables[table]["resource"] = table  # a name no resource of a source has
        pipeline.schemas.save_schema(schema)  # a new schema version...
        pipeline.sync_schema(schema_name)  # ...stored in the warehouse, where the refresh reads it
    return owned
