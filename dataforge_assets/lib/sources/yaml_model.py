"""The YAML model of a source: errors that point at the wrong field, and a JSON schema `dg check yaml` can use.

Dagster derives the model from SourceComponent's fields and makes each field `<model> | str` (for template
strings), and pydantic names union members in an error's location (`connection.ConnectionYaml.rest_api.x`,
plus a second error for the `str` alternative). Dagster maps that location onto the YAML to find the line,
so it stopped at `connection:`. Here each location keeps only the steps that exist in the YAML, the `str`
alternative is dropped when the value is no string, and an unknown field names the fields allowed there.

The JSON schema gets the same treatment for `dg check yaml` (jsonschema): a `kind:`/`type:` union becomes
`if kind == ... then <that model>`, so the error is the field's own, not "not valid under any of the given
schemas".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError, model_validator

UNION_ERRORS = ("union_tag_invalid", "union_tag_not_found")


@functools.cache
def source_yaml_model(derived: type[BaseModel]) -> type[BaseModel]:
    """`derived` (Dagster's model of the component) with precise errors and a precise JSON schema."""

    class SourceYaml(derived):  # type: ignore[misc, valid-type]
        @model_validator(mode="wrap")
        @classmethod
        def _errors_at_the_wrong_field(cls, data: Any, handler: Any) -> Any:
            try:
                return handler(data)
            except ValidationError as error:
                schema = cls.model_json_schema()
                raise ValidationError.from_exception_data(
                    error.title, precise_errors(error.errors(), data, schema)
                ) from None

        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return precise_schema(super().model_json_schema(*args, **kwargs))

    SourceYaml.__name__ = SourceYaml.__qualname__ = derived.__name__
    return SourceYaml


def precise_errors(errors: Sequence[Any], data: Any, schema: Mapping[str, Any]) -> list[Any]:
    """Each error once, located at the YAML field it is about; the `str` alternatives dropped."""
    result, seen = [], set()
    for error in errors:
        loc = yaml_location(error["loc"], data, named_last=error["type"] in ("missing", "extra_forbidden"))
        if loc is None:
            continue
        error = {**error, "loc": tuple(loc)}
        if error["type"] in UNION_ERRORS:
            # The discriminator field itself is wrong (or missing): point at it.
            error["loc"] = (*loc, error.get("ctx", {}).get("discriminator", "'kind'").strip("'"))
        if error["type"] == "extra_forbidden":
            allowed = allowed_fields(schema, loc[:-1], data)
            if allowed:
                error = {
                    **error,
                    "type": "value_error",
                    "ctx": {"error": ValueError(f"unknown field; allowed here: {', '.join(allowed)}")},
                }
        key = (error["loc"], error["type"], str(error.get("ctx")))
        if key not in seen:
            seen.add(key)
            result.append(error)
    return result


def yaml_location(loc: Sequence[Any], data: Any, named_last: bool = False) -> list[Any] | None:
    """The steps of `loc` that exist in `data` (plus, if `named_last`, the missing or unknown field it
    ends with); None if the error is about the template-string alternative of a value that is no string."""
    path: list[Any] = []
    node = data
    for position, step in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, Mapping) and step in node:
            node = node[step]
            path.append(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
            path.append(step)
        elif step == "str" and not last and not isinstance(node, str):
            return None
        elif step == "str" and last and not isinstance(node, str) and position > 0:
            return None
        elif last and named_last and isinstance(node, Mapping):
            path.append(step)  # a missing or unknown field of this mapping
        # anything else is a union member's name or tag: not a place in the YAML
    return path


def precise_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Dagster's JSON schema with the top-level `| str` dropped and unions rewritten as if/then."""
    schema = _rewrite(schema)
    for name, prop in schema.get("properties", {}).items():
        members = prop.get("anyOf")
        if members and {"type": "string"} in members and any("$ref" in m or "if" in m for m in members):
            kept = [m for m in members if m != {"type": "string"}]
            schema["properties"][name] = _rewrite({**prop, "anyOf": kept})
    return schema


def _rewrite(node: Any) -> Any:
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _rewrite(value) for key, value in node.items()}
    discriminator = node.pop("discriminator", None)
    if discriminator and "oneOf" in node:
        node.pop("oneOf")
        field, mapping = discriminator["propertyName"], discriminator["mapping"]
        node.update(
            {
                "type": "object",
                "required": [field],
                "properties": {field: {"enum": list(mapping)}},
                "allOf": [
                    {
                        "if": {"properties": {field: {"const": tag}}, "required": [field]},
                        "then": {"$ref": ref},
                    }
                    for tag, ref in mapping.items()
                ],
            }
        )
    members = node.get("anyOf")
    if members and len(members) == 2 and {"type": "null"} in members:
        other = next(m for m in members if m != {"type": "null"})
        if "$ref" in other or "allOf" in other:
            # Optional model: when it is there, its own errors are reported (not "none of anyOf").
            node.pop("anyOf")
            node.update({"if": {"type": "null"}, "else": other})
    elif members and len(members) == 1:
        node.pop("anyOf")
        node.update(members[0])
    return node


def allowed_fields(schema: Mapping[str, Any], path: Sequence[Any], data: Any) -> list[str]:
    """The field names the (precise) schema allows at `path` of `data`."""
    node: Any = schema
    value = data
    for step in [None, *path]:
        if step is not None:
            value = value[step] if isinstance(value, (Mapping, list)) else None
            node = _child(schema, node, step)
            if node is None:
                return []
        node = _branch(schema, node, value)
    return sorted(node.get("properties", {})) if isinstance(node, Mapping) else []


def _resolve(schema: Mapping[str, Any], node: Any) -> Any:
    while isinstance(node, Mapping) and "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _branch(schema: Mapping[str, Any], node: Any, value: Any) -> Any:
    """The model that applies to `value`: the if/then branch its `kind:`/`type:` selects."""
    node = _resolve(schema, node)
    if isinstance(node, Mapping) and "else" in node and value is not None:
        node = _resolve(schema, node["else"])
    for option in node.get("allOf", []) if isinstance(node, Mapping) else []:
        field, condition = next(iter(option["if"]["properties"].items()))
        if isinstance(value, Mapping) and value.get(field) == condition["const"]:
            return _resolve(schema, option["then"])
    if isinstance(node, Mapping) and "anyOf" in node:
        objects = [_resolve(schema, m) for m in node["anyOf"] if _resolve(schema, m).get("properties")]
        if len(objects) == 1:
            return objects[0]
    return node


def _child(schema: Mapping[str, Any], node: Any, step: Any) -> Any:
    node = _resolve(schema, node)
    if isinstance(step, int):
        return node.get("items")
    return node.get("properties", {}).get(step)
