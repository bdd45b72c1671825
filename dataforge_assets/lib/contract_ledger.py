"""Which loads of a normalized table were checked against which version of its contract.

The contract check re-reads only what it has not vouched for: loads it never checked, loads checked
under another version of the contract, and loads whose rows changed since (a per-load fingerprint: the
row count and a sum of hashes of each row's contract columns, which any insert, delete or update of a
contract column changes). Rows damaged after the fact are therefore still caught, at the cost of one
hashing pass instead of a full re-validation. The lineage columns (load, file, row, row key) are not
hashed: the contract does not judge them, and their long strings were two thirds of the pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dataforge_assets.lib.contracts import Contract, as_schema
from dataforge_assets.lib.lazy import lazy_module
from dataforge_assets.lib.warehouse import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa_arrow
else:
    pa_arrow = lazy_module("pyarrow")

LEDGER_SCHEMA = "normalized"
LEDGER = "_contract_checks"
Fingerprints = Mapping[str | None, tuple[int, str]]


def contract_version(contract: Contract) -> str:
    """Changes whenever a column, type, nullability or check (with its arguments) of the contract does."""
    schema = as_schema(contract)
    described = {
        "strict": str(schema.strict),
        "coerce": schema.coerce,
        "checks": [_check(c) for c in schema.checks],
        "columns": {
            name: [str(column.dtype), column.nullable, column.unique, [_check(c) for c in column.checks]]
            for name, column in schema.columns.items()
        },
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _check(check: object) -> list[str]:
    return [str(getattr(check, "name", check)), repr(getattr(check, "statistics", None))]


def vouched_loads(warehouse: Warehouse, table: str, version: str, current: Fingerprints) -> set[str]:
    """Loads checked under this contract version whose rows are exactly as they were then."""
    if not warehouse.table_exists(LEDGER_SCHEMA, LEDGER):
        return set()
    recorded = warehouse.query(
        f"SELECT load_id, row_count, fingerprint FROM {LEDGER_SCHEMA}.{LEDGER} "
        "WHERE table_name = ? AND contract_version = ?",
        (table, version),
    ).to_pylist()
    return {r["load_id"] for r in recorded if current.get(r["load_id"]) == (r["row_count"], r["fingerprint"])}


def record_checked(warehouse: Warehouse, table: str, version: str, checked: Fingerprints) -> None:
    loads = [load for load in checked if load is not None]
    if not loads:
        return
    now = datetime.now(UTC)
    rows = pa_arrow.table(
        {
            "table_name": [table] * len(loads),
            "load_id": loads,
            "contract_version": [version] * len(loads),
            "row_count": pa_arrow.array([checked[load][0] for load in loads], pa_arrow.int64()),
            "fingerprint": [checked[load][1] for load in loads],
            "checked_at": [now] * len(loads),
        }
    )
    # One transaction: a kill between the delete and the insert must not forget what was vouched for.
    with warehouse.transaction():
        if warehouse.table_exists(LEDGER_SCHEMA, LEDGER):
            placeholders = ", ".join("?" for _ in loads)
            warehouse.execute(
                f"DELETE FROM {LEDGER_SCHEMA}.{LEDGER} WHERE table_name = ? AND load_id IN ({placeholders})",
                (table, *loads),
            )
        warehouse.write(LEDGER_SCHEMA, LEDGER, [rows], mode="append")
