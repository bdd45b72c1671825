"""Type mapping between Arrow and PostgreSQL, for writes (CREATE TABLE) and reads (cursor results)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dataforge_assets.lib.lazy import lazy_module

if TYPE_CHECKING:
    import pyarrow as pa
else:
    pa = lazy_module("pyarrow")


def _arrow_for_oid() -> dict[int, pa.DataType]:
    """PostgreSQL type OIDs (pg_type.oid) as psycopg2 reports them in cursor.description."""
    return {
        16: pa.bool_(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        700: pa.float32(),
        701: pa.float64(),
        1700: pa.float64(),  # numeric (e.g. avg over integers): a double is what the stats need
        1082: pa.date32(),
        1083: pa.time64("us"),
        1114: pa.timestamp("us"),
        1184: pa.timestamp("us", tz="UTC"),
        17: pa.binary(),
    }


def arrow_schema_for(description: Sequence[Any]) -> pa.Schema:
    """The Arrow schema of a cursor's result; types without a mapping are read as text."""
    types = _arrow_for_oid()
    return pa.schema([pa.field(col.name, types.get(col.type_code, pa.string())) for col in description])


def pg_type_for(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type that holds an Arrow type without loss."""
    t = arrow_type
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_float32(t):
        return "real"
    if pa.types.is_floating(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision}, {t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp"
    if pa.types.is_time(t):
        return "time"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytea"
    return "text"
