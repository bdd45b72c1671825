"""Declared dependencies match imports: what the code imports is declared, what is declared is used.

Import names are mapped to distributions by the installed metadata (importlib.metadata), never by hand.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions

from dataforge_assets.lib.environment import REPO_ROOT

LOCAL = {"dataforge_assets", "dataforge_assets_tests", "benchmarks"}
# Used without an import statement, each for a reason users see.
USED_WITHOUT_IMPORT = {
    "dagster-webserver": "the UI (dg dev)",
    "dagster-dg-cli": "the dg command",
    "dagster-graphql": "the GraphQL API and its Python client (docs/graphql.md)",
    "dagster-postgres": "the PostgreSQL instance storage named in deploy/postgres/dagster.yaml",
    "psycopg2-binary": "SQLAlchemy's driver for postgresql:// URLs (dagster-postgres, dlt)",
    "ruff": "the linter (make lint, make test)",
}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], set[str]]:
    """(main dependencies, dev-group dependencies) as normalized distribution names."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    groups = project["dependency-groups"]

    def names(entries: Iterable[object]) -> set[str]:
        found = set()
        for entry in entries:
            if isinstance(entry, dict):
                found |= names(groups[entry["include-group"]])
            else:
                found.add(normalized(re.match(r"[A-Za-z0-9._-]+", str(entry)).group()))
        return found

    return names(project["project"]["dependencies"]), names(groups["dev"])


def imports(*folders: str) -> set[str]:
    """Top-level modules imported anywhere (functions included) in the folders' Python files."""
    found = set()
    for folder in folders:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - LOCAL - set(sys.stdlib_module_names) - {"__future__"}


def distributions(modules: set[str]) -> dict[str, set[str]]:
    """module -> the installed distributions that provide it."""
    provided = packages_distributions()
    return {module: {normalized(d) for d in provided.get(module, [])} for module in modules}


def test_package_imports_only_main_dependencies() -> None:
    main, _ = declared()
    undeclared = {m: d for m, d in distributions(imports("dataforge_assets")).items() if not d & main}
    assert not undeclared, f"imported by dataforge_assets/ but not in [project] dependencies: {undeclared}"


def test_tests_and_benchmarks_import_only_declared_dependencies() -> None:
    main, dev = declared()
    used = distributions(imports("dataforge_assets_tests", "benchmarks"))
    undeclared = {m: d for m, d in used.items() if not d & (main | dev)}
    assert not undeclared, f"imported by tests/benchmarks but not declared (dev group): {undeclared}"


def test_every_declared_dependency_is_imported_or_has_a_reason() -> None:
    main, dev = declared()
    package = set().union(*distributions(imports("dataforge_assets")).values())
    tests = set().union(*distributions(imports("dataforge_assets_tests", "benchmarks")).values())
    unused_main = main - package - set(USED_WITHOUT_IMPORT)
    assert not unused_main, (
        f"in [project] dependencies but never imported by dataforge_assets/: {unused_main}"
    )
    unused_dev = dev - tests - set(USED_WITHOUT_IMPORT)
    assert not unused_dev, f"declared in the dev group but never imported: {unused_dev}"
