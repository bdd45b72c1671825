"""Loading the definitions imports no data library: every CLI call, sensor tick, webserver reload and run
process pays for what the load imports. The column schema shown before the first run is still the
contract's, as pandera itself describes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataforge_assets.defs.normalized.flights import CONTRACT
from dataforge_assets.lib.asset_docs import contract_schema
from dataforge_assets.lib.contracts import as_schema
from dataforge_assets.lib.environment import REPO_ROOT
from dataforge_assets.lib.tables.columns import DeclaredContract, column
from dataforge_assets.lib.tables.normalized_component import normalized_table_from_yaml

HEAVY = ("polars", "pandera", "dlt", "duckdb", "sqlalchemy")

# Records which of our modules first imported each heavy library, then imports and builds the definitions.
PROBE = """
import json, sys, traceback
HEAVY = set(sys.argv[1].split(","))
found = {}

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in found:
            ours = [f.filename for f in traceback.extract_stack() if "dataforge_assets" in f.filename]
            if ours and ours[-1].endswith("lazy.py"):  # a lazy module: who read its attribute
                ours = ours[:-1]
            found[name] = ours[-1] if ours else "?"
        return None

sys.meta_path.insert(0, Watch())
import dataforge_assets.definitions as definitions
after_import = sorted(m for m in HEAVY if m in sys.modules)
definitions.load_definitions().get_repository_def()
print(json.dumps({"after_import": after_import, "after_build": found}))
"""


def _probe(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_definitions_load_without_data_libraries(tmp_path: Path, warehouse: str) -> None:
    env = {
        **os.environ,
        "DATAFORGE_HOME": str(tmp_path / "home"),
        "DATAFORGE_WAREHOUSE": warehouse,
        # Never connected to at load (the URL is read when a step runs): nothing listens here.
        "DATAFORGE_POSTGRES_URL": "postgresql://nobody@127.0.0.1:1/none",
    }
    figures = _probe(env)
    # duckdb is the one data library loaded, and only by the official DuckDBResource the DuckDB warehouse
    # is built on (dagster-duckdb imports it); the build needs it anyway: DuckDB's parser judges the SQL
    # of a YAML stats table (lib/tables/sql_parse.py).
    assert figures["after_import"] == ["duckdb"], figures
    imported = dict(figures["after_build"])
    assert imported.pop("duckdb").endswith("lib/warehouse/duckdb.py"), figures
    assert imported == {}, figures
    assert not (tmp_path / "home").exists()  # no folder made, no file opened: the load does no I/O


def _all_rules() -> DeclaredContract:
    return DeclaredContract(
        "EveryRule",
        [
            column("a", "int64", gt=0, ge=1, lt=10.5, le=10),
            column("b", "string", nullable=True, isin=["x", "y"], notin=["z"], min_length=1, max_length=3),
            column("c", "string", regex=r"^[A-Z]+$", unique=True, description="its own words"),
            column("d", "float64"),
            column("e", "bool"),
            column("f", "date"),
            column("g", "datetime"),
            column("h", "local_datetime"),
            column("i", "int32", max_length=4),
        ],
    )


@pytest.mark.parametrize(
    "contract",
    [
        CONTRACT,
        _all_rules(),
        *[
            normalized_table_from_yaml(path).contract
            for path in sorted((REPO_ROOT / "dataforge_assets/defs/normalized").glob("*/defs.yaml"))
        ],
    ],
    ids=lambda contract: contract.name,
)
def test_declared_column_schema_is_what_pandera_says(contract: DeclaredContract) -> None:
    # The schema shown at load is read from the declaration; the one pandera builds must say the same.
    assert contract.table_schema() == contract_schema(as_schema(contract))
    assert list(as_schema(contract).columns) == contract.column_names
