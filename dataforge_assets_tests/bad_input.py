"""Helpers for the bad-input corpus: what a failed run said, and the checks a run evaluated."""

from __future__ import annotations

import dagster as dg


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """Every step failure's message and causes, as one text (what a user reads in the UI)."""
    parts = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None:
                parts.append(error.message)
                error = error.cause
    return "\n".join(parts)


def check(result: dg.ExecuteInProcessResult, asset: str, name: str) -> dg.AssetCheckEvaluation:
    found = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey(asset.split("/")) and e.check_name == name
    ]
    assert found, f"check {asset}:{name} did not run"
    return found[-1]


def meta(evaluation: dg.AssetCheckEvaluation) -> dict:
    return {k: v.value for k, v in evaluation.metadata.items()}
