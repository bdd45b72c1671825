"""Row-count anomaly: a load far outside the recent loads of the same table.

The history is Dagster's own: the `rows_loaded` metadata of the raw asset's materializations. Runs
that found nothing new (0 rows) are not loads and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

import dagster as dg

HISTORY = 20
MIN_HISTORY = 3
FACTOR = 5.0  # a load more than 5x the largest or under 1/5 of the smallest recent load is an anomaly


@dataclass(frozen=True)
class LoadSizes:
    latest: int | None
    history: list[int]  # earlier non-empty loads, newest first

    @property
    def bounds(self) -> tuple[float, float]:
        return min(self.history) / FACTOR, max(self.history) * FACTOR

    @property
    def anomalous(self) -> bool:
        if not self.latest or len(self.history) < MIN_HISTORY:
            return False
        low, high = self.bounds
        return not low <= self.latest <= high

    def describe(self) -> str:
        if not self.latest:
            return "latest run loaded no new rows"
        if len(self.history) < MIN_HISTORY:
            return f"latest load: {self.latest} rows; only {len(self.history)} earlier load(s), {MIN_HISTORY} needed to judge"
        low, high = self.bounds
        verdict = "outside" if self.anomalous else "within"
        return (
            f"latest load: {self.latest} rows, {verdict} the expected {low:.0f}..{high:.0f} from the last "
            f"{len(self.history)} loads (min {min(self.history)}, median {median(self.history):.0f}, max {max(self.history)})"
        )


def load_sizes(
    instance: dg.DagsterInstance, key: dg.AssetKey, metadata_key: str = "rows_loaded"
) -> LoadSizes:
    records = instance.fetch_materializations(key, limit=HISTORY + 1).records
    sizes = []
    for record in records:
        materialization = record.asset_materialization
        value = materialization.metadata.get(metadata_key) if materialization else None
        sizes.append(int(value.value) if value is not None and value.value is not None else 0)
    if not sizes:
        return LoadSizes(None, [])
    return LoadSizes(sizes[0], [s for s in sizes[1:] if s > 0])
