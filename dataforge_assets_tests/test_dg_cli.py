"""The `dg` CLI as users run it (real subprocesses): check, list, scaffold, and what a broken source YAML says."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dataforge_assets.lib.environment import Environment
from dataforge_assets_tests.conftest import Platform

REPO = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).with_name("dg")
SOURCE_TYPE = "dataforge_assets.lib.sources.SourceComponent"
# What must never reach a user's terminal in normal output.
NOISE = re.compile(
    r"SupersessionWarning|BetaWarning|PreviewWarning|does not match the name|virtual environment"
)


def dg(*args: str, cwd: Path, env: Environment) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(DG), *args],
        cwd=cwd,
        env={
            **os.environ,
            "DATAFORGE_HOME": str(env.home),
            "DAGSTER_HOME": str(env.home / "dagster_home"),
            "VIRTUAL_ENV": sys.prefix,
            "COLUMNS": "200",
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done


def output(done: subprocess.CompletedProcess[str]) -> str:
    # Colour codes are stripped so that assertions read the text users read.
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


@pytest.fixture
def dagster_home(data_home: Environment) -> Environment:
    (data_home.home / "dagster_home").mkdir(parents=True)
    (data_home.home / "dagster_home" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return data_home


def test_check_defs_and_list_defs_from_the_repo_root(dagster_home: Environment, platform: Platform) -> None:
    checked = dg("check", "defs", cwd=REPO, env=dagster_home)
    assert checked.returncode == 0, output(checked)[-4000:]
    assert "All definitions loaded successfully" in output(checked)
    assert not NOISE.search(output(checked)), output(checked)[-4000:]

    listed = dg("list", "defs", "--json", cwd=REPO, env=dagster_home)
    assert listed.returncode == 0, output(listed)[-4000:]
    assert not NOISE.search(listed.stderr), listed.stderr[-4000:]
    found = json.loads(listed.stdout)
    graph = platform.definitions().resolve_asset_graph()
    assert {a["asset_key"] for a in found["assets"]} == {
        k.to_user_string() for k in graph.get_all_asset_keys()
    }
    assert {(c["asset_key"], c["name"]) for c in found["asset_checks"]} == {
        (c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys
    }


def write_project(root: Path) -> Path:
    """A dg project of its own, whose defs folder is where sources are scaffolded."""
    package = root / "shipping"
    (package / "defs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\nimport dagster as dg\n"
        "from dataforge_assets.lib.environment import current_environment\n"
        "from dataforge_assets.resources import resources_for\n\n"
        "defs = dg.Definitions.merge(\n"
        "    dg.load_from_defs_folder(path_within_project=Path(__file__).parent),\n"
        "    dg.Definitions(resources=resources_for(current_environment())),\n"
        ")\n"
    )
    (root / "pyproject.toml").write_text(
        '[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "shipping"\n'
        'code_location_name = "shipping"\n'
    )
    return package / "defs"


BROKEN_KIND = """\
type: dataforge_assets.lib.sources.SourceComponent
attributes:
  name: parcels
  connection:
    kind: ftp
    folder: landing/parcels
    tables:
      - name: parcels
        glob: "*.csv"
"""

BROKEN_VALUE = """\
type: dataforge_assets.lib.sources.SourceComponent
attributes:
  name: parcels
  connection:
    kind: rest_api
    base_url: http://127.0.0.1:9/
    timeout_seconds: -5
    tables:
      - name: parcels
        path: parcels
    paginator: {type: link_header}
"""


def test_scaffolded_sources_load_and_a_broken_one_is_named_once(
    tmp_path: Path, dagster_home: Environment
) -> None:
    defs = write_project(tmp_path / "project")
    project = defs.parent.parent
    for kind in ("files", "rest_api", "sql_database"):
        done = dg(
            "scaffold",
            "defs",
            SOURCE_TYPE,
            f"raw/{kind}_source",
            "--kind",
            kind,
            cwd=project,
            env=dagster_home,
        )
        assert done.returncode == 0, output(done)
        assert f"kind: {kind}" in (defs / "raw" / f"{kind}_source" / "defs.yaml").read_text()
    listed = dg("list", "defs", "--json", cwd=project, env=dagster_home)
    assert listed.returncode == 0, output(listed)[-4000:]
    assert {a["asset_key"] for a in json.loads(listed.stdout)["assets"]} == {
        "raw/files_source",
        "raw/rest_api_source",
        "raw/sql_database_source",
    }

    # dg check yaml (1.13.27) validates one defs.yaml per component type (the last one it finds), so the
    # broken source is checked alone: the scaffolded ones go.
    for kind in ("files", "rest_api", "sql_database"):
        shutil.rmtree(defs / "raw" / f"{kind}_source")
    # A wrong kind: dg check yaml and dg check defs both name the file, the line of `kind:`, the field's
    # path and the kinds allowed, once, and nothing about the template-string alternative.
    broken = defs / "raw" / "parcels" / "defs.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_KIND)
    for command in (("check", "yaml"), ("check", "defs")):
        done = dg(*command, cwd=project, env=dagster_home)
        text = output(done)
        assert done.returncode != 0, text
        assert text.count(f"{broken}:5 - ") == 1, text
        assert "attributes.connection.kind" in text
        assert "'files', 'rest_api', 'sql_database'" in text
        assert ".str" not in text and "valid string" not in text, text

    # A value only the model can judge: dg check defs loads the source and names the line of the field.
    broken.write_text(BROKEN_VALUE)
    done = dg("check", "defs", cwd=project, env=dagster_home)
    text = output(done)
    assert done.returncode != 0, text
    assert f"attributes.connection.timeout_seconds at {broken}:7" in text, text
    assert "must be a positive number of seconds" in text
    assert "1 validation error" in text and ".str" not in text, text
