"""Compare the warehouse with the landed files (deliveries.Expected): rows lost, duplicated or stale,
raw = normalized + quarantined per load, and stats equal to a recomputation from the files."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from dataforge_assets_tests.chaos.deliveries import FLIGHT_KEY, Expected

Sql = Callable[[str], list[tuple]]

KEY_AS_TEXT = ", ".join(f"CAST({c} AS VARCHAR)" for c in FLIGHT_KEY)
NORMALIZED_KEY = (
    "CAST(CAST(EXTRACT(year FROM flight_date) AS INTEGER) AS VARCHAR), "
    "CAST(CAST(EXTRACT(month FROM flight_date) AS INTEGER) AS VARCHAR), "
    "CAST(CAST(EXTRACT(day FROM flight_date) AS INTEGER) AS VARCHAR), "
    "carrier, CAST(flight AS VARCHAR), origin, CAST(sched_dep_time AS VARCHAR)"
)


@dataclass
class Findings:
    lost: int = 0  # rows of the files missing from raw, or from normalized + quarantine
    duplicated: int = 0  # rows present more than once (raw, or normalized + quarantine)
    stale: int = 0  # rows whose newest delivery did not replace the old version
    misplaced_loads: int = 0  # loads where raw != normalized + quarantined
    stats_mismatches: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not (
            self.lost or self.duplicated or self.stale or self.misplaced_loads or self.stats_mismatches
        )

    def note(self, text: str) -> None:
        if len(self.notes) < 20:
            self.notes.append(text)


def verify(sql: Sql, expected: Expected) -> Findings:
    found = Findings()
    _flights(sql, expected, found)
    _loads(sql, found)
    _weather(sql, expected, found)
    _stats(sql, expected, found)
    return found


def _count_keys(rows: list[tuple]) -> Counter:
    return Counter(tuple(str(v) for v in row) for row in rows)


def _flights(sql: Sql, expected: Expected, found: Findings) -> None:
    want = set(expected.flights)
    raw = _count_keys(sql(f"SELECT {KEY_AS_TEXT} FROM raw.flights"))
    normalized = sql(f"SELECT {NORMALIZED_KEY}, dep_delay FROM normalized.flights")
    quarantined = _count_keys(sql(f"SELECT {KEY_AS_TEXT} FROM quarantine.flights"))
    both = _count_keys([r[:-1] for r in normalized]) + quarantined
    for name, counts in (("raw.flights", raw), ("normalized + quarantine", both)):
        lost = want - set(counts)
        duplicated = sum(n - 1 for n in counts.values() if n > 1)
        unexpected = set(counts) - want
        found.lost += len(lost)
        found.duplicated += duplicated + len(unexpected)
        if lost or duplicated or unexpected:
            found.note(
                f"{name}: {len(lost)} lost, {duplicated} duplicated, {len(unexpected)} not in the files"
            )
    # The newest delivery wins: normalized delays and the quarantine's membership follow the files.
    stale = 0
    for *key, delay in normalized:
        row = expected.flights.get(tuple(str(v) for v in key))
        if row is not None and (row["dep_delay"] is None) != (delay is None):
            stale += 1
        elif row is not None and delay is not None and str(row["dep_delay"]) != str(delay):
            stale += 1
    wrongly_quarantined = set(quarantined) - expected.quarantined_keys
    stale += len(wrongly_quarantined) + len(expected.quarantined_keys - set(quarantined))
    found.stale += stale
    if stale:
        found.note(f"flights: {stale} rows not replaced by their newest delivery")


def _loads(sql: Sql, found: Findings) -> None:
    """Every load of a raw table is whole in normalized + quarantine, never split."""
    for table in ("flights", "weather"):
        raw = dict(sql(f"SELECT _dlt_load_id, count(*) FROM raw.{table} GROUP BY 1"))
        kept = Counter(dict(sql(f"SELECT _dlt_load_id, count(*) FROM normalized.{table} GROUP BY 1")))
        if _exists(sql, "quarantine", table):
            kept += Counter(dict(sql(f"SELECT _dlt_load_id, count(*) FROM quarantine.{table} GROUP BY 1")))
        for load in set(raw) | set(kept):
            if raw.get(load, 0) != kept.get(load, 0):
                found.misplaced_loads += 1
                found.note(
                    f"{table} load {load}: raw {raw.get(load, 0)} != normalized + quarantined {kept.get(load, 0)}"
                )


def _weather(sql: Sql, expected: Expected, found: Findings) -> None:
    raw = sql("SELECT count(*), count(DISTINCT origin || CAST(time_hour AS VARCHAR)) FROM raw.weather")[0]
    kept = sql("SELECT count(*) FROM normalized.weather")[0][0]
    if _exists(sql, "quarantine", "weather"):
        kept += sql("SELECT count(*) FROM quarantine.weather")[0][0]
    if raw[1] < expected.weather_rows or kept < expected.weather_rows:
        found.lost += expected.weather_rows - min(raw[1], kept)
        found.note(
            f"weather: served {expected.weather_rows}, raw {raw[1]} distinct, normalized+quarantine {kept}"
        )
    if raw[0] > expected.weather_rows or kept > expected.weather_rows:
        found.duplicated += max(raw[0], kept) - expected.weather_rows
        found.note(f"weather: served {expected.weather_rows}, raw {raw[0]}, normalized+quarantine {kept}")


def _stats(sql: Sql, expected: Expected, found: Findings) -> None:
    routes = {
        (o, d): (n, air, dist)
        for o, d, n, air, dist in sql(
            "SELECT origin, dest, flights, avg_air_time, distance FROM stats.route_stats"
        )
    }
    for route, (n, air, dist) in expected.route_stats().items():
        got = routes.pop(route, None)
        if got is None or got[0] != n or got[2] != dist or not _close(got[1], air):
            found.stats_mismatches += 1
            found.note(f"route_stats {route}: expected {(n, air, dist)}, found {got}")
    found.stats_mismatches += len(routes)
    days = {
        (c, str(d)): (n, x)
        for c, d, n, x in sql(
            "SELECT carrier, flight_date, flights, cancelled FROM stats.carrier_daily_performance"
        )
    }
    for day, want in expected.carrier_days().items():
        got = days.pop(day, None)
        if got is None or (int(got[0]), int(got[1])) != want:
            found.stats_mismatches += 1
            found.note(f"carrier_daily_performance {day}: expected {want}, found {got}")
    found.stats_mismatches += len(days)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), b, rel_tol=1e-9, abs_tol=1e-9)


def _exists(sql: Sql, schema: str, table: str) -> bool:
    rows = sql(
        f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{table}'"
    )
    return bool(rows[0][0])
