"""The state dlt last committed in the destination for a source's pipeline, read without importing dlt.

dagster-dlt drops the pipeline's local working folder before every run and dlt restores the state from
the destination, so what the destination holds is the whole truth of what a source has loaded. The query
is dlt's own (`get_stored_state`): the newest state row of a load that completed (`status = 0`); a load
killed before it completed has no such row, so its files count as not loaded. Any doubt (no table, a
state layout this reader does not know, an undecodable row) answers None: the caller then runs dlt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from typing import Any

from dataforge_assets.lib.warehouse import Warehouse

STATE_TABLE = "_dlt_pipeline_state"
LOADS_TABLE = "_dlt_loads"
# The resource-state key of the table spec a load ran under (its YAML and the source's settings that
# shape a load): a spec changed since the last load goes through dlt, never skipped.
SPEC_STATE_KEY = "spec"
# dlt's pipeline state layout (`_state_engine_version`) this reader knows: sources -> resources.
KNOWN_ENGINE_VERSION = 4


def committed_state(warehouse: Warehouse, schema: str, pipeline_name: str) -> dict[str, Any] | None:
    """The pipeline's state as of its last completed load, or None."""
    if not (warehouse.table_exists(schema, STATE_TABLE) and warehouse.table_exists(schema, LOADS_TABLE)):
        return None
    rows = warehouse.query(
        f'SELECT s.engine_version, s.state FROM "{schema}"."{STATE_TABLE}" AS s '
        f'JOIN "{schema}"."{LOADS_TABLE}" AS l ON l.load_id = s._dlt_load_id '
        "WHERE s.pipeline_name = ? AND l.status = 0 ORDER BY l.load_id DESC LIMIT 1",
        (pipeline_name,),
    ).to_pylist()
    if not rows or rows[0]["engine_version"] != KNOWN_ENGINE_VERSION:
        return None
    try:
        state = json.loads(zlib.decompress(base64.b64decode(rows[0]["state"], validate=True)))
    except (binascii.Error, zlib.error, ValueError, TypeError):
        return None
    return state if isinstance(state, dict) else None


def resource_state(state: dict[str, Any] | None, source: str, resource: str) -> dict[str, Any] | None:
    """What a resource (a raw table) of `source` keeps in the pipeline state (`dlt.current.resource_state()`)."""
    found = ((state or {}).get("sources", {}).get(source, {}).get("resources", {})).get(resource)
    return found if isinstance(found, dict) else None


def spec_fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()
