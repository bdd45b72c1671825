"""How a source reacts to schema drift, from its YAML: dlt schema contracts for columns and types.

`evolve` (dlt's default) adds new columns and variant columns for new types; `freeze` fails the load
naming the column; `discard_row` / `discard_value` drop the offending row or value. Tables always
evolve, so a source's first load can create them.
"""

from __future__ import annotations

from typing import Literal

SchemaContractMode = Literal["evolve", "freeze", "discard_row", "discard_value"]


def dlt_schema_contract(mode: SchemaContractMode | None) -> dict[str, str] | None:
    if mode is None:
        return None
    return {"tables": "evolve", "columns": mode, "data_type": mode}
