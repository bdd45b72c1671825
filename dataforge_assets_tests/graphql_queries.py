"""The GraphQL operations of docs/graphql.md, read from the doc itself, so the doc is what gets tested."""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from dataforge_assets.lib.environment import REPO_ROOT

DOC = REPO_ROOT / "docs" / "graphql.md"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def documented_operations() -> dict[str, str]:
    """{operation name: its text} for every ```graphql block of the doc."""
    blocks = re.findall(r"```graphql\n(.*?)```", DOC.read_text(), flags=re.S)
    return {re.match(r"\s*(?:query|mutation)\s+(\w+)", b).group(1): b for b in blocks}  # type: ignore[union-attr]


def graphql(url: str, operation: str, **variables: Any) -> dict[str, Any]:
    reply = requests.post(
        f"{url}/graphql",
        json={"query": documented_operations()[operation], "variables": variables},
        timeout=60,
    )
    reply.raise_for_status()
    body = reply.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def wait_for_run(url: str, run_id: str, timeout_seconds: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        run = graphql(url, "RunStatus", runId=run_id)["runOrError"]
        if run.get("status") in TERMINAL:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.get('status')} after {timeout_seconds}s")
        time.sleep(1)


def metadata_of(materialization: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for entry in materialization["metadataEntries"]:
        value = next((entry[k] for k in ("intValue", "floatValue", "text") if k in entry), None)
        values[entry["label"]] = value
    return values
