"""Inject failures into the real raw assets: dlt's resource fails its first N runs, then loads for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_dlt import DagsterDltResource

from dataforge_assets_tests.source_yaml import load_source

DEFS = Path(__file__).resolve().parents[1] / "dataforge_assets" / "defs"
# A credential in the error text: alerts and stats must never repeat it.
INJECTED_ERROR = "injected outage: cannot reach postgresql://etl:hunter2@warehouse.internal/dw"


class FlakyDlt(DagsterDltResource):
    """The real dlt resource, failing the first `fail_times` runs (counted in a file, across retries)."""

    counter_file: str
    fail_times: int

    def run(self, *args: Any, **kwargs: Any) -> Any:
        counter = Path(self.counter_file)
        failed = int(counter.read_text()) if counter.exists() else 0
        if failed < self.fail_times:
            counter.write_text(str(failed + 1))
            raise ConnectionError(INJECTED_ERROR)
        yield from super().run(*args, **kwargs)

    def failures(self) -> int:
        counter = Path(self.counter_file)
        return int(counter.read_text()) if counter.exists() else 0


def source_with_retry(root: Path, name: str, max_retries: int, delay_seconds: float) -> dg.Definitions:
    """The source as its YAML declares it, with the retry numbers changed (so tests wait less)."""
    document = yaml.safe_load((DEFS / "raw" / name / "defs.yaml").read_text())
    document["attributes"]["retry"] = {"max_retries": max_retries, "delay_seconds": delay_seconds}
    return load_source(root, yaml.safe_dump(document))
