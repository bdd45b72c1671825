"""Mistakes in a table's YAML that only make sense together (a check on a column that is not declared,
an unknown raw table) are refused at load time like pydantic's field errors: file, line, field."""

from __future__ import annotations

from collections.abc import Sequence

from dagster_shared.yaml_utils.source_position import SourcePositionTree


class TableYamlError(ValueError):
    """`<file>:<line> - attributes.<field>: <what is wrong>`, with the YAML around the line."""


def refuse(positions: SourcePositionTree | None, field: Sequence[str | int], message: str) -> TableYamlError:
    path = ["attributes", *field]
    dotted = ".".join(str(p) for p in path)
    if positions is None:
        return TableYamlError(f"{dotted}: {message}")
    source = positions.source_error(yaml_path=path, inline_error_message=message, value_error=True)
    return TableYamlError(
        f"{source.file_name}:{source.start_line_no} - {dotted}: {message}\n{source.snippet}"
    )
