"""What row data may be copied into Dagster's metadata store (previews, contract failure samples).

Previews and samples are copies of warehouse rows in the event log, where everyone who can open the UI
reads them. A source's YAML (`privacy:`, per source and per table) decides, per column, what goes there:

    privacy:
      preview: false             # no row preview on the raw table's materializations
      failure_samples: true      # failing values in the contract check of tables built from it
      mask_columns: [email]      # shown as ***
      drop_columns: [ssn]        # never shown (left out of previews; samples about it are left out)

The normalized tables built from a raw table follow that raw table's policy (same column names).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import dagster as dg
from pydantic import field_validator, model_validator

MASK = "***"


class PrivacySpec(dg.Model):
    preview: bool = True
    failure_samples: bool = True
    mask_columns: Sequence[str] = ()
    drop_columns: Sequence[str] = ()

    @field_validator("mask_columns", "drop_columns")
    @classmethod
    def _column_names(cls, value: Sequence[str]) -> Sequence[str]:
        for name in value:
            if not isinstance(name, str) or not name.strip():
                raise ValueError("must be a list of column names")
        return value

    @model_validator(mode="after")
    def _mask_or_drop(self) -> PrivacySpec:
        both = sorted(set(self.mask_columns) & set(self.drop_columns))
        if both:
            raise ValueError(f"column `{both[0]}` is in both mask_columns and drop_columns: pick one")
        return self

    def shown(self, column: str) -> bool:
        return column not in self.drop_columns

    def cell(self, column: str, value: object) -> object:
        return MASK if column in self.mask_columns and value is not None else value

    def as_metadata(self) -> dict[str, object]:
        return {
            "preview": self.preview,
            "failure_samples": self.failure_samples,
            "mask_columns": list(self.mask_columns),
            "drop_columns": list(self.drop_columns),
        }


SHOW_ALL = PrivacySpec()

# raw table -> its policy; filled when the definitions load (every source is loaded before a run starts).
_by_raw_table: dict[str, PrivacySpec] = {}
_lock = threading.Lock()


def register(raw_table: str, policy: PrivacySpec) -> None:
    with _lock:
        _by_raw_table[raw_table] = policy


def policy_for(raw_table: str) -> PrivacySpec:
    return _by_raw_table.get(raw_table, SHOW_ALL)
