"""JSON pages to Arrow tables with types that do not change from page to page or run to run.

dlt loads Arrow (as Parquet) about 100x faster than dict rows, but an Arrow schema inferred per page is
unstable: a column whose first page holds 40 and whose next holds 39.5 would be BIGINT then DOUBLE, and
the warehouse would round one of them. So the rules are fixed, not inferred from the data:
- a column declared in the table's `columns:` gets that type (a value that does not fit fails the run);
- any other JSON number is DOUBLE (exact for integers up to 2^53), booleans are BOOL, text is TEXT;
- nested objects and lists are kept as their JSON text; a column mixing kinds is kept as text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")

ColumnType = Literal["bigint", "double", "text", "bool", "timestamp", "date"]


def arrow_type(declared: ColumnType) -> pa.DataType:
    return {
        "bigint": pa.int64(),
        "double": pa.float64(),
        "text": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
    }[declared]


def page_to_arrow(
    rows: Sequence[Mapping[str, Any]], declared: Mapping[str, ColumnType], primary_key: Sequence[str] = ()
) -> pa.Table:
    """One page as Arrow; primary key columns are NOT NULL (a row without its key fails the run)."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    missing = [key for key in primary_key if key not in names]
    if missing:
        raise ValueError(f"primary key column `{missing[0]}` is missing from the response rows")
    arrays, fields = [], []
    for name in names:
        array = _column(name, [row.get(name) for row in rows], declared.get(name))
        if name in primary_key and array.null_count:
            raise ValueError(f"primary key column `{name}` is null in {array.null_count} row(s)")
        arrays.append(array)
        fields.append(pa.field(name, array.type, nullable=name not in primary_key))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _column(name: str, values: list[Any], declared: ColumnType | None) -> pa.Array:
    if declared:
        try:
            if declared in ("timestamp", "date"):
                return pa.array(values, type=pa.string()).cast(arrow_type(declared))
            return pa.array(values, type=arrow_type(declared))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            raise ValueError(f"column `{name}` is declared {declared} but holds {error}") from None
    kinds = {_kind(v) for v in values if v is not None}
    if not kinds:
        return pa.nulls(len(values))  # NULL type: dlt adds the column once a page has a value
    if kinds == {"number"}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds == {"bool"}:
        return pa.array(values, type=pa.bool_())
    if kinds == {"text"}:
        return pa.array(values, type=pa.string())
    return pa.array([_as_text(v) for v in values], type=pa.string())


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    return "json"


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
