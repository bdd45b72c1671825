"""The landing-folder sensor: a new or changed file in a files source's folder loads that source only.

The cursor (kept by the Dagster instance, so it survives a daemon restart) maps each file name to the
modification time and size it was last seen with; a file is requested again only when one of them changes.
"""

import hashlib
import json
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import dagster as dg

from dataforge_assets.lib.environment import Environment, sensor_interval_seconds

DEFAULT_INTERVAL_SECONDS = 30


def seen_files(folder: Path, globs: Sequence[str]) -> dict[str, str]:
    """name -> "mtime_ns:size" of every file in the folder matching one of the globs."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and any(fnmatch(path.name, g) for g in globs):
            stat = path.stat()
            found[path.name] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return found


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
        known: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current = seen_files(folder, globs)
        changed = sorted(name for name, stamp in current.items() if known.get(name) != stamp)
        if not changed:
            return dg.SkipReason(f"no new or changed file in {folder}")
        # The run key makes a re-evaluated tick idempotent: the same file versions never launch twice.
        versions = ",".join(f"{name}@{current[name]}" for name in changed)
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
