"""A full refresh of raw tables: dlt's `drop_resources` refresh of the selected tables, and only those.

dagster-dlt loads only the resources of the selected assets (`with_resources`), and `drop_resources`
drops the tables and the state of the resources loaded: the other tables of the source, and their
cursors and file identities, stay as they were. Before that run, two things are committed to the
warehouse (one small dlt load, dlt's own `pipeline_drop` with `state_only`):

- the selected resources' state, reset. dlt drops the tables when its load starts and commits the
  reset state when the load ends: a run killed in between would leave a table dropped and the old
  cursor, and the next incremental run would never bring back the rows behind it. Reset first, the
  next run, whatever it is, reads the source whole again.
- the shared tables detached. dlt drops, with a resource, every table its schema says that resource
  wrote, and a table records only the resource that wrote to it last: `raw._rejected_files` is
  written by every files table, and refreshing the one that last set a file aside would drop every
  table's (and every files source's) rejections. The schema names each shared table as its own
  resource, so the refresh drops the selected tables only.
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
    """The source's tables this run drops and loads again (the selected ones), their state reset first."""
    from dlt.pipeline.helpers import pipeline_drop  # at run time: dlt is slow to import

    selected = [t.name for t in tables if dg.AssetKey([RAW, t.name]) in context.selected_asset_keys]
    # Left by a killed run: dagster-dlt drops them before its load too; dlt's drop refuses to run with them.
    pipeline.drop_pending_packages()
    pipeline.sync_destination()
    if source in pipeline.schema_names:  # else nothing was loaded yet: nothing to reset
        detach_shared_tables(pipeline.schemas[source])
        pipeline_drop(pipeline, resources=selected, schema_name=source, state_only=True)()
    context.log.info(
        f"full refresh: the dlt state of {', '.join(f'{RAW}.{t}' for t in selected)} is reset; the "
        f"table(s) are dropped and loaded again from source `{source}`"
    )
    return selected


def detach_shared_tables(schema: Any) -> list[str]:
    """Shared tables of a dlt schema that a resource owned, now owned by none (changed in place)."""
    owned = [t for t in SHARED_TABLES if schema.tables.get(t, {}).get("resource") not in (None, t)]
    for table in owned:
        schema.tables[table]["resource"] = table  # a name no resource of a source has
    return owned
