"""A code location for the run launcher's tests: one asset that returns at once, one that holds its run
until the test lets it go, so a test can kill or terminate the run's worker while it works."""

import os
import time
from pathlib import Path

import dagster as dg

GATE_ENV = "DATAFORGE_TEST_RUN_GATE"  # a folder: <run id>.started (the worker's pid), <run id>.release


@dg.asset
def quick() -> None:
    pass


@dg.asset
def held(context: dg.AssetExecutionContext) -> None:
    gate = Path(os.environ[GATE_ENV])
    (gate / f"{context.run_id}.started").write_text(str(os.getpid()))
    while not (gate / f"{context.run_id}.release").exists():
        time.sleep(0.05)


# One process per run (the platform's choice too): the asset's pid is the run worker's.
defs = dg.Definitions(assets=[quick, held], executor=dg.in_process_executor)
