"""Code versions of normalized and stats tables, read from source text (nothing is imported or run).

A version changes when what builds the rows does: the module that holds a table's transform and
contract (its syntax tree, so comments, docstrings and formatting do not count), a YAML table's
declaration, a stats table's SQL. Dagster shows an asset whose version differs from its last
materialization's as changed; the normalized build rebuilds the loads another version built.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LENGTH = 12


def version_of(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:LENGTH]


def declaration_text(declaration: Any) -> str:
    """A declaration (YAML attributes, a key, lookups) as canonical text."""
    return json.dumps(declaration, sort_keys=True, default=str, separators=(",", ":"))


def sql_text(sql: str) -> str:
    """SQL with its layout folded: re-indenting a query is no new version."""
    return re.sub(r"\s+", " ", sql).strip()


def defining_module_text(obj: object) -> str:
    """The syntax tree of the module that defines `obj` (a function or class), or its repr when it
    has no source file (e.g. a pandera schema object built at run time)."""
    module = sys.modules.get(getattr(obj, "__module__", "") or "")
    path = getattr(module, "__file__", None) or _source_file(obj)
    return module_syntax(str(path)) if path else repr(obj)


def _source_file(obj: object) -> str | None:
    try:
        return inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except TypeError:
        return None


@functools.cache
def module_syntax(path: str) -> str:
    tree = ast.parse(Path(path).read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()  # a docstring says why, it builds nothing
    return ast.dump(tree, annotate_fields=False)
