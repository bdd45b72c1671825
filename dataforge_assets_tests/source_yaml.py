"""Load one source YAML on its own, as the platform loads a defs folder, and materialize its assets."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import dagster as dg

from dataforge_assets.lib.environment import current_environment
from dataforge_assets.resources import resources_for


def write_project(root: Path, yaml_text: str) -> Path:
    """A minimal dg project (uniquely named, so tests never share an imported module) with one defs.yaml."""
    module = f"srcproj_{uuid.uuid4().hex[:10]}"
    source_dir = root / module / "defs" / "raw" / "source"
    source_dir.mkdir(parents=True)
    for package in (root / module, root / module / "defs"):
        (package / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{module}"\n'
    )
    (source_dir / "defs.yaml").write_text(textwrap.dedent(yaml_text))
    return source_dir / "defs.yaml"


def load_source(root: Path, yaml_text: str) -> dg.Definitions:
    """The source's definitions with the platform's resources; raises what definitions loading raises."""
    path = write_project(root, yaml_text)
    sys.path.insert(0, str(root))
    try:
        loaded = dg.load_from_defs_folder(path_within_project=path.parents[2])
    finally:
        sys.path.remove(str(root))
    return dg.Definitions.merge(loaded, dg.Definitions(resources=resources_for(current_environment())))


def materialize(
    defs: dg.Definitions, instance: dg.DagsterInstance, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(defs.assets or []), resources=defs.resources, instance=instance, raise_on_error=raise_on_error
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The step failure's description as Dagster records it (what the UI shows)."""
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures, "the run did not fail"
    error = failures[-1].step_failure_data.error
    return f"{error.message}\n{error.cause.message if error.cause else ''}"
