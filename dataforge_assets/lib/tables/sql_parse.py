"""What a stats table's SQL reads and selects, from DuckDB's own parser (the default warehouse must
run the SQL, so its parser is the judge): the statement serialized as JSON, then walked."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import duckdb
else:
    duckdb = lazy_module("duckdb")


class SqlError(ValueError):
    pass


def parse_select(sql: str) -> dict[str, Any]:
    """The SELECT's syntax tree; SqlError when it is no valid single SELECT."""
    return json.loads(_serialized(sql))


@functools.lru_cache(maxsize=256)
def _serialized(sql: str) -> str:
    """The statement as DuckDB serializes it: parsed once per process (the checks of the YAML, the
    lineage and the deps each ask); SqlError when it is no valid single SELECT."""
    with duckdb.connect() as con:
        (serialized,) = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0]
    tree = json.loads(serialized)
    if tree.get("error"):
        message = tree.get("error_message", "")
        if "Only SELECT" in message:
            raise SqlError("must be one SELECT (the table is rebuilt from its result)")
        raise SqlError(f"is not valid SQL: {message}")
    if len(tree["statements"]) != 1:
        raise SqlError("must be one SELECT (the table is rebuilt from its result)")
    return json.dumps(tree["statements"][0]["node"])


def tables_read(sql: str) -> list[tuple[str, str]]:
    """(schema, table) of every table the SELECT reads; CTE names are not tables."""
    found = {
        (n["schema_name"], n["table_name"])
        for n in _nodes(parse_select(sql))
        if n.get("type") == "BASE_TABLE"
    }
    return sorted(t for t in found if t[0])


def selected_columns(sql: str) -> list[str] | None:
    """The output column names a check can name (aliases and plain column references); None with a `*`."""
    node = parse_select(sql)
    while node.get("type") == "SET_OPERATION_NODE":  # UNION etc.: the first SELECT names the columns
        node = node.get("left") or node["children"][0]
    names = []
    for expression in node.get("select_list", []):
        if expression["class"] == "STAR":
            return None
        if expression.get("alias"):
            names.append(expression["alias"])
        elif expression["class"] == "COLUMN_REF":
            names.append(expression["column_names"][-1])
    return names


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _nodes(child)
    elif isinstance(value, list):
        for child in value:
            yield from _nodes(child)
