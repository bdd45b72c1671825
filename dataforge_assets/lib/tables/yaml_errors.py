"""Mistakes in a table's YAML that only make sense together (a check on a column that is not declared,
an unknown raw table) are refused at load time like pydantic's field errors: file, line, field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pydantic

# `positions` is the SourcePositionTree dagster hands a component (dagster_shared, an internal package).


class TableYamlError(ValueError):
    """`<file>:<line> - attributes.<field>: <what is wrong>`, with the YAML around the line."""


def refuse(positions: Any, field: Sequence[str | int], message: str) -> TableYamlError:
    path = ["attributes", *field]
    dotted = ".".join(str(p) for p in path)
    if positions is None:
        return TableYamlError(f"{dotted}: {message}")
    source = positions.source_error(yaml_path=path, inline_error_message=message, value_error=True)
    return TableYamlError(
        f"{source.file_name}:{source.start_line_no} - {dotted}: {message}\n{source.snippet}"
    )


T = TypeVar("T")


def located(positions: Any, build: Callable[[], T]) -> T:
    """Run `build`; a pydantic error of a component's own validators (run after Dagster's YAML model,
    where the positions are no longer known) is raised again with its file, line and field."""
    try:
        return build()
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        raise refuse(positions, [p for p in first["loc"] if isinstance(p, str | int)], first["msg"]) from None
