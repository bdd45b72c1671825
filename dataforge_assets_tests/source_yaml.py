"""Load one source YAML on its own, as the platform loads a defs folder, and materialize its assets."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.lib.partitions import range_tags
from dataforge_assets.resources import resources_for


def write_project(root: Path, yaml_text: str) -> Path:
    """A minimal dg project (uniquely named, so tests never share an imported module) with one defs.yaml."""
    defs = write_project_files(root, {"raw/source/defs.yaml": yaml_text})
    return defs / "raw" / "source" / "defs.yaml"


def write_project_files(root: Path, files: Mapping[str, str]) -> Path:
    """A minimal dg project with these files (paths relative to its defs folder); returns the defs folder."""
    module = f"srcproj_{uuid.uuid4().hex[:10]}"
    defs = root / module / "defs"
    defs.mkdir(parents=True)
    for package in (root / module, defs):
        (package / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{module}"\n'
    )
    for relative, text in files.items():
        (defs / relative).parent.mkdir(parents=True, exist_ok=True)
        (defs / relative).write_text(textwrap.dedent(text))
    return defs


def load_source(root: Path, yaml_text: str) -> dg.Definitions:
    """The source's definitions with the platform's resources; raises what definitions loading raises."""
    return load_defs_folder(write_project(root, yaml_text).parents[2])


def load_defs_folder(defs: Path) -> dg.Definitions:
    """A project's defs folder (see write_project_files) with the platform's resources."""
    root = defs.parents[1]
    sys.path.insert(0, str(root))
    try:
        loaded = dg.load_from_defs_folder(path_within_project=defs)
    finally:
        sys.path.remove(str(root))
    return dg.Definitions.merge(loaded, dg.Definitions(resources=resources_for(current_environment())))


def materialize(
    defs: dg.Definitions, instance: dg.DagsterInstance, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(defs.assets or []),
        # Assets only, as before a table's checks ran in its own step (normalized_asset.py).
        selection=dg.AssetSelection.all().without_checks(),
        resources=defs.resources,
        instance=instance,
        raise_on_error=raise_on_error,
        tags=range_tags(),
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The step failure's description as Dagster records it (what the UI shows)."""
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "the run did not fail"
    error = failures[-1].step_failure_data.error
    return f"{error.message}\n{error.cause.message if error.cause else ''}"
