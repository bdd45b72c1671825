"""The landing-folder sensor: a new or changed file in a files source's folder loads that source only.

Files are known by identity (name, size, sha256; `sources/landing.py`), not by modification time: a
file landing with an old time (`cp -p`, `rsync -a`, a late re-delivery) is new, and a file touched or
re-copied unchanged is not. The cursor (kept by the Dagster instance, so it survives a daemon
restart) maps each file name to the identity it was last seen with, plus its size and time, so an
unchanged file is not hashed again. Temporary names (`.part`, `.tmp`, `~`, dot-files) are ignored.
"""

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from dataforge_assets.lib.environment import Environment, sensor_interval_seconds
from dataforge_assets.lib.sources.landing import landed_files, sha256_of, unchanged_since

DEFAULT_INTERVAL_SECONDS = 30


def seen_files(folder: Path, globs: Sequence[str], known: dict[str, dict] | None = None) -> dict[str, dict]:
    """name -> {size, sha256, mtime_ns} of every file in the folder matching one of the globs; a file
    whose size and time are as in `known` keeps its known hash."""
    known = known or {}
    found = {}
    for landed in landed_files(folder, globs):
        record = known.get(landed.name)
        record = record if isinstance(record, dict) else None  # cursors before identities held text
        sha = record["sha256"] if unchanged_since(record, landed) else sha256_of(landed.path)
        found[landed.name] = {"size": landed.size, "sha256": sha, "mtime_ns": landed.mtime_ns}
    return found


def _identity(record: dict | None) -> tuple | None:
    return (record.get("size"), record.get("sha256")) if isinstance(record, dict) else None


def landing_folder_sensor(
    source_name: str,
    folder: Path,
    globs: Sequence[str],
    target: dg.AssetsDefinition,
    minimum_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
) -> dg.SensorDefinition:
    """A sensor that requests a run of `target` (the source's raw assets) when its landing folder changes."""

    @dg.sensor(
        name=f"{source_name}_landing_sensor",
        description=f"Loads source `{source_name}` when a file matching {list(globs)} lands in {folder}.",
        target=target,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        known: dict[str, dict] = json.loads(context.cursor) if context.cursor else {}
        current = seen_files(folder, globs, known)
        changed = sorted(n for n, r in current.items() if _identity(known.get(n)) != _identity(r))
        if not changed:
            if current != {n: known.get(n) for n in current}:  # only times changed: remember them
                return dg.SensorResult(
                    skip_reason=f"no new or changed file in {folder}",
                    cursor=json.dumps({**known, **current}, sort_keys=True),
                )
            return dg.SkipReason(f"no new or changed file in {folder}")
        # The run key makes a re-evaluated tick idempotent: the same file versions never launch twice.
        versions = ",".join(f"{name}@{current[name]['size']}:{current[name]['sha256']}" for name in changed)
        run_key = f"{source_name}:{hashlib.sha1(versions.encode()).hexdigest()}"
        context.log.info(f"{source_name}: new or changed file(s) {changed}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=run_key,
                    tags={"dataforge/source": source_name, "dataforge/trigger": "landing"},
                )
            ],
            cursor=json.dumps({**known, **current}, sort_keys=True),
        )

    return _sensor


def landing_sensors_for(
    source_name: str, connection: Any, target: dg.AssetsDefinition, env: Environment
) -> list[dg.SensorDefinition]:
    """The hook SourceComponent calls: files sources get a landing sensor, other kinds none."""
    if getattr(connection, "kind", None) != "files":
        return []
    globs = [table.glob for table in connection.tables]
    return [
        landing_folder_sensor(
            source_name, env.resolve(connection.folder), globs, target, sensor_interval_seconds()
        )
    ]
