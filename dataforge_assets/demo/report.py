"""What the demo prints: a line per asset as its run reports it, and a closing table read from the instance.

Dagster's own log (every event, DEBUG included) goes whole to the log file; the terminal gets this digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

from dataforge_assets.lib.operations.run_history import asset_attempts

_MATERIALIZED = re.compile(r" - ASSET_MATERIALIZATION - Materialized value (?P<key>.+?)\.?$")
_STEP_FAILED = re.compile(r" - (?P<step>[^ ]+) - STEP_FAILURE - (?P<message>.*)$")
_RUN_ID = re.compile(r" - (?P<run_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ")

# The metadata that says how many rows a materialization added, per layer.
NEW_ROWS_KEYS = ("rows_loaded", "rows_normalized")


class LiveProgress:
    """Turns Dagster's log lines into one short line per finished (or failed) asset."""

    def __init__(self) -> None:
        self.run_ids: list[str] = []
        self.shown: set[str] = set()  # a month-range run materializes each month: one line per asset

    def feed(self, line: str, elapsed_seconds: float) -> str | None:
        found = _RUN_ID.search(line)
        if found and found["run_id"] not in self.run_ids:
            self.run_ids.append(found["run_id"])
        if match := _MATERIALIZED.search(line):
            key = "/".join(match["key"].split())
            if key in self.shown:
                return None
            self.shown.add(key)
            return f"  {elapsed_seconds:6.1f}s  {key}"
        if match := _STEP_FAILED.search(line):
            return f"  {elapsed_seconds:6.1f}s  FAILED step {match['step']}: {match['message'][:160]}"
        return None


@dataclass
class TableRow:
    asset: str
    rows: int | None = None
    new_rows: int | None = None
    quarantined: int | None = None
    checks_passed: int = 0
    checks_failed: int = 0
    seconds: float | None = None


def summary_rows(instance: dg.DagsterInstance, run_ids: list[str]) -> list[TableRow]:
    """One row per asset the runs materialized or checked: counts from its metadata, its checks, its step time."""
    rows: dict[str, TableRow] = {}
    for run_id in run_ids:
        for record in instance.get_records_for_run(
            run_id,
            of_type={dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION},
        ).records:
            event = record.event_log_entry.dagster_event
            if event is None:
                continue
            if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                key = event.asset_key.to_user_string()
                row = rows.setdefault(key, TableRow(key))
                metadata = {
                    k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()
                }
                row.rows = _int(metadata.get("dagster/row_count"))
                # A stats table is rebuilt whole: all its rows are new.
                row.new_rows = next((_int(metadata[k]) for k in NEW_ROWS_KEYS if k in metadata), row.rows)
                row.quarantined = _int(metadata.get("rows_quarantined"))
            else:
                evaluation = event.event_specific_data
                key = evaluation.asset_key.to_user_string()
                row = rows.setdefault(key, TableRow(key))
                if evaluation.passed:
                    row.checks_passed += 1
                else:
                    row.checks_failed += 1
        for attempt in asset_attempts(instance, run_id):
            if attempt.asset_key in rows and attempt.duration_seconds is not None:
                rows[attempt.asset_key].seconds = attempt.duration_seconds
    return [rows[key] for key in sorted(rows, key=_layer_order)]


def format_table(rows: list[TableRow]) -> str:
    header = ("table", "rows", "new rows", "quarantined", "checks ok", "checks failed", "seconds")
    cells = [
        (
            r.asset,
            _num(r.rows),
            _num(r.new_rows),
            _num(r.quarantined),
            str(r.checks_passed),
            str(r.checks_failed),
            f"{r.seconds:.1f}" if r.seconds is not None else "-",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def line(values: tuple[str, ...]) -> str:
        return "  " + "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        )

    return "\n".join([line(header), "  " + "  ".join("-" * w for w in widths), *(line(c) for c in cells)])


def _layer_order(key: str) -> tuple[int, str]:
    layers = ("raw", "normalized", "stats")
    layer = key.split("/", 1)[0]
    return (layers.index(layer) if layer in layers else len(layers), key)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _num(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"
